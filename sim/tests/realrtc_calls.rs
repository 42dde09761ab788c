//! Calls through the real WebRTC stack (webrtc-rs 0.21) inside the turmoil world.

use callsim_engine::phone::UserAction;
use callsim_engine::protocol::CallMediaType::{self, Audio, Video};
use callsim_sim::world::{World, WorldBuilder};

const ALICE: usize = 0;
const BOB: usize = 1;

fn world(seed: u64) -> World {
    let mut builder = WorldBuilder::new(seed);
    builder.phone("Alice").real_webrtc = true;
    builder.phone("Bob").real_webrtc = true;
    builder.build()
}

fn connect(w: &mut World, media: CallMediaType) {
    w.start_call(ALICE, BOB, media);
    assert!(
        w.run_until(5_000, |w| w.ringing(BOB)).expect("runs"),
        "Bob never rang:\n{}",
        w.mermaid()
    );
    assert!(w.callkit_answer(BOB));
    assert!(
        w.run_until(10_000, |w| w.connected(ALICE, BOB))
            .expect("runs"),
        "no connection:\n{}",
        w.mermaid()
    );
}

#[test]
fn a_real_call_connects_and_carries_decrypted_audio_both_ways() {
    let mut w = world(1);
    connect(&mut w, Audio);
    w.run_for(5_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        eprintln!("{} {stats:?}", w.name(id));
        assert!(
            stats.audio_frames_received >= 200,
            "{} {stats:?}",
            w.name(id)
        );
        assert_eq!(stats.frames_decrypted, stats.audio_frames_received);
        assert_eq!(stats.undecryptable_frames, 0);
    }
    w.user(ALICE, UserAction::EndCall);
    w.run_for(2_000).expect("runs");
    assert_eq!(
        (w.call_state(ALICE), w.call_state(BOB)),
        (None, None),
        "{}",
        w.mermaid()
    );
}

#[test]
fn video_frames_cross_the_real_stack_whole_and_decrypted() {
    let mut w = world(2);
    connect(&mut w, Video);
    w.run_for(4_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        eprintln!("{} {stats:?}", w.name(id));
        assert!(
            stats.video_frames_received >= 100,
            "{} {stats:?}",
            w.name(id)
        );
        assert!(
            stats.audio_frames_received >= 150,
            "{} {stats:?}",
            w.name(id)
        );
        assert_eq!(
            stats.frames_decrypted,
            stats.audio_frames_received + stats.video_frames_received
        );
        assert_eq!(stats.undecryptable_frames, 0);
    }
}

#[test]
fn frames_under_a_wrong_key_are_dropped_and_counted_never_played() {
    let mut w = world(3);
    w.use_wrong_media_key(BOB);
    connect(&mut w, Video);
    w.run_for(3_000).expect("runs");
    let (alice, bob) = (w.rtc_stats(ALICE), w.rtc_stats(BOB));
    eprintln!("{alice:?}\n{bob:?}");
    for stats in [&alice, &bob] {
        assert_eq!(stats.audio_frames_received, 0, "{stats:?}");
        assert_eq!(stats.video_frames_received, 0, "{stats:?}");
        assert_eq!(stats.frames_decrypted, 0, "{stats:?}");
        assert!(stats.undecryptable_frames >= 100, "{stats:?}");
    }
}

#[test]
fn blocked_media_fails_a_real_call_in_bounded_time() {
    let mut w = world(4);
    w.set_media_blocked(ALICE, BOB, true);
    w.start_call(ALICE, BOB, Audio);
    assert!(w.run_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    w.callkit_answer(BOB);
    let start = w.now();
    let ended = w.run_until(40_000, |w| {
        w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
    });
    assert!(ended.expect("runs"), "{}", w.mermaid());
    eprintln!("ended after {} ms", w.now().0 - start.0);
    eprintln!(
        "{}",
        callsim_sim::world::trace::timeline(&w.trace()).join("\n")
    );
    assert!(!w.connected(ALICE, BOB));
}

#[test]
fn losing_the_network_mid_call_ends_a_real_call() {
    let mut w = world(5);
    connect(&mut w, Audio);
    w.run_for(2_000).expect("runs");
    w.set_media_blocked(ALICE, BOB, true);
    let cut = w.now();
    let ended = w.run_until(40_000, |w| {
        w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
    });
    assert!(ended.expect("runs"), "{}", w.mermaid());
    eprintln!("ended after {} ms", w.now().0 - cut.0);
    eprintln!("{:?}\n{:?}", w.rtc_stats(ALICE), w.rtc_stats(BOB));
}

#[test]
fn a_real_call_rides_out_lossy_media() {
    let mut w = world(6);
    w.set_media_loss(ALICE, BOB, callsim_sim::world::Loss::Random { rate: 0.05 });
    connect(&mut w, Audio);
    w.run_for(5_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        eprintln!("{} {stats:?}", w.name(id));
    }
}
