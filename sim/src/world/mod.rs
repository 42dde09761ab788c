//! The turmoil world: phones and an SMP relay as hosts of a deterministic network simulation.
//!
//! - `relay`: a host serving SMP's rules over a TCP line protocol; its queues live in the
//!   world, so a crash and restart lose nothing. Pushes go through a push service with each
//!   phone's delay.
//! - `turn` (only when a phone relays calls through TURN): a media relay for the relay-only
//!   ICE policy.
//! - one host per phone (`host`), running the [`callsim_engine::driver::Driver`]: an SMP
//!   client over turmoil TCP (keepalive, reconnect with backoff, resubscribe, confirmed sends),
//!   SimRtc over turmoil UDP, and the platform fakes of `callsim-mocks`. Message bodies are
//!   end-to-end encrypted between contacts, so the relay sees ciphertext.
//!
//! Every run has a seed: turmoil's RNG, every phone's RNG and every loss model draw from it, so
//! the same seed gives the same trace, event for event ([`TurmoilWorld::trace_jsonl`]).
//!
//! The tick is 10 ms, a measured choice: turmoil runs every host's runtime once per tick
//! whether or not it has work, which is most of the cost of a simulated second (a 5 ms tick
//! ran 90 calls per second in `callsim bench turmoil`, 10 ms runs 145). Every default latency
//! and every timer of the spec (20 ms links and audio frames, 500 ms polls, 750 ms gathering,
//! 1 s DTLS retransmission, 5 s and 30 s WebRTC timeouts) is a multiple of 10 ms, so they stay
//! exact; a latency in between is rounded up to the next tick.

mod host;
mod relay_host;
mod rtc;
pub(crate) mod shared;
mod smp;
mod wire;

pub use crate::loss::{self, Loss};
pub use crate::rtc::RtcStats;
pub use crate::rtc::endpoint::RTC_PORT;
pub use crate::setup::{AppState, PhoneSetup, WorldBuilder};
pub use crate::trace::{self, TraceRecord};
pub use crate::{PhoneId, World, WorldError};

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callsim_engine::backend::Inbox;
use callsim_engine::chat::CoreEvent;
use callsim_engine::driver::{self, DriverInbox, SharedPhone};
use callsim_engine::io::webrtc::ConnectionInfo;
use callsim_engine::io::{Input, LifecycleEvent, MessageKind, Permission, UiEvent, UserAction};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::Timestamp;
use callsim_mocks::backends::{CallKitBackend, FakePermissions, PermissionsBackend, Shared};
use callsim_mocks::{FakeAudioSession, FakeCallKit, FakeRinger};
use tokio::sync::{mpsc, watch};

use crate::paths::PathLatency;
use crate::rtc::WrongKey;
use crate::trace::TraceEvent;
use host::{HostParts, RecordingPermissions, RtcKill, WorldPlatform, start_chat};
use shared::{SharedWorld, WorldState, lock};

/// How long one turmoil tick is.
pub const TICK_MS: u64 = 10;

impl WorldBuilder {
    /// Builds the turmoil world: every phone is a contact of every other.
    pub fn build(self) -> TurmoilWorld {
        TurmoilWorld::new(self)
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

/// A phone of the world, as the world sees it from outside.
struct PhoneHandle {
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
pub struct TurmoilWorld {
    sim: turmoil::Sim<'static>,
    state: SharedWorld,
    phones: Vec<PhoneHandle>,
    seed: u64,
    /// Each phone's one-way latency to the relay.
    relay_latency: Vec<u64>,
    /// The real TURN server's relayed addresses (when a real-stack phone relays).
    turn_counters: crate::rtc::turn_serve::TurnCounters,
    /// What the real WebRTC stack draws from the operating system on this thread comes from
    /// the seed while the world lives (`crate::seeded`). Dropped last.
    _thread_seed: crate::seeded::ThreadSeed,
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

impl std::fmt::Debug for TurmoilWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TurmoilWorld(seed {}, {} phones)",
            self.seed,
            self.phones.len()
        )
    }
}

impl TurmoilWorld {
    fn new(builder: WorldBuilder) -> Self {
        let seed = builder.seed;
        let thread_seed = crate::seeded::ThreadSeed::new(seed);
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tick_duration(Duration::from_millis(TICK_MS))
            .simulation_duration(Duration::from_secs(86_400 * 365))
            .min_message_latency(Duration::from_millis(builder.media_latency_ms))
            .max_message_latency(Duration::from_millis(builder.media_latency_ms))
            .build();
        let state: SharedWorld = Arc::new(Mutex::new(WorldState::new(
            seed,
            builder.media_latency_ms,
            builder.trace,
        )));
        let relay_state = state.clone();
        sim.host("relay", move || relay_host::run(relay_state.clone()));
        let turn = builder.phones.iter().any(|p| p.config.relay_policy);
        let real_turn = builder
            .phones
            .iter()
            .any(|p| p.config.relay_policy && p.real_webrtc);
        let turn_counters = crate::rtc::turn_serve::TurnCounters::default();
        if turn {
            let turn_state = state.clone();
            let counters = real_turn.then(|| turn_counters.clone());
            sim.host("turn", move || {
                self::rtc::turn_host(turn_state.clone(), TICK_MS, counters.clone())
            });
        }

        let names: Vec<String> = builder
            .phones
            .iter()
            .map(|p| p.config.name.clone())
            .collect();
        lock(&state).names = names.clone();
        let mut phones = Vec::new();
        for (index, setup) in builder.phones.iter().enumerate() {
            let id = PhoneId(index);
            let handle = Self::add_phone(&mut sim, &state, id, setup, &names, builder.trace, turn);
            phones.push(handle);
            sim.set_link_latency(
                names[index].as_str(),
                "relay",
                Duration::from_millis(setup.relay_latency_ms),
            );
            if turn {
                // The TURN server gives relayed packets the pair's whole media path itself.
                sim.set_link_latency(names[index].as_str(), "turn", Duration::ZERO);
            }
        }
        let mut world = TurmoilWorld {
            sim,
            state,
            phones,
            seed,
            relay_latency: builder.phones.iter().map(|p| p.relay_latency_ms).collect(),
            turn_counters,
            _thread_seed: thread_seed,
        };
        for (index, setup) in builder.phones.iter().enumerate() {
            world.start_app(PhoneId(index), setup);
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
            .map(|(index, _)| PhoneId(index))
            .collect();
        let subscribed = |w: &TurmoilWorld| {
            running
                .iter()
                .all(|id| lock(&w.state).relay.is_subscribed(id.index()))
        };
        if let Err(error) = self.advance_until(5_000, subscribed) {
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
            if peer != id.index() {
                phone.add_contact(PhoneId(peer).contact(), peer_name);
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
            world.push.insert(id.index(), push_tx);
            world.push_delay.insert(id.index(), setup.push_delay_ms);
            world
                .relay_loss
                .insert(id.index(), loss::LossState::new(setup.config.seed ^ 0x7C9));
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
        start_chat(&self.phones[id.0].chat, &self.phones[id.0].inbox);
        if app != AppState::Foreground {
            self.deliver(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
        }
    }

    fn deliver(&self, id: PhoneId, input: Input) {
        self.phones[id.0].inbox.deliver(0, input);
    }

    /// One tick, then what the platform does by itself as time passes (CallKit's timeouts).
    fn step(&mut self) -> Result<(), WorldError> {
        self.sim
            .step()
            .map_err(|e| WorldError::Simulation(e.to_string()))?;
        let now = World::now(self);
        for handle in &self.phones {
            handle.callkit.poll(now);
        }
        Ok(())
    }

    // ---- what people and phones do, beyond the World trait ----

    /// The chat becomes running now (it was starting).
    pub fn finish_chat_start(&mut self, id: PhoneId) {
        start_chat(&self.phones[id.0].chat, &self.phones[id.0].inbox);
    }

    // ---- faults ----

    /// One-way latency of a phone's link to the relay.
    pub fn set_relay_latency(&mut self, id: PhoneId, ms: u64) {
        if let Some(latency) = self.relay_latency.get_mut(id.0) {
            *latency = ms;
        }
        let name = self.phones[id.0].name.clone();
        self.sim
            .set_link_latency(name.as_str(), "relay", Duration::from_millis(ms));
    }

    /// Loss on a phone's link to the relay: as over TCP, messages come late and in order.
    pub fn set_relay_loss(&mut self, id: PhoneId, rate: f64) {
        if let Some(loss) = lock(&self.state).relay_loss.get_mut(&id.0) {
            loss.set(Loss::Random { rate });
        }
    }

    /// A phone's link to the relay goes down (`false`) or comes back (`true`).
    pub fn set_relay_link(&mut self, id: PhoneId, up: bool) {
        let name = self.phones[id.0].name.clone();
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
        let (ia, ib) = (self.ip(a), self.ip(b));
        let latency_ms = lock(&self.state).media.latency(ia, ib).latency_ms;
        self.set_media_path(
            a,
            b,
            PathLatency {
                latency_ms,
                jitter_ms: ms,
            },
        );
    }

    /// The media path between two phones: the direct link turmoil runs, and what the TURN
    /// server gives relayed packets between them.
    fn set_media_path(&mut self, a: PhoneId, b: PhoneId, path: PathLatency) {
        let (ia, ib) = (self.ip(a), self.ip(b));
        lock(&self.state).media.set_latency(ia, ib, path);
        let (na, nb) = (self.phones[a.0].name.clone(), self.phones[b.0].name.clone());
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
        let (na, nb) = (self.phones[a.0].name.clone(), self.phones[b.0].name.clone());
        if blocked {
            self.sim.partition(na.as_str(), nb.as_str());
        } else {
            self.sim.repair(na.as_str(), nb.as_str());
        }
    }

    /// A fault: the phone's next calls use a wrong media key (as a broken key agreement
    /// would give), so its peer cannot decrypt its frames, nor it the peer's.
    pub fn use_wrong_media_key(&mut self, id: PhoneId) {
        self.phones[id.0].wrong_key.set();
    }

    /// The relay crashes.
    pub fn relay_down(&mut self) {
        self.sim.crash("relay");
        let now = World::now(self).0;
        lock(&self.state).record(now, |_| TraceEvent::RelayCrashed);
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

    // ---- observation ----

    /// The phone with this name.
    pub fn phone_named(&self, name: &str) -> Option<PhoneId> {
        self.phones.iter().position(|p| p.name == name).map(PhoneId)
    }

    /// A phone's simulated IP address.
    pub fn ip(&self, id: PhoneId) -> IpAddr {
        self.sim.lookup(self.phones[id.0].name.as_str())
    }

    /// A phone's CallKit.
    pub fn callkit(&self, id: PhoneId) -> std::sync::MutexGuard<'_, FakeCallKit> {
        self.phones[id.0].callkit.fake.lock()
    }

    /// A phone's audio session.
    pub fn audio(&self, id: PhoneId) -> std::sync::MutexGuard<'_, FakeAudioSession> {
        self.phones[id.0].audio.lock()
    }

    /// A phone's sound player.
    pub fn ringer(&self, id: PhoneId) -> std::sync::MutexGuard<'_, FakeRinger> {
        self.phones[id.0].ringer.lock()
    }

    /// What a phone's UI showed.
    pub fn observations(&self, id: PhoneId) -> std::sync::MutexGuard<'_, PhoneObservations> {
        self.phones[id.0].seen.lock()
    }

    /// The candidate pair a phone's connected call uses, as its WebRTC client reported it
    /// (`None`: no call, or not connected yet).
    pub fn connection_info(&self, id: PhoneId) -> Option<ConnectionInfo> {
        self.with_phone(id, |p| {
            p.app().active_call().and_then(|c| c.connection_info)
        })
    }

    /// The real TURN server's relayed addresses: handed out so far, and held now (0 once every
    /// relay-only real-stack call closed and released its own).
    pub fn turn_allocations(&self) -> (usize, usize) {
        (self.turn_counters.allocated(), self.turn_counters.live())
    }

    /// The messages the relay holds for `id`, not yet acknowledged by it, oldest first.
    pub fn waiting_for(&self, id: PhoneId) -> Vec<Waiting> {
        let now = World::now(self);
        let world = lock(&self.state);
        let connected = world.relay.is_subscribed(id.0);
        let latency = self.relay_latency.get(id.0).copied().unwrap_or(0);
        let mut waiting = Vec::new();
        // Sent by a phone, not at the relay yet: a hop to the relay, then one to `id`.
        for (&(from, _), &(to, kind, sent)) in &world.outbound {
            if to == id.0 {
                let hops = self.relay_latency.get(from).copied().unwrap_or(0) + latency;
                let due = connected.then(|| Timestamp(sent).add_ms(hops).max(now));
                waiting.push(Waiting {
                    kind,
                    from: PhoneId(from),
                    since: Timestamp(sent),
                    at_relay: false,
                    due,
                    held: false,
                });
            }
        }
        for from in (0..self.phones.len()).filter(|from| *from != id.0) {
            for message in world.relay.held(from, id.0) {
                waiting.push(Waiting {
                    kind: message.event,
                    from: PhoneId(from),
                    since: message.ts,
                    at_relay: true,
                    due: None,
                    held: true,
                });
            }
            for message in world.relay.queue(from, id.0) {
                let due = connected.then(|| message.ts.max(now).add_ms(latency));
                waiting.push(Waiting {
                    kind: message.event,
                    from: PhoneId(from),
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

    /// Whether the relay lost no message: each was acknowledged, fetched by a push, or is
    /// still queued or held.
    pub fn relay_lost_nothing(&self) -> bool {
        lock(&self.state).relay.lost_nothing()
    }

    /// Every message body the relay saw, in order.
    pub fn relay_seen(&self) -> Vec<String> {
        lock(&self.state).relay.seen().to_vec()
    }

    /// The trace as JSON lines (empty if the world records none).
    pub fn trace_jsonl(&self) -> String {
        trace::jsonl(lock(&self.state).trace.as_deref().unwrap_or_default())
    }

    fn names(&self) -> Vec<String> {
        self.phones.iter().map(|p| p.name.clone()).collect()
    }

    /// The run as a Mermaid sequence diagram.
    pub fn mermaid(&self) -> String {
        trace::mermaid(&self.names(), &World::trace(self))
    }

    /// The run as an SVG sequence diagram.
    pub fn svg(&self) -> String {
        trace::svg(&self.names(), &World::trace(self))
    }
}

impl World for TurmoilWorld {
    fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.sim.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Runs whole ticks until `ms` have passed.
    fn advance(&mut self, ms: u64) -> Result<(), WorldError> {
        let end = self.sim.elapsed() + Duration::from_millis(ms);
        while self.sim.elapsed() < end {
            self.step()?;
        }
        Ok(())
    }

    /// `done` is checked after every tick.
    fn advance_until(
        &mut self,
        ms: u64,
        mut done: impl FnMut(&Self) -> bool,
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

    fn phone_count(&self) -> usize {
        self.phones.len()
    }

    fn name(&self, id: PhoneId) -> String {
        self.phones[id.0].name.clone()
    }

    fn user(&mut self, id: PhoneId, action: UserAction) {
        self.deliver(id, Input::User(action));
    }

    fn callkit_answer(&mut self, id: PhoneId) -> bool {
        let now = World::now(self);
        self.phones[id.0].callkit.user_answers(now)
    }

    fn callkit_end(&mut self, id: PhoneId) -> bool {
        let now = World::now(self);
        self.phones[id.0].callkit.user_ends(now)
    }

    /// SimpleX suspends the chat there unless a CallKit call is on.
    fn to_background(&mut self, id: PhoneId) {
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    }

    fn to_foreground(&mut self, id: PhoneId) {
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppBecameActive));
    }

    /// Calls and connections vanish without a word.
    fn kill_app(&mut self, id: PhoneId) {
        let now = World::now(self);
        let handle = &self.phones[id.0];
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

    fn launch_app(&mut self, id: PhoneId) {
        self.deliver(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
    }

    fn set_push_delay(&mut self, id: PhoneId, ms: u64) {
        lock(&self.state).push_delay.insert(id.0, ms);
    }

    fn set_chat_start_delay(&mut self, id: PhoneId, ms: u64) {
        self.phones[id.0].chat_start_ms.store(ms, Ordering::Relaxed);
    }

    fn hold(&mut self, to: PhoneId, kind: MessageKind) {
        lock(&self.state).relay.hold(to.0, kind);
    }

    fn release(&mut self, to: PhoneId) {
        let now = World::now(self).0;
        let mut world = lock(&self.state);
        let actions = world.relay.release(to.0);
        world.apply_actions(now, actions);
    }

    fn duplicate(&mut self, to: PhoneId, kind: MessageKind) {
        lock(&self.state).relay.duplicate(to.0, kind);
    }

    fn set_media_loss(&mut self, a: PhoneId, b: PhoneId, loss: Loss) -> Result<(), WorldError> {
        let (ia, ib) = (self.ip(a), self.ip(b));
        lock(&self.state).media.set_loss(ia, ib, loss);
        Ok(())
    }

    fn set_media_blocked(&mut self, a: PhoneId, b: PhoneId, blocked: bool) {
        let (ia, ib) = (self.ip(a), self.ip(b));
        lock(&self.state).media.set_blocked(ia, ib, blocked);
    }

    fn with_phone<T>(&self, id: PhoneId, f: impl FnOnce(&Phone) -> T) -> T {
        f(&driver::lock(&self.phones[id.0].phone))
    }

    fn with_callkit<T>(&self, id: PhoneId, f: impl FnOnce(&FakeCallKit) -> T) -> T {
        f(&self.callkit(id))
    }

    fn audio_active(&self, id: PhoneId) -> bool {
        self.audio(id).active()
    }

    fn ringtone(&self, id: PhoneId) -> bool {
        self.ringer(id).ringtone()
    }

    fn rtc_stats(&self, id: PhoneId) -> RtcStats {
        self.phones[id.0].rtc_stats.lock().clone()
    }

    fn trace(&self) -> Vec<TraceRecord> {
        lock(&self.state).trace.clone().unwrap_or_default()
    }
}
