//! The explorer: every interleaving of two phones, the relay and WebRTC, checked by stateright.
//!
//! The model is the in-memory world with scripted WebRTC ([`MemoryWorld`]), the same phones the
//! other worlds run. A step is either something the world has pending (a relay hop, a push, a
//! WebRTC event, a chat starting, a timer; see [`crate::memory::Happening`] for the time
//! abstraction) or a user action from the menu, each at most its bound of times. States are
//! told apart by [`MemoryWorld::fingerprint`], which leaves out logs, statistics and times.
//!
//! Properties: the standing invariants at every state where nothing is pending, liveness at
//! the states where nothing more can happen, and `sometimes` properties naming races that must
//! be reachable (a coverage table).

use std::fmt;
use std::hash::{Hash, Hasher};

use callsim_engine::app::AppCallState;
use callsim_engine::io::{MessageKind, UserAction};
use callsim_engine::protocol::CallMediaType;
use serde::{Deserialize, Serialize};
use stateright::{Model, Property};

use crate::memory::{Happening, MemoryWorld, RelayFault, WebRtcModel};
use crate::setup::WorldBuilder;
use crate::{PhoneId, World};

/// The caller.
pub const ALICE: PhoneId = PhoneId(0);
/// The callee.
pub const BOB: PhoneId = PhoneId(1);
/// The optional third phone, which calls Bob.
pub const CAROL: PhoneId = PhoneId(2);

/// Whom a phone's `Call` action calls: Alice and Bob each other, Carol Bob.
pub fn callee(id: PhoneId) -> PhoneId {
    if id == BOB { ALICE } else { BOB }
}

/// The default window: a relay round trip, a push and a chat start may overtake one another;
/// a CallKit action's 60 s timeout does not overtake a 5 ms callback.
pub const DEFAULT_WINDOW_MS: u64 = 1_000;

/// A user action of the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Act {
    /// Starts an audio call to the other phone.
    Call,
    /// Answers on CallKit's screen.
    AnswerCallKit,
    /// Declines on CallKit's screen.
    DeclineCallKit,
    /// Accepts on the in-app incoming view.
    AcceptInApp,
    /// Rejects on the in-app incoming view.
    RejectInApp,
    /// Ends the call (the end button of what shows).
    End,
    /// The app's process is killed.
    Kill,
    /// The app's process starts again.
    Launch,
}

impl Act {
    /// The scenario-language step of this action by `who` towards `peer`.
    pub fn step(self, who: &str, peer: &str) -> String {
        match self {
            Act::Call => format!("When {who} starts an audio call to {peer}"),
            Act::AnswerCallKit => format!("When {who} answers the call through CallKit"),
            Act::DeclineCallKit => format!("When {who} declines the call through CallKit"),
            Act::AcceptInApp => format!("When {who} accepts the call in the app"),
            Act::RejectInApp => format!("When {who} rejects the call in the app"),
            Act::End => format!("When {who} ends the call"),
            Act::Kill => format!("When {who}'s app is killed"),
            Act::Launch => format!("When {who}'s app is started"),
        }
    }
}

/// One step of a path: something pending happens, or a user acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// Something the world had pending.
    Happen(Happening),
    /// A user action from the menu (its index there, the phone, the action).
    User(usize, PhoneId, Act),
    /// A relay fault in place of a pending relay hop (the event's number).
    Fault(RelayFault, u64),
}

/// A bug planted in the phones, to show the explorer finds what breaks an invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlantedBug {
    /// The callee's phone loses every `x.call.end` it receives (the relay delivers it, the
    /// phone never acts on it), as a broken receive path would.
    CalleeLosesEnd,
}

/// What to explore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExploreConfig {
    /// The seed of the phones' keys and ids.
    pub seed: u64,
    /// Whether each phone (Alice, Bob) uses CallKit.
    pub callkit: [bool; 2],
    /// How long each phone's chat takes to start when woken, ms.
    pub chat_start_ms: [u64; 2],
    /// The menu: who may do what, at most how many times.
    pub menu: Vec<(PhoneId, Act, u8)>,
    /// The relay delivers every message of this kind twice, to every phone.
    pub duplicate: Option<MessageKind>,
    /// A planted bug.
    pub bug: Option<PlantedBug>,
    /// Only what is due within this many ms of the earliest thing due may happen next; `None`:
    /// anything pending may (see [`crate::memory::Happening`]).
    pub window_ms: Option<u64>,
    /// A third phone, Carol (CallKit on), a contact of Bob's, may call Bob (see
    /// [`ExploreConfig::with_third_phone`]).
    #[serde(default)]
    pub third: bool,
    /// How many deliveries the relay may lose on a path (any queue, any message).
    #[serde(default)]
    pub loss: u8,
    /// How many ACKs the relay may lose on a path, each making it deliver the message again.
    #[serde(default)]
    pub redeliver: u8,
}

impl Default for ExploreConfig {
    /// One call: Alice may call and end; Bob may answer or decline on CallKit and end.
    fn default() -> Self {
        ExploreConfig {
            seed: 1,
            callkit: [true, true],
            chat_start_ms: [500, 500],
            menu: vec![
                (ALICE, Act::Call, 1),
                (ALICE, Act::End, 1),
                (BOB, Act::AnswerCallKit, 1),
                (BOB, Act::DeclineCallKit, 1),
                (BOB, Act::End, 1),
            ],
            duplicate: None,
            bug: None,
            window_ms: Some(DEFAULT_WINDOW_MS),
            third: false,
            loss: 0,
            redeliver: 0,
        }
    }
}

impl ExploreConfig {
    /// Adds Carol, who may call Bob once and end once; Bob may answer, decline and end once
    /// more for her.
    pub fn with_third_phone(mut self) -> Self {
        self.third = true;
        for (id, _, bound) in &mut self.menu {
            if *id == BOB {
                *bound += 1;
            }
        }
        self.menu.push((CAROL, Act::Call, 1));
        self.menu.push((CAROL, Act::End, 1));
        self
    }

    /// The phones of the model.
    pub fn phones(&self) -> Vec<PhoneId> {
        if self.third {
            vec![ALICE, BOB, CAROL]
        } else {
            vec![ALICE, BOB]
        }
    }

    /// The world every path starts from (recording its trace if `trace`, for replays).
    pub fn world(&self, trace: bool) -> MemoryWorld {
        let mut builder = WorldBuilder::new(self.seed).trace(trace);
        for (i, name) in ["Alice", "Bob"].into_iter().enumerate() {
            let phone = builder.phone(name);
            phone.config.callkit_enabled = self.callkit[i];
            phone.chat_start_ms = self.chat_start_ms[i];
        }
        if self.third {
            builder.phone("Carol");
        }
        let model = WebRtcModel::Scripted(Default::default());
        let mut world = builder
            .build_memory(model)
            .expect("the in-memory world builds without the real stack");
        // Both apps start in the foreground and their chats start: exploring begins when the
        // world is quiet, as a user about to call finds it.
        world.run_for(self.chat_start_ms[0].max(self.chat_start_ms[1]) + 1_000);
        if let Some(kind) = self.duplicate {
            for id in self.phones() {
                world.duplicate(id, kind);
            }
        }
        if let Some(PlantedBug::CalleeLosesEnd) = self.bug {
            world.lose_received(BOB, MessageKind::CallEnd);
        }
        world
    }
}

/// A state of the explorer: the world, the menu's uses, and the world's fingerprint.
#[derive(Clone)]
pub struct ExploreState {
    /// The world.
    pub world: MemoryWorld,
    /// How often each menu entry was used.
    pub used: Vec<u8>,
    /// How many relay faults were used: losses, lost ACKs.
    pub faults: [u8; 2],
    fingerprint: u64,
}

impl ExploreState {
    fn new(world: MemoryWorld, used: Vec<u8>, faults: [u8; 2]) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        world.fingerprint(&mut hasher);
        used.hash(&mut hasher);
        faults.hash(&mut hasher);
        ExploreState {
            world,
            used,
            faults,
            fingerprint: hasher.finish(),
        }
    }

    /// The fingerprint the explorer tells states apart by.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

fn fault_index(fault: RelayFault) -> usize {
    match fault {
        RelayFault::Lose => 0,
        RelayFault::Redeliver => 1,
    }
}

impl ExploreState {
    /// The state a replayed path ends in: its world and the menu's uses along the path.
    pub fn at(world: MemoryWorld, steps: &[Step], config: &ExploreConfig) -> Self {
        let mut used = vec![0u8; config.menu.len()];
        let mut faults = [0u8; 2];
        for step in steps {
            match step {
                Step::User(index, ..) => used[*index] += 1,
                Step::Fault(fault, _) => faults[fault_index(*fault)] += 1,
                Step::Happen(_) => {}
            }
        }
        ExploreState::new(world, used, faults)
    }
}

impl Hash for ExploreState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

impl PartialEq for ExploreState {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl fmt::Debug for ExploreState {
    /// The phones' states, which is what a person stepping through a path wants to see.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.world;
        for id in PhoneId::all(w.phone_count()) {
            let state = w
                .call_state(id)
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "no call".into());
            write!(
                f,
                "{}: {state}{}{}; ",
                w.name(id),
                if w.ringing(id) { ", ringing" } else { "" },
                if w.audio_active(id) { ", audio" } else { "" },
            )?;
        }
        write!(f, "t={}ms", w.now().0)
    }
}

/// The explorer's model: the configuration and the properties.
#[derive(Debug, Clone)]
pub struct CallModel {
    /// What to explore.
    pub config: ExploreConfig,
}

impl CallModel {
    /// Applies one step to a copy of `state`; `None` if it is not possible there.
    pub fn apply(&self, state: &ExploreState, step: Step) -> Option<ExploreState> {
        let mut world = state.world.clone();
        let mut used = state.used.clone();
        let mut faults = state.faults;
        match step {
            Step::Fault(fault, seq) => {
                let i = fault_index(fault);
                if faults[i] >= self.fault_bound(fault) || !world.relay_fault(seq, fault) {
                    return None;
                }
                faults[i] += 1;
            }
            Step::Happen(what) => {
                if !world.happen(what) {
                    return None;
                }
            }
            Step::User(index, id, act) => {
                let (_, _, bound) = *self.config.menu.get(index)?;
                if used[index] >= bound || !act_enabled(&world, id, act) {
                    return None;
                }
                used[index] += 1;
                do_act(&mut world, id, act);
            }
        }
        Some(ExploreState::new(world, used, faults))
    }

    fn fault_bound(&self, fault: RelayFault) -> u8 {
        match fault {
            RelayFault::Lose => self.config.loss,
            RelayFault::Redeliver => self.config.redeliver,
        }
    }

    /// A step in words, in the world it was taken from.
    pub fn describe(&self, state: &ExploreState, step: Step) -> String {
        match step {
            Step::Happen(what) => state.world.describe(what),
            Step::Fault(fault, seq) => state.world.describe_fault(seq, fault),
            Step::User(_, id, act) => {
                let peer = callee(id);
                act.step(&state.world.name(id), &state.world.name(peer))
                    .trim_start_matches("When ")
                    .to_owned()
            }
        }
    }
}

fn act_enabled(w: &MemoryWorld, id: PhoneId, act: Act) -> bool {
    let app_up = w.app_running(id);
    match act {
        Act::Call => app_up && w.call_state(id).is_none(),
        Act::AnswerCallKit | Act::DeclineCallKit => w.with_callkit(id, |c| c.ringing().is_some()),
        Act::AcceptInApp | Act::RejectInApp => {
            app_up && w.with_phone(id, |p| p.app().incoming_view().is_some())
        }
        Act::End => {
            app_up && (w.call_state(id).is_some() || w.with_callkit(id, |c| c.live_calls() > 0))
        }
        Act::Kill => app_up,
        Act::Launch => !app_up,
    }
}

fn do_act(w: &mut MemoryWorld, id: PhoneId, act: Act) {
    // The in-app view answers whoever calls.
    let caller = w
        .with_phone(id, |p| p.app().incoming_view())
        .unwrap_or(callee(id).contact());
    match act {
        Act::Call => w.start_call(id, callee(id), CallMediaType::Audio),
        Act::AnswerCallKit => {
            w.callkit_answer(id);
        }
        Act::DeclineCallKit => {
            w.callkit_end(id);
        }
        Act::AcceptInApp => w.user(id, UserAction::AcceptCall { contact_id: caller }),
        Act::RejectInApp => w.user(id, UserAction::RejectCall { contact_id: caller }),
        Act::End => {
            if w.call_state(id).is_some() {
                w.user(id, UserAction::EndCall);
            } else {
                w.callkit_end(id);
            }
        }
        Act::Kill => w.kill_app(id),
        Act::Launch => w.launch_app(id),
    }
}

impl Model for CallModel {
    type State = ExploreState;
    type Action = Step;

    fn init_states(&self) -> Vec<ExploreState> {
        vec![ExploreState::new(
            self.config.world(false),
            vec![0; self.config.menu.len()],
            [0, 0],
        )]
    }

    fn actions(&self, state: &ExploreState, actions: &mut Vec<Step>) {
        let mut pending = Vec::new();
        state.world.happenings(self.config.window_ms, &mut pending);
        for &what in &pending {
            actions.push(Step::Happen(what));
            let Happening::Event(seq) = what else {
                continue;
            };
            for fault in [RelayFault::Lose, RelayFault::Redeliver] {
                if state.faults[fault_index(fault)] < self.fault_bound(fault)
                    && state.world.relay_fault_applies(seq, fault)
                {
                    actions.push(Step::Fault(fault, seq));
                }
            }
        }
        for (index, &(id, act, bound)) in self.config.menu.iter().enumerate() {
            if state.used[index] < bound && act_enabled(&state.world, id, act) {
                actions.push(Step::User(index, id, act));
            }
        }
    }

    fn next_state(&self, state: &ExploreState, step: Step) -> Option<ExploreState> {
        self.apply(state, step)
    }

    fn format_action(&self, step: &Step) -> String {
        format!("{step:?}")
    }

    fn format_step(&self, state: &ExploreState, step: Step) -> Option<String> {
        Some(self.describe(state, step))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut properties = Vec::new();
        for check in INVARIANTS {
            properties.push(Property::always(check.name, check.holds));
        }
        for race in self.races() {
            properties.push(Property::sometimes(race.name, race.holds));
        }
        properties
    }
}

/// A named check of a state.
pub struct Check {
    /// Its name, as reports print it.
    pub name: &'static str,
    /// Whether the state satisfies it.
    pub holds: fn(&CallModel, &ExploreState) -> bool,
}

/// Whether nothing more can happen: nothing pending, no timer armed and no user action left
/// that is possible.
pub fn terminal(model: &CallModel, state: &ExploreState) -> bool {
    if !state.world.quiet() {
        return false;
    }
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    actions.is_empty()
}

fn connected(w: &MemoryWorld) -> bool {
    w.connected(ALICE, BOB)
}

fn phones(w: &MemoryWorld) -> impl Iterator<Item = PhoneId> + Clone {
    PhoneId::all(w.phone_count())
}

/// The phone a phone's active call is with.
fn in_call_with(w: &MemoryWorld, id: PhoneId) -> Option<PhoneId> {
    let contact = w.with_phone(id, |p| p.app().active_call().map(|c| c.contact_id))?;
    phones(w).find(|p| p.contact() == contact)
}

fn idle(w: &MemoryWorld, id: PhoneId) -> bool {
    w.call_state(id).is_none() && w.with_callkit(id, |c| c.live_calls() == 0)
}

/// Where a phone may rest when nothing more can happen: idle; connected to its peer; ringing
/// for a caller that still waits (the user would answer or decline); or waiting as that caller.
fn at_rest(w: &MemoryWorld, id: PhoneId) -> bool {
    let waits_for = |caller: PhoneId, callee: PhoneId| {
        w.call_state(caller) == Some(AppCallState::InvitationSent)
            && in_call_with(w, caller) == Some(callee)
            && w.ringing(callee)
    };
    if w.ringing(id) {
        return phones(w).any(|caller| caller != id && waits_for(caller, id));
    }
    idle(w, id)
        || in_call_with(w, id).is_some_and(|peer| w.connected(id, peer) || waits_for(id, peer))
}

/// The standing invariants of steps.md, and liveness at terminal states.
pub const INVARIANTS: &[Check] = &[
    Check {
        name: "connected peers agree on the call and its key",
        holds: |_, s| {
            let w = &s.world;
            phones(w).all(|a| {
                phones(w).all(|b| a >= b || !w.connected(a, b) || w.same_call_and_key(a, b))
            })
        },
    },
    Check {
        name: "every CallKit action is settled when nothing is pending",
        holds: |_, s| {
            !s.world.quiet()
                || phones(&s.world).all(|id| {
                    s.world
                        .with_callkit(id, |c| c.open_actions().next().is_none())
                })
        },
    },
    // steps.md's "never two active calls" holds by construction (the app has one active call);
    // what can break is CallKit's side. A call ringing beside the outgoing one is SimpleX's
    // real glare behaviour (activateCall reports every invitation, SimpleXAPI.swift), so only
    // a second call that is not ringing counts.
    Check {
        name: "at most one CallKit call per phone besides one ringing",
        holds: |_, s| {
            phones(&s.world).all(|id| {
                s.world.with_callkit(id, |c| {
                    c.live_calls() - usize::from(c.ringing().is_some()) <= 1
                })
            })
        },
    },
    Check {
        name: "no audio or ringtone without a call when nothing is pending",
        holds: |_, s| {
            let w = &s.world;
            !w.quiet()
                || phones(w).all(|id| {
                    let call = w.call_state(id).is_some()
                        || w.with_callkit(id, |c| c.live_calls() > 0)
                        || w.with_phone(id, |p| p.app().incoming_view().is_some());
                    call || (!w.audio_active(id) && !w.ringtone(id))
                })
        },
    },
    Check {
        name: "the relay loses nothing",
        holds: |_, s| !s.world.quiet() || s.world.relay_queues_empty(),
    },
    Check {
        name: "in the end every phone is idle, connected, or rings for a caller still waiting",
        holds: |m, s| !terminal(m, s) || phones(&s.world).all(|id| at_rest(&s.world, id)),
    },
];

/// Races that must be reachable: each a `sometimes` property.
pub const RACES: &[Check] = &[
    Check {
        name: "a call connects",
        holds: |_, s| connected(&s.world),
    },
    Check {
        name: "the caller ends while the callee is still ringing",
        holds: |_, s| {
            s.world.call_state(ALICE).is_none()
                && s.world.ringing(BOB)
                && s.used.iter().any(|&u| u > 0)
                && s.world.has_invitation(BOB, ALICE)
        },
    },
    Check {
        name: "x.call.end crosses x.call.offer (the callee offered, the caller has ended)",
        holds: |_, s| {
            s.world.call_state(BOB) == Some(AppCallState::OfferSent)
                && s.world.call_state(ALICE).is_none()
        },
    },
    Check {
        name: "the callee answers on CallKit while the caller's end is on its way",
        holds: |_, s| {
            s.world.call_state(ALICE).is_none()
                && s.world.with_callkit(BOB, |c| c.last_answer().is_some())
                && s.world.call_state(BOB).is_some()
        },
    },
    Check {
        name: "both phones end the call at once",
        holds: |_, s| {
            s.world.call_state(ALICE).is_none()
                && s.world.call_state(BOB).is_none()
                && s.world
                    .call_item(ALICE, BOB)
                    .is_some_and(|i| i.contains("ended"))
                && s.world
                    .call_item(BOB, ALICE)
                    .is_some_and(|i| i.contains("ended"))
        },
    },
];

/// Races of the third phone, checked when the model has one.
pub const THIRD_PHONE_RACES: &[Check] = &[Check {
    name: "Carol's call reaches Bob while he is connected to Alice",
    holds: |_, s| {
        let w = &s.world;
        w.connected(ALICE, BOB)
            && w.call_state(CAROL) == Some(AppCallState::InvitationSent)
            && (w.ringing(BOB)
                || w.with_phone(BOB, |p| p.app().incoming_view() == Some(CAROL.contact())))
    },
}];

impl CallModel {
    /// The races this model checks: [`RACES`], and [`THIRD_PHONE_RACES`] with a third phone.
    pub fn races(&self) -> Vec<&'static Check> {
        let third: &[Check] = if self.config.third {
            THIRD_PHONE_RACES
        } else {
            &[]
        };
        RACES.iter().chain(third).collect()
    }
}

/// How to run the checker.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    /// Worker threads.
    pub threads: usize,
    /// Stop after about this many states (unlimited if `None`).
    pub max_states: Option<usize>,
    /// Random walks instead of an exhaustive search.
    pub walks: Option<Walks>,
}

/// Random walks: for models too large to exhaust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walks {
    /// How many walks.
    pub count: u64,
    /// Walk `i` chooses its steps from seed `seed + i`, so each walk replays alone.
    pub seed: u64,
}

/// How far a run has got, for a progress line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// States generated so far.
    pub generated: usize,
    /// Distinct states so far (for walks: `None` until the end).
    pub unique: Option<usize>,
    /// The longest path so far.
    pub depth: usize,
}

/// Something the checker found: a counterexample to an invariant, or an example of a race.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The property's name.
    pub property: String,
    /// True for a broken invariant, false for a race shown reachable.
    pub failure: bool,
    /// The path from the start.
    pub steps: Vec<Step>,
}

/// What a run of the checker found.
#[derive(Debug, Clone)]
pub struct ExploreReport {
    /// States generated, repeats included.
    pub generated: usize,
    /// Distinct states (by fingerprint).
    pub unique: usize,
    /// The longest path explored.
    pub depth: usize,
    /// Whether the search covered every state (not cut by `max_states`, not random).
    pub complete: bool,
    /// Broken invariants first, then the races reached, each by name.
    pub discoveries: Vec<Discovery>,
    /// The races never reached.
    pub unreached: Vec<&'static str>,
}

/// Runs the checker on `config`.
pub fn explore(config: &ExploreConfig, options: &ExploreOptions) -> ExploreReport {
    explore_watched(config, options, None)
}

/// Runs the checker on `config`, calling `watch` over and over while it runs (the caller's
/// `watch` paces itself, e.g. by sleeping, and draws a progress line).
pub fn explore_watched(
    config: &ExploreConfig,
    options: &ExploreOptions,
    watch: Option<&mut (dyn FnMut(Progress) + Send)>,
) -> ExploreReport {
    use stateright::Checker;
    let model = CallModel {
        config: config.clone(),
    };
    if let Some(walks) = options.walks {
        return random_walks(&model, walks, options, watch);
    }
    let mut builder = model
        .clone()
        .checker()
        .threads(options.threads.max(1))
        .finish_when(stateright::HasDiscoveries::AllFailures);
    if let Some(max) = options.max_states {
        builder = builder.target_state_count(max);
    }
    let checker = builder.spawn_bfs();
    if let Some(watch) = watch {
        while !checker.is_done() {
            watch(Progress {
                generated: checker.state_count(),
                unique: Some(checker.unique_state_count()),
                depth: checker.max_depth(),
            });
        }
    }
    let checker = checker.join();
    let discoveries = checker
        .discoveries()
        .into_iter()
        .map(|(name, path)| (name, path.into_actions()))
        .collect();
    let complete = options
        .max_states
        .is_none_or(|max| checker.state_count() < max);
    finish(
        &model,
        discoveries,
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth(),
        complete,
    )
}

/// The report, with each discovery cut at the first step where its property decides.
///
/// stateright 0.31's BFS records an `always` or `sometimes` property's discovery again for
/// every later state of the same block that decides it (`check_block` in checker/bfs.rs
/// inserts without checking), so its paths can run well past the step that matters; a
/// replay finds that step.
fn finish(
    model: &CallModel,
    found: Vec<(&'static str, Vec<Step>)>,
    generated: usize,
    unique: usize,
    depth: usize,
    complete: bool,
) -> ExploreReport {
    let mut discoveries: Vec<Discovery> = found
        .into_iter()
        .map(|(name, steps)| {
            let failure = INVARIANTS.iter().any(|c| c.name == name);
            Discovery {
                property: name.to_owned(),
                failure,
                steps: cut_where_decided(model, name, failure, steps),
            }
        })
        .collect();
    discoveries.sort_by(|a, b| (!a.failure, &a.property).cmp(&(!b.failure, &b.property)));
    let unreached = model
        .races()
        .into_iter()
        .map(|r| r.name)
        .filter(|name| !discoveries.iter().any(|d| d.property == *name))
        .collect();
    let complete = complete && !discoveries.iter().any(|d| d.failure);
    ExploreReport {
        generated,
        unique,
        depth,
        complete,
        discoveries,
        unreached,
    }
}

/// Whether `property` decides `state`: breaks there (an invariant) or holds there (a race).
fn decides(model: &CallModel, name: &str, failure: bool, state: &ExploreState) -> bool {
    if failure {
        INVARIANTS
            .iter()
            .any(|c| c.name == name && !(c.holds)(model, state))
    } else {
        model
            .races()
            .iter()
            .any(|c| c.name == name && (c.holds)(model, state))
    }
}

fn cut_where_decided(model: &CallModel, name: &str, failure: bool, steps: Vec<Step>) -> Vec<Step> {
    let mut state = ExploreState::new(
        model.config.world(false),
        vec![0; model.config.menu.len()],
        [0, 0],
    );
    if decides(model, name, failure, &state) {
        return Vec::new();
    }
    for (i, &step) in steps.iter().enumerate() {
        let Some(next) = model.apply(&state, step) else {
            return steps;
        };
        state = next;
        if decides(model, name, failure, &state) {
            return steps[..=i].to_vec();
        }
    }
    steps
}

/// One random walk: from the start, a step chosen by the seed at each state until none is
/// possible or `max_depth` steps were taken.
struct Walk {
    states: usize,
    fingerprints: Vec<u64>,
    /// Per property (invariants then races): the path up to where it decided, if it did.
    decided: Vec<Option<Vec<Step>>>,
}

const WALK_MAX_DEPTH: usize = 10_000;

fn walk(model: &CallModel, seed: u64) -> Walk {
    use rand_core::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let properties: Vec<(&Check, bool)> = INVARIANTS
        .iter()
        .map(|c| (c, true))
        .chain(model.races().into_iter().map(|c| (c, false)))
        .collect();
    let mut decided = vec![None; properties.len()];
    let mut state = model.init_states().remove(0);
    let mut path = Vec::new();
    let mut fingerprints = vec![state.fingerprint];
    let mut actions = Vec::new();
    loop {
        for (slot, (check, failure)) in decided.iter_mut().zip(&properties) {
            if slot.is_none() && (check.holds)(model, &state) != *failure {
                *slot = Some(path.clone());
            }
        }
        actions.clear();
        model.actions(&state, &mut actions);
        if actions.is_empty() || path.len() >= WALK_MAX_DEPTH {
            break;
        }
        let step = actions[(rng.next_u64() % actions.len() as u64) as usize];
        match model.apply(&state, step) {
            Some(next) => state = next,
            None => break,
        }
        path.push(step);
        fingerprints.push(state.fingerprint);
    }
    Walk {
        states: fingerprints.len(),
        fingerprints,
        decided,
    }
}

/// `walks.count` random walks over `options.threads` threads. The results depend only on the
/// seeds: each property's discovery is that of the lowest-numbered walk deciding it.
fn random_walks(
    model: &CallModel,
    walks: Walks,
    options: &ExploreOptions,
    watch: Option<&mut (dyn FnMut(Progress) + Send)>,
) -> ExploreReport {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = options.threads.max(1) as u64;
    let generated = AtomicUsize::new(0);
    let depth = AtomicUsize::new(0);
    let budget = options.max_states.unwrap_or(usize::MAX);
    let per_thread: Vec<Vec<(u64, Walk)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (generated, depth) = (&generated, &depth);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    let mut i = t;
                    while i < walks.count && generated.load(Ordering::Relaxed) < budget {
                        let w = walk(model, walks.seed.wrapping_add(i));
                        generated.fetch_add(w.states, Ordering::Relaxed);
                        depth.fetch_max(w.states - 1, Ordering::Relaxed);
                        mine.push((i, w));
                        i += threads;
                    }
                    mine
                })
            })
            .collect();
        if let Some(watch) = watch {
            while !handles.iter().all(|h| h.is_finished()) {
                watch(Progress {
                    generated: generated.load(Ordering::Relaxed),
                    unique: None,
                    depth: depth.load(Ordering::Relaxed),
                });
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(u64, Walk)> = per_thread.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    let names: Vec<(&'static str, bool)> = INVARIANTS
        .iter()
        .map(|c| (c.name, true))
        .chain(model.races().into_iter().map(|c| (c.name, false)))
        .collect();
    let mut found: Vec<(&'static str, Vec<Step>)> = Vec::new();
    for (k, (name, _)) in names.iter().enumerate() {
        if let Some(steps) = all.iter().find_map(|(_, w)| w.decided[k].clone()) {
            found.push((name, steps));
        }
    }
    let unique = all
        .iter()
        .flat_map(|(_, w)| w.fingerprints.iter().copied())
        .collect::<std::collections::BTreeSet<u64>>()
        .len();
    let generated = all.iter().map(|(_, w)| w.states).sum();
    let depth = all
        .iter()
        .map(|(_, w)| w.states - 1)
        .max()
        .unwrap_or_default();
    finish(model, found, generated, unique, depth, false)
}

/// Serves stateright's web Explorer for `config` on `address` (loopback only), to step
/// through paths by hand. Runs until the process ends.
pub fn serve(
    config: &ExploreConfig,
    threads: usize,
    address: std::net::SocketAddr,
) -> Result<(), ServeError> {
    use stateright::Checker;
    check_serve_address(address)?;
    let model = CallModel {
        config: config.clone(),
    };
    let checker = model.checker().threads(threads.max(1)).serve(address);
    // `serve` returns only if its server thread ends.
    let _ = checker.is_done();
    Ok(())
}

/// Whether the Explorer can be served on `address`: loopback, and free now (stateright's
/// server panics when it cannot bind, so this is tried first, for a clear error).
pub fn check_serve_address(address: std::net::SocketAddr) -> Result<(), ServeError> {
    if !address.ip().is_loopback() {
        return Err(ServeError::NotLoopback(address));
    }
    drop(
        std::net::TcpListener::bind(address)
            .map_err(|source| ServeError::Bind { address, source })?,
    );
    Ok(())
}

/// Why the web Explorer could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Only loopback: the Explorer has no authentication.
    #[error(
        "--serve takes a loopback address (127.0.0.1:PORT or [::1]:PORT), not {0}: the Explorer has no authentication"
    )]
    NotLoopback(std::net::SocketAddr),
    /// The address is taken or not allowed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// Where.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A path replayed: each step in words with the time it happened, and the world at the end.
pub struct Replay {
    /// `(time in ms, the step in words)`.
    pub steps: Vec<(u64, String)>,
    /// The world after the last step, with its trace.
    pub world: MemoryWorld,
}

/// Why a replay could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A step was not possible where the path says it was.
    #[error(
        "step {number} ({step:?}) is not possible there: the path does not belong to this model"
    )]
    Impossible {
        /// 1-based.
        number: usize,
        /// The step.
        step: Step,
    },
}

/// Re-runs a path exactly, recording the trace.
pub fn replay(config: &ExploreConfig, steps: &[Step]) -> Result<Replay, ReplayError> {
    let model = CallModel {
        config: config.clone(),
    };
    let mut state = ExploreState::new(config.world(true), vec![0; config.menu.len()], [0, 0]);
    let mut told = Vec::new();
    for (i, &step) in steps.iter().enumerate() {
        let words = model.describe(&state, step);
        state = model.apply(&state, step).ok_or(ReplayError::Impossible {
            number: i + 1,
            step,
        })?;
        told.push((state.world.now().0, words));
    }
    Ok(Replay {
        steps: told,
        world: state.world,
    })
}

/// Milliseconds as the scenario language's seconds (`1.5`, `3`).
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}

/// The path as a Gherkin scenario for the turmoil world: the user actions at the times they
/// happened in the path, the planted bug or fault as the relay's hold, then the checks the
/// property stands for. Message orders the explorer chose are not forced: the scenario shows
/// the same failure where the world's own timing reaches it.
pub fn gherkin(config: &ExploreConfig, discovery: &Discovery, replay: &Replay) -> String {
    let mut lines = vec![
        "Feature: found by callsim explore".to_owned(),
        String::new(),
        format!("  Scenario: {}", discovery.property),
        "    Given Alice and Bob are contacts".to_owned(),
    ];
    if config.third {
        lines.push("    Given Carol and Bob are contacts".to_owned());
    }
    for (i, name) in ["Alice", "Bob"].into_iter().enumerate() {
        if !config.callkit[i] {
            lines.push(format!("    Given {name} has turned CallKit off"));
        }
        if config.chat_start_ms[i] != 500 {
            lines.push(format!(
                "    Given {name}'s chat takes {} seconds to start",
                seconds(config.chat_start_ms[i])
            ));
        }
    }
    if let Some(PlantedBug::CalleeLosesEnd) = config.bug {
        lines.push("    Given the relay holds every \"x.call.end\" message to Bob".to_owned());
    }
    if let Some(kind) = config.duplicate {
        for name in ["Alice", "Bob"] {
            lines.push(format!(
                "    Given the relay delivers every \"{}\" message to {name} twice",
                kind.as_str()
            ));
        }
    }
    let name = |id: PhoneId| ["Alice", "Bob", "Carol"][id.0.min(2)];
    let mut at = 0;
    for (step, (time, words)) in discovery.steps.iter().zip(&replay.steps) {
        match step {
            Step::User(_, id, act) => {
                if *time > at {
                    lines.push(format!("    When {} milliseconds pass", time - at));
                    at = *time;
                }
                lines.push(format!("    {}", act.step(name(*id), name(callee(*id)))));
            }
            Step::Fault(..) => lines.push(format!(
                "    # at {} ms the explorer had {words}: no step says that, so this scenario \
                 runs without it",
                time
            )),
            Step::Happen(_) => {}
        }
    }
    lines.push("    When 60 seconds pass".to_owned());
    lines.push("    Then no call remains on any phone".to_owned());
    lines.join("\n") + "\n"
}
