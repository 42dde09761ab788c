//! §2.3: the API commands.

use crate::*;

#[test]
fn invitation_sends_x_call_inv_with_the_notification_flag_and_a_key_when_encrypted() {
    let mut alice = core("alice", None);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    alice
        .api_send_call_invitation(at(1), &mut rng, PEER, video(true))
        .expect("invites");
    let out = drain(&mut alice);
    let messages = sent(&out);
    assert_eq!(messages.len(), 1);
    let (message, notify) = messages[0];
    assert!(notify);
    let CallEvent::Invitation { invitation, .. } = &message.event else {
        panic!("{message:?}")
    };
    assert!(invitation.call_dh_pub_key.is_some());
    assert_eq!(invitation.call_v_range, None);
    assert_eq!(item_text(&alice), "outgoing call: calling...");
    assert_eq!(state(&alice), Some(CallStateTag::InvitationSent));

    let mut carol = core("alice", None);
    carol
        .api_send_call_invitation(at(1), &mut rng, PEER, video(false))
        .expect("invites");
    let out = drain(&mut carol);
    let CallEvent::Invitation { invitation, .. } = &sent(&out)[0].0.event else {
        panic!("an invitation")
    };
    assert_eq!(invitation.call_dh_pub_key, None);
}

#[test]
fn invitation_is_refused_when_calls_are_not_allowed_or_the_contact_is_unknown() {
    let mut alice = core("alice", None);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    alice.add_contact(
        3,
        Contact {
            name: "carol".into(),
            calls_allowed: false,
        },
    );
    assert_eq!(
        alice.api_send_call_invitation(at(1), &mut rng, 3, video(true)),
        Err(Error::CallsNotAllowed)
    );
    assert_eq!(
        alice.api_send_call_invitation(at(1), &mut rng, 9, video(true)),
        Err(Error::UnknownContact(9))
    );
    assert!(drain(&mut alice).is_empty());
}

#[test]
fn a_new_invitation_replaces_the_old_call_whose_pending_item_becomes_missed() {
    let mut alice = core("alice", None);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    alice
        .api_send_call_invitation(at(1), &mut rng, PEER, video(true))
        .expect("first");
    let first = alice.call(PEER).expect("call").clone();
    alice
        .api_send_call_invitation(at(2), &mut rng, PEER, video(true))
        .expect("second");
    let second = alice.call(PEER).expect("call");
    assert_ne!(first.call_id, second.call_id);
    let old = alice.item(first.chat_item_id).expect("old item");
    assert_eq!(old.content.to_string(), "outgoing call: missed");
    assert_eq!(item_text(&alice), "outgoing call: calling...");
}

#[test]
fn reject_sends_nothing_marks_the_item_rejected_and_read_and_removes_the_call() {
    let mut p = Pair::new();
    p.invite(video(true));
    assert_eq!(p.bob.api_get_call_invitations().len(), 1);
    p.bob.api_reject_call(at(101), PEER).expect("rejects");
    let out = drain(&mut p.bob);
    assert!(sent(&out).is_empty(), "the caller is never told");
    assert_eq!(item_text(&p.bob), "incoming call: rejected");
    assert!(p.bob.items(PEER).last().expect("item").read);
    assert_eq!(state(&p.bob), None);
    assert!(p.bob.api_get_call_invitations().is_empty());
    assert_eq!(state(&p.alice), Some(CallStateTag::InvitationSent));
}

#[test]
fn reject_in_another_state_is_an_error_and_changes_nothing() {
    let mut p = Pair::new();
    assert_eq!(
        p.alice.api_reject_call(at(1), PEER),
        Err(Error::NoCurrentCall)
    );
    p.invite(video(true));
    assert_eq!(
        p.alice.api_reject_call(at(1), PEER),
        Err(Error::CallState(CallStateTag::InvitationSent))
    );
    assert_eq!(state(&p.alice), Some(CallStateTag::InvitationSent));
    assert!(drain(&mut p.alice).is_empty());
}

#[test]
fn offer_sends_our_key_only_if_the_answer_time_call_type_is_encrypted() {
    for encrypted_at_answer in [true, false] {
        let mut p = Pair::new();
        p.invite(video(true));
        let offer = WebRTCCallOffer {
            call_type: video(encrypted_at_answer),
            rtc_session: session("offer"),
        };
        p.bob
            .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
            .expect("offers");
        let out = drain(&mut p.bob);
        let CallEvent::Offer { offer, .. } = &sent(&out)[0].0.event else {
            panic!("an offer")
        };
        assert_eq!(offer.call_dh_pub_key.is_some(), encrypted_at_answer);
        assert!(!sent(&out)[0].1, "only the invitation notifies");
        assert_eq!(item_text(&p.bob), "incoming call: accepted");
        assert!(p.bob.items(PEER).last().expect("item").read);
        let call = p.bob.call(PEER).expect("call");
        assert_eq!(call.state.tag(), CallStateTag::OfferSent);
        assert!(call.state.shared_key().is_some(), "the key is kept");
    }
}

#[test]
fn offer_answer_and_extra_are_refused_in_the_wrong_state() {
    let mut p = Pair::new();
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: session("offer"),
    };
    let extra = || WebRTCExtraInfo {
        rtc_ice_candidates: "c".into(),
    };
    assert_eq!(
        p.bob
            .api_send_call_offer(p.now, &mut p.rng, PEER, offer.clone()),
        Err(Error::NoCurrentCall)
    );
    p.invite(video(true));
    let sent_state = Err(Error::CallState(CallStateTag::InvitationSent));
    let received_state = Err(Error::CallState(CallStateTag::InvitationReceived));
    assert_eq!(
        p.alice.api_send_call_offer(p.now, &mut p.rng, PEER, offer),
        sent_state
    );
    assert_eq!(
        p.alice
            .api_send_call_answer(p.now, &mut p.rng, PEER, session("a")),
        sent_state
    );
    assert_eq!(
        p.bob
            .api_send_call_answer(p.now, &mut p.rng, PEER, session("a")),
        received_state
    );
    assert_eq!(
        p.alice.api_send_call_extra_info(&mut p.rng, PEER, extra()),
        sent_state
    );
    assert_eq!(
        p.bob.api_send_call_extra_info(&mut p.rng, PEER, extra()),
        received_state
    );
    p.offer(video(true));
    assert_eq!(
        p.alice.api_send_call_extra_info(&mut p.rng, PEER, extra()),
        Err(Error::CallState(CallStateTag::OfferReceived)),
        "spec race 3: the caller's candidates before its answer are lost"
    );
    assert_eq!(state(&p.alice), Some(CallStateTag::OfferReceived));
}

#[test]
fn answer_sends_x_call_answer_and_moves_to_negotiated() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.offer(video(true));
    p.alice
        .api_send_call_answer(p.now, &mut p.rng, PEER, session("answer"))
        .expect("answers");
    let out = drain(&mut p.alice);
    assert!(matches!(sent(&out)[0].0.event, CallEvent::Answer { .. }));
    assert_eq!(item_text(&p.alice), "outgoing call: connecting...");
    assert_eq!(state(&p.alice), Some(CallStateTag::Negotiated));
}

#[test]
fn extra_info_is_sent_in_offer_sent_and_negotiated_and_changes_no_state() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.offer(video(true));
    let extra = WebRTCExtraInfo {
        rtc_ice_candidates: "c".into(),
    };
    p.bob
        .api_send_call_extra_info(&mut p.rng, PEER, extra.clone())
        .expect("offerSent");
    assert!(matches!(
        sent(&drain(&mut p.bob))[0].0.event,
        CallEvent::Extra { .. }
    ));
    assert_eq!(state(&p.bob), Some(CallStateTag::OfferSent));
    p.answer();
    p.alice
        .api_send_call_extra_info(&mut p.rng, PEER, extra)
        .expect("negotiated");
    assert_eq!(state(&p.alice), Some(CallStateTag::Negotiated));
}

#[test]
fn end_works_in_every_state_and_tells_the_peer() {
    type Setup = fn(&mut Pair);
    let setups: [(Setup, &str, &str); 4] = [
        (
            |p| p.invite(video(true)),
            "outgoing call: missed",
            "incoming call: missed",
        ),
        (
            |p| {
                p.invite(video(true));
                p.offer(video(true));
            },
            "outgoing call: ended (00:00)",
            "incoming call: ended (00:00)",
        ),
        (
            |p| {
                p.invite(video(true));
                p.offer(video(true));
                p.answer();
            },
            "outgoing call: ended (00:00)",
            "incoming call: ended (00:00)",
        ),
        (
            |p| {
                p.invite(video(true));
                p.offer(video(true));
                p.answer();
                p.alice
                    .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
                    .expect("ok");
                p.bob
                    .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
                    .expect("ok");
                p.now = at(130);
            },
            "outgoing call: ended (00:30)",
            "incoming call: ended (00:30)",
        ),
    ];
    for (setup, alice_text, bob_text) in setups {
        let mut p = Pair::new();
        setup(&mut p);
        p.alice.api_end_call(p.now, &mut p.rng, PEER).expect("ends");
        let bob_out = p.deliver(true);
        assert!(
            events(&bob_out)
                .iter()
                .any(|e| matches!(e, CoreEvent::CallEnded { .. }))
        );
        assert_eq!(
            (item_text(&p.alice), item_text(&p.bob)),
            (alice_text.into(), bob_text.into())
        );
        assert_eq!((state(&p.alice), state(&p.bob)), (None, None));
    }
    let mut lone = core("alice", None);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        lone.api_end_call(at(1), &mut rng, PEER),
        Err(Error::NoCurrentCall)
    );
}

#[test]
fn call_status_changes_only_the_item() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.offer(video(true));
    p.answer();
    p.bob
        .api_call_status(p.now, PEER, WebRTCCallStatus::Connecting)
        .expect("ok");
    assert_eq!(item_text(&p.bob), "incoming call: connecting...");
    p.bob
        .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
        .expect("ok");
    assert_eq!(item_text(&p.bob), "incoming call: in progress (00:00)");
    assert!(sent(&drain(&mut p.bob)).is_empty());
    assert_eq!(state(&p.bob), Some(CallStateTag::Negotiated));
    // A disconnect ends the item but not the call: only x.call.end or apiEndCall do that.
    p.now = at(112);
    p.bob
        .api_call_status(p.now, PEER, WebRTCCallStatus::Disconnected)
        .expect("ok");
    assert_eq!(item_text(&p.bob), "incoming call: ended (00:12)");
    assert_eq!(state(&p.bob), Some(CallStateTag::Negotiated));
    let mut lone = core("alice", None);
    assert_eq!(
        lone.api_call_status(at(1), PEER, WebRTCCallStatus::Connected),
        Err(Error::NoCurrentCall)
    );
}

#[test]
fn get_call_invitations_lists_received_invitations_only() {
    let mut p = Pair::new();
    p.now = at(555);
    p.invite(video(true));
    assert!(
        p.alice.api_get_call_invitations().is_empty(),
        "a sent invitation is not listed"
    );
    let list = p.bob.api_get_call_invitations();
    assert_eq!(list.len(), 1);
    let inv = &list[0];
    assert_eq!(inv.call_type, video(true));
    assert_eq!(inv.contact.local_display_name, "alice");
    assert_eq!(inv.call_ts, at(555));
    assert!(inv.shared_key.is_some());
    let uuid = inv.call_uuid.as_str();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4", "a version 4 UUID: {uuid}");
    assert_eq!(uuid, uuid.to_lowercase());
    assert_eq!(inv.call_uuid, p.bob.call(PEER).expect("call").call_uuid);
}
