//! SimpleX's own behaviours that look like failures: when a scenario fails in a state one of
//! them leaves behind, the failure says so and points to where the project explains it.

use callsim_sim::{PhoneId, World};

use super::ScenarioState;

/// A note for a failed scenario whose world shows one of SimpleX's known behaviours.
pub(super) fn explain(state: &ScenarioState) -> Option<String> {
    let world = state.built()?;
    let n = world.phone_count();
    let note = |what: &str, entry: &str| {
        format!("note: {what}: SimpleX does this; see docs/findings.md, \"{entry}\"")
    };
    for a in PhoneId::all(n) {
        for b in PhoneId::all(n).skip(a.index() + 1) {
            if world.has_invitation(a, b) && world.has_invitation(b, a) {
                return Some(note(
                    &format!(
                        "{} and {} each hold the other's invitation (glare)",
                        world.name(a),
                        world.name(b)
                    ),
                    "Glare: accepting the peer's call ends the invitation being accepted",
                ));
            }
        }
    }
    for id in PhoneId::all(n) {
        let app_call = world.call_state(id).is_some();
        let callkit = world.callkit(id);
        let invitations = world.with_phone(id, |p| p.core().api_get_call_invitations().len());
        if callkit.ringing().is_some() && invitations == 0 && !app_call {
            return Some(note(
                &format!(
                    "{}'s CallKit rings for an invitation the core no longer has",
                    world.name(id)
                ),
                "A CallKit call outlives its invitation",
            ));
        }
        if callkit.live_calls() > 0 && callkit.ringing().is_none() && !app_call {
            return Some(note(
                &format!(
                    "{}'s CallKit keeps a call the app has ended",
                    world.name(id)
                ),
                "A WebRTC failure under CallKit leaves CallKit's call behind",
            ));
        }
        let blocked = world.with_phone(id, |p| {
            p.app().queue().waiting().next().is_some_and(|head| {
                matches!(
                    head,
                    callsim_engine::io::webrtc::WebRtcCommand::Media { .. }
                )
            }) && p.app().queue().waiting().count() > 1
        });
        if blocked {
            return Some(note(
                &format!(
                    "{}'s WebRTC commands wait behind a mute queued by CallKit",
                    world.name(id)
                ),
                "A CallKit mute before the peer connection exists blocks the caller's offer",
            ));
        }
    }
    None
}
