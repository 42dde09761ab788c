//! Audio routing (spec §3.7): speaker for video, external devices first, defaults at the end.

use crate::backend::audio::{AudioCategory, AudioCommand, AudioDevice, AudioMode};
use crate::phone::{Output, Phone};

impl Phone {
    /// Configures the session for the active call; without CallKit the app activates it too.
    pub(crate) fn configure_audio_for_call(&mut self) {
        if self.app.active_call.is_none() {
            return;
        }
        self.apply_audio_route();
        if !self.config.use_callkit() {
            self.emit(Output::Audio(AudioCommand::SetActive { active: true }));
        }
    }

    /// `setSpeakerEnabledAndConfigureSession` for the active call's speaker setting.
    pub(crate) fn apply_audio_route(&mut self) {
        let Some(call) = self.app.active_call.as_ref() else {
            return;
        };
        let speaker = call.speaker_on;
        let mode = if speaker {
            AudioMode::VideoChat
        } else {
            AudioMode::VoiceChat
        };
        self.emit(Output::Audio(AudioCommand::Configure {
            category: AudioCategory::PlayAndRecord,
            mode,
            default_to_speaker: speaker,
        }));
        if speaker && self.app.bluetooth_available {
            // An external device wins over the speaker.
            self.emit(Output::Audio(AudioCommand::SetPreferredInput {
                device: AudioDevice::Bluetooth,
            }));
        } else {
            self.emit(Output::Audio(AudioCommand::OverrideOutput { speaker }));
        }
    }

    pub(crate) fn set_speaker(&mut self, on: bool) {
        if let Some(call) = self.app.active_call.as_mut() {
            call.speaker_on = on;
            self.apply_audio_route();
        }
    }

    /// The audio device picker.
    pub(crate) fn pick_audio_device(&mut self, device: AudioDevice) {
        let Some(call) = self.app.active_call.as_mut() else {
            return;
        };
        match device {
            AudioDevice::Speaker => self.set_speaker(true),
            AudioDevice::Earpiece => {
                call.speaker_on = false;
                self.emit(Output::Audio(AudioCommand::SetPreferredInput { device }));
                self.apply_audio_route();
            }
            AudioDevice::Bluetooth => {
                call.speaker_on = false;
                self.emit(Output::Audio(AudioCommand::SetPreferredInput { device }));
                self.emit(Output::Audio(AudioCommand::OverrideOutput {
                    speaker: false,
                }));
            }
        }
    }

    pub(crate) fn on_bluetooth(&mut self, available: bool) {
        self.app.bluetooth_available = available;
    }

    /// `audioSessionToDefaults`, at the end of every call.
    pub(crate) fn audio_to_defaults(&mut self) {
        self.emit(Output::Audio(AudioCommand::Configure {
            category: AudioCategory::Ambient,
            mode: AudioMode::Default,
            default_to_speaker: false,
        }));
        self.emit(Output::Audio(AudioCommand::OverrideOutput {
            speaker: false,
        }));
        self.emit(Output::Audio(AudioCommand::SetActive { active: false }));
    }
}
