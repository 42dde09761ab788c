//! `callsim bdd` as a user runs it: exit statuses and the report.

use std::process::Command;

fn callsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("callsim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_passing_selection_exits_0_and_reports_each_scenario() {
    let (code, out, _) = callsim(&["bdd", "features/races.feature", "--tags", "@glare"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("ok   races.feature: "))
            .count(),
        2,
        "{out}"
    );
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[test]
fn nothing_matched_exits_1_and_a_missing_path_exits_2() {
    let (code, out, _) = callsim(&["bdd", "features", "--name", "^no such scenario$"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no scenario matched"), "{out}");
    let (code, _, err) = callsim(&["bdd", "no/such/dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/dir does not exist"), "{err}");
}

#[test]
fn reports_are_written_where_asked() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-bdd");
    std::fs::create_dir_all(&dir).expect("dir");
    let (junit, json) = (dir.join("r.xml"), dir.join("c.json"));
    let (code, out, _) = callsim(&[
        "bdd",
        "features/encryption.feature",
        "--junit",
        junit.to_str().expect("path"),
        "--json",
        json.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("<testsuite") && xml.contains("tests=\"4\""),
        "{xml}"
    );
    let cucumber: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid JSON");
    // Cucumber JSON lists each scenario's background as an element of its own.
    let scenarios = cucumber[0]["elements"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["type"] == "scenario").count());
    assert_eq!(scenarios, Some(4));
}
