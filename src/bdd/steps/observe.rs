//! `Then`: what is observed. "within N seconds" runs the world up to N seconds after the end of
//! the last `When`; the other checks look at the world now.

use callsim_engine::app::AppCallState;
use callsim_engine::io::audio::AudioDevice;
use callsim_engine::io::webrtc::CandidateType;
use callsim_engine::io::{Permission, UiEvent};
use callsim_mocks::callkit::{ActionOutcome, CallKitCallState};
use callsim_sim::world::{PhoneId, World};
use cucumber::then;

use super::media;
use crate::bdd::{CallWorld, ScenarioState, StepResult};

async fn check(
    w: &mut CallWorld,
    f: impl FnOnce(&mut ScenarioState) -> StepResult + Send + 'static,
) {
    w.run(f).await;
}

fn expect(ok: bool, message: impl FnOnce() -> String) -> StepResult {
    if ok { Ok(()) } else { Err(message()) }
}

fn state_name(state: Option<AppCallState>) -> String {
    state.map_or_else(|| "none".to_owned(), |s| s.to_string())
}

#[then(regex = r"^([A-Z][a-z]+)'s phone rings within (\d+) seconds?$")]
async fn rings_within(w: &mut CallWorld, who: String, seconds: u64) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let rang = s.within(seconds, |o| o.ringing[id])?;
        expect(rang, || {
            format!("{who}'s phone did not ring within {seconds} s")
        })
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s phone does not ring$")]
async fn does_not_ring(w: &mut CallWorld, who: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        s.world()?;
        s.forbid_ringing(id)
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s phone is ringing$")]
async fn is_ringing(w: &mut CallWorld, who: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let ringing = s.world()?.ringing(id);
        expect(ringing, || format!("{who}'s phone is not ringing"))
    })
    .await;
}

#[then(
    regex = r"^([A-Z][a-z]+) sees the CallKit incoming call screen for an? (audio|video) call from ([A-Z][a-z]+)$"
)]
async fn callkit_screen(w: &mut CallWorld, who: String, kind: String, caller: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let video = media(&kind) == callsim_engine::protocol::CallMediaType::Video;
        let world = s.world()?;
        let shown = world
            .callkit(id)
            .calls()
            .values()
            .any(|c| c.incoming && c.handle == caller && c.video == video);
        expect(shown, || {
            format!("{who}'s CallKit never showed a {kind} call from {caller}")
        })
    })
    .await;
}

#[then(
    regex = r"^([A-Z][a-z]+) sees the (silent )?in-app incoming call view for an? (audio|video) call from ([A-Z][a-z]+)$"
)]
async fn in_app_view(w: &mut CallWorld, who: String, silent: String, kind: String, caller: String) {
    // "silent": the banner over a call view, which plays no ringtone (IncomingCallView rings
    // only while no call view shows; errata A13). Otherwise the ringtone must play.
    let silent = !silent.is_empty();
    check(w, move |s| {
        let (id, from) = (s.phone(&who)?, s.phone(&caller)?);
        let world = s.world()?;
        let contact = world.contact_id(from);
        let wanted = media(&kind);
        let shown = world.with_phone(id, |p| p.app().incoming_view() == Some(contact));
        // The media of the view showing now: the latest one shown for this caller.
        let showing = world.observations(id).ui.iter().rev().find_map(|(_, e)| match e {
            UiEvent::IncomingCallShown { contact_id, media } if *contact_id == contact => {
                Some(*media)
            }
            _ => None,
        });
        let right_media = showing == Some(wanted);
        let ringtone = world.ringer(id).ringtone();
        expect(shown && right_media, || {
            format!("{who} does not see the in-app view for a {kind} call from {caller}")
        })?;
        if silent {
            expect(!ringtone, || format!("{who}'s ringtone plays over the in-app view"))
        } else {
            expect(ringtone, || {
                format!("{who} sees the in-app view for a {kind} call from {caller} without its ringtone")
            })
        }
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s ringtone stops$")]
async fn ringtone_stops(w: &mut CallWorld, who: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let playing = s.world()?.ringer(id).ringtone();
        expect(!playing, || format!("{who}'s ringtone still plays"))
    })
    .await;
}

#[then(
    regex = r"^the call between ([A-Z][a-z]+) and ([A-Z][a-z]+) connects within (\d+) seconds?$"
)]
async fn connects_within(w: &mut CallWorld, a: String, b: String, seconds: u64) {
    check(w, move |s| {
        let (x, y) = (s.phone(&a)?, s.phone(&b)?);
        let connected = s.within(seconds, |o| o.are_connected(x, y))?;
        let world = s.world()?;
        expect(connected, || {
            format!(
                "the call did not connect within {seconds} s: {a} is {}, {b} is {}",
                state_name(world.call_state(x)),
                state_name(world.call_state(y))
            )
        })
    })
    .await;
}

#[then(
    regex = r"^the call between ([A-Z][a-z]+) and ([A-Z][a-z]+) goes (through TURN|peer to peer)$"
)]
async fn media_path(w: &mut CallWorld, a: String, b: String, path: String) {
    check(w, move |s| {
        let (x, y) = (s.phone(&a)?, s.phone(&b)?);
        let world = s.world()?;
        if !world.connected(x, y) {
            return Err(format!(
                "the call between {a} and {b} is not connected, so it has no media path: {a} \
                 is {}, {b} is {}",
                state_name(world.call_state(x)),
                state_name(world.call_state(y))
            ));
        }
        let turn = path == "through TURN";
        for (id, name) in [(x, &a), (y, &b)] {
            let info = world.connection_info(id).ok_or_else(|| {
                format!("{name}'s WebRTC client never reported the connection's candidate pair")
            })?;
            expect(info.relayed() == turn, || {
                format!(
                    "{name}'s call uses a {} local and a {} remote candidate: not {path}",
                    candidate_name(info.local_candidate),
                    candidate_name(info.remote_candidate)
                )
            })?;
        }
        Ok(())
    })
    .await;
}

fn candidate_name(candidate: Option<CandidateType>) -> &'static str {
    candidate.map_or("unknown", CandidateType::as_str)
}

#[then(regex = r"^the call between ([A-Z][a-z]+) and ([A-Z][a-z]+) does not connect$")]
async fn does_not_connect(w: &mut CallWorld, a: String, b: String) {
    check(w, move |s| {
        let (x, y) = (s.phone(&a)?, s.phone(&b)?);
        let world = s.world()?;
        let connected = |id| world.call_state(id) == Some(AppCallState::Connected);
        expect(!connected(x) && !connected(y), || {
            format!("the call between {a} and {b} is connected")
        })
    })
    .await;
}

#[then(regex = r#"^([A-Z][a-z]+)'s call state is "(\w+)"$"#)]
async fn call_state(w: &mut CallWorld, who: String, wanted: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let actual = state_name(s.world()?.call_state(id));
        expect(actual == wanted, || {
            format!("{who}'s call state is {actual:?}, not {wanted:?}")
        })
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s call ends within (\d+) seconds?$")]
async fn call_ends(w: &mut CallWorld, who: String, seconds: u64) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        // A ringing invitation is a call too: it has ended when it stops ringing.
        let ended = s.within(seconds, |o| o.idle[id])?;
        expect(ended, || {
            format!("{who}'s call did not end within {seconds} s")
        })
    })
    .await;
}

fn answer_outcome(world: &World, id: PhoneId) -> StepResult<ActionOutcome> {
    world
        .callkit(id)
        .last_answer()
        .map(|a| a.outcome)
        .ok_or_else(|| format!("{} never answered through CallKit", world.name(id)))
}

#[then(regex = r"^([A-Z][a-z]+)'s CallKit answer action (is fulfilled|fails)$")]
async fn answer_action(w: &mut CallWorld, who: String, what: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let outcome = answer_outcome(s.world()?, id)?;
        // "fails": failed by the app, or timed out by CallKit (steps.md).
        let ok = match what.as_str() {
            "is fulfilled" => matches!(outcome, ActionOutcome::Fulfilled(_)),
            _ => matches!(
                outcome,
                ActionOutcome::Failed(_) | ActionOutcome::TimedOut(_)
            ),
        };
        expect(ok, || {
            format!("{who}'s CallKit answer action is {outcome:?}")
        })
    })
    .await;
}

#[then(
    regex = r"^([A-Z][a-z]+)'s CallKit answer action is fulfilled only after the call connected$"
)]
async fn fulfilled_after_connect(w: &mut CallWorld, who: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let world = s.world()?;
        let ActionOutcome::Fulfilled(at) = answer_outcome(world, id)? else {
            return Err(format!("{who}'s CallKit answer action was not fulfilled"));
        };
        let performed = world
            .callkit(id)
            .last_answer()
            .map_or(at, |a| a.performed_at);
        // This call's connection: the first one after the answer was performed.
        let connected_at = world.observations(id).ui.iter().find_map(|(t, e)| {
            let connected = matches!(
                e,
                UiEvent::CallState {
                    state: Some(AppCallState::Connected),
                    ..
                }
            );
            (connected && *t >= performed).then_some(*t)
        });
        match connected_at {
            Some(connected) => expect(at >= connected, || {
                format!(
                    "{who}'s answer was fulfilled at {at}, before the call connected at {connected}"
                )
            }),
            None => Err(format!(
                "{who}'s answer was fulfilled at {at} but the call never connected"
            )),
        }
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s CallKit shows the call ended$")]
async fn callkit_ended(w: &mut CallWorld, who: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let world = s.world()?;
        let callkit = world.callkit(id);
        let ended = callkit
            .calls()
            .values()
            .any(|c| matches!(c.state, CallKitCallState::Ended(_)));
        expect(ended && callkit.live_calls() == 0, || {
            format!("{who}'s CallKit was not told the call ended")
        })
    })
    .await;
}

/// Not in steps.md: CallKit holds a call with that person that it was never told had ended
/// (ringing, dialing or active), as after a WebRTC failure under CallKit (errata A4).
#[then(regex = r"^([A-Z][a-z]+)'s CallKit still shows a call with ([A-Z][a-z]+)$")]
async fn callkit_still_shows(w: &mut CallWorld, who: String, peer: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        s.phone(&peer)?;
        let world = s.world()?;
        let shown = world
            .callkit(id)
            .calls()
            .values()
            .any(|c| c.handle == peer && !matches!(c.state, CallKitCallState::Ended(_)));
        expect(shown, || {
            format!("{who}'s CallKit shows no call with {peer}")
        })
    })
    .await;
}

#[then(regex = r#"^([A-Z][a-z]+)'s chat with ([A-Z][a-z]+) shows "([^"]*)"$"#)]
async fn chat_shows(w: &mut CallWorld, who: String, peer: String, text: String) {
    check(w, move |s| {
        let (id, other) = (s.phone(&who)?, s.phone(&peer)?);
        let item = s.world()?.call_item(id, other);
        expect(item.as_deref() == Some(text.as_str()), || {
            format!("{who}'s chat with {peer} shows {item:?}, not {text:?}")
        })
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+) has a pending call invitation from ([A-Z][a-z]+)$")]
async fn has_invitation(w: &mut CallWorld, who: String, caller: String) {
    check(w, move |s| {
        let (id, from) = (s.phone(&who)?, s.phone(&caller)?);
        let has = s.world()?.has_invitation(id, from);
        expect(has, || {
            format!("{who} has no pending call invitation from {caller}")
        })
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+) has no pending call invitation$")]
async fn no_invitation(w: &mut CallWorld, who: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let pending = s
            .world()?
            .with_phone(id, |p| p.core().api_get_call_invitations().len());
        expect(pending == 0, || {
            format!("{who} has {pending} pending call invitation(s)")
        })
    })
    .await;
}

/// The two phones in a call with each other, if there are such.
fn callers(world: &World) -> Vec<PhoneId> {
    (0..world.phone_count())
        .filter(|id| world.with_phone(*id, |p| p.app().active_call().is_some()))
        .collect()
}

#[then(regex = r"^the call is end-to-end encrypted on both phones$")]
async fn encrypted(w: &mut CallWorld) {
    check(w, |s| {
        let world = s.world()?;
        let phones = callers(world);
        let keys: Vec<_> = phones
            .iter()
            .map(|id| {
                world.with_phone(*id, |p| {
                    p.app()
                        .active_call()
                        .filter(|c| c.encrypted())
                        .and_then(|c| c.shared_key)
                })
            })
            .collect();
        let same = keys.len() == 2 && keys[0].is_some() && keys[0] == keys[1];
        expect(same, || {
            format!(
                "the call is not end-to-end encrypted on both phones ({} in a call)",
                phones.len()
            )
        })
    })
    .await;
}

#[then(regex = r"^the call is not end-to-end encrypted$")]
async fn not_encrypted(w: &mut CallWorld) {
    check(w, |s| {
        let world = s.world()?;
        let phones = callers(world);
        let any_plain = phones.iter().any(|id| {
            world.with_phone(*id, |p| {
                p.app().active_call().is_some_and(|c| !c.encrypted())
            })
        });
        expect(any_plain, || "the call is end-to-end encrypted".to_owned())
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s audio goes to the (speaker|earpiece|Bluetooth headset)$")]
async fn audio_route(w: &mut CallWorld, who: String, which: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let wanted = match which.as_str() {
            "speaker" => AudioDevice::Speaker,
            "earpiece" => AudioDevice::Earpiece,
            _ => AudioDevice::Bluetooth,
        };
        let route = s.world()?.audio(id).route();
        expect(route == Some(wanted), || {
            format!("{who}'s audio goes to {route:?}, not the {which}")
        })
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+)'s audio session is (active|inactive)$")]
async fn audio_active(w: &mut CallWorld, who: String, what: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let active = s.world()?.audio(id).active();
        expect(active == (what == "active"), || {
            format!("{who}'s audio session is not {what}")
        })
    })
    .await;
}

#[then(regex = r#"^([A-Z][a-z]+) sees the alert "([^"]*)"$"#)]
async fn alert(w: &mut CallWorld, who: String, text: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        // An alert's title or its message: the engine's errors come as "Error" with the
        // engine's text as the message (ActiveCallView.processRtcMessage, errata A10).
        let alerts = s.world()?.observations(id).alerts.clone();
        let seen = alerts
            .iter()
            .any(|(title, message)| *title == text || *message == text);
        expect(seen, || {
            format!("{who} saw the alerts (title, message) {alerts:?}, not {text:?}")
        })
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+) was asked for (microphone|camera) access$")]
async fn asked(w: &mut CallWorld, who: String, what: String) {
    check(w, move |s| {
        let id = s.phone(&who)?;
        let wanted = if what == "camera" {
            Permission::Camera
        } else {
            Permission::Microphone
        };
        let asked = s.world()?.observations(id).prompts.contains(&wanted);
        expect(asked, || format!("{who} was never asked for {what} access"))
    })
    .await;
}

#[then(regex = r"^([A-Z][a-z]+) hears ([A-Z][a-z]+)$")]
async fn hears(w: &mut CallWorld, listener: String, speaker: String) {
    check(w, move |s| {
        let (id, from) = (s.phone(&listener)?, s.phone(&speaker)?);
        if !s.world()?.connected(id, from) {
            return Err(format!(
                "{listener} is not in a connected call with {speaker}"
            ));
        }
        // Half a second of listening: about 25 frames at SimRtc's 20 ms.
        let before = s.world()?.rtc_stats(id).audio_frames_received;
        s.advance(500)?;
        let after = s.world()?.rtc_stats(id).audio_frames_received;
        expect(after >= before + 10, || {
            format!(
                "{listener} played {} of {speaker}'s audio frames in half a second",
                after - before
            )
        })
    })
    .await;
}

#[then(
    regex = r"^([A-Z][a-z]+) receives at least (\d+(?:\.\d+)?)% of ([A-Z][a-z]+)'s audio frames$"
)]
async fn receives_share(w: &mut CallWorld, listener: String, percent: f64, speaker: String) {
    check(w, move |s| {
        let (id, from) = (s.phone(&listener)?, s.phone(&speaker)?);
        if !s.world()?.connected(id, from) {
            return Err(format!(
                "{listener} is not in a connected call with {speaker}"
            ));
        }
        // Over the call so far: the counters since the two connected.
        let (base_rx, now_rx) = s.media_since_connect(id)?;
        let (base_tx, now_tx) = s.media_since_connect(from)?;
        let got = now_rx.audio_frames_received - base_rx.audio_frames_received;
        let sent = now_tx.audio_frames_sent - base_tx.audio_frames_sent;
        let share = if sent == 0 {
            0.0
        } else {
            got as f64 * 100.0 / sent as f64
        };
        expect(sent > 0 && share >= percent, || {
            format!("{listener} received {got} of {sent} audio frames from {speaker} ({share:.1}%)")
        })
    })
    .await;
}

#[then(regex = r"^the relay never saw the call in plain text$")]
async fn relay_plain_text(w: &mut CallWorld) {
    check(w, |s| {
        let seen = s.world()?.relay_seen();
        let secrets = [
            "x.call",
            "rtcSession",
            "rtcIceCandidates",
            "callDhPubKey",
            "candidate:",
            "v=0",
            "MCowBQYDK2VuAyEA",
        ];
        for body in &seen {
            if let Some(secret) = secrets.iter().find(|secret| body.contains(*secret)) {
                return Err(format!("the relay saw {secret:?} in a message"));
            }
        }
        expect(!seen.is_empty(), || {
            "the relay saw no message at all".to_owned()
        })
    })
    .await;
}

#[then(regex = r"^no call remains on any phone$")]
async fn no_call_remains(w: &mut CallWorld) {
    check(w, |s| {
        let world = s.world()?;
        for id in 0..world.phone_count() {
            let name = world.name(id);
            if let Some(state) = world.call_state(id) {
                return Err(format!("{name} still has a call ({state})"));
            }
            if world.ringing(id) {
                return Err(format!("{name}'s phone still rings"));
            }
            if world.callkit(id).live_calls() > 0 {
                return Err(format!("{name}'s CallKit still has a call"));
            }
            if world.audio(id).active() {
                return Err(format!("{name}'s audio session is still active"));
            }
        }
        Ok(())
    })
    .await;
}
