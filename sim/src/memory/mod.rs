//! The in-memory world: phones, a relay, WebRTC and the platform fakes, in virtual time.
//!
//! Everything happens in one thread, in order of simulated time: [`MemoryWorld::run_for`] jumps
//! from one scheduled event or deadline to the next, with no tick. At one instant, scheduled
//! events run first (in the order they were scheduled), then phones' deadlines, then WebRTC
//! timers, so a run depends only on its inputs and seeds.
//!
//! - **Relay**: [`callsim_mocks::relay::Relay`], SMP's rules (a queue per direction, one
//!   unacknowledged message at a time, pushes for notifying messages to sleeping phones); each
//!   hop takes the phone's relay-link latency, and a push wakes the phone's notification
//!   extension after the phone's push delay. Bodies are end-to-end encrypted between contacts
//!   as in the turmoil world, so the relay holds ciphertext. A phone's agent drops redelivered
//!   messages by id.
//! - **WebRTC** ([`WebRtcModel`]): the scripted network of `callsim-mocks`, or SimRtc endpoints
//!   whose datagrams the world carries over the media paths ([`crate::paths`]).
//! - **Fakes**: CallKit, the audio session and the sound player from `callsim-mocks`.

mod events;
mod explore;
mod rtc;

use events::{Event, Scheduled};

pub use explore::{Happening, RelayFault};
pub use rtc::WebRtcModel;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;

use callsim_engine::io::callkit::CallKitEvent;
use callsim_engine::io::{
    Input, LifecycleCommand, LifecycleEvent, MessageKind, Output, Permission, PhoneConfig, UiEvent,
    UserAction,
};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::Timestamp;
use callsim_mocks::relay::{Relay, RelayAction, RelayMessage, client_of};
use callsim_mocks::webrtc::{RtcAction, RtcEvent, ScriptedRtcNetwork};
use callsim_mocks::{FakeAudioSession, FakeCallKit, FakeRinger};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tracing::debug;

use crate::e2e::PairCipher;
use crate::loss::Loss;
use crate::paths::PathLatency;
use crate::rtc::{RtcControl, RtcStats};
use crate::setup::{AppState, PhoneSetup, WorldBuilder};
use crate::trace::{TraceEvent, TraceRecord};
use crate::{PhoneId, World, WorldError};
use rtc::{NetOutput, SimNet, phone_ip};

pub use callsim_mocks::relay::contact_id;

/// Timing of the world; every value is in milliseconds of simulated time.
#[derive(Debug, Clone)]
pub struct Timing {
    /// One-way latency between a phone and the relay, for phones added with
    /// [`MemoryWorld::add_phone`].
    pub relay_latency: u64,
    /// From the relay's push to the phone.
    pub push_delay: u64,
    /// From "start the chat" to the chat running.
    pub chat_start: u64,
    /// How long the user takes to answer a permission prompt.
    pub permission_prompt: u64,
    /// The WebRTC the phones run.
    pub webrtc: WebRtcModel,
}

impl Default for Timing {
    /// The defaults of steps.md (20 ms links), and the scripted WebRTC of a good network.
    fn default() -> Self {
        Timing {
            relay_latency: 20,
            push_delay: 300,
            chat_start: 500,
            permission_prompt: 1_000,
            webrtc: WebRtcModel::default(),
        }
    }
}

/// One phone with its platform.
#[derive(Debug, Clone)]
struct Host {
    phone: Phone,
    deadline: Option<Timestamp>,
    callkit: FakeCallKit,
    /// When the world next wakes CallKit for its action timeouts.
    callkit_wake: Option<Timestamp>,
    audio: FakeAudioSession,
    sound: FakeRinger,
    relay_latency: u64,
    chat_start: u64,
    push_delay: u64,
    permission_answers: BTreeMap<Permission, bool>,
    prompts: Vec<Permission>,
    alerts: Vec<String>,
    /// How often the chat was suspended: a start asked before a suspension is void.
    suspensions: u64,
    /// Draws the nonces of its end-to-end encrypted messages.
    rng: ChaCha8Rng,
    /// The app's process runs (not killed).
    running: bool,
}

/// The WebRTC of the world.
#[derive(Debug, Clone)]
enum Net {
    Scripted(ScriptedRtcNetwork),
    Sim(Box<SimNet>),
}

/// Two or more phones, a relay and WebRTC, in virtual time. Cloning one forks the world (the
/// explorer does, to try each thing that may happen next).
#[derive(Debug, Clone)]
pub struct MemoryWorld {
    now: Timestamp,
    seed: u64,
    timing: Timing,
    hosts: Vec<Host>,
    relay: Relay,
    net: Net,
    /// The cipher of each pair of contacts (lower index first).
    ciphers: BTreeMap<(usize, usize), PairCipher>,
    /// Scheduled events, earliest first, in the order scheduled at one instant.
    events: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    trace: Option<Vec<TraceRecord>>,
    /// Scratch space for what SimRtc asks, reused.
    net_out: Vec<NetOutput>,
    /// Message kinds a phone loses on receipt (a bug planted by the explorer's tests).
    lost_on_receipt: Vec<(PhoneId, MessageKind)>,
}

impl WorldBuilder {
    /// Builds the in-memory world: every phone is a contact of every other, and WebRTC is
    /// `webrtc`. Phones that run the real WebRTC stack need the turmoil world.
    pub fn build_memory(self, webrtc: WebRtcModel) -> Result<MemoryWorld, WorldError> {
        MemoryWorld::build(self, webrtc)
    }
}

impl MemoryWorld {
    /// An empty world at time zero, seeded with 0.
    pub fn new(timing: Timing) -> Self {
        Self::with_seed(0, timing)
    }

    /// An empty world at time zero whose message ciphers, media paths and WebRTC endpoints
    /// draw from `seed`.
    pub fn with_seed(seed: u64, timing: Timing) -> Self {
        let net = match &timing.webrtc {
            WebRtcModel::Scripted(rtc) => Net::Scripted(ScriptedRtcNetwork::new(rtc.clone())),
            WebRtcModel::SimRtc => Net::Sim(Box::new(SimNet::new(seed, 20))),
        };
        MemoryWorld {
            now: Timestamp(0),
            seed,
            net,
            timing,
            hosts: Vec::new(),
            relay: Relay::recording(),
            ciphers: BTreeMap::new(),
            events: BinaryHeap::new(),
            seq: 0,
            trace: None,
            net_out: Vec::new(),
            lost_on_receipt: Vec::new(),
        }
    }

    fn build(builder: WorldBuilder, webrtc: WebRtcModel) -> Result<Self, WorldError> {
        if builder.phones.iter().any(|p| p.real_webrtc) {
            return Err(WorldError::Unsupported {
                world: "in-memory world",
                what: "the real WebRTC stack (webrtc-rs needs sockets: use the turmoil world)",
            });
        }
        let timing = Timing {
            webrtc,
            ..Timing::default()
        };
        let mut world = Self::with_seed(builder.seed, timing);
        if let Net::Sim(net) = &mut world.net {
            **net = SimNet::new(builder.seed, builder.media_latency_ms);
        }
        if builder.trace {
            world.record_trace();
        }
        for setup in &builder.phones {
            world.add_host(setup.config.clone(), setup);
        }
        for a in 0..world.hosts.len() {
            for b in a + 1..world.hosts.len() {
                world.connect(PhoneId(a), PhoneId(b));
            }
        }
        for (index, setup) in builder.phones.iter().enumerate() {
            world.start_app(PhoneId(index), setup);
        }
        world.run_for(0);
        Ok(world)
    }

    fn add_host(&mut self, config: PhoneConfig, setup: &PhoneSetup) -> PhoneId {
        let uses_callkit = config.use_callkit();
        let id = PhoneId(self.hosts.len());
        let mut audio = FakeAudioSession::new(uses_callkit);
        audio.set_bluetooth(setup.bluetooth);
        let rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0xE2E);
        self.hosts.push(Host {
            phone: Phone::new(config),
            deadline: None,
            callkit: FakeCallKit::new(),
            callkit_wake: None,
            audio,
            sound: FakeRinger::new(),
            relay_latency: setup.relay_latency_ms,
            chat_start: setup.chat_start_ms,
            push_delay: setup.push_delay_ms,
            permission_answers: setup.permission_answers.clone(),
            prompts: Vec::new(),
            alerts: Vec::new(),
            suspensions: 0,
            running: true,
            rng,
        });
        match &mut self.net {
            Net::Scripted(rtc) => rtc.set_encryption_support(id.0, setup.encryption),
            Net::Sim(net) => net.add(setup.encryption, setup.platform),
        }
        id
    }

    /// The app's state at the start, as the turmoil world sets it: launched with its chat
    /// running, then sent to the background (which suspends the chat) unless it is in the
    /// foreground and unlocked.
    fn start_app(&mut self, id: PhoneId, setup: &PhoneSetup) {
        if setup.bluetooth {
            self.feed(id, Input::BluetoothAvailable { available: true });
        }
        let app = match (setup.app, setup.locked) {
            (AppState::Foreground, true) => AppState::Background,
            (app, _) => app,
        };
        if app == AppState::NotRunning {
            return;
        }
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
        self.chat_ready(id);
        if app != AppState::Foreground {
            self.feed(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
        }
    }

    /// Records every phone input and output and the relay's work as a typed trace.
    pub fn record_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    /// The recorded trace as lines for a person (`1.234s Alice <- ...`).
    pub fn trace_lines(&self) -> Vec<String> {
        self.trace
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect()
    }

    fn record(&mut self, event: impl FnOnce(&Self) -> TraceEvent) {
        if self.trace.is_some() {
            let record = TraceRecord::new(self.now, event(self));
            if let Some(trace) = self.trace.as_mut() {
                trace.push(record);
            }
        }
    }

    /// Adds a phone whose app is in the foreground; its chat starts at once.
    pub fn add_phone(&mut self, config: PhoneConfig) -> PhoneId {
        let mut setup = PhoneSetup::new(&config.name, config.seed);
        setup.relay_latency_ms = self.timing.relay_latency;
        setup.chat_start_ms = self.timing.chat_start;
        setup.push_delay_ms = self.timing.push_delay;
        let id = self.add_host(config, &setup);
        // Launched in the foreground, its chat running at once.
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
        self.schedule(self.now, Event::ChatReady(id, 0));
        id
    }

    /// Makes two phones contacts of each other.
    pub fn connect(&mut self, a: PhoneId, b: PhoneId) {
        let (name_a, name_b) = (World::name(self, a), World::name(self, b));
        self.hosts[a.0].phone.add_contact(b.contact(), &name_b);
        self.hosts[b.0].phone.add_contact(a.contact(), &name_a);
    }

    // ---- settings ----

    /// What the user answers when asked for a permission.
    pub fn set_permission_answer(&mut self, id: PhoneId, permission: Permission, grant: bool) {
        self.hosts[id.0]
            .permission_answers
            .insert(permission, grant);
    }

    /// Whether the phone's WebRTC supports frame encryption (set it before a call).
    pub fn set_encryption_support(&mut self, id: PhoneId, supported: bool) {
        match &mut self.net {
            Net::Scripted(rtc) => rtc.set_encryption_support(id.0, supported),
            Net::Sim(net) => net.set_encryption(id.0, supported),
        }
    }

    /// Connects or disconnects a Bluetooth headset.
    pub fn set_bluetooth(&mut self, id: PhoneId, connected: bool) {
        self.hosts[id.0].audio.set_bluetooth(connected);
        self.feed(
            id,
            Input::BluetoothAvailable {
                available: connected,
            },
        );
    }

    /// One-way latency and jitter of the media path between two phones; an error with the
    /// scripted WebRTC, which has no packets.
    pub fn set_media_path(
        &mut self,
        a: PhoneId,
        b: PhoneId,
        path: PathLatency,
    ) -> Result<(), WorldError> {
        let net = self.sim_net("media latency")?;
        net.paths.set_latency(phone_ip(a.0), phone_ip(b.0), path);
        Ok(())
    }

    /// A fault: the phone's next calls use a wrong media key; an error with the scripted
    /// WebRTC, which has no frames.
    pub fn use_wrong_media_key(&mut self, id: PhoneId) -> Result<(), WorldError> {
        self.sim_net("media frames")?.use_wrong_key(id.0);
        Ok(())
    }

    fn sim_net(&mut self, what: &'static str) -> Result<&mut SimNet, WorldError> {
        match &mut self.net {
            Net::Sim(net) => Ok(net),
            Net::Scripted(_) => Err(WorldError::Unsupported {
                world: "in-memory world with scripted WebRTC",
                what,
            }),
        }
    }

    // ---- what people and phones do, beyond the World trait ----

    /// The user mutes or unmutes on CallKit's screen; false if CallKit shows no call to mute.
    pub fn callkit_mute(&mut self, id: PhoneId, muted: bool) -> bool {
        let event = self.hosts[id.0].callkit.user_mutes(self.now, muted);
        let done = event.is_some();
        self.callkit_events(id, event.into_iter().collect());
        self.run_for(0);
        done
    }

    /// Hands CallKit's events to the phone (audio activation reaches its audio session) and
    /// wakes CallKit when its next open action times out.
    fn callkit_events(&mut self, id: PhoneId, events: Vec<CallKitEvent>) {
        let now = self.now;
        for event in events {
            match event {
                CallKitEvent::DidActivateAudioSession => {
                    self.hosts[id.0].audio.set_active_by_callkit(now, true);
                }
                CallKitEvent::DidDeactivateAudioSession => {
                    self.hosts[id.0].audio.set_active_by_callkit(now, false);
                }
                _ => {}
            }
            self.schedule(now, Event::Input(id, Input::CallKit(event)));
        }
        // One wake-up for CallKit's earliest action deadline: a later or equal one is already
        // covered by the wake-up scheduled.
        let host = &mut self.hosts[id.0];
        if let Some(at) = host.callkit.next_timeout()
            && host.callkit_wake.is_none_or(|wake| at < wake)
        {
            host.callkit_wake = Some(at);
            self.schedule(at, Event::CallKitTimeouts(id));
        }
    }

    /// The app is suspended in the background: the chat stops, only a push wakes it.
    pub fn suspend(&mut self, id: PhoneId) {
        self.hosts[id.0].suspensions += 1;
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
        self.unsubscribe(id);
        self.feed(id, Input::Lifecycle(LifecycleEvent::ChatSuspended));
    }

    /// The phone's WebRTC connection fails now (the peer sees it vanish); scripted WebRTC
    /// only (SimRtc fails by its media path: block it).
    pub fn fail_webrtc(&mut self, id: PhoneId) -> Result<(), WorldError> {
        match &mut self.net {
            Net::Scripted(rtc) => {
                let actions = rtc.fail(id.0);
                self.apply_rtc(actions);
                Ok(())
            }
            Net::Sim(_) => Err(WorldError::Unsupported {
                world: "in-memory world with SimRtc",
                what: "a scripted connection failure (block the media path instead)",
            }),
        }
    }

    // ---- time ----

    /// Runs everything due up to `now + ms`, then sets the clock there.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now.add_ms(ms);
        while self.step(end) {}
        self.now = end;
    }

    /// Runs until `done` holds (checked after every step) or `ms` have passed; returns whether
    /// `done` held. The clock stops where `done` first held.
    pub fn run_until(&mut self, ms: u64, mut done: impl FnMut(&MemoryWorld) -> bool) -> bool {
        let end = self.now.add_ms(ms);
        loop {
            if done(self) {
                return true;
            }
            if !self.step(end) {
                self.now = end;
                return done(self);
            }
        }
    }

    fn cipher(&mut self, a: PhoneId, b: PhoneId) -> &PairCipher {
        let seed = self.seed;
        let key = (a.0.min(b.0), a.0.max(b.0));
        self.ciphers
            .entry(key)
            .or_insert_with(|| PairCipher::for_pair(seed, key.0, key.1))
    }

    /// Opens a message body for `to`; `None` (and a log line) if it does not decrypt.
    fn open(&mut self, from: PhoneId, to: PhoneId, body: &str) -> Option<String> {
        let plain = self.cipher(from, to).open(body);
        if plain.is_none() {
            debug!(from = from.0, to = to.0, "undecryptable message dropped");
        }
        plain
    }

    fn unsubscribe(&mut self, id: PhoneId) {
        if self.relay.is_subscribed(id.0) {
            self.relay.unsubscribe(id.0);
            self.record(|w| TraceEvent::Disconnected {
                phone: World::name(w, id),
            });
        }
    }

    /// The chat runs: subscribed at the relay, and the phone told.
    fn chat_ready(&mut self, id: PhoneId) {
        let actions = self.relay.subscribe(id.0);
        self.record(|w| TraceEvent::Subscribed {
            phone: World::name(w, id),
        });
        self.feed(id, Input::Lifecycle(LifecycleEvent::ChatStarted));
        self.apply_relay(actions);
    }

    /// Messages the relay holds from `from` to `to`, oldest first (bodies are ciphertext).
    pub fn relay_queue(&self, from: PhoneId, to: PhoneId) -> Vec<RelayMessage> {
        self.relay.queue(from.0, to.0)
    }

    /// Every message body the relay saw, in order.
    pub fn relay_seen(&self) -> Vec<String> {
        self.relay.seen().to_vec()
    }

    // ---- observation ----

    /// A phone.
    pub fn phone(&self, id: PhoneId) -> &Phone {
        &self.hosts[id.0].phone
    }

    /// A phone's CallKit.
    pub fn callkit(&self, id: PhoneId) -> &FakeCallKit {
        &self.hosts[id.0].callkit
    }

    /// A phone's audio session.
    pub fn audio(&self, id: PhoneId) -> &FakeAudioSession {
        &self.hosts[id.0].audio
    }

    /// A phone's sound player.
    pub fn sound(&self, id: PhoneId) -> &FakeRinger {
        &self.hosts[id.0].sound
    }

    /// The alerts a phone showed.
    pub fn alerts(&self, id: PhoneId) -> &[String] {
        &self.hosts[id.0].alerts
    }

    /// The permission prompts a phone showed.
    pub fn prompts(&self, id: PhoneId) -> &[Permission] {
        &self.hosts[id.0].prompts
    }

    /// Whether the WebRTC ends of two phones use the same media key (and have one); scripted
    /// WebRTC only (SimRtc shows it in frames decrypted).
    pub fn same_media_key(&self, a: PhoneId, b: PhoneId) -> bool {
        match &self.net {
            Net::Scripted(rtc) => rtc.same_media_key(a.0, b.0),
            Net::Sim(_) => false,
        }
    }
}

impl World for MemoryWorld {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn advance(&mut self, ms: u64) -> Result<(), WorldError> {
        self.run_for(ms);
        Ok(())
    }

    /// `done` is checked after every event; the clock stops where it first held.
    fn advance_until(
        &mut self,
        ms: u64,
        done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, WorldError> {
        Ok(self.run_until(ms, done))
    }

    fn phone_count(&self) -> usize {
        self.hosts.len()
    }

    fn name(&self, id: PhoneId) -> String {
        self.hosts[id.0].phone.config().name.clone()
    }

    fn user(&mut self, id: PhoneId, action: UserAction) {
        self.feed(id, Input::User(action));
    }

    /// End & Accept during another call.
    fn callkit_answer(&mut self, id: PhoneId) -> bool {
        let events = self.hosts[id.0].callkit.user_answers(self.now);
        let answered = !events.is_empty();
        self.callkit_events(id, events);
        self.run_for(0);
        answered
    }

    fn callkit_end(&mut self, id: PhoneId) -> bool {
        let event = self.hosts[id.0].callkit.user_ends(self.now);
        let ended = event.is_some();
        self.callkit_events(id, event.into_iter().collect());
        self.run_for(0);
        ended
    }

    fn to_background(&mut self, id: PhoneId) {
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    }

    fn to_foreground(&mut self, id: PhoneId) {
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppBecameActive));
    }

    fn kill_app(&mut self, id: PhoneId) {
        let now = self.now;
        self.unsubscribe(id);
        let host = &mut self.hosts[id.0];
        host.suspensions += 1;
        host.running = false;
        host.callkit.app_killed(now);
        host.sound.silence();
        host.audio.set_active_by_callkit(now, false);
        self.rtc_control(id, RtcControl::Kill);
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppKilled));
    }

    fn launch_app(&mut self, id: PhoneId) {
        self.hosts[id.0].running = true;
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
    }

    fn set_push_delay(&mut self, id: PhoneId, ms: u64) {
        self.hosts[id.0].push_delay = ms;
    }

    fn set_chat_start_delay(&mut self, id: PhoneId, ms: u64) {
        self.hosts[id.0].chat_start = ms;
    }

    fn hold(&mut self, to: PhoneId, kind: MessageKind) {
        self.relay.hold(to.0, kind);
    }

    /// In order, ahead of later messages.
    fn release(&mut self, to: PhoneId) {
        let actions = self.relay.release(to.0);
        self.apply_relay(actions);
    }

    fn duplicate(&mut self, to: PhoneId, kind: MessageKind) {
        self.relay.duplicate(to.0, kind);
    }

    /// The scripted WebRTC has no packets: only no loss and everything lost are modelled.
    fn set_media_loss(&mut self, a: PhoneId, b: PhoneId, loss: Loss) -> Result<(), WorldError> {
        match &mut self.net {
            Net::Sim(net) => net.paths.set_loss(phone_ip(a.0), phone_ip(b.0), loss),
            Net::Scripted(rtc) => match loss {
                Loss::None => {
                    let actions = rtc.set_blocked(a.0, b.0, false);
                    self.apply_rtc(actions);
                }
                Loss::Blocked => {
                    let actions = rtc.set_blocked(a.0, b.0, true);
                    self.apply_rtc(actions);
                }
                Loss::Random { .. } | Loss::Bursty { .. } => {
                    return Err(WorldError::Unsupported {
                        world: "in-memory world with scripted WebRTC",
                        what: "partial packet loss",
                    });
                }
            },
        }
        Ok(())
    }

    fn set_media_blocked(&mut self, a: PhoneId, b: PhoneId, blocked: bool) {
        match &mut self.net {
            Net::Sim(net) => net.paths.set_blocked(phone_ip(a.0), phone_ip(b.0), blocked),
            Net::Scripted(rtc) => {
                let actions = rtc.set_blocked(a.0, b.0, blocked);
                self.apply_rtc(actions);
            }
        }
    }

    fn with_phone<T>(&self, id: PhoneId, f: impl FnOnce(&Phone) -> T) -> T {
        f(&self.hosts[id.0].phone)
    }

    fn with_callkit<T>(&self, id: PhoneId, f: impl FnOnce(&FakeCallKit) -> T) -> T {
        f(&self.hosts[id.0].callkit)
    }

    fn audio_active(&self, id: PhoneId) -> bool {
        self.hosts[id.0].audio.active()
    }

    fn ringtone(&self, id: PhoneId) -> bool {
        self.hosts[id.0].sound.ringtone()
    }

    /// All zeros with the scripted WebRTC, which sends no packets.
    fn rtc_stats(&self, id: PhoneId) -> RtcStats {
        match &self.net {
            Net::Sim(net) => net.stats(id.0),
            Net::Scripted(_) => RtcStats::default(),
        }
    }

    fn trace(&self) -> Vec<TraceRecord> {
        self.trace.clone().unwrap_or_default()
    }
}
