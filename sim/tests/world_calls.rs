//! Phones and a relay under turmoil: calls over simulated TCP and UDP, with faults.
//!
//! Tests that hold in every world live in `worlds.rs`; these need the turmoil world's own
//! faults (relay restarts and outages, per-link latency) or its trace of the network.

use callsim_engine::app::AppCallState;
use callsim_engine::crypto::MediaPlatform;
use callsim_engine::io::MessageKind;
use callsim_engine::io::UserAction;
use callsim_engine::io::webrtc::CandidateType;
use callsim_engine::protocol::CallMediaType::{Audio, Video};
use callsim_sim::trace::TraceEvent;
use callsim_sim::world::{Loss, TurmoilWorld, WorldBuilder};
use callsim_sim::{PhoneId, World};

const ALICE: PhoneId = PhoneId(0);
const BOB: PhoneId = PhoneId(1);

fn world(seed: u64, bob: impl FnOnce(&mut callsim_sim::world::PhoneSetup)) -> TurmoilWorld {
    let mut builder = WorldBuilder::new(seed);
    builder.phone("Alice");
    bob(builder.phone("Bob"));
    builder.build()
}

/// Both phones with "Always use relay" off: calls go peer to peer, and each side trickles a
/// server-reflexive candidate (`x.call.extra`) after its first batch.
fn direct_world(seed: u64) -> TurmoilWorld {
    let mut builder = WorldBuilder::new(seed);
    for name in ["Alice", "Bob"] {
        builder.phone(name).config.relay_policy = false;
    }
    builder.build()
}

fn connect(w: &mut TurmoilWorld) {
    connect_within(w, 10_000);
}

fn connect_within(w: &mut TurmoilWorld, ms: u64) {
    w.start_call(ALICE, BOB, Audio);
    assert!(
        w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"),
        "Bob never rang:\n{}",
        w.mermaid()
    );
    assert!(w.callkit_answer(BOB));
    assert!(
        w.advance_until(ms, |w| w.connected(ALICE, BOB))
            .expect("runs"),
        "no connection:\n{}",
        w.mermaid()
    );
}

#[test]
fn a_call_connects_carries_encrypted_media_both_ways_and_ends() {
    let mut w = world(1, |_| {});
    connect(&mut w);
    w.advance(10_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        assert!(
            stats.audio_frames_received >= 450,
            "{} {stats:?}",
            w.name(id)
        );
        assert_eq!(stats.frames_decrypted, stats.audio_frames_received);
        assert_eq!(stats.undecryptable_frames, 0);
    }
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    assert_eq!(
        (w.call_state(ALICE), w.call_state(BOB)),
        (None, None),
        "{}",
        w.mermaid()
    );
    assert_eq!(
        w.call_item(ALICE, BOB).as_deref(),
        Some("outgoing call: ended (00:10)")
    );
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: ended (00:10)")
    );
}

/// A whole call under `loss` on the media path; returns the trace.
fn scripted_call(seed: u64, loss: Loss) -> String {
    let mut w = world(seed, |_| {});
    w.set_media_loss(ALICE, BOB, loss)
        .expect("the turmoil world models loss");
    connect(&mut w);
    w.advance(5_000).expect("runs");
    w.user(BOB, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    w.trace_jsonl()
}

#[test]
fn the_same_seed_gives_a_byte_identical_trace_and_another_seed_another() {
    let lossy = Loss::Random { rate: 0.1 };
    let (a, b) = (scripted_call(7, Loss::None), scripted_call(7, Loss::None));
    assert!(a.lines().count() > 100);
    assert_eq!(a, b);
    let (c, d) = (scripted_call(7, lossy), scripted_call(7, lossy));
    assert_eq!(c, d);
    assert_ne!(
        c,
        scripted_call(8, lossy),
        "another seed draws other losses and keys"
    );
}

#[test]
fn a_relay_restart_during_call_setup_loses_nothing() {
    let mut w = world(3, |_| {});
    w.start_call(ALICE, BOB, Video);
    assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    assert!(w.callkit_answer(BOB));
    // Bob's offer goes out 750 ms after his answer; the relay dies before it arrives.
    w.advance(300).expect("runs");
    w.relay_down();
    w.advance(3_000).expect("runs");
    assert!(!w.connected(ALICE, BOB));
    w.relay_up();
    let connected = w
        .advance_until(30_000, |w| w.connected(ALICE, BOB))
        .expect("runs");
    assert!(connected, "{}", w.mermaid());
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    assert_eq!(
        w.call_item(BOB, ALICE)
            .as_deref()
            .map(|t| t.starts_with("incoming call: ended")),
        Some(true)
    );
    let trace = w.trace_jsonl();
    assert!(trace.contains("relayCrashed") && trace.contains("relayStarted"));
}

#[test]
fn bursty_media_loss_lowers_the_received_frames_by_the_configured_rate() {
    let mut w = world(5, |_| {});
    connect(&mut w);
    let before = (w.rtc_stats(ALICE), w.rtc_stats(BOB));
    w.set_media_loss(
        ALICE,
        BOB,
        Loss::Bursty {
            rate: 0.2,
            mean_burst: 4.0,
        },
    )
    .expect("the turmoil world models loss");
    w.advance(20_000).expect("runs");
    let after = w.rtc_stats(BOB);
    let sent = w.rtc_stats(ALICE).audio_frames_sent - before.0.audio_frames_sent;
    let received = after.audio_frames_received - before.1.audio_frames_received;
    let ratio = received as f64 / sent as f64;
    assert!(
        (0.74..=0.86).contains(&ratio),
        "received {received} of {sent}"
    );
    assert!(after.packets_lost > 0);
    assert!(w.connected(ALICE, BOB), "20 % loss does not break the call");
}

#[test]
fn blocked_media_fails_the_call_after_30_seconds() {
    let mut w = world(6, |_| {});
    w.set_media_blocked(ALICE, BOB, true);
    w.start_call(ALICE, BOB, Audio);
    assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    w.callkit_answer(BOB);
    w.advance(29_000).expect("runs");
    assert!(w.call_state(ALICE).is_some() && w.call_state(BOB).is_some());
    assert!(!w.connected(ALICE, BOB));
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
    assert_eq!(w.rtc_stats(BOB).failed, 1);
}

#[test]
fn the_relay_never_sees_the_call_in_plain_text() {
    let mut w = direct_world(7);
    connect(&mut w);
    w.advance(3_000).expect("runs");
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    let seen = w.relay_seen();
    assert_eq!(
        seen.len(),
        7,
        "inv, its delivery receipt, offer, answer, an extra each way, end"
    );
    for body in &seen {
        for secret in [
            "x.call",
            "rtcSession",
            "callDhPubKey",
            "candidate",
            "v=0",
            "sdp",
            "MCowBQYDK2VuAyEA",
        ] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }
}

#[test]
fn a_call_item_ends_on_both_sides_after_media_blocked_mid_call() {
    let mut w = world(9, |_| {});
    connect(&mut w);
    w.advance(2_000).expect("runs");
    w.set_media_blocked(ALICE, BOB, true);
    let ended = w.advance_until(8_000, |w| {
        w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
    });
    assert!(
        ended.expect("runs"),
        "disconnected after 5 s of silence:\n{}",
        w.mermaid()
    );
    assert_eq!(w.rtc_stats(ALICE).disconnected, 1);
    assert_eq!(w.call_state(BOB), None::<AppCallState>);
}

#[test]
fn a_long_relay_outage_drops_the_connection_and_the_end_arrives_after_reconnecting() {
    let mut w = world(10, |_| {});
    connect(&mut w);
    w.set_relay_link(ALICE, false);
    w.advance(1_000).expect("runs");
    w.user(ALICE, UserAction::EndCall);
    w.advance(15_000).expect("runs");
    assert_eq!(w.call_state(ALICE), None);
    // Bob's media went silent when Alice ended, so his call ended too; the x.call.end waits.
    assert_eq!(w.call_state(BOB), None);
    assert!(!w.has_invitation(BOB, ALICE));
    w.set_relay_link(ALICE, true);
    let delivered = w.advance_until(30_000, |w| {
        w.trace().iter().any(|r| {
            matches!(
                r.event,
                TraceEvent::RelayDeliver {
                    kind: MessageKind::CallEnd,
                    ..
                }
            )
        })
    });
    assert!(delivered.expect("runs"), "{}", w.mermaid());
    let reconnected = w
        .trace()
        .iter()
        .filter(|r| matches!(&r.event, TraceEvent::Subscribed { phone } if phone == "Alice"))
        .count();
    assert!(reconnected >= 2, "Alice subscribed again after the outage");
}

/// Errata W6, iOS: a frame that does not decrypt is handed to the decoder anyway
/// (`WebRTCClient.swift` `frameDecryptor`), so the stream goes on and every frame counts as
/// undecryptable; none plays as the sender's.
#[test]
fn a_wrong_media_key_on_ios_counts_every_frame_undecryptable_and_the_stream_goes_on() {
    let mut w = world(14, |_| {});
    w.use_wrong_media_key(ALICE);
    connect(&mut w);
    w.advance(5_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        assert_eq!(stats.audio_frames_received, 0, "{stats:?}");
        assert!(stats.undecryptable_frames >= 200, "{stats:?}");
        assert_eq!(stats.frames_after_stream_error, 0, "{stats:?}");
    }
}

/// Errata W6, call.ts: the first frame that does not decrypt throws in the receiver's
/// transform stream (`callCryptoFunction`), which errors its pipe: nothing reaches the decoder
/// for the rest of the call.
#[test]
fn a_wrong_media_key_in_call_ts_stops_the_receivers_stream_at_the_first_frame() {
    let mut builder = WorldBuilder::new(14);
    builder.phone("Alice").platform = MediaPlatform::Js;
    builder.phone("Bob").platform = MediaPlatform::Js;
    let mut w = builder.build();
    w.use_wrong_media_key(ALICE);
    connect(&mut w);
    w.advance(5_000).expect("runs");
    for id in [ALICE, BOB] {
        let stats = w.rtc_stats(id);
        assert_eq!(stats.audio_frames_received, 0, "{stats:?}");
        assert_eq!(stats.undecryptable_frames, 1, "{stats:?}");
        assert!(stats.frames_after_stream_error >= 200, "{stats:?}");
    }
}

#[test]
fn media_jitter_shows_in_the_jitter_estimate_without_counting_reordering_as_loss() {
    let mut w = world(15, |_| {});
    w.set_media_jitter(ALICE, BOB, 60);
    connect(&mut w);
    w.advance(10_000).expect("runs");
    let stats = w.rtc_stats(BOB);
    assert!(stats.jitter_ms > 2.0, "{stats:?}");
    assert_eq!(stats.packets_lost, 0, "{stats:?}");
    assert!(stats.audio_frames_received >= 490, "{stats:?}");
}

#[test]
fn relay_only_calls_go_through_turn_and_survive_a_blocked_direct_path() {
    let mut builder = WorldBuilder::new(16);
    builder.phone("Alice").config.relay_policy = true;
    builder.phone("Bob").config.relay_policy = true;
    let mut w = builder.build();
    w.set_direct_path_blocked(ALICE, BOB, true);
    connect(&mut w);
    for id in [ALICE, BOB] {
        let info = w.connection_info(id).expect("connected");
        assert_eq!(info.local_candidate, Some(CandidateType::Relay));
        assert_eq!(info.remote_candidate, Some(CandidateType::Relay));
    }
    w.advance(5_000).expect("runs");
    assert!(
        w.rtc_stats(BOB).audio_frames_received >= 240,
        "{:?}",
        w.rtc_stats(BOB)
    );
    // The media path between the two phones is the relayed one: blocking it ends the call.
    w.set_media_blocked(ALICE, BOB, true);
    assert!(
        w.advance_until(10_000, |w| !w.connected(ALICE, BOB))
            .expect("runs")
    );

    // Without the relay-only policy the same blocked direct path fails the call.
    let mut builder = WorldBuilder::new(16);
    for name in ["Alice", "Bob"] {
        builder.phone(name).config.relay_policy = false;
    }
    let mut w = builder.build();
    w.set_direct_path_blocked(ALICE, BOB, true);
    w.start_call(ALICE, BOB, Audio);
    assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    w.callkit_answer(BOB);
    assert!(
        !w.advance_until(20_000, |w| w.connected(ALICE, BOB))
            .expect("runs")
    );
}

#[test]
fn one_relay_only_side_still_connects_with_the_other_on_host_candidates() {
    let mut builder = WorldBuilder::new(17);
    builder.phone("Alice").config.relay_policy = false;
    builder.phone("Bob").config.relay_policy = true;
    let mut w = builder.build();
    connect(&mut w);
    let info = w.with_phone(BOB, |p| {
        p.app().active_call().and_then(|c| c.connection_info)
    });
    assert_eq!(
        info.and_then(|i| i.local_candidate)
            .map(CandidateType::as_str),
        Some("relay")
    );
}

#[test]
fn a_locked_phone_rings_on_callkit_but_without_callkit_only_once_unlocked() {
    let mut w = world(18, |bob| bob.locked = true);
    w.start_call(ALICE, BOB, Audio);
    assert!(
        w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"),
        "CallKit works when locked"
    );

    let mut w = world(18, |bob| {
        bob.locked = true;
        bob.config.country = "CHN".into();
    });
    w.start_call(ALICE, BOB, Audio);
    w.advance(5_000).expect("runs");
    assert!(!w.ringing(BOB), "no lock-screen answering without CallKit");
    assert!(w.has_invitation(BOB, ALICE));
    w.to_foreground(BOB);
    assert!(
        w.advance_until(1_000, |w| w.ringing(BOB)).expect("runs"),
        "the view shows once the app is back"
    );
}

#[test]
fn loss_on_the_relay_link_makes_signalling_late_but_in_order() {
    let setup_time = |loss: f64| {
        let mut w = world(19, |_| {});
        for id in [ALICE, BOB] {
            w.set_relay_loss(id, loss);
        }
        let start = w.now();
        connect_within(&mut w, 30_000);
        w.now().ms_since(start)
    };
    let (clean, lossy) = (setup_time(0.0), setup_time(0.4));
    assert!(
        lossy > clean + 200,
        "retransmissions delay the setup: {clean} ms vs {lossy} ms"
    );
    // In order: every phone got its call messages in protocol order, with no message errors.
    let mut w = world(19, |_| {});
    for id in [ALICE, BOB] {
        w.set_relay_loss(id, 0.4);
    }
    connect_within(&mut w, 30_000);
    for id in [ALICE, BOB] {
        assert_eq!(w.with_phone(id, |p| p.stats().message_errors), 0);
    }
}

/// Errata W1: every message a phone sends, through a whole video call, is in the core's byte
/// order: the envelope `v`, `msgId`, `event`, `params`, and every object inside `params` with its
/// keys sorted.
#[test]
fn every_message_a_phone_sends_is_in_the_cores_key_order() {
    fn sorted(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => {
                map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b) && map.values().all(sorted)
            }
            serde_json::Value::Array(items) => items.iter().all(sorted),
            _ => true,
        }
    }
    let mut w = direct_world(21);
    w.start_call(ALICE, BOB, Video);
    assert!(w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs"));
    assert!(w.callkit_answer(BOB));
    assert!(
        w.advance_until(10_000, |w| w.connected(ALICE, BOB))
            .expect("runs")
    );
    // The trickled candidates (x.call.extra) follow 1.5 s after the first batch.
    w.advance(3_000).expect("runs");
    w.user(ALICE, UserAction::EndCall);
    w.advance(2_000).expect("runs");
    let bodies: Vec<String> = w
        .trace()
        .iter()
        .filter_map(|r| r.sent())
        // Delivery receipts are the agent's, not chat messages (`{"rcvd": ...}`).
        .filter(|(_, kind, _)| *kind != MessageKind::Receipt)
        .map(|(_, _, body)| body.to_owned())
        .collect();
    let events: Vec<&str> = bodies
        .iter()
        .filter_map(|b| b.split("\"event\":\"").nth(1)?.split('"').next())
        .collect();
    for event in [
        "x.call.inv",
        "x.call.offer",
        "x.call.answer",
        "x.call.extra",
        "x.call.end",
    ] {
        assert!(events.contains(&event), "{event} not sent: {events:?}");
    }
    for body in &bodies {
        let value: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["v", "msgId", "event", "params"], "{body}");
        assert!(sorted(&value["params"]), "{body}");
    }
}

/// steps.md: media between two phones has the pair's latency end to end, whichever path it
/// takes: relayed through TURN (SimpleX's default) by both ends or by one, or peer to peer.
#[test]
fn media_latency_is_the_pairs_whether_relayed_or_direct() {
    let rtt = |relay: [bool; 2], latency: u64| {
        let mut builder = WorldBuilder::new(23);
        for (name, relay) in ["Alice", "Bob"].into_iter().zip(relay) {
            builder.phone(name).config.relay_policy = relay;
        }
        let mut w = builder.build();
        w.set_media_latency(ALICE, BOB, latency);
        connect(&mut w);
        assert_eq!(
            w.connection_info(ALICE).expect("connected").relayed(),
            relay.contains(&true)
        );
        w.advance(5_000).expect("runs");
        w.rtc_stats(ALICE).rtt_ms.expect("an RTT")
    };
    for latency in [20, 100] {
        let direct = rtt([false, false], latency);
        assert_eq!(direct, 2 * latency, "the direct RTT");
        for relay in [[true, true], [true, false], [false, true]] {
            assert_eq!(
                rtt(relay, latency),
                direct,
                "{latency} ms each way, {relay:?}"
            );
        }
    }
}
