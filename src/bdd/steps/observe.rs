//! `Then`: what is observed. "within N seconds" runs the world up to N seconds after the end of
//! the last `When`; the other checks look at the world now.

use callsim_engine::app::AppCallState;
use callsim_engine::io::audio::AudioDevice;
use callsim_engine::io::webrtc::CandidateType;
use callsim_engine::io::{Permission, UiEvent};
use callsim_mocks::callkit::{ActionKind, ActionOutcome, CallKitCallState};
use callsim_sim::World;
use callsim_sim::world::{PhoneId, TurmoilWorld};

use super::media;
use crate::bdd::language::{Args, Keyword, Mode, StepDef};
use crate::bdd::{Observed, ScenarioState, StepResult, Within};

fn expect(ok: bool, message: impl FnOnce() -> String) -> StepResult {
    if ok { Ok(()) } else { Err(message()) }
}

fn state_name(state: Option<AppCallState>) -> String {
    state.map_or_else(|| "none".to_owned(), |s| s.to_string())
}

/// This domain's steps.
pub(super) fn defs() -> Vec<StepDef> {
    vec![
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob's phone rings within N seconds",
            example: "Bob's phone rings within 2 seconds",
            meaning: "CallKit reports the incoming call, or the in-app view shows with the ringtone",
            pattern: r"^([A-Z][a-z]+)'s phone rings within (\S+) seconds?$",
            mode: Mode::Plain,
            run: rings_within,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob's phone does not ring",
            example: "Bob's phone does not ring",
            meaning: "neither happens (checked through the end of the scenario)",
            pattern: r"^([A-Z][a-z]+)'s phone does not ring$",
            mode: Mode::Plain,
            run: does_not_ring,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob's phone is ringing",
            example: "Bob's phone is ringing",
            meaning: "a CallKit incoming call or the in-app view with ringtone is showing now",
            pattern: r"^([A-Z][a-z]+)'s phone is ringing$",
            mode: Mode::Plain,
            run: is_ringing,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob sees the CallKit incoming call screen for an audio call / a video call from Alice",
            example: "Bob sees the CallKit incoming call screen for an audio call from Alice",
            meaning: "CallKit was asked to report it",
            pattern: r"^([A-Z][a-z]+) sees the CallKit incoming call screen for an? (audio|video) call from ([A-Z][a-z]+)$",
            mode: Mode::Plain,
            run: callkit_screen,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob sees the (silent) in-app incoming call view for an audio call / a video call from Alice",
            example: "Bob sees the in-app incoming call view for an audio call from Alice",
            meaning: "overlay shown, ringtone playing; \"silent\" (callsim's own): shown over a call view, with no ringtone",
            pattern: r"^([A-Z][a-z]+) sees the (silent )?in-app incoming call view for an? (audio|video) call from ([A-Z][a-z]+)$",
            mode: Mode::Plain,
            run: in_app_view,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob's ringtone stops",
            example: "Bob's ringtone stops",
            meaning: "no ringtone playing",
            pattern: r"^([A-Z][a-z]+)'s ringtone stops$",
            mode: Mode::Plain,
            run: ringtone_stops,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "the call between Alice and Bob connects within N seconds",
            example: "the call between Alice and Bob connects within 10 seconds",
            meaning: "both phones reach the connected state",
            pattern: r"^the call between ([A-Z][a-z]+) and ([A-Z][a-z]+) connects within (\S+) seconds?$",
            mode: Mode::Plain,
            run: connects_within,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "the call between Alice and Bob goes through TURN / goes peer to peer",
            example: "the call between Alice and Bob goes through TURN",
            meaning: "the media path the connected call uses",
            pattern: r"^the call between ([A-Z][a-z]+) and ([A-Z][a-z]+) goes (through TURN|peer to peer)$",
            mode: Mode::Plain,
            run: media_path,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "the call between Alice and Bob does not connect",
            example: "the call between Alice and Bob does not connect",
            meaning: "neither phone is connected (checked now)",
            pattern: r"^the call between ([A-Z][a-z]+) and ([A-Z][a-z]+) does not connect$",
            mode: Mode::Plain,
            run: does_not_connect,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's call state is \"STATE\"",
            example: "Alice's call state is \"connected\"",
            meaning: "app call state name: waitCapabilities, invitationSent, invitationAccepted, offerSent, offerReceived, answerReceived, negotiated, connected, ended, or none",
            pattern: r#"^([A-Z][a-z]+)'s call state is "(\w+)"$"#,
            mode: Mode::Plain,
            run: call_state,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's call ends within N seconds",
            example: "Alice's call ends within 2 seconds",
            meaning: "Alice has no active call within N s",
            pattern: r"^([A-Z][a-z]+)'s call ends within (\S+) seconds?$",
            mode: Mode::Plain,
            run: call_ends,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob's CallKit answer / end action is fulfilled / fails",
            example: "Bob's CallKit answer action is fulfilled",
            meaning: "outcome of the last CXAnswerCallAction or CXEndCallAction; fails covers failed by the app and timed out by CallKit",
            pattern: r"^([A-Z][a-z]+)'s CallKit (answer|end) action (is fulfilled|fails)$",
            mode: Mode::Plain,
            run: answer_action,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob's CallKit answer action is fulfilled only after the call connected",
            example: "Bob's CallKit answer action is fulfilled only after the call connected",
            meaning: "order of fulfil vs connected",
            pattern: r"^([A-Z][a-z]+)'s CallKit answer action is fulfilled only after the call connected$",
            mode: Mode::Plain,
            run: fulfilled_after_connect,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's CallKit shows the call ended",
            example: "Alice's CallKit shows the call ended",
            meaning: "CallKit was told the call ended (any reason)",
            pattern: r"^([A-Z][a-z]+)'s CallKit shows the call ended$",
            mode: Mode::Plain,
            run: callkit_ended,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's CallKit still shows a call with Bob",
            example: "Alice's CallKit still shows a call with Bob",
            meaning: "callsim's own: CallKit holds a call with Bob it was never told had ended (after a WebRTC failure under CallKit, errata A4)",
            pattern: r"^([A-Z][a-z]+)'s CallKit still shows a call with ([A-Z][a-z]+)$",
            mode: Mode::Plain,
            run: callkit_still_shows,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's chat with Bob shows \"TEXT\"",
            example: "Alice's chat with Bob shows \"outgoing call: ended (00:30)\"",
            meaning: "the last call item reads TEXT",
            pattern: r#"^([A-Z][a-z]+)'s chat with ([A-Z][a-z]+) shows "([^"]*)"$"#,
            mode: Mode::Plain,
            run: chat_shows,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob has a pending call invitation from Alice",
            example: "Bob has a pending call invitation from Alice",
            meaning: "the chat core's invitation list",
            pattern: r"^([A-Z][a-z]+) has a pending call invitation from ([A-Z][a-z]+)$",
            mode: Mode::Plain,
            run: has_invitation,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob has no pending call invitation",
            example: "Bob has no pending call invitation",
            meaning: "the chat core's invitation list is empty",
            pattern: r"^([A-Z][a-z]+) has no pending call invitation$",
            mode: Mode::Plain,
            run: no_invitation,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "the call is end-to-end encrypted on both phones",
            example: "the call is end-to-end encrypted on both phones",
            meaning: "both sides hold the same media key and show encryption",
            pattern: r"^the call is end-to-end encrypted on both phones$",
            mode: Mode::Plain,
            run: encrypted,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "the call is not end-to-end encrypted",
            example: "the call is not end-to-end encrypted",
            meaning: "no media key on at least one side",
            pattern: r"^the call is not end-to-end encrypted$",
            mode: Mode::Plain,
            run: not_encrypted,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's audio goes to the speaker / the earpiece / the Bluetooth headset",
            example: "Alice's audio goes to the speaker",
            meaning: "current audio route",
            pattern: r"^([A-Z][a-z]+)'s audio goes to the (speaker|earpiece|Bluetooth headset)$",
            mode: Mode::Plain,
            run: audio_route,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice's audio session is active / inactive",
            example: "Alice's audio session is active",
            meaning: "audio session state",
            pattern: r"^([A-Z][a-z]+)'s audio session is (active|inactive)$",
            mode: Mode::Plain,
            run: audio_active,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice sees the alert \"TEXT\"",
            example: "Alice sees the alert \"No permission to record speech\"",
            meaning: "an alert with that title or message was shown",
            pattern: r#"^([A-Z][a-z]+) sees the alert "([^"]*)"$"#,
            mode: Mode::Plain,
            run: alert,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Alice was asked for microphone access / camera access",
            example: "Alice was asked for microphone access",
            meaning: "a permission prompt happened",
            pattern: r"^([A-Z][a-z]+) was asked for (microphone|camera) access$",
            mode: Mode::Plain,
            run: asked,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob hears Alice",
            example: "Bob hears Alice",
            meaning: "Bob's phone decrypts and plays Alice's audio frames",
            pattern: r"^([A-Z][a-z]+) hears ([A-Z][a-z]+)$",
            mode: Mode::Plain,
            run: hears,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "Bob receives at least P% of Alice's audio frames",
            example: "Bob receives at least 90% of Alice's audio frames",
            meaning: "measured over the call so far",
            pattern: r"^([A-Z][a-z]+) receives at least (\S+)% of ([A-Z][a-z]+)'s audio frames$",
            mode: Mode::Plain,
            run: receives_share,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "the relay never saw the call in plain text",
            example: "the relay never saw the call in plain text",
            meaning: "no relay-side payload contained SDP, candidates, keys or event names",
            pattern: r"^the relay never saw the call in plain text$",
            mode: Mode::Plain,
            run: relay_plain_text,
        },
        StepDef {
            keywords: &[Keyword::Then],
            form: "no call remains on any phone",
            example: "no call remains on any phone",
            meaning: "no active call, no ringing, no CallKit call, audio sessions inactive",
            pattern: r"^no call remains on any phone$",
            mode: Mode::Plain,
            run: no_call_remains,
        },
    ]
}

fn rings_within(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let seconds = args.whole(1)?;

    let id = s.phone(&who)?;
    let rang = s.within(seconds, |o| o.ringing[id.index()])?;
    if rang {
        return Ok(());
    }
    let world = s.world()?;
    let (now, state) = (world.now(), state_name(world.call_state(id)));
    let invitation = PhoneId::all(world.phone_count()).any(|peer| world.has_invitation(id, peer));
    let mut why = format!(
        "{who}'s phone did not ring within {seconds} s; at {now} {who}'s call state is {state}{}",
        if invitation {
            " and the chat core holds an invitation"
        } else {
            " and the chat core holds no invitation"
        }
    );
    if let Some(note) = s.in_flight_note(id) {
        why.push_str("; ");
        why.push_str(note.trim_start_matches("note: checked now, while "));
    }
    Err(why)
}

fn does_not_ring(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    s.world()?;
    s.forbid_ringing(id)
}

fn is_ringing(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    let ringing = s.world()?.ringing(id);
    expect(ringing, || format!("{who}'s phone is not ringing"))
}

fn callkit_screen(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let kind = args.text(1);
    let caller = args.text(2);

    let id = s.phone(&who)?;
    let video = media(&kind) == callsim_engine::protocol::CallMediaType::Video;
    let world = s.world()?;
    let shown = world
        .callkit(id)
        .calls()
        .values()
        .any(|c| c.incoming && c.handle == caller && c.video == video);
    expect(shown, || {
        format!(
            "{who}'s CallKit never showed {} call from {caller}",
            a_kind(&kind)
        )
    })
}

fn in_app_view(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let silent = args.text(1);
    let kind = args.text(2);
    let caller = args.text(3);
    // "silent": the banner over a call view, which plays no ringtone (IncomingCallView rings
    // only while no call view shows; errata A13). Otherwise the ringtone must play.
    let silent = !silent.is_empty();

    let (id, from) = (s.phone(&who)?, s.phone(&caller)?);
    let world = s.world()?;
    let contact = from.contact();
    let wanted = media(&kind);
    let shown = world.with_phone(id, |p| p.app().incoming_view() == Some(contact));
    // The media of the view showing now: the latest one shown for this caller.
    let showing = world
        .observations(id)
        .ui
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            UiEvent::IncomingCallShown { contact_id, media } if *contact_id == contact => {
                Some(*media)
            }
            _ => None,
        });
    let right_media = showing == Some(wanted);
    let ringtone = world.ringer(id).ringtone();
    expect(shown && right_media, || {
        format!(
            "{who} does not see the in-app view for {} call from {caller}",
            a_kind(&kind)
        )
    })?;
    if silent {
        expect(!ringtone, || {
            format!("{who}'s ringtone plays over the in-app view")
        })
    } else {
        expect(ringtone, || {
            format!(
                "{who} sees the in-app view for {} call from {caller} without its ringtone",
                a_kind(&kind)
            )
        })
    }
}

fn ringtone_stops(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    let playing = s.world()?.ringer(id).ringtone();
    expect(!playing, || format!("{who}'s ringtone still plays"))
}

fn connects_within(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let seconds = args.whole(2)?;
    let (x, y) = (s.phone(&a)?, s.phone(&b)?);
    // A call to connect: both phones have a call (or ring) at some moment of the window.
    let subject =
        |o: &Observed| (!o.idle[x.index()] && !o.idle[y.index()]) || o.are_connected(x, y);
    let outcome = s.within_after(seconds, subject, |o| o.are_connected(x, y))?;
    let world = s.world()?;
    let states = format!(
        "{a} is {}, {b} is {}",
        state_name(world.call_state(x)),
        state_name(world.call_state(y))
    );
    match outcome {
        Within::Held(_) => Ok(()),
        Within::Missed => Err(format!(
            "the call between {a} and {b} did not connect within {seconds} s; at {}: {states}",
            world.now()
        )),
        Within::NoSubject => Err(format!(
            "there was no call between {a} and {b} to connect within {seconds} s ({states} at {})",
            world.now()
        )),
    }
}

fn media_path(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let path = args.text(2);

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
}

fn candidate_name(candidate: Option<CandidateType>) -> &'static str {
    candidate.map_or("unknown", CandidateType::as_str)
}

fn does_not_connect(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);

    let (x, y) = (s.phone(&a)?, s.phone(&b)?);
    // A call that does not connect must be there: one of them has a call or rings, now or
    // since the last When.
    if !s.seen_since_when(|o| !o.idle[x.index()] || !o.idle[y.index()])? {
        return Err(format!(
            "there is no call between {a} and {b} that could connect (neither has had a call since the last When)"
        ));
    }
    let world = s.world()?;
    let connected = |id| world.call_state(id) == Some(AppCallState::Connected);
    expect(!connected(x) && !connected(y), || {
        format!("the call between {a} and {b} is connected")
    })
}

fn call_state(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let wanted = args.text(1);

    let id = s.phone(&who)?;
    const STATES: [&str; 10] = [
        "waitCapabilities",
        "invitationSent",
        "invitationAccepted",
        "offerSent",
        "offerReceived",
        "answerReceived",
        "negotiated",
        "connected",
        "ended",
        "none",
    ];
    if !STATES.contains(&wanted.as_str()) {
        return Err(format!(
            "\"{wanted}\" is not a call state; the states are {}",
            STATES.join(", ")
        ));
    }
    let actual = state_name(s.world()?.call_state(id));
    expect(actual == wanted, || {
        format!("{who}'s call state is \"{actual}\", not \"{wanted}\"")
    })
}

fn call_ends(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let seconds = args.whole(1)?;
    let id = s.phone(&who)?;
    // A ringing invitation is a call too: it has ended when it stops ringing. There must have
    // been a call or a ringing invitation in the window for it to end.
    let outcome = s.within_after(seconds, |o| !o.idle[id.index()], |o| o.idle[id.index()])?;
    let world = s.world()?;
    match outcome {
        Within::Held(_) => Ok(()),
        Within::Missed => Err(format!(
            "{who}'s call did not end within {seconds} s; at {} {who}'s call state is {}{}",
            world.now(),
            state_name(world.call_state(id)),
            if world.ringing(id) {
                " and the phone is ringing"
            } else {
                ""
            }
        )),
        Within::NoSubject => Err(format!(
            "{who} had no call and no ringing invitation to end within {seconds} s"
        )),
    }
}

fn answer_outcome(world: &TurmoilWorld, id: PhoneId) -> StepResult<ActionOutcome> {
    world
        .callkit(id)
        .last_answer()
        .map(|a| a.outcome)
        .ok_or_else(|| format!("{} never answered through CallKit", world.name(id)))
}

fn answer_action(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let kind = args.text(1);
    let what = args.text(2);

    let id = s.phone(&who)?;
    let outcome = if kind == "end" {
        let world = s.world()?;
        world
            .callkit(id)
            .actions()
            .values()
            .rev()
            .find(|a| a.kind == ActionKind::End)
            .map(|a| a.outcome)
            .ok_or_else(|| format!("{who} never had a CallKit end action"))?
    } else {
        answer_outcome(s.world()?, id)?
    };
    // "fails": failed by the app, or timed out by CallKit (steps.md).
    let ok = match what.as_str() {
        "is fulfilled" => matches!(outcome, ActionOutcome::Fulfilled(_)),
        _ => matches!(
            outcome,
            ActionOutcome::Failed(_) | ActionOutcome::TimedOut(_)
        ),
    };
    expect(ok, || {
        format!(
            "{who}'s CallKit {kind} action {}, it did not {}",
            outcome_words(outcome),
            if what == "fails" {
                "fail"
            } else {
                "get fulfilled"
            }
        )
    })
}

/// A CallKit action's outcome in words.
fn outcome_words(outcome: ActionOutcome) -> String {
    match outcome {
        ActionOutcome::Open => "is still open".to_owned(),
        ActionOutcome::Fulfilled(at) => format!("was fulfilled at {at}"),
        ActionOutcome::Failed(at) => format!("failed at {at}"),
        ActionOutcome::TimedOut(at) => format!("timed out in CallKit at {at}"),
    }
}

/// An audio route in words.
fn route_words(route: Option<AudioDevice>) -> &'static str {
    match route {
        Some(AudioDevice::Speaker) => "the speaker",
        Some(AudioDevice::Earpiece) => "the earpiece",
        Some(AudioDevice::Bluetooth) => "the Bluetooth headset",
        None => "nowhere (no route)",
    }
}

/// `an audio` or `a video`.
fn a_kind(kind: &str) -> String {
    if kind == "audio" {
        "an audio".to_owned()
    } else {
        format!("a {kind}")
    }
}

fn fulfilled_after_connect(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

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
}

fn callkit_ended(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

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
}

/// Not in steps.md: CallKit holds a call with that person that it was never told had ended
/// (ringing, dialing or active), as after a WebRTC failure under CallKit (errata A4).
fn callkit_still_shows(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let peer = args.text(1);

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
}

fn chat_shows(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let peer = args.text(1);
    let text = args.text(2);

    let (id, other) = (s.phone(&who)?, s.phone(&peer)?);
    let item = s.world()?.call_item(id, other);
    expect(item.as_deref() == Some(text.as_str()), || match &item {
        Some(item) => format!("{who}'s chat with {peer} shows \"{item}\", not \"{text}\""),
        None => format!("{who}'s chat with {peer} shows no call item, not \"{text}\""),
    })
}

fn has_invitation(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let caller = args.text(1);

    let (id, from) = (s.phone(&who)?, s.phone(&caller)?);
    let has = s.world()?.has_invitation(id, from);
    expect(has, || {
        format!("{who} has no pending call invitation from {caller}")
    })
}

fn no_invitation(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    let pending = s
        .world()?
        .with_phone(id, |p| p.core().api_get_call_invitations().len());
    expect(pending == 0, || {
        format!("{who} has {pending} pending call invitation(s)")
    })
}

/// The two phones in a call with each other, if there are such.
fn callers(world: &TurmoilWorld) -> Vec<PhoneId> {
    PhoneId::all(world.phone_count())
        .filter(|id| world.with_phone(*id, |p| p.app().active_call().is_some()))
        .collect()
}

fn encrypted(s: &mut ScenarioState, _args: &Args<'_>) -> StepResult {
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
}

fn not_encrypted(s: &mut ScenarioState, _args: &Args<'_>) -> StepResult {
    let world = s.world()?;
    let phones = callers(world);
    let any_plain = phones.iter().any(|id| {
        world.with_phone(*id, |p| {
            p.app().active_call().is_some_and(|c| !c.encrypted())
        })
    });
    expect(any_plain, || "the call is end-to-end encrypted".to_owned())
}

fn audio_route(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let which = args.text(1);

    let id = s.phone(&who)?;
    let wanted = match which.as_str() {
        "speaker" => AudioDevice::Speaker,
        "earpiece" => AudioDevice::Earpiece,
        _ => AudioDevice::Bluetooth,
    };
    let route = s.world()?.audio(id).route();
    expect(route == Some(wanted), || {
        format!(
            "{who}'s audio goes to {}, not the {which}",
            route_words(route)
        )
    })
}

fn audio_active(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    let active = s.world()?.audio(id).active();
    expect(active == (what == "active"), || {
        format!("{who}'s audio session is not {what}")
    })
}

fn alert(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let text = args.text(1);

    let id = s.phone(&who)?;
    // An alert's title or its message: the engine's errors come as "Error" with the
    // engine's text as the message (ActiveCallView.processRtcMessage, errata A10).
    let alerts = s.world()?.observations(id).alerts.clone();
    let seen = alerts
        .iter()
        .any(|(title, message)| *title == text || *message == text);
    expect(seen, || {
        if alerts.is_empty() {
            format!("{who} saw no alert, not \"{text}\"")
        } else {
            let shown: Vec<String> = alerts
                .iter()
                .map(|(title, message)| format!("\"{title}\" ({message})"))
                .collect();
            format!("{who} saw the alerts {}, not \"{text}\"", shown.join(", "))
        }
    })
}

fn asked(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    let wanted = if what == "camera" {
        Permission::Camera
    } else {
        Permission::Microphone
    };
    let asked = s.world()?.observations(id).prompts.contains(&wanted);
    expect(asked, || format!("{who} was never asked for {what} access"))
}

fn hears(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let listener = args.text(0);
    let speaker = args.text(1);

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
}

fn receives_share(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let listener = args.text(0);
    let percent = args.number(1)?;
    let speaker = args.text(2);

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
}

fn relay_plain_text(s: &mut ScenarioState, _args: &Args<'_>) -> StepResult {
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
            return Err(format!("the relay saw \"{secret}\" in a message"));
        }
    }
    expect(!seen.is_empty(), || {
        "the relay saw no message at all".to_owned()
    })
}

fn no_call_remains(s: &mut ScenarioState, _args: &Args<'_>) -> StepResult {
    let world = s.world()?;
    for id in PhoneId::all(world.phone_count()) {
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
}
