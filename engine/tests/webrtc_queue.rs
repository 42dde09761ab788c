//! The app's WebRTC command queue: only capabilities, start, offer and end run without a peer
//! connection (spec 3.5).

use callsim_engine::io::webrtc::WebRtcCommand;
use callsim_engine::protocol::CallMediaType;

#[test]
fn only_connection_creating_commands_and_end_run_without_a_connection() {
    let runs = |c: WebRtcCommand| c.runs_without_connection();
    assert!(runs(WebRtcCommand::Capabilities {
        media: CallMediaType::Audio
    }));
    assert!(runs(WebRtcCommand::Start {
        media: CallMediaType::Audio,
        aes_key: None,
        relay: false
    }));
    assert!(runs(WebRtcCommand::Offer {
        offer: "o".into(),
        ice_candidates: "i".into(),
        media: CallMediaType::Audio,
        aes_key: None,
        relay: false
    }));
    assert!(runs(WebRtcCommand::End));
    assert!(!runs(WebRtcCommand::Ice {
        ice_candidates: "i".into()
    }));
    assert!(!runs(WebRtcCommand::Answer {
        answer: "a".into(),
        ice_candidates: "i".into()
    }));
    assert!(!runs(WebRtcCommand::Media {
        source: callsim_engine::protocol::CallMediaSource::Mic,
        enable: false
    }));
}

#[test]
fn commands_serialize_as_simplexs_tagged_json() {
    let json = serde_json::to_string(&WebRtcCommand::Ice {
        ice_candidates: "x".into(),
    })
    .expect("serializes");
    assert_eq!(json, r#"{"type":"ice","iceCandidates":"x"}"#);
    let start = WebRtcCommand::Start {
        media: CallMediaType::Video,
        aes_key: None,
        relay: true,
    };
    assert_eq!(
        serde_json::to_string(&start).expect("serializes"),
        r#"{"type":"start","media":"video","relay":true}"#
    );
}
