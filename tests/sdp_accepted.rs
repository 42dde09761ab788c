//! Errata W9: every session description callsim can produce is one a real WebRTC stack takes.
//!
//! callsim writes descriptions in two places, `callsim protocol example` and SimRtc, both
//! through `callsim_sim::rtc::sdp`. Each is set as the remote description of a webrtc-rs peer
//! connection (an offer as is; an answer after a local offer with SimpleX's four transceivers),
//! which refuses a description without ICE credentials or a DTLS fingerprint, as Chromium does.

use std::sync::Arc;

use ::rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use callsim::cli::Media;
use callsim::cli::example;
use callsim_engine::protocol::rtc::{self, SdpType};
use callsim_engine::protocol::{CallEvent, ChatMessage};
use callsim_sim::world::WorldBuilder;
use callsim_sim::{PhoneId, World};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCSessionDescription,
};

struct Quiet;

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Quiet {}

async fn peer() -> impl PeerConnection {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_handler(Arc::new(Quiet))
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .expect("a peer connection")
}

/// Sets `sdp` as the remote description of a fresh peer connection; an answer follows a local
/// offer of audio, video, audio, video, as SimpleX's clients make it.
async fn accepts(kind: SdpType, sdp: &str) -> Result<(), String> {
    let pc = peer().await;
    let result = match kind {
        SdpType::Offer => {
            let offer = RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| e.to_string())?;
            pc.set_remote_description(offer).await
        }
        _ => {
            for kind in [
                RtpCodecKind::Audio,
                RtpCodecKind::Video,
                RtpCodecKind::Audio,
                RtpCodecKind::Video,
            ] {
                pc.add_transceiver_from_kind(kind, None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
            pc.set_local_description(offer)
                .await
                .map_err(|e| e.to_string())?;
            let answer =
                RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| e.to_string())?;
            pc.set_remote_description(answer).await
        }
    };
    let _ = pc.close().await;
    result.map_err(|e| e.to_string())
}

fn sessions(lines: &[String]) -> Vec<(SdpType, String)> {
    lines
        .iter()
        .filter_map(|line| {
            let text = match ChatMessage::from_json(line.as_bytes()).ok()?.event {
                CallEvent::Offer { offer, .. } => offer.rtc_session.rtc_session,
                CallEvent::Answer { answer, .. } => answer.rtc_session.rtc_session,
                _ => return None,
            };
            let description = rtc::decode_session(&text).ok()?;
            Some((description.kind, description.sdp))
        })
        .collect()
}

#[tokio::test]
async fn the_example_calls_offers_and_answers_are_taken_by_webrtc_rs() {
    for media in [Media::Audio, Media::Video] {
        for seed in [1, 7] {
            let call = example::call(seed, media, true);
            let found = sessions(&call.lines);
            assert_eq!(found.len(), 2, "an offer and an answer");
            for (kind, sdp) in found {
                assert_eq!(sdp.matches("m=").count(), 4, "{sdp}");
                accepts(kind, &sdp)
                    .await
                    .unwrap_or_else(|e| panic!("{kind:?} refused: {e}\n{sdp}"));
            }
        }
    }
}

#[tokio::test]
async fn simrtcs_offers_and_answers_are_taken_by_webrtc_rs() {
    // SimRtc's descriptions as the phones sent them in a simulated call.
    let bodies = std::thread::spawn(|| {
        let mut builder = WorldBuilder::new(5);
        builder.phone("Alice");
        builder.phone("Bob");
        let mut w = builder.build();
        let (alice, bob) = (PhoneId(0), PhoneId(1));
        w.start_call(alice, bob, callsim_engine::protocol::CallMediaType::Video);
        w.advance_until(5_000, |w| w.ringing(bob)).expect("runs");
        w.callkit_answer(bob);
        w.advance_until(10_000, |w| w.connected(alice, bob))
            .expect("runs");
        w.trace()
            .iter()
            .filter_map(|r| r.sent().map(|(_, _, body)| body.to_owned()))
            .collect::<Vec<_>>()
    })
    .join()
    .expect("the world runs");
    let found = sessions(&bodies);
    assert_eq!(found.len(), 2, "an offer and an answer");
    for (kind, sdp) in found {
        accepts(kind, &sdp)
            .await
            .unwrap_or_else(|e| panic!("{kind:?} refused: {e}\n{sdp}"));
    }
}

#[tokio::test]
async fn a_description_without_a_fingerprint_is_refused() {
    // The check this test relies on: the stack does refuse what Chromium refused.
    let call = example::call(1, Media::Audio, true);
    let (_, sdp) = sessions(&call.lines).remove(0);
    let bare: String = sdp
        .lines()
        .filter(|l| !l.starts_with("a=fingerprint"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    assert!(accepts(SdpType::Offer, &bare).await.is_err());
}
