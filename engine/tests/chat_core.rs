//! The chat-core call layer, row by row against spec §2.2-2.6, and the §6.2 test script.

use callsim_engine::Error;
use callsim_engine::chat::{
    CallState, CallStateTag, ChatConfig, ChatCore, Contact, CoreEvent, CoreOutput,
    call_status_item_content,
};
use callsim_engine::protocol::{
    CICallStatus, CallEvent, CallId, CallMediaType, CallType, ChatMessage, Timestamp, UserRef,
    VersionRange, WebRTCCallOffer, WebRTCCallStatus, WebRTCExtraInfo, WebRTCSession,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Each side's contact id for the other.
const PEER: i64 = 2;

fn core(name: &str, call_versions: Option<VersionRange>) -> ChatCore {
    let mut core = ChatCore::new(ChatConfig {
        user: UserRef {
            user_id: 1,
            local_display_name: name.into(),
        },
        chat_version: callsim_engine::chat::CHAT_VERSION_RANGE,
        call_versions,
        send_receipts: false,
    });
    let peer = if name == "alice" { "bob" } else { "alice" };
    core.add_contact(
        PEER,
        Contact {
            name: peer.into(),
            calls_allowed: true,
        },
    );
    core
}

fn at(secs: u64) -> Timestamp {
    Timestamp(secs * 1000)
}

fn drain(core: &mut ChatCore) -> Vec<CoreOutput> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

fn sent(outputs: &[CoreOutput]) -> Vec<(&ChatMessage, bool)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            CoreOutput::Send {
                message, notify, ..
            } => Some((message, *notify)),
            CoreOutput::Event(_) | CoreOutput::SendReceipt { .. } => None,
        })
        .collect()
}

fn events(outputs: &[CoreOutput]) -> Vec<&CoreEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            CoreOutput::Event(e) => Some(e),
            CoreOutput::Send { .. } | CoreOutput::SendReceipt { .. } => None,
        })
        .collect()
}

fn message_errors(outputs: &[CoreOutput]) -> Vec<String> {
    events(outputs)
        .into_iter()
        .filter_map(|e| match e {
            CoreEvent::MessageError { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn item_text(core: &ChatCore) -> String {
    core.last_call_item(PEER)
        .map(|i| i.to_string())
        .unwrap_or_default()
}

fn state(core: &ChatCore) -> Option<CallStateTag> {
    core.call(PEER).map(|c| c.state.tag())
}

fn session(tag: &str) -> WebRTCSession {
    WebRTCSession {
        rtc_session: format!("{tag}-sdp"),
        rtc_ice_candidates: format!("{tag}-ice"),
    }
}

fn video(encrypted: bool) -> CallType {
    CallType::new(CallMediaType::Video, encrypted)
}

/// Two cores and the messages between them, each sent through its wire JSON.
struct Pair {
    alice: ChatCore,
    bob: ChatCore,
    rng: ChaCha8Rng,
    now: Timestamp,
}

impl Pair {
    fn new() -> Self {
        Pair::with_versions(None, None)
    }

    fn with_versions(a: Option<VersionRange>, b: Option<VersionRange>) -> Self {
        Pair {
            alice: core("alice", a),
            bob: core("bob", b),
            rng: ChaCha8Rng::seed_from_u64(1),
            now: at(100),
        }
    }

    /// Delivers everything `from` sent to the other side; returns the receiver's outputs.
    fn deliver(&mut self, from_alice: bool) -> Vec<CoreOutput> {
        let (from, to) = if from_alice {
            (&mut self.alice, &mut self.bob)
        } else {
            (&mut self.bob, &mut self.alice)
        };
        for output in drain(from) {
            if let CoreOutput::Send { message, .. } = output {
                let wire = message.to_json().expect("encodes");
                let message = ChatMessage::from_json(wire.as_bytes()).expect("decodes");
                to.handle_message(self.now, &mut self.rng, PEER, self.now, message);
            }
        }
        drain(to)
    }

    fn invite(&mut self, call_type: CallType) {
        let (now, rng) = (self.now, &mut self.rng);
        self.alice
            .api_send_call_invitation(now, rng, PEER, call_type)
            .expect("invites");
        self.deliver(true);
    }

    fn offer(&mut self, call_type: CallType) {
        let offer = WebRTCCallOffer {
            call_type,
            rtc_session: session("offer"),
        };
        let (now, rng) = (self.now, &mut self.rng);
        self.bob
            .api_send_call_offer(now, rng, PEER, offer)
            .expect("offers");
        self.deliver(false);
    }

    fn answer(&mut self) {
        let (now, rng) = (self.now, &mut self.rng);
        self.alice
            .api_send_call_answer(now, rng, PEER, session("answer"))
            .expect("answers");
        self.deliver(true);
    }
}

// ---- §2.3: API commands ----

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

// ---- §2.4: received messages ----

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

// ---- §2.5: callStatusItemContent ----

#[test]
fn call_status_item_content_follows_every_row_of_the_table() {
    use CICallStatus::*;
    use WebRTCCallStatus::*;
    let statuses = [
        Pending, Missed, Rejected, Accepted, Negotiated, Progress, Ended, Error,
    ];
    // (current, reported) -> expected, written out cell by cell from spec §2.5.
    let expected = |current, reported| match (current, reported) {
        (Progress, Connected) => None,                          // row 1
        (Progress, Disconnected | Failed) => Some((Ended, 42)), // row 2
        (Pending, Disconnected) => Some((Missed, 0)),           // row 3
        (Ended | Error, _) => None,                             // row 4
        (_, Connecting) => Some((Negotiated, 0)),               // row 5
        (_, Connected) => Some((Progress, 0)),                  // row 6
        (_, Disconnected) => Some((Ended, 0)),                  // row 7
        (_, Failed) => Some((Error, 0)),                        // row 8
    };
    let mut cells = 0;
    for current in statuses {
        for reported in [Connecting, Connected, Disconnected, Failed] {
            assert_eq!(
                call_status_item_content(current, reported, 42),
                expected(current, reported),
                "{current:?} + {reported:?}"
            );
            cells += 1;
        }
    }
    assert_eq!(cells, 32);
    // Spot checks that pin the table's order, independent of the closure above.
    assert_eq!(
        call_status_item_content(Pending, Connecting, 9),
        Some((Negotiated, 0))
    );
    assert_eq!(
        call_status_item_content(Missed, Connected, 9),
        Some((Progress, 0))
    );
    assert_eq!(
        call_status_item_content(Rejected, Disconnected, 9),
        Some((Ended, 0))
    );
    assert_eq!(
        call_status_item_content(Progress, Failed, 75),
        Some((Ended, 75))
    );
    assert_eq!(call_status_item_content(Error, Connected, 9), None);
}

// ---- §2.2: persistence ----

#[test]
fn only_received_invitations_survive_a_restart() {
    let mut p = Pair::new();
    p.invite(video(true));
    let before = p.bob.api_get_call_invitations();
    p.bob.restart();
    assert_eq!(
        p.bob.api_get_call_invitations(),
        before,
        "the invitation survives"
    );
    p.alice.restart();
    assert_eq!(state(&p.alice), None, "the outgoing call is lost");
    assert_eq!(
        item_text(&p.alice),
        "outgoing call: calling...",
        "items survive, unchanged"
    );
}

#[test]
fn a_restart_drops_a_negotiation_on_either_side() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.offer(video(true));
    p.bob.restart();
    assert_eq!(state(&p.bob), None, "offerSent is memory only");
    p.alice
        .api_send_call_answer(p.now, &mut p.rng, PEER, session("answer"))
        .expect("answers");
    let out = p.deliver(true);
    assert_eq!(message_errors(&out), ["x.call.answer: no current call"]);
}

#[test]
fn the_offer_after_a_caller_restart_is_a_message_error() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.alice.restart();
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: session("offer"),
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    let out = p.deliver(false);
    assert_eq!(message_errors(&out), ["x.call.offer: no current call"]);
}

// ---- §2.6: key exchange and media key versions ----

#[test]
fn both_sides_agree_on_a_v1_key_without_versions_and_a_v2_key_with_them() {
    let v12 = VersionRange::new(1, 2);
    let mut keys = Vec::new();
    for (a, b) in [(None, None), (v12, None), (v12, v12)] {
        let mut p = Pair::with_versions(a, b);
        p.invite(video(true));
        p.offer(video(true));
        let alice_key = p.alice.call(PEER).expect("call").state.shared_key();
        let bob_key = p.bob.call(PEER).expect("call").state.shared_key();
        assert!(alice_key.is_some());
        assert_eq!(alice_key, bob_key, "{a:?} {b:?}");
        keys.push(alice_key);
    }
    // The same seeds give the same DH secret, so v1 keys match and the v2 key differs.
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);
}

// ---- §6.2: the testNegotiateCall script ----

#[test]
fn the_test_negotiate_call_script_shows_simplexs_item_texts_at_every_step() {
    let mut p = Pair::new();
    p.alice
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("invites");
    assert_eq!(item_text(&p.alice), "outgoing call: calling...");
    p.deliver(true);
    assert_eq!(item_text(&p.bob), "incoming call: calling...");
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: WebRTCSession {
            rtc_session: "{}".into(),
            rtc_ice_candidates: "[]".into(),
        },
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    assert_eq!(item_text(&p.bob), "incoming call: accepted");
    p.deliver(false);
    assert_eq!(item_text(&p.alice), "outgoing call: accepted");
    p.answer();
    assert_eq!(item_text(&p.alice), "outgoing call: connecting...");
    assert_eq!(item_text(&p.bob), "incoming call: connecting...");
    p.alice
        .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
        .expect("ok");
    assert_eq!(item_text(&p.alice), "outgoing call: in progress (00:00)");
    p.bob
        .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
        .expect("ok");
    assert_eq!(item_text(&p.bob), "incoming call: in progress (00:00)");
    p.bob.api_end_call(p.now, &mut p.rng, PEER).expect("ends");
    assert_eq!(item_text(&p.bob), "incoming call: ended (00:00)");
    p.deliver(false);
    assert_eq!(item_text(&p.alice), "outgoing call: ended (00:00)");
    assert_eq!((state(&p.alice), state(&p.bob)), (None, None));
    // Every call left exactly one call item on each side.
    assert_eq!(p.alice.items(PEER).count(), 1);
    assert_eq!(p.bob.items(PEER).count(), 1);
}

#[test]
fn glare_leaves_each_side_with_the_peers_invitation_and_both_old_items_missed() {
    // Spec §2.7 / race 5: both invite at once; each invitation overwrites the receiver's own.
    let mut p = Pair::new();
    p.alice
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("alice");
    p.bob
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("bob");
    let alice_out: Vec<_> = drain(&mut p.alice);
    let bob_out: Vec<_> = drain(&mut p.bob);
    for (to, out) in [(&mut p.bob, alice_out), (&mut p.alice, bob_out)] {
        for o in out {
            if let CoreOutput::Send { message, .. } = o {
                to.handle_message(p.now, &mut p.rng, PEER, p.now, message);
            }
        }
    }
    assert_eq!(state(&p.alice), Some(CallStateTag::InvitationReceived));
    assert_eq!(state(&p.bob), Some(CallStateTag::InvitationReceived));
    for side in [&p.alice, &p.bob] {
        let texts: Vec<_> = side.items(PEER).map(|i| i.content.to_string()).collect();
        assert_eq!(
            texts,
            ["outgoing call: missed", "incoming call: calling..."]
        );
    }
    // If Bob now accepts Alice's invitation, his offer carries Alice's call id, while Alice
    // holds Bob's call: the call id check comes before the state check, so that is the error.
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: session("offer"),
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    let out = p.deliver(false);
    assert_eq!(
        message_errors(&out),
        ["x.call.offer: wrong contact or callId"]
    );
    assert_eq!(state(&p.alice), Some(CallStateTag::InvitationReceived));
}

// ---- errata W2-W4, W7, W9: what the core does, checked against SimpleX master 6bb1da9e ----

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
