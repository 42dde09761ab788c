//! `callsim sweep` end to end: the trend a lossy network shows, the same numbers every time,
//! shards merged into the same files as one run, errors that name the bad input, thresholds
//! in the exit status, and the HTML report in a real browser (headless Chromium).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn callsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .output()
        .expect("callsim runs")
}

fn dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cells(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path.join("cells.json")).expect("cells.json");
    serde_json::from_str(&text).expect("JSON")
}

/// Success falls and time to connect rises as media loss grows; the same command gives the
/// same files.
#[test]
fn more_media_loss_means_fewer_calls_connect_and_slower_connects_every_time_the_same() {
    let out = dir("sweep-trend");
    let args = [
        "sweep",
        "--world",
        "memory",
        "--media-loss",
        "0..40/20",
        "--seeds",
        "16",
        "--talk",
        "2",
    ];
    let run = callsim(&[&args[..], &["--out", out.to_str().expect("utf-8")]].concat());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let table = text(&run.stdout);
    assert!(
        table.contains("media-loss") && table.contains("conn p50"),
        "{table}"
    );
    let json = cells(&out);
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 3);
    let success: Vec<f64> = cells
        .iter()
        .map(|c| c["success_rate"].as_f64().expect("rate"))
        .collect();
    let p50: Vec<u64> = cells
        .iter()
        .map(|c| c["connect_ms"]["p50"].as_u64().expect("p50"))
        .collect();
    assert_eq!(success[0], 1.0, "a clean network connects every call");
    assert!(success[2] < success[0], "{success:?}");
    assert!(success.windows(2).all(|w| w[1] <= w[0]), "{success:?}");
    assert!(
        p50.windows(2).all(|w| w[1] >= w[0]) && p50[2] > p50[0],
        "{p50:?}"
    );
    let mos: Vec<f64> = cells
        .iter()
        .map(|c| c["mos"].as_f64().expect("mos"))
        .collect();
    assert!(mos[2] < mos[0], "{mos:?}");
    let again = dir("sweep-trend-again");
    let rerun = callsim(
        &[
            &args[..],
            &["--out", again.to_str().expect("utf-8"), "--threads", "1"],
        ]
        .concat(),
    );
    assert_eq!(rerun.status.code(), Some(0));
    for file in ["cells.csv", "cells.json", "report.html"] {
        assert_eq!(
            std::fs::read(out.join(file)).expect("first"),
            std::fs::read(again.join(file)).expect("second"),
            "{file} differs between two runs"
        );
    }
}

/// Three shards merged give the files one run gives, byte for byte; a missing or doubled
/// shard is refused.
#[test]
fn shards_merged_equal_one_run_byte_for_byte() {
    let grid = [
        "sweep",
        "--media-loss",
        "0,30",
        "--media",
        "audio,video",
        "--seeds",
        "3",
        "--talk",
        "2",
        "--per-call",
    ];
    let whole = dir("sweep-whole");
    let run = callsim(&[&grid[..], &["--out", whole.to_str().expect("utf-8")]].concat());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let shards = dir("sweep-shards");
    let mut files = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let part = callsim(
            &[
                &grid[..],
                &["--shard", &shard, "--out", shards.to_str().expect("utf-8")],
            ]
            .concat(),
        );
        assert_eq!(part.status.code(), Some(0), "{}", text(&part.stderr));
        files.push(
            shards
                .join(format!("shard-{i}-of-3.json"))
                .to_str()
                .expect("utf-8")
                .to_owned(),
        );
    }
    let merged = dir("sweep-merged");
    let merge = |files: &[String], out: &Path| {
        let mut args = vec![
            "sweep",
            "merge",
            "--per-call",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        args.extend(files.iter().map(String::as_str));
        callsim(&args)
    };
    let done = merge(&files, &merged);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    for file in [
        "cells.csv",
        "cells.json",
        "calls.csv",
        "calls.json",
        "report.html",
    ] {
        assert_eq!(
            std::fs::read(whole.join(file)).expect("whole"),
            std::fs::read(merged.join(file)).expect("merged"),
            "{file}"
        );
    }
    let missing = merge(&files[..2], &dir("sweep-missing"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("a shard is missing (missing: --shard 2/3)"),
        "{}",
        text(&missing.stderr)
    );
    let twice = merge(
        &[
            files[0].clone(),
            files[0].clone(),
            files[1].clone(),
            files[2].clone(),
        ],
        &dir("sweep-twice"),
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice.stderr).contains("more than one file"));
}

#[test]
fn bad_grids_get_errors_naming_the_option_or_line_and_thresholds_set_the_exit_status() {
    for (args, says) in [
        (&["sweep", "--media-loss", "0..30/0"][..], "--media-loss"),
        (&["sweep", "--media-loss", "150"][..], "outside 0 to 100"),
        (&["sweep", "--media-loss", "-5"][..], "outside 0 to 100"),
        (
            &["sweep", "--callkit", "maybe"][..],
            "--callkit takes on, off",
        ),
        (
            &["sweep", "--world", "memory", "--relay-restart", "2"][..],
            "--relay-restart needs --world turmoil",
        ),
        (&["sweep", "--shard", "3/3"][..], "--shard takes I/N"),
        (&["sweep", "--buckets", "500,100"][..], "--buckets"),
        (
            &["sweep", "--max-p90-connect", "soon"][..],
            "--max-p90-connect",
        ),
    ] {
        let out = callsim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let grid = dir("sweep-grid").join("grid.toml");
    std::fs::create_dir_all(grid.parent().expect("a folder")).expect("folder");
    std::fs::write(&grid, "seeds = 2\nmedia-los = \"0,5\"\n").expect("written");
    let out = callsim(&["sweep", "--grid", grid.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("grid.toml:2: unknown condition"),
        "{}",
        text(&out.stderr)
    );

    let out_dir = dir("sweep-thresholds");
    let strict = callsim(&[
        "sweep",
        "--world",
        "memory",
        "--media-loss",
        "0,60",
        "--seeds",
        "4",
        "--talk",
        "1",
        "--min-success",
        "0.99",
        "--max-p90-connect",
        "3s",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stdout));
    assert!(
        text(&strict.stdout).contains("cell 1 (world=memory media-loss=60) misses"),
        "{}",
        text(&strict.stdout)
    );
    assert!(
        !text(&strict.stdout).contains("cell 0 "),
        "{}",
        text(&strict.stdout)
    );
}

fn chromium() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/install-chromium.sh");
    let installed = Command::new("bash")
        .arg(&script)
        .status()
        .expect("bash runs");
    assert!(
        installed.success(),
        "Chromium is needed: {} failed",
        script.display()
    );
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!("no Chromium after {}", script.display());
}

/// The report renders in a real browser: Chromium parses it into the table, four plots with
/// their lines and bars, and the replay commands, and draws a page that is not blank.
#[test]
fn the_html_report_renders_in_headless_chromium() {
    let out = dir("sweep-html");
    let run = callsim(&[
        "sweep",
        "--world",
        "memory",
        "--media-loss",
        "0,25,50",
        "--seeds",
        "6",
        "--talk",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let page = out.join("report.html");
    let browser = chromium();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
    ];
    let url = format!("file://{}", page.display());
    let dom = Command::new(&browser)
        .args(flags)
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium runs");
    let dom = text(&dom.stdout);
    assert!(dom.contains("<h1>callsim sweep</h1>"), "{dom}");
    assert!(
        dom.contains("--media-loss 0,25,50 --seeds 6"),
        "the command is shown"
    );
    for figure in [
        "success-vs-media-loss",
        "connect-vs-media-loss",
        "connect-histogram",
        "failure-causes",
    ] {
        let at = dom
            .find(&format!("<figure id=\"{figure}\">"))
            .unwrap_or_else(|| panic!("no {figure}"));
        let svg = &dom[at..dom[at..].find("</figure>").map_or(dom.len(), |e| at + e)];
        assert!(svg.contains("<svg"), "{figure} has no plot");
        assert!(
            svg.contains("<polyline") || svg.contains("<rect"),
            "{figure} draws nothing"
        );
    }
    assert!(
        dom.matches("<tr>").count() >= 4,
        "the table has a row per cell"
    );
    assert!(
        dom.contains("callsim call --world memory --media-loss 50 --talk 2 --seed"),
        "a replay command"
    );
    let shot = out.join("report.png");
    let drawn = Command::new(&browser)
        .args(flags)
        .args([
            "--window-size=1000,2400",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .output()
        .expect("chromium runs");
    assert!(drawn.status.success(), "{}", text(&drawn.stderr));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 30_000,
        "the screenshot is {size} bytes: a blank page?"
    );
}
