//! The audio session (`AVAudioSession` / `RTCAudioSession`).

use serde::Serialize;

/// An output route for call audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AudioDevice {
    /// The built-in receiver at the ear.
    Earpiece,
    /// The built-in loudspeaker.
    Speaker,
    /// A Bluetooth headset.
    Bluetooth,
}

/// `AVAudioSession.Category` values the app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AudioCategory {
    /// During calls.
    PlayAndRecord,
    /// After a call (`audioSessionToDefaults`).
    Ambient,
    /// When the call view disappears.
    SoloAmbient,
    /// An outgoing video call's ringback on the speaker.
    Playback,
}

/// `AVAudioSession.Mode` values the app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AudioMode {
    /// Audio calls, speaker off.
    VoiceChat,
    /// Video calls or speaker on.
    VideoChat,
    /// Outside calls.
    Default,
}

/// What the phone asks of the audio session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum AudioCommand {
    /// `setCategory(_:mode:options:)`; Bluetooth is always allowed during calls.
    Configure {
        /// The category.
        category: AudioCategory,
        /// The mode.
        mode: AudioMode,
        /// The `defaultToSpeaker` option.
        default_to_speaker: bool,
    },
    /// `overrideOutputAudioPort(.speaker / .none)`.
    OverrideOutput {
        /// Force the loudspeaker.
        speaker: bool,
    },
    /// `setPreferredInput`: route to this device when it is available.
    SetPreferredInput {
        /// The device.
        device: AudioDevice,
    },
    /// `setActive(true/false)`. With CallKit only CallKit activates the session.
    SetActive {
        /// Activate or deactivate.
        active: bool,
    },
}
