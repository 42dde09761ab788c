//! Ringtone, call sounds and haptics (`SoundPlayer`, `CallSoundsPlayer`).

use serde::Serialize;

/// What the phone asks of the sound player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SoundCommand {
    /// Loop the ringtone, vibrating on each loop (in-app incoming call, no CallKit).
    StartRingtone,
    /// Stop the ringtone.
    StopRingtone,
    /// Play the "connecting" sound for an outgoing call.
    StartConnectingSound,
    /// Switch to the in-call ringback loop (7 s after calling).
    StartInCallLoop,
    /// Stop the call sounds.
    StopCallSounds,
    /// Vibrate, as on connect.
    Vibrate,
}
