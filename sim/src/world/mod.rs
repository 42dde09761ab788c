//! The turmoil world: phones and an SMP relay as hosts of a deterministic network simulation.
//!
//! - `relay`: a host serving SMP's rules over a TCP line protocol; its queues live in the
//!   world, so a crash and restart lose nothing. Pushes go through a push service with each
//!   phone's delay.
//! - `turn` (only when a phone relays calls through TURN): a media relay for the relay-only
//!   ICE policy.
//! - one host per phone, running the [`callsim_engine::driver::Driver`]: an SMP client over
//!   turmoil TCP (keepalive, reconnect with backoff, resubscribe, confirmed sends),
//!   `SimRtc` over turmoil UDP, and the platform fakes of `callsim-mocks`.
//!   Message bodies are end-to-end encrypted between contacts, so the relay sees ciphertext.
//!
//! Every run has a seed: turmoil's RNG, every phone's RNG and every loss model draw from it, so
//! the same seed gives the same trace, event for event ([`World::trace_jsonl`]).
//!
//! The tick is 10 ms, a measured choice: turmoil runs every host's runtime once per tick
//! whether or not it has work, which is most of the cost of a simulated second (a 5 ms tick
//! ran 90 calls per second in `callsim bench turmoil`, 10 ms runs 145). Every default latency
//! and every timer of the spec (20 ms links and audio frames, 500 ms polls, 750 ms gathering,
//! 1 s DTLS retransmission, 5 s and 30 s WebRTC timeouts) is a multiple of 10 ms, so they stay
//! exact; a latency in between is rounded up to the next tick.

mod e2e;
mod relay_host;
pub(crate) mod shared;
mod smp;
pub mod trace;
mod wire;

pub use crate::loss::{self, Loss};
pub use crate::rtc::RtcStats;
pub use crate::rtc::endpoint::RTC_PORT;
pub use shared::TraceRecord;

use crate::rtc::turmoil_rtc::SimRtcTask;
use crate::rtc::{RtcControl, WrongKey};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callsim_engine::app::AppCallState;
use callsim_engine::backend::{Inbox, Platform};
use callsim_engine::chat::CoreEvent;
use callsim_engine::crypto::MediaPlatform;
use callsim_engine::driver::{self, Driver, DriverInbox, SharedPhone, Tracer};
use callsim_engine::ids::ContactId;
use callsim_engine::io::webrtc::ConnectionInfo;
use callsim_engine::io::{
    Input, LifecycleCommand, LifecycleEvent, MessageKind, Output, Permission, PhoneConfig, UiEvent,
    UserAction,
};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::{CallMediaType, Timestamp};
use callsim_mocks::backends::{CallKitBackend, FakePermissions, PermissionsBackend, Shared};
use callsim_mocks::relay::contact_id;
use callsim_mocks::{FakeAudioSession, FakeCallKit, FakeRinger};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use shared::{PathLatency, SharedWorld, WorldState, lock};

/// A phone's index in the world (its SMP client id).
pub type PhoneId = usize;

/// How long one turmoil tick is.
pub const TICK_MS: u64 = 10;

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
    /// The phone runs the real WebRTC stack (webrtc-rs, [`crate::realrtc`]) instead of SimRtc.
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

/// Builds a [`World`].
#[derive(Debug, Clone)]
pub struct WorldBuilder {
    seed: u64,
    trace: bool,
    media_latency_ms: u64,
    phones: Vec<PhoneSetup>,
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
        &mut self.phones[id]
    }

    /// The phones added so far.
    pub fn phones(&self) -> &[PhoneSetup] {
        &self.phones
    }

    /// Builds the world: every phone is a contact of every other.
    pub fn build(self) -> World {
        World::new(self)
    }
}

/// What a phone's UI showed, for observation.
#[derive(Debug, Clone, Default)]
pub struct PhoneObservations {
    /// UI events, in order.
    pub ui: Vec<(Timestamp, UiEvent)>,
    /// Alerts shown, in order: title and message.
    pub alerts: Vec<(String, String)>,
    /// Permission prompts, in order.
    pub prompts: Vec<Permission>,
    /// Chat-core events, in order.
    pub chat: Vec<(Timestamp, CoreEvent)>,
}

/// The platform of a phone in the world: starts and suspends the chat (and with it the SMP
/// connection), and records the UI.
struct WorldPlatform {
    chat: Arc<watch::Sender<bool>>,
    chat_start_ms: Arc<AtomicU64>,
    /// How often the chat was suspended or the app killed: a start asked before is void.
    suspensions: Arc<AtomicU64>,
    inbox: DriverInbox,
    seen: Shared<PhoneObservations>,
}

impl Platform for WorldPlatform {
    fn lifecycle(&mut self, _now: Timestamp, command: LifecycleCommand) {
        match command {
            LifecycleCommand::StartChat => {
                let (chat, inbox) = (Arc::clone(&self.chat), self.inbox.clone());
                let delay = self.chat_start_ms.load(Ordering::Relaxed);
                let suspensions = Arc::clone(&self.suspensions);
                let asked = suspensions.load(Ordering::Relaxed);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    if suspensions.load(Ordering::Relaxed) == asked {
                        start_chat(&chat, &inbox);
                    }
                });
            }
            LifecycleCommand::SuspendChat => {
                self.suspensions.fetch_add(1, Ordering::Relaxed);
                self.chat.send_replace(false);
                self.inbox
                    .deliver(0, Input::Lifecycle(LifecycleEvent::ChatSuspended));
            }
        }
    }

    fn ui(&mut self, now: Timestamp, event: UiEvent) {
        let mut seen = self.seen.lock();
        if let UiEvent::Alert { title, message } = &event {
            seen.alerts.push((title.clone(), message.clone()));
        }
        seen.ui.push((now, event));
    }

    fn chat(&mut self, now: Timestamp, event: CoreEvent) {
        self.seen.lock().chat.push((now, event));
    }
}

fn start_chat(chat: &watch::Sender<bool>, inbox: &DriverInbox) {
    if !*chat.borrow() {
        chat.send_replace(true);
        inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
    }
}

/// Records a phone's inputs and outputs in the world's trace.
struct WorldTracer {
    name: String,
    world: SharedWorld,
}

impl Tracer for WorldTracer {
    fn input(&mut self, now: Timestamp, input: &Input) {
        let what = serde_json::to_value(input).unwrap_or_default();
        lock(&self.world).record(now.0, &self.name, "in", what);
    }

    fn output(&mut self, now: Timestamp, output: &Output) {
        if !matches!(output, Output::Timeout(_)) {
            let what = serde_json::to_value(output).unwrap_or_default();
            lock(&self.world).record(now.0, &self.name, "out", what);
        }
    }
}

/// Permission prompts recorded for observation, answered as the setup says.
struct RecordingPermissions {
    inner: PermissionsBackend,
    seen: Shared<PhoneObservations>,
}

impl callsim_engine::backend::Permissions for RecordingPermissions {
    fn request(&mut self, now: Timestamp, permission: Permission) {
        self.seen.lock().prompts.push(permission);
        self.inner.request(now, permission);
    }
}

/// A phone of the world, as the world sees it from outside.
pub struct PhoneHandle {
    name: String,
    inbox: DriverInbox,
    phone: SharedPhone,
    callkit: CallKitBackend,
    audio: Shared<FakeAudioSession>,
    ringer: Shared<FakeRinger>,
    seen: Shared<PhoneObservations>,
    rtc_stats: Shared<RtcStats>,
    rtc_control: Arc<Mutex<Option<RtcKill>>>,
    wrong_key: WrongKey,
    chat: Arc<watch::Sender<bool>>,
    chat_start_ms: Arc<AtomicU64>,
    suspensions: Arc<AtomicU64>,
}

/// Phones and a relay under turmoil, with faults, observation and traces.
pub struct World {
    sim: turmoil::Sim<'static>,
    state: SharedWorld,
    phones: Vec<PhoneHandle>,
    seed: u64,
    /// Loss each media path had before it was blocked, to restore on unblock.
    blocked: BTreeMap<(PhoneId, PhoneId), Loss>,
    /// Each phone's one-way latency to the relay.
    relay_latency: Vec<u64>,
}

/// A message the relay holds for a phone and has not had acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// What it carries.
    pub kind: MessageKind,
    /// Who sent it.
    pub from: PhoneId,
    /// When the relay got it, or when its sender sent it if it is not at the relay yet.
    pub since: Timestamp,
    /// Whether the relay has it (else it is on its way from the sender).
    pub at_relay: bool,
    /// When it should reach the phone, if it is on its way: `None` if the scenario holds it or
    /// the phone is not connected to the relay.
    pub due: Option<Timestamp>,
    /// Held back by the scenario.
    pub held: bool,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "World(seed {}, {} phones)", self.seed, self.phones.len())
    }
}

impl World {
    fn new(builder: WorldBuilder) -> Self {
        let seed = builder.seed;
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tick_duration(Duration::from_millis(TICK_MS))
            .simulation_duration(Duration::from_secs(86_400 * 365))
            .min_message_latency(Duration::from_millis(builder.media_latency_ms))
            .max_message_latency(Duration::from_millis(builder.media_latency_ms))
            .build();
        let state: SharedWorld = Arc::new(Mutex::new(WorldState::new(seed)));
        lock(&state).default_media_latency = builder.media_latency_ms;
        let relay_state = state.clone();
        sim.host("relay", move || relay_host::run(relay_state.clone()));
        let turn = builder.phones.iter().any(|p| p.config.relay_policy);
        if turn {
            let turn_state = state.clone();
            // Each zero-latency hop to and from the server costs a turmoil tick.
            sim.host("turn", move || {
                crate::rtc::turmoil_rtc::turn_host(turn_state.clone(), 2 * TICK_MS)
            });
        }

        let names: Vec<String> = builder
            .phones
            .iter()
            .map(|p| p.config.name.clone())
            .collect();
        lock(&state).names = names.clone();
        let mut phones = Vec::new();
        for (id, setup) in builder.phones.iter().enumerate() {
            let handle = Self::add_phone(&mut sim, &state, id, setup, &names, builder.trace, turn);
            phones.push(handle);
            sim.set_link_latency(
                names[id].as_str(),
                "relay",
                Duration::from_millis(setup.relay_latency_ms),
            );
            if turn {
                // The TURN server gives relayed packets the pair's whole media path itself.
                sim.set_link_latency(names[id].as_str(), "turn", Duration::ZERO);
            }
        }
        let mut world = World {
            sim,
            state,
            phones,
            seed,
            blocked: BTreeMap::new(),
            relay_latency: builder.phones.iter().map(|p| p.relay_latency_ms).collect(),
        };
        for (id, setup) in builder.phones.iter().enumerate() {
            world.start_app(id, setup);
        }
        world.settle(&builder.phones);
        world
    }

    /// Runs until every phone whose chat runs is subscribed at the relay (a few round trips),
    /// so a scenario starts with connected phones. A phone that cannot connect (its link is
    /// down) stops the wait after 5 s.
    fn settle(&mut self, setups: &[PhoneSetup]) {
        let running: Vec<PhoneId> = setups
            .iter()
            .enumerate()
            .filter(|(_, s)| s.app == AppState::Foreground && !s.locked)
            .map(|(id, _)| id)
            .collect();
        let subscribed = |w: &World| {
            running
                .iter()
                .all(|id| lock(&w.state).relay.is_subscribed(*id))
        };
        if let Err(error) = self.run_until(5_000, subscribed) {
            tracing::warn!(%error, "the world did not settle");
        }
    }

    fn add_phone(
        sim: &mut turmoil::Sim<'static>,
        state: &SharedWorld,
        id: PhoneId,
        setup: &PhoneSetup,
        names: &[String],
        trace: bool,
        turn: bool,
    ) -> PhoneHandle {
        let name = setup.config.name.clone();
        let (inbox, receiver) = driver::channel();
        let shared_inbox: Arc<dyn Inbox> = Arc::new(inbox.clone());
        let mut phone = Phone::new(setup.config.clone());
        for (peer, peer_name) in names.iter().enumerate() {
            if peer != id {
                phone.add_contact(contact_id(peer), peer_name);
            }
        }
        let phone: SharedPhone = Arc::new(Mutex::new(phone));
        let audio = Shared::new(FakeAudioSession::new(setup.config.use_callkit()));
        audio.lock().set_bluetooth(setup.bluetooth);
        let callkit = CallKitBackend::new(audio.clone(), shared_inbox.clone());
        let ringer = Shared::new(FakeRinger::new());
        let seen = Shared::new(PhoneObservations::default());
        let rtc_stats = Shared::new(RtcStats::default());
        let rtc_control = Arc::new(Mutex::new(None));
        let wrong_key = WrongKey::default();
        let (chat, chat_rx) = watch::channel(false);
        let chat = Arc::new(chat);
        let chat_start_ms = Arc::new(AtomicU64::new(setup.chat_start_ms));
        let suspensions = Arc::new(AtomicU64::new(0));
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        {
            let mut world = lock(state);
            world.push.insert(id, push_tx);
            world.push_delay.insert(id, setup.push_delay_ms);
            world
                .relay_loss
                .insert(id, loss::LossState::new(setup.config.seed ^ 0x7C9));
        }

        let host = HostParts {
            id,
            name: name.clone(),
            seed: setup.config.seed,
            encryption: setup.encryption,
            world: state.clone(),
            inbox: inbox.clone(),
            phone: Arc::clone(&phone),
            receiver,
            callkit: callkit.clone(),
            audio: audio.clone(),
            ringer: ringer.clone(),
            permissions: RecordingPermissions {
                inner: PermissionsBackend::new(
                    FakePermissions {
                        answers: setup.permission_answers.clone(),
                        ..FakePermissions::default()
                    },
                    shared_inbox,
                ),
                seen: seen.clone(),
            },
            platform: WorldPlatform {
                chat: Arc::clone(&chat),
                chat_start_ms: Arc::clone(&chat_start_ms),
                suspensions: Arc::clone(&suspensions),
                inbox: inbox.clone(),
                seen: seen.clone(),
            },
            chat_rx,
            push_rx,
            rtc_stats: rtc_stats.clone(),
            rtc_control: Arc::clone(&rtc_control),
            wrong_key: wrong_key.clone(),
            trace,
            turn,
            real_webrtc: setup.real_webrtc,
            media_platform: setup.platform,
        };
        sim.client(name.as_str(), host.run());
        PhoneHandle {
            name,
            inbox,
            phone,
            callkit,
            audio,
            ringer,
            seen,
            rtc_stats,
            rtc_control,
            wrong_key,
            chat,
            chat_start_ms,
            suspensions,
        }
    }

    fn start_app(&mut self, id: PhoneId, setup: &PhoneSetup) {
        if setup.bluetooth {
            self.deliver(id, Input::BluetoothAvailable { available: true });
        }
        // A locked phone's app is not on screen: it is in the background.
        let app = match (setup.app, setup.locked) {
            (AppState::Foreground, true) => AppState::Background,
            (app, _) => app,
        };
        if app == AppState::NotRunning {
            return;
        }
        // The app was launched and its chat started; a phone in the background then went
        // there, which suspends its chat (SimpleX's `.background` with no CallKit call).
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
        start_chat(&self.phones[id].chat, &self.phones[id].inbox);
        if app != AppState::Foreground {
            self.deliver(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
        }
    }

    fn deliver(&self, id: PhoneId, input: Input) {
        self.phones[id].inbox.deliver(0, input);
    }

    // ---- time ----

    /// Simulated time since the world started.
    pub fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.sim.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Runs the simulation for `ms` of simulated time.
    pub fn run_for(&mut self, ms: u64) -> Result<(), WorldError> {
        let end = self.sim.elapsed() + Duration::from_millis(ms);
        while self.sim.elapsed() < end {
            self.step()?;
        }
        Ok(())
    }

    /// One tick, then what the platform does by itself as time passes (CallKit's timeouts).
    fn step(&mut self) -> Result<(), WorldError> {
        self.sim.step().map_err(|e| WorldError(e.to_string()))?;
        let now = self.now();
        for handle in &self.phones {
            handle.callkit.poll(now);
        }
        Ok(())
    }

    /// Runs until `done` holds (checked after every tick) or `ms` have passed; returns whether
    /// it held.
    pub fn run_until(
        &mut self,
        ms: u64,
        mut done: impl FnMut(&World) -> bool,
    ) -> Result<bool, WorldError> {
        let end = self.sim.elapsed() + Duration::from_millis(ms);
        while self.sim.elapsed() < end {
            if done(self) {
                return Ok(true);
            }
            self.step()?;
        }
        Ok(done(self))
    }

    // ---- what people and phones do ----

    /// A user action, now.
    pub fn user(&mut self, id: PhoneId, action: UserAction) {
        self.deliver(id, Input::User(action));
    }

    /// `id` taps the call button in the chat with `peer`.
    pub fn start_call(&mut self, id: PhoneId, peer: PhoneId, media: CallMediaType) {
        let contact_id = contact_id(peer);
        self.user(id, UserAction::StartCall { contact_id, media });
    }

    /// The user answers on CallKit's screen; false if nothing rings there.
    pub fn callkit_answer(&mut self, id: PhoneId) -> bool {
        let now = self.now();
        self.phones[id].callkit.user_answers(now)
    }

    /// The user declines or ends on CallKit's screen; false if CallKit has no call.
    pub fn callkit_end(&mut self, id: PhoneId) -> bool {
        let now = self.now();
        self.phones[id].callkit.user_ends(now)
    }

    /// The app goes to the background (SimpleX suspends the chat unless a CallKit call is on).
    pub fn to_background(&mut self, id: PhoneId) {
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    }

    /// The app comes to the foreground.
    pub fn to_foreground(&mut self, id: PhoneId) {
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppBecameActive));
    }

    /// The chat becomes running now (it was starting).
    pub fn finish_chat_start(&mut self, id: PhoneId) {
        start_chat(&self.phones[id].chat, &self.phones[id].inbox);
    }

    /// How long the phone's chat takes to start from now on.
    pub fn set_chat_start_delay(&mut self, id: PhoneId, ms: u64) {
        self.phones[id].chat_start_ms.store(ms, Ordering::Relaxed);
    }

    /// The app's process ends: calls and connections vanish without a word.
    pub fn kill_app(&mut self, id: PhoneId) {
        let now = self.now();
        let handle = &self.phones[id];
        handle.suspensions.fetch_add(1, Ordering::Relaxed);
        handle.chat.send_replace(false);
        handle.callkit.fake.lock().app_killed(now);
        handle.ringer.lock().silence();
        handle.audio.lock().set_active_by_callkit(now, false);
        if let Some(kill) = handle.rtc_control.lock().ok().and_then(|c| c.clone()) {
            kill.kill();
        }
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppKilled));
    }

    /// The app's process starts again, in the foreground.
    pub fn launch_app(&mut self, id: PhoneId) {
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
    }

    // ---- faults ----

    /// One-way latency of a phone's link to the relay.
    pub fn set_relay_latency(&mut self, id: PhoneId, ms: u64) {
        if let Some(latency) = self.relay_latency.get_mut(id) {
            *latency = ms;
        }
        let name = self.phones[id].name.clone();
        self.sim
            .set_link_latency(name.as_str(), "relay", Duration::from_millis(ms));
    }

    /// Loss on a phone's link to the relay: as over TCP, messages come late and in order.
    pub fn set_relay_loss(&mut self, id: PhoneId, rate: f64) {
        if let Some(loss) = lock(&self.state).relay_loss.get_mut(&id) {
            loss.set(Loss::Random { rate });
        }
    }

    /// A phone's link to the relay goes down (`false`) or comes back (`true`).
    pub fn set_relay_link(&mut self, id: PhoneId, up: bool) {
        let name = self.phones[id].name.clone();
        if up {
            self.sim.repair(name.as_str(), "relay");
        } else {
            self.sim.partition(name.as_str(), "relay");
        }
    }

    /// One-way latency of the media path between two phones, direct or through TURN (any
    /// jitter is reset).
    pub fn set_media_latency(&mut self, a: PhoneId, b: PhoneId, ms: u64) {
        self.set_media_path(
            a,
            b,
            PathLatency {
                latency_ms: ms,
                jitter_ms: 0,
            },
        );
    }

    /// Jitter on the media path: each packet takes the latency plus up to `ms` more
    /// (turmoil's exponential curve), so packets may also arrive out of order.
    pub fn set_media_jitter(&mut self, a: PhoneId, b: PhoneId, ms: u64) {
        let latency_ms = self.media_path(a, b).latency_ms;
        self.set_media_path(
            a,
            b,
            PathLatency {
                latency_ms,
                jitter_ms: ms,
            },
        );
    }

    fn media_path(&self, a: PhoneId, b: PhoneId) -> PathLatency {
        let (ia, ib) = (self.ip(a), self.ip(b));
        let world = lock(&self.state);
        world
            .media_latency
            .get(&(ia.min(ib), ia.max(ib)))
            .copied()
            .unwrap_or(PathLatency {
                latency_ms: world.default_media_latency,
                jitter_ms: 0,
            })
    }

    /// The media path between two phones: the direct link turmoil runs, and what the TURN
    /// server gives relayed packets between them.
    fn set_media_path(&mut self, a: PhoneId, b: PhoneId, path: PathLatency) {
        let (ia, ib) = (self.ip(a), self.ip(b));
        lock(&self.state)
            .media_latency
            .insert((ia.min(ib), ia.max(ib)), path);
        let (na, nb) = (self.phones[a].name.clone(), self.phones[b].name.clone());
        self.sim.set_link_latency(
            na.as_str(),
            nb.as_str(),
            Duration::from_millis(path.latency_ms),
        );
        if path.jitter_ms > 0 {
            let max = Duration::from_millis(path.latency_ms + path.jitter_ms);
            self.sim
                .set_link_max_message_latency(na.as_str(), nb.as_str(), max);
        }
    }

    /// The direct path between two phones drops everything (`true`) or recovers (`false`),
    /// as a NAT or firewall between them would; media relayed through TURN still flows.
    pub fn set_direct_path_blocked(&mut self, a: PhoneId, b: PhoneId, blocked: bool) {
        let (na, nb) = (self.phones[a].name.clone(), self.phones[b].name.clone());
        if blocked {
            self.sim.partition(na.as_str(), nb.as_str());
        } else {
            self.sim.repair(na.as_str(), nb.as_str());
        }
    }

    /// A fault: the phone's next calls use a wrong media key (as a broken key agreement
    /// would give), so its peer cannot decrypt its frames, nor it the peer's.
    pub fn use_wrong_media_key(&mut self, id: PhoneId) {
        self.phones[id].wrong_key.set();
    }

    /// Loss on the media path between two phones, both ways.
    pub fn set_media_loss(&mut self, a: PhoneId, b: PhoneId, loss: Loss) {
        let (ia, ib) = (self.ip(a), self.ip(b));
        let seed = self.seed;
        let mut world = lock(&self.state);
        for (from, to, salt) in [(ia, ib, 1u64), (ib, ia, 2)] {
            let state = world
                .media_loss
                .entry((from, to))
                .or_insert_with(|| loss::LossState::new(seed ^ (salt << 48) ^ 0x4D45));
            state.set(loss);
        }
    }

    /// The media path between two phones drops everything (`true`) or recovers (`false`).
    pub fn set_media_blocked(&mut self, a: PhoneId, b: PhoneId, blocked: bool) {
        let key = (a.min(b), a.max(b));
        if blocked {
            let current = lock(&self.state)
                .media_loss
                .get(&(self.ip(a), self.ip(b)))
                .map_or(Loss::None, loss::LossState::loss);
            self.blocked.entry(key).or_insert(current);
            self.set_media_loss(a, b, Loss::Blocked);
        } else {
            let before = self.blocked.remove(&key).unwrap_or(Loss::None);
            self.set_media_loss(a, b, before);
        }
    }

    /// The relay crashes.
    pub fn relay_down(&mut self) {
        self.sim.crash("relay");
        let now = self.now().0;
        lock(&self.state).record(now, "relay", "relay", json!({"crashed": {}}));
    }

    /// The relay comes back (its stored messages intact).
    pub fn relay_up(&mut self) {
        self.sim.bounce("relay");
    }

    /// The relay crashes and comes back at once.
    pub fn relay_restart(&mut self) {
        self.relay_down();
        self.relay_up();
    }

    /// The relay holds every message of this kind to `to` until released.
    pub fn hold(&mut self, to: PhoneId, event: MessageKind) {
        lock(&self.state).relay.hold(to, event);
    }

    /// The relay releases what it held for `to`.
    pub fn release(&mut self, to: PhoneId) {
        let mut world = lock(&self.state);
        let actions = world.relay.release(to);
        world.apply_actions(self.now().0, actions);
    }

    /// The relay delivers every message of this kind to `to` again after its first ACK.
    pub fn duplicate(&mut self, to: PhoneId, event: MessageKind) {
        lock(&self.state).relay.duplicate(to, event);
    }

    /// How long pushes to a phone take.
    pub fn set_push_delay(&mut self, id: PhoneId, ms: u64) {
        lock(&self.state).push_delay.insert(id, ms);
    }

    // ---- observation ----

    /// A phone's name.
    pub fn name(&self, id: PhoneId) -> &str {
        &self.phones[id].name
    }

    /// The phone with this name.
    pub fn phone_named(&self, name: &str) -> Option<PhoneId> {
        self.phones.iter().position(|p| p.name == name)
    }

    /// How many phones there are.
    pub fn phone_count(&self) -> usize {
        self.phones.len()
    }

    /// A phone's simulated IP address.
    pub fn ip(&self, id: PhoneId) -> IpAddr {
        self.sim.lookup(self.phones[id].name.as_str())
    }

    /// Reads a phone's state.
    pub fn with_phone<T>(&self, id: PhoneId, f: impl FnOnce(&Phone) -> T) -> T {
        f(&driver::lock(&self.phones[id].phone))
    }

    /// A phone's CallKit.
    pub fn callkit(&self, id: PhoneId) -> std::sync::MutexGuard<'_, FakeCallKit> {
        self.phones[id].callkit.fake.lock()
    }

    /// A phone's audio session.
    pub fn audio(&self, id: PhoneId) -> std::sync::MutexGuard<'_, FakeAudioSession> {
        self.phones[id].audio.lock()
    }

    /// A phone's sound player.
    pub fn ringer(&self, id: PhoneId) -> std::sync::MutexGuard<'_, FakeRinger> {
        self.phones[id].ringer.lock()
    }

    /// What a phone's UI showed.
    pub fn observations(&self, id: PhoneId) -> std::sync::MutexGuard<'_, PhoneObservations> {
        self.phones[id].seen.lock()
    }

    /// A phone's WebRTC statistics.
    pub fn rtc_stats(&self, id: PhoneId) -> RtcStats {
        self.phones[id].rtc_stats.lock().clone()
    }

    /// The app's call state (`None`: no active call).
    pub fn call_state(&self, id: PhoneId) -> Option<AppCallState> {
        self.with_phone(id, |p| p.app().active_call().map(|c| c.state))
    }

    /// Whether the phone rings: CallKit's incoming screen, or the in-app view with ringtone.
    pub fn ringing(&self, id: PhoneId) -> bool {
        self.callkit(id).ringing().is_some()
            || (self.with_phone(id, |p| p.app().incoming_view().is_some())
                && self.ringer(id).ringtone())
    }

    /// The candidate pair a phone's connected call uses, as its WebRTC client reported it
    /// (`None`: no call, or not connected yet).
    pub fn connection_info(&self, id: PhoneId) -> Option<ConnectionInfo> {
        self.with_phone(id, |p| {
            p.app().active_call().and_then(|c| c.connection_info)
        })
    }

    /// Whether two phones are connected to each other.
    pub fn connected(&self, a: PhoneId, b: PhoneId) -> bool {
        let with = |x: PhoneId, y: PhoneId| {
            self.with_phone(x, |p| {
                p.app().active_call().is_some_and(|c| {
                    c.contact_id == contact_id(y) && c.state == AppCallState::Connected
                })
            })
        };
        with(a, b) && with(b, a)
    }

    /// The messages the relay holds for `id`, not yet acknowledged by it, oldest first.
    pub fn waiting_for(&self, id: PhoneId) -> Vec<Waiting> {
        let world = lock(&self.state);
        let connected = world.relay.is_subscribed(id);
        let latency = self.relay_latency.get(id).copied().unwrap_or(0);
        let mut waiting = Vec::new();
        // Sent by a phone, not at the relay yet: a hop to the relay, then one to `id`.
        for (&(from, _), &(to, kind, sent)) in &world.outbound {
            if to == id {
                let hops = self.relay_latency.get(from).copied().unwrap_or(0) + latency;
                let due = connected.then(|| Timestamp(sent).add_ms(hops).max(self.now()));
                waiting.push(Waiting {
                    kind,
                    from,
                    since: Timestamp(sent),
                    at_relay: false,
                    due,
                    held: false,
                });
            }
        }
        for from in (0..self.phones.len()).filter(|from| *from != id) {
            for message in world.relay.held(from, id) {
                waiting.push(Waiting {
                    kind: message.event,
                    from,
                    since: message.ts,
                    at_relay: true,
                    due: None,
                    held: true,
                });
            }
            for message in world.relay.queue(from, id) {
                let due = connected.then(|| message.ts.max(self.now()).add_ms(latency));
                waiting.push(Waiting {
                    kind: message.event,
                    from,
                    since: message.ts,
                    at_relay: true,
                    due,
                    held: false,
                });
            }
        }
        waiting.sort_by_key(|w| w.since);
        waiting
    }

    /// The last call item `id` shows in the chat with `peer`.
    pub fn call_item(&self, id: PhoneId, peer: PhoneId) -> Option<String> {
        self.with_phone(id, |p| {
            p.core()
                .last_call_item(contact_id(peer))
                .map(|i| i.to_string())
        })
    }

    /// Whether `id`'s chat core holds a pending invitation from `peer`.
    pub fn has_invitation(&self, id: PhoneId, peer: PhoneId) -> bool {
        self.with_phone(id, |p| {
            p.core()
                .api_get_call_invitations()
                .iter()
                .any(|i| i.contact.contact_id == contact_id(peer))
        })
    }

    /// The contact id `id` knows `peer` by.
    pub fn contact_id(&self, peer: PhoneId) -> ContactId {
        contact_id(peer)
    }

    /// Whether the relay lost no message: each was acknowledged, fetched by a push, or is
    /// still queued or held.
    pub fn relay_lost_nothing(&self) -> bool {
        lock(&self.state).relay.lost_nothing()
    }

    /// Every message body the relay saw, in order.
    pub fn relay_seen(&self) -> Vec<String> {
        lock(&self.state).relay.seen().to_vec()
    }

    /// The trace so far.
    pub fn trace(&self) -> Vec<TraceRecord> {
        lock(&self.state).trace.clone()
    }

    /// The trace as JSON lines.
    pub fn trace_jsonl(&self) -> String {
        let world = lock(&self.state);
        let mut out = String::new();
        for record in &world.trace {
            out.push_str(&serde_json::to_string(record).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// The run as a Mermaid sequence diagram.
    pub fn mermaid(&self) -> String {
        let names: Vec<String> = self.phones.iter().map(|p| p.name.clone()).collect();
        trace::mermaid(&names, &lock(&self.state).trace)
    }

    /// The run as an SVG sequence diagram.
    pub fn svg(&self) -> String {
        let names: Vec<String> = self.phones.iter().map(|p| p.name.clone()).collect();
        trace::svg(&names, &lock(&self.state).trace)
    }
}

/// The simulation stopped with an error from a host's software.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldError(pub String);

impl std::fmt::Display for WorldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "simulation failed: {}", self.0)
    }
}

impl std::error::Error for WorldError {}

/// Stops a phone's WebRTC engine as a dying process would: without a word.
#[derive(Debug, Clone)]
struct RtcKill(mpsc::UnboundedSender<RtcControl>);

impl RtcKill {
    fn kill(&self) {
        let _ = self.0.send(RtcControl::Kill);
    }
}

/// Everything a phone's host needs, moved into its software.
struct HostParts {
    id: PhoneId,
    name: String,
    seed: u64,
    encryption: bool,
    world: SharedWorld,
    inbox: DriverInbox,
    phone: SharedPhone,
    receiver: driver::DriverReceiver,
    callkit: CallKitBackend,
    audio: Shared<FakeAudioSession>,
    ringer: Shared<FakeRinger>,
    permissions: RecordingPermissions,
    platform: WorldPlatform,
    chat_rx: watch::Receiver<bool>,
    push_rx: mpsc::UnboundedReceiver<shared::Pushed>,
    rtc_stats: Shared<RtcStats>,
    rtc_control: Arc<Mutex<Option<RtcKill>>>,
    wrong_key: WrongKey,
    trace: bool,
    turn: bool,
    real_webrtc: bool,
    media_platform: MediaPlatform,
}

impl HostParts {
    async fn run(self) -> turmoil::Result {
        let smp_task = |chat| smp::SmpTask {
            me: self.id,
            seed: self.seed,
            world: self.world.clone(),
            inbox: self.inbox.clone(),
            chat,
        };
        let (smp, smp_future) = smp::client(smp_task(self.chat_rx.clone()));
        tokio::spawn(smp_future);
        tokio::spawn(smp::receive_pushes(
            smp_task(self.chat_rx.clone()),
            self.push_rx,
        ));
        let my_ip = turmoil::lookup(self.name.as_str());
        let webrtc: Box<dyn callsim_engine::backend::WebRtc> = if self.real_webrtc {
            let world = self.world.clone();
            let faults: crate::rtc::real::runtime::MediaFaults =
                Arc::new(move |from, to| lock(&world).media_drops(from, to));
            let (rtc, control, rtc_future) =
                crate::rtc::real::engine(crate::rtc::real::RealRtcTask {
                    name: self.name.clone(),
                    seed: self.seed,
                    inbox: Arc::new(self.inbox.clone()),
                    stats: self.rtc_stats,
                    encryption: self.encryption,
                    wrong_key: self.wrong_key,
                    platform: self.media_platform,
                    network: crate::rtc::real::Network::Simulated { my_ip, faults },
                });
            if let Ok(mut slot) = self.rtc_control.lock() {
                *slot = Some(RtcKill(control));
            }
            tokio::spawn(rtc_future);
            Box::new(rtc)
        } else {
            let (rtc, control, rtc_future) = crate::rtc::turmoil_rtc::sim_rtc(SimRtcTask {
                seed: self.seed,
                my_ip,
                world: self.world.clone(),
                inbox: self.inbox.clone(),
                stats: self.rtc_stats,
                encryption: self.encryption,
                wrong_key: self.wrong_key,
                turn: self.turn,
                platform: self.media_platform,
            });
            if let Ok(mut slot) = self.rtc_control.lock() {
                *slot = Some(RtcKill(control));
            }
            tokio::spawn(rtc_future);
            Box::new(rtc)
        };
        let backends = driver::Backends {
            callkit: Box::new(self.callkit),
            audio: Box::new(self.audio),
            webrtc,
            smp: Box::new(smp),
            ringer: Box::new(self.ringer),
            permissions: Box::new(self.permissions),
            platform: Box::new(self.platform),
        };
        let mut driver =
            Driver::with_shared_phone(self.phone, backends, self.receiver, Timestamp(0));
        if self.trace {
            driver = driver.with_tracer(Box::new(WorldTracer {
                name: self.name,
                world: self.world,
            }));
        }
        driver.run().await;
        Ok(())
    }
}
