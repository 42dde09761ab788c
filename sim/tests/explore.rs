//! The explorer over the in-memory world: the default model runs to completion with the same
//! counts every time and reaches the named races; paths replay exactly.

use callsim_sim::World;
use callsim_sim::explore::{
    ALICE, BOB, CallModel, ExploreConfig, ExploreOptions, ExploreState, INVARIANTS, RACES, Step,
    explore, replay,
};
use callsim_sim::memory::RelayFault;

fn options(threads: usize) -> ExploreOptions {
    ExploreOptions {
        threads,
        max_states: None,
        walks: None,
    }
}

#[test]
fn the_default_model_runs_to_completion_with_the_same_counts_and_no_broken_invariant() {
    let config = ExploreConfig::default();
    let one = explore(&config, &options(1));
    assert!(one.complete, "{one:?}");
    assert!(one.discoveries.iter().all(|d| !d.failure), "{one:?}");
    assert_eq!((one.generated, one.unique, one.depth), (5354, 2003, 39));
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

fn walks(count: u64, threads: usize) -> ExploreOptions {
    ExploreOptions {
        walks: Some(callsim_sim::explore::Walks { count, seed: 7 }),
        ..options(threads)
    }
}

#[test]
fn random_walks_depend_on_their_seeds_only_not_on_threads() {
    let config = ExploreConfig::default();
    let one = explore(&config, &walks(40, 1));
    let two = explore(&config, &walks(40, 2));
    assert!(!one.complete);
    assert_eq!(
        (one.generated, one.unique, one.depth),
        (two.generated, two.unique, two.depth)
    );
    assert_eq!(one.discoveries, two.discoveries);
    // Each walk ends where nothing more can happen: 40 walks visit more than 40 states.
    assert!(one.generated > 40 * 10, "{one:?}");
    let other_seed = explore(
        &config,
        &ExploreOptions {
            walks: Some(callsim_sim::explore::Walks { count: 40, seed: 8 }),
            ..options(1)
        },
    );
    assert_ne!(other_seed.generated, one.generated);
}

/// SimpleX's agent drops a message delivered again after its ACK was lost (errata W5: simplexmq
/// Agent.hs `processSMPTransmissions`, the duplicate found as the connection's last message), so
/// a lost ACK changes nothing the phones do, in any interleaving: every invariant holds.
#[test]
fn lost_acks_and_redeliveries_break_nothing() {
    let config = ExploreConfig {
        redeliver: 1,
        ..ExploreConfig::default()
    };
    let report = explore(&config, &options(2));
    assert!(report.complete, "{report:?}");
    assert!(report.discoveries.iter().all(|d| !d.failure));
    assert!(report.generated > 5354, "redelivery adds interleavings");
}

/// A lost `x.call.end` leaves the other phone in the call until WebRTC notices the peer gone;
/// then, with CallKit, the end action the app asks for runs after the app dropped its call,
/// fails (CallController.provider(perform: CXEndCallAction) -> CallManager.endCall(callUUID:)
/// finds no call), and CallKit keeps the call: errata A4, which the liveness check reports.
#[test]
fn a_lost_message_is_found_to_leave_callkit_holding_a_call_and_the_path_stops_where_it_breaks() {
    let config = ExploreConfig {
        loss: 1,
        ..ExploreConfig::default()
    };
    let report = explore(&config, &options(2));
    let broken: Vec<_> = report.discoveries.iter().filter(|d| d.failure).collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].property.starts_with("in the end every phone"));
    assert!(
        broken[0]
            .steps
            .iter()
            .any(|s| matches!(s, Step::Fault(RelayFault::Lose, _))),
        "{:?}",
        broken[0].steps
    );
    let model = CallModel {
        config: config.clone(),
    };
    let check = INVARIANTS
        .iter()
        .find(|c| c.name == broken[0].property)
        .expect("an invariant");
    let steps = &broken[0].steps;
    let at = |n: usize| {
        let run = replay(&config, &steps[..n]).expect("replays");
        ExploreState::at(run.world, &steps[..n], &config)
    };
    assert!(!(check.holds)(&model, &at(steps.len())));
    assert!((check.holds)(&model, &at(steps.len() - 1)));
    let end = at(steps.len());
    let calls = [ALICE, BOB].map(|id| end.world.with_callkit(id, |c| c.live_calls()));
    assert!(
        calls.iter().sum::<usize>() > 0,
        "CallKit keeps a call: {calls:?}"
    );
}
