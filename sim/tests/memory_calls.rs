//! Two phones in the in-memory world: the call flows of spec §3, asserted on both phones.

use callsim_engine::app::AppCallState;
use callsim_engine::io::audio::AudioDevice;
use callsim_engine::io::{PhoneConfig, UserAction};
use callsim_engine::protocol::CallMediaType::{Audio, Video};
use callsim_mocks::callkit::ActionOutcome;
use callsim_mocks::webrtc::RtcTiming;
use callsim_sim::memory::{MemoryWorld, Timing, WebRtcModel};
use callsim_sim::{PhoneId, World};

const ALICE: PhoneId = PhoneId(0);
const BOB: PhoneId = PhoneId(1);

fn world_with(alice: PhoneConfig, bob: PhoneConfig) -> MemoryWorld {
    let mut w = MemoryWorld::new(Timing::default());
    w.record_trace();
    assert_eq!(w.add_phone(alice), ALICE);
    assert_eq!(w.add_phone(bob), BOB);
    w.connect(ALICE, BOB);
    w.run_for(1);
    w
}

fn world() -> MemoryWorld {
    world_with(PhoneConfig::new("Alice", 1), PhoneConfig::new("Bob", 2))
}

fn china(name: &str, seed: u64) -> PhoneConfig {
    let mut config = PhoneConfig::new(name, seed);
    config.country = "CHN".into();
    config
}

fn dump(w: &MemoryWorld) -> String {
    w.trace_lines().join("\n")
}

/// Runs until Bob's phone rings, at most 5 s.
fn until_ringing(w: &mut MemoryWorld, id: PhoneId) {
    let rang = w.run_until(5_000, |w| w.ringing(id));
    assert!(rang, "{} never rang:\n{}", w.name(id), dump(w));
}

fn until_connected(w: &mut MemoryWorld) {
    let ok = w.run_until(10_000, |w| w.connected(ALICE, BOB));
    assert!(ok, "not connected:\n{}", dump(w));
}

/// Bob taps Accept on the in-app incoming view.
fn accept_in_app(w: &mut MemoryWorld) {
    w.user(
        BOB,
        UserAction::AcceptCall {
            contact_id: ALICE.contact(),
        },
    );
}

/// Alice calls Bob, Bob accepts in the app as soon as it rings, and the call connects.
fn app_call(w: &mut MemoryWorld, media: callsim_engine::protocol::CallMediaType) {
    w.start_call(ALICE, BOB, media);
    until_ringing(w, BOB);
    accept_in_app(w);
    until_connected(w);
}

/// The last call item in Alice's chat with Bob, and in Bob's chat with Alice.
fn assert_items(w: &MemoryWorld, alice: &str, bob: &str) {
    let items = (w.call_item(ALICE, BOB), w.call_item(BOB, ALICE));
    assert_eq!(items, (Some(alice.into()), Some(bob.into())), "{}", dump(w));
}

/// Alice calls Bob, Bob answers on CallKit as soon as it rings, and the call connects.
fn callkit_call(w: &mut MemoryWorld, media: callsim_engine::protocol::CallMediaType) {
    w.start_call(ALICE, BOB, media);
    until_ringing(w, BOB);
    assert!(w.callkit_answer(BOB));
    until_connected(w);
}

#[test]
fn an_audio_call_connects_through_callkit_and_ends_with_items_on_both_phones() {
    let mut w = world();
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    assert_eq!(w.call_state(ALICE), Some(AppCallState::InvitationSent));
    let (_, incoming) = w.callkit(BOB).ringing().expect("CallKit rings");
    assert!(!incoming.video);
    assert_eq!(incoming.handle, "Alice");
    assert!(w.callkit_answer(BOB));
    until_connected(&mut w);
    // fulfil-on-connect: the answer action is fulfilled, and CallKit turned the audio on.
    let answer = w.callkit(BOB).last_answer().expect("answer action");
    assert!(matches!(answer.outcome, ActionOutcome::Fulfilled(_)));
    assert!(w.audio(BOB).active());
    assert!(w.audio(ALICE).active());
    assert_eq!(w.audio(BOB).route(), Some(AudioDevice::Earpiece));
    assert!(w.same_media_key(ALICE, BOB), "encrypted with one key");

    w.run_for(30_000);
    w.user(ALICE, UserAction::EndCall);
    w.run_for(2_000);
    assert_eq!(w.call_state(ALICE), None);
    assert_eq!(w.call_state(BOB), None, "{}", dump(&w));
    assert_items(
        &w,
        "outgoing call: ended (00:30)",
        "incoming call: ended (00:30)",
    );
    for id in [ALICE, BOB] {
        assert!(!w.audio(id).active(), "{} audio still active", w.name(id));
        assert_eq!(w.callkit(id).live_calls(), 0);
        assert_eq!(w.callkit(id).open_actions().count(), 0);
        assert!(!w.sound(id).ringtone());
    }
}

#[test]
fn a_video_call_connects_in_the_app_without_callkit_and_uses_the_speaker() {
    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    w.start_call(ALICE, BOB, Video);
    until_ringing(&mut w, BOB);
    assert_eq!(w.phone(BOB).app().incoming_view(), Some(ALICE.contact()));
    assert!(w.sound(BOB).ringtone());
    assert_eq!(
        w.callkit(BOB).calls().len(),
        0,
        "China mode never touches CallKit"
    );
    accept_in_app(&mut w);
    assert!(!w.sound(BOB).ringtone());
    until_connected(&mut w);
    assert_eq!(w.audio(ALICE).route(), Some(AudioDevice::Speaker));
    assert_eq!(w.audio(BOB).route(), Some(AudioDevice::Speaker));
    w.run_for(5_000);
    w.user(BOB, UserAction::EndCall);
    w.run_for(1_000);
    assert_items(
        &w,
        "outgoing call: ended (00:05)",
        "incoming call: ended (00:05)",
    );
    assert!(!w.audio(ALICE).active() && !w.audio(BOB).active());
    assert_eq!(
        w.callkit(ALICE).calls().len() + w.callkit(BOB).calls().len(),
        0
    );
}

#[test]
fn video_through_callkit_and_audio_in_the_app_connect_too() {
    let mut w = world();
    w.start_call(ALICE, BOB, Video);
    until_ringing(&mut w, BOB);
    assert!(w.callkit(BOB).ringing().expect("CallKit").1.video);
    w.callkit_answer(BOB);
    until_connected(&mut w);
    assert_eq!(
        w.audio(BOB).route(),
        Some(AudioDevice::Speaker),
        "video starts on speaker"
    );

    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    app_call(&mut w, Audio);
    assert_eq!(w.audio(BOB).route(), Some(AudioDevice::Earpiece));
}

#[test]
fn declining_through_callkit_rejects_silently_and_the_caller_keeps_waiting() {
    let mut w = world();
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    assert!(w.callkit_end(BOB));
    w.run_for(60_000);
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: rejected")
    );
    assert!(!w.has_invitation(BOB, ALICE));
    assert!(!w.ringing(BOB));
    // The caller is never told.
    assert_eq!(w.call_state(ALICE), Some(AppCallState::InvitationSent));
    assert_eq!(
        w.call_item(ALICE, BOB).as_deref(),
        Some("outgoing call: calling...")
    );
    assert_eq!(w.relay_queue(BOB, ALICE), vec![], "Bob sent nothing");
    assert!(w.callkit(BOB).open_actions().next().is_none());
}

#[test]
fn rejecting_in_the_app_is_silent_too() {
    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.user(
        BOB,
        UserAction::RejectCall {
            contact_id: ALICE.contact(),
        },
    );
    w.run_for(10_000);
    assert!(!w.ringing(BOB) && !w.sound(BOB).ringtone());
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: rejected")
    );
    assert_eq!(w.call_state(ALICE), Some(AppCallState::InvitationSent));
}

#[test]
fn ignoring_hides_the_banner_and_keeps_the_invitation_pending() {
    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    w.start_call(ALICE, BOB, Video);
    until_ringing(&mut w, BOB);
    w.user(
        BOB,
        UserAction::IgnoreCall {
            contact_id: ALICE.contact(),
        },
    );
    w.run_for(10_000);
    assert!(!w.ringing(BOB) && !w.sound(BOB).ringtone());
    assert!(w.has_invitation(BOB, ALICE));
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: calling...")
    );
    // It can still be accepted later, from the chat item.
    accept_in_app(&mut w);
    until_connected(&mut w);
}

#[test]
fn the_caller_ending_before_the_answer_leaves_missed_calls_on_both_sides() {
    let mut w = world();
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.run_for(3_000);
    w.user(ALICE, UserAction::EndCall);
    w.run_for(2_000);
    assert_items(&w, "outgoing call: missed", "incoming call: missed");
    assert!(!w.ringing(BOB), "CallKit was told the caller hung up");
    assert!(!w.has_invitation(BOB, ALICE));
    assert_eq!((w.call_state(ALICE), w.call_state(BOB)), (None, None));
}

#[test]
fn a_caller_whose_peer_never_answers_waits_until_it_ends_the_call() {
    let mut w = world();
    w.start_call(ALICE, BOB, Audio);
    w.run_for(600_000);
    assert_eq!(
        w.call_state(ALICE),
        Some(AppCallState::InvitationSent),
        "no ring timeout"
    );
    w.user(ALICE, UserAction::EndCall);
    w.run_for(1_000);
    assert_eq!(
        w.call_item(ALICE, BOB).as_deref(),
        Some("outgoing call: missed")
    );
}

/// Bob's app is suspended; his chat takes `start_ms` to start after the push; he answers on
/// CallKit 100 ms after it rings.
fn callkit_answer_with_slow_chat(start_ms: u64) -> MemoryWorld {
    let mut w = world();
    w.suspend(BOB);
    w.set_chat_start_delay(BOB, start_ms);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.run_for(100);
    assert!(w.callkit_answer(BOB));
    w
}

#[test]
fn a_callkit_answer_waits_for_a_chat_that_starts_at_29_seconds_and_connects() {
    let mut w = callkit_answer_with_slow_chat(29_000);
    assert!(w.phone(BOB).app().answer_pending(), "{}", dump(&w));
    w.run_for(28_000);
    assert!(!w.connected(ALICE, BOB));
    until_connected(&mut w);
    let answer = w.callkit(BOB).last_answer().expect("answer");
    let ActionOutcome::Fulfilled(at) = answer.outcome else {
        panic!("{answer:?}")
    };
    assert!(
        at.ms_since(answer.performed_at) < 30_500,
        "{at} after {}",
        answer.performed_at
    );
}

#[test]
fn a_callkit_answer_fails_at_30_seconds_when_the_chat_starts_at_31_and_the_invitation_stays() {
    let mut w = callkit_answer_with_slow_chat(31_000);
    let performed = w.callkit(BOB).last_answer().expect("answer").performed_at;
    w.run_for(29_900);
    assert_eq!(
        w.callkit(BOB).last_answer().expect("answer").outcome,
        ActionOutcome::Open
    );
    w.run_for(200);
    let outcome = w.callkit(BOB).last_answer().expect("answer").outcome;
    assert_eq!(
        outcome,
        ActionOutcome::Failed(performed.add_ms(30_000)),
        "{}",
        dump(&w)
    );
    w.run_for(10_000);
    assert!(w.phone(BOB).app().chat_running());
    assert!(
        w.has_invitation(BOB, ALICE),
        "the core's invitation stays pending"
    );
    assert!(!w.connected(ALICE, BOB));
    assert_eq!(
        w.call_state(ALICE),
        Some(AppCallState::InvitationSent),
        "Alice is not told"
    );
}

#[test]
fn an_answer_that_finds_no_invitation_refreshes_and_finds_it() {
    // The push started the chat in the background: the app's model has no invitation yet.
    let mut w = world();
    w.suspend(BOB);
    w.set_chat_start_delay(BOB, 2_000);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.run_for(2_500);
    assert!(w.phone(BOB).app().chat_running());
    assert!(w.has_invitation(BOB, ALICE), "the core has it");
    assert_eq!(
        w.phone(BOB).app().invitations().count(),
        0,
        "the app's model does not"
    );
    assert!(w.callkit_answer(BOB));
    until_connected(&mut w);
}

/// Glare (spec §2.7, docs/findings.md): each core's own outgoing call is replaced by the
/// peer's invitation, which CallKit rings beside the app's outgoing call (End & Accept).
/// Answering ends "the active call" first: `apiEndCall` then ends the core's one call with the
/// peer, which is the peer's invitation, so `x.call.end` goes out with the peer's call id and
/// the invitation being answered is gone; the offer is refused by the core (logged, errata
/// A10). Nobody connects.
#[test]
fn glare_overwrites_both_calls_and_neither_connects() {
    let mut w = world();
    w.start_call(ALICE, BOB, Audio);
    w.start_call(BOB, ALICE, Audio);
    w.run_for(2_000);
    for (me, peer) in [(ALICE, BOB), (BOB, ALICE)] {
        assert!(w.has_invitation(me, peer), "{}", w.name(me));
        let items: Vec<_> = w
            .phone(me)
            .core()
            .items(peer.contact())
            .map(|i| i.content.to_string())
            .collect();
        assert_eq!(
            items,
            ["outgoing call: missed", "incoming call: calling..."]
        );
        assert!(w.callkit(me).ringing().is_some(), "the peer's call rings");
        assert_eq!(w.call_state(me), Some(AppCallState::InvitationSent));
    }
    assert!(w.callkit_answer(BOB));
    w.run_for(10_000);
    assert!(!w.connected(ALICE, BOB));
    assert!(
        !w.has_invitation(BOB, ALICE),
        "Bob's end of his own call ended the invitation he answered"
    );
    assert_eq!(
        w.phone(ALICE).stats().message_errors,
        1,
        "x.call.end: wrong contact or callId"
    );
    assert!(
        w.phone(BOB).stats().refused_commands >= 1,
        "apiSendCallOffer: no current call"
    );
    assert!(
        w.has_invitation(ALICE, BOB),
        "Alice still holds Bob's invitation"
    );
}

#[test]
fn an_extra_before_the_offer_is_dropped_and_the_call_connects_on_the_first_candidates() {
    let mut w = world();
    w.hold(ALICE, callsim_engine::io::MessageKind::CallOffer);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.callkit_answer(BOB);
    // Bob's trickled candidates overtake his held offer.
    w.run_for(3_000);
    assert_eq!(w.call_state(ALICE), Some(AppCallState::InvitationSent));
    assert_eq!(
        w.phone(ALICE).stats().message_errors,
        1,
        "x.call.extra: wrong call state"
    );
    w.release(ALICE);
    until_connected(&mut w);
}

#[test]
fn candidates_racing_the_callers_answer_are_refused_and_the_call_still_connects() {
    // Race 3: the caller's WebRTC trickles before its answer reaches the core.
    let mut w = MemoryWorld::new(Timing {
        webrtc: WebRtcModel::Scripted(RtcTiming {
            gather: 100,
            trickle: Some(50),
            ..RtcTiming::default()
        }),
        ..Timing::default()
    });
    w.add_phone(PhoneConfig::new("Alice", 1));
    w.add_phone(PhoneConfig::new("Bob", 2));
    w.connect(ALICE, BOB);
    w.run_for(1);
    callkit_call(&mut w, Audio);
    assert!(w.phone(ALICE).stats().refused_commands >= 1);
}

/// Errata A5: CallKit rings a second incoming call during a call (one call group: End &
/// Accept); answering ends the first call, which tells its peer, then answers the second
/// (`CallController` `CXEndCallAction`, `CXAnswerCallAction`; no "too many calls" error).
#[test]
fn a_second_call_during_a_call_rings_on_callkit_and_end_and_accept_ends_the_first() {
    let mut w = MemoryWorld::new(Timing::default());
    w.record_trace();
    let alice = w.add_phone(PhoneConfig::new("Alice", 1));
    let bob = w.add_phone(PhoneConfig::new("Bob", 2));
    let carol = w.add_phone(PhoneConfig::new("Carol", 3));
    w.connect(alice, bob);
    w.connect(carol, bob);
    w.run_for(1);
    w.start_call(alice, bob, Audio);
    until_ringing(&mut w, bob);
    w.callkit_answer(bob);
    assert!(w.run_until(5_000, |w| w.connected(alice, bob)));
    w.start_call(carol, bob, Audio);
    assert!(w.run_until(5_000, |w| w.callkit(bob).ringing().is_some()));
    assert!(w.connected(alice, bob), "the first call goes on");
    assert!(w.callkit_answer(bob), "End & Accept");
    w.run_for(500);
    assert_eq!(
        w.call_state(alice),
        None,
        "Alice got x.call.end:\n{}",
        dump(&w)
    );
    assert_eq!(
        w.call_item(alice, bob).as_deref(),
        Some("outgoing call: ended (00:00)")
    );
    assert!(
        w.run_until(5_000, |w| w.connected(carol, bob)),
        "{}",
        dump(&w)
    );
}

/// Errata A13: without CallKit the second call's banner shows without its ringtone while the
/// call view shows; Accept ends the first call directly and answers at once (the 1 s delay of
/// `answerIncomingCall` applies only while a call is still active).
#[test]
fn a_second_call_during_a_call_shows_a_silent_banner_and_accept_ends_the_first() {
    let mut w = MemoryWorld::new(Timing::default());
    w.record_trace();
    let alice = w.add_phone(china("Alice", 1));
    let bob = w.add_phone(china("Bob", 2));
    let carol = w.add_phone(china("Carol", 3));
    w.connect(alice, bob);
    w.connect(carol, bob);
    w.run_for(1);
    w.start_call(alice, bob, Audio);
    until_ringing(&mut w, bob);
    w.user(
        bob,
        UserAction::AcceptCall {
            contact_id: alice.contact(),
        },
    );
    assert!(w.run_until(5_000, |w| w.connected(alice, bob)));
    w.start_call(carol, bob, Audio);
    assert!(w.run_until(5_000, |w| w.phone(bob).app().incoming_view()
        == Some(carol.contact())));
    assert!(!w.sound(bob).ringtone(), "no ringtone over the call view");
    assert!(!w.ringing(bob));
    w.user(
        bob,
        UserAction::AcceptCall {
            contact_id: carol.contact(),
        },
    );
    w.run_for(1);
    assert_eq!(
        w.phone(bob).app().active_call().map(|c| c.contact_id),
        Some(carol.contact()),
        "answered at once"
    );
    w.run_for(500);
    assert_eq!(w.call_state(alice), None, "Alice got x.call.end");
    assert!(
        w.run_until(5_000, |w| w.connected(carol, bob)),
        "{}",
        dump(&w)
    );
}

/// Race 6: the caller's outgoing call is memory only, so after a restart its offer finds no
/// call and the callee waits in offerSent. Bob's CallKit answer, fulfilled only on connect,
/// stays open until CallKit times it out and ends the call (errata A2), which ends Bob's call.
#[test]
fn a_caller_restarting_during_negotiation_leaves_the_callee_waiting_in_offer_sent() {
    let mut w = world();
    w.hold(ALICE, callsim_engine::io::MessageKind::CallOffer);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.callkit_answer(BOB);
    let answered = w.now();
    w.run_for(500);
    w.kill_app(ALICE);
    w.launch_app(ALICE);
    w.run_for(1_000);
    w.release(ALICE);
    w.run_for(40_000);
    assert!(w.phone(ALICE).stats().message_errors >= 1);
    assert_eq!(w.call_state(ALICE), None);
    assert_eq!(w.call_state(BOB), Some(AppCallState::OfferSent));
    assert_eq!(
        w.call_item(ALICE, BOB).as_deref(),
        Some("outgoing call: calling...")
    );
    w.run_for(20_000);
    let answer = w.callkit(BOB).last_answer().expect("answer").outcome;
    assert_eq!(
        answer,
        ActionOutcome::TimedOut(answered.add_ms(callsim_mocks::callkit::ACTION_TIMEOUT_MS))
    );
    assert_eq!(
        w.call_state(BOB),
        None,
        "CallKit ended the call:\n{}",
        dump(&w)
    );
    assert_eq!(w.callkit(BOB).open_actions().count(), 0);
}

#[test]
fn a_callee_restarting_keeps_its_invitation() {
    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.kill_app(BOB);
    w.launch_app(BOB);
    w.run_for(2_000);
    assert!(w.has_invitation(BOB, ALICE));
    assert!(
        w.ringing(BOB),
        "refreshCallInvitations rings it again on start"
    );
    accept_in_app(&mut w);
    until_connected(&mut w);
}

#[test]
fn a_push_later_than_180_seconds_does_not_ring_the_call_but_leaves_the_item() {
    let mut w = world();
    w.suspend(BOB);
    w.set_push_delay(BOB, 200_000);
    w.start_call(ALICE, BOB, Audio);
    w.run_for(199_000);
    assert!(!w.ringing(BOB));
    w.run_for(3_000);
    let invitation = w.phone(BOB).core().api_get_call_invitations();
    assert_eq!(invitation.len(), 1, "the item and invitation are there");
    let uuid = &invitation[0].call_uuid;
    assert!(
        !w.callkit(BOB).calls().contains_key(uuid),
        "the call itself never rang"
    );
    // iOS must report every VoIP push: a dummy call, ended 1 s later.
    assert_eq!(w.callkit(BOB).calls().len(), 1);
    assert_eq!(w.callkit(BOB).live_calls(), 0);
    assert_eq!(
        w.call_item(BOB, ALICE).as_deref(),
        Some("incoming call: calling...")
    );
}

/// Errata A4: the native client never sends `ended`. On a failure it reports the ICE state and
/// closes its connection; `closed` closes the call view and ends the call through
/// `CallController.endCall(callUUID:)`. Without CallKit that ends the call and sends
/// `x.call.end`; with CallKit it asks for an end action that runs after the active call was
/// cleared, so the action fails, no `x.call.end` goes out, and CallKit keeps its call
/// (`ActiveCallView.processRtcMessage`, `CallController`, SimpleX master 6bb1da9e).
#[test]
fn the_peers_webrtc_failure_ends_the_call_on_both_sides() {
    for callkit in [false, true] {
        let mut w = if callkit {
            world()
        } else {
            world_with(china("Alice", 1), china("Bob", 2))
        };
        if callkit {
            callkit_call(&mut w, Audio);
        } else {
            app_call(&mut w, Audio);
        }
        w.run_for(10_000);
        w.fail_webrtc(BOB).expect("scripted WebRTC fails on demand");
        w.run_for(1);
        assert_eq!(w.call_state(BOB), None, "Bob's call ends at once");
        assert_eq!(
            w.call_item(BOB, ALICE).as_deref(),
            Some("incoming call: ended (00:10)")
        );
        w.run_for(6_000);
        assert_eq!(w.call_state(ALICE), None, "{}", dump(&w));
        let ends = w
            .trace_lines()
            .iter()
            .filter(|l| l.contains("kind: CallEnd"))
            .count();
        if callkit {
            assert_eq!(ends, 0, "no x.call.end with CallKit");
            for id in [ALICE, BOB] {
                assert_eq!(w.callkit(id).live_calls(), 1, "CallKit keeps the call");
                let end = w
                    .callkit(id)
                    .actions()
                    .values()
                    .last()
                    .cloned()
                    .expect("end");
                assert!(matches!(end.outcome, ActionOutcome::Failed(_)), "{end:?}");
            }
            // Alice hears nothing, so her own connection fails after 5 s of silence.
            assert_eq!(
                w.call_item(ALICE, BOB).as_deref(),
                Some("outgoing call: ended (00:15)")
            );
        } else {
            assert_eq!(ends, 1, "Bob's x.call.end:\n{}", dump(&w));
            // Alice ends on Bob's x.call.end, before her own connection notices.
            assert_eq!(
                w.call_item(ALICE, BOB).as_deref(),
                Some("outgoing call: ended (00:10)")
            );
        }
    }
}

#[test]
fn blocked_media_fails_the_call_after_30_seconds() {
    let mut w = world();
    w.set_media_blocked(ALICE, BOB, true);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.callkit_answer(BOB);
    w.run_for(29_000);
    assert!(w.call_state(ALICE).is_some() && !w.connected(ALICE, BOB));
    w.run_for(2_000);
    assert_eq!((w.call_state(ALICE), w.call_state(BOB)), (None, None));
    assert_items(&w, "outgoing call: error", "incoming call: error");
}

/// Errata A7: no permission gate before a call. A denied microphone is not asked again; the
/// call view shows SimpleX's alert and the call goes on with the microphone off
/// (`ActiveCallView.askRequiredPermissions`, SimpleX master 6bb1da9e).
#[test]
fn a_denied_microphone_shows_simplexs_alert_and_the_call_goes_on_muted() {
    let mut alice = PhoneConfig::new("Alice", 1);
    alice.microphone = callsim_engine::io::PermissionStatus::Denied;
    let mut w = world_with(alice, PhoneConfig::new("Bob", 2));
    w.start_call(ALICE, BOB, Audio);
    w.run_for(5_000);
    assert!(
        w.prompts(ALICE).is_empty(),
        "a denied permission is not asked again"
    );
    assert_eq!(w.alerts(ALICE), ["No permission to record speech"]);
    assert_eq!(w.call_state(ALICE), Some(AppCallState::InvitationSent));
    assert!(w.ringing(BOB), "the call went out");
    let mic = w.phone(ALICE).app().active_call().map(|c| c.mic);
    assert_eq!(mic, Some(false));
}

#[test]
fn the_same_seeds_give_the_same_run() {
    let run = || {
        let mut w = world();
        w.start_call(ALICE, BOB, Video);
        until_ringing(&mut w, BOB);
        w.callkit_answer(BOB);
        until_connected(&mut w);
        w.run_for(4_000);
        w.user(BOB, UserAction::EndCall);
        w.run_for(1_000);
        w.trace_lines().to_vec()
    };
    let (a, b) = (run(), run());
    assert!(a.len() > 50);
    assert_eq!(a, b);
}

#[test]
fn a_push_started_chat_is_suspended_3_seconds_after_the_call_ends() {
    let mut w = world();
    w.suspend(BOB);
    callkit_call(&mut w, Audio);
    w.run_for(5_000);
    w.user(ALICE, UserAction::EndCall);
    w.run_for(2_900);
    assert!(w.phone(BOB).app().chat_running(), "{}", dump(&w));
    w.run_for(300);
    assert!(
        !w.phone(BOB).app().chat_running(),
        "suspended 3 s after the end"
    );
}

#[test]
fn a_bluetooth_headset_takes_the_audio_and_the_picker_moves_it() {
    let mut w = world();
    w.set_bluetooth(BOB, true);
    callkit_call(&mut w, Video);
    assert_eq!(
        w.audio(BOB).route(),
        Some(AudioDevice::Bluetooth),
        "external device first"
    );
    assert_eq!(w.audio(ALICE).route(), Some(AudioDevice::Speaker));
    w.user(
        BOB,
        UserAction::PickAudioDevice {
            device: AudioDevice::Speaker,
        },
    );
    assert_eq!(
        w.audio(BOB).route(),
        Some(AudioDevice::Bluetooth),
        "speaker + headset: headset"
    );
    w.user(
        BOB,
        UserAction::PickAudioDevice {
            device: AudioDevice::Earpiece,
        },
    );
    assert_eq!(w.audio(BOB).route(), Some(AudioDevice::Earpiece));
    w.user(
        BOB,
        UserAction::PickAudioDevice {
            device: AudioDevice::Bluetooth,
        },
    );
    assert_eq!(w.audio(BOB).route(), Some(AudioDevice::Bluetooth));
    w.user(ALICE, UserAction::SetSpeaker { on: false });
    assert_eq!(w.audio(ALICE).route(), Some(AudioDevice::Earpiece));
    w.user(ALICE, UserAction::EndCall);
    w.run_for(1_000);
    assert_eq!((w.audio(ALICE).route(), w.audio(BOB).route()), (None, None));
}

/// Errata A9: the connecting sound plays from the invitation on; the ringback loop starts when
/// the invitation's delivery receipt comes (`activeCallWaitDeliveryReceipt`), not after a timer;
/// a short vibration on connect.
#[test]
fn the_caller_hears_the_connecting_sound_then_the_ringback_on_the_delivery_receipt() {
    use callsim_mocks::ringer::CallSound;
    let mut w = world();
    w.hold(ALICE, callsim_engine::io::MessageKind::Receipt);
    w.start_call(ALICE, BOB, Audio);
    w.run_for(100);
    assert_eq!(w.sound(ALICE).call_sound(), Some(CallSound::Connecting));
    w.run_for(10_000);
    assert_eq!(
        w.sound(ALICE).call_sound(),
        Some(CallSound::Connecting),
        "no receipt yet"
    );
    w.release(ALICE);
    w.run_for(100);
    assert_eq!(w.sound(ALICE).call_sound(), Some(CallSound::InCallLoop));
    w.callkit_answer(BOB);
    until_connected(&mut w);
    assert_eq!(w.sound(ALICE).call_sound(), None, "stopped once answered");
    assert!(w.sound(ALICE).vibrations() >= 1 && w.sound(BOB).vibrations() >= 1);
}

/// Errata A7: a video call is accepted whatever the camera permission says; the call view asks
/// for it, and on a denial shows SimpleX's alert and goes on with the camera off.
#[test]
fn a_denied_camera_shows_simplexs_alert_and_the_video_call_goes_on_without_it() {
    use callsim_engine::io::{Permission, PermissionStatus};
    for china_mode in [true, false] {
        let config = |name, seed| {
            let mut c = if china_mode {
                china(name, seed)
            } else {
                PhoneConfig::new(name, seed)
            };
            if name == "Bob" {
                c.camera = PermissionStatus::NotDetermined;
            }
            c
        };
        let mut w = world_with(config("Alice", 1), config("Bob", 2));
        w.set_permission_answer(BOB, Permission::Camera, false);
        w.start_call(ALICE, BOB, Video);
        until_ringing(&mut w, BOB);
        if china_mode {
            accept_in_app(&mut w);
        } else {
            w.callkit_answer(BOB);
        }
        until_connected(&mut w);
        w.run_for(2_000);
        assert_eq!(w.prompts(BOB), [Permission::Camera]);
        assert_eq!(w.alerts(BOB), ["No permission to record video"]);
        let camera = w.phone(BOB).app().active_call().map(|c| c.camera);
        assert_eq!(camera, Some(false));
    }
}

/// Errata A7: the prompt comes once the call view shows, while the call goes out.
#[test]
fn a_prompt_for_a_permission_never_asked_comes_with_the_call_view() {
    use callsim_engine::io::{Permission, PermissionStatus};
    let mut alice = PhoneConfig::new("Alice", 1);
    alice.microphone = PermissionStatus::NotDetermined;
    let mut w = world_with(alice, PhoneConfig::new("Bob", 2));
    w.start_call(ALICE, BOB, Audio);
    w.run_for(500);
    assert_eq!(w.prompts(ALICE), [Permission::Microphone]);
    assert_eq!(
        w.call_state(ALICE),
        Some(AppCallState::InvitationSent),
        "no gate"
    );
    until_ringing(&mut w, BOB);
    assert!(w.alerts(ALICE).is_empty(), "granted");
}

/// Errata A11 and docs/findings.md, "A CallKit mute before the peer connection exists blocks
/// the caller's offer": CallKit's set-muted action queues a `media` command, which waits at the
/// head of the queue for a peer connection, and the `offer` that would make one waits behind
/// it (`WebRTCCommandProcessor.shouldRunCommand`). The call view's own mute button calls the
/// client directly and blocks nothing.
#[test]
fn a_callkit_mute_before_the_peer_connection_blocks_the_callers_offer_an_in_app_mute_does_not() {
    let rtc_of = |w: &MemoryWorld, who: &str| -> Vec<String> {
        w.trace_lines()
            .iter()
            .filter(|l| l.contains(&format!(" {who} -> WebRtc {{")))
            .map(|l| l.split(" -> ").nth(1).unwrap_or_default().to_owned())
            .collect()
    };
    let mut w = world();
    w.start_call(ALICE, BOB, Audio);
    w.run_for(50);
    assert!(w.callkit_mute(ALICE, true));
    until_ringing(&mut w, BOB);
    assert!(w.callkit_answer(BOB));
    w.run_for(20_000);
    assert_eq!(
        rtc_of(&w, "Alice"),
        ["WebRtc { client: 1, command: Capabilities { media: Audio } }"]
    );
    assert_eq!(w.call_state(ALICE), Some(AppCallState::OfferReceived));
    assert_eq!(w.call_state(BOB), Some(AppCallState::OfferSent));
    assert!(!w.connected(ALICE, BOB));

    // The same mute from the call view's button goes straight to the client.
    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    w.start_call(ALICE, BOB, Audio);
    w.run_for(50);
    w.user(ALICE, UserAction::SetMicrophone { muted: true });
    until_ringing(&mut w, BOB);
    accept_in_app(&mut w);
    until_connected(&mut w);
    assert!(w.trace_lines().iter().any(|l| l.contains(
        " Alice -> WebRtcClient { client: 1, call: SetAudioEnabled { enabled: false } }"
    )));
}

#[test]
fn a_killed_app_remembers_permissions_and_the_headset_but_not_its_calls() {
    use callsim_engine::io::{Permission, PermissionStatus};
    let mut alice = PhoneConfig::new("Alice", 1);
    alice.microphone = PermissionStatus::NotDetermined;
    let mut w = world_with(alice, PhoneConfig::new("Bob", 2));
    w.set_bluetooth(ALICE, true);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    w.kill_app(ALICE);
    w.launch_app(ALICE);
    w.run_for(2_000);
    assert_eq!(w.call_state(ALICE), None);
    assert_eq!(
        w.phone(ALICE).app().permission(Permission::Microphone),
        PermissionStatus::Granted
    );
    // #2555: the killed caller never sent x.call.end, so Bob still rings.
    assert!(w.ringing(BOB));
    w.callkit_end(BOB);
    w.run_for(1_000);
    w.start_call(ALICE, BOB, Audio);
    until_ringing(&mut w, BOB);
    assert_eq!(w.prompts(ALICE).len(), 1, "not asked again");
    w.callkit_answer(BOB);
    until_connected(&mut w);
    assert_eq!(w.audio(ALICE).route(), Some(AudioDevice::Bluetooth));
}

/// Errata A16: `refreshCallInvitations` activates one invitation only, the last of the core's
/// list (`callInvitations.last(where:)` in `SimpleXAPI.swift`); the core lists them by contact
/// id (`APIGetCallInvitations` over a `Map`), so the caller with the highest contact id rings,
/// not the newest. Here Carol (contact 3) called first and Alice (contact 1) second.
#[test]
fn a16_a_refresh_rings_the_invitation_of_the_highest_contact_id_not_the_newest() {
    const CAROL: PhoneId = PhoneId(2);
    let mut w = world_with(china("Alice", 1), china("Bob", 2));
    assert_eq!(w.add_phone(china("Carol", 3)), CAROL);
    w.connect(CAROL, BOB);
    w.run_for(1);
    w.start_call(CAROL, BOB, Audio);
    w.run_for(1_000);
    w.start_call(ALICE, BOB, Audio);
    w.run_for(1_000);
    assert!(w.has_invitation(BOB, ALICE) && w.has_invitation(BOB, CAROL));
    w.kill_app(BOB);
    w.launch_app(BOB);
    w.run_for(2_000);
    assert_eq!(
        w.phone(BOB).app().incoming_view(),
        Some(CAROL.contact()),
        "Carol's, though Alice's came later"
    );
}

/// Errata A16: the dummy call reported for an expired VoIP push shows the payload's media
/// (`CallController.reportExpiredCall`, `hasVideo` from the payload's `media`).
#[test]
fn a16_the_dummy_call_of_an_expired_push_shows_the_payloads_media() {
    let mut w = world();
    w.suspend(BOB);
    w.set_push_delay(BOB, 200_000);
    w.start_call(ALICE, BOB, Video);
    w.run_for(202_000);
    let calls: Vec<_> = w.callkit(BOB).calls().values().cloned().collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].video, "a video call's dummy shows video");
    assert_eq!(w.callkit(BOB).live_calls(), 0, "ended 1 s later");
}
