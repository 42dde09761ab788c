//! `callsim protocol example`: the wire messages of one complete call, from a seed.
//!
//! Alice calls Bob. The messages follow SimpleX's order (spec §1.4): Alice's invitation, Bob's
//! WebRTC offer (the callee is the WebRTC offerer), Alice's answer, Bob's trickled candidates,
//! and Alice's end. The keys are real X25519 keys and both sides' media keys are checked equal.

use callsim_engine::chat::CHAT_VERSION_RANGE;
use callsim_engine::crypto::{KeyPair, MediaKey, MediaKeyVersion};
use callsim_engine::protocol::rtc::{self, RtcIceCandidate, RtcSessionDescription, SdpType};
use callsim_engine::protocol::{
    CallAnswer, CallEvent, CallExtraInfo, CallId, CallInvitation, CallMediaType, CallOffer,
    CallType, ChatMessage, SharedMsgId, WebRTCExtraInfo, WebRTCSession,
};
use callsim_sim::rtc::sdp::{self, SdpIdentity};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::Media;

/// The generated call.
#[derive(Debug, Clone)]
pub struct ExampleCall {
    /// The five messages, one wire JSON line each.
    pub lines: Vec<String>,
    /// The media key both phones derived, if the call is encrypted.
    pub media_key: Option<MediaKey>,
}

/// Generates the messages of a call with the given seed.
pub fn call(seed: u64, media: Media, encryption: bool) -> ExampleCall {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let media = match media {
        Media::Audio => CallMediaType::Audio,
        Media::Video => CallMediaType::Video,
    };
    let call_type = CallType::new(media, encryption);
    let call_id = CallId::random(&mut rng);
    let alice_keys = encryption.then(|| KeyPair::generate(&mut rng));
    let bob_keys = encryption.then(|| KeyPair::generate(&mut rng));

    let events = vec![
        CallEvent::Invitation {
            call_id: call_id.clone(),
            invitation: CallInvitation {
                call_type,
                call_dh_pub_key: alice_keys.as_ref().map(KeyPair::public_key),
                call_v_range: None,
            },
        },
        CallEvent::Offer {
            call_id: call_id.clone(),
            offer: CallOffer {
                call_type,
                rtc_session: session(SdpType::Offer, &mut rng),
                call_dh_pub_key: bob_keys.as_ref().map(KeyPair::public_key),
                call_version: None,
            },
        },
        CallEvent::Answer {
            call_id: call_id.clone(),
            answer: CallAnswer {
                rtc_session: session(SdpType::Answer, &mut rng),
            },
        },
        CallEvent::Extra {
            call_id: call_id.clone(),
            extra: CallExtraInfo {
                rtc_extra_info: WebRTCExtraInfo {
                    rtc_ice_candidates: rtc::encode_candidates(&[candidate(2, "srflx", &mut rng)]),
                },
            },
        },
        CallEvent::End {
            call_id: call_id.clone(),
        },
    ];
    let lines = events
        .into_iter()
        .map(|event| {
            // The envelope as SimpleX's core writes it (errata W9).
            ChatMessage {
                version: Some(CHAT_VERSION_RANGE),
                msg_id: Some(SharedMsgId::random(&mut rng)),
                event,
            }
            .to_json()
            // A handful of short SDP lines stays far below the size limit.
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        })
        .collect();

    let media_key = match (&alice_keys, &bob_keys) {
        (Some(alice), Some(bob)) => {
            let at_alice = alice.diffie_hellman(&bob.public_key());
            let at_bob = bob.diffie_hellman(&alice.public_key());
            debug_assert_eq!(at_alice, at_bob);
            Some(MediaKey::derive(MediaKeyVersion::V1, &call_id, &at_alice))
        }
        _ => None,
    };
    ExampleCall { lines, media_key }
}

/// A session as current SimpleX clients send it: four transceivers whatever the media.
fn session(kind: SdpType, rng: &mut impl RngCore) -> WebRTCSession {
    let ufrag = format!("{:08x}", rng.next_u32());
    let identity = SdpIdentity::new(&ufrag, rng);
    let sdp = sdp::description(kind, &identity);
    WebRTCSession {
        rtc_session: rtc::encode_session(&RtcSessionDescription { kind, sdp }),
        rtc_ice_candidates: rtc::encode_candidates(&[candidate(1, "host", rng)]),
    }
}

fn candidate(foundation: u32, typ: &str, rng: &mut impl RngCore) -> RtcIceCandidate {
    // Documentation addresses (RFC 5737), so examples never name a real host.
    let ip = format!("192.0.2.{}", 1 + rng.next_u32() % 250);
    let port = 49152 + rng.next_u32() % 16384;
    RtcIceCandidate {
        candidate_type: None,
        protocol: None,
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        candidate: format!("candidate:{foundation} 1 udp 2122260223 {ip} {port} typ {typ}"),
        username_fragment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
        let a = call(7, Media::Video, true);
        assert_eq!(a.lines, call(7, Media::Video, true).lines);
        assert_ne!(a.lines, call(8, Media::Video, true).lines);
        assert!(a.media_key.is_some());
    }

    #[test]
    fn every_line_is_a_valid_call_message_in_protocol_order() {
        for (media, encryption) in [(Media::Audio, false), (Media::Video, true)] {
            let example = call(1, media, encryption);
            let tags: Vec<_> = example
                .lines
                .iter()
                .map(|l| ChatMessage::from_json(l.as_bytes()).map(|m| m.event.tag()))
                .collect();
            let expected: Vec<_> = CallEvent::TAGS.iter().map(|t| Ok(*t)).collect();
            assert_eq!(tags, expected);
            assert_eq!(example.media_key.is_some(), encryption);
            assert_eq!(example.lines[0].contains("callDhPubKey"), encryption);
        }
    }
}
