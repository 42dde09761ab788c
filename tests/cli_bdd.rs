//! `callsim bdd` and `callsim steps` as a user runs them: exit statuses, reports, shards, replays.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn callsim_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("callsim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn callsim(args: &[&str]) -> (i32, String, String) {
    callsim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn a_passing_selection_exits_0_and_reports_each_scenario_with_its_place() {
    let (code, out, _) = callsim(&["bdd", "features/races.feature", "--tags", "@glare"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ok   features/races.feature:"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
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
    let (code, _, err) = callsim(&["bdd", "features", "--concurrency", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--concurrency must be at least 1"), "{err}");
}

#[test]
fn a_syntax_error_fails_the_file_with_its_place_and_exits_1() {
    let dir = scratch("cli-syntax");
    std::fs::write(
        dir.join("broken.feature"),
        "Feature: x\n  Scenarios live here\n\n  Scenario: s\n    Given Alice and Bob are contacts\n",
    )
    .expect("feature");
    let (code, out, _) = callsim_in(&dir, &["bdd", "broken.feature"]);
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("FAIL broken.feature:"))
        .unwrap_or_else(|| panic!("{out}"));
    let place: Vec<&str> = line.split(':').take(3).collect();
    assert!(
        place[1].parse::<u32>().is_ok() && place[2].parse::<u32>().is_ok(),
        "{line}"
    );
    assert!(line.contains("expected one of"), "{line}");
}

#[test]
fn reports_are_written_where_asked_in_the_shapes_ci_expects() {
    let dir = scratch("cli-bdd");
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
    // The feature's name as the class, the scenario's name alone as the test (no line), the
    // seed as a property.
    assert!(
        xml.contains("classname=\"End-to-end encryption of calls\""),
        "{xml}"
    );
    assert!(xml.contains("<property name=\"seed\""), "{xml}");
    assert!(
        !xml.contains("encryption.feature:"),
        "no line numbers in names: {xml}"
    );
    let cucumber: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid JSON");
    assert_eq!(
        cucumber[0]["uri"], "features/encryption.feature",
        "the path as given"
    );
    let elements = cucumber[0]["elements"].as_array().expect("elements");
    let scenarios = elements.iter().filter(|e| e["type"] == "scenario").count();
    assert_eq!(scenarios, 4);
    // Each scenario's background comes just before it, as an element of its own.
    for (i, e) in elements.iter().enumerate() {
        if e["type"] == "scenario" {
            assert_eq!(elements[i - 1]["type"], "background", "{e}");
        }
    }
}

#[test]
fn an_undefined_step_is_undefined_in_cucumber_json_and_a_failure_in_junit() {
    let dir = scratch("cli-undefined");
    std::fs::write(
        dir.join("u.feature"),
        "Feature: u\n  Scenario: sings\n    Given Alice and Bob are contacts\n    When Alice sings\n",
    )
    .expect("feature");
    let (code, out, _) = callsim_in(
        &dir,
        &["bdd", "u.feature", "--json", "c.json", "--junit", "r.xml"],
    );
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("c.json")).expect("json"))
            .expect("valid");
    let steps = &json[0]["elements"][0]["steps"];
    assert_eq!(steps[1]["result"]["status"], "undefined", "{json}");
    let xml = std::fs::read_to_string(dir.join("r.xml")).expect("junit");
    assert!(
        xml.contains("<failure") && xml.contains("replay: "),
        "{xml}"
    );
    assert!(
        xml.contains("classname=\"u\"") && xml.contains("name=\"sings\""),
        "{xml}"
    );
}

#[test]
fn shards_are_disjoint_and_together_the_whole_suite() {
    let (code, all, _) = callsim(&["bdd", "features", "--list"]);
    assert_eq!(code, 0, "{all}");
    let all: BTreeSet<String> = all.lines().map(str::to_owned).collect();
    assert!(all.len() > 50, "{all:?}");
    let mut union = BTreeSet::new();
    for i in 1..=4 {
        let shard = format!("{i}/4");
        let (code, part, _) = callsim(&["bdd", "features", "--list", "--shard", &shard]);
        assert_eq!(code, 0, "{part}");
        for line in part.lines() {
            assert!(union.insert(line.to_owned()), "{line} is in two shards");
        }
    }
    assert_eq!(union, all);
    let (code, _, err) = callsim(&["bdd", "features", "--shard", "5/4"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_replay_command_works_from_another_folder_and_fails_the_same_way() {
    let dir = scratch("cli-replay");
    let feature = dir.join("r.feature");
    std::fs::write(
        &feature,
        "Feature: r\n  Scenario: wrong state\n    Given Alice and Bob are contacts\n    When Alice starts an audio call to Bob\n    Then Alice's call state is \"connected\"\n",
    )
    .expect("feature");
    let (code, out, _) = callsim_in(&dir, &["bdd", "r.feature"]);
    assert_eq!(code, 1, "{out}");
    let replay = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let why = out
        .lines()
        .find(|l| l.trim().starts_with("why: "))
        .expect("why");
    // From the root folder, through a shell, as a person pastes it.
    let replayed = Command::new("sh")
        .arg("-c")
        .arg(&replay)
        .current_dir("/")
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(replayed.status.code(), Some(1), "{text}");
    assert!(text.contains(why), "{text}");
    assert!(text.contains("1 scenarios: 0 passed, 1 failed"), "{text}");
}

#[test]
fn steps_prints_the_whole_language_from_the_runners_table() {
    let (code, out, _) = callsim(&["steps"]);
    assert_eq!(code, 0);
    for needle in [
        "Given Alice and Bob are contacts",
        "When N seconds pass / N milliseconds pass",
        "Then Bob's phone rings within N seconds",
        "Then the call between Alice and Bob goes through TURN / goes peer to peer",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let (code, help, _) = callsim(&["--help"]);
    assert_eq!(code, 0);
    let commands = help.split("Commands:").nth(1).expect("commands");
    assert!(
        commands.trim_start().starts_with("bdd"),
        "bdd leads: {help}"
    );
}
