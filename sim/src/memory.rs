//! The in-memory world: phones, a relay, a scripted WebRTC and the platform fakes, in virtual time.
//!
//! Everything happens in one thread, in order of simulated time: [`MemoryWorld::run_for`] jumps
//! from one scheduled event or phone deadline to the next. Events at the same time run in the
//! order they were scheduled, so a run depends only on its inputs and seeds.
//!
//! - **Relay**: [`callsim_mocks::relay::Relay`], SMP's rules (a queue per direction, one
//!   unacknowledged message at a time, pushes for notifying messages to sleeping phones); here
//!   each hop takes the relay link's latency, and a push wakes the phone's notification
//!   extension after the phone's push delay. A phone's agent drops redelivered messages by id.
//! - **Scripted WebRTC**: [`callsim_mocks::webrtc::ScriptedRtcNetwork`], whose timers the world
//!   runs.
//! - **Fakes**: CallKit, the audio session and the sound player from `callsim-mocks`.

use std::collections::BTreeMap;

use callsim_engine::app::AppCallState;
use callsim_engine::io::callkit::CallKitEvent;
use callsim_engine::io::{
    Input, LifecycleCommand, LifecycleEvent, MessageKind, Output, Permission, PhoneConfig, UiEvent,
    UserAction,
};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::{CallMediaType, Timestamp};
use callsim_mocks::relay::{Relay, RelayAction, RelayMessage, client_of};
use callsim_mocks::webrtc::{RtcAction, RtcEvent, RtcTiming, ScriptedRtcNetwork};
use callsim_mocks::{FakeAudioSession, FakeCallKit, FakeRinger};

/// A phone's index in the world.
pub type PhoneId = usize;

/// Timing of the world; every value is in milliseconds of simulated time.
#[derive(Debug, Clone)]
pub struct Timing {
    /// One-way latency between a phone and the relay.
    pub relay_latency: u64,
    /// From the relay's push to the phone.
    pub push_delay: u64,
    /// From "start the chat" to the chat running.
    pub chat_start: u64,
    /// How long the user takes to answer a permission prompt.
    pub permission_prompt: u64,
    /// The scripted WebRTC engines.
    pub rtc: RtcTiming,
}

impl Default for Timing {
    /// The defaults of steps.md (20 ms links), and WebRTC timings of a good network.
    fn default() -> Self {
        Timing {
            relay_latency: 20,
            push_delay: 300,
            chat_start: 500,
            permission_prompt: 1_000,
            rtc: RtcTiming::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    Input(PhoneId, Input),
    RelayArrive {
        from: PhoneId,
        to: PhoneId,
        body: String,
        notify: bool,
        event: MessageKind,
    },
    RelayAck {
        from: PhoneId,
        to: PhoneId,
        id: u64,
    },
    Deliver {
        to: PhoneId,
        message: RelayMessage,
    },
    PushArrive {
        from: PhoneId,
        to: PhoneId,
    },
    /// The phone's chat is up, if no suspension came since it was asked to start (the
    /// number counts the suspensions).
    ChatReady(PhoneId, u64),
    Rtc(RtcEvent),
    CallKitTimeouts(PhoneId),
}

/// One phone with its platform.
#[derive(Debug)]
struct Host {
    phone: Phone,
    deadline: Option<Timestamp>,
    callkit: FakeCallKit,
    /// When the world next wakes CallKit for its action timeouts.
    callkit_wake: Option<Timestamp>,
    audio: FakeAudioSession,
    sound: FakeRinger,
    chat_start: u64,
    push_delay: u64,
    permission_answers: BTreeMap<Permission, bool>,
    prompts: Vec<Permission>,
    alerts: Vec<String>,
    /// How often the chat was suspended: a start asked before a suspension is void.
    suspensions: u64,
}

/// Two or more phones, a relay and a scripted WebRTC, in virtual time.
#[derive(Debug)]
pub struct MemoryWorld {
    now: Timestamp,
    timing: Timing,
    hosts: Vec<Host>,
    relay: Relay,
    rtc: ScriptedRtcNetwork,
    events: BTreeMap<(Timestamp, u64), Event>,
    seq: u64,
    trace: Option<Vec<String>>,
}

impl MemoryWorld {
    /// An empty world at time zero.
    pub fn new(timing: Timing) -> Self {
        MemoryWorld {
            now: Timestamp(0),
            rtc: ScriptedRtcNetwork::new(timing.rtc.clone()),
            timing,
            hosts: Vec::new(),
            relay: Relay::new(),
            events: BTreeMap::new(),
            seq: 0,
            trace: None,
        }
    }

    /// Records every phone input and output as a line of text, for debugging a run.
    pub fn record_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    /// The recorded trace.
    pub fn trace(&self) -> &[String] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// Adds a phone whose app is in the foreground; its chat starts at once.
    pub fn add_phone(&mut self, config: PhoneConfig) -> PhoneId {
        let uses_callkit = config.use_callkit();
        let id = self.hosts.len();
        self.hosts.push(Host {
            phone: Phone::new(config),
            deadline: None,
            callkit: FakeCallKit::new(),
            callkit_wake: None,
            audio: FakeAudioSession::new(uses_callkit),
            sound: FakeRinger::new(),
            chat_start: self.timing.chat_start,
            push_delay: self.timing.push_delay,
            permission_answers: BTreeMap::new(),
            prompts: Vec::new(),
            alerts: Vec::new(),
            suspensions: 0,
        });
        // Launched in the foreground, its chat running at once.
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
        self.schedule(self.now, Event::ChatReady(id, 0));
        id
    }

    /// Makes two phones contacts of each other.
    pub fn connect(&mut self, a: PhoneId, b: PhoneId) {
        let (name_a, name_b) = (self.name(a), self.name(b));
        self.hosts[a].phone.add_contact(contact_id(b), &name_b);
        self.hosts[b].phone.add_contact(contact_id(a), &name_a);
    }

    // ---- settings ----

    /// How long the phone's chat takes to start when woken.
    pub fn set_chat_start_delay(&mut self, id: PhoneId, ms: u64) {
        self.hosts[id].chat_start = ms;
    }

    /// How long pushes to the phone take.
    pub fn set_push_delay(&mut self, id: PhoneId, ms: u64) {
        self.hosts[id].push_delay = ms;
    }

    /// What the user answers when asked for a permission.
    pub fn set_permission_answer(&mut self, id: PhoneId, permission: Permission, grant: bool) {
        self.hosts[id].permission_answers.insert(permission, grant);
    }

    /// Whether the phone's WebRTC supports frame encryption.
    pub fn set_encryption_support(&mut self, id: PhoneId, supported: bool) {
        self.rtc.set_encryption_support(id, supported);
    }

    /// Blocks or unblocks the media path between all phones.
    pub fn set_media_blocked(&mut self, blocked: bool) {
        self.rtc.set_blocked(blocked);
    }

    /// Connects or disconnects a Bluetooth headset.
    pub fn set_bluetooth(&mut self, id: PhoneId, connected: bool) {
        self.hosts[id].audio.set_bluetooth(connected);
        self.feed(
            id,
            Input::BluetoothAvailable {
                available: connected,
            },
        );
    }

    // ---- what people and phones do ----

    /// A user action, now.
    pub fn user(&mut self, id: PhoneId, action: UserAction) {
        self.feed(id, Input::User(action));
    }

    /// `id` taps the call button in the chat with `peer`.
    pub fn start_call(&mut self, id: PhoneId, peer: PhoneId, media: CallMediaType) {
        self.user(
            id,
            UserAction::StartCall {
                contact_id: contact_id(peer),
                media,
            },
        );
    }

    /// The user answers on CallKit's screen (End & Accept during another call); false if
    /// nothing rings there.
    pub fn callkit_answer(&mut self, id: PhoneId) -> bool {
        let events = self.hosts[id].callkit.user_answers(self.now);
        let answered = !events.is_empty();
        self.callkit_events(id, events);
        self.run_for(0);
        answered
    }

    /// The user declines or ends on CallKit's screen; false if CallKit has no call.
    pub fn callkit_end(&mut self, id: PhoneId) -> bool {
        let event = self.hosts[id].callkit.user_ends(self.now);
        let ended = event.is_some();
        self.callkit_events(id, event.into_iter().collect());
        self.run_for(0);
        ended
    }

    /// The user mutes or unmutes on CallKit's screen; false if CallKit shows no call to mute.
    pub fn callkit_mute(&mut self, id: PhoneId, muted: bool) -> bool {
        let event = self.hosts[id].callkit.user_mutes(self.now, muted);
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
                    self.hosts[id].audio.set_active_by_callkit(now, true);
                }
                CallKitEvent::DidDeactivateAudioSession => {
                    self.hosts[id].audio.set_active_by_callkit(now, false);
                }
                _ => {}
            }
            self.schedule(now, Event::Input(id, Input::CallKit(event)));
        }
        // One wake-up for CallKit's earliest action deadline: a later or equal one is already
        // covered by the wake-up scheduled.
        if let Some(at) = self.hosts[id].callkit.next_timeout()
            && self.hosts[id].callkit_wake.is_none_or(|wake| at < wake)
        {
            self.hosts[id].callkit_wake = Some(at);
            self.schedule(at, Event::CallKitTimeouts(id));
        }
    }

    /// The app goes to the background, its chat still running.
    pub fn to_background(&mut self, id: PhoneId) {
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
    }

    /// The app comes to the foreground.
    pub fn to_foreground(&mut self, id: PhoneId) {
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppBecameActive));
    }

    /// The app is suspended in the background: the chat stops, only a push wakes it.
    pub fn suspend(&mut self, id: PhoneId) {
        self.hosts[id].suspensions += 1;
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
        self.relay.unsubscribe(id);
        self.feed(id, Input::Lifecycle(LifecycleEvent::ChatSuspended));
    }

    /// The app's process ends.
    pub fn kill_app(&mut self, id: PhoneId) {
        let now = self.now;
        self.relay.unsubscribe(id);
        let host = &mut self.hosts[id];
        host.suspensions += 1;
        host.callkit.app_killed(now);
        host.sound.silence();
        host.audio.set_active_by_callkit(now, false);
        let actions = self.rtc.drop_endpoint(id);
        self.apply_rtc(actions);
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppKilled));
    }

    /// The app's process starts again, in the foreground.
    pub fn launch_app(&mut self, id: PhoneId) {
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
    }

    /// The phone's WebRTC connection fails now (the peer sees it vanish).
    pub fn fail_webrtc(&mut self, id: PhoneId) {
        let actions = self.rtc.fail(id);
        self.apply_rtc(actions);
    }

    // ---- time ----

    /// The current simulated time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

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

    /// Runs the earliest thing due at or before `end`; false if there is none.
    fn step(&mut self, end: Timestamp) -> bool {
        let next_event = self.events.keys().next().map(|(t, _)| *t);
        let next_timer = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(id, h)| h.deadline.map(|d| (d, id)))
            .min();
        let timer_first = match (next_event, next_timer) {
            (None, None) => return false,
            (Some(e), Some((t, _))) => t < e,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        if timer_first {
            let Some((at, id)) = next_timer else {
                return false;
            };
            if at > end {
                return false;
            }
            self.now = self.now.max(at);
            self.hosts[id].deadline = None;
            self.feed(id, Input::Timeout);
        } else {
            if next_event.is_some_and(|at| at > end) {
                return false;
            }
            let Some(((at, _), event)) = self.events.pop_first() else {
                return false;
            };
            self.now = self.now.max(at);
            self.handle_event(event);
        }
        true
    }

    fn schedule(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Input(id, input) => self.feed(id, input),
            Event::RelayArrive {
                from,
                to,
                body,
                notify,
                event,
            } => {
                let actions = self.relay.send(self.now, from, to, body, notify, event);
                self.apply_relay(actions);
            }
            Event::RelayAck { from, to, id } => {
                let actions = self.relay.ack(from, to, id);
                self.apply_relay(actions);
            }
            Event::Deliver { to, message } => {
                // A message delivered to a phone that went away meanwhile is delivered again
                // after it resubscribes; the relay already knows.
                if !self.relay.is_subscribed(to) {
                    return;
                }
                // A redelivery carries the same id; the phone's agent drops it.
                let (from, id) = (message.from, message.id);
                let input = Input::Message {
                    contact_id: contact_id(from),
                    broker_ts: message.ts,
                    msg_id: id,
                    body: message.body,
                };
                self.feed(to, input);
                let at = self.now.add_ms(self.timing.relay_latency);
                self.schedule(at, Event::RelayAck { from, to, id });
            }
            Event::PushArrive { from, to } => {
                if self.relay.is_subscribed(to) {
                    return;
                }
                for message in self.relay.fetch_for_push(from, to) {
                    let input = Input::Push {
                        contact_id: contact_id(from),
                        broker_ts: message.ts,
                        msg_id: message.id,
                        body: message.body,
                    };
                    self.feed(to, input);
                }
            }
            Event::ChatReady(id, suspensions) => {
                if self.relay.is_subscribed(id) || suspensions != self.hosts[id].suspensions {
                    return;
                }
                let actions = self.relay.subscribe(id);
                self.feed(id, Input::Lifecycle(LifecycleEvent::ChatStarted));
                self.apply_relay(actions);
            }
            Event::Rtc(event) => {
                let actions = self.rtc.event(event);
                self.apply_rtc(actions);
            }
            Event::CallKitTimeouts(id) => {
                if self.hosts[id].callkit_wake == Some(self.now) {
                    self.hosts[id].callkit_wake = None;
                }
                let events = self.hosts[id].callkit.fire_timeouts(self.now);
                self.callkit_events(id, events);
            }
        }
    }

    fn apply_relay(&mut self, actions: Vec<RelayAction>) {
        for action in actions {
            match action {
                RelayAction::Deliver { to, message } => {
                    let at = self.now.add_ms(self.timing.relay_latency);
                    self.schedule(at, Event::Deliver { to, message });
                }
                RelayAction::Push { to, from } => {
                    let at = self.now.add_ms(self.hosts[to].push_delay);
                    self.schedule(at, Event::PushArrive { from, to });
                }
            }
        }
    }

    fn apply_rtc(&mut self, actions: Vec<RtcAction>) {
        for action in actions {
            match action {
                RtcAction::Respond {
                    to,
                    client,
                    after_ms,
                    response,
                } => {
                    let at = self.now.add_ms(after_ms);
                    self.schedule(at, Event::Input(to, Input::WebRtc { client, response }));
                }
                RtcAction::Wake { after_ms, event } => {
                    let at = self.now.add_ms(after_ms);
                    self.schedule(at, Event::Rtc(event));
                }
            }
        }
    }

    /// Feeds one input to a phone now and dispatches everything it outputs.
    fn feed(&mut self, id: PhoneId, input: Input) {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(format!(
                "{} {} <- {input:?}",
                self.now,
                self.hosts[id].phone.config().name
            ));
        }
        self.hosts[id].phone.handle_input(self.now, input);
        loop {
            match self.hosts[id].phone.poll_output() {
                Output::Timeout(deadline) => {
                    self.hosts[id].deadline = deadline;
                    break;
                }
                output => self.dispatch(id, output),
            }
        }
    }

    fn dispatch(&mut self, id: PhoneId, output: Output) {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(format!(
                "{} {} -> {output:?}",
                self.now,
                self.hosts[id].phone.config().name
            ));
        }
        let now = self.now;
        match output {
            Output::Send {
                contact_id,
                body,
                notify,
                kind: event,
            } => {
                let to = client_of(contact_id).unwrap_or(usize::MAX);
                if to < self.hosts.len() {
                    let at = now.add_ms(self.timing.relay_latency);
                    self.schedule(
                        at,
                        Event::RelayArrive {
                            from: id,
                            to,
                            body,
                            notify,
                            event,
                        },
                    );
                }
            }
            Output::CallKit(command) => {
                let events = self.hosts[id].callkit.handle_command(now, command);
                self.callkit_events(id, events);
            }
            Output::Audio(command) => self.hosts[id].audio.handle_command(now, command),
            Output::Sound(command) => self.hosts[id].sound.handle_command(now, command),
            Output::WebRtc { client, command } => {
                let actions = self.rtc.command(id, client, command);
                self.apply_rtc(actions);
            }
            Output::WebRtcClient { client, call } => {
                let actions = self.rtc.client_call(id, client, call);
                self.apply_rtc(actions);
            }
            Output::Ui(UiEvent::Alert { title, .. }) => self.hosts[id].alerts.push(title),
            Output::Ui(_) | Output::Chat(_) | Output::Timeout(_) => {}
            Output::RequestPermission(permission) => {
                let host = &mut self.hosts[id];
                host.prompts.push(permission);
                let granted = host
                    .permission_answers
                    .get(&permission)
                    .copied()
                    .unwrap_or(true);
                let at = now.add_ms(self.timing.permission_prompt);
                let input = Input::PermissionAnswered {
                    permission,
                    granted,
                };
                self.schedule(at, Event::Input(id, input));
            }
            Output::Lifecycle(LifecycleCommand::StartChat) => {
                let at = now.add_ms(self.hosts[id].chat_start);
                self.schedule(at, Event::ChatReady(id, self.hosts[id].suspensions));
            }
            Output::Lifecycle(LifecycleCommand::SuspendChat) => {
                self.hosts[id].suspensions += 1;
                self.relay.unsubscribe(id);
                self.feed(id, Input::Lifecycle(LifecycleEvent::ChatSuspended));
            }
        }
    }

    // ---- relay ----

    /// The relay holds every message of this kind (e.g. `x.call.offer`) to `to`.
    pub fn hold(&mut self, to: PhoneId, event: MessageKind) {
        self.relay.hold(to, event);
    }

    /// The relay delivers every message of this kind to `to` again after its first ACK.
    pub fn duplicate(&mut self, to: PhoneId, event: MessageKind) {
        self.relay.duplicate(to, event);
    }

    /// The relay releases what it held for `to`, in order, ahead of later messages.
    pub fn release(&mut self, to: PhoneId) {
        let actions = self.relay.release(to);
        self.apply_relay(actions);
    }

    /// Messages the relay holds from `from` to `to`, oldest first.
    pub fn relay_queue(&self, from: PhoneId, to: PhoneId) -> Vec<RelayMessage> {
        self.relay.queue(from, to)
    }

    /// One complete call: `caller` calls, `callee` answers on CallKit as soon as it rings,
    /// they talk for `talk_ms`, the caller ends, and both phones go idle. An error names the
    /// step that did not happen within a minute of simulated time.
    pub fn complete_call(
        &mut self,
        caller: PhoneId,
        callee: PhoneId,
        media: CallMediaType,
        talk_ms: u64,
    ) -> Result<(), String> {
        const LIMIT: u64 = 60_000;
        self.start_call(caller, callee, media);
        if !self.run_until(LIMIT, |w| w.callkit(callee).ringing().is_some()) {
            return Err(format!("{} did not ring", self.name(callee)));
        }
        if !self.callkit_answer(callee) {
            return Err("the answer found no ringing call".into());
        }
        if !self.run_until(LIMIT, |w| w.connected(caller, callee)) {
            return Err("the call did not connect".into());
        }
        self.run_for(talk_ms);
        self.user(caller, UserAction::EndCall);
        let idle = |w: &MemoryWorld| {
            [caller, callee].iter().all(|&id| {
                w.call_state(id).is_none()
                    && w.callkit(id).live_calls() == 0
                    && !w.audio(id).active()
            })
        };
        if !self.run_until(LIMIT, idle) {
            return Err("the phones did not go idle after the end".into());
        }
        Ok(())
    }

    // ---- observation ----

    /// A phone.
    pub fn phone(&self, id: PhoneId) -> &Phone {
        &self.hosts[id].phone
    }

    /// A phone's owner's name.
    pub fn name(&self, id: PhoneId) -> String {
        self.hosts[id].phone.config().name.clone()
    }

    /// A phone's CallKit.
    pub fn callkit(&self, id: PhoneId) -> &FakeCallKit {
        &self.hosts[id].callkit
    }

    /// A phone's audio session.
    pub fn audio(&self, id: PhoneId) -> &FakeAudioSession {
        &self.hosts[id].audio
    }

    /// A phone's sound player.
    pub fn sound(&self, id: PhoneId) -> &FakeRinger {
        &self.hosts[id].sound
    }

    /// The alerts a phone showed.
    pub fn alerts(&self, id: PhoneId) -> &[String] {
        &self.hosts[id].alerts
    }

    /// The permission prompts a phone showed.
    pub fn prompts(&self, id: PhoneId) -> &[Permission] {
        &self.hosts[id].prompts
    }

    /// The app's call state (`None`: no active call).
    pub fn call_state(&self, id: PhoneId) -> Option<AppCallState> {
        self.phone(id).app().active_call().map(|c| c.state)
    }

    /// Whether the phone rings: CallKit's incoming screen, or the in-app view with ringtone.
    pub fn ringing(&self, id: PhoneId) -> bool {
        self.callkit(id).ringing().is_some()
            || (self.phone(id).app().incoming_view().is_some() && self.sound(id).ringtone())
    }

    /// Whether both phones are connected to each other.
    pub fn connected(&self, a: PhoneId, b: PhoneId) -> bool {
        let with = |x: PhoneId, y: PhoneId| {
            self.phone(x).app().active_call().is_some_and(|c| {
                c.contact_id == contact_id(y) && c.state == AppCallState::Connected
            })
        };
        with(a, b) && with(b, a)
    }

    /// The last call item `id` shows in the chat with `peer`, e.g. `outgoing call: ended (00:30)`.
    pub fn call_item(&self, id: PhoneId, peer: PhoneId) -> Option<String> {
        self.phone(id)
            .core()
            .last_call_item(contact_id(peer))
            .map(|i| i.to_string())
    }

    /// Whether `id`'s chat core holds a pending invitation from `peer`.
    pub fn has_invitation(&self, id: PhoneId, peer: PhoneId) -> bool {
        self.phone(id)
            .core()
            .api_get_call_invitations()
            .iter()
            .any(|i| i.contact.contact_id == contact_id(peer))
    }

    /// Whether the WebRTC ends of two phones use the same media key (and have one).
    pub fn same_media_key(&self, a: PhoneId, b: PhoneId) -> bool {
        self.rtc.same_media_key(a, b)
    }
}

pub use callsim_mocks::relay::contact_id;
