//! `When`: what people and phones do.

use callsim_engine::ids::ContactId;
use callsim_engine::io::UserAction;
use callsim_engine::io::audio::AudioDevice;
use callsim_engine::protocol::VideoCamera;
use callsim_sim::world::{PhoneId, World};
use cucumber::when;

use super::media;
use crate::bdd::{CallWorld, ScenarioState, StepResult};

/// Runs a user action, then lets the phone see it.
async fn act(w: &mut CallWorld, f: impl FnOnce(&mut ScenarioState) -> StepResult + Send + 'static) {
    w.run(move |s| {
        f(s)?;
        s.when_done()
    })
    .await;
}

/// The caller on `id`'s in-app incoming call view; the in-app buttons exist only there.
fn incoming_caller(world: &World, id: PhoneId) -> StepResult<ContactId> {
    world.with_phone(id, |p| {
        p.app().incoming_view().ok_or_else(|| {
            format!(
                "{} has no in-app incoming call view to act on (a CallKit call is answered or declined \"through CallKit\")",
                world.name(id)
            )
        })
    })
}

#[when(regex = r"^([A-Z][a-z]+) starts an? (audio|video) call to ([A-Z][a-z]+)$")]
async fn start_call(w: &mut CallWorld, caller: String, kind: String, callee: String) {
    act(w, move |s| {
        let (a, b) = (s.phone(&caller)?, s.phone(&callee)?);
        s.world()?.start_call(a, b, media(&kind));
        Ok(())
    })
    .await;
}

#[when(
    regex = r"^([A-Z][a-z]+) and ([A-Z][a-z]+) start (audio|video) calls to each other at the same time$"
)]
async fn glare(w: &mut CallWorld, a: String, b: String, kind: String) {
    act(w, move |s| {
        let (a, b) = (s.phone(&a)?, s.phone(&b)?);
        let world = s.world()?;
        world.start_call(a, b, media(&kind));
        world.start_call(b, a, media(&kind));
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) answers the call through CallKit$")]
async fn callkit_answer(w: &mut CallWorld, who: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        if s.world()?.callkit_answer(id) {
            Ok(())
        } else {
            Err(format!("{who}'s CallKit shows no incoming call to answer"))
        }
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) declines the call through CallKit$")]
async fn callkit_decline(w: &mut CallWorld, who: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        if s.world()?.callkit_end(id) {
            Ok(())
        } else {
            Err(format!("{who}'s CallKit shows no call to decline"))
        }
    })
    .await;
}

#[when(
    regex = r"^([A-Z][a-z]+) (accepts the call in the app|rejects the call in the app|ignores the call)$"
)]
async fn in_app(w: &mut CallWorld, who: String, what: String) {
    act(w, move |s| {
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
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) ends the call$")]
async fn end_call(w: &mut CallWorld, who: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        let world = s.world()?;
        // The end button of what shows: the app's call view, or else CallKit's own screen
        // (an answered CallKit call whose app has no call yet, waiting for its chat).
        let app_call = world.with_phone(id, |p| p.app().active_call().is_some());
        if !app_call && world.callkit(id).live_calls() > 0 && world.callkit(id).ringing().is_none()
        {
            world.callkit_end(id);
        } else {
            world.user(id, UserAction::EndCall);
        }
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) (mutes|unmutes) the microphone$")]
async fn microphone(w: &mut CallWorld, who: String, what: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        let muted = what == "mutes";
        s.world()?.user(id, UserAction::SetMicrophone { muted });
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) turns the (speaker|camera) (on|off)$")]
async fn toggle(w: &mut CallWorld, who: String, what: String, state: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        let on = state == "on";
        let action = if what == "speaker" {
            UserAction::SetSpeaker { on }
        } else {
            UserAction::SetCamera { on }
        };
        s.world()?.user(id, action);
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) switches to the (back|front) camera$")]
async fn switch_camera(w: &mut CallWorld, who: String, which: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        let camera = if which == "back" {
            VideoCamera::Environment
        } else {
            VideoCamera::User
        };
        s.world()?.user(id, UserAction::SwitchCamera { camera });
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+) picks the (Bluetooth headset|speaker|earpiece) for audio$")]
async fn pick_device(w: &mut CallWorld, who: String, which: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        let device = match which.as_str() {
            "Bluetooth headset" => AudioDevice::Bluetooth,
            "speaker" => AudioDevice::Speaker,
            _ => AudioDevice::Earpiece,
        };
        s.world()?.user(id, UserAction::PickAudioDevice { device });
        Ok(())
    })
    .await;
}

#[when(regex = r"^(\d+) (seconds?|milliseconds?) pass(?:es)?$")]
async fn time_passes(w: &mut CallWorld, n: u64, unit: String) {
    w.run(move |s| {
        let ms = if unit.starts_with("second") {
            n * 1000
        } else {
            n
        };
        s.advance(ms)?;
        s.mark_when()
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+)'s app is (killed|started)$")]
async fn app_process(w: &mut CallWorld, who: String, what: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        if what == "killed" {
            s.killed(id)?;
            s.world()?.kill_app(id);
        } else {
            s.world()?.launch_app(id);
        }
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+)'s app (goes to the background|comes to the foreground)$")]
async fn app_visibility(w: &mut CallWorld, who: String, what: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        let world = s.world()?;
        if what == "goes to the background" {
            world.to_background(id);
        } else {
            world.to_foreground(id);
        }
        Ok(())
    })
    .await;
}

#[when(regex = r"^([A-Z][a-z]+)'s chat finishes starting$")]
async fn chat_started(w: &mut CallWorld, who: String) {
    act(w, move |s| {
        let id = s.phone(&who)?;
        s.world()?.finish_chat_start(id);
        Ok(())
    })
    .await;
}
