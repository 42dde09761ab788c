//! Property tests: every wire type round-trips, and no input makes the decoders panic.

use callsim_engine::crypto::{FrameCipher, FrameKind, MediaKey, MediaPlatform, PublicKey};
use callsim_engine::protocol::{
    CICallStatus, CallAnswer, CallEvent, CallExtraInfo, CallId, CallInvitation, CallItem,
    CallMediaSource, CallMediaType, CallOffer, CallType, ChatMessage, ContactRef, MsgDirection,
    RcvCallInvitation, SharedMsgId, Timestamp, UserRef, VersionRange, VideoCamera, WebRTCCallOffer,
    WebRTCCallStatus, WebRTCExtraInfo, WebRTCSession, readable, rtc,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde_json::Value;

fn version_range() -> impl Strategy<Value = VersionRange> {
    (any::<u16>(), any::<u16>()).prop_map(|(a, b)| VersionRange {
        min: a.min(b),
        max: a.max(b),
    })
}

fn call_type() -> impl Strategy<Value = CallType> {
    (
        prop_oneof![Just(CallMediaType::Audio), Just(CallMediaType::Video)],
        any::<bool>(),
    )
        .prop_map(|(m, e)| CallType::new(m, e))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An rtc field as the apps write it (lz-string of JSON) or opaque text that is not base64.
fn rtc_text() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value()
            .prop_filter("object or array", |v| v.is_object() || v.is_array())
            .prop_map(|v| rtc::encode_json(&v)),
        "[{}\\[\\] !#,.:a-z]{0,40}",
        ".{0,40}".prop_map(|s| format!("{s}!")),
    ]
}

fn session() -> impl Strategy<Value = WebRTCSession> {
    (rtc_text(), rtc_text()).prop_map(|(s, c)| WebRTCSession {
        rtc_session: s,
        rtc_ice_candidates: c,
    })
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn event() -> impl Strategy<Value = CallEvent> {
    // Any non-empty length: the core does not check for 16 bytes (errata W4).
    let id = prop::collection::vec(any::<u8>(), 1..40)
        .prop_map(|bytes| CallId::from_bytes(&bytes).expect("non-empty"));
    prop_oneof![
        (
            id.clone(),
            call_type(),
            prop::option::of(public_key()),
            prop::option::of(version_range())
        )
            .prop_map(|(call_id, call_type, key, range)| CallEvent::Invitation {
                call_id,
                invitation: CallInvitation {
                    call_type,
                    call_dh_pub_key: key,
                    call_v_range: range,
                },
            }),
        (
            id.clone(),
            call_type(),
            session(),
            prop::option::of(public_key()),
            any::<Option<u16>>()
        )
            .prop_map(
                |(call_id, call_type, rtc_session, key, version)| CallEvent::Offer {
                    call_id,
                    offer: CallOffer {
                        call_type,
                        rtc_session,
                        call_dh_pub_key: key,
                        call_version: version,
                    },
                }
            ),
        (id.clone(), session()).prop_map(|(call_id, rtc_session)| CallEvent::Answer {
            call_id,
            answer: CallAnswer { rtc_session },
        }),
        (id.clone(), rtc_text()).prop_map(|(call_id, c)| CallEvent::Extra {
            call_id,
            extra: CallExtraInfo {
                rtc_extra_info: WebRTCExtraInfo {
                    rtc_ice_candidates: c,
                },
            },
        }),
        id.prop_map(|call_id| CallEvent::End { call_id }),
    ]
}

fn message() -> impl Strategy<Value = ChatMessage> {
    (
        prop::option::of(version_range()),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..24).prop_map(SharedMsgId)),
        event(),
    )
        .prop_map(|(version, msg_id, event)| ChatMessage {
            version,
            msg_id,
            event,
        })
}

fn serde_round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_str(&serde_json::to_string(value).expect("serializes")).expect("deserializes")
}

proptest! {
    #[test]
    fn chat_messages_round_trip_through_the_wire(msg in message()) {
        let json = msg.to_json().expect("small enough");
        prop_assert_eq!(ChatMessage::from_json(json.as_bytes()), Ok(msg));
    }

    #[test]
    fn chat_messages_round_trip_through_the_readable_form(msg in message()) {
        let view = readable::to_readable(&msg).expect("readable");
        prop_assert_eq!(readable::from_readable(view), Ok(msg));
    }

    #[test]
    fn string_encoded_types_round_trip(
        id in prop::collection::vec(any::<u8>(), 1..60),
        key in any::<[u8; 32]>(),
        bytes in prop::collection::vec(any::<u8>(), 1..40),
        range in version_range(),
    ) {
        let id = CallId::from_bytes(&id).expect("non-empty");
        prop_assert_eq!(id.to_string().parse::<CallId>(), Ok(id));
        prop_assert_eq!(PublicKey(key).to_string().parse::<PublicKey>(), Ok(PublicKey(key)));
        prop_assert_eq!(MediaKey(key).to_string().parse::<MediaKey>(), Ok(MediaKey(key)));
        let msg_id = SharedMsgId(bytes);
        prop_assert_eq!(msg_id.to_string().parse::<SharedMsgId>(), Ok(msg_id));
        prop_assert_eq!(range.to_string().parse::<VersionRange>(), Ok(range));
    }

    #[test]
    fn app_facing_types_round_trip(
        call_type in call_type(),
        rtc_session in session(),
        key in prop::option::of(any::<[u8; 32]>().prop_map(MediaKey)),
        uuid in "[0-9a-f-]{36}",
        ts in any::<u64>(),
        status in 0..4usize,
        item_status in 0..8usize,
        duration in any::<u32>(),
        rcv in any::<bool>(),
    ) {
        let offer = WebRTCCallOffer { call_type, rtc_session };
        prop_assert_eq!(&serde_round_trip(&offer), &offer);
        let inv = RcvCallInvitation {
            user: UserRef { user_id: 1, local_display_name: "bob".into() },
            contact: ContactRef { contact_id: 2, local_display_name: "alice".into() },
            call_type,
            shared_key: key,
            call_uuid: uuid.as_str().into(),
            call_ts: Timestamp(ts),
        };
        prop_assert_eq!(&serde_round_trip(&inv), &inv);
        let statuses = [
            WebRTCCallStatus::Connecting,
            WebRTCCallStatus::Connected,
            WebRTCCallStatus::Disconnected,
            WebRTCCallStatus::Failed,
        ];
        prop_assert_eq!(serde_round_trip(&statuses[status]), statuses[status]);
        let item_statuses = [
            CICallStatus::Pending, CICallStatus::Missed, CICallStatus::Rejected,
            CICallStatus::Accepted, CICallStatus::Negotiated, CICallStatus::Progress,
            CICallStatus::Ended, CICallStatus::Error,
        ];
        let direction = if rcv { MsgDirection::Rcv } else { MsgDirection::Snd };
        let item = CallItem::new(direction, item_statuses[item_status], duration);
        prop_assert_eq!(serde_round_trip(&item), item);
        for source in [
            CallMediaSource::Mic, CallMediaSource::Camera, CallMediaSource::ScreenAudio,
            CallMediaSource::ScreenVideo, CallMediaSource::Unknown,
        ] {
            prop_assert_eq!(serde_round_trip(&source), source);
        }
        for camera in [VideoCamera::User, VideoCamera::Environment] {
            prop_assert_eq!(serde_round_trip(&camera), camera);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = ChatMessage::from_json(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics_the_decoder(
        value in json_value(),
        event in prop::sample::select(&CallEvent::TAGS[..]),
        params in json_value(),
    ) {
        let _ = ChatMessage::from_json(value.to_string().as_bytes());
        let envelope = serde_json::json!({"v": "1-16", "event": event, "params": params});
        let _ = ChatMessage::from_json(envelope.to_string().as_bytes());
        let _ = readable::from_readable(envelope);
    }

    #[test]
    fn mutated_valid_messages_never_panic_the_decoder(
        msg in message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = msg.to_json().expect("encodes").into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = ChatMessage::from_json(&bytes);
    }

    #[test]
    fn lz_string_decoding_never_panics(text in "[A-Za-z0-9+/=]{0,300}", other in ".{0,100}") {
        let _ = rtc::decode_json(&text);
        let _ = rtc::decode_json(&other);
        let _ = rtc::decode_session(&text);
        let _ = rtc::decode_candidates(&other);
    }

    #[test]
    fn lz_string_round_trips_any_text(text in ".{1,200}") {
        prop_assert_eq!(rtc::decompress(&rtc::compress(&text)), Some(text));
    }

    #[test]
    fn frames_round_trip_and_arbitrary_bytes_never_panic_decryption(
        key in any::<[u8; 32]>(),
        frame in prop::collection::vec(any::<u8>(), 0..300),
        junk in prop::collection::vec(any::<u8>(), 0..80),
        seed in any::<u64>(),
        kind in 0..4usize,
        ios in any::<bool>(),
    ) {
        let kind = [FrameKind::Audio, FrameKind::VideoKey, FrameKind::VideoDelta, FrameKind::VideoEmpty][kind];
        let platform = if ios { MediaPlatform::Ios } else { MediaPlatform::Js };
        let cipher = FrameCipher::new(&MediaKey(key), platform);
        let enc = cipher.encrypt(kind, &frame, &mut ChaCha8Rng::seed_from_u64(seed));
        prop_assert_eq!(cipher.decrypt(kind, &enc), Ok(frame));
        let _ = cipher.decrypt(kind, &junk);
    }
}

proptest! {
    // Description-sized texts, where lz-str's dictionary grows long phrases; fewer cases,
    // as each takes milliseconds in the dev profile.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn lz_string_round_trips_description_sized_text(
        lines in proptest::collection::vec("[a-z]=[ -~]{0,60}", 20..120)
    ) {
        let text = lines.join("\r\n");
        prop_assert_eq!(rtc::decompress(&rtc::compress(&text)), Some(text));
    }
}
