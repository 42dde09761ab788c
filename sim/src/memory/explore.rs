//! The in-memory world as a model to explore: what may happen next when time is abstracted
//! away, doing one of those things, and the fingerprint of a state.
//!
//! The time abstraction: anything scheduled may happen next, whenever it was due, except that
//! what travels in order stays in order (a relay queue delivers in order, a phone's relay link
//! carries its sends and acknowledgements in order, pushes to a phone come in order) and that a
//! phone's platform callbacks that are due run as soon as they are due. A phone's armed timer
//! may fire at any point. Doing something moves the clock to when it was due, if that is
//! later; time never goes back, so something overtaken happens late.
//!
//! A window bounds the abstraction: only what is due within the window of the earliest thing
//! due may happen next. Without one, a 60 s CallKit action timeout races a 5 ms WebRTC
//! callback, which no phone does; with a window of 0 the world's own time order is the only
//! order.

use std::hash::{Hash, Hasher};
use std::mem::discriminant;

use serde::{Deserialize, Serialize};

use super::*;

/// Something scheduled in the world that may happen next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Happening {
    /// A scheduled event, by the number it was scheduled under (deterministic for a path).
    Event(u64),
    /// A phone's own timer.
    Timer(PhoneId),
}

/// A relay fault the explorer may choose for a pending relay hop (outside what SMP promises:
/// its queues neither lose a message nor lose an ACK once the server has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RelayFault {
    /// A delivery never reaches the phone, and the relay's queue moves on as if it had.
    Lose,
    /// A phone's ACK is lost: the relay delivers the message again, with the same id.
    Redeliver,
}

/// What keeps two events in order: events with the same key happen in the order scheduled.
#[derive(PartialEq, Eq)]
enum Lane {
    /// A phone's relay link, towards the relay: sends and acknowledgements.
    Uplink(PhoneId),
    /// A relay queue from one phone to another.
    Queue(PhoneId, PhoneId),
    /// Pushes to a phone.
    Pushes(PhoneId),
    /// The platform's callbacks to a phone, of one kind.
    Platform(PhoneId, std::mem::Discriminant<Input>),
}

impl Event {
    fn lane(&self) -> Option<Lane> {
        match self {
            Event::Input(id, input) => Some(Lane::Platform(*id, discriminant(input))),
            Event::RelayArrive { from, .. } | Event::RelayAck { to: from, .. } => {
                Some(Lane::Uplink(*from))
            }
            Event::Deliver { to, message } => Some(Lane::Queue(PhoneId(message.from), *to)),
            Event::PushArrive { to, .. } => Some(Lane::Pushes(*to)),
            Event::ChatReady(..)
            | Event::Rtc(_)
            | Event::Datagram { .. }
            | Event::CallKitTimeouts(_) => None,
        }
    }

    /// What the event is, without when: part of a state's fingerprint.
    fn shape(&self, state: &mut impl Hasher) {
        discriminant(self).hash(state);
        match self {
            Event::Input(id, input) => {
                id.hash(state);
                discriminant(input).hash(state);
            }
            Event::RelayArrive { from, to, kind, .. } => (from, to, kind).hash(state),
            Event::RelayAck { from, to, .. } => (from, to).hash(state),
            Event::Deliver { to, message } => (to, message.from, message.event).hash(state),
            Event::PushArrive { from, to } => (from, to).hash(state),
            Event::ChatReady(id, n) => (id, n).hash(state),
            Event::Rtc(event) => discriminant(event).hash(state),
            Event::Datagram { to, from, .. } => (to, from).hash(state),
            Event::CallKitTimeouts(id) => id.hash(state),
        }
    }

    fn describe(&self, w: &MemoryWorld) -> String {
        let name = |id: &PhoneId| World::name(w, *id);
        match self {
            Event::Input(id, input) => format!("{} gets {}", name(id), input_name(input)),
            Event::RelayArrive { from, to, kind, .. } => {
                format!(
                    "the relay takes {} from {} for {}",
                    kind.as_str(),
                    name(from),
                    name(to)
                )
            }
            Event::RelayAck { from, to, .. } => {
                format!(
                    "the relay gets {}'s ACK of {}'s message",
                    name(to),
                    name(from)
                )
            }
            Event::Deliver { to, message } => format!(
                "the relay delivers {} from {} to {}",
                message.event.as_str(),
                name(&PhoneId(message.from)),
                name(to)
            ),
            Event::PushArrive { to, .. } => format!("a push reaches {}", name(to)),
            Event::ChatReady(id, _) => format!("{}'s chat starts", name(id)),
            Event::Rtc(event) => format!("WebRTC: {}", rtc_name(event)),
            Event::Datagram { .. } => "a media datagram arrives".to_owned(),
            Event::CallKitTimeouts(id) => format!(
                "{}'s CallKit checks for actions past their timeout",
                name(id)
            ),
        }
    }
}

fn input_name(input: &Input) -> String {
    match input {
        Input::CallKit(event) => format!("CallKit's {}", variant(event)),
        Input::WebRtc { response, .. } => format!("WebRTC's {}", variant(response)),
        other => variant(other),
    }
}

fn rtc_name(event: &RtcEvent) -> String {
    match event {
        RtcEvent::Connect(_) => "ICE checks start".to_owned(),
        RtcEvent::Connected(_) => "the peers connect".to_owned(),
        RtcEvent::PeerGone(..) => "an end sees its peer gone".to_owned(),
        RtcEvent::Fail(_) => "ICE fails".to_owned(),
        RtcEvent::Stall(_) => "media stalls".to_owned(),
        RtcEvent::Lost(_) => "media is lost".to_owned(),
    }
}

/// The name of an enum value's variant, from its debug text.
fn variant(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    text.split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl MemoryWorld {
    /// What may happen next under the time abstraction (see the module's docs), in a stable
    /// order. With a `window`, only what is due within `window` ms of the earliest thing due
    /// may happen (with `Some(0)`, the world's own time order); with `None`, anything may.
    pub fn happenings(&self, window: Option<u64>, out: &mut Vec<Happening>) {
        let earliest = self
            .events
            .iter()
            .map(|Reverse(s)| s.at)
            .chain(self.hosts.iter().filter_map(|h| h.deadline))
            .min()
            .map(|t| t.max(self.now));
        let in_window = |at: Timestamp| match (window, earliest) {
            (Some(w), Some(first)) => at <= first.add_ms(w),
            _ => true,
        };
        let mut events: Vec<&Scheduled> = self.events.iter().map(|Reverse(s)| s).collect();
        events.sort_by_key(|s| s.seq);
        let mut lanes: Vec<Lane> = Vec::new();
        for s in events {
            let first_of_lane = match s.event.lane() {
                Some(lane) if lanes.contains(&lane) => false,
                Some(lane) => {
                    lanes.push(lane);
                    true
                }
                None => true,
            };
            if first_of_lane && in_window(s.at) {
                out.push(Happening::Event(s.seq));
            }
        }
        for (i, host) in self.hosts.iter().enumerate() {
            if host.deadline.is_some_and(in_window) {
                out.push(Happening::Timer(PhoneId(i)));
            }
        }
    }

    /// Makes `what` happen, then runs the platform callbacks it made due; false if it was not
    /// pending.
    pub fn happen(&mut self, what: Happening) -> bool {
        match what {
            Happening::Event(seq) => {
                let mut all = std::mem::take(&mut self.events).into_vec();
                let found = all.iter().position(|Reverse(s)| s.seq == seq);
                let taken = found.map(|at| all.swap_remove(at).0);
                self.events = BinaryHeap::from(all);
                let Some(scheduled) = taken else {
                    return false;
                };
                self.now = self.now.max(scheduled.at);
                self.handle_event(*scheduled.event);
            }
            Happening::Timer(id) => {
                let Some(deadline) = self.hosts.get(id.0).and_then(|h| h.deadline) else {
                    return false;
                };
                self.now = self.now.max(deadline);
                self.hosts[id.0].deadline = None;
                self.feed(id, Input::Timeout);
            }
        }
        self.run_due_callbacks();
        true
    }

    /// Runs, in order, every platform callback due by now.
    fn run_due_callbacks(&mut self) {
        loop {
            let due = self
                .events
                .iter()
                .filter(|Reverse(s)| s.at <= self.now && matches!(*s.event, Event::Input(..)))
                .map(|Reverse(s)| s.seq)
                .min();
            let Some(seq) = due else {
                return;
            };
            let mut all = std::mem::take(&mut self.events).into_vec();
            let at = all.iter().position(|Reverse(s)| s.seq == seq);
            let taken = at.map(|at| all.swap_remove(at).0);
            self.events = BinaryHeap::from(all);
            if let Some(scheduled) = taken {
                self.handle_event(*scheduled.event);
            }
        }
    }

    /// Whether `fault` may be applied to the pending event `seq`: a delivery may be lost, an
    /// ACK may be lost.
    pub fn relay_fault_applies(&self, seq: u64, fault: RelayFault) -> bool {
        self.events.iter().any(|Reverse(s)| {
            s.seq == seq
                && matches!(
                    (fault, &*s.event),
                    (RelayFault::Lose, Event::Deliver { .. })
                        | (RelayFault::Redeliver, Event::RelayAck { .. })
                )
        })
    }

    /// Applies `fault` to the pending event `seq` in its stead, then runs the platform
    /// callbacks it made due; false if it does not apply there.
    pub fn relay_fault(&mut self, seq: u64, fault: RelayFault) -> bool {
        if !self.relay_fault_applies(seq, fault) {
            return false;
        }
        let mut all = std::mem::take(&mut self.events).into_vec();
        let Some(at) = all.iter().position(|Reverse(s)| s.seq == seq) else {
            self.events = BinaryHeap::from(all);
            return false;
        };
        let scheduled = all.swap_remove(at).0;
        self.events = BinaryHeap::from(all);
        self.now = self.now.max(scheduled.at);
        let actions = match *scheduled.event {
            Event::Deliver { to, message } => {
                self.record(|w| TraceEvent::RelayLost {
                    from: World::name(w, PhoneId(message.from)),
                    to: World::name(w, to),
                    kind: message.event,
                });
                self.relay.ack(message.from, to.0, message.id)
            }
            Event::RelayAck { from, to, id } => {
                self.record(|w| TraceEvent::AckLost {
                    from: World::name(w, from),
                    to: World::name(w, to),
                });
                self.relay.lose_ack(from.0, to.0, id)
            }
            _ => Vec::new(),
        };
        self.apply_relay(actions);
        self.run_due_callbacks();
        true
    }

    /// A relay fault in words, for counterexamples.
    pub fn describe_fault(&self, seq: u64, fault: RelayFault) -> String {
        let event = self.events.iter().find(|Reverse(s)| s.seq == seq);
        match (fault, event.map(|Reverse(s)| &*s.event)) {
            (RelayFault::Lose, Some(Event::Deliver { to, message })) => format!(
                "the relay loses {} from {} to {}",
                message.event.as_str(),
                World::name(self, PhoneId(message.from)),
                World::name(self, *to)
            ),
            (RelayFault::Redeliver, Some(Event::RelayAck { from, to, .. })) => format!(
                "the relay loses {}'s ACK of {}'s message and delivers it again",
                World::name(self, *to),
                World::name(self, *from)
            ),
            _ => format!("{fault:?} of event {seq} (not possible there)"),
        }
    }

    /// A happening in words, for counterexamples.
    pub fn describe(&self, what: Happening) -> String {
        match what {
            Happening::Event(seq) => self
                .events
                .iter()
                .find(|Reverse(s)| s.seq == seq)
                .map(|Reverse(s)| s.event.describe(self))
                .unwrap_or_else(|| format!("event {seq} (no longer pending)")),
            Happening::Timer(id) => format!("{}'s timer fires", World::name(self, id)),
        }
    }

    /// Whether nothing is scheduled and no phone has a timer armed.
    pub fn quiet(&self) -> bool {
        self.events.is_empty() && self.hosts.iter().all(|h| h.deadline.is_none())
    }

    /// Hashes what decides what the world does next, and nothing of when: two states with the
    /// same fingerprint are the same state to the explorer. Per phone: the app's call, views,
    /// chat and answer wait; the core's calls and call items; CallKit's calls and open
    /// actions; the audio session and the ringtone; whether a timer is armed. The relay's
    /// queues and subscriptions; what is pending (without when); the WebRTC peer connections.
    pub fn fingerprint(&self, state: &mut impl Hasher) {
        for (i, host) in self.hosts.iter().enumerate() {
            let app = host.phone.app();
            match app.active_call() {
                Some(call) => {
                    1u8.hash(state);
                    (call.contact_id, call.media, call.mic, call.camera).hash(state);
                    discriminant(&call.direction).hash(state);
                    discriminant(&call.state).hash(state);
                    call.shared_key.is_some().hash(state);
                }
                None => 0u8.hash(state),
            }
            app.incoming_view().hash(state);
            app.incoming_ringing().hash(state);
            app.call_view_shows().hash(state);
            app.chat_running().hash(state);
            app.foreground().hash(state);
            app.answer_pending().hash(state);
            app.invitations().count().hash(state);
            let core = host.phone.core();
            for call in core.calls() {
                (call.contact_id, call.state.tag()).hash(state);
            }
            for j in 0..self.hosts.len() {
                if j != i {
                    for item in core.items(PhoneId(j).contact()) {
                        item.content.to_string().hash(state);
                    }
                }
            }
            core.api_get_call_invitations().len().hash(state);
            for call in host.callkit.calls().values() {
                (call.incoming, call.video).hash(state);
                discriminant(&call.state).hash(state);
            }
            for (_, action) in host.callkit.open_actions() {
                discriminant(&action.kind).hash(state);
            }
            host.audio.active().hash(state);
            host.sound.ringtone().hash(state);
            host.deadline.is_some().hash(state);
            host.suspensions.hash(state);
            self.relay.is_subscribed(i).hash(state);
            for j in 0..self.hosts.len() {
                for message in self.relay.queue(j, i) {
                    (message.from, message.event, message.redelivered).hash(state);
                }
            }
        }
        let mut shapes: Vec<u64> = self
            .events
            .iter()
            .map(|Reverse(s)| {
                let mut h = stable_hasher();
                s.event.shape(&mut h);
                h.finish()
            })
            .collect();
        shapes.sort_unstable();
        shapes.hash(state);
        if let Net::Scripted(rtc) = &self.net {
            for a in 0..self.hosts.len() {
                rtc.connected(a).hash(state);
                for b in a + 1..self.hosts.len() {
                    rtc.same_media_key(a, b).hash(state);
                }
            }
        }
    }

    /// The media key of a phone's call, if it has one.
    pub fn media_key_known(&self, id: PhoneId) -> bool {
        self.hosts[id.0]
            .phone
            .app()
            .active_call()
            .is_some_and(|c| c.shared_key.is_some())
    }
}

impl MemoryWorld {
    /// Plants a bug: `id` loses every message of `kind` it receives (acknowledged, never acted
    /// on). For tests that show the explorer finds what such a bug breaks.
    pub fn lose_received(&mut self, id: PhoneId, kind: MessageKind) {
        self.lost_on_receipt.push((id, kind));
    }

    /// Whether a phone's app process runs.
    pub fn app_running(&self, id: PhoneId) -> bool {
        self.hosts[id.0].running
    }

    /// Whether two phones' calls with each other have the same call id and the same media key.
    pub fn same_call_and_key(&self, a: PhoneId, b: PhoneId) -> bool {
        let call = |x: PhoneId, y: PhoneId| {
            let p = &self.hosts[x.0].phone;
            let id = p.core().call(y.contact()).map(|c| c.call_id.clone());
            let key = p.app().active_call().and_then(|c| c.shared_key);
            (id, key)
        };
        call(a, b) == call(b, a)
    }

    /// Whether every relay queue to a subscribed phone is empty. A message waiting for a phone
    /// that is away is not lost: it goes when the phone comes back.
    pub fn relay_queues_empty(&self) -> bool {
        let n = self.hosts.len();
        (0..n).all(|a| {
            (0..n).all(|b| {
                a == b || !self.relay.is_subscribed(b) || self.relay.queue(a, b).is_empty()
            })
        })
    }
}

/// A hasher whose output depends only on what was hashed (std's SipHash with its fixed keys).
fn stable_hasher() -> impl Hasher {
    std::hash::DefaultHasher::new()
}
