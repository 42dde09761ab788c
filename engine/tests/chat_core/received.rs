//! §2.4: received messages.

use crate::*;

#[test]
fn a_received_invitation_computes_the_key_at_once_and_tells_the_app() {
    let mut p = Pair::new();
    p.now = at(200);
    p.alice
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("invites");
    let out = p.deliver(true);
    let evs = events(&out);
    let inv = evs
        .iter()
        .find_map(|e| match e {
            CoreEvent::CallInvitation(inv) => Some(inv),
            _ => None,
        })
        .expect("callInvitation");
    assert!(inv.shared_key.is_some());
    assert!(evs.iter().any(|e| matches!(e, CoreEvent::NewChatItem(_))));
    assert_eq!(item_text(&p.bob), "incoming call: calling...");
    let item = p.bob.items(PEER).last().expect("item");
    assert_eq!(
        item.created_at,
        at(200),
        "the item carries the relay's timestamp"
    );
    assert!(!item.read);

    // An unencrypted invitation gives no key.
    let mut q = Pair::new();
    q.invite(video(false));
    assert_eq!(q.bob.api_get_call_invitations()[0].shared_key, None);
}

#[test]
fn a_received_invitation_replaces_the_call_with_that_contact() {
    let mut p = Pair::new();
    p.invite(video(true));
    let first = p.bob.call(PEER).expect("call").clone();
    p.alice = core("alice", None);
    p.invite(video(false));
    let second = p.bob.call(PEER).expect("call");
    assert_ne!(first.call_id, second.call_id);
    assert_eq!(
        p.bob
            .item(first.chat_item_id)
            .expect("old")
            .content
            .to_string(),
        "incoming call: missed"
    );
    assert_eq!(p.bob.api_get_call_invitations().len(), 1);
}

#[test]
fn an_invitation_from_a_contact_that_may_not_call_leaves_a_notice_and_no_call() {
    let mut p = Pair::new();
    p.bob.add_contact(
        PEER,
        Contact {
            name: "alice".into(),
            calls_allowed: false,
        },
    );
    p.invite(video(true));
    assert_eq!(state(&p.bob), None);
    let notice = p.bob.items(PEER).last().expect("item");
    assert_eq!(
        notice.content.to_string(),
        "audio/video calls: received, prohibited"
    );
}

#[test]
fn a_received_offer_gives_the_caller_the_same_key_and_moves_to_offer_received() {
    let mut p = Pair::new();
    p.invite(video(true));
    let bob_key = p.bob.call(PEER).expect("call").state.shared_key();
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: session("offer"),
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    let out = p.deliver(false);
    let (shared_key, ask) = events(&out)
        .iter()
        .find_map(|e| match e {
            CoreEvent::CallOffer {
                shared_key,
                ask_confirmation,
                ..
            } => Some((*shared_key, *ask_confirmation)),
            _ => None,
        })
        .expect("callOffer");
    assert!(shared_key.is_some());
    assert_eq!(shared_key, bob_key);
    assert!(!ask);
    assert_eq!(item_text(&p.alice), "outgoing call: accepted");
    assert_eq!(state(&p.alice), Some(CallStateTag::OfferReceived));
}

#[test]
fn an_unencrypted_offer_to_an_encrypted_invitation_asks_for_confirmation_and_has_no_key() {
    let mut p = Pair::new();
    p.invite(video(true));
    let offer = WebRTCCallOffer {
        call_type: video(false),
        rtc_session: session("offer"),
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    let out = p.deliver(false);
    let found = events(&out).iter().any(|e| {
        matches!(
            e,
            CoreEvent::CallOffer {
                shared_key: None,
                ask_confirmation: true,
                ..
            }
        )
    });
    assert!(found, "{out:?}");
}

#[test]
fn replies_with_no_call_a_wrong_call_id_or_a_wrong_state_are_message_errors() {
    // No current call: the call was ended before a late message arrived.
    let mut p2 = Pair::new();
    p2.invite(video(true));
    let stale = p2.bob.call(PEER).expect("call").call_id.clone();
    p2.alice
        .api_end_call(p2.now, &mut p2.rng, PEER)
        .expect("ends");
    drain(&mut p2.alice);
    let msg = |event| ChatMessage::new(event);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    p2.alice.handle_message(
        at(1),
        &mut rng,
        PEER,
        at(1),
        msg(CallEvent::End {
            call_id: stale.clone(),
        }),
    );
    assert_eq!(
        message_errors(&drain(&mut p2.alice)),
        ["x.call.end: no current call"]
    );

    // Wrong call id: a stale message from an earlier call with the same contact.
    let mut p3 = Pair::new();
    p3.invite(video(true));
    let mut bytes = stale.as_bytes().to_vec();
    bytes[0] ^= 1;
    let other = CallId::from_bytes(&bytes).expect("non-empty");
    p3.bob.handle_message(
        at(1),
        &mut rng,
        PEER,
        at(1),
        msg(CallEvent::End { call_id: other }),
    );
    assert_eq!(
        message_errors(&drain(&mut p3.bob)),
        ["x.call.end: wrong contact or callId"]
    );
    assert_eq!(
        state(&p3.bob),
        Some(CallStateTag::InvitationReceived),
        "kept"
    );

    // Wrong state: an answer to the callee that has not offered yet.
    let call_id = p3.bob.call(PEER).expect("call").call_id.clone();
    let answer = CallEvent::Answer {
        call_id,
        answer: callsim_engine::protocol::CallAnswer {
            rtc_session: session("a"),
        },
    };
    p3.bob
        .handle_message(at(1), &mut rng, PEER, at(1), msg(answer));
    assert_eq!(
        message_errors(&drain(&mut p3.bob)),
        ["x.call.answer: wrong call state CSTCallInvitationReceived"]
    );
    assert_eq!(state(&p3.bob), Some(CallStateTag::InvitationReceived));
}

#[test]
fn extra_info_is_accepted_in_offer_received_and_negotiated_and_dropped_before() {
    let extra = |call_id| CallEvent::Extra {
        call_id,
        extra: callsim_engine::protocol::CallExtraInfo {
            rtc_extra_info: WebRTCExtraInfo {
                rtc_ice_candidates: "c".into(),
            },
        },
    };
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut p = Pair::new();
    p.invite(video(true));
    let id = p.bob.call(PEER).expect("call").call_id.clone();
    // Spec race 4: candidates arriving in either invitation state are lost.
    p.bob.handle_message(
        at(1),
        &mut rng,
        PEER,
        at(1),
        ChatMessage::new(extra(id.clone())),
    );
    assert_eq!(
        message_errors(&drain(&mut p.bob)),
        ["x.call.extra: wrong call state CSTCallInvitationReceived"]
    );
    p.alice.handle_message(
        at(1),
        &mut rng,
        PEER,
        at(1),
        ChatMessage::new(extra(id.clone())),
    );
    assert_eq!(
        message_errors(&drain(&mut p.alice)),
        ["x.call.extra: wrong call state CSTCallInvitationSent"]
    );
    p.offer(video(true));
    p.alice.handle_message(
        at(1),
        &mut rng,
        PEER,
        at(1),
        ChatMessage::new(extra(id.clone())),
    );
    let out = drain(&mut p.alice);
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, CoreEvent::CallExtraInfo { .. }))
    );
    p.answer();
    p.bob.handle_message(
        at(1),
        &mut rng,
        PEER,
        at(1),
        ChatMessage::new(extra(id.clone())),
    );
    let out = drain(&mut p.bob);
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, CoreEvent::CallExtraInfo { .. }))
    );
    assert_eq!(state(&p.bob), Some(CallStateTag::Negotiated));
}

#[test]
fn a_received_answer_moves_the_callee_to_negotiated() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.offer(video(true));
    p.alice
        .api_send_call_answer(p.now, &mut p.rng, PEER, session("answer"))
        .expect("answers");
    let out = p.deliver(true);
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, CoreEvent::CallAnswer { .. }))
    );
    assert_eq!(item_text(&p.bob), "incoming call: connecting...");
    match &p.bob.call(PEER).expect("call").state {
        CallState::Negotiated(n) => {
            assert_eq!(n.local_call_session, session("offer"));
            assert_eq!(n.peer_call_session, session("answer"));
        }
        other => panic!("{other:?}"),
    }
}
