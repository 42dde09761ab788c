//! `Given`: the phones.

use callsim_engine::io::{Permission, PermissionStatus};
use callsim_sim::world::AppState;

use crate::bdd::language::{Args, Keyword, Mode, StepDef};
use crate::bdd::{ScenarioState, StepResult};

/// This domain's steps.
pub(super) fn defs() -> Vec<StepDef> {
    vec![
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice and Bob are contacts",
            example: "Alice and Bob are contacts",
            meaning: "both phones exist and share a direct contact (relay queues both ways)",
            pattern: r"^([A-Z][a-z]+) and ([A-Z][a-z]+) are contacts$",
            mode: Mode::Plain,
            run: are_contacts,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice's phone is in China",
            example: "Alice's phone is in China",
            meaning: "App Store country is CHN: CallKit is not used",
            pattern: r"^([A-Z][a-z]+)'s phone is in China$",
            mode: Mode::Plain,
            run: in_china,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice has turned CallKit off",
            example: "Alice has turned CallKit off",
            meaning: "the CallKit setting is off: CallKit is not used",
            pattern: r"^([A-Z][a-z]+) has turned CallKit off$",
            mode: Mode::Plain,
            run: callkit_off,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice's phone is locked",
            example: "Alice's phone is locked",
            meaning: "the screen is locked",
            pattern: r"^([A-Z][a-z]+)'s phone is locked$",
            mode: Mode::Plain,
            run: locked,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice's app is in the background / is suspended / is not running",
            example: "Alice's app is in the background",
            meaning: "in the background SimpleX suspends the chat unless CallKit has an active call (errata A8); suspended: chat stopped, woken only by a push; not running: woken only by a VoIP push",
            pattern: r"^([A-Z][a-z]+)'s app (is in the background|is suspended|is not running)$",
            mode: Mode::Plain,
            run: app_state,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice's chat takes N seconds to start",
            example: "Alice's chat takes 5 seconds to start",
            meaning: "when woken, the chat needs N s to be running",
            pattern: r"^([A-Z][a-z]+)'s chat takes (\S+) seconds? to start$",
            mode: Mode::Plain,
            run: chat_start,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice has denied microphone access / camera access",
            example: "Alice has denied microphone access",
            meaning: "the permission is denied",
            pattern: r"^([A-Z][a-z]+) has denied (microphone|camera) access$",
            mode: Mode::Plain,
            run: denied,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice's phone does not support call encryption",
            example: "Alice's phone does not support call encryption",
            meaning: "capabilities report encryption false",
            pattern: r"^([A-Z][a-z]+)'s phone does not support call encryption$",
            mode: Mode::Plain,
            run: no_encryption,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice has a Bluetooth headset connected",
            example: "Alice has a Bluetooth headset connected",
            meaning: "a Bluetooth route is available",
            pattern: r"^([A-Z][a-z]+) has a Bluetooth headset connected$",
            mode: Mode::Plain,
            run: bluetooth,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice always relays calls through TURN",
            example: "Alice always relays calls through TURN",
            meaning: "relay-only ICE policy (SimpleX's default; restates it)",
            pattern: r"^([A-Z][a-z]+) always relays calls through TURN$",
            mode: Mode::Plain,
            run: relay_only,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice allows direct peer-to-peer calls",
            example: "Alice allows direct peer-to-peer calls",
            meaning: "the \"Always use relay\" setting is off: host and server-reflexive candidates too",
            pattern: r"^([A-Z][a-z]+) allows direct peer-to-peer calls$",
            mode: Mode::Plain,
            run: direct_calls,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "the phones use the real WebRTC stack",
            example: "the phones use the real WebRTC stack",
            meaning: "every phone uses the real WebRTC backend (webrtc-rs)",
            pattern: r"^the phones use the real WebRTC stack$",
            mode: Mode::Plain,
            run: real_webrtc,
        },
        StepDef {
            keywords: &[Keyword::Given],
            form: "Alice has not been asked for microphone access / camera access and will say yes / no",
            example: "Alice has not been asked for camera access and will say no",
            meaning: "callsim's own: the permission is not determined; the prompt comes with the first call and the user answers so",
            pattern: r"^([A-Z][a-z]+) has not been asked for (microphone|camera) access and will say (yes|no)$",
            mode: Mode::Plain,
            run: not_asked,
        },
    ]
}

fn are_contacts(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);

    if a == b {
        return Err(format!("{a} cannot be a contact of themselves"));
    }
    s.add_phone(&a)?;
    s.add_phone(&b)?;
    Ok(())
}

fn in_china(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.config.country = "CHN".into();
    Ok(())
}

fn callkit_off(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.config.callkit_enabled = false;
    Ok(())
}

fn locked(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.locked = true;
    Ok(())
}

fn app_state(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let state = args.text(1);

    s.setup(&who)?.app = match state.as_str() {
        "is in the background" => AppState::Background,
        "is suspended" => AppState::Suspended,
        _ => AppState::NotRunning,
    };
    Ok(())
}

fn chat_start(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let seconds = args.whole(1)?;

    let ms = s.duration(seconds, 1000)?;
    s.setup(&who)?.chat_start_ms = ms;
    Ok(())
}

fn denied(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);
    // Asked again, the user says no again.
    permission(s, &who, &what, PermissionStatus::Denied, false)
}

/// Sets a permission's status and what the user answers if the app asks.
fn permission(
    s: &mut ScenarioState,
    who: &str,
    what: &str,
    status: PermissionStatus,
    answer: bool,
) -> StepResult {
    let setup = s.setup(who)?;
    let permission = if what == "camera" {
        setup.config.camera = status;
        Permission::Camera
    } else {
        setup.config.microphone = status;
        Permission::Microphone
    };
    setup.permission_answers.insert(permission, answer);
    Ok(())
}

fn no_encryption(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.encryption = false;
    Ok(())
}

fn bluetooth(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.bluetooth = true;
    Ok(())
}

fn relay_only(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.config.relay_policy = true;
    Ok(())
}

fn direct_calls(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    s.setup(&who)?.config.relay_policy = false;
    Ok(())
}

fn real_webrtc(s: &mut ScenarioState, _args: &Args<'_>) -> StepResult {
    s.use_real_webrtc()
}

/// Not in steps.md: a permission never asked for; the prompt comes with the first call and the
/// user says `yes` or `no`.
fn not_asked(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);
    let answer = args.text(2);
    permission(
        s,
        &who,
        &what,
        PermissionStatus::NotDetermined,
        answer == "yes",
    )
}
