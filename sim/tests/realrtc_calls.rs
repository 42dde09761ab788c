//! Calls through the real WebRTC stack (webrtc-rs 0.21) inside the turmoil world.

use callsim_engine::io::UserAction;
use callsim_engine::io::webrtc::CandidateType;
use callsim_engine::protocol::CallMediaType::{self, Audio, Video};
use callsim_sim::world::{TurmoilWorld, WorldBuilder};
use callsim_sim::{PhoneId, World};

const ALICE: PhoneId = PhoneId(0);
const BOB: PhoneId = PhoneId(1);

/// Alice and Bob on the real stack, relay-only through the world's TURN server or allowed to go
/// peer to peer.
fn world_with(seed: u64, relay: bool) -> TurmoilWorld {
    world_relaying(seed, [relay, relay])
}

/// Alice and Bob on the real stack, each relay-only or not as `relay` says.
fn world_relaying(seed: u64, relay: [bool; 2]) -> TurmoilWorld {
    let mut builder = WorldBuilder::new(seed);
    for (name, relay) in ["Alice", "Bob"].into_iter().zip(relay) {
        let phone = builder.phone(name);
        phone.real_webrtc = true;
        phone.config.relay_policy = relay;
    }
    builder.build()
}

/// Peer to peer: most of these tests are about the stack and the direct path between phones.
fn world(seed: u64) -> TurmoilWorld {
    world_with(seed, false)
}

fn connect(w: &mut TurmoilWorld, media: CallMediaType) {
    w.start_call(ALICE, BOB, media);
    assert!(
        w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"),
        "Bob never rang:\n{}",
        w.mermaid()
    );
    assert!(w.callkit_answer(BOB));
    assert!(
        w.advance_until(10_000, |w| w.connected(ALICE, BOB))
            .expect("runs"),
        "no connection:\n{}",
        w.mermaid()
    );
}

#[test]
fn a_real_call_connects_and_carries_decrypted_audio_both_ways() {
    let mut w = world(1);
    connect(&mut w, Audio);
    w.advance(5_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        assert!(
            stats.audio_frames_received >= 200,
            "{} {stats:?}",
            w.name(id)
        );
        assert_eq!(stats.frames_decrypted, stats.audio_frames_received);
        assert_eq!(stats.undecryptable_frames, 0);
        // Read from the stack every second of the call, not only when it ends.
        assert!(stats.packets_sent >= 200, "{} {stats:?}", w.name(id));
        assert!(stats.rtt_ms.is_some(), "{} {stats:?}", w.name(id));
    }
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
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
    w.advance(4_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
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
    w.advance(3_000).expect("runs");
    let (alice, bob) = (w.rtc_stats(ALICE), w.rtc_stats(BOB));
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
    assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    w.callkit_answer(BOB);
    w.advance(29_000).expect("runs");
    assert!(w.call_state(ALICE).is_some() && w.call_state(BOB).is_some());
    // ICE gives up at about 30 s; the stack reports `failed` and the call ends.
    let ended = w.advance_until(3_000, |w| {
        w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
    });
    assert!(ended.expect("runs"), "{}", w.mermaid());
    assert_eq!(
        w.call_item(ALICE, BOB).as_deref(),
        Some("outgoing call: error")
    );
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: error")
    );
    assert_eq!(w.rtc_stats(ALICE).failed + w.rtc_stats(BOB).failed, 2);
}

#[test]
fn losing_the_network_mid_call_ends_a_real_call() {
    let mut w = world(5);
    connect(&mut w, Audio);
    w.advance(2_000).expect("runs");
    w.set_media_blocked(ALICE, BOB, true);
    let cut = w.now();
    let ended = w.advance_until(40_000, |w| {
        w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
    });
    assert!(ended.expect("runs"), "{}", w.mermaid());
    let after = w.now().0 - cut.0;
    assert!(
        (3_000..8_000).contains(&after),
        "ended {after} ms after the cut"
    );
    for id in [ALICE, BOB] {
        assert_eq!(w.rtc_stats(id).disconnected, 1, "{}", w.name(id));
    }
}

#[test]
fn a_real_call_rides_out_lossy_media() {
    let mut w = world(6);
    w.set_media_loss(ALICE, BOB, callsim_sim::world::Loss::Random { rate: 0.05 })
        .expect("the turmoil world models loss");
    connect(&mut w, Audio);
    w.advance(5_000).expect("runs");
    for (id, peer) in [(ALICE, BOB), (BOB, ALICE)] {
        let (got, sent) = (w.rtc_stats(id), w.rtc_stats(peer));
        let share = got.audio_frames_received as f64 / sent.audio_frames_sent as f64;
        assert!(
            (0.85..1.0).contains(&share),
            "{}: {share} {got:?}",
            w.name(id)
        );
        assert!(got.packets_lost > 0, "{got:?}");
        assert_eq!(got.undecryptable_frames, 0);
    }
}

#[test]
fn a_killed_app_goes_silent_and_the_peer_ends_the_call_on_its_own() {
    let mut w = world(7);
    connect(&mut w, Audio);
    w.advance(2_000).expect("runs");
    let killed = w.now();
    w.kill_app(BOB);
    // A dead process answers nothing: ICE on Alice's side sees silence, then disconnects.
    w.advance(3_000).expect("runs");
    assert!(w.call_state(ALICE).is_some(), "Alice cannot know yet");
    let ended = w.advance_until(10_000, |w| w.call_state(ALICE).is_none());
    assert!(ended.expect("runs"), "{}", w.mermaid());
    let after = w.now().0 - killed.0;
    assert!(
        (4_000..8_000).contains(&after),
        "ended {after} ms after the kill"
    );
    assert_eq!(w.rtc_stats(ALICE).disconnected, 1);
}

/// Unlike SimRtc (docs/findings.md), webrtc-rs connects once an answer held for 20 s arrives.
#[test]
fn an_answer_held_20_seconds_still_connects_on_the_real_stack() {
    let mut w = world(8);
    w.hold(BOB, callsim_engine::io::MessageKind::CallAnswer);
    w.start_call(ALICE, BOB, Audio);
    assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    w.callkit_answer(BOB);
    w.advance(20_000).expect("runs");
    assert!(!w.connected(ALICE, BOB));
    w.release(BOB);
    assert!(
        w.advance_until(5_000, |w| w.connected(ALICE, BOB))
            .expect("runs"),
        "{}",
        w.mermaid()
    );
}

/// webrtc-rs 0.21 sends 8 checks 200 ms apart and never retries a failed pair
/// (docs/dependency-bugs.md): a 1.5 s outage during setup fails the call at about 30 s even
/// though the network healed long before; the same outage starting 30 ms later, after the
/// checks succeeded, only delays DTLS.
#[test]
fn a_short_outage_during_ice_checks_fails_the_call_though_the_network_heals() {
    let outage = |start: u64| {
        let mut w = world(1);
        w.start_call(ALICE, BOB, Audio);
        assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
        w.callkit_answer(BOB);
        let now = w.now().0;
        w.advance(start - now).expect("runs");
        w.set_media_blocked(ALICE, BOB, true);
        w.advance(1_500).expect("runs");
        w.set_media_blocked(ALICE, BOB, false);
        let done = w.advance_until(35_000, |w| {
            w.connected(ALICE, BOB)
                || (w.call_state(ALICE).is_none() && w.call_state(BOB).is_none())
        });
        assert!(done.expect("runs"), "{}", w.mermaid());
        (w.connected(ALICE, BOB), w.now().0)
    };
    let (connected, at) = outage(490);
    assert!(
        !connected && (30_000..31_000).contains(&at),
        "{connected} at {at}"
    );
    let (connected, at) = outage(520);
    assert!(connected && at < 5_000, "{connected} at {at}");
}

#[test]
fn statistics_measure_jitter_round_trips_and_every_packet_sent() {
    let mut w = world(9);
    w.set_media_jitter(ALICE, BOB, 30);
    connect(&mut w, Audio);
    w.advance(3_000).expect("runs");
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        // 20 ms each way plus up to 30 ms of jitter.
        let rtt = stats.rtt_ms.unwrap_or(0);
        assert!((40..=100).contains(&rtt), "{} {stats:?}", w.name(id));
        assert!(stats.jitter_ms > 1.0, "{} {stats:?}", w.name(id));
        assert!(stats.packets_sent >= stats.audio_frames_sent, "{stats:?}");
        assert!(
            stats.packets_received >= stats.audio_frames_received,
            "{stats:?}"
        );
        assert!(stats.audio_frames_received > 100, "{stats:?}");
    }
}

#[test]
fn a_second_call_on_the_same_phones_gets_a_fresh_connection() {
    let mut w = world(10);
    for round in 1..=2 {
        connect(&mut w, Audio);
        w.advance(2_000).expect("runs");
        w.user(ALICE, UserAction::EndCall);
        let idle = w.advance_until(3_000, |w| {
            w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
        });
        assert!(idle.expect("runs"), "round {round}: {}", w.mermaid());
        for id in [ALICE, BOB] {
            let stats = w.rtc_stats(id);
            assert_eq!(
                (stats.sessions, stats.connected),
                (round, round),
                "{stats:?}"
            );
        }
    }
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: ended (00:02)")
    );
}

/// SimpleX's default ICE policy on the real stack: both phones relay-only, through the world's
/// real TURN server (RFC 8656 over UDP, turn-server-proto), with the direct path blocked so
/// nothing could go peer to peer. `WebRTCClient.swift` (`createPeerConnection`,
/// `iceTransportPolicy = relay ? .relay : .all`).
#[test]
fn relay_only_real_calls_go_through_the_turn_server_with_decrypted_media_both_ways() {
    let mut w = world_with(5, true);
    w.set_direct_path_blocked(ALICE, BOB, true);
    connect(&mut w, Video);
    // ICE connects the call (errata A15); the candidate pair comes once DTLS is up.
    let both = |w: &TurmoilWorld| {
        [ALICE, BOB]
            .iter()
            .all(|&id| w.connection_info(id).is_some())
    };
    assert!(w.advance_until(2_000, both).expect("runs"));
    for id in [ALICE, BOB] {
        let info = w.connection_info(id).expect("connected");
        assert_eq!(
            (info.local_candidate, info.remote_candidate),
            (Some(CandidateType::Relay), Some(CandidateType::Relay)),
            "{} {info:?}",
            w.name(id)
        );
    }
    w.advance(5_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        assert!(
            stats.audio_frames_received >= 200,
            "{} {stats:?}",
            w.name(id)
        );
        assert!(
            stats.video_frames_received >= 100,
            "{} {stats:?}",
            w.name(id)
        );
        assert_eq!(
            stats.frames_decrypted,
            stats.audio_frames_received + stats.video_frames_received
        );
        assert_eq!(stats.undecryptable_frames, 0);
    }
    assert_eq!(
        w.turn_allocations(),
        (2, 2),
        "one relayed address per phone"
    );
    // The relayed path is the pair's media path: blocking it ends the call.
    w.set_media_blocked(ALICE, BOB, true);
    assert!(
        w.advance_until(12_000, |w| !w.connected(ALICE, BOB))
            .expect("runs")
    );
}

/// A relay-only real call that ends releases both relayed addresses (webrtc-rs's `close()`
/// sends a Refresh of lifetime 0 if its driver gets the time `close()` waits for it).
#[test]
fn a_relay_only_real_call_that_ends_releases_its_turn_allocations() {
    let mut w = world_with(6, true);
    connect(&mut w, Audio);
    w.advance(2_000).expect("runs");
    assert_eq!(w.turn_allocations(), (2, 2));
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    assert_eq!(
        (w.call_state(ALICE), w.call_state(BOB)),
        (None, None),
        "{}",
        w.mermaid()
    );
    assert_eq!(w.turn_allocations(), (2, 0));
}

/// With the four transceivers of current clients, the camera can be turned on in an audio call
/// and its video reaches the peer (call.ts and `WebRTCClient.swift` send it on the camera
/// transceiver, mid 1; with an old peer of two transceivers they could not).
#[test]
fn the_camera_turned_on_in_an_audio_call_sends_video_on_the_camera_transceiver() {
    let mut w = world(4);
    connect(&mut w, Audio);
    w.advance(2_000).expect("runs");
    assert_eq!(w.rtc_stats(BOB).video_frames_received, 0);
    w.user(ALICE, UserAction::SetCamera { on: true });
    w.advance(3_000).expect("runs");
    let stats = w.rtc_stats(BOB);
    assert!(
        stats.video_frames_received >= 60,
        "{stats:?}\n{}",
        w.mermaid()
    );
    assert_eq!(stats.undecryptable_frames, 0, "{stats:?}");
}

/// fidelity.md A3: on the real stack too, media between two phones has the pair's latency
/// whichever path it takes: relayed by both ends, by one, or peer to peer. The round trip is
/// the last binding check's (webrtc-rs), and it is the pair's exactly. Until 2026-11-28 it was
/// 220 ms at Alice with both ends relaying: `RealTurn` relayed a tick short (it took two ticks
/// off for hops that cost one), and a relaying end answered a check a driver wake-up late
/// (`WatchedRuntime::with_relay_flush`, docs/dependency-bugs.md), which made one relaying end
/// come out right by accident.
#[test]
fn real_stack_media_latency_is_the_pairs_whether_relayed_or_direct() {
    let rtt = |relay: [bool; 2]| {
        let mut w = world_relaying(31, relay);
        w.set_media_latency(ALICE, BOB, 100);
        connect(&mut w, Audio);
        w.advance(4_000).expect("runs");
        let relayed = w.connection_info(ALICE).expect("connected").relayed();
        assert_eq!(relayed, relay.contains(&true), "{relay:?}");
        (
            w.rtc_stats(ALICE).rtt_ms.expect("Alice's RTT"),
            w.rtc_stats(BOB).rtt_ms.expect("Bob's RTT"),
        )
    };
    for relay in [[false, false], [true, true], [true, false], [false, true]] {
        assert_eq!(
            rtt(relay),
            (200, 200),
            "{relay:?}: the pair's round trip is 200 ms"
        );
    }
}
