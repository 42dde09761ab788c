//! The audio session during calls (`setSpeakerEnabledAndConfigureSession` in
//! `WebRTCClient.swift`, `CallController`'s `didActivate`, the device picker).

use super::{App, Ctx};
use crate::io::Output;
use crate::io::audio::{AudioCategory, AudioCommand, AudioDevice, AudioMode};

impl App {
    /// `setSpeakerEnabledAndConfigureSession`: play-and-record, the speaker or the earpiece (an
    /// external device wins over the speaker), then active. The client runs it when ICE starts
    /// checking, with and without CallKit, and when the speaker button changes.
    pub(crate) fn configure_session(&mut self, cx: &mut Ctx<'_>, speaker: bool) {
        self.route(cx, speaker);
        cx.emit(Output::Audio(AudioCommand::SetActive { active: true }));
    }

    /// CallKit's `didActivate`: audio flows, the session is configured for the call's video
    /// (the speaker, unless an external device is there), then active.
    pub(crate) fn callkit_audio_activated(&mut self, cx: &mut Ctx<'_>) {
        self.audio_enabled = true;
        let video = self.model.active.as_ref().is_some_and(|c| c.camera);
        self.route(cx, video);
        cx.emit(Output::Audio(AudioCommand::SetActive { active: true }));
    }

    fn route(&mut self, cx: &mut Ctx<'_>, speaker: bool) {
        let mode = if speaker {
            AudioMode::VideoChat
        } else {
            AudioMode::VoiceChat
        };
        cx.emit(Output::Audio(AudioCommand::Configure {
            category: AudioCategory::PlayAndRecord,
            mode,
            default_to_speaker: speaker,
        }));
        if speaker && self.bluetooth {
            cx.emit(Output::Audio(AudioCommand::SetPreferredInput {
                device: AudioDevice::Bluetooth,
            }));
        } else {
            cx.emit(Output::Audio(AudioCommand::OverrideOutput { speaker }));
        }
    }

    /// The audio device picker.
    pub(crate) fn pick_audio_device(&mut self, cx: &mut Ctx<'_>, device: AudioDevice) {
        let Some(call) = self.model.active.as_mut() else {
            return;
        };
        match device {
            AudioDevice::Speaker => {
                call.speaker_enabled = true;
                self.route(cx, true);
            }
            AudioDevice::Earpiece => {
                call.speaker_enabled = false;
                cx.emit(Output::Audio(AudioCommand::SetPreferredInput { device }));
                self.route(cx, false);
            }
            AudioDevice::Bluetooth => {
                call.speaker_enabled = false;
                cx.emit(Output::Audio(AudioCommand::SetPreferredInput { device }));
                cx.emit(Output::Audio(AudioCommand::OverrideOutput {
                    speaker: false,
                }));
            }
        }
    }

    /// `audioSessionToDefaults`, when the client ends its call.
    pub(crate) fn audio_to_defaults(&mut self, cx: &mut Ctx<'_>) {
        cx.emit(Output::Audio(AudioCommand::Configure {
            category: AudioCategory::Ambient,
            mode: AudioMode::Default,
            default_to_speaker: false,
        }));
        cx.emit(Output::Audio(AudioCommand::OverrideOutput {
            speaker: false,
        }));
        cx.emit(Output::Audio(AudioCommand::SetActive { active: false }));
    }
}
