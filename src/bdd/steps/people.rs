//! `When`: what people and phones do.

use callsim_engine::ids::ContactId;
use callsim_engine::io::UserAction;
use callsim_engine::io::audio::AudioDevice;
use callsim_engine::protocol::VideoCamera;
use callsim_sim::World;
use callsim_sim::world::{PhoneId, TurmoilWorld};

use super::media;
use crate::bdd::language::{Args, Keyword, Mode, StepDef};
use crate::bdd::{ScenarioState, StepResult};

/// The caller on `id`'s in-app incoming call view; the in-app buttons exist only there.
fn incoming_caller(world: &TurmoilWorld, id: PhoneId) -> StepResult<ContactId> {
    world.with_phone(id, |p| {
        p.app().incoming_view().ok_or_else(|| {
            format!(
                "{} has no in-app incoming call view to act on (a CallKit call is answered or declined \"through CallKit\")",
                world.name(id)
            )
        })
    })
}

/// This domain's steps.
pub(super) fn defs() -> Vec<StepDef> {
    vec![
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice starts an audio call / a video call to Bob",
            example: "Alice starts an audio call to Bob",
            meaning: "tap of the call button in the chat with Bob",
            pattern: r"^([A-Z][a-z]+) starts an? (audio|video) call to ([A-Z][a-z]+)$",
            mode: Mode::Act,
            run: start_call,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice and Bob start audio calls / video calls to each other at the same time",
            example: "Alice and Bob start audio calls to each other at the same time",
            meaning: "both tap within the same millisecond",
            pattern: r"^([A-Z][a-z]+) and ([A-Z][a-z]+) start (audio|video) calls to each other at the same time$",
            mode: Mode::Act,
            run: glare,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Bob answers the call through CallKit",
            example: "Bob answers the call through CallKit",
            meaning: "swipe/tap accept on the native call screen",
            pattern: r"^([A-Z][a-z]+) answers the call through CallKit$",
            mode: Mode::Act,
            run: callkit_answer,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Bob declines the call through CallKit",
            example: "Bob declines the call through CallKit",
            meaning: "Decline on the native call screen",
            pattern: r"^([A-Z][a-z]+) declines the call through CallKit$",
            mode: Mode::Act,
            run: callkit_decline,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Bob accepts the call in the app / rejects the call in the app / ignores the call",
            example: "Bob accepts the call in the app",
            meaning: "Accept, Reject or Ignore on the in-app incoming call view",
            pattern: r"^([A-Z][a-z]+) (accepts the call in the app|rejects the call in the app|ignores the call)$",
            mode: Mode::Act,
            run: in_app,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice ends the call",
            example: "Alice ends the call",
            meaning: "End button (or CallKit end) during a call or while calling: the end button of what shows",
            pattern: r"^([A-Z][a-z]+) ends the call$",
            mode: Mode::Act,
            run: end_call,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice mutes the microphone / unmutes the microphone",
            example: "Alice mutes the microphone",
            meaning: "the call view's mic toggle",
            pattern: r"^([A-Z][a-z]+) (mutes|unmutes) the microphone$",
            mode: Mode::Act,
            run: microphone,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice turns the speaker on / off, turns the camera on / off",
            example: "Alice turns the speaker on",
            meaning: "speaker or camera toggle",
            pattern: r"^([A-Z][a-z]+) turns the (speaker|camera) (on|off)$",
            mode: Mode::Act,
            run: toggle,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice switches to the back camera / front camera",
            example: "Alice switches to the back camera",
            meaning: "camera flip",
            pattern: r"^([A-Z][a-z]+) switches to the (back|front) camera$",
            mode: Mode::Act,
            run: switch_camera,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice picks the Bluetooth headset / the speaker / the earpiece for audio",
            example: "Alice picks the speaker for audio",
            meaning: "audio device picker",
            pattern: r"^([A-Z][a-z]+) picks the (Bluetooth headset|speaker|earpiece) for audio$",
            mode: Mode::Act,
            run: pick_device,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "N seconds pass / N milliseconds pass",
            example: "5 seconds pass",
            meaning: "simulated time advances",
            pattern: r"^(\S+) (seconds?|milliseconds?) pass(?:es)?$",
            mode: Mode::Plain,
            run: time_passes,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice's app is killed / is started",
            example: "Alice's app is killed",
            meaning: "process ends / starts again (persistence applies)",
            pattern: r"^([A-Z][a-z]+)'s app is (killed|started)$",
            mode: Mode::Act,
            run: app_process,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice's app goes to the background / comes to the foreground",
            example: "Alice's app goes to the background",
            meaning: "app state change",
            pattern: r"^([A-Z][a-z]+)'s app (goes to the background|comes to the foreground)$",
            mode: Mode::Act,
            run: app_visibility,
        },
        StepDef {
            keywords: &[Keyword::When],
            form: "Alice's chat finishes starting",
            example: "Alice's chat finishes starting",
            meaning: "the chat becomes running now",
            pattern: r"^([A-Z][a-z]+)'s chat finishes starting$",
            mode: Mode::Act,
            run: chat_started,
        },
    ]
}

fn start_call(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let caller = args.text(0);
    let kind = args.text(1);
    let callee = args.text(2);

    let (a, b) = (s.phone(&caller)?, s.phone(&callee)?);
    s.world()?.start_call(a, b, media(&kind));
    Ok(())
}

fn glare(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let kind = args.text(2);

    let (a, b) = (s.phone(&a)?, s.phone(&b)?);
    let world = s.world()?;
    world.start_call(a, b, media(&kind));
    world.start_call(b, a, media(&kind));
    Ok(())
}

fn callkit_answer(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    if s.world()?.callkit_answer(id) {
        Ok(())
    } else {
        Err(format!("{who}'s CallKit shows no incoming call to answer"))
    }
}

fn callkit_decline(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    if s.world()?.callkit_end(id) {
        Ok(())
    } else {
        Err(format!("{who}'s CallKit shows no call to decline"))
    }
}

fn in_app(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    let world = s.world()?;
    let contact_id = incoming_caller(world, id)?;
    let action = match what.as_str() {
        "accepts the call in the app" => UserAction::AcceptCall { contact_id },
        "rejects the call in the app" => UserAction::RejectCall { contact_id },
        _ => UserAction::IgnoreCall { contact_id },
    };
    world.user(id, action);
    Ok(())
}

fn end_call(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    let world = s.world()?;
    // The end button of what shows: the app's call view, or else CallKit's own screen
    // (an answered CallKit call whose app has no call yet, waiting for its chat).
    let app_call = world.with_phone(id, |p| p.app().active_call().is_some());
    if !app_call && world.callkit(id).live_calls() > 0 && world.callkit(id).ringing().is_none() {
        world.callkit_end(id);
    } else {
        world.user(id, UserAction::EndCall);
    }
    Ok(())
}

fn microphone(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    let muted = what == "mutes";
    s.world()?.user(id, UserAction::SetMicrophone { muted });
    Ok(())
}

fn toggle(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);
    let state = args.text(2);

    let id = s.phone(&who)?;
    let on = state == "on";
    let action = if what == "speaker" {
        UserAction::SetSpeaker { on }
    } else {
        UserAction::SetCamera { on }
    };
    s.world()?.user(id, action);
    Ok(())
}

fn switch_camera(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let which = args.text(1);

    let id = s.phone(&who)?;
    let camera = if which == "back" {
        VideoCamera::Environment
    } else {
        VideoCamera::User
    };
    s.world()?.user(id, UserAction::SwitchCamera { camera });
    Ok(())
}

fn pick_device(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let which = args.text(1);

    let id = s.phone(&who)?;
    let device = match which.as_str() {
        "Bluetooth headset" => AudioDevice::Bluetooth,
        "speaker" => AudioDevice::Speaker,
        _ => AudioDevice::Earpiece,
    };
    s.world()?.user(id, UserAction::PickAudioDevice { device });
    Ok(())
}

fn time_passes(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let n = args.whole(0)?;
    let unit = args.text(1);

    let ms = s.duration(n, if unit.starts_with("second") { 1000 } else { 1 })?;
    s.advance(ms)?;
    s.mark_when()
}

fn app_process(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    if what == "killed" {
        s.killed(id)?;
        s.world()?.kill_app(id);
    } else {
        s.world()?.launch_app(id);
    }
    Ok(())
}

fn app_visibility(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    let world = s.world()?;
    if what == "goes to the background" {
        world.to_background(id);
    } else {
        world.to_foreground(id);
    }
    Ok(())
}

fn chat_started(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    s.world()?.finish_chat_start(id);
    Ok(())
}
