//! Errata W2-W4, W7, W9: what the core does, checked against SimpleX master 6bb1da9e.

use crate::*;

fn kinds(outputs: &[CoreOutput]) -> Vec<&'static str> {
    outputs
        .iter()
        .map(|o| match o {
            CoreOutput::Send { .. } => "send",
            CoreOutput::SendReceipt { .. } => "receipt",
            CoreOutput::Event(CoreEvent::CallInvitation(_)) => "callInvitation",
            CoreOutput::Event(CoreEvent::NewChatItem(_)) => "newChatItem",
            CoreOutput::Event(CoreEvent::ChatItemUpdated(_)) => "chatItemUpdated",
            CoreOutput::Event(CoreEvent::MessageError { .. }) => "messageError",
            CoreOutput::Event(_) => "other",
        })
        .collect()
}

/// Errata W3: `xCallInv` (`Subscriber.hs`) saves the new item, replaces the call, updates the
/// replaced call's item, then emits the invitation event, then the new item's event.
#[test]
fn a_received_invitation_updates_the_old_item_then_tells_the_app_then_shows_the_new_item() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.alice = core("alice", None);
    let (now, rng) = (p.now, &mut p.rng);
    p.alice
        .api_send_call_invitation(now, rng, PEER, video(true))
        .expect("invites");
    let out = p.deliver(true);
    assert_eq!(
        kinds(&out),
        ["chatItemUpdated", "callInvitation", "newChatItem"]
    );
}

/// Errata W3: `APISendCallInvitation` (`Commands.hs`) sends first, then saves the item, puts
/// the call in the map, updates the replaced call's item, and only then announces the new item;
/// the sender gets no invitation event.
#[test]
fn a_sent_invitation_goes_out_first_then_the_old_item_is_updated_then_the_new_one_shown() {
    let mut alice = core("alice", None);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    alice
        .api_send_call_invitation(at(1), &mut rng, PEER, video(true))
        .expect("first");
    drain(&mut alice);
    alice
        .api_send_call_invitation(at(2), &mut rng, PEER, video(true))
        .expect("second");
    assert_eq!(
        kinds(&drain(&mut alice)),
        ["send", "chatItemUpdated", "newChatItem"]
    );
}

/// `APISendCallInvitation` replaces the map entry without `deleteCalls`, so a stored invitation
/// from the contact stays in the table, and a restart (`restoreCalls`) brings it back in place of
/// the outgoing call (`Commands.hs`, SimpleX master 6bb1da9e).
#[test]
fn calling_back_keeps_the_stored_invitation_which_a_restart_brings_back() {
    let mut p = Pair::new();
    p.invite(video(true));
    let received = p.bob.api_get_call_invitations();
    assert_eq!(received.len(), 1);
    let (now, rng) = (p.now, &mut p.rng);
    p.bob
        .api_send_call_invitation(now, rng, PEER, video(true))
        .expect("Bob calls back");
    assert_eq!(state(&p.bob), Some(CallStateTag::InvitationSent));
    assert!(p.bob.api_get_call_invitations().is_empty());
    p.bob.restart();
    assert_eq!(
        p.bob.api_get_call_invitations(),
        received,
        "the stored invitation is back; the outgoing call is gone"
    );
}

/// Errata W4: the core parses a call id of any length (simplexmq `base64urlP`, no length
/// check), and a message whose call id does not parse fails as a whole: it leaves a
/// `message error: ...` item (`CIRcvMsgError (RMEParseError e)`, `processDirectMessage`).
#[test]
fn call_ids_of_any_length_work_and_a_malformed_one_leaves_a_parse_error_item() {
    let mut bob = core("bob", None);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let short = r#"{"v":"1-19","msgId":"AQID","event":"x.call.inv","params":{"callId":"AQID","invitation":{"callType":{"capabilities":{"encryption":false},"media":"audio"}}}}"#;
    bob.receive(at(1), &mut rng, PEER, at(1), short)
        .expect("a 3-byte call id is a call id");
    assert_eq!(
        bob.call(PEER).map(|c| c.call_id.as_bytes().to_vec()),
        Some(vec![1, 2, 3])
    );
    drain(&mut bob);
    let bad = r#"{"v":"1-19","event":"x.call.end","params":{"callId":"+not/url"}}"#;
    assert!(bob.receive(at(2), &mut rng, PEER, at(2), bad).is_err());
    let newest = bob.items(PEER).last().expect("an item").content.to_string();
    assert!(
        newest.starts_with("message error: params.callId: bad base64"),
        "{newest}"
    );
    assert_eq!(
        state(&bob),
        Some(CallStateTag::InvitationReceived),
        "the call is untouched"
    );
}

/// Errata W9: every message the core sends carries `v` = "1-19" (`supportedChatVRange`,
/// `Protocol.hs`) and a msgId of 12 random bytes in standard base64, so 16 bytes and 24
/// characters of base64url on the wire (`createWithRandomId'`, `Store/Shared.hs`).
#[test]
fn sent_messages_carry_the_current_version_range_and_24_character_message_ids() {
    let mut p = Pair::new();
    let (now, rng) = (p.now, &mut p.rng);
    p.alice
        .api_send_call_invitation(now, rng, PEER, video(true))
        .expect("invites");
    let out = drain(&mut p.alice);
    let (message, _) = sent(&out)[0];
    let wire = message.to_json().expect("encodes");
    assert!(wire.starts_with(r#"{"v":"1-19","msgId":""#), "{wire}");
    let msg_id = message.msg_id.as_ref().expect("msgId").to_string();
    assert_eq!(msg_id.len(), 24);
    assert!(msg_id.ends_with("=="));
    let inner = message.msg_id.as_ref().expect("msgId").0.clone();
    assert_eq!(inner.len(), 16);
    assert!(
        inner
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/'),
        "standard base64 text inside"
    );
}

/// Errata W7: SimpleX master 6bb1da9e has no call versions at all: the media key is the raw
/// X25519 secret (`xCallInv`, `xCallOffer`). callsim's default announces none and writes no
/// version field; the v2 key (HKDF-SHA512, salt = call id, info `SimpleXCallMediaKey`) comes
/// only from a stored `Call.hs` of unknown origin, whose negotiation is inferred: the callee
/// picks the highest common version and names it in the offer. For every pair of ranges
/// both sides derive the same key, and v2 only when both support it.
#[test]
fn every_pair_of_call_versions_agrees_on_the_key_and_uses_v2_only_when_both_can() {
    use callsim_engine::crypto::{MediaKey, MediaKeyVersion};
    let ranges = [
        None,
        VersionRange::new(1, 1),
        VersionRange::new(1, 2),
        VersionRange::new(2, 2),
    ];
    for a in ranges {
        for b in ranges {
            let mut p = Pair::with_versions(a, b);
            p.invite(video(true));
            let CallState::InvitationSent(sent) = &p.alice.call(PEER).expect("call").state else {
                panic!("Alice invited")
            };
            let alice_pair = sent.local_dh_key.clone().expect("encrypted");
            let CallState::InvitationReceived(received) = &p.bob.call(PEER).expect("call").state
            else {
                panic!("Bob was invited")
            };
            let bob_public = received.local_dh_pub_key.expect("encrypted");
            p.offer(video(true));
            let call = p.alice.call(PEER).expect("call");
            let alice_key = call.state.shared_key().expect("key");
            let bob_key = p.bob.call(PEER).expect("call").state.shared_key();
            assert_eq!(Some(alice_key), bob_key, "{a:?} {b:?}");
            // Recompute v1 from the exchanged keys to tell which version was used.
            let both_v2 = matches!((a, b), (Some(x), Some(y)) if x.max.min(y.max) >= 2 && x.max.min(y.max) >= x.min.max(y.min));
            let dh = alice_pair.diffie_hellman(&bob_public);
            let v1 = MediaKey::derive(MediaKeyVersion::V1, &call.call_id, &dh);
            let v2 = MediaKey::derive(MediaKeyVersion::V2, &call.call_id, &dh);
            let expected = if both_v2 { v2 } else { v1 };
            assert_eq!(alice_key, expected, "{a:?} {b:?}");
        }
    }
    // The default writes no version field on the wire.
    let mut p = Pair::new();
    let (now, rng) = (p.now, &mut p.rng);
    p.alice
        .api_send_call_invitation(now, rng, PEER, video(true))
        .expect("invites");
    let wire = sent(&drain(&mut p.alice))[0].0.to_json().expect("json");
    assert!(!wire.contains("callVRange"), "{wire}");
}
