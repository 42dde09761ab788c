//! The in-memory world: phones, a relay, a scripted WebRTC and the platform fakes, in virtual time.
//!
//! Everything happens in one thread, in order of simulated time: [`MemoryWorld::run_for`] jumps
//! from one scheduled event or phone deadline to the next. Events at the same time run in the
//! order they were scheduled, so a run depends only on its inputs and seeds.
//!
//! - **Relay**: a queue per direction per contact; one unacknowledged message delivered at a
//!   time; messages kept until acknowledged; the relay's timestamp on each message; for a message
//!   with the notification flag to a phone whose chat is not running, a push after the phone's
//!   push delay, on which the phone's notification extension fetches the queue up to that message.
//! - **Scripted WebRTC**: answers the phone's commands after configurable delays; the callee's
//!   offer carries a session token that the caller's answer echoes, and the two ends connect
//!   when both have the other's description. A failure, a blocked media path or a vanished peer
//!   ends the call the way WebRTC stacks do.
//! - **Fakes**: CallKit, the audio session and the sound player from `callsim-mocks`.

use std::collections::{BTreeMap, VecDeque};

use callsim_engine::app::AppCallState;
use callsim_engine::backend::callkit::CallKitEvent;
use callsim_engine::backend::webrtc::{
    ConnectionInfo, ConnectionState, WebRtcCommand, WebRtcResponse,
};
use callsim_engine::chat::ContactId;
use callsim_engine::crypto::MediaKey;
use callsim_engine::phone::{
    Input, LifecycleCommand, LifecycleEvent, Output, Permission, Phone, PhoneConfig, UiEvent,
    UserAction,
};
use callsim_engine::protocol::{CallCapabilities, CallMediaType, Timestamp};
use callsim_mocks::{FakeAudioSession, FakeCallKit, FakeSoundPlayer};

/// A phone's index in the world.
pub type PhoneId = usize;

/// Timing of the world; every value is in milliseconds of simulated time.
#[derive(Debug, Clone)]
pub struct Timing {
    /// One-way latency between a phone and the relay.
    pub relay_latency: u64,
    /// One-way latency of the media path between phones.
    pub media_latency: u64,
    /// From the relay's push to the phone.
    pub push_delay: u64,
    /// From "start the chat" to the chat running.
    pub chat_start: u64,
    /// WebRTC: time to answer `capabilities`.
    pub rtc_capabilities: u64,
    /// WebRTC: time to gather the first candidates and produce an offer or answer.
    pub rtc_gather: u64,
    /// WebRTC: one batch of trickled candidates this long after `start` or `offer`, if set.
    /// Less than `rtc_gather` makes candidates race ahead of the offer or answer (race 3).
    pub rtc_trickle: Option<u64>,
    /// WebRTC: a connected peer that vanished is seen disconnected after this long.
    pub rtc_disconnect: u64,
    /// WebRTC: a connection that cannot be made fails after this long (`iceInactiveTimeout`).
    pub rtc_fail: u64,
    /// How long the user takes to answer a permission prompt.
    pub permission_prompt: u64,
}

impl Default for Timing {
    /// The defaults of steps.md (20 ms links), and WebRTC timings of a good network.
    fn default() -> Self {
        Timing {
            relay_latency: 20,
            media_latency: 20,
            push_delay: 300,
            chat_start: 500,
            rtc_capabilities: 5,
            rtc_gather: 100,
            rtc_trickle: Some(1_600),
            rtc_disconnect: 5_000,
            rtc_fail: 30_000,
            permission_prompt: 1_000,
        }
    }
}

/// A message the relay holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    /// The relay's id for it.
    pub id: u64,
    /// The encrypted body (here: the chat message as the sender encoded it).
    pub body: String,
    /// SMP's notification flag.
    pub notify: bool,
    /// The relay's timestamp.
    pub ts: Timestamp,
}

#[derive(Debug, Default)]
struct RelayQueue {
    messages: VecDeque<RelayMessage>,
    /// Messages set aside by a hold, in order; they go back to the front on release.
    held: VecDeque<RelayMessage>,
    /// The id of the message delivered and not yet acknowledged.
    in_flight: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PcRole {
    Offerer,
    Answerer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PcState {
    New,
    Connecting,
    Connected,
}

#[derive(Debug, Clone)]
struct PeerConnection {
    token: String,
    role: PcRole,
    key: Option<MediaKey>,
    has_remote: bool,
    state: PcState,
}

/// What the scripted WebRTC engine of one phone does.
#[derive(Debug, Clone)]
struct ScriptedRtc {
    supports_encryption: bool,
    pc: Option<PeerConnection>,
    sessions: u64,
}

#[derive(Debug, Clone)]
enum Event {
    Input(PhoneId, Input),
    RelayArrive {
        from: PhoneId,
        to: PhoneId,
        body: String,
        notify: bool,
    },
    RelayAck {
        from: PhoneId,
        to: PhoneId,
        id: u64,
    },
    Deliver {
        from: PhoneId,
        to: PhoneId,
        message: RelayMessage,
    },
    PushArrive {
        from: PhoneId,
        to: PhoneId,
    },
    ChatReady(PhoneId),
    RtcConnect(String),
    RtcConnected(String),
    RtcPeerGone(PhoneId, String),
    RtcFail(String),
}

/// One phone with its platform.
#[derive(Debug)]
struct Host {
    phone: Phone,
    deadline: Option<Timestamp>,
    callkit: FakeCallKit,
    audio: FakeAudioSession,
    sound: FakeSoundPlayer,
    rtc: ScriptedRtc,
    subscribed: bool,
    chat_start: u64,
    push_delay: u64,
    permission_answers: BTreeMap<Permission, bool>,
    prompts: Vec<Permission>,
    alerts: Vec<String>,
}

/// Two or more phones, a relay and a scripted WebRTC, in virtual time.
#[derive(Debug)]
pub struct MemoryWorld {
    now: Timestamp,
    timing: Timing,
    hosts: Vec<Host>,
    relay: BTreeMap<(PhoneId, PhoneId), RelayQueue>,
    relay_ids: u64,
    events: BTreeMap<(Timestamp, u64), Event>,
    seq: u64,
    blocked_media: bool,
    /// Event tags the relay holds back, by recipient.
    holds: BTreeMap<PhoneId, Vec<String>>,
    trace: Option<Vec<String>>,
}

impl MemoryWorld {
    /// An empty world at time zero.
    pub fn new(timing: Timing) -> Self {
        MemoryWorld {
            now: Timestamp(0),
            timing,
            hosts: Vec::new(),
            relay: BTreeMap::new(),
            relay_ids: 0,
            events: BTreeMap::new(),
            seq: 0,
            blocked_media: false,
            holds: BTreeMap::new(),
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
            audio: FakeAudioSession::new(uses_callkit),
            sound: FakeSoundPlayer::new(),
            rtc: ScriptedRtc {
                supports_encryption: true,
                pc: None,
                sessions: 0,
            },
            subscribed: false,
            chat_start: self.timing.chat_start,
            push_delay: self.timing.push_delay,
            permission_answers: BTreeMap::new(),
            prompts: Vec::new(),
            alerts: Vec::new(),
        });
        self.schedule(self.now, Event::ChatReady(id));
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
        self.hosts[id].rtc.supports_encryption = supported;
    }

    /// Blocks or unblocks the media path between all phones.
    pub fn set_media_blocked(&mut self, blocked: bool) {
        self.blocked_media = blocked;
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

    /// The user answers on CallKit's screen; false if nothing rings there.
    pub fn callkit_answer(&mut self, id: PhoneId) -> bool {
        let event = self.hosts[id].callkit.user_answers(self.now);
        event.is_some_and(|e| {
            self.feed(id, Input::CallKit(e));
            true
        })
    }

    /// The user declines or ends on CallKit's screen; false if CallKit has no call.
    pub fn callkit_end(&mut self, id: PhoneId) -> bool {
        let event = self.hosts[id].callkit.user_ends(self.now);
        event.is_some_and(|e| {
            self.feed(id, Input::CallKit(e));
            true
        })
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
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppEnteredBackground));
        self.hosts[id].subscribed = false;
        self.feed(id, Input::Lifecycle(LifecycleEvent::ChatSuspended));
    }

    /// The app's process ends.
    pub fn kill_app(&mut self, id: PhoneId) {
        let now = self.now;
        let host = &mut self.hosts[id];
        host.subscribed = false;
        host.callkit.app_killed(now);
        host.sound.silence();
        host.audio.set_active_by_callkit(now, false);
        if let Some(pc) = host.rtc.pc.take() {
            self.peer_gone(id, &pc.token);
        }
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppKilled));
    }

    /// The app's process starts again, in the foreground.
    pub fn launch_app(&mut self, id: PhoneId) {
        self.feed(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
    }

    /// The phone's WebRTC connection fails now (the peer sees it vanish).
    pub fn fail_webrtc(&mut self, id: PhoneId) {
        if let Some(pc) = self.hosts[id].rtc.pc.take() {
            self.rtc_send(id, 0, failed());
            self.rtc_send(id, 0, WebRtcResponse::Ended);
            self.peer_gone(id, &pc.token);
        }
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
            } => self.relay_arrive(from, to, body, notify),
            Event::RelayAck { from, to, id } => {
                let queue = self.relay.entry((from, to)).or_default();
                queue.messages.retain(|m| m.id != id);
                if queue.in_flight == Some(id) {
                    queue.in_flight = None;
                }
                self.relay_deliver(from, to);
            }
            Event::Deliver { from, to, message } => {
                if self.hosts[to].subscribed {
                    let id = message.id;
                    let input = Input::Message {
                        contact_id: contact_id(from),
                        broker_ts: message.ts,
                        body: message.body,
                    };
                    self.feed(to, input);
                    let at = self.now.add_ms(self.timing.relay_latency);
                    self.schedule(at, Event::RelayAck { from, to, id });
                } else {
                    // Lost with the connection; the relay delivers it again after resubscribing.
                    self.relay.entry((from, to)).or_default().in_flight = None;
                }
            }
            Event::PushArrive { from, to } => self.push_arrive(from, to),
            Event::ChatReady(id) => {
                self.hosts[id].subscribed = true;
                self.feed(id, Input::Lifecycle(LifecycleEvent::ChatStarted));
                for from in 0..self.hosts.len() {
                    self.relay_deliver(from, id);
                }
            }
            Event::RtcConnect(token) => self.rtc_connect(&token),
            Event::RtcConnected(token) => {
                for id in self.pcs_with(&token) {
                    if let Some(pc) = self.hosts[id].rtc.pc.as_mut() {
                        if pc.state == PcState::Connecting {
                            pc.state = PcState::Connected;
                            self.rtc_send(id, 0, connection("connected"));
                            self.rtc_send(
                                id,
                                0,
                                WebRtcResponse::Connected {
                                    connection_info: ConnectionInfo {
                                        local_candidate: Some("host".into()),
                                        remote_candidate: Some("host".into()),
                                    },
                                },
                            );
                        }
                    }
                }
            }
            Event::RtcPeerGone(id, token) => {
                let mine = self.hosts[id]
                    .rtc
                    .pc
                    .as_ref()
                    .is_some_and(|pc| pc.token == token);
                if mine {
                    self.hosts[id].rtc.pc = None;
                    self.rtc_send(id, 0, connection("disconnected"));
                    self.rtc_send(id, 0, WebRtcResponse::Ended);
                }
            }
            Event::RtcFail(token) => {
                for id in self.pcs_with(&token) {
                    let connected = self.hosts[id]
                        .rtc
                        .pc
                        .as_ref()
                        .is_some_and(|pc| pc.state == PcState::Connected);
                    if !connected {
                        self.hosts[id].rtc.pc = None;
                        self.rtc_send(id, 0, failed());
                        self.rtc_send(id, 0, WebRtcResponse::Ended);
                    }
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
            } => {
                let to = peer_of(contact_id);
                if to < self.hosts.len() {
                    let at = now.add_ms(self.timing.relay_latency);
                    self.schedule(
                        at,
                        Event::RelayArrive {
                            from: id,
                            to,
                            body,
                            notify,
                        },
                    );
                }
            }
            Output::CallKit(command) => {
                let events = self.hosts[id].callkit.handle_command(now, command);
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
            }
            Output::Audio(command) => self.hosts[id].audio.handle_command(now, command),
            Output::Sound(command) => self.hosts[id].sound.handle_command(now, command),
            Output::WebRtc(command) => self.rtc_command(id, command),
            Output::Ui(UiEvent::Alert { text }) => self.hosts[id].alerts.push(text),
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
                self.schedule(at, Event::ChatReady(id));
            }
            Output::Lifecycle(LifecycleCommand::SuspendChat) => {
                self.hosts[id].subscribed = false;
                self.feed(id, Input::Lifecycle(LifecycleEvent::ChatSuspended));
            }
        }
    }

    // ---- relay ----

    fn relay_arrive(&mut self, from: PhoneId, to: PhoneId, body: String, notify: bool) {
        self.relay_ids += 1;
        let message = RelayMessage {
            id: self.relay_ids,
            body,
            notify,
            ts: self.now,
        };
        self.relay
            .entry((from, to))
            .or_default()
            .messages
            .push_back(message);
        if self.hosts[to].subscribed {
            self.relay_deliver(from, to);
        } else if notify {
            let at = self.now.add_ms(self.hosts[to].push_delay);
            self.schedule(at, Event::PushArrive { from, to });
        }
    }

    fn relay_deliver(&mut self, from: PhoneId, to: PhoneId) {
        if !self.hosts[to].subscribed {
            return;
        }
        let holds = self.holds.get(&to);
        let Some(queue) = self.relay.get_mut(&(from, to)) else {
            return;
        };
        if queue.in_flight.is_some() {
            return;
        }
        // A fault the scenario asked for: matching messages wait until released.
        while let Some(front) = queue.messages.front() {
            let held = holds.is_some_and(|tags| tags.iter().any(|t| *t == event_tag(&front.body)));
            if !held {
                break;
            }
            if let Some(message) = queue.messages.pop_front() {
                queue.held.push_back(message);
            }
        }
        let Some(message) = queue.messages.front().cloned() else {
            return;
        };
        queue.in_flight = Some(message.id);
        let at = self.now.add_ms(self.timing.relay_latency);
        self.schedule(at, Event::Deliver { from, to, message });
    }

    /// The notification extension fetches the queue up to the first notifying message.
    fn push_arrive(&mut self, from: PhoneId, to: PhoneId) {
        if self.hosts[to].subscribed {
            return;
        }
        loop {
            let Some(queue) = self.relay.get_mut(&(from, to)) else {
                return;
            };
            if queue.in_flight.is_some() {
                return;
            }
            let Some(message) = queue.messages.pop_front() else {
                return;
            };
            let notify = message.notify;
            let input = Input::Push {
                contact_id: contact_id(from),
                broker_ts: message.ts,
                body: message.body,
            };
            self.feed(to, input);
            if notify {
                return;
            }
        }
    }

    /// The relay holds every message with this event tag (e.g. `x.call.offer`) to `to`.
    pub fn hold(&mut self, to: PhoneId, event: &str) {
        self.holds.entry(to).or_default().push(event.to_owned());
    }

    /// The relay releases what it held for `to`, in order, ahead of later messages.
    pub fn release(&mut self, to: PhoneId) {
        self.holds.remove(&to);
        for ((_, recipient), queue) in self.relay.iter_mut() {
            if *recipient == to {
                while let Some(message) = queue.held.pop_back() {
                    queue.messages.push_front(message);
                }
            }
        }
        for from in 0..self.hosts.len() {
            self.relay_deliver(from, to);
        }
    }

    /// Messages the relay holds from `from` to `to`, oldest first.
    pub fn relay_queue(&self, from: PhoneId, to: PhoneId) -> Vec<RelayMessage> {
        self.relay
            .get(&(from, to))
            .map(|q| q.messages.iter().cloned().collect())
            .unwrap_or_default()
    }

    // ---- scripted WebRTC ----

    fn rtc_send(&mut self, id: PhoneId, after: u64, response: WebRtcResponse) {
        let at = self.now.add_ms(after);
        self.schedule(at, Event::Input(id, Input::WebRtc(response)));
    }

    fn rtc_command(&mut self, id: PhoneId, command: WebRtcCommand) {
        let t = self.timing.clone();
        let encryption = self.hosts[id].rtc.supports_encryption;
        let capabilities = CallCapabilities { encryption };
        match command {
            WebRtcCommand::Capabilities { .. } => {
                self.rtc_send(
                    id,
                    t.rtc_capabilities,
                    WebRtcResponse::Capabilities { capabilities },
                );
            }
            WebRtcCommand::Start { aes_key, .. } => {
                let rtc = &mut self.hosts[id].rtc;
                rtc.sessions += 1;
                let token = format!("{id}.{}", rtc.sessions);
                rtc.pc = Some(PeerConnection {
                    token: token.clone(),
                    role: PcRole::Offerer,
                    key: aes_key.filter(|_| encryption),
                    has_remote: false,
                    state: PcState::New,
                });
                self.rtc_send(
                    id,
                    t.rtc_gather,
                    WebRtcResponse::Offer {
                        offer: format!("offer {token}"),
                        ice_candidates: format!("host {id}"),
                        capabilities,
                    },
                );
                self.rtc_trickle(id, &t);
            }
            WebRtcCommand::Offer { offer, aes_key, .. } => {
                let Some(token) = offer.strip_prefix("offer ").map(str::to_owned) else {
                    self.rtc_send(
                        id,
                        0,
                        WebRtcResponse::Error {
                            message: "offer: bad session description".into(),
                        },
                    );
                    return;
                };
                self.hosts[id].rtc.pc = Some(PeerConnection {
                    token: token.clone(),
                    role: PcRole::Answerer,
                    key: aes_key.filter(|_| encryption),
                    has_remote: true,
                    state: PcState::New,
                });
                self.rtc_send(
                    id,
                    t.rtc_gather,
                    WebRtcResponse::Answer {
                        answer: format!("answer {token}"),
                        ice_candidates: format!("host {id}"),
                    },
                );
                self.rtc_trickle(id, &t);
            }
            WebRtcCommand::Answer { answer, .. } => {
                let pc = self.hosts[id].rtc.pc.as_mut();
                match pc {
                    Some(pc) if pc.role == PcRole::Offerer => {
                        if answer.strip_prefix("answer ") == Some(pc.token.as_str()) {
                            pc.has_remote = true;
                            let token = pc.token.clone();
                            self.schedule(self.now, Event::RtcConnect(token));
                        }
                    }
                    _ => self.rtc_send(
                        id,
                        0,
                        WebRtcResponse::Error {
                            message: "answer: call not started".into(),
                        },
                    ),
                }
            }
            WebRtcCommand::Ice { .. }
            | WebRtcCommand::Media { .. }
            | WebRtcCommand::Camera { .. } => {}
            WebRtcCommand::End => {
                if let Some(pc) = self.hosts[id].rtc.pc.take() {
                    if pc.state == PcState::Connected {
                        self.peer_gone(id, &pc.token);
                    }
                }
                self.rtc_send(id, 0, WebRtcResponse::Ended);
            }
        }
    }

    fn rtc_trickle(&mut self, id: PhoneId, t: &Timing) {
        if let Some(after) = t.rtc_trickle {
            self.rtc_send(
                id,
                after,
                WebRtcResponse::Ice {
                    ice_candidates: format!("srflx {id}"),
                },
            );
        }
    }

    fn pcs_with(&self, token: &str) -> Vec<PhoneId> {
        (0..self.hosts.len())
            .filter(|&id| {
                self.hosts[id]
                    .rtc
                    .pc
                    .as_ref()
                    .is_some_and(|pc| pc.token == token)
            })
            .collect()
    }

    /// Both ends have each other's description: connect, or fail if media cannot pass.
    fn rtc_connect(&mut self, token: &str) {
        let ends = self.pcs_with(token);
        let ready = ends.len() == 2
            && ends.iter().all(|&id| {
                self.hosts[id]
                    .rtc
                    .pc
                    .as_ref()
                    .is_some_and(|pc| pc.has_remote && pc.state == PcState::New)
            });
        if !ready {
            return;
        }
        for &id in &ends {
            if let Some(pc) = self.hosts[id].rtc.pc.as_mut() {
                pc.state = PcState::Connecting;
            }
            self.rtc_send(id, 0, connection("connecting"));
        }
        if self.blocked_media {
            let at = self.now.add_ms(self.timing.rtc_fail);
            self.schedule(at, Event::RtcFail(token.to_owned()));
        } else {
            // ICE checks and the DTLS handshake: about two round trips.
            let at = self.now.add_ms(4 * self.timing.media_latency);
            self.schedule(at, Event::RtcConnected(token.to_owned()));
        }
    }

    fn peer_gone(&mut self, id: PhoneId, token: &str) {
        for peer in self.pcs_with(token) {
            if peer != id {
                let at = self.now.add_ms(self.timing.rtc_disconnect);
                self.schedule(at, Event::RtcPeerGone(peer, token.to_owned()));
            }
        }
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
    pub fn sound(&self, id: PhoneId) -> &FakeSoundPlayer {
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
        let key = |id: PhoneId| self.hosts[id].rtc.pc.as_ref().and_then(|pc| pc.key);
        key(a).is_some() && key(a) == key(b)
    }
}

/// The contact id under which every other phone knows phone `id`.
pub fn contact_id(id: PhoneId) -> ContactId {
    id as ContactId + 1
}

fn peer_of(contact_id: ContactId) -> PhoneId {
    usize::try_from(contact_id - 1).unwrap_or(usize::MAX)
}

/// The event tag of a message body, as far as the relay's fault injection needs it.
fn event_tag(body: &str) -> &'static str {
    callsim_engine::protocol::ChatMessage::from_json(body.as_bytes())
        .map(|m| m.event.tag())
        .unwrap_or("")
}

fn connection(state: &str) -> WebRtcResponse {
    WebRtcResponse::Connection {
        state: ConnectionState::uniform(state),
    }
}

fn failed() -> WebRtcResponse {
    connection("failed")
}
