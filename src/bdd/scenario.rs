//! One scenario's state: its phones as set up by the `Given`s, then its turmoil world. It lives
//! on the thread that runs the scenario (turmoil's simulation cannot move between threads).

use std::collections::BTreeMap;

use callsim_engine::app::AppCallState;
use callsim_engine::ids::ItemId;
use callsim_engine::protocol::{CICallStatus, Timestamp};
use callsim_sim::world::{PhoneId, PhoneSetup, RtcStats, TICK_MS, TurmoilWorld, WorldBuilder};
use callsim_sim::{World, WorldError};

/// How long past its last step a scenario with `Then X's phone does not ring` is watched.
pub const RING_GRACE_MS: u64 = 5_000;

/// A network change asked for before the world exists, applied once it does.
type Deferred = Box<dyn FnOnce(&mut TurmoilWorld) -> Result<(), WorldError> + Send>;

/// What the "within N seconds" steps can ask about the past: the phones' ringing, idleness and
/// connections, recorded at every tick they changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// Whether each phone rings (a CallKit incoming call, or the in-app view with its ringtone).
    pub ringing: Vec<bool>,
    /// Whether each phone has neither an active call nor a ringing one.
    pub idle: Vec<bool>,
    /// The pairs of phones connected to each other, lower id first.
    pub connected: Vec<(PhoneId, PhoneId)>,
}

impl Observed {
    fn of(world: &TurmoilWorld) -> Self {
        let n = world.phone_count();
        let ringing: Vec<bool> = PhoneId::all(n).map(|id| world.ringing(id)).collect();
        let idle = PhoneId::all(n)
            .map(|id| world.call_state(id).is_none() && !ringing[id.index()])
            .collect();
        let connected = PhoneId::all(n)
            .flat_map(|a| PhoneId::all(n).skip(a.index() + 1).map(move |b| (a, b)))
            .filter(|&(a, b)| world.connected(a, b))
            .collect();
        Observed {
            ringing,
            idle,
            connected,
        }
    }

    /// Whether `a` and `b` are connected to each other.
    pub fn are_connected(&self, a: PhoneId, b: PhoneId) -> bool {
        self.connected.contains(&(a.min(b), a.max(b)))
    }
}

/// How a "within N seconds" check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// The outcome came, at this time, after its subject existed.
    Held(Timestamp),
    /// The subject existed, but the outcome did not come by the deadline.
    Missed,
    /// The subject never existed in the window (no call to end, no call to connect).
    NoSubject,
}

/// What a scenario has set up and run so far.
pub struct ScenarioState {
    /// The seed of the run.
    pub seed: u64,
    builder: Option<WorldBuilder>,
    world: Option<TurmoilWorld>,
    names: Vec<String>,
    deferred: Vec<Deferred>,
    /// Loss rate set for each media path, for a later burst step to keep.
    pub(crate) media_loss_rate: BTreeMap<(PhoneId, PhoneId), f64>,
    /// When the last `When` step ended: "within N seconds" counts from here.
    last_when: Timestamp,
    /// When the last `When` began: an action's own tick belongs to the window of the next
    /// "within" check, so what it changed at once (a decline ending a ringing call) counts.
    when_began: Timestamp,
    /// Phones that must not ring from now to the end (`Then X's phone does not ring`).
    never_ring: Vec<PhoneId>,
    ring_violation: Option<String>,
    /// Each killed phone's newest chat item when it was killed: calls it had then were lost,
    /// not ended.
    last_item_at_kill: BTreeMap<PhoneId, ItemId>,
    /// Every change of what the phones show, in time order.
    history: Vec<(Timestamp, Observed)>,
    /// Each phone's media counters when its latest call connected: "so far" counts from here.
    media_at_connect: BTreeMap<PhoneId, RtcStats>,
    /// Every phone runs the real WebRTC stack (webrtc-rs) instead of SimRtc.
    real_webrtc: bool,
    /// The simulated time the scenario may run, in ms.
    max_sim_ms: u64,
}

/// The simulated time a scenario may run unless told otherwise: 15 minutes.
pub const DEFAULT_MAX_SIM_MS: u64 = 15 * 60 * 1000;

/// A call item's status as the chat shows it.
fn status_words(status: CICallStatus) -> &'static str {
    match status {
        CICallStatus::Pending => "calling...",
        CICallStatus::Missed => "missed",
        CICallStatus::Rejected => "rejected",
        CICallStatus::Accepted => "accepted",
        CICallStatus::Negotiated => "connecting...",
        CICallStatus::Progress => "in progress",
        CICallStatus::Ended => "ended",
        CICallStatus::Error => "error",
    }
}

/// `N ms` as a person reads it: `450 ms`, `12.5 s`, `15 min`.
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

impl std::fmt::Debug for ScenarioState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scenario(seed {}, phones {:?})", self.seed, self.names)
    }
}

/// What a step returns: `Err` fails the scenario with that message.
pub type StepResult<T = ()> = Result<T, String>;

impl ScenarioState {
    /// A scenario with no phones yet.
    pub fn new(seed: u64) -> Self {
        ScenarioState {
            seed,
            builder: Some(WorldBuilder::new(seed)),
            world: None,
            names: Vec::new(),
            deferred: Vec::new(),
            media_loss_rate: BTreeMap::new(),
            last_when: Timestamp(0),
            when_began: Timestamp(0),
            never_ring: Vec::new(),
            ring_violation: None,
            last_item_at_kill: BTreeMap::new(),
            history: Vec::new(),
            media_at_connect: BTreeMap::new(),
            real_webrtc: false,
            max_sim_ms: DEFAULT_MAX_SIM_MS,
        }
    }

    /// Whether the phones run the real WebRTC stack (whose runs repeat events and timing, not
    /// bytes).
    pub fn real_webrtc(&self) -> bool {
        self.real_webrtc
    }

    /// Limits the simulated time the scenario may run.
    pub fn set_max_sim_ms(&mut self, ms: u64) {
        self.max_sim_ms = ms;
    }

    /// `n` units of `unit_ms` as ms, refused when it does not fit the scenario's
    /// simulated-time limit (or a number at all).
    pub fn duration(&self, n: u64, unit_ms: u64) -> StepResult<u64> {
        n.checked_mul(unit_ms)
            .filter(|ms| *ms <= self.max_sim_ms)
            .ok_or_else(|| {
                format!(
                    "{n} {} is longer than a scenario may run ({} of simulated time; --max-sim-time changes it)",
                    if unit_ms == 1000 { "seconds" } else { "milliseconds" },
                    human_ms(self.max_sim_ms)
                )
            })
    }

    /// The phone of a person named in a `Given ... are contacts` step.
    pub fn phone(&self, name: &str) -> StepResult<PhoneId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(PhoneId)
            .ok_or_else(|| {
                format!("{name} has no phone: name them in \"Given {name} and ... are contacts\"")
            })
    }

    /// Adds a person's phone (once).
    pub fn add_phone(&mut self, name: &str) -> StepResult<PhoneId> {
        if let Ok(id) = self.phone(name) {
            return Ok(id);
        }
        let builder = self
            .builder
            .as_mut()
            .ok_or("phones are set up by Givens before the first When or Then")?;
        builder.phone(name);
        self.names.push(name.to_owned());
        Ok(PhoneId(self.names.len() - 1))
    }

    /// A person's phone settings; only before the world runs.
    pub fn setup(&mut self, name: &str) -> StepResult<&mut PhoneSetup> {
        let id = self.phone(name)?;
        let builder = self.builder.as_mut().ok_or_else(|| {
            format!("{name}'s phone is set up by Givens before the first When or Then")
        })?;
        Ok(builder.setup(id))
    }

    /// Every phone, named before or after this, runs the real WebRTC stack.
    pub fn use_real_webrtc(&mut self) -> StepResult {
        if self.builder.is_none() {
            return Err(
                "the WebRTC stack is chosen by Givens before the first When or Then".into(),
            );
        }
        self.real_webrtc = true;
        Ok(())
    }

    /// Applies a network change now, or once the world exists.
    pub fn network(&mut self, change: impl FnOnce(&mut TurmoilWorld) + Send + 'static) {
        let _infallible = self.try_network(move |world| {
            change(world);
            Ok(())
        });
    }

    /// Applies a network change the world may refuse now, or once the world exists (its
    /// error then comes when the world is built).
    pub fn try_network(
        &mut self,
        change: impl FnOnce(&mut TurmoilWorld) -> Result<(), WorldError> + Send + 'static,
    ) -> StepResult {
        match self.world.as_mut() {
            Some(world) => change(world).map_err(|e| e.to_string()),
            None => {
                self.deferred.push(Box::new(change));
                Ok(())
            }
        }
    }

    /// The world, built at the first step that needs it.
    pub fn world(&mut self) -> StepResult<&mut TurmoilWorld> {
        if self.world.is_none() {
            let mut builder = self.builder.take().ok_or("the world could not be built")?;
            if builder.phones().is_empty() {
                return Err("no phones: start with \"Given Alice and Bob are contacts\"".into());
            }
            if self.real_webrtc {
                for id in PhoneId::all(builder.phones().len()) {
                    builder.setup(id).real_webrtc = true;
                }
            }
            let mut world = builder.build();
            for change in self.deferred.drain(..) {
                change(&mut world).map_err(|e| e.to_string())?;
            }
            self.last_when = world.now();
            self.world = Some(world);
        }
        self.world
            .as_mut()
            .ok_or_else(|| "the world could not be built".to_owned())
    }

    /// The world, if it was built.
    pub fn built(&self) -> Option<&TurmoilWorld> {
        self.world.as_ref()
    }

    /// Runs simulated time a tick at a time, recording what the phones show and checking the
    /// standing "does not ring" guards at every tick.
    pub fn advance(&mut self, ms: u64) -> StepResult {
        let now = self.world()?.now();
        let end = now.add_ms(ms);
        if end.0 > self.max_sim_ms {
            return Err(format!(
                "the scenario would run past its limit of {} of simulated time (at {}, {} more asked; --max-sim-time changes it)",
                human_ms(self.max_sim_ms),
                human_ms(now.0),
                human_ms(ms)
            ));
        }
        loop {
            self.observe()?;
            self.check_guards()?;
            let world = self.world()?;
            if world.now() >= end {
                return Ok(());
            }
            world.advance(TICK_MS).map_err(|e| e.to_string())?;
        }
    }

    fn observe(&mut self) -> StepResult {
        self.world()?;
        let Some(world) = self.world.as_ref() else {
            return Ok(());
        };
        let (now, seen) = (world.now(), Observed::of(world));
        let before = self
            .history
            .last()
            .map(|(_, o)| o.connected.as_slice())
            .unwrap_or_default();
        for &(a, b) in seen.connected.iter().filter(|pair| !before.contains(pair)) {
            for id in [a, b] {
                self.media_at_connect.insert(id, world.rtc_stats(id));
            }
        }
        if self.history.last().is_none_or(|(_, last)| *last != seen) {
            self.history.push((now, seen));
        }
        Ok(())
    }

    /// Whether `seen` held at some moment from the end of the last `When` to `end`.
    fn seen_between(&self, end: Timestamp, seen: &impl Fn(&Observed) -> bool) -> bool {
        let start = self.last_when;
        // The state in effect at `start` is the last change at or before it.
        let first = self
            .history
            .iter()
            .rposition(|(t, _)| *t <= start)
            .unwrap_or(0);
        self.history[first..]
            .iter()
            .take_while(|(t, _)| *t <= end)
            .any(|(_, o)| seen(o))
    }

    /// Whether `seen` holds at some moment up to `seconds` after the end of the last `When`,
    /// running the world as far as needed. A moment an earlier step already ran past counts
    /// as it was then, not as it is now.
    pub fn within(&mut self, seconds: u64, seen: impl Fn(&Observed) -> bool) -> StepResult<bool> {
        Ok(matches!(
            self.within_after(seconds, |_| true, seen)?,
            Within::Held(_)
        ))
    }

    /// Whether, from the end of the last `When` to `seconds` later, `subject` held at some
    /// moment and `outcome` at that moment or a later one: a call must exist to end, or to
    /// connect. Runs the world as far as needed; moments already run past count as they were.
    pub fn within_after(
        &mut self,
        seconds: u64,
        subject: impl Fn(&Observed) -> bool,
        outcome: impl Fn(&Observed) -> bool,
    ) -> StepResult<Within> {
        let end = self.last_when.add_ms(self.duration(seconds, 1000)?);
        loop {
            self.observe()?;
            let window = self.window(end);
            let first = window.iter().position(|(_, o)| subject(o));
            if let Some(first) = first
                && let Some((at, _)) = window[first..].iter().find(|(_, o)| outcome(o))
            {
                // The state in effect at the window's start counts from that start.
                return Ok(Within::Held(*at));
            }
            if self.world()?.now() >= end {
                return Ok(match first {
                    Some(_) => Within::Missed,
                    None => Within::NoSubject,
                });
            }
            self.advance(TICK_MS)?;
        }
    }

    /// Whether `seen` held at some moment from the start of the last `When` to now.
    pub fn seen_since_when(&mut self, seen: impl Fn(&Observed) -> bool) -> StepResult<bool> {
        self.observe()?;
        let now = self.world()?.now();
        Ok(self.window(now).iter().any(|(_, o)| seen(o)))
    }

    /// The recorded states from the one in effect at the end of the last `When` to `end`.
    fn window(&self, end: Timestamp) -> &[(Timestamp, Observed)] {
        let start = self
            .history
            .iter()
            .rposition(|(t, _)| *t <= self.when_began)
            .unwrap_or(0);
        let stop = self
            .history
            .iter()
            .rposition(|(t, _)| *t <= end)
            .map_or(start, |i| i + 1);
        self.history.get(start..stop.max(start)).unwrap_or_default()
    }

    /// If messages to `id` that would change what it shows are on their way or held: a note
    /// saying which, when they arrive, and that a "within" check would wait for them.
    pub fn in_flight_note(&self, id: PhoneId) -> Option<String> {
        let world = self.world.as_ref()?;
        let waiting: Vec<String> = world
            .waiting_for(id)
            .into_iter()
            .filter(|w| w.kind != callsim_engine::io::MessageKind::Receipt)
            .map(|w| {
                let when = match (w.held, w.due) {
                    (true, _) => "held at the relay by the scenario".to_owned(),
                    (false, Some(due)) => format!("on its way, due about {due}"),
                    (false, None) => format!(
                        "waiting at the relay: {} is not connected to it",
                        world.name(id)
                    ),
                };
                let since = if w.at_relay {
                    format!("at the relay since {}", w.since)
                } else {
                    format!("sent at {}", w.since)
                };
                format!(
                    "{} from {} ({since}, {when})",
                    w.kind.as_str(),
                    world.name(w.from)
                )
            })
            .collect();
        (!waiting.is_empty()).then(|| {
            format!(
                "note: checked now, while messages to {} are not in yet: {}; a \"within N seconds\" step waits for them",
                world.name(id),
                waiting.join("; ")
            )
        })
    }

    /// When the last `When` ended: "within N seconds" counts from here.
    pub fn last_when(&self) -> Timestamp {
        self.last_when
    }

    /// Ends a `When` step's action: the phones see what it did (one tick), and "within" counts
    /// from here; the action's tick belongs to the next check's window.
    pub fn when_done(&mut self) -> StepResult {
        self.when_began = self.world()?.now();
        self.advance(TICK_MS)?;
        self.last_when = self.world()?.now();
        Ok(())
    }

    /// Marks the end of a `When` step that moved time on (`N seconds pass`): "within" counts
    /// from here, and what happened while time passed is not in its window.
    pub fn mark_when(&mut self) -> StepResult {
        self.last_when = self.world()?.now();
        self.when_began = self.last_when;
        Ok(())
    }

    /// Notes, just before `id`'s app is killed, that the calls it has now are lost with the
    /// process, so their chat items may stay open (SimpleX issue #2555) without breaking an
    /// invariant. Items are told apart by id: a received item's time is the relay's, not ours.
    pub fn killed(&mut self, id: PhoneId) -> StepResult {
        let world = self.world()?;
        let newest = PhoneId::all(world.phone_count())
            .filter(|peer| *peer != id)
            .filter_map(|peer| {
                let contact = peer.contact();
                world.with_phone(id, |p| p.core().items(contact).map(|i| i.id).max())
            })
            .max();
        if let Some(newest) = newest {
            self.last_item_at_kill.insert(id, newest);
        }
        Ok(())
    }

    /// From now to the end of the scenario, `id` must not ring.
    /// A ring since the end of the last `When` breaks it too.
    pub fn forbid_ringing(&mut self, id: PhoneId) -> StepResult {
        self.observe()?;
        let now = self.world()?.now();
        if self.seen_between(now, &|o: &Observed| {
            o.ringing.get(id.index()).copied().unwrap_or(false)
        }) {
            let name = self.world()?.name(id).to_owned();
            return Err(format!(
                "{name}'s phone rang after the last When (at {})",
                self.ring_started(id).unwrap_or(now)
            ));
        }
        self.never_ring.push(id);
        self.check_guards()
    }

    /// `id`'s media counters now and when its latest call connected.
    pub fn media_since_connect(&mut self, id: PhoneId) -> StepResult<(RtcStats, RtcStats)> {
        self.observe()?;
        let now = self.world()?.rtc_stats(id);
        Ok((
            self.media_at_connect.get(&id).cloned().unwrap_or_default(),
            now,
        ))
    }

    /// When `id` last started ringing, from the recorded history.
    fn ring_started(&self, id: PhoneId) -> Option<Timestamp> {
        self.history
            .iter()
            .filter(|(t, o)| {
                *t >= self.last_when && o.ringing.get(id.index()).copied().unwrap_or(false)
            })
            .map(|(t, _)| *t)
            .next()
    }

    fn check_guards(&mut self) -> StepResult {
        if let Some(violation) = &self.ring_violation {
            return Err(violation.clone());
        }
        let Some(world) = self.world.as_ref() else {
            return Ok(());
        };
        for &id in &self.never_ring {
            if world.ringing(id) {
                let violation = format!("{}'s phone rang at {}", world.name(id), world.now());
                self.ring_violation = Some(violation.clone());
                return Err(violation);
            }
        }
        Ok(())
    }

    /// The standing invariants of steps.md, checked after every scenario.
    ///
    /// A scenario that said a phone does not ring is first watched [`RING_GRACE_MS`] longer, so
    /// that a ring already on its way (say, an invitation still in the relay) fails it.
    pub fn check_invariants(&mut self) -> StepResult {
        self.check_state_invariants()?;
        if !self.never_ring.is_empty() && self.world.is_some() {
            self.advance(RING_GRACE_MS)?;
        }
        self.check_guards()
    }

    fn check_state_invariants(&mut self) -> StepResult {
        self.check_guards()?;
        let Some(world) = self.world.as_ref() else {
            return Ok(());
        };
        let mut broken = Vec::new();
        let count = world.phone_count();
        for id in PhoneId::all(count) {
            let name = world.name(id).to_owned();
            let open = world.callkit(id).open_actions().count();
            if open > 0 {
                broken.push(format!(
                    "{name} left {open} CallKit action(s) neither fulfilled nor failed"
                ));
            }
            let (active, view) = world.with_phone(id, |p| {
                (
                    p.app().active_call().is_some(),
                    p.app().incoming_view().is_some(),
                )
            });
            if !active && world.audio(id).active() {
                broken.push(format!(
                    "{name} has no active call but an active audio session"
                ));
            }
            if !active && !view && world.ringer(id).ringtone() {
                broken.push(format!(
                    "{name} plays the ringtone with no call to ring for"
                ));
            }
            for peer in PhoneId::all(count).filter(|p| *p != id) {
                let contact = peer.contact();
                let lost_up_to = self.last_item_at_kill.get(&id).copied();
                let (items, live) = world.with_phone(id, |p| {
                    // Items of calls the core's restoreCalls dropped keep their status in
                    // SimpleX (errata A8): nothing is left to end them.
                    let dropped = p.core().dropped_call_items();
                    let items: Vec<CICallStatus> = p
                        .core()
                        .items(contact)
                        .filter(|i| lost_up_to.is_none_or(|newest| i.id > newest))
                        .filter(|i| !dropped.contains(&i.id))
                        .filter_map(|i| match i.content {
                            callsim_engine::chat::ItemContent::Call(c) => Some(c.status),
                            callsim_engine::chat::ItemContent::CallsRejected
                            | callsim_engine::chat::ItemContent::MsgError(_) => None,
                        })
                        .collect();
                    (items, p.core().call(contact).is_some())
                });
                let last = items.len().saturating_sub(1);
                for (i, status) in items.iter().enumerate() {
                    let still_open = i == last && live;
                    let is_final = matches!(
                        status,
                        CICallStatus::Missed
                            | CICallStatus::Rejected
                            | CICallStatus::Ended
                            | CICallStatus::Error
                    );
                    if !is_final && !still_open {
                        broken.push(format!(
                            "{name}'s chat with {} has a call item left \"{}\", not in a final status",
                            world.name(peer),
                            status_words(*status)
                        ));
                    }
                }
                if id < peer && world.connected(id, peer) {
                    // The key in use: a phone without encryption support holds one but never uses it.
                    let key = |x: PhoneId| {
                        world.with_phone(x, |p| {
                            p.app()
                                .active_call()
                                .map(|c| c.encrypted().then_some(c.shared_key))
                        })
                    };
                    let ids = |x: PhoneId, y: PhoneId| {
                        world.with_phone(x, |p| {
                            p.core().call(y.contact()).map(|c| c.call_id.clone())
                        })
                    };
                    if key(id) != key(peer) || ids(id, peer) != ids(peer, id) {
                        broken.push(format!(
                            "{name} and {} are connected with different call ids or keys",
                            world.name(peer)
                        ));
                    }
                }
            }
            if let Some(AppCallState::Ended) = world.call_state(id) {
                // An ended call is cleared at once; one left behind is a stuck call view.
                broken.push(format!("{name} still shows an ended call"));
            }
        }
        if !world.relay_lost_nothing() {
            broken.push("the relay lost a message".into());
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(format!("standing invariants broken: {}", broken.join("; ")))
        }
    }
}
