//! Ringtone, call sounds and haptics (`SoundPlayer`, `CallSoundsPlayer`).

use serde::Serialize;

/// What the phone asks of the sound player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SoundCommand {
    /// Loop the ringtone, vibrating on each loop (in-app incoming call, no CallKit).
    StartRingtone,
    /// Stop the ringtone.
    StopRingtone,
    /// Loop the "connecting" sound for an outgoing call.
    StartConnectingSound,
    /// Switch to the in-call ringback loop, once the invitation's delivery receipt came.
    StartInCallLoop,
    /// Stop the call sounds.
    StopCallSounds,
    /// Vibrate: short (a heavy haptic, on connect) or long (when a connected call's view
    /// closes).
    Vibrate {
        /// The long alert vibration.
        long: bool,
    },
}
