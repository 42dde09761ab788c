//! `Phone`: one device, the app layer over the messaging agent and the chat core, as a sans-IO
//! state machine.
//!
//! # The run loop
//!
//! ```text
//! phone.handle_input(now, input);          // one input at a time; `now` never goes back
//! loop {
//!     match phone.poll_output() {
//!         Output::Timeout(deadline) => break, // call handle_input(deadline, Input::Timeout) then
//!         other => dispatch(other),         // to the relay, CallKit, WebRTC, audio, ...
//!     }
//! }
//! ```
//!
//! Drain `poll_output` after every input until it returns [`Output::Timeout`]: it carries the
//! next deadline of the phone's timers (`None` when none is armed). When that time comes, feed
//! [`Input::Timeout`]; a timeout with nothing due is a no-op. Whatever a backend completes comes
//! back as another input, so a driver or a simulation decides when each thing happens.
//!
//! The phone reads no clock and no OS randomness: `now` is an argument and every random value
//! (call ids, UUIDs, keys, message ids) comes from a RNG seeded by [`PhoneConfig::seed`].

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tracing::debug;

use crate::agent::{Agent, AgentMessage, receipt_output};
use crate::app::{App, Ctx};
use crate::chat::{CHAT_VERSION_RANGE, ChatConfig, ChatCore, Contact, CoreEvent, CoreOutput};
use crate::ids::ContactId;
use crate::io::{Input, LifecycleEvent, MessageKind, Output, PhoneConfig, PhoneStats};
use crate::protocol::{CallEvent, Timestamp, UserRef};

/// One device: the app layer over the agent and the chat core.
#[derive(Debug, Clone)]
pub struct Phone {
    config: PhoneConfig,
    rng: ChaCha8Rng,
    now: Timestamp,
    core: ChatCore,
    agent: Agent,
    app: App,
    outputs: VecDeque<Output>,
    stats: PhoneStats,
}

impl Phone {
    /// A phone with no contacts, its app not yet launched.
    pub fn new(config: PhoneConfig) -> Self {
        let core = ChatCore::new(ChatConfig {
            user: UserRef {
                user_id: 1,
                local_display_name: config.name.clone(),
            },
            chat_version: CHAT_VERSION_RANGE,
            call_versions: config.call_versions,
            send_receipts: config.send_receipts,
        });
        Phone {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            app: App::new(&config),
            config,
            now: Timestamp(0),
            core,
            agent: Agent::default(),
            outputs: VecDeque::new(),
            stats: PhoneStats::default(),
        }
    }

    // ---- getters ----

    /// The phone's settings.
    pub fn config(&self) -> &PhoneConfig {
        &self.config
    }

    /// The chat-core layer, for observation.
    pub fn core(&self) -> &ChatCore {
        &self.core
    }

    /// The app layer, for observation.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// What the phone dropped so far.
    pub fn stats(&self) -> PhoneStats {
        self.stats
    }

    /// The time of the last input.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    // ---- mutators ----

    /// Adds a contact with calls allowed.
    pub fn add_contact(&mut self, contact_id: ContactId, name: &str) {
        self.core.add_contact(
            contact_id,
            Contact {
                name: name.to_owned(),
                calls_allowed: true,
            },
        );
    }

    /// Feeds one input at time `now` (which must not be earlier than the last one).
    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        let span = tracing::debug_span!("phone", name = %self.config.name);
        let _entered = span.enter();
        if now < self.now {
            debug!(%now, last = %self.now, "time went back; using the last time");
        }
        self.now = self.now.max(now);
        match input {
            Input::Message {
                contact_id,
                broker_ts,
                msg_id,
                body,
            } => {
                if self.agent.accept(contact_id, msg_id) {
                    self.on_message(contact_id, broker_ts, &body);
                } else {
                    self.stats.redeliveries_dropped += 1;
                }
            }
            Input::Push {
                contact_id,
                broker_ts,
                msg_id,
                body,
            } => {
                if self.agent.accept(contact_id, msg_id) {
                    let (app, mut cx) = self.app_and_ctx();
                    app.on_push(&mut cx, contact_id, broker_ts, &body);
                } else {
                    self.stats.redeliveries_dropped += 1;
                }
            }
            Input::Lifecycle(LifecycleEvent::AppKilled) => {
                // Nothing is sent: a killed caller leaves the callee ringing (#2555). What was
                // in memory is gone; the database and the agent's store stay.
                self.app = self.app.relaunched(&self.config);
                self.outputs.clear();
                self.core.restart();
            }
            input => {
                let (app, mut cx) = self.app_and_ctx();
                app.handle(&mut cx, input);
            }
        }
        self.process_core_outputs();
    }

    /// The next output; [`Output::Timeout`] when there is nothing more until the next input.
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        self.outputs
            .pop_front()
            .unwrap_or_else(|| Output::Timeout(self.app.next_deadline()))
    }

    // ---- internals ----

    /// The app and what it acts on, borrowed apart.
    fn app_and_ctx(&mut self) -> (&mut App, Ctx<'_>) {
        let cx = Ctx {
            now: self.now,
            rng: &mut self.rng,
            core: &mut self.core,
            config: &self.config,
            stats: &mut self.stats,
            out: &mut self.outputs,
        };
        (&mut self.app, cx)
    }

    /// A delivered message: a receipt, or a chat message for the core.
    fn on_message(&mut self, contact_id: ContactId, broker_ts: Timestamp, body: &str) {
        match AgentMessage::parse(body) {
            AgentMessage::Receipt(msg_id) => self.core.receive_receipt(contact_id, &msg_id),
            AgentMessage::Chat(body) => {
                let (now, rng) = (self.now, &mut self.rng);
                if let Err(error) = self.core.receive(now, rng, contact_id, broker_ts, body) {
                    self.stats.undecodable_messages += 1;
                    debug!(contact_id, %error, "undecodable message");
                }
            }
        }
    }

    /// Hands the core's sends to the relay and its events to the app, until both are quiet.
    fn process_core_outputs(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                CoreOutput::Send {
                    contact_id,
                    message,
                    notify,
                } => match message.to_json() {
                    Ok(body) => self.outputs.push_back(Output::Send {
                        contact_id,
                        body,
                        notify,
                        kind: message_kind(&message.event),
                    }),
                    Err(error) => debug!(contact_id, %error, "message not sent"),
                },
                CoreOutput::SendReceipt { contact_id, msg_id } => {
                    self.outputs.push_back(receipt_output(contact_id, &msg_id));
                }
                CoreOutput::Event(event) => {
                    if matches!(event, CoreEvent::MessageError { .. }) {
                        self.stats.message_errors += 1;
                    }
                    // Observers see the event before what the app did about it.
                    let at = self.outputs.len();
                    if self.app.chat_running() {
                        let (app, mut cx) = self.app_and_ctx();
                        app.on_core_event(&mut cx, &event);
                    }
                    self.outputs.insert(at, Output::Chat(event));
                }
            }
        }
    }
}

/// The relay kind of a call event.
fn message_kind(event: &CallEvent) -> MessageKind {
    match event {
        CallEvent::Invitation { .. } => MessageKind::CallInvitation,
        CallEvent::Offer { .. } => MessageKind::CallOffer,
        CallEvent::Answer { .. } => MessageKind::CallAnswer,
        CallEvent::Extra { .. } => MessageKind::CallExtra,
        CallEvent::End { .. } => MessageKind::CallEnd,
    }
}
