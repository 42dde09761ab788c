//! One suite of world tests, written once against the `World` trait and run against every world:
//! the turmoil world (SimRtc over simulated UDP, TURN by SimpleX's default relay-only policy),
//! the in-memory world with SimRtc endpoints over its media paths, and the in-memory world with
//! the scripted WebRTC model (no packets: media checks are skipped there).
//!
//! Each world gets a module of `#[test]`s from `world_suite!`; a test that holds in one world
//! and not another is a divergence between worlds, which users would see as different answers
//! from `--world turmoil` and `--world memory`.

use callsim_engine::app::AppCallState;
use callsim_engine::io::{MessageKind, UserAction};
use callsim_engine::protocol::CallMediaType::{Audio, Video};
use callsim_sim::loss::Loss;
use callsim_sim::memory::WebRtcModel;
use callsim_sim::trace::TraceEvent;
use callsim_sim::world::{AppState, PhoneSetup, WorldBuilder};
use callsim_sim::{CallError, PhoneId, World, complete_call};

const ALICE: PhoneId = PhoneId(0);
const BOB: PhoneId = PhoneId(1);

/// What a suite test needs of a world: how to build one, and whether it carries packets.
trait Kind {
    type W: World;
    /// Whether the world's WebRTC sends media packets (and so can lose them).
    const MEDIA: bool;
    fn build(builder: WorldBuilder) -> Self::W;
}

struct Turmoil;
impl Kind for Turmoil {
    type W = callsim_sim::world::TurmoilWorld;
    const MEDIA: bool = true;
    fn build(builder: WorldBuilder) -> Self::W {
        builder.build()
    }
}

struct MemorySimRtc;
impl Kind for MemorySimRtc {
    type W = callsim_sim::memory::MemoryWorld;
    const MEDIA: bool = true;
    fn build(builder: WorldBuilder) -> Self::W {
        builder.build_memory(WebRtcModel::SimRtc).expect("builds")
    }
}

struct MemoryScripted;
impl Kind for MemoryScripted {
    type W = callsim_sim::memory::MemoryWorld;
    const MEDIA: bool = false;
    fn build(builder: WorldBuilder) -> Self::W {
        let model = WebRtcModel::Scripted(Default::default());
        builder.build_memory(model).expect("builds")
    }
}

/// Alice and Bob with the defaults, Bob changed by `bob`.
fn world<K: Kind>(seed: u64, bob: impl FnOnce(&mut PhoneSetup)) -> K::W {
    let mut builder = WorldBuilder::new(seed);
    builder.phone("Alice");
    bob(builder.phone("Bob"));
    K::build(builder)
}

/// The trace as lines, for failure messages.
fn dump<W: World>(w: &W) -> String {
    w.trace()
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn ring<W: World>(w: &mut W) {
    w.start_call(ALICE, BOB, Audio);
    let rang = w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs");
    assert!(rang, "Bob never rang:\n{}", dump(w));
}

fn connect<W: World>(w: &mut W) {
    ring(w);
    assert!(w.callkit_answer(BOB), "CallKit rang");
    let ok = w
        .advance_until(10_000, |w| w.connected(ALICE, BOB))
        .expect("runs");
    assert!(ok, "no connection:\n{}", dump(w));
}

fn a_call_connects_and_ends_with_items_on_both_phones<K: Kind>() {
    let mut w = world::<K>(1, |_| {});
    connect(&mut w);
    w.advance(3_000).expect("runs");
    assert!(w.audio_active(ALICE) && w.audio_active(BOB));
    w.user(ALICE, UserAction::EndCall);
    let idle = w
        .advance_until(10_000, |w| {
            w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
        })
        .expect("runs");
    assert!(idle, "{}", dump(&w));
    for (id, peer) in [(ALICE, BOB), (BOB, ALICE)] {
        let item = w.call_item(id, peer).expect("a call item");
        assert!(item.contains("ended"), "{}: {item}", w.name(id));
        assert_eq!(w.with_callkit(id, |c| c.live_calls()), 0);
        assert!(!w.audio_active(id));
    }
}

fn complete_calls_run_back_to_back<K: Kind>() {
    let mut w = world::<K>(2, |_| {});
    for media in [Audio, Video, Audio] {
        complete_call(&mut w, ALICE, BOB, media, 2_000).expect("a complete call");
    }
    let mut swapped = world::<K>(3, |_| {});
    complete_call(&mut swapped, BOB, ALICE, Audio, 1_000).expect("Bob calls Alice");
}

/// SimpleX's CallKit decline is silent (`CallController.provider(_:perform: CXEndCallAction)`
/// on an invitation ends it locally and tells nobody), so the caller keeps waiting.
fn a_callkit_decline_rejects_silently_and_the_caller_waits<K: Kind>() {
    let mut w = world::<K>(4, |_| {});
    ring(&mut w);
    assert!(w.callkit_end(BOB));
    w.advance(5_000).expect("runs");
    assert!(!w.ringing(BOB));
    assert_eq!(w.call_state(ALICE), Some(AppCallState::InvitationSent));
    assert!(!w.has_invitation(BOB, ALICE), "the decline rejected it");
}

fn a_held_answer_keeps_the_callee_waiting_until_released<K: Kind>() {
    let mut w = world::<K>(5, |_| {});
    w.hold(BOB, MessageKind::CallAnswer);
    ring(&mut w);
    w.callkit_answer(BOB);
    w.advance(5_000).expect("runs");
    assert_eq!(w.call_state(BOB), Some(AppCallState::OfferSent));
    assert!(!w.connected(ALICE, BOB));
    w.release(BOB);
    let ok = w
        .advance_until(5_000, |w| w.connected(ALICE, BOB))
        .expect("runs");
    assert!(ok, "{}", dump(&w));
}

/// Errata W5: the agent drops a redelivered message before the core (simplexmq `Agent.hs`,
/// `A_DUPLICATE`), so the core raises no error and the call connects.
fn a_redelivered_offer_is_dropped_and_the_call_connects<K: Kind>() {
    let mut w = world::<K>(6, |_| {});
    w.duplicate(ALICE, MessageKind::CallOffer);
    connect(&mut w);
    let stats = w.with_phone(ALICE, |p| p.stats());
    assert_eq!(stats.redeliveries_dropped, 1);
    assert_eq!(stats.message_errors, 0);
    let offers = w
        .trace()
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                TraceEvent::RelayDeliver {
                    kind: MessageKind::CallOffer,
                    ..
                }
            )
        })
        .count();
    assert_eq!(offers, 2, "the relay delivered it twice:\n{}", dump(&w));
}

/// `WebRTCClient.swift`: a connection that stays disconnected fails, and the app ends the call.
fn blocked_media_ends_the_call_on_both_phones<K: Kind>() {
    let mut w = world::<K>(7, |_| {});
    connect(&mut w);
    w.set_media_blocked(ALICE, BOB, true);
    let ended = w
        .advance_until(60_000, |w| {
            w.call_state(ALICE).is_none() && w.call_state(BOB).is_none()
        })
        .expect("runs");
    assert!(ended, "{}", dump(&w));
}

fn a_callee_killed_while_ringing_rings_again_after_relaunch<K: Kind>() {
    let mut w = world::<K>(8, |_| {});
    ring(&mut w);
    w.kill_app(BOB);
    w.advance(1_000).expect("runs");
    assert!(!w.ringing(BOB));
    assert!(w.has_invitation(BOB, ALICE), "received invitations survive");
    w.launch_app(BOB);
    let rang = w.advance_until(5_000, |w| w.ringing(BOB)).expect("runs");
    assert!(rang, "{}", dump(&w));
    assert!(w.callkit_answer(BOB));
    let ok = w
        .advance_until(10_000, |w| w.connected(ALICE, BOB))
        .expect("runs");
    assert!(ok, "{}", dump(&w));
}

fn a_suspended_phone_rings_after_its_push_delay<K: Kind>() {
    let mut w = world::<K>(9, |bob| {
        bob.app = AppState::Suspended;
        bob.push_delay_ms = 2_000;
        bob.chat_start_ms = 1_000;
    });
    w.advance(100).expect("runs");
    w.start_call(ALICE, BOB, Audio);
    w.advance(1_800).expect("runs");
    assert!(!w.ringing(BOB), "the push is still on its way");
    let rang = w.advance_until(1_000, |w| w.ringing(BOB)).expect("runs");
    assert!(rang, "{}", dump(&w));
    let pushed = w
        .trace()
        .iter()
        .any(|r| matches!(&r.event, TraceEvent::Push { to, .. } if to == "Bob"));
    assert!(pushed, "{}", dump(&w));
    assert!(w.callkit_answer(BOB));
    let ok = w
        .advance_until(10_000, |w| w.connected(ALICE, BOB))
        .expect("runs");
    assert!(ok, "{}", dump(&w));
}

/// Media flows both ways in 20 ms audio frames; loss on the path lowers what arrives.
fn media_flows_both_ways_and_loss_lowers_it<K: Kind>() {
    if !K::MEDIA {
        let mut w = world::<K>(10, |_| {});
        let refused = w.set_media_loss(ALICE, BOB, Loss::Random { rate: 0.2 });
        assert!(refused.is_err(), "a world without packets cannot lose any");
        return;
    }
    let received = |loss: Option<Loss>| {
        let mut w = world::<K>(10, |_| {});
        if let Some(loss) = loss {
            w.set_media_loss(ALICE, BOB, loss).expect("media loss");
        }
        connect(&mut w);
        let before = w.rtc_stats(BOB).audio_frames_received;
        w.advance(10_000).expect("runs");
        let stats = [w.rtc_stats(ALICE), w.rtc_stats(BOB)];
        for s in &stats {
            assert!(s.audio_frames_sent >= 450, "{s:?}");
            assert_eq!(s.undecryptable_frames, 0, "{s:?}");
        }
        stats[1].audio_frames_received - before
    };
    let clean = received(None);
    assert!(clean >= 480, "10 s of 20 ms frames arrive: {clean}");
    let lossy = received(Some(Loss::Random { rate: 0.2 }));
    assert!(
        lossy < clean * 9 / 10 && lossy > clean / 2,
        "20% loss: {lossy} of {clean}"
    );
}

/// The same seed gives the same trace bytes; the typed events carry what happened.
fn the_same_seed_gives_the_same_trace<K: Kind>() {
    let run = || {
        let mut w = world::<K>(11, |_| {});
        complete_call(&mut w, ALICE, BOB, Audio, 1_000).expect("a call");
        w.trace()
    };
    let (one, two) = (run(), run());
    let bytes = |t: &[callsim_sim::trace::TraceRecord]| {
        t.iter()
            .map(|r| serde_json::to_string(r).expect("serializes"))
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&one), bytes(&two));
    let sent = |kind| {
        one.iter()
            .filter(|r| matches!(r.event, TraceEvent::RelaySend { kind: k, .. } if k == kind))
            .count()
    };
    for kind in [
        MessageKind::CallInvitation,
        MessageKind::CallOffer,
        MessageKind::CallAnswer,
        MessageKind::CallEnd,
    ] {
        assert_eq!(sent(kind), 1, "{kind:?} sent once:\n{}", dump_records(&one));
    }
}

fn dump_records(t: &[callsim_sim::trace::TraceRecord]) -> String {
    t.iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A world that fails a complete call says which step.
fn a_call_to_a_phone_whose_invitations_are_held_never_rings<K: Kind>() {
    let mut w = world::<K>(12, |_| {});
    w.hold(BOB, MessageKind::CallInvitation);
    let err = complete_call(&mut w, ALICE, BOB, Audio, 0).expect_err("held");
    assert_eq!(err, CallError::NoRing("Bob".into()));
}

macro_rules! world_suite {
    ($($module:ident: $kind:ty;)*) => {$(
        mod $module {
            use super::*;
            #[test]
            fn a_call_connects_and_ends_with_items_on_both_phones() {
                super::a_call_connects_and_ends_with_items_on_both_phones::<$kind>();
            }
            #[test]
            fn complete_calls_run_back_to_back() {
                super::complete_calls_run_back_to_back::<$kind>();
            }
            #[test]
            fn a_callkit_decline_rejects_silently_and_the_caller_waits() {
                super::a_callkit_decline_rejects_silently_and_the_caller_waits::<$kind>();
            }
            #[test]
            fn a_held_answer_keeps_the_callee_waiting_until_released() {
                super::a_held_answer_keeps_the_callee_waiting_until_released::<$kind>();
            }
            #[test]
            fn a_redelivered_offer_is_dropped_and_the_call_connects() {
                super::a_redelivered_offer_is_dropped_and_the_call_connects::<$kind>();
            }
            #[test]
            fn blocked_media_ends_the_call_on_both_phones() {
                super::blocked_media_ends_the_call_on_both_phones::<$kind>();
            }
            #[test]
            fn a_callee_killed_while_ringing_rings_again_after_relaunch() {
                super::a_callee_killed_while_ringing_rings_again_after_relaunch::<$kind>();
            }
            #[test]
            fn a_suspended_phone_rings_after_its_push_delay() {
                super::a_suspended_phone_rings_after_its_push_delay::<$kind>();
            }
            #[test]
            fn media_flows_both_ways_and_loss_lowers_it() {
                super::media_flows_both_ways_and_loss_lowers_it::<$kind>();
            }
            #[test]
            fn the_same_seed_gives_the_same_trace() {
                super::the_same_seed_gives_the_same_trace::<$kind>();
            }
            #[test]
            fn a_call_to_a_phone_whose_invitations_are_held_never_rings() {
                super::a_call_to_a_phone_whose_invitations_are_held_never_rings::<$kind>();
            }
        }
    )*};
}

world_suite! {
    turmoil: Turmoil;
    memory_simrtc: MemorySimRtc;
    memory_scripted: MemoryScripted;
}
