//! The explorer finds a planted bug, and the scenario it exports fails the same way on the
//! turmoil world: a discovery becomes a regression test.

use std::fs;
use std::path::PathBuf;

use callsim::bdd::{BddOptions, run};
use callsim_sim::explore::{ExploreConfig, ExploreOptions, PlantedBug, explore, gherkin, replay};

#[test]
fn a_callee_that_loses_x_call_end_is_found_and_the_exported_scenario_fails_on_turmoil() {
    let config = ExploreConfig {
        bug: Some(PlantedBug::CalleeLosesEnd),
        ..ExploreConfig::default()
    };
    let options = ExploreOptions {
        threads: 1,
        max_states: None,
        walks: None,
    };
    let report = explore(&config, &options);
    let found = report
        .discoveries
        .iter()
        .find(|d| d.failure)
        .unwrap_or_else(|| panic!("the planted bug was not found: {report:?}"));
    let run_path = replay(&config, &found.steps).expect("the counterexample replays");
    let scenario = gherkin(&config, found, &run_path);
    assert!(
        scenario.contains("holds every \"x.call.end\" message to Bob"),
        "{scenario}"
    );

    // The same counterexample on a healthy model is no counterexample.
    let healthy = explore(&ExploreConfig::default(), &options);
    assert!(healthy.discoveries.iter().all(|d| !d.failure));

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explore-export");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    let feature = dir.join("found.feature");
    fs::write(&feature, &scenario).expect("writes the scenario");
    let mut bdd = BddOptions::new(vec![feature]);
    bdd.artifacts = dir.join("artifacts");
    bdd.progress = false;
    let summary = run(&bdd, &mut Vec::new()).expect("the scenario runs");
    assert_eq!(summary.scenarios.len(), 1, "{scenario}");
    assert!(
        !summary.scenarios[0].passed,
        "the exported scenario passed on the turmoil world:\n{scenario}"
    );
    let why = format!("{:?}", summary.scenarios[0].failure);
    eprintln!("{scenario}\n{why}");
    assert!(why.contains("no call remains"), "{why}");
}
