//! `Given`: the phones.

use callsim_engine::io::{Permission, PermissionStatus};
use callsim_sim::world::AppState;
use cucumber::given;

use crate::bdd::CallWorld;

#[given(regex = r"^([A-Z][a-z]+) and ([A-Z][a-z]+) are contacts$")]
async fn are_contacts(w: &mut CallWorld, a: String, b: String) {
    w.run(move |s| {
        if a == b {
            return Err(format!("{a} cannot be a contact of themselves"));
        }
        s.add_phone(&a)?;
        s.add_phone(&b)?;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+)'s phone is in China$")]
async fn in_china(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.config.country = "CHN".into();
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+) has turned CallKit off$")]
async fn callkit_off(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.config.callkit_enabled = false;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+)'s phone is locked$")]
async fn locked(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.locked = true;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+)'s app (is in the background|is suspended|is not running)$")]
async fn app_state(w: &mut CallWorld, who: String, state: String) {
    w.run(move |s| {
        s.setup(&who)?.app = match state.as_str() {
            "is in the background" => AppState::Background,
            "is suspended" => AppState::Suspended,
            _ => AppState::NotRunning,
        };
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+)'s chat takes (\d+) seconds? to start$")]
async fn chat_start(w: &mut CallWorld, who: String, seconds: u64) {
    w.run(move |s| {
        s.setup(&who)?.chat_start_ms = seconds * 1000;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+) has denied (microphone|camera) access$")]
async fn denied(w: &mut CallWorld, who: String, what: String) {
    // Asked again, the user says no again.
    permission(w, who, what, PermissionStatus::Denied, false).await;
}

/// Sets a permission's status and what the user answers if the app asks.
async fn permission(
    w: &mut CallWorld,
    who: String,
    what: String,
    status: PermissionStatus,
    answer: bool,
) {
    w.run(move |s| {
        let setup = s.setup(&who)?;
        let permission = if what == "camera" {
            setup.config.camera = status;
            Permission::Camera
        } else {
            setup.config.microphone = status;
            Permission::Microphone
        };
        setup.permission_answers.insert(permission, answer);
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+)'s phone does not support call encryption$")]
async fn no_encryption(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.encryption = false;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+) has a Bluetooth headset connected$")]
async fn bluetooth(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.bluetooth = true;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+) always relays calls through TURN$")]
async fn relay_only(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.config.relay_policy = true;
        Ok(())
    })
    .await;
}

#[given(regex = r"^([A-Z][a-z]+) allows direct peer-to-peer calls$")]
async fn direct_calls(w: &mut CallWorld, who: String) {
    w.run(move |s| {
        s.setup(&who)?.config.relay_policy = false;
        Ok(())
    })
    .await;
}

#[given(regex = r"^the phones use the real WebRTC stack$")]
async fn real_webrtc(w: &mut CallWorld) {
    w.run(|s| s.use_real_webrtc()).await;
}

/// Not in steps.md: a permission never asked for; the prompt comes with the first call and the
/// user says `yes` or `no`.
#[given(
    regex = r"^([A-Z][a-z]+) has not been asked for (microphone|camera) access and will say (yes|no)$"
)]
async fn not_asked(w: &mut CallWorld, who: String, what: String, answer: String) {
    permission(
        w,
        who,
        what,
        PermissionStatus::NotDetermined,
        answer == "yes",
    )
    .await;
}
