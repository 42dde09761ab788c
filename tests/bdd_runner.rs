//! The scenario runner's own promises: failures are explained and replayable, and the same seeds
//! give the same results and traces whatever the concurrency.

use std::fs;
use std::path::{Path, PathBuf};

use callsim::bdd::{BddOptions, RunSummary, run};

const BROKEN: &str = r#"Feature: a broken expectation

  Scenario: Bob never rings, says the scenario
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Alice's call state is "connected"

  Scenario: This one passes
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run_with(options: &BddOptions) -> (RunSummary, String) {
    let mut out = Vec::new();
    let summary = run(options, &mut out).expect("the run starts");
    (summary, String::from_utf8(out).expect("utf-8 report"))
}

/// The replay command's arguments after `bdd`, split as a shell would (single quotes only).
fn replay_args(command: &str) -> Vec<String> {
    let rest = command
        .split_once(" bdd ")
        .map(|(_, r)| r)
        .expect("a replay command");
    let mut args = vec!["bdd".to_owned()];
    let (mut current, mut quoted) = (String::new(), false);
    for c in rest.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    args.push(current);
    args
}

#[test]
fn a_broken_expectation_shows_seed_replay_and_traces_and_the_replay_fails_the_same_way() {
    let dir = scratch("broken");
    let feature = dir.join("broken.feature");
    fs::write(&feature, BROKEN).expect("feature file");
    let mut options = BddOptions::new(vec![feature.clone()]);
    options.artifacts = dir.join("artifacts");
    let (summary, report) = run_with(&options);

    assert!(!summary.succeeded(), "{report}");
    assert_eq!(summary.scenarios.len(), 2, "{report}");
    let broken = summary
        .scenarios
        .iter()
        .find(|s| !s.passed)
        .expect("one failure");
    assert_eq!(broken.name, "Bob never rings, says the scenario");
    let why = broken.failure.as_deref().unwrap_or_default();
    assert!(
        why.contains(r#"Alice's call state is "invitationSent", not "connected""#),
        "{why}"
    );
    assert!(
        report.contains(&format!("seed {}", broken.seed)),
        "{report}"
    );
    assert!(
        report.contains(&format!("replay: {}", broken.replay)),
        "{report}"
    );
    assert!(report.contains("1 passed, 1 failed"), "{report}");
    assert_eq!(broken.artifacts.len(), 3, "{report}");
    for file in &broken.artifacts {
        assert!(report.contains(&file.display().to_string()), "{report}");
        assert!(fs::metadata(file).expect("artifact").len() > 0);
    }
    let trace = fs::read_to_string(&broken.artifacts[0]).expect("trace");
    assert!(trace.contains("x.call.inv"), "the trace shows the call");

    // The replay command, parsed as the CLI parses it, runs that scenario alone and fails alike.
    let args = replay_args(&broken.replay);
    let cli = <callsim::cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once("callsim".to_owned()).chain(args),
    )
    .expect("the replay command parses");
    let callsim::cli::Command::Bdd(bdd) = cli.command else {
        panic!("the replay command is `bdd`");
    };
    let mut replay = bdd.options();
    replay.artifacts = dir.join("replay");
    let (again, report) = run_with(&replay);
    assert_eq!(again.scenarios.len(), 1, "{report}");
    let same = &again.scenarios[0];
    assert_eq!(
        (&same.name, same.seed, &same.failure),
        (&broken.name, broken.seed, &broken.failure)
    );
    assert_eq!(same.sim_ms, broken.sim_ms);
    let replayed = fs::read_to_string(&same.artifacts[0]).expect("trace");
    assert_eq!(replayed, trace, "the replay's trace is the failure's trace");
}

fn traces(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("artifacts") {
        let scenario = entry.expect("entry").path();
        let trace = scenario.join("trace.jsonl");
        let name = scenario
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        files.push((name, fs::read_to_string(trace).expect("trace")));
    }
    files.sort();
    files
}

/// Runs `path` in this process with `concurrency` workers, keeping artifacts under `artifacts`;
/// the run must succeed. Its summary and its traces by scenario.
fn run_keeping_traces(
    path: &Path,
    artifacts: PathBuf,
    concurrency: usize,
) -> (RunSummary, Vec<(String, String)>) {
    let mut options = BddOptions::new(vec![path.to_owned()]);
    options.artifacts = artifacts;
    options.keep_artifacts = true;
    options.concurrency = concurrency;
    let (summary, report) = run_with(&options);
    assert!(summary.succeeded(), "{report}");
    (summary, traces(&options.artifacts))
}

/// Runs `callsim bdd FEATURE ARGS...` in a fresh process, keeping artifacts under
/// `artifacts`; the run must succeed. Its traces by scenario.
fn traces_of_a_fresh_process(
    feature: &Path,
    args: &[&str],
    artifacts: &Path,
) -> Vec<(String, String)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callsim"))
        .arg("bdd")
        .arg(feature)
        .args(args)
        .arg("--artifacts")
        .arg(artifacts)
        .arg("--keep-artifacts")
        .output()
        .expect("callsim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    traces(artifacts)
}

#[test]
fn the_suite_run_twice_with_different_concurrency_gives_the_same_results_and_traces() {
    let features = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features");
    let dir = scratch("twice");
    let mut runs = Vec::new();
    for (n, concurrency) in [(1, 1), (2, 4)] {
        let (summary, traces) =
            run_keeping_traces(&features, dir.join(format!("run{n}")), concurrency);
        let results: Vec<_> = summary
            .scenarios
            .iter()
            .map(|s| (s.name.clone(), s.seed, s.passed, s.sim_ms))
            .collect();
        runs.push((results, traces));
    }
    assert!(runs[0].0.len() >= 50, "the whole suite ran");
    assert_eq!(runs[0].0, runs[1].0, "same results");
    // Real-stack scenarios too: webrtc-rs's randomness comes from the seed and its driver's
    // same-tick order is fixed (callsim_sim::seeded, rtc::real::runtime).
    assert_eq!(runs[0].1.len(), runs[0].0.len(), "a trace per scenario");
    assert!(
        runs[0]
            .1
            .iter()
            .any(|(name, _)| name.starts_with("real_webrtc"))
    );
    for (a, b) in runs[0].1.iter().zip(&runs[1].1) {
        assert_eq!(a.0, b.0);
        assert!(a.1 == b.1, "{}: the traces differ", a.0);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = scratch("bad");
    let missing = BddOptions::new(vec![dir.join("nope.feature")]);
    let err = run(&missing, &mut Vec::new())
        .expect_err("missing path")
        .to_string();
    assert!(err.contains("nope.feature does not exist"), "{err}");

    let mut tags = BddOptions::new(vec![dir.clone()]);
    tags.tags = Some("@a and and".into());
    let err = run(&tags, &mut Vec::new())
        .expect_err("bad tags")
        .to_string();
    assert!(err.starts_with("bad --tags"), "{err}");

    let unknown = dir.join("unknown.feature");
    fs::write(
        &unknown,
        "Feature: x\n  Scenario: an unknown step fails\n    Given Alice and Bob are contacts\n    When Alice sings\n",
    )
    .expect("feature file");
    let mut options = BddOptions::new(vec![unknown]);
    options.artifacts = dir.join("artifacts");
    let (summary, report) = run_with(&options);
    assert!(
        !summary.succeeded(),
        "an unknown step is never skipped silently: {report}"
    );
    assert!(
        report.contains("line 4: When Alice sings: not a step of the scenario language"),
        "{report}"
    );

    let twice = dir.join("twice.feature");
    fs::write(
        &twice,
        "Feature: y\n  Scenario: same\n    Given Alice and Bob are contacts\n  Scenario: same\n    Given Alice and Bob are contacts\n",
    )
    .expect("feature file");
    let (summary, report) = run_with(&BddOptions::new(vec![twice]));
    assert!(!summary.succeeded(), "{report}");
    assert!(
        report.contains(r#"two scenarios are named "same" (lines 2 and 4)"#),
        "{report}"
    );
}

const STRICT: &str = r#"Feature: steps keep their word

  Scenario: within counts from the last When even after an earlier step ran the clock
    Given Alice and Bob are contacts
    And Bob's app is suspended
    And push notifications to Bob take 3 seconds
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 10 seconds
    And Bob's phone rings within 1 second

  Scenario: the in-app buttons need the in-app view
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob accepts the call in the app

  Scenario: hearing someone needs a call with them
    Given Alice and Bob are contacts
    And Carol and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Bob hears Carol

  Scenario: a ring before the step counts against does not ring
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    And 3 seconds pass
    Then Bob's phone does not ring

  Scenario: an answer still waiting at the end breaks a standing invariant
    Given Alice and Bob are contacts
    And Bob's app is not running
    And Bob's chat takes 60 seconds to start
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 3 seconds
    When Bob answers the call through CallKit

  Scenario: a relay fault as a Given leaves the phones open to set-up
    Given Alice and Bob are contacts
    And the relay goes down
    And Bob's phone is locked
    When Alice starts an audio call to Bob
    And 2 seconds pass
    Then Bob has no pending call invitation
"#;

#[test]
fn steps_fail_when_their_words_are_not_true() {
    let dir = scratch("strict");
    let feature = dir.join("strict.feature");
    fs::write(&feature, STRICT).expect("feature file");
    let mut options = BddOptions::new(vec![feature]);
    options.artifacts = dir.join("artifacts");
    let (summary, report) = run_with(&options);
    let why = |name: &str| {
        summary
            .scenarios
            .iter()
            .find(|s| s.name.starts_with(name))
            .unwrap_or_else(|| panic!("{name} ran: {report}"))
            .failure
            .clone()
            .unwrap_or_default()
    };
    assert!(
        why("within counts").contains("did not ring within 1 s"),
        "{report}"
    );
    assert!(
        why("the in-app buttons").contains("no in-app incoming call view"),
        "{report}"
    );
    assert!(
        why("hearing someone").contains("not in a connected call with Carol"),
        "{report}"
    );
    assert!(
        why("a ring before").contains("rang after the last When"),
        "{report}"
    );
    assert!(
        why("an answer still waiting").contains(
            "standing invariants broken: Bob left 1 CallKit action(s) neither fulfilled nor failed"
        ),
        "{report}"
    );
    assert_eq!(why("a relay fault"), "", "{report}");
}

/// Runs `text` as a feature file of its own; returns the summary and the report.
fn run_text(name: &str, text: &str, tweak: impl FnOnce(&mut BddOptions)) -> (RunSummary, String) {
    let dir = scratch(name);
    let feature = dir.join(format!("{name}.feature"));
    fs::write(&feature, text).expect("feature file");
    let mut options = BddOptions::new(vec![feature]);
    options.artifacts = dir.join("artifacts");
    tweak(&mut options);
    run_with(&options)
}

fn failure_of(summary: &RunSummary, name: &str) -> String {
    summary
        .scenarios
        .iter()
        .find(|s| s.name.starts_with(name))
        .unwrap_or_else(|| panic!("{name} ran"))
        .failure
        .clone()
        .unwrap_or_default()
}

/// Each of these passed before the runner asked "within" steps for their subject (issue 13):
/// the moment before the invitation arrived counted as Bob's call having ended.
const WITHIN: &str = r#"Feature: within needs its subject

  Scenario: a ringing phone has not ended its call
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's call ends within 1 second

  Scenario: no call at all has nothing to end
    Given Alice and Bob are contacts
    When 1 second passes
    Then Bob's call ends within 1 second

  Scenario: no call at all has nothing to connect
    Given Alice and Bob are contacts
    When 1 second passes
    Then the call between Alice and Bob connects within 1 second

  Scenario: a decline ends the ringing call within its own step's window
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob declines the call through CallKit
    Then Bob's call ends within 1 second
"#;

#[test]
fn within_steps_need_their_subject_and_an_outcome_after_it() {
    let (summary, report) = run_text("within", WITHIN, |_| {});
    assert!(
        failure_of(&summary, "a ringing phone").contains("Bob's call did not end within 1 s"),
        "{report}"
    );
    assert!(
        failure_of(&summary, "a ringing phone").contains("the phone is ringing"),
        "the state at the deadline: {report}"
    );
    assert!(
        failure_of(&summary, "no call at all has nothing to end")
            .contains("had no call and no ringing invitation to end"),
        "{report}"
    );
    assert!(
        failure_of(&summary, "no call at all has nothing to connect")
            .contains("there was no call between Alice and Bob to connect"),
        "{report}"
    );
    assert_eq!(failure_of(&summary, "a decline"), "", "{report}");
}

const NUMBERS: &str = r#"Feature: numbers that do not fit

  Scenario: a wait that wraps around
    Given Alice and Bob are contacts
    When 18446744073709552 seconds pass

  Scenario: a negative wait
    Given Alice and Bob are contacts
    When -5 seconds pass

  Scenario: a fractional deadline
    Given Alice and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2.5 seconds

  Scenario: a number too large to parse
    Given Alice and Bob are contacts
    When 99999999999999999999999 milliseconds pass

  Scenario: a wait past the simulated-time limit
    Given Alice and Bob are contacts
    When 50 seconds pass
    And 50 seconds pass
"#;

#[test]
fn numbers_too_large_negative_or_fractional_are_errors_naming_the_step() {
    let (summary, report) = run_text("numbers", NUMBERS, |o| o.max_sim_ms = 60_000);
    assert_eq!(summary.passed(), 0, "{report}");
    let wrap = failure_of(&summary, "a wait that wraps");
    assert!(
        wrap.contains("line 5: When 18446744073709552 seconds pass"),
        "{wrap}"
    );
    assert!(wrap.contains("longer than a scenario may run"), "{wrap}");
    assert!(
        failure_of(&summary, "a negative wait").contains("whole number from 0 up, not \"-5\""),
        "{report}"
    );
    assert!(
        failure_of(&summary, "a fractional deadline").contains("not \"2.5\""),
        "{report}"
    );
    assert!(
        failure_of(&summary, "a number too large").contains("too large for this step"),
        "{report}"
    );
    let limit = failure_of(&summary, "a wait past");
    assert!(
        limit.contains("line 23: And 50 seconds pass"),
        "the second wait: {limit}"
    );
    assert!(
        limit.contains("limit of 1 min of simulated time"),
        "{limit}"
    );
}

#[test]
fn an_unknown_step_gets_did_you_mean_and_a_syntax_error_its_place() {
    let (summary, report) = run_text(
        "unknown",
        "Feature: x\n  Scenario: a typo\n    Given Alice and Bob are contacts\n    When Alice starts an audio call to Bob\n    Then Bob's phone ring within 2 seconds\n",
        |_| {},
    );
    assert!(!summary.succeeded());
    assert!(
        report.contains("did you mean: Then Bob's phone rings within N seconds"),
        "{report}"
    );

    let (summary, report) = run_text(
        "syntax",
        "Feature: x\n  Scenarios are what this file has\n\n  Scenario: s\n    Given Alice and Bob are contacts\n",
        |_| {},
    );
    assert!(!summary.succeeded(), "{report}");
    assert_eq!(summary.problems.len(), 1, "{report}");
    let problem = summary.problems[0].to_string();
    assert!(problem.contains("syntax.feature:"), "{problem}");
    assert!(summary.problems[0].line.is_some(), "{problem}");
    assert!(
        report.contains("FAIL ") && report.contains("expected one of"),
        "{report}"
    );
}

#[test]
fn seeds_runs_each_scenario_per_seed_and_lists_the_failing_seeds() {
    let (summary, report) = run_text(
        "seeds",
        "Feature: s\n  Scenario: a call\n    Given Alice and Bob are contacts\n    When Alice starts an audio call to Bob\n    Then Bob's phone rings within 2 seconds\n\n  Scenario: always wrong\n    Given Alice and Bob are contacts\n    Then Alice's call state is \"connected\"\n",
        |o| o.seeds = Some((1, 5)),
    );
    assert_eq!(summary.scenarios.len(), 10, "{report}");
    assert!(report.contains("a call: 5 seeds, 0 failed"), "{report}");
    assert!(
        report.contains("always wrong: 5 seeds, 5 failed: 1, 2, 3, 4, 5"),
        "{report}"
    );
    assert!(
        report.contains("--seed 1"),
        "a replay per failing seed: {report}"
    );
}

#[test]
fn fail_fast_starts_nothing_after_a_failure() {
    let mut text = String::from(
        "Feature: f\n  Scenario: first fails\n    Given Alice and Bob are contacts\n    Then Alice's call state is \"connected\"\n",
    );
    for i in 0..6 {
        text.push_str(&format!("\n  Scenario: later {i}\n    Given Alice and Bob are contacts\n    When 1 second passes\n"));
    }
    let (summary, report) = run_text("failfast", &text, |o| {
        o.fail_fast = true;
        o.concurrency = 1;
    });
    assert_eq!(summary.scenarios.len(), 1, "{report}");
    assert_eq!(summary.not_run, 6, "{report}");
    assert!(!summary.succeeded());
    assert!(report.contains("6 scenario run(s) not started"), "{report}");
}

#[test]
fn a_pinned_seed_overridden_by_seed_is_named_and_list_runs_nothing() {
    let text =
        "Feature: p\n  @seed(42)\n  Scenario: pinned\n    Given Alice and Bob are contacts\n";
    let (summary, report) = run_text("pinned", text, |o| o.seed = Some(7));
    assert_eq!(summary.scenarios[0].seed, 7);
    assert!(
        report.contains("pinned by @seed(N) run with the seeds asked for"),
        "{report}"
    );
    let (summary, report) = run_text("list", text, |o| o.list = true);
    assert!(summary.scenarios.is_empty());
    assert!(
        report.contains("list.feature:3: pinned [@seed(42)] seed 42"),
        "{report}"
    );
}

#[test]
fn an_unwritable_artifacts_folder_is_an_error_before_anything_runs() {
    let dir = scratch("unwritable");
    let blocker = dir.join("file");
    fs::write(&blocker, "not a folder").expect("file");
    let mut options = BddOptions::new(vec![
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features"),
    ]);
    options.artifacts = blocker.join("artifacts");
    let err = run(&options, &mut Vec::new()).expect_err("refused");
    assert!(matches!(err, callsim::bdd::BddError::Usage(_)), "{err}");
    let err = err.to_string();
    assert!(err.contains("artifacts"), "{err}");
    let mut options = BddOptions::new(vec![dir.clone()]);
    options.concurrency = 0;
    let err = run(&options, &mut Vec::new())
        .expect_err("refused")
        .to_string();
    assert!(err.contains("--concurrency must be at least 1"), "{err}");
}

#[test]
fn a_now_check_that_fails_while_a_message_is_on_its_way_says_so() {
    let (summary, report) = run_text(
        "inflight",
        "Feature: f\n  Scenario: held answer\n    Given Alice and Bob are contacts\n    And the relay holds every \"x.call.answer\" message to Bob\n    When Alice starts an audio call to Bob\n    Then Bob's phone rings within 2 seconds\n    When Bob answers the call through CallKit\n    And 3 seconds pass\n    Then Bob's call state is \"connected\"\n\n  Scenario: too soon\n    Given Alice and Bob are contacts\n    When Alice starts an audio call to Bob\n    Then Bob's phone is ringing\n",
        |_| {},
    );
    let held = failure_of(&summary, "held answer");
    assert!(
        held.contains("x.call.answer from Alice")
            && held.contains("held at the relay by the scenario"),
        "{report}"
    );
    let soon = failure_of(&summary, "too soon");
    assert!(soon.contains("x.call.inv from Alice"), "{report}");
    assert!(soon.contains("due about"), "{report}");
    assert!(
        soon.contains("a \"within N seconds\" step waits for them"),
        "{report}"
    );
}

#[test]
fn does_not_connect_needs_a_call_that_could_have_connected() {
    let (summary, report) = run_text(
        "noconnect",
        "Feature: f\n  Scenario: nobody called\n    Given Alice and Bob are contacts\n    When 2 seconds pass\n    Then the call between Alice and Bob does not connect\n",
        |_| {},
    );
    assert!(
        failure_of(&summary, "nobody called").contains("there is no call between Alice and Bob"),
        "{report}"
    );
}

/// The real WebRTC stack repeats byte for byte by seed: every real-stack scenario, run twice in
/// this process (on the same worker threads in turn, and at once) and once in a fresh process,
/// leaves the same trace. webrtc-rs's own randomness comes from the scenario's seed and its
/// driver's order among same-instant work is fixed (`callsim_sim::seeded`, `rtc::real::crypto`,
/// `rtc::real::runtime`'s arbiter; docs/dependency-bugs.md).
#[test]
fn every_real_stack_scenario_leaves_the_same_trace_in_this_process_and_in_a_fresh_one() {
    let feature = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features/real_webrtc.feature");
    let dir = scratch("real-stack-bytes");
    let mut runs = Vec::new();
    for (n, concurrency) in [(1, 1), (2, 2)] {
        let (_, traces) = run_keeping_traces(&feature, dir.join(format!("run{n}")), concurrency);
        runs.push(traces);
    }
    runs.push(traces_of_a_fresh_process(&feature, &[], &dir.join("fresh")));
    // A replay alone in a fresh process (a scenario that is not the file's first), as a
    // failure's replay command runs it.
    let alone = traces_of_a_fresh_process(
        &feature,
        &[
            "--name",
            "Encrypted audio and video cross the real stack both ways",
        ],
        &dir.join("alone"),
    );
    assert_eq!(alone.len(), 1);
    assert!(
        runs[0].contains(&alone[0]),
        "{}: alone, the trace differs",
        alone[0].0
    );
    assert_eq!(runs[0].len(), 7, "every real-stack scenario left a trace");
    for run in &runs[1..] {
        assert_eq!(run.len(), runs[0].len());
        for (a, b) in runs[0].iter().zip(run) {
            assert_eq!(a.0, b.0);
            assert!(a.1 == b.1, "{}: the traces differ", a.0);
        }
    }
}
