//! Messages, keys and frames produced by independent implementations decode here.
//!
//! The fixtures in `tests/fixtures/interop/` were made by `generate.mjs` there, with the npm
//! `lz-string` package (the library SimpleX's apps use) and node's crypto (OpenSSL) for X25519,
//! HKDF-SHA512 and AES-256-GCM.

use callsim_engine::crypto::{
    FrameCipher, FrameKind, KeyPair, MediaKey, MediaKeyVersion, MediaPlatform,
};
use callsim_engine::protocol::{CallEvent, ChatMessage, rtc};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/interop");

fn expected() -> Value {
    let text = std::fs::read_to_string(format!("{DIR}/expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

fn messages() -> Vec<(String, ChatMessage)> {
    std::fs::read_to_string(format!("{DIR}/messages.jsonl"))
        .expect("messages.jsonl")
        .lines()
        .map(|l| (l.to_owned(), ChatMessage::from_json(l.as_bytes()).expect(l)))
        .collect()
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().expect("string"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

#[test]
fn node_messages_decode_and_re_encode_to_the_same_json_in_the_cores_key_order() {
    let msgs = messages();
    let tags: Vec<_> = msgs.iter().map(|(_, m)| m.event.tag()).collect();
    assert_eq!(tags, CallEvent::TAGS);
    let core_order = include_str!("../../tests/fixtures/core-order/messages.jsonl");
    for ((line, msg), core) in msgs.iter().zip(core_order.lines()) {
        // node wrote declaration order; the values are the same, the order is the core's.
        let encoded = msg.to_json().expect("encodes");
        let value = |text: &str| serde_json::from_str::<Value>(text).expect("json");
        assert_eq!(value(&encoded), value(line));
        assert_eq!(
            encoded.replacen("\"v\":\"1-16\"", "\"v\":\"1-19\"", 1),
            core
        );
    }
}

#[test]
fn node_lz_string_sessions_and_candidates_decode_to_the_originals() {
    let exp = expected();
    let msgs = messages();
    let CallEvent::Offer { offer, .. } = &msgs[1].1.event else {
        panic!("second message is the offer")
    };
    let sdp = rtc::decode_session(&offer.rtc_session.rtc_session).expect("offer sdp");
    assert_eq!(sdp.sdp, exp["offerSdp"].as_str().expect("sdp"));
    let cands = rtc::decode_candidates(&offer.rtc_session.rtc_ice_candidates).expect("cands");
    assert_eq!(
        serde_json::to_value(&cands).expect("json"),
        exp["offerCandidates"]
    );

    let CallEvent::Answer { answer, .. } = &msgs[2].1.event else {
        panic!("third message is the answer")
    };
    let sdp = rtc::decode_session(&answer.rtc_session.rtc_session).expect("answer sdp");
    assert_eq!(sdp.sdp, exp["answerSdp"].as_str().expect("sdp"));
    // iOS's candidate shape keeps its field order through our typed round trip.
    let text = &answer.rtc_session.rtc_ice_candidates;
    let cands = rtc::decode_candidates(text).expect("cands");
    assert_eq!(&rtc::encode_candidates(&cands), text);

    // Our compressor writes exactly what the JS library wrote.
    let CallEvent::Extra { extra, .. } = &msgs[3].1.event else {
        panic!("fourth message is the extra")
    };
    let text = &extra.rtc_extra_info.rtc_ice_candidates;
    assert_eq!(&rtc::encode_json(&exp["extraCandidates"]), text);
}

#[test]
fn node_x25519_keys_give_the_same_secret_and_media_keys() {
    let exp = expected();
    let msgs = messages();
    let (
        CallEvent::Invitation {
            invitation,
            call_id,
        },
        CallEvent::Offer { offer, .. },
    ) = (&msgs[0].1.event, &msgs[1].1.event)
    else {
        panic!("invitation then offer")
    };
    let alice = KeyPair::from_secret_bytes(hex32(&exp["alicePrivate"]));
    let bob = KeyPair::from_secret_bytes(hex32(&exp["bobPrivate"]));
    assert_eq!(invitation.call_dh_pub_key, Some(alice.public_key()));
    assert_eq!(offer.call_dh_pub_key, Some(bob.public_key()));

    let dh = alice.diffie_hellman(&bob.public_key());
    assert_eq!(dh.0, hex32(&exp["dhSecret"]));
    assert_eq!(bob.diffie_hellman(&alice.public_key()), dh);
    let v1 = MediaKey::derive(MediaKeyVersion::V1, call_id, &dh);
    assert_eq!(v1.to_string(), exp["mediaKeyV1"].as_str().expect("key"));
    let v2 = MediaKey::derive(MediaKeyVersion::V2, call_id, &dh);
    assert_eq!(v2.0, hex32(&exp["mediaKeyV2"]));
}

#[test]
fn node_aes_gcm_frames_decrypt_with_the_media_key_and_fail_with_another() {
    let exp = expected();
    let keys = [
        ("v1", MediaKey(hex32(&exp["dhSecret"]))),
        ("v2", MediaKey(hex32(&exp["mediaKeyV2"]))),
    ];
    let frames = exp["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 3);
    for f in frames {
        let kind = match f["kind"].as_str() {
            Some("audio") => FrameKind::Audio,
            Some("videoKey") => FrameKind::VideoKey,
            Some("videoDelta") => FrameKind::VideoDelta,
            other => panic!("kind {other:?}"),
        };
        let enc = hex::decode(f["encrypted"].as_str().expect("hex")).expect("hex");
        let plain = hex::decode(f["plain"].as_str().expect("hex")).expect("hex");
        if kind != FrameKind::Audio {
            assert_eq!(
                FrameKind::of_video_frame(&enc),
                kind,
                "kind from the clear byte"
            );
        }
        for (name, key) in &keys {
            let result = FrameCipher::new(key, MediaPlatform::Js).decrypt(kind, &enc);
            if Some(*name) == f["key"].as_str() {
                assert_eq!(result.as_ref(), Ok(&plain));
            } else {
                assert!(
                    result.is_err(),
                    "{name} key must not decrypt a {:?} frame",
                    f["key"]
                );
            }
        }
    }
}

#[test]
fn compressed_fields_are_padded_as_the_js_library_pads_them() {
    // lz-str 0.2.1 adds one `=` too many (docs/dependency-bugs.md); JS pads to a multiple of 4.
    let exp = expected();
    for field in ["offerCandidates", "answerCandidates", "extraCandidates"] {
        let text = rtc::encode_json(&exp[field]);
        assert_eq!(text.len() % 4, 0, "{field}: {text}");
        // `decompress`, not `decode_json`: lz-str itself must read the JS padding (the typed
        // decoders would answer from this thread's memory of the compression).
        let json = rtc::decompress(&text).expect("lz-str decodes it");
        let value: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value, exp[field], "{field}");
    }
    for len in 0..64 {
        let text = rtc::compress(&"x".repeat(len));
        assert_eq!(text.len() % 4, 0, "{len}: {text}");
        assert_eq!(rtc::decompress(&text), (len > 0).then(|| "x".repeat(len)));
    }
}
