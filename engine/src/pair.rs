//! `Pair`: two phones in memory with simulated time, for the engine's own tests (quinn-proto's
//! `Pair` is the model).
//!
//! The pair carries each phone's relay messages to the other after a latency (a push when the
//! recipient's chat does not run and the message notifies, else the message waits for the chat),
//! fires the phones' timers, and records every other output for the test to look at. A test is
//! the platform: it feeds CallKit callbacks and WebRTC responses with [`Pair::input`], or lets
//! [`Platform::Auto`] answer the way a working device would, with canned WebRTC responses:
//!
//! ```
//! use callsim_engine::io::{Input, PhoneConfig, UserAction};
//! use callsim_engine::pair::{ALICE, BOB, Pair};
//! use callsim_engine::protocol::CallMediaType;
//!
//! let mut pair = Pair::new(PhoneConfig::new("Alice", 1), PhoneConfig::new("Bob", 2));
//! pair.user(ALICE, UserAction::StartCall { contact_id: pair.contact(BOB), media: CallMediaType::Audio });
//! pair.advance(1_000);
//! assert!(pair.callkit_ringing(BOB).is_some());
//! ```

use std::collections::{BTreeMap, VecDeque};

use crate::ids::{ActionId, CallUuid, ClientId, ContactId};
use crate::io::callkit::{CallKitCommand, CallKitError, CallKitEvent};
use crate::io::webrtc::{
    CommandKind, ConnectionInfo, ConnectionState, IceConnectionState, WebRtcCommand, WebRtcResponse,
};
use crate::io::{Input, LifecycleCommand, LifecycleEvent, MessageKind, Output, UserAction};
use crate::phone::Phone;
use crate::protocol::{CallCapabilities, Timestamp};

/// The first phone.
pub const ALICE: usize = 0;
/// The second phone.
pub const BOB: usize = 1;

/// Who answers a phone's platform requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// The test, from the recorded outputs.
    Manual,
    /// A working device: CallKit performs what it is asked, the chat starts after
    /// `chat_start_ms`, prompts are granted, and WebRTC answers with canned responses and
    /// connects both phones once the answer is applied.
    Auto {
        /// How long the chat takes to start.
        chat_start_ms: u64,
    },
}

/// Two phones, their relay, their clock.
#[derive(Debug)]
pub struct Pair {
    phones: [Phone; 2],
    platforms: [Platform; 2],
    now: Timestamp,
    latency_ms: u64,
    /// Inputs on their way, by due time and order.
    in_flight: BTreeMap<(Timestamp, u64), (usize, Input)>,
    /// Relay messages waiting for a chat that does not run.
    waiting: [VecDeque<(Timestamp, u64, String, bool)>; 2],
    seq: u64,
    next_relay_id: u64,
    next_action: ActionId,
    deadlines: [Option<Timestamp>; 2],
    outputs: [Vec<(Timestamp, Output)>; 2],
    /// What each phone sent through the relay, by kind.
    sent: [Vec<(Timestamp, MessageKind)>; 2],
    /// Each phone's newest WebRTC client, for the automatic platform's responses.
    clients: [ClientId; 2],
    /// How the automatic platform's CallKit answers incoming reports (`None`: it takes them).
    report_errors: [Option<CallKitError>; 2],
    /// Message kinds the relay holds back from each phone, and what it holds.
    holds: [Vec<MessageKind>; 2],
    held: [Vec<(u64, String, bool)>; 2],
}

impl Pair {
    /// Two contacts with their apps launched in the foreground and their chats running, on an
    /// automatic platform; each relay hop takes 20 ms.
    pub fn new(alice: crate::io::PhoneConfig, bob: crate::io::PhoneConfig) -> Self {
        let auto = Platform::Auto { chat_start_ms: 0 };
        let mut phones = [Phone::new(alice), Phone::new(bob)];
        for (id, phone) in phones.iter_mut().enumerate() {
            let peer = 1 - id;
            let name = if peer == ALICE { "Alice" } else { "Bob" };
            phone.add_contact(contact_of(peer), name);
        }
        let mut pair = Pair {
            phones,
            platforms: [auto; 2],
            now: Timestamp(0),
            latency_ms: 20,
            in_flight: BTreeMap::new(),
            waiting: [VecDeque::new(), VecDeque::new()],
            seq: 0,
            next_relay_id: 0,
            next_action: 0,
            deadlines: [None; 2],
            outputs: [Vec::new(), Vec::new()],
            sent: [Vec::new(), Vec::new()],
            clients: [0; 2],
            report_errors: [None; 2],
            holds: [Vec::new(), Vec::new()],
            held: [Vec::new(), Vec::new()],
        };
        for id in [ALICE, BOB] {
            pair.input(id, Input::Lifecycle(LifecycleEvent::AppLaunched));
        }
        pair.advance(0);
        pair
    }

    /// Sets who answers a phone's platform requests from now on.
    pub fn set_platform(&mut self, who: usize, platform: Platform) {
        self.platforms[who] = platform;
    }

    /// Makes the automatic platform's CallKit refuse a phone's incoming reports with `error`
    /// (`None`: take them again).
    pub fn refuse_incoming_reports(&mut self, who: usize, error: Option<CallKitError>) {
        self.report_errors[who] = error;
    }

    /// The relay holds every message of this kind to `who` until [`Pair::release`].
    pub fn hold(&mut self, who: usize, kind: MessageKind) {
        self.holds[who].push(kind);
    }

    /// The relay stops holding messages to `who` and delivers what it held, in order.
    pub fn release(&mut self, who: usize) {
        self.holds[who].clear();
        let now = self.now;
        for (id, body, notify) in std::mem::take(&mut self.held[who]) {
            self.waiting[who].push_back((now, id, body, notify));
        }
    }

    /// The contact id under which the other phone knows `who`.
    pub fn contact(&self, who: usize) -> ContactId {
        contact_of(who)
    }

    /// A phone, to look at.
    pub fn phone(&self, who: usize) -> &Phone {
        &self.phones[who]
    }

    /// The simulated time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Feeds an input to a phone now.
    pub fn input(&mut self, who: usize, input: Input) {
        self.feed(who, input);
    }

    /// A user action, now.
    pub fn user(&mut self, who: usize, action: UserAction) {
        self.feed(who, Input::User(action));
    }

    /// Feeds an input to a phone `after_ms` from now.
    pub fn input_after(&mut self, who: usize, after_ms: u64, input: Input) {
        self.schedule(self.now.add_ms(after_ms), who, input);
    }

    /// Runs everything due in the next `ms` milliseconds, in time order.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now.add_ms(ms);
        loop {
            self.release_waiting();
            let next_input = self.in_flight.keys().next().map(|(at, _)| *at);
            let next_timer = self.deadlines.iter().flatten().min().copied();
            let next = match (next_input, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if let Some(entry) = self.in_flight.first_entry()
                && entry.key().0 <= self.now
            {
                let (who, input) = entry.remove();
                self.feed(who, input);
                continue;
            }
            for who in [ALICE, BOB] {
                if self.deadlines[who].is_some_and(|d| d <= self.now) {
                    self.deadlines[who] = None;
                    self.feed(who, Input::Timeout);
                }
            }
        }
        self.now = self.now.max(end);
    }

    /// Takes what a phone did since the last call, besides relay sends and timeouts.
    pub fn take_outputs(&mut self, who: usize) -> Vec<(Timestamp, Output)> {
        std::mem::take(&mut self.outputs[who])
    }

    /// What a phone did since its outputs were last taken.
    pub fn outputs(&self, who: usize) -> &[(Timestamp, Output)] {
        &self.outputs[who]
    }

    /// Every message a phone sent through the relay, by kind, from the start.
    pub fn sent(&self, who: usize) -> &[(Timestamp, MessageKind)] {
        &self.sent[who]
    }

    /// How a CallKit action ended on a phone, from the outputs not taken yet: when, and
    /// whether it was fulfilled (`true`) or failed; `None` if neither.
    pub fn action_outcome(&self, who: usize, action: ActionId) -> Option<(Timestamp, bool)> {
        self.outputs[who]
            .iter()
            .find_map(|(at, output)| match output {
                Output::CallKit(CallKitCommand::Fulfill { action: a }) if *a == action => {
                    Some((*at, true))
                }
                Output::CallKit(CallKitCommand::Fail { action: a }) if *a == action => {
                    Some((*at, false))
                }
                _ => None,
            })
    }

    /// The UUID of the call CallKit last reported incoming on a phone, if that report is the
    /// newest CallKit report in its outputs and no end report followed.
    pub fn callkit_ringing(&self, who: usize) -> Option<CallUuid> {
        let mut ringing = None;
        for (_, output) in &self.outputs[who] {
            match output {
                Output::CallKit(CallKitCommand::ReportNewIncomingCall { uuid, .. }) => {
                    ringing = Some(uuid.clone());
                }
                Output::CallKit(CallKitCommand::ReportCallEnded { uuid, .. })
                    if ringing.as_ref() == Some(uuid) =>
                {
                    ringing = None;
                }
                _ => {}
            }
        }
        ringing
    }

    /// Performs a CallKit action on a phone as CallKit would: a new action id, now.
    pub fn callkit_action(
        &mut self,
        who: usize,
        event: impl FnOnce(ActionId) -> CallKitEvent,
    ) -> ActionId {
        let action = self.new_action();
        self.feed(who, Input::CallKit(event(action)));
        action
    }

    // ---- internals ----

    fn new_action(&mut self) -> ActionId {
        self.next_action += 1;
        self.next_action
    }

    fn schedule(&mut self, at: Timestamp, who: usize, input: Input) {
        self.seq += 1;
        self.in_flight.insert((at, self.seq), (who, input));
    }

    fn feed(&mut self, who: usize, input: Input) {
        let now = self.now;
        self.phones[who].handle_input(now, input);
        loop {
            match self.phones[who].poll_output() {
                Output::Timeout(deadline) => {
                    self.deadlines[who] = deadline;
                    break;
                }
                output => self.dispatch(who, output),
            }
        }
    }

    fn dispatch(&mut self, who: usize, output: Output) {
        let now = self.now;
        if let Output::Send {
            body, notify, kind, ..
        } = &output
        {
            self.sent[who].push((now, *kind));
            self.next_relay_id += 1;
            let peer = 1 - who;
            if self.holds[peer].contains(kind) {
                self.held[peer].push((self.next_relay_id, body.clone(), *notify));
                return;
            }
            self.waiting[peer].push_back((
                now.add_ms(self.latency_ms),
                self.next_relay_id,
                body.clone(),
                *notify,
            ));
            return;
        }
        if let Platform::Auto { chat_start_ms } = self.platforms[who] {
            self.auto_answer(who, &output, chat_start_ms);
        }
        self.outputs[who].push((now, output));
    }

    /// Relay messages reach a running chat, or wake a phone whose chat does not run.
    fn release_waiting(&mut self) {
        for who in [ALICE, BOB] {
            let running = self.phones[who].app().chat_running();
            let from = contact_of(1 - who);
            while let Some((at, id, body, notify)) = self.waiting[who].front().cloned() {
                let input = if running {
                    Input::Message {
                        contact_id: from,
                        broker_ts: at,
                        msg_id: id,
                        body,
                    }
                } else if notify {
                    Input::Push {
                        contact_id: from,
                        broker_ts: at,
                        msg_id: id,
                        body,
                    }
                } else {
                    break;
                };
                self.waiting[who].pop_front();
                self.schedule(at.max(self.now), who, input);
            }
        }
    }

    fn auto_answer(&mut self, who: usize, output: &Output, chat_start_ms: u64) {
        let ok = |command| WebRtcResponse::Ok { command };
        let caps = CallCapabilities { encryption: true };
        match output {
            Output::Lifecycle(LifecycleCommand::StartChat) => {
                self.input_after(
                    who,
                    chat_start_ms,
                    Input::Lifecycle(LifecycleEvent::ChatStarted),
                );
            }
            Output::Lifecycle(LifecycleCommand::SuspendChat) => {
                self.input_after(who, 0, Input::Lifecycle(LifecycleEvent::ChatSuspended));
            }
            Output::RequestPermission(permission) => {
                let answer = Input::PermissionAnswered {
                    permission: *permission,
                    granted: true,
                };
                self.input_after(who, 0, answer);
            }
            Output::CallKit(command) => {
                let event = match command.clone() {
                    CallKitCommand::ReportNewIncomingCall { uuid, .. } => {
                        let result = self.report_errors[who].map_or(Ok(()), Err);
                        CallKitEvent::IncomingReported { uuid, result }
                    }
                    CallKitCommand::RequestStartCall { uuid, .. } => CallKitEvent::PerformStart {
                        action: self.new_action(),
                        uuid,
                    },
                    CallKitCommand::RequestAnswerCall { uuid } => CallKitEvent::PerformAnswer {
                        action: self.new_action(),
                        uuid,
                    },
                    CallKitCommand::RequestEndCall { uuid } => CallKitEvent::PerformEnd {
                        action: self.new_action(),
                        uuid,
                    },
                    _ => return,
                };
                self.input_after(who, 0, Input::CallKit(event));
            }
            Output::WebRtc { client, command } => {
                self.clients[who] = *client;
                let respond = |response| Input::WebRtc {
                    client: *client,
                    response,
                };
                let response = match command {
                    WebRtcCommand::Capabilities { .. } => {
                        WebRtcResponse::Capabilities { capabilities: caps }
                    }
                    WebRtcCommand::Start { .. } => WebRtcResponse::Offer {
                        offer: "offer".into(),
                        ice_candidates: "[]".into(),
                        capabilities: caps,
                    },
                    WebRtcCommand::Offer { .. } => WebRtcResponse::Answer {
                        answer: "answer".into(),
                        ice_candidates: "[]".into(),
                    },
                    WebRtcCommand::Answer { .. } => {
                        // The offerer has the answer: both ends check and connect.
                        self.input_after(who, 0, respond(ok(CommandKind::Answer)));
                        for end in [who, 1 - who] {
                            let client = self.clients[end];
                            let states =
                                [IceConnectionState::Checking, IceConnectionState::Connected];
                            for state in states {
                                let response = WebRtcResponse::Connection {
                                    state: ConnectionState::ice(state),
                                };
                                self.input_after(end, 10, Input::WebRtc { client, response });
                            }
                            let response = WebRtcResponse::Connected {
                                connection_info: ConnectionInfo::default(),
                            };
                            self.input_after(end, 10, Input::WebRtc { client, response });
                        }
                        return;
                    }
                    WebRtcCommand::Ice { .. } => ok(CommandKind::Ice),
                    WebRtcCommand::Media { .. } => ok(CommandKind::Media),
                    WebRtcCommand::Camera { .. } => ok(CommandKind::Camera),
                    WebRtcCommand::End => ok(CommandKind::End),
                };
                self.input_after(who, 0, respond(response));
            }
            _ => {}
        }
    }
}

/// The contact id under which the other phone knows `who`.
fn contact_of(who: usize) -> ContactId {
    if who == ALICE { 1 } else { 2 }
}
