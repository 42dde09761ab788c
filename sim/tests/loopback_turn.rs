//! Real-stack calls on the real network (127.0.0.1) under SimpleX's default relay-only policy:
//! through a real TURN server the call starts in process.

use callsim_engine::io::webrtc::CandidateType;
use callsim_engine::protocol::CallMediaType;
use callsim_sim::loopback::{Answer, LoopbackCall};

fn call(relay_only: [bool; 2]) -> LoopbackCall {
    LoopbackCall {
        names: ["Alice".into(), "Bob".into()],
        media: CallMediaType::Video,
        talk_ms: 1_500,
        answer: Answer::CallKit,
        seed: 3,
        relay_latency_ms: 20,
        relay_only,
    }
}

#[test]
fn a_relay_only_call_on_the_real_network_goes_through_turn_with_media_both_ways() {
    let done = call([true, true]).run_blocking().expect("runs");
    assert!(
        done.connected_at.is_some(),
        "did not connect: {:?}",
        done.items
    );
    let turn = done.turn.expect("a TURN server was started");
    assert!(turn.ip().is_loopback());
    // One relayed address per phone, each released when its call closed (webrtc-rs sends a
    // Refresh of lifetime 0 from `close()`: callsim must give its driver the time to).
    assert_eq!(done.turn_allocations, (2, 0));
    for phone in ["Alice", "Bob"] {
        let info = done.connection_info(phone).expect("a candidate pair");
        assert_eq!(
            (info.local_candidate, info.remote_candidate),
            (Some(CandidateType::Relay), Some(CandidateType::Relay)),
            "{phone}: {info:?}"
        );
    }
    for stats in &done.stats {
        assert!(stats.audio_frames_received > 10, "{stats:?}");
        assert!(stats.video_frames_received > 5, "{stats:?}");
        assert_eq!(stats.undecryptable_frames, 0, "{stats:?}");
        assert_eq!(
            stats.frames_decrypted,
            stats.audio_frames_received + stats.video_frames_received
        );
    }
}

#[test]
fn without_the_relay_only_policy_the_call_goes_peer_to_peer_and_starts_no_server() {
    let done = call([false, false]).run_blocking().expect("runs");
    assert!(
        done.connected_at.is_some(),
        "did not connect: {:?}",
        done.items
    );
    assert_eq!(done.turn, None);
    assert_eq!(done.turn_allocations, (0, 0));
    let info = done.connection_info("Alice").expect("a candidate pair");
    assert_eq!(info.local_candidate, Some(CandidateType::Host), "{info:?}");
}
