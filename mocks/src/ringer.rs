//! `FakeRinger`: which sound is playing (`SoundPlayer`, `CallSoundsPlayer`).

use callsim_engine::io::sound::SoundCommand;
use callsim_engine::protocol::Timestamp;

/// The call sound that plays for an outgoing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSound {
    /// The connecting sound.
    Connecting,
    /// The in-call ringback loop.
    InCallLoop,
}

/// The sound player of one phone.
#[derive(Debug, Clone, Default)]
pub struct FakeRinger {
    ringtone: bool,
    call_sound: Option<CallSound>,
    vibrations: u32,
    log: Vec<(Timestamp, SoundCommand)>,
}

impl FakeRinger {
    /// A silent player.
    pub fn new() -> Self {
        FakeRinger::default()
    }

    /// Whether the ringtone plays.
    pub fn ringtone(&self) -> bool {
        self.ringtone
    }

    /// The call sound playing, if any.
    pub fn call_sound(&self) -> Option<CallSound> {
        self.call_sound
    }

    /// How often the phone vibrated.
    pub fn vibrations(&self) -> u32 {
        self.vibrations
    }

    /// What was played, in order.
    pub fn log(&self) -> &[(Timestamp, SoundCommand)] {
        &self.log
    }

    /// Everything stops (the app's process ended).
    pub fn silence(&mut self) {
        self.ringtone = false;
        self.call_sound = None;
    }

    /// Applies a command.
    pub fn handle_command(&mut self, now: Timestamp, command: SoundCommand) {
        self.log.push((now, command));
        match command {
            SoundCommand::StartRingtone => self.ringtone = true,
            SoundCommand::StopRingtone => self.ringtone = false,
            SoundCommand::StartConnectingSound => self.call_sound = Some(CallSound::Connecting),
            SoundCommand::StartInCallLoop => self.call_sound = Some(CallSound::InCallLoop),
            SoundCommand::StopCallSounds => self.call_sound = None,
            SoundCommand::Vibrate { .. } => self.vibrations += 1,
        }
    }
}
