//! The wire JSON of call messages, byte for byte as SimpleX's core writes it (spec §1.2, §6).

use callsim_engine::Error;
use callsim_engine::crypto::PublicKey;
use callsim_engine::protocol::{
    CallEvent, CallInvitation, CallMediaType, CallType, ChatMessage, MAX_MESSAGE_BYTES,
    VersionRange, WebRTCCallOffer, WebRTCCallStatus, WebRTCSession, readable, rtc,
};

/// RFC 7748 §6.1 Alice's public key as SimpleX writes it (base64url of the DER SPKI).
const ALICE_PUB: &str = "MCowBQYDK2VuAyEAhSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=";
const BOB_PUB: &str = "MCowBQYDK2VuAyEA3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08=";

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializes")
}

fn round_trip(line: &str) -> String {
    let msg = ChatMessage::from_json(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
    msg.to_json().expect("encodes")
}

#[test]
fn test_values_of_test_negotiate_call_serialize_as_aeson_does() {
    // Spec §6.1: the values of `testNegotiateCall`, and the JSON Aeson produces for them.
    let call_type = CallType::new(CallMediaType::Video, true);
    let session = WebRTCSession {
        rtc_session: "{}".into(),
        rtc_ice_candidates: "[]".into(),
    };
    let offer = WebRTCCallOffer {
        call_type,
        rtc_session: session.clone(),
    };
    assert_eq!(
        json(&call_type),
        r#"{"media":"video","capabilities":{"encryption":true}}"#
    );
    assert_eq!(
        json(&session),
        r#"{"rtcSession":"{}","rtcIceCandidates":"[]"}"#
    );
    assert_eq!(
        json(&offer),
        r#"{"callType":{"media":"video","capabilities":{"encryption":true}},"rtcSession":{"rtcSession":"{}","rtcIceCandidates":"[]"}}"#
    );
    let back: WebRTCCallOffer = serde_json::from_str(&json(&offer)).expect("decodes");
    assert_eq!(back, offer);
}

/// Errata W1: the wire bytes of the five messages as SimpleX's core writes them (spec §6.3 with
/// its placeholders filled by real values): the envelope in record order, everything inside
/// `params` with sorted keys (`chatToAppMessage`, `Protocol.hs`, SimpleX master 6bb1da9e), so
/// `answer` comes before `callId`. They decode and encode back byte for byte, also through the
/// readable form.
#[test]
fn core_wire_bytes_survive_a_decode_encode_round_trip_byte_for_byte() {
    let offer_sdp = rtc::encode_json(&serde_json::json!({"type": "offer", "sdp": "v=0\r\n"}));
    let answer_sdp = rtc::encode_json(&serde_json::json!({"type": "answer", "sdp": "v=0\r\n"}));
    let cands = rtc::encode_json(
        &serde_json::json!([{"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}]),
    );
    let lines = [
        format!(
            r#"{{"v":"1-19","msgId":"QUFFQ0F3UUZCZ2NJQ1FvTA==","event":"x.call.inv","params":{{"callId":"q83vEjRWeJCrze8SNFZ4kA==","invitation":{{"callDhPubKey":"{ALICE_PUB}","callType":{{"capabilities":{{"encryption":true}},"media":"audio"}}}}}}}}"#
        ),
        format!(
            r#"{{"v":"1-19","msgId":"QVFJREJBVUdCd2dKQ2dzTQ==","event":"x.call.offer","params":{{"callId":"q83vEjRWeJCrze8SNFZ4kA==","offer":{{"callDhPubKey":"{BOB_PUB}","callType":{{"capabilities":{{"encryption":true}},"media":"audio"}},"rtcSession":{{"rtcIceCandidates":"{cands}","rtcSession":"{offer_sdp}"}}}}}}}}"#
        ),
        format!(
            r#"{{"v":"1-19","msgId":"QWdNRUJRWUhDQWtLQ3d3Tg==","event":"x.call.answer","params":{{"answer":{{"rtcSession":{{"rtcIceCandidates":"{cands}","rtcSession":"{answer_sdp}"}}}},"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}}}"#
        ),
        format!(
            r#"{{"v":"1-19","msgId":"QXdRRkJnY0lDUW9MREEwTw==","event":"x.call.extra","params":{{"callId":"q83vEjRWeJCrze8SNFZ4kA==","extra":{{"rtcExtraInfo":{{"rtcIceCandidates":"{cands}"}}}}}}}}"#
        ),
        r#"{"v":"1-19","msgId":"QkFVR0J3Z0pDZ3NNRFE0UA==","event":"x.call.end","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}"#.to_owned(),
    ];
    let tags: Vec<_> = lines
        .iter()
        .map(|l| {
            ChatMessage::from_json(l.as_bytes())
                .expect("decodes")
                .event
                .tag()
        })
        .collect();
    assert_eq!(tags, CallEvent::TAGS);
    for line in &lines {
        assert_eq!(&round_trip(line), line);
        assert_params_sorted(line);
        // The readable form reproduces the wire bytes too.
        let msg = ChatMessage::from_json(line.as_bytes()).expect("decodes");
        let back = readable::from_readable(readable::to_readable(&msg).expect("readable"))
            .expect("parses");
        assert_eq!(&back.to_json().expect("encodes"), line);
    }
}

/// Errata W1: messages in the core's order written by an independent tool (Python's `json`
/// with sorted keys inside `params`, `tests/fixtures/core-order/generate.py`) decode and encode
/// back byte for byte.
#[test]
fn an_independent_fixture_in_the_cores_order_round_trips_byte_for_byte() {
    let fixture = include_str!("../../tests/fixtures/core-order/messages.jsonl");
    let mut count = 0;
    for line in fixture.lines() {
        assert_eq!(round_trip(line), line);
        assert_params_sorted(line);
        count += 1;
    }
    assert_eq!(count, 6);
}

/// Messages in another key order (declaration order, as a standalone record encoding writes
/// them) decode the same, as aeson's parser looks fields up by name; they encode in the
/// core's order.
#[test]
fn any_key_order_decodes_and_encodes_in_the_cores_order() {
    let declared = r#"{"v":"1-19","msgId":"AQIDBA==","event":"x.call.answer","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA==","answer":{"rtcSession":{"rtcSession":"{}","rtcIceCandidates":"[]"}}}}"#;
    assert_eq!(
        round_trip(declared),
        r#"{"v":"1-19","msgId":"AQIDBA==","event":"x.call.answer","params":{"answer":{"rtcSession":{"rtcIceCandidates":"[]","rtcSession":"{}"}},"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}"#
    );
}

/// Checks that every object inside `params` has its keys in ascending order, at every depth.
fn assert_params_sorted(line: &str) {
    fn sorted(value: &serde_json::Value, path: &str) {
        match value {
            serde_json::Value::Object(map) => {
                let keys: Vec<&String> = map.keys().collect();
                let mut want = keys.clone();
                want.sort();
                assert_eq!(keys, want, "keys of {path} out of order");
                for (k, v) in map {
                    sorted(v, &format!("{path}.{k}"));
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| sorted(v, path)),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
    let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
    let envelope: Vec<&str> = ["v", "msgId", "event", "params"]
        .into_iter()
        .filter(|k| keys.iter().any(|key| key == k))
        .collect();
    assert_eq!(keys, envelope, "envelope order");
    sorted(&value["params"], "params");
}

#[test]
fn plain_uncompressed_sessions_as_simplex_tests_send_them_are_kept_as_opaque_text() {
    let line = r#"{"v":"1-19","event":"x.call.answer","params":{"answer":{"rtcSession":{"rtcIceCandidates":"[]","rtcSession":"{}"}},"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}"#;
    assert_eq!(round_trip(line), line);
    let msg = ChatMessage::from_json(line.as_bytes()).expect("decodes");
    let view = readable::to_readable(&msg).expect("readable");
    assert_eq!(view["params"]["answer"]["rtcSession"]["rtcSession"], "{}");
    assert_eq!(
        view["params"]["answer"]["rtcSession"]["rtcIceCandidates"],
        "[]"
    );
}

#[test]
fn unencrypted_invitation_omits_the_key_and_newer_optional_fields_are_kept() {
    let plain = r#"{"event":"x.call.inv","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA==","invitation":{"callType":{"capabilities":{"encryption":false},"media":"video"}}}}"#;
    let msg = ChatMessage::from_json(plain.as_bytes()).expect("decodes");
    assert_eq!(msg.version, None);
    assert_eq!(msg.msg_id, None);
    assert_eq!(round_trip(plain), plain);

    let newer = format!(
        r#"{{"v":"1-19","event":"x.call.inv","params":{{"callId":"q83vEjRWeJCrze8SNFZ4kA==","invitation":{{"callDhPubKey":"{ALICE_PUB}","callType":{{"capabilities":{{"encryption":true}},"media":"audio"}},"callVRange":"1-2"}}}}}}"#
    );
    let msg = ChatMessage::from_json(newer.as_bytes()).expect("decodes");
    match &msg.event {
        CallEvent::Invitation { invitation, .. } => {
            assert_eq!(invitation.call_v_range, VersionRange::new(1, 2));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(round_trip(&newer), newer);

    let offer = r#"{"event":"x.call.offer","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA==","offer":{"callType":{"capabilities":{"encryption":false},"media":"audio"},"callVersion":2,"rtcSession":{"rtcIceCandidates":"b","rtcSession":"a"}}}}"#;
    assert_eq!(round_trip(offer), offer);
}

#[test]
fn unknown_params_fields_are_ignored_as_aeson_ignores_them() {
    let line =
        r#"{"event":"x.call.end","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA==","future":[1,2]}}"#;
    assert_eq!(
        round_trip(line),
        r#"{"event":"x.call.end","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}"#
    );
}

#[test]
fn version_ranges_read_both_forms_and_write_simplexmqs_form() {
    assert_eq!(
        "1-16".parse::<VersionRange>(),
        Ok(VersionRange { min: 1, max: 16 })
    );
    assert_eq!(
        "2".parse::<VersionRange>(),
        Ok(VersionRange { min: 2, max: 2 })
    );
    assert_eq!(
        "2-2".parse::<VersionRange>().map(|v| v.to_string()),
        Ok("2".into())
    );
    for bad in ["", "-", "3-1", "1-", "a", "1-2-3", "+1", "99999"] {
        assert!(bad.parse::<VersionRange>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn call_status_parses_only_simplexs_four_strings() {
    for s in ["connecting", "connected", "disconnected", "failed"] {
        assert_eq!(
            s.parse::<WebRTCCallStatus>().map(|v| v.to_string()),
            Ok(s.into())
        );
    }
    assert_eq!(
        "closed".parse::<WebRTCCallStatus>(),
        Err(Error::BadCallStatus("closed".into()))
    );
}

fn decode_err(line: &str) -> Error {
    ChatMessage::from_json(line.as_bytes()).expect_err("must be rejected")
}

fn inv_with_key(key: &str) -> String {
    format!(
        r#"{{"event":"x.call.inv","params":{{"callId":"q83vEjRWeJCrze8SNFZ4kA==","invitation":{{"callType":{{"media":"audio","capabilities":{{"encryption":true}}}},"callDhPubKey":"{key}"}}}}}}"#
    )
}

#[test]
fn malformed_messages_get_errors_that_name_what_is_wrong() {
    assert!(matches!(decode_err("{\"event\":"), Error::BadJson(_)));
    assert!(matches!(decode_err("\u{0}\u{1}"), Error::BadJson(_)));
    assert!(matches!(decode_err(r#"{"params":{}}"#), Error::BadEnvelope(m) if m.contains("event")));
    assert!(
        matches!(decode_err(r#"{"event":"x.call.end","params":[]}"#), Error::BadEnvelope(m) if m.contains("object"))
    );
    assert_eq!(
        decode_err(r#"{"event":"x.msg.new","params":{"content":{}}}"#),
        Error::NotCallEvent("x.msg.new".into())
    );

    let field = |e: Error| match e {
        Error::BadField { path, reason } => (path, reason),
        other => panic!("expected a field error, got {other:?}"),
    };
    let (path, reason) = field(decode_err(&inv_with_key("not base64!")));
    assert_eq!(path, "params.invitation.callDhPubKey");
    assert!(reason.starts_with("bad base64"), "{reason}");

    let (_, reason) = field(decode_err(&inv_with_key(
        "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=",
    )));
    assert_eq!(reason, "wrong length: expected 44 bytes, got 32");

    // An Ed25519 SPKI has the same length but another algorithm.
    let ed25519 = "MCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (_, reason) = field(decode_err(&inv_with_key(ed25519)));
    assert!(reason.starts_with("wrong key type"), "{reason}");

    // Errata W4: a call id of any length parses (simplexmq's `base64urlP` has no length
    // check), padded or not; an empty one or one that is not base64url does not.
    for id in [
        "AQID",
        "AQ",
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        "q83vEjRWeJCrze8SNFZ4kA",
    ] {
        let line = format!(r#"{{"event":"x.call.end","params":{{"callId":"{id}"}}}}"#);
        assert!(ChatMessage::from_json(line.as_bytes()).is_ok(), "{id}");
    }
    for id in ["", "==", "q83v+jRW", "A"] {
        let line = format!(r#"{{"event":"x.call.end","params":{{"callId":"{id}"}}}}"#);
        let (path, reason) = field(decode_err(&line));
        assert_eq!(path, "params.callId", "{id}");
        assert!(reason.starts_with("bad base64"), "{id}: {reason}");
    }

    let (path, reason) = field(decode_err(r#"{"event":"x.call.end","params":{}}"#));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("params", "missing field `callId`")
    );

    let (path, reason) = field(decode_err(
        r#"{"event":"x.call.inv","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA==","invitation":{"callType":{"media":"hologram","capabilities":{"encryption":true}}}}}"#,
    ));
    assert_eq!(path, "params.invitation.callType.media");
    assert!(reason.contains("hologram"), "{reason}");

    let (path, _) = field(decode_err(
        r#"{"v":"16-1","event":"x.call.end","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}"#,
    ));
    assert_eq!(path, "v");
    let (path, _) = field(decode_err(
        r#"{"msgId":"%%","event":"x.call.end","params":{"callId":"q83vEjRWeJCrze8SNFZ4kA=="}}"#,
    ));
    assert_eq!(path, "msgId");
}

#[test]
fn messages_over_simplexs_size_limit_are_rejected_both_ways() {
    let pad = "A".repeat(MAX_MESSAGE_BYTES);
    let line = format!(
        r#"{{"event":"x.call.extra","params":{{"callId":"q83vEjRWeJCrze8SNFZ4kA==","extra":{{"rtcExtraInfo":{{"rtcIceCandidates":"{pad}"}}}}}}}}"#
    );
    assert!(matches!(
        decode_err(&line),
        Error::TooLarge {
            limit: MAX_MESSAGE_BYTES,
            ..
        }
    ));

    let msg = ChatMessage::new(CallEvent::Extra {
        call_id: "q83vEjRWeJCrze8SNFZ4kA==".parse().expect("call id"),
        extra: callsim_engine::protocol::CallExtraInfo {
            rtc_extra_info: callsim_engine::protocol::WebRTCExtraInfo {
                rtc_ice_candidates: pad,
            },
        },
    });
    assert!(matches!(msg.to_json(), Err(Error::TooLarge { .. })));
}

#[test]
fn only_the_invitation_sets_the_notification_flag() {
    let key: PublicKey = ALICE_PUB.parse().expect("key");
    let inv = CallEvent::Invitation {
        call_id: "q83vEjRWeJCrze8SNFZ4kA==".parse().expect("call id"),
        invitation: CallInvitation {
            call_type: CallType::new(CallMediaType::Audio, true),
            call_dh_pub_key: Some(key),
            call_v_range: None,
        },
    };
    assert!(inv.has_notification());
    let end = CallEvent::End {
        call_id: inv.call_id().clone(),
    };
    assert!(!end.has_notification());
}
