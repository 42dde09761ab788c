//! The in-memory world's event loop: a queue of what happens next, ordered by time and then by
//! the order it was scheduled in, and what each event does to the phones, the relay and the
//! media network.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Event {
    Input(PhoneId, Input),
    RelayArrive {
        from: PhoneId,
        to: PhoneId,
        body: String,
        notify: bool,
        kind: MessageKind,
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
    /// A datagram between SimRtc endpoints (or the TURN server) arrives.
    Datagram {
        to: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
    CallKitTimeouts(PhoneId),
}

/// An event and when it is due; ordered by time, then by the order it was scheduled in.
#[derive(Debug, Clone)]
pub(super) struct Scheduled {
    pub(super) at: Timestamp,
    pub(super) seq: u64,
    /// Boxed: the queue moves entries as it sorts them.
    pub(super) event: Box<Event>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl MemoryWorld {
    /// Runs the earliest thing due at or before `end`; false if there is none. At one
    /// instant: events, then phones' deadlines, then WebRTC timers.
    pub(super) fn step(&mut self, end: Timestamp) -> bool {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        enum Next {
            Event,
            Phone(PhoneId),
            /// A phone's SimRtc endpoint.
            Net(usize),
        }
        let event = self.events.peek().map(|Reverse(s)| (s.at, Next::Event));
        let phone = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.deadline.map(|d| (d, Next::Phone(PhoneId(i)))))
            .min();
        let net = match &self.net {
            Net::Sim(net) => net.next_timeout().map(|(t, timer)| (t, Next::Net(timer))),
            Net::Scripted(_) => None,
        };
        let Some((at, next)) = [event, phone, net].into_iter().flatten().min() else {
            return false;
        };
        if at > end {
            return false;
        }
        self.now = self.now.max(at);
        match next {
            Next::Event => {
                if let Some(Reverse(scheduled)) = self.events.pop() {
                    self.handle_event(*scheduled.event);
                }
            }
            Next::Phone(id) => {
                self.hosts[id.0].deadline = None;
                self.feed(id, Input::Timeout);
            }
            Next::Net(timer) => {
                let mut out = std::mem::take(&mut self.net_out);
                if let Net::Sim(net) = &mut self.net {
                    net.timeout(self.now, timer, &mut out);
                }
                self.apply_net(out);
            }
        }
        true
    }

    pub(super) fn schedule(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.events.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event: Box::new(event),
        }));
    }

    pub(super) fn handle_event(&mut self, event: Event) {
        match event {
            Event::Input(id, input) => self.feed(id, input),
            Event::RelayArrive {
                from,
                to,
                body,
                notify,
                kind,
            } => {
                let bytes = body.len();
                self.record(|w| TraceEvent::RelaySend {
                    from: World::name(w, from),
                    to: World::name(w, to),
                    kind,
                    notify,
                    bytes,
                });
                let actions = self.relay.send(self.now, from.0, to.0, body, notify, kind);
                self.apply_relay(actions);
            }
            Event::RelayAck { from, to, id } => {
                let actions = self.relay.ack(from.0, to.0, id);
                self.apply_relay(actions);
            }
            Event::Deliver { to, message } => {
                // A message delivered to a phone that went away meanwhile is delivered again
                // after it resubscribes; the relay already knows.
                if !self.relay.is_subscribed(to.0) {
                    return;
                }
                // A redelivery carries the same id; the phone's agent drops it.
                let (from, id) = (PhoneId(message.from), message.id);
                let ack_at = self.now.add_ms(self.hosts[to.0].relay_latency);
                let lost = self.lost_on_receipt.contains(&(to, message.event));
                if let Some(body) = self.open(from, to, &message.body).filter(|_| !lost) {
                    let input = Input::Message {
                        contact_id: from.contact(),
                        broker_ts: message.ts,
                        msg_id: id,
                        body,
                    };
                    self.feed(to, input);
                }
                self.schedule(ack_at, Event::RelayAck { from, to, id });
            }
            Event::PushArrive { from, to } => {
                if self.relay.is_subscribed(to.0) {
                    return;
                }
                for message in self.relay.fetch_for_push(from.0, to.0) {
                    if let Some(body) = self.open(from, to, &message.body) {
                        let input = Input::Push {
                            contact_id: from.contact(),
                            broker_ts: message.ts,
                            msg_id: message.id,
                            body,
                        };
                        self.feed(to, input);
                    }
                }
            }
            Event::ChatReady(id, suspensions) => {
                if self.relay.is_subscribed(id.0) || suspensions != self.hosts[id.0].suspensions {
                    return;
                }
                self.chat_ready(id);
            }
            Event::Rtc(event) => {
                if let Net::Scripted(rtc) = &mut self.net {
                    let actions = rtc.event(event);
                    self.apply_rtc(actions);
                }
            }
            Event::Datagram { to, from, data } => {
                let mut out = std::mem::take(&mut self.net_out);
                if let Net::Sim(net) = &mut self.net {
                    net.datagram(self.now, to, from, &data, &mut out);
                }
                self.apply_net(out);
            }
            Event::CallKitTimeouts(id) => {
                if self.hosts[id.0]
                    .callkit_wake
                    .is_some_and(|wake| wake <= self.now)
                {
                    self.hosts[id.0].callkit_wake = None;
                }
                let events = self.hosts[id.0].callkit.fire_timeouts(self.now);
                self.callkit_events(id, events);
            }
        }
    }

    pub(super) fn apply_relay(&mut self, actions: Vec<RelayAction>) {
        for action in actions {
            match action {
                RelayAction::Deliver { to, message } => {
                    let to = PhoneId(to);
                    self.record(|w| TraceEvent::RelayDeliver {
                        from: World::name(w, PhoneId(message.from)),
                        to: World::name(w, to),
                        kind: message.event,
                        id: message.id,
                    });
                    let at = self.now.add_ms(self.hosts[to.0].relay_latency);
                    self.schedule(at, Event::Deliver { to, message });
                }
                RelayAction::Push { to, from } => {
                    let (to, from) = (PhoneId(to), PhoneId(from));
                    let delay_ms = self.hosts[to.0].push_delay;
                    self.record(|w| TraceEvent::Push {
                        from: World::name(w, from),
                        to: World::name(w, to),
                        kind: w
                            .relay
                            .queue(from.0, to.0)
                            .first()
                            .map_or(MessageKind::Receipt, |m| m.event),
                        delay_ms,
                    });
                    let at = self.now.add_ms(delay_ms);
                    self.schedule(at, Event::PushArrive { from, to });
                }
            }
        }
    }

    pub(super) fn apply_rtc(&mut self, actions: Vec<RtcAction>) {
        for action in actions {
            match action {
                RtcAction::Respond {
                    to,
                    client,
                    after_ms,
                    response,
                } => {
                    let at = self.now.add_ms(after_ms);
                    let input = Input::WebRtc { client, response };
                    self.schedule(at, Event::Input(PhoneId(to), input));
                }
                RtcAction::Wake { after_ms, event } => {
                    let at = self.now.add_ms(after_ms);
                    self.schedule(at, Event::Rtc(event));
                }
            }
        }
    }

    /// Schedules what SimRtc asked for, and gives the scratch buffer back.
    pub(super) fn apply_net(&mut self, mut out: Vec<NetOutput>) {
        for output in out.drain(..) {
            match output {
                NetOutput::Carry {
                    delay_ms,
                    to,
                    from,
                    data,
                } => {
                    let at = self.now.add_ms(delay_ms);
                    self.schedule(at, Event::Datagram { to, from, data });
                }
                NetOutput::Respond {
                    phone,
                    client,
                    response,
                } => {
                    let input = Input::WebRtc { client, response };
                    self.schedule(self.now, Event::Input(PhoneId(phone), input));
                }
            }
        }
        self.net_out = out;
    }

    /// A control for a phone's WebRTC engine.
    pub(super) fn rtc_control(&mut self, id: PhoneId, control: RtcControl) {
        match &mut self.net {
            Net::Scripted(rtc) => {
                let actions = match control {
                    RtcControl::Command(client, command) => rtc.command(id.0, client, command),
                    RtcControl::Call(client, call) => rtc.client_call(id.0, client, call),
                    RtcControl::Kill => rtc.drop_endpoint(id.0),
                };
                self.apply_rtc(actions);
            }
            Net::Sim(net) => {
                let mut out = std::mem::take(&mut self.net_out);
                net.control(self.now, id.0, control, &mut out);
                self.apply_net(out);
            }
        }
    }

    /// Feeds one input to a phone now and dispatches everything it outputs.
    pub(super) fn feed(&mut self, id: PhoneId, input: Input) {
        if self.trace.is_some() {
            let phone = World::name(self, id);
            let input = input.clone();
            self.record(|_| TraceEvent::Input { phone, input });
        }
        self.hosts[id.0].phone.handle_input(self.now, input);
        loop {
            match self.hosts[id.0].phone.poll_output() {
                Output::Timeout(deadline) => {
                    self.hosts[id.0].deadline = deadline;
                    break;
                }
                output => self.dispatch(id, output),
            }
        }
    }

    pub(super) fn dispatch(&mut self, id: PhoneId, output: Output) {
        if self.trace.is_some() {
            let phone = World::name(self, id);
            let output = output.clone();
            self.record(|_| TraceEvent::Output { phone, output });
        }
        let now = self.now;
        match output {
            Output::Send {
                contact_id,
                body,
                notify,
                kind,
            } => {
                let Some(to) = client_of(contact_id)
                    .filter(|to| *to < self.hosts.len())
                    .map(PhoneId)
                else {
                    return;
                };
                let cipher = self.cipher(id, to).clone();
                let body = cipher.seal(&mut self.hosts[id.0].rng, &body);
                let at = now.add_ms(self.hosts[id.0].relay_latency);
                self.schedule(
                    at,
                    Event::RelayArrive {
                        from: id,
                        to,
                        body,
                        notify,
                        kind,
                    },
                );
            }
            Output::CallKit(command) => {
                let events = self.hosts[id.0].callkit.handle_command(now, command);
                self.callkit_events(id, events);
            }
            Output::Audio(command) => self.hosts[id.0].audio.handle_command(now, command),
            Output::Sound(command) => self.hosts[id.0].sound.handle_command(now, command),
            Output::WebRtc { client, command } => {
                self.rtc_control(id, RtcControl::Command(client, command));
            }
            Output::WebRtcClient { client, call } => {
                self.rtc_control(id, RtcControl::Call(client, call));
            }
            Output::Ui(UiEvent::Alert { title, .. }) => self.hosts[id.0].alerts.push(title),
            Output::Ui(_) | Output::Chat(_) | Output::Timeout(_) => {}
            Output::RequestPermission(permission) => {
                let host = &mut self.hosts[id.0];
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
                let at = now.add_ms(self.hosts[id.0].chat_start);
                self.schedule(at, Event::ChatReady(id, self.hosts[id.0].suspensions));
            }
            Output::Lifecycle(LifecycleCommand::SuspendChat) => {
                self.hosts[id.0].suspensions += 1;
                self.unsubscribe(id);
                self.feed(id, Input::Lifecycle(LifecycleEvent::ChatSuspended));
            }
        }
    }

    // ---- relay ----
}
