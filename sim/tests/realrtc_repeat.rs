//! Real-stack runs repeat byte for byte by seed: the same seed gives the same trace in this
//! process, run after run (`callsim_sim::seeded`, the crypto provider of `rtc::real`, and the
//! driver's readiness order in `rtc::real::runtime`). Other processes: `tests/bdd_runner.rs` and
//! `tests/cli_protocol.rs`.

use callsim_engine::io::UserAction;
use callsim_engine::protocol::CallMediaType;
use callsim_sim::loss::Loss;
use callsim_sim::world::WorldBuilder;
use callsim_sim::{PhoneId, World};

const ALICE: PhoneId = PhoneId(0);
const BOB: PhoneId = PhoneId(1);

/// One real-stack video call of `seed` on a thread of its own: its trace.
fn call(seed: u64, loss: f64, relay: bool) -> String {
    callsim_sim::seeded::on_fresh_thread(seed, move || {
        let mut builder = WorldBuilder::new(seed).trace(true);
        for name in ["Alice", "Bob"] {
            let phone = builder.phone(name);
            phone.real_webrtc = true;
            phone.config.relay_policy = relay;
        }
        let mut w = builder.build();
        if loss > 0.0 {
            w.set_media_loss(ALICE, BOB, Loss::Random { rate: loss })
                .expect("a loss");
        }
        w.start_call(ALICE, BOB, CallMediaType::Video);
        let _ = w.advance_until(5_000, |w| w.ringing(BOB));
        w.callkit_answer(BOB);
        w.advance(8_000).expect("runs");
        w.user(ALICE, UserAction::EndCall);
        w.advance(3_000).expect("runs");
        w.trace_jsonl()
    })
}

#[test]
fn this_binary_routes_the_systems_randomness_through_the_seed() {
    assert!(callsim_sim::seeded::intercepting());
}

#[test]
fn a_real_stack_call_repeats_byte_for_byte_in_one_process() {
    for relay in [false, true] {
        let first = call(3, 0.0, relay);
        assert!(first.contains("\"connected\""), "the call connected");
        assert_eq!(first, call(3, 0.0, relay), "relay {relay}");
    }
}

#[test]
fn lossy_real_stack_calls_repeat_byte_for_byte_in_one_process() {
    for seed in 1..=6 {
        let first = call(seed, 0.1, false);
        let second = call(seed, 0.1, false);
        if first != second {
            let line = first
                .lines()
                .zip(second.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "seed {seed}: the traces part at line {line}:\n{}\n{}",
                first.lines().nth(line).unwrap_or_default(),
                second.lines().nth(line).unwrap_or_default()
            );
        }
    }
}

/// std's hash keys (drawn once per thread) on a seeded thread come from the seed: the order
/// the stack's hash maps iterate in, such as the SDP's header extensions, repeats.
#[test]
fn std_hash_keys_on_a_seeded_thread_come_from_the_seed() {
    use std::hash::BuildHasher;
    let draw = |seed| {
        std::thread::spawn(move || {
            let _seeded = callsim_sim::seeded::ThreadSeed::new(seed);
            std::collections::hash_map::RandomState::new().hash_one(1u8)
        })
        .join()
        .expect("the thread runs")
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}
