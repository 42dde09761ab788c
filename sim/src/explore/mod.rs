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

use crate::memory::{Happening, MemoryWorld, WebRtcModel};
use crate::setup::WorldBuilder;
use crate::{PhoneId, World};

/// The caller.
pub const ALICE: PhoneId = PhoneId(0);
/// The callee.
pub const BOB: PhoneId = PhoneId(1);

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
    /// The relay delivers every message of this kind to Bob twice.
    pub duplicate: Option<MessageKind>,
    /// A planted bug.
    pub bug: Option<PlantedBug>,
    /// Only what is due within this many ms of the earliest thing due may happen next; `None`:
    /// anything pending may (see [`crate::memory::Happening`]).
    pub window_ms: Option<u64>,
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
        }
    }
}

impl ExploreConfig {
    /// The world every path starts from (recording its trace if `trace`, for replays).
    pub fn world(&self, trace: bool) -> MemoryWorld {
        let mut builder = WorldBuilder::new(self.seed).trace(trace);
        for (i, name) in ["Alice", "Bob"].into_iter().enumerate() {
            let phone = builder.phone(name);
            phone.config.callkit_enabled = self.callkit[i];
            phone.chat_start_ms = self.chat_start_ms[i];
        }
        let model = WebRtcModel::Scripted(Default::default());
        let mut world = builder
            .build_memory(model)
            .expect("the in-memory world builds without the real stack");
        // Both apps start in the foreground and their chats start: exploring begins when the
        // world is quiet, as a user about to call finds it.
        world.run_for(self.chat_start_ms[0].max(self.chat_start_ms[1]) + 1_000);
        if let Some(kind) = self.duplicate {
            world.duplicate(BOB, kind);
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
    fingerprint: u64,
}

impl ExploreState {
    fn new(world: MemoryWorld, used: Vec<u8>) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        world.fingerprint(&mut hasher);
        used.hash(&mut hasher);
        ExploreState {
            world,
            used,
            fingerprint: hasher.finish(),
        }
    }
}

impl ExploreState {
    /// The state a replayed path ends in: its world and the menu's uses along the path.
    pub fn at(world: MemoryWorld, steps: &[Step], config: &ExploreConfig) -> Self {
        let mut used = vec![0u8; config.menu.len()];
        for step in steps {
            if let Step::User(index, ..) = step {
                used[*index] += 1;
            }
        }
        ExploreState::new(world, used)
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
        for id in [ALICE, BOB] {
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
        match step {
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
        Some(ExploreState::new(world, used))
    }

    /// A step in words, in the world it was taken from.
    pub fn describe(&self, state: &ExploreState, step: Step) -> String {
        match step {
            Step::Happen(what) => state.world.describe(what),
            Step::User(_, id, act) => {
                let peer = if id == ALICE { BOB } else { ALICE };
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
    let peer = if id == ALICE { BOB } else { ALICE };
    match act {
        Act::Call => w.start_call(id, peer, CallMediaType::Audio),
        Act::AnswerCallKit => {
            w.callkit_answer(id);
        }
        Act::DeclineCallKit => {
            w.callkit_end(id);
        }
        Act::AcceptInApp => w.user(
            id,
            UserAction::AcceptCall {
                contact_id: peer.contact(),
            },
        ),
        Act::RejectInApp => w.user(
            id,
            UserAction::RejectCall {
                contact_id: peer.contact(),
            },
        ),
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
        )]
    }

    fn actions(&self, state: &ExploreState, actions: &mut Vec<Step>) {
        let mut pending = Vec::new();
        state.world.happenings(self.config.window_ms, &mut pending);
        actions.extend(pending.into_iter().map(Step::Happen));
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
        for race in RACES {
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

/// The standing invariants of steps.md, and liveness at terminal states.
pub const INVARIANTS: &[Check] = &[
    Check {
        name: "connected peers agree on the call and its key",
        holds: |_, s| !connected(&s.world) || s.world.same_call_and_key(ALICE, BOB),
    },
    Check {
        name: "every CallKit action is settled when nothing is pending",
        holds: |_, s| {
            !s.world.quiet()
                || [ALICE, BOB].iter().all(|&id| {
                    s.world
                        .with_callkit(id, |c| c.open_actions().next().is_none())
                })
        },
    },
    Check {
        name: "at most one call per phone",
        holds: |_, s| {
            [ALICE, BOB]
                .iter()
                .all(|&id| s.world.with_callkit(id, |c| c.live_calls() <= 1))
        },
    },
    Check {
        name: "no audio or ringtone without a call when nothing is pending",
        holds: |_, s| {
            !s.world.quiet()
                || [ALICE, BOB].iter().all(|&id| {
                    let call = s.world.call_state(id).is_some()
                        || s.world.with_callkit(id, |c| c.live_calls() > 0)
                        || s.world
                            .with_phone(id, |p| p.app().incoming_view().is_some());
                    call || (!s.world.audio_active(id) && !s.world.ringtone(id))
                })
        },
    },
    Check {
        name: "the relay loses nothing",
        holds: |_, s| !s.world.quiet() || s.world.relay_queues_empty(),
    },
    Check {
        name: "in the end both phones are idle or connected to each other, none ringing",
        holds: |m, s| {
            !terminal(m, s)
                || ([ALICE, BOB].iter().all(|&id| !s.world.ringing(id))
                    && (connected(&s.world)
                        || [ALICE, BOB].iter().all(|&id| {
                            s.world.call_state(id).is_none()
                                && s.world.with_callkit(id, |c| c.live_calls() == 0)
                        })))
        },
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

/// How to run the checker.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    /// Worker threads.
    pub threads: usize,
    /// Stop after about this many states (unlimited if `None`).
    pub max_states: Option<usize>,
    /// Random walks instead of an exhaustive search: the seed of the first.
    pub simulate: Option<u64>,
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
    use stateright::Checker;
    let model = CallModel {
        config: config.clone(),
    };
    let mut builder = model
        .checker()
        .threads(options.threads.max(1))
        .finish_when(stateright::HasDiscoveries::AllFailures);
    if let Some(max) = options.max_states {
        builder = builder.target_state_count(max);
    }
    match options.simulate {
        Some(seed) => report(
            builder
                .spawn_simulation(seed, stateright::UniformChooser)
                .join(),
            options,
        ),
        None => report(builder.spawn_bfs().join(), options),
    }
}

fn report(checker: impl stateright::Checker<CallModel>, options: &ExploreOptions) -> ExploreReport {
    let mut discoveries: Vec<Discovery> = checker
        .discoveries()
        .into_iter()
        .map(|(name, path)| Discovery {
            property: name.to_owned(),
            failure: INVARIANTS.iter().any(|c| c.name == name),
            steps: path.into_actions(),
        })
        .collect();
    discoveries.sort_by(|a, b| (!a.failure, &a.property).cmp(&(!b.failure, &b.property)));
    let unreached = RACES
        .iter()
        .map(|r| r.name)
        .filter(|name| !discoveries.iter().any(|d| d.property == *name))
        .collect();
    let complete = options.simulate.is_none()
        && options
            .max_states
            .is_none_or(|max| checker.state_count() < max)
        && !discoveries.iter().any(|d| d.failure);
    ExploreReport {
        generated: checker.state_count(),
        unique: checker.unique_state_count(),
        depth: checker.max_depth(),
        complete,
        discoveries,
        unreached,
    }
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
    let mut state = ExploreState::new(config.world(true), vec![0; config.menu.len()]);
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
    for (i, name) in ["Alice", "Bob"].into_iter().enumerate() {
        if !config.callkit[i] {
            lines.push(format!("    Given {name} has turned CallKit off"));
        }
        if config.chat_start_ms[i] != 500 && config.chat_start_ms[i].is_multiple_of(1000) {
            lines.push(format!(
                "    Given {name}'s chat takes {} seconds to start",
                config.chat_start_ms[i] / 1000
            ));
        }
    }
    if let Some(PlantedBug::CalleeLosesEnd) = config.bug {
        lines.push("    Given the relay holds every \"x.call.end\" message to Bob".to_owned());
    }
    if let Some(kind) = config.duplicate {
        lines.push(format!(
            "    Given the relay delivers every \"{}\" message to Bob twice",
            kind.as_str()
        ));
    }
    let mut at = 0;
    for (step, (time, _)) in discovery.steps.iter().zip(&replay.steps) {
        if let Step::User(_, id, act) = step {
            if *time > at {
                lines.push(format!("    When {} milliseconds pass", time - at));
                at = *time;
            }
            let (who, peer) = if *id == ALICE {
                ("Alice", "Bob")
            } else {
                ("Bob", "Alice")
            };
            lines.push(format!("    {}", act.step(who, peer)));
        }
    }
    lines.push("    When 60 seconds pass".to_owned());
    lines.push("    Then no call remains on any phone".to_owned());
    lines.join("\n") + "\n"
}
