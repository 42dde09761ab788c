//! The explorer over the in-memory world: the default model runs to completion with the same
//! counts every time and reaches the named races; paths replay exactly.

use callsim_sim::explore::{ExploreConfig, ExploreOptions, RACES, explore, replay};

fn options(threads: usize) -> ExploreOptions {
    ExploreOptions {
        threads,
        max_states: None,
        simulate: None,
    }
}

#[test]
fn the_default_model_runs_to_completion_with_the_same_counts_and_no_broken_invariant() {
    let config = ExploreConfig::default();
    let one = explore(&config, &options(1));
    assert!(one.complete, "{one:?}");
    assert!(one.discoveries.iter().all(|d| !d.failure), "{one:?}");
    assert_eq!((one.generated, one.unique, one.depth), (7604, 2875, 39));
    assert!(
        one.unreached.is_empty(),
        "races never reached: {:?}",
        one.unreached
    );
    assert_eq!(one.discoveries.len(), RACES.len());
    // Threads change the order of the search, not what it covers.
    let two = explore(&config, &options(2));
    assert_eq!((two.generated, two.unique), (one.generated, one.unique));
}

#[test]
fn every_discovered_path_replays_to_a_state_where_its_race_holds() {
    let config = ExploreConfig::default();
    let report = explore(&config, &options(1));
    for found in &report.discoveries {
        let run = replay(&config, &found.steps).expect("replays");
        assert_eq!(run.steps.len(), found.steps.len());
        let race = RACES
            .iter()
            .find(|r| r.name == found.property)
            .expect("a race");
        let model = callsim_sim::explore::CallModel {
            config: config.clone(),
        };
        let state = callsim_sim::explore::ExploreState::at(run.world, &found.steps, &config);
        assert!((race.holds)(&model, &state), "{}", found.property);
    }
}

#[test]
fn without_a_window_every_timer_may_overtake_every_callback_and_the_space_grows() {
    let config = ExploreConfig {
        window_ms: None,
        ..ExploreConfig::default()
    };
    let cut = ExploreOptions {
        max_states: Some(20_000),
        ..options(1)
    };
    let report = explore(&config, &cut);
    assert!(!report.complete);
    assert!(report.generated >= 20_000, "{report:?}");
}
