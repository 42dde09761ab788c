//! `FakeAudioSession`: the audio session and the route iOS would pick.

use callsim_engine::io::audio::{AudioCategory, AudioCommand, AudioDevice, AudioMode};
use callsim_engine::protocol::Timestamp;

/// One entry of the audio session's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioLog {
    /// A command from the app.
    Command(AudioCommand),
    /// CallKit activated (true) or deactivated (false) the session.
    CallKitActive(bool),
    /// The app tried to activate the session itself while CallKit owns it.
    ActivationRefused,
}

/// The audio session of one phone.
#[derive(Debug, Clone)]
pub struct FakeAudioSession {
    uses_callkit: bool,
    active: bool,
    category: AudioCategory,
    mode: AudioMode,
    default_to_speaker: bool,
    override_speaker: bool,
    preferred: Option<AudioDevice>,
    bluetooth: bool,
    log: Vec<(Timestamp, AudioLog)>,
}

impl FakeAudioSession {
    /// A session, inactive; with CallKit only CallKit may activate it.
    pub fn new(uses_callkit: bool) -> Self {
        FakeAudioSession {
            uses_callkit,
            active: false,
            category: AudioCategory::SoloAmbient,
            mode: AudioMode::Default,
            default_to_speaker: false,
            override_speaker: false,
            preferred: None,
            bluetooth: false,
            log: Vec::new(),
        }
    }

    /// Whether the session is active.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Where call audio goes now; `None` while inactive.
    pub fn route(&self) -> Option<AudioDevice> {
        if !self.active {
            return None;
        }
        let device = if self.override_speaker {
            AudioDevice::Speaker
        } else {
            match self.preferred {
                Some(AudioDevice::Bluetooth) if self.bluetooth => AudioDevice::Bluetooth,
                Some(AudioDevice::Earpiece) => AudioDevice::Earpiece,
                _ if self.bluetooth => AudioDevice::Bluetooth,
                _ if self.default_to_speaker => AudioDevice::Speaker,
                _ => AudioDevice::Earpiece,
            }
        };
        Some(device)
    }

    /// Whether a Bluetooth headset is connected.
    pub fn bluetooth(&self) -> bool {
        self.bluetooth
    }

    /// What happened, in order.
    pub fn log(&self) -> &[(Timestamp, AudioLog)] {
        &self.log
    }

    /// Connects or disconnects a Bluetooth headset.
    pub fn set_bluetooth(&mut self, connected: bool) {
        self.bluetooth = connected;
        if !connected && self.preferred == Some(AudioDevice::Bluetooth) {
            self.preferred = None;
        }
    }

    /// CallKit activated or deactivated the session.
    pub fn set_active_by_callkit(&mut self, now: Timestamp, active: bool) {
        self.log.push((now, AudioLog::CallKitActive(active)));
        self.active = active;
    }

    /// Applies an app command.
    pub fn handle_command(&mut self, now: Timestamp, command: AudioCommand) {
        self.log.push((now, AudioLog::Command(command.clone())));
        match command {
            AudioCommand::Configure {
                category,
                mode,
                default_to_speaker,
            } => {
                self.category = category;
                self.mode = mode;
                self.default_to_speaker = default_to_speaker;
            }
            AudioCommand::OverrideOutput { speaker } => self.override_speaker = speaker,
            AudioCommand::SetPreferredInput { device } => self.preferred = Some(device),
            AudioCommand::SetActive { active } => {
                if active && self.uses_callkit {
                    // With CallKit, activation happens only through CallKit's did-activate.
                    self.log.push((now, AudioLog::ActivationRefused));
                } else {
                    self.active = active;
                    if !active {
                        self.preferred = None;
                    }
                }
            }
        }
    }
}
