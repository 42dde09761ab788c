//! The settings a world is built from, shared by both worlds: steps.md's `Given`s for each
//! phone, the seed, and the world-wide media latency.

use std::collections::BTreeMap;

use callsim_engine::crypto::MediaPlatform;
use callsim_engine::io::{Permission, PhoneConfig};

use crate::PhoneId;

/// The app's state when the world starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    /// In the foreground, chat running.
    Foreground,
    /// Sent to the background: SimpleX suspends the chat there unless a CallKit call is on,
    /// so it wakes only by a push.
    Background,
    /// Suspended: chat stopped, woken only by a push.
    Suspended,
    /// Not running: woken only by a VoIP push.
    NotRunning,
}

/// One phone of a world to build: steps.md's `Given`s as settings.
#[derive(Debug, Clone)]
pub struct PhoneSetup {
    /// Name, country, CallKit setting, permissions.
    pub config: PhoneConfig,
    /// The app's state at the start.
    pub app: AppState,
    /// The screen is locked: the app is not visible (a foreground app counts as background),
    /// CallKit's screen still rings, the in-app view waits for the app to come back.
    pub locked: bool,
    /// How long the chat takes to start when woken.
    pub chat_start_ms: u64,
    /// How long pushes to this phone take.
    pub push_delay_ms: u64,
    /// A Bluetooth headset is connected.
    pub bluetooth: bool,
    /// The WebRTC engine supports frame encryption.
    pub encryption: bool,
    /// What the user answers to permission prompts (granted if absent).
    pub permission_answers: BTreeMap<Permission, bool>,
    /// One-way latency of the link to the relay.
    pub relay_latency_ms: u64,
    /// The phone runs the real WebRTC stack (webrtc-rs, [`crate::rtc::real`]; the turmoil world only) instead of SimRtc.
    pub real_webrtc: bool,
    /// Whose frame encryption its WebRTC engine runs: iOS's native client (the default) or
    /// call.ts, which differ in empty frames and in what a frame that does not decrypt does.
    pub platform: MediaPlatform,
}

impl PhoneSetup {
    /// The defaults of steps.md for a phone of `name`.
    pub fn new(name: &str, seed: u64) -> Self {
        PhoneSetup {
            config: PhoneConfig::new(name, seed),
            app: AppState::Foreground,
            locked: false,
            chat_start_ms: 500,
            push_delay_ms: 300,
            bluetooth: false,
            encryption: true,
            permission_answers: BTreeMap::new(),
            relay_latency_ms: 20,
            real_webrtc: false,
            platform: MediaPlatform::Ios,
        }
    }
}

/// Builds a world from settings: the turmoil world (`build`, in [`crate::world`]) or the
/// in-memory world (`build_memory`, in [`crate::memory`]), which both read it.
#[derive(Debug, Clone)]
pub struct WorldBuilder {
    pub(crate) seed: u64,
    pub(crate) trace: bool,
    pub(crate) media_latency_ms: u64,
    pub(crate) phones: Vec<PhoneSetup>,
}

impl WorldBuilder {
    /// A world with this seed and no phones; traces are recorded.
    pub fn new(seed: u64) -> Self {
        WorldBuilder {
            seed,
            trace: true,
            media_latency_ms: 20,
            phones: Vec::new(),
        }
    }

    /// Whether to record the trace (benchmarks turn it off).
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// Adds a phone with the defaults and returns its setup to change.
    pub fn phone(&mut self, name: &str) -> &mut PhoneSetup {
        let seed = self
            .seed
            .wrapping_mul(31)
            .wrapping_add(self.phones.len() as u64 + 1);
        self.phones.push(PhoneSetup::new(name, seed));
        let last = self.phones.len() - 1;
        &mut self.phones[last]
    }

    /// The setup of an added phone.
    pub fn setup(&mut self, id: PhoneId) -> &mut PhoneSetup {
        &mut self.phones[id.0]
    }

    /// The id the next phone added gets.
    pub fn next_id(&self) -> PhoneId {
        PhoneId(self.phones.len())
    }

    /// The phones added so far.
    pub fn phones(&self) -> &[PhoneSetup] {
        &self.phones
    }
}
