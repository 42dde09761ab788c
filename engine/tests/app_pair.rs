//! The iOS app layer on two phones in memory ([`Pair`]), item by item of the errata A1-A16 in
//! `simplex-calls.md`, each checked against SimpleX master 6bb1da9e (`apps/ios/Shared/...`;
//! the file and function are named on each test).

use callsim_engine::app::AppCallState;
use callsim_engine::ids::{ActionId, CallUuid};
use callsim_engine::io::callkit::{CallKitCommand, CallKitError, CallKitEvent};
use callsim_engine::io::webrtc::{
    ConnectionState, IceConnectionState, WebRtcCommand, WebRtcResponse,
};
use callsim_engine::io::{Input, LifecycleEvent, MessageKind, Output, PhoneConfig, UserAction};
use callsim_engine::pair::{ALICE, BOB, Pair, Platform};
use callsim_engine::protocol::{CallMediaType, Timestamp};

fn pair() -> Pair {
    Pair::new(PhoneConfig::new("Alice", 1), PhoneConfig::new("Bob", 2))
}

fn start_call(p: &mut Pair, media: CallMediaType) {
    let contact_id = p.contact(BOB);
    p.user(ALICE, UserAction::StartCall { contact_id, media });
}

fn answer(p: &mut Pair, who: usize) -> ActionId {
    let uuid = p.callkit_ringing(who).expect("CallKit rings");
    p.callkit_action(who, |action| CallKitEvent::PerformAnswer { action, uuid })
}

fn sent_kinds(p: &Pair, who: usize) -> Vec<MessageKind> {
    p.sent(who)
        .iter()
        .map(|(_, kind)| *kind)
        .filter(|kind| *kind != MessageKind::Receipt)
        .collect()
}

fn state(p: &Pair, who: usize) -> Option<AppCallState> {
    p.phone(who).app().active_call().map(|c| c.state)
}

/// Bob's app is not running; Alice calls; the VoIP push wakes Bob and CallKit rings. Returns
/// when the push arrived.
fn ring_killed_bob(p: &mut Pair, chat_start_ms: u64) -> Timestamp {
    p.set_platform(BOB, Platform::Auto { chat_start_ms });
    p.input(BOB, Input::Lifecycle(LifecycleEvent::AppKilled));
    start_call(p, CallMediaType::Audio);
    for _ in 0..100 {
        p.advance(10);
        if p.callkit_ringing(BOB).is_some() {
            return p.now();
        }
    }
    panic!("Bob never rang: {:?}", p.outputs(BOB));
}

/// Errata A1: `CallController.provider(_:perform: CXAnswerCallAction)` waits in
/// `waitUntilChatStarted(timeoutMs: 30_000, stepMs: 500)`, which checks at 0, 0.5, ...,
/// 29.5 s and gives up after the sleep that reaches 30 s without checking again
/// (`apps/ios/Shared/Views/Call/CallController.swift`). A chat ready at 29.5 s is seen; one
/// ready at 29.95 s is not, and the action fails at 30 s.
#[test]
fn a1_the_answer_wait_checks_until_29_5_s_and_fails_at_30_s_without_a_last_check() {
    for (ready_after_answer, answered) in [(29_500, true), (29_950, false)] {
        let mut p = pair();
        // The chat starts `ready_after_answer` after the answer, which comes 100 ms after the
        // push that started the chat.
        let pushed = ring_killed_bob(&mut p, 100 + ready_after_answer);
        p.advance(100 - (p.now().0 - pushed.0));
        let answered_at = p.now();
        let action = answer(&mut p, BOB);
        p.advance(29_499);
        assert!(!sent_kinds(&p, BOB).contains(&MessageKind::CallOffer));
        assert_eq!(p.action_outcome(BOB, action), None, "still waiting");
        p.advance(1);
        let offered = sent_kinds(&p, BOB).contains(&MessageKind::CallOffer);
        assert_eq!(offered, answered, "the check at 29.5 s");
        if answered {
            p.advance(1_000);
            assert_eq!(state(&p, BOB), Some(AppCallState::Connected));
            assert!(p.action_outcome(BOB, action).is_some_and(|(_, ok)| ok));
        } else {
            p.advance(499);
            assert_eq!(p.action_outcome(BOB, action), None, "no check in between");
            p.advance(1);
            assert_eq!(
                p.action_outcome(BOB, action),
                Some((answered_at.add_ms(30_000), false)),
                "failed at 30 s, without looking at the chat ready since 29.95 s"
            );
            assert!(!sent_kinds(&p, BOB).contains(&MessageKind::CallOffer));
        }
    }
}

/// Errata A2: a remote end before the call connects reports the end to CallKit
/// (`reportCallRemoteEnded(call:)`, from `processReceivedMsg` `.callEnded`) but neither fulfils
/// nor fails the answer held for `fulfillOnConnect`; it is left to CallKit's own timeout, and
/// `provider(_:timedOutPerforming:)` then fulfils the timed-out action
/// (`CallController.swift`), which Apple's documentation says not to do.
#[test]
fn a2_a_remote_end_before_connecting_leaves_the_answer_to_callkits_timeout() {
    let mut p = pair();
    // Bob's offer never reaches Alice: nothing connects.
    p.hold(ALICE, MessageKind::CallOffer);
    start_call(&mut p, CallMediaType::Audio);
    p.advance(500);
    let action = answer(&mut p, BOB);
    p.advance(1_000);
    assert_eq!(state(&p, BOB), Some(AppCallState::OfferSent));
    p.user(ALICE, UserAction::EndCall);
    p.advance(1_000);
    assert!(sent_kinds(&p, ALICE).contains(&MessageKind::CallEnd));
    assert_eq!(state(&p, BOB), None, "Bob's call ended");
    let reported_end = p
        .outputs(BOB)
        .iter()
        .any(|(_, o)| matches!(o, Output::CallKit(CallKitCommand::ReportCallEnded { .. })));
    assert!(reported_end, "CallKit is told the peer ended");
    assert_eq!(
        p.action_outcome(BOB, action),
        None,
        "the answer is left open"
    );
    // CallKit gives up on it: SimpleX fulfils the timed-out action.
    p.input(
        BOB,
        Input::CallKit(CallKitEvent::TimedOutPerforming { action }),
    );
    assert!(p.action_outcome(BOB, action).is_some_and(|(_, ok)| ok));
}

fn model_uuid(p: &Pair, who: usize) -> Option<Option<CallUuid>> {
    p.phone(who)
        .app()
        .invitations()
        .next()
        .map(|i| i.call_uuid.clone())
}

fn reports(p: &Pair, who: usize) -> Vec<CallUuid> {
    p.outputs(who)
        .iter()
        .filter_map(|(_, o)| match o {
            Output::CallKit(CallKitCommand::ReportNewIncomingCall { uuid, .. }) => {
                Some(uuid.clone())
            }
            _ => None,
        })
        .collect()
}

/// Errata A6: when CallKit refuses a report, `activateCall`'s completion only clears the model
/// copy's `callUUID` (`SimpleXAPI.swift`, `activateCall`): nothing rings, no banner. The next
/// refresh (`refreshCallInvitations`, here the foreground activation of a suspended chat)
/// rebuilds the model from the core, whose invitation kept its UUID, and reports it again. A
/// refusal while CallKit does show the call (`callUUIDAlreadyExists`) leaves the model without
/// a UUID, so the caller's end never reaches CallKit (`reportCallRemoteEnded(invitation:)` needs
/// one) and CallKit rings on: a SimpleX bug, reproduced.
#[test]
fn a6_a_refused_report_clears_the_models_uuid_until_a_refresh_reports_it_again() {
    let mut p = pair();
    p.refuse_incoming_reports(BOB, Some(CallKitError::DuplicateUuid));
    start_call(&mut p, CallMediaType::Audio);
    p.advance(500);
    let uuid = p.phone(BOB).core().api_get_call_invitations()[0]
        .call_uuid
        .clone();
    assert_eq!(reports(&p, BOB), std::slice::from_ref(&uuid));
    assert_eq!(
        model_uuid(&p, BOB),
        Some(None),
        "the model copy lost its UUID"
    );
    assert_eq!(p.phone(BOB).app().incoming_view(), None, "no banner");
    assert!(!p.phone(BOB).app().incoming_ringing());

    // Background (the chat is suspended: no CallKit call) and back: the refresh reports the
    // core's invitation again, with its UUID, and CallKit takes it this time.
    p.refuse_incoming_reports(BOB, None);
    p.input(BOB, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    p.advance(1_000);
    p.input(BOB, Input::Lifecycle(LifecycleEvent::AppBecameActive));
    p.advance(1_000);
    assert_eq!(reports(&p, BOB), [uuid.clone(), uuid.clone()]);
    assert_eq!(p.callkit_ringing(BOB), Some(uuid.clone()));
    assert_eq!(model_uuid(&p, BOB), Some(Some(uuid.clone())));

    // Refused again (as a report of a call CallKit shows already is, `callUUIDAlreadyExists`)
    // with no refresh after it: the caller's end finds no UUID in the model, and CallKit is
    // not told, so a call it showed would ring on.
    let mut p = pair();
    p.refuse_incoming_reports(BOB, Some(CallKitError::DuplicateUuid));
    start_call(&mut p, CallMediaType::Audio);
    p.advance(500);
    assert_eq!(model_uuid(&p, BOB), Some(None));
    p.user(ALICE, UserAction::EndCall);
    p.advance(1_000);
    assert!(p.phone(BOB).core().api_get_call_invitations().is_empty());
    assert!(p.phone(BOB).app().invitations().next().is_none());
    let told = p
        .outputs(BOB)
        .iter()
        .any(|(_, o)| matches!(o, Output::CallKit(CallKitCommand::ReportCallEnded { .. })));
    assert!(
        !told,
        "reportCallRemoteEnded(invitation:) skips a missing UUID"
    );
}

fn china(name: &str, seed: u64) -> PhoneConfig {
    let mut config = PhoneConfig::new(name, seed);
    config.country = "CHN".into();
    config
}

fn suspends(p: &Pair, who: usize) -> bool {
    p.outputs(who).iter().any(|(_, o)| {
        matches!(
            o,
            Output::Lifecycle(callsim_engine::io::LifecycleCommand::SuspendChat)
        )
    })
}

/// Connects Alice's call to Bob: CallKit answer, or the in-app Accept without CallKit.
fn connect(p: &mut Pair, callkit: bool) {
    start_call(p, CallMediaType::Audio);
    p.advance(500);
    if callkit {
        answer(p, BOB);
    } else {
        let contact_id = p.contact(ALICE);
        p.user(BOB, UserAction::AcceptCall { contact_id });
    }
    p.advance(1_000);
    assert_eq!(state(p, ALICE), Some(AppCallState::Connected));
    assert_eq!(state(p, BOB), Some(AppCallState::Connected));
}

/// Errata A8: SimpleXApp's `.background` handler keeps the chat running only when
/// `CallController.useCallKit() && chatModel.activeCall != nil`; otherwise `suspendChat()`.
/// Coming back activates the chat (`startChatAndActivate` -> `apiActivateChat`), and the core's
/// `restoreCalls` keeps only pending received invitations (`Commands.hs`, `APIActivateChat`),
/// so the call in progress is gone from the core: ending it then fails with "no current call"
/// (logged) and no `x.call.end` goes out (`CallManager.endCall(call:)`, `apiEndCall`).
#[test]
fn a8_without_callkit_the_background_suspends_the_chat_and_its_call_is_dropped_on_return() {
    // With CallKit the chat keeps running through the background.
    let mut p = pair();
    connect(&mut p, true);
    p.input(BOB, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    p.advance(1_000);
    assert!(!suspends(&p, BOB));
    assert!(p.phone(BOB).app().chat_running());

    let mut p = Pair::new(china("Alice", 1), china("Bob", 2));
    connect(&mut p, false);
    p.input(BOB, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    p.advance(1_000);
    assert!(suspends(&p, BOB), "no CallKit: the chat is suspended");
    assert!(!p.phone(BOB).app().chat_running());
    assert_eq!(
        state(&p, BOB),
        Some(AppCallState::Connected),
        "the app keeps its call"
    );
    p.input(BOB, Input::Lifecycle(LifecycleEvent::AppBecameActive));
    p.advance(1_000);
    assert!(p.phone(BOB).app().chat_running());
    assert!(
        p.phone(BOB).core().call(p.contact(ALICE)).is_none(),
        "restoreCalls dropped it"
    );
    let refused = p.phone(BOB).stats().refused_commands;
    p.user(BOB, UserAction::EndCall);
    p.advance(1_000);
    assert_eq!(state(&p, BOB), None);
    assert_eq!(
        p.phone(BOB).stats().refused_commands,
        refused + 1,
        "apiEndCall refused"
    );
    assert!(
        !sent_kinds(&p, BOB).contains(&MessageKind::CallEnd),
        "no x.call.end"
    );
}

fn webrtc_commands(p: &Pair, who: usize) -> Vec<(Timestamp, WebRtcCommand)> {
    p.outputs(who)
        .iter()
        .filter_map(|(at, o)| match o {
            Output::WebRtc { command, .. } => Some((*at, command.clone())),
            _ => None,
        })
        .collect()
}

/// Errata A10 and A13, in glare: both call at once and each core's own call is replaced by the
/// peer's invitation, which CallKit rings beside Bob's outgoing call. Bob picks End & Accept:
/// CallKit ends his outgoing call and answers Alice's. The answer finds his call still active
/// (its end runs in a Task), so `CallManager.answerIncomingCall` waits 1 s before it starts.
/// The end's `apiEndCall` ended his core's one call with Alice, her invitation, so the offer
/// has no call to go on: `apiSendCallOffer` fails, which `ActiveCallView.processRtcMessage`
/// only logs, and the state moves on to `offerSent` all the same.
#[test]
fn a10_a13_an_answer_during_a_call_waits_1_s_and_a_refused_offer_still_moves_the_state_on() {
    let mut p = pair();
    start_call(&mut p, CallMediaType::Audio);
    let contact_id = p.contact(ALICE);
    p.user(
        BOB,
        UserAction::StartCall {
            contact_id,
            media: CallMediaType::Audio,
        },
    );
    p.advance(500);
    assert_eq!(state(&p, BOB), Some(AppCallState::InvitationSent));
    let uuid = p
        .callkit_ringing(BOB)
        .expect("Alice's invitation rings beside Bob's call");
    let own = p
        .outputs(BOB)
        .iter()
        .find_map(|(_, o)| match o {
            Output::CallKit(CallKitCommand::RequestStartCall { uuid, .. }) => Some(uuid.clone()),
            _ => None,
        })
        .expect("Bob's outgoing call");
    p.take_outputs(BOB);
    let answered_at = p.now();
    p.callkit_action(BOB, |action| CallKitEvent::PerformEnd { action, uuid: own });
    p.callkit_action(BOB, |action| CallKitEvent::PerformAnswer { action, uuid });
    p.advance(2_000);
    let starts: Vec<Timestamp> = webrtc_commands(&p, BOB)
        .into_iter()
        .filter(|(_, c)| matches!(c, WebRtcCommand::Start { .. }))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(starts, [answered_at.add_ms(1_000)], "start after 1 s");
    assert!(
        p.phone(BOB).stats().refused_commands >= 1,
        "apiSendCallOffer refused"
    );
    assert!(!sent_kinds(&p, BOB).contains(&MessageKind::CallOffer));
    assert_eq!(state(&p, BOB), Some(AppCallState::OfferSent));
}

/// Errata A12: the CallKit answer's wait for the chat is not cancelled by an end action: the
/// end fails (the push-started app's model has no invitation yet), and when the chat is ready
/// the answer goes ahead through `justRefreshCallInvitations` and connects
/// (`CallController.provider(_:perform: CXAnswerCallAction/CXEndCallAction)`).
#[test]
fn a12_an_end_during_the_answer_wait_fails_and_the_answer_still_goes_ahead() {
    let mut p = pair();
    ring_killed_bob(&mut p, 10_000);
    let uuid = p.callkit_ringing(BOB).expect("rings");
    let answer_action = answer(&mut p, BOB);
    p.advance(1_000);
    let end = p.callkit_action(BOB, |action| CallKitEvent::PerformEnd {
        action,
        uuid: uuid.clone(),
    });
    assert_eq!(p.action_outcome(BOB, end).map(|(_, ok)| ok), Some(false));
    p.advance(10_000);
    assert!(
        sent_kinds(&p, BOB).contains(&MessageKind::CallOffer),
        "answered"
    );
    assert_eq!(state(&p, BOB), Some(AppCallState::Connected));
    assert_eq!(
        p.action_outcome(BOB, answer_action).map(|(_, ok)| ok),
        Some(true)
    );
}

fn ice(p: &mut Pair, who: usize, state: IceConnectionState) {
    let client = p
        .outputs(who)
        .iter()
        .rev()
        .find_map(|(_, o)| match o {
            Output::WebRtc { client, .. } => Some(*client),
            _ => None,
        })
        .expect("a client");
    let response = WebRtcResponse::Connection {
        state: ConnectionState::ice(state),
    };
    p.input(who, Input::WebRtc { client, response });
}

fn item(p: &Pair, who: usize, peer: usize) -> String {
    p.phone(who)
        .core()
        .last_call_item(p.contact(peer))
        .map(|i| i.to_string())
        .unwrap_or_default()
}

/// Errata A15: the native client reports ICE connection states only; `completed` does nothing
/// in `ActiveCallView.processRtcMessage`, and `apiCallStatus` passes only `connected`,
/// `disconnected` and `failed` on to the core (`SimpleXAPI.swift`, `apiCallStatus`). A
/// `disconnected` ends the call item, and the client's close that follows ends the call.
#[test]
fn a15_only_connected_disconnected_and_failed_reach_the_core() {
    let mut p = Pair::new(china("Alice", 1), china("Bob", 2));
    connect(&mut p, false);
    p.advance(10_000);
    for state in [IceConnectionState::Completed, IceConnectionState::Checking] {
        ice(&mut p, BOB, state);
        assert_eq!(item(&p, BOB, ALICE), "incoming call: in progress (00:00)");
        assert_eq!(self::state(&p, BOB), Some(AppCallState::Connected));
    }
    ice(&mut p, BOB, IceConnectionState::Disconnected);
    assert_eq!(item(&p, BOB, ALICE), "incoming call: ended (00:10)");
    assert_eq!(
        state(&p, BOB),
        Some(AppCallState::Connected),
        "until the close"
    );
    ice(&mut p, BOB, IceConnectionState::Closed);
    assert_eq!(state(&p, BOB), None);
    p.advance(100);
    assert!(
        sent_kinds(&p, BOB).contains(&MessageKind::CallEnd),
        "no CallKit: x.call.end"
    );
}

/// Errata A16: the caller's `offer` command takes its media from the offer's call type (the
/// `.callOffer` event's `callType.media`, `processReceivedMsg` in `SimpleXAPI.swift`), not from
/// the call it started: an offer of video to an audio call is applied as video.
#[test]
fn a16_the_offer_command_takes_the_media_of_the_offers_call_type() {
    use callsim_engine::protocol::{
        CallCapabilities, CallEvent, CallOffer, CallType, ChatMessage, WebRTCSession,
    };
    let mut p = pair();
    p.hold(BOB, MessageKind::CallInvitation);
    start_call(&mut p, CallMediaType::Audio);
    p.advance(500);
    let call_id = p
        .phone(ALICE)
        .core()
        .call(p.contact(BOB))
        .expect("Alice's call")
        .call_id
        .clone();
    let offer = ChatMessage::new(CallEvent::Offer {
        call_id,
        offer: CallOffer {
            call_type: CallType {
                media: CallMediaType::Video,
                capabilities: CallCapabilities { encryption: false },
            },
            rtc_session: WebRTCSession {
                rtc_session: "offer".into(),
                rtc_ice_candidates: "[]".into(),
            },
            call_dh_pub_key: None,
            call_version: None,
        },
    });
    let body = offer.to_json().expect("encodes");
    p.input(
        ALICE,
        Input::Message {
            contact_id: p.contact(BOB),
            broker_ts: p.now(),
            msg_id: 1_000,
            body,
        },
    );
    p.advance(100);
    let media: Vec<CallMediaType> = webrtc_commands(&p, ALICE)
        .into_iter()
        .filter_map(|(_, c)| match c {
            WebRtcCommand::Offer { media, .. } => Some(media),
            _ => None,
        })
        .collect();
    assert_eq!(media, [CallMediaType::Video]);
}
