//! A message relay with SMP's delivery rules, as a sans-IO state machine.
//!
//! One queue per direction per contact; one unacknowledged message delivered at a time per
//! queue; messages kept until acknowledged; the relay's timestamp on each message; for a message
//! with the notification flag to a client that is not subscribed, a push. The caller moves the
//! bytes: [`Relay`] only says what to deliver or push ([`RelayAction`]), so the in-memory world,
//! an in-process relay for driver tests and a networked relay host all share these rules.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use callsim_engine::ids::ContactId;
use callsim_engine::io::MessageKind;
use callsim_engine::protocol::Timestamp;

/// A client of the relay (one per phone).
pub type ClientId = usize;

/// The contact id under which every other phone knows client `id`: `id + 1`.
pub fn contact_id(id: ClientId) -> ContactId {
    ContactId::try_from(id).map_or(ContactId::MAX, |id| id + 1)
}

/// The client a contact id stands for, if any.
pub fn client_of(contact_id: ContactId) -> Option<ClientId> {
    usize::try_from(contact_id.checked_sub(1)?).ok()
}

/// A message the relay holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    /// The relay's id for it, increasing.
    pub id: u64,
    /// The sender.
    pub from: ClientId,
    /// The body, end-to-end encrypted between the phones in a real relay.
    pub body: String,
    /// SMP's notification flag.
    pub notify: bool,
    /// The relay's timestamp: when it arrived.
    pub ts: Timestamp,
    /// What it carries, known to the simulation only (a real relay sees ciphertext): holds and
    /// duplicates match on it.
    pub event: MessageKind,
    /// Delivered again after its ACK was lost (the duplicate fault), so not again.
    pub redelivered: bool,
}

/// What the relay asks its host to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayAction {
    /// Deliver this message to `to`; `to` acknowledges it with [`Relay::ack`].
    Deliver {
        /// The recipient.
        to: ClientId,
        /// The message.
        message: RelayMessage,
    },
    /// Push `to`: a message with the notification flag waits from `from`.
    Push {
        /// The recipient.
        to: ClientId,
        /// The sender.
        from: ClientId,
    },
}

#[derive(Debug, Default, Clone)]
struct Queue {
    messages: VecDeque<RelayMessage>,
    /// Set aside by a hold, in order; back to the front on release.
    held: VecDeque<RelayMessage>,
    /// The message delivered and not yet acknowledged.
    in_flight: Option<u64>,
}

/// The relay's state.
#[derive(Debug, Clone, Default)]
pub struct Relay {
    queues: BTreeMap<(ClientId, ClientId), Queue>,
    subscribed: BTreeSet<ClientId>,
    /// Kinds held back, by recipient (a fault a scenario injects).
    holds: BTreeMap<ClientId, Vec<MessageKind>>,
    /// Event tags delivered twice, by recipient (a fault a scenario injects): the first ACK is
    /// lost, so the relay delivers the same message again, as SMP does after a reconnect.
    duplicates: BTreeMap<ClientId, Vec<MessageKind>>,
    next_id: u64,
    /// Messages stored, acknowledged, and fetched by a push: what was stored and is not in a
    /// queue was handed over, so nothing is lost while `stored = acked + fetched + queued`.
    counts: (u64, u64, u64),
    /// Every body the relay saw, in order of arrival, when recording.
    seen: Option<Vec<String>>,
}

impl Relay {
    /// An empty relay.
    pub fn new() -> Self {
        Relay::default()
    }

    /// An empty relay that keeps every body it sees, for tests that check what it saw.
    pub fn recording() -> Self {
        Relay {
            seen: Some(Vec::new()),
            ..Relay::default()
        }
    }

    /// Whether `client` is subscribed (its chat is connected).
    pub fn is_subscribed(&self, client: ClientId) -> bool {
        self.subscribed.contains(&client)
    }

    /// The messages held back from `from` to `to` (a hold the scenario asked for), oldest
    /// first.
    pub fn held(&self, from: ClientId, to: ClientId) -> Vec<RelayMessage> {
        self.queues
            .get(&(from, to))
            .map(|q| q.held.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The messages waiting from `from` to `to`, oldest first (held ones excluded).
    pub fn queue(&self, from: ClientId, to: ClientId) -> Vec<RelayMessage> {
        self.queues
            .get(&(from, to))
            .map(|q| q.messages.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every body the relay saw, in order (empty unless made with [`Relay::recording`]).
    pub fn seen(&self) -> &[String] {
        self.seen.as_deref().unwrap_or_default()
    }

    /// Whether every message stored was acknowledged, fetched by a push, or is still queued or
    /// held: the relay lost none.
    pub fn lost_nothing(&self) -> bool {
        let queued: usize = self
            .queues
            .values()
            .map(|q| q.messages.len() + q.held.len())
            .sum();
        let (stored, acked, fetched) = self.counts;
        stored == acked + fetched + queued as u64
    }

    /// SEND: a message arrives at `now`.
    pub fn send(
        &mut self,
        now: Timestamp,
        from: ClientId,
        to: ClientId,
        body: String,
        notify: bool,
        event: MessageKind,
    ) -> Vec<RelayAction> {
        if let Some(seen) = self.seen.as_mut() {
            seen.push(body.clone());
        }
        self.next_id += 1;
        let message = RelayMessage {
            id: self.next_id,
            from,
            body,
            notify,
            ts: now,
            event,
            redelivered: false,
        };
        self.queues
            .entry((from, to))
            .or_default()
            .messages
            .push_back(message);
        self.counts.0 += 1;
        if self.is_subscribed(to) {
            self.next_delivery(from, to).into_iter().collect()
        } else if notify {
            vec![RelayAction::Push { to, from }]
        } else {
            Vec::new()
        }
    }

    /// ACK: `to` processed message `id` from `from`; the next one may go.
    ///
    /// Under the duplicate fault the first ACK of a matching message is lost: the message
    /// stays and is delivered again, with the same id.
    pub fn ack(&mut self, from: ClientId, to: ClientId, id: u64) -> Vec<RelayAction> {
        let twice = self.duplicates.get(&to).cloned();
        let queue = self.queues.entry((from, to)).or_default();
        if let Some(message) = queue.messages.iter_mut().find(|m| m.id == id)
            && !message.redelivered
            && matches_tag(twice.as_ref(), message.event)
        {
            message.redelivered = true;
            if queue.in_flight == Some(id) {
                queue.in_flight = None;
            }
            return self.next_delivery(from, to).into_iter().collect();
        }
        let before = queue.messages.len();
        queue.messages.retain(|m| m.id != id);
        self.counts.1 += (before - queue.messages.len()) as u64;
        if queue.in_flight == Some(id) {
            queue.in_flight = None;
        }
        self.next_delivery(from, to).into_iter().collect()
    }

    /// The ACK of message `id` from `from` to `to` is lost: the message stays and is delivered
    /// again with the same id, as under the duplicate fault. For the explorer, which chooses
    /// which ACK to lose.
    pub fn lose_ack(&mut self, from: ClientId, to: ClientId, id: u64) -> Vec<RelayAction> {
        let queue = self.queues.entry((from, to)).or_default();
        let Some(message) = queue.messages.iter_mut().find(|m| m.id == id) else {
            return Vec::new();
        };
        message.redelivered = true;
        if queue.in_flight == Some(id) {
            queue.in_flight = None;
        }
        self.next_delivery(from, to).into_iter().collect()
    }

    /// SUB: `client` connected; what waits for it is delivered.
    pub fn subscribe(&mut self, client: ClientId) -> Vec<RelayAction> {
        self.subscribed.insert(client);
        let senders: Vec<_> = self
            .queues
            .keys()
            .filter(|(_, to)| *to == client)
            .map(|(from, _)| *from)
            .collect();
        senders
            .into_iter()
            .filter_map(|from| self.next_delivery(from, client))
            .collect()
    }

    /// `client` disconnected: unacknowledged messages will be delivered again.
    pub fn unsubscribe(&mut self, client: ClientId) {
        self.subscribed.remove(&client);
        for ((_, to), queue) in self.queues.iter_mut() {
            if *to == client {
                queue.in_flight = None;
            }
        }
    }

    /// The relay restarted: every connection is gone, every unacknowledged message will be
    /// delivered again, and nothing stored is lost.
    pub fn restart(&mut self) {
        for client in std::mem::take(&mut self.subscribed) {
            self.unsubscribe(client);
        }
    }

    /// A push woke `to`'s notification extension, which fetches (and acknowledges) the queue
    /// from `from` up to the first message with the notification flag.
    pub fn fetch_for_push(&mut self, from: ClientId, to: ClientId) -> Vec<RelayMessage> {
        let Some(queue) = self.queues.get_mut(&(from, to)) else {
            return Vec::new();
        };
        if queue.in_flight.is_some() {
            return Vec::new();
        }
        let mut fetched = Vec::new();
        while let Some(message) = queue.messages.pop_front() {
            let notify = message.notify;
            fetched.push(message);
            if notify {
                break;
            }
        }
        self.counts.2 += fetched.len() as u64;
        fetched
    }

    /// Holds every message with this event tag (e.g. `x.call.answer`) to `to` until released.
    pub fn hold(&mut self, to: ClientId, event: MessageKind) {
        self.holds.entry(to).or_default().push(event);
    }

    /// Delivers every message with this event tag to `to` twice: the same message again, with
    /// the same id, as if its first ACK was lost.
    pub fn duplicate(&mut self, to: ClientId, event: MessageKind) {
        self.duplicates.entry(to).or_default().push(event);
    }

    /// Releases what was held for `to`, in order, ahead of later messages.
    pub fn release(&mut self, to: ClientId) -> Vec<RelayAction> {
        self.holds.remove(&to);
        let mut senders = Vec::new();
        for ((from, recipient), queue) in self.queues.iter_mut() {
            if *recipient == to {
                while let Some(message) = queue.held.pop_back() {
                    queue.messages.push_front(message);
                }
                senders.push(*from);
            }
        }
        senders
            .into_iter()
            .filter_map(|from| self.next_delivery(from, to))
            .collect()
    }

    /// The next message of a queue, if the recipient may have one now.
    fn next_delivery(&mut self, from: ClientId, to: ClientId) -> Option<RelayAction> {
        if !self.is_subscribed(to) {
            return None;
        }
        let holds = self.holds.get(&to);
        let queue = self.queues.get_mut(&(from, to))?;
        if queue.in_flight.is_some() {
            return None;
        }
        while let Some(front) = queue.messages.front() {
            if !matches_tag(holds, front.event) {
                break;
            }
            queue.held.extend(queue.messages.pop_front());
        }
        let message = queue.messages.front()?.clone();
        queue.in_flight = Some(message.id);
        Some(RelayAction::Deliver { to, message })
    }
}

fn matches_tag(kinds: Option<&Vec<MessageKind>>, event: MessageKind) -> bool {
    kinds.is_some_and(|kinds| kinds.contains(&event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliveries(actions: &[RelayAction]) -> Vec<u64> {
        actions
            .iter()
            .filter_map(|a| match a {
                RelayAction::Deliver { message, .. } => Some(message.id),
                RelayAction::Push { .. } => None,
            })
            .collect()
    }

    #[test]
    fn the_accounting_sees_every_message_and_notices_a_lost_one() {
        let mut relay = Relay::new();
        relay.subscribe(1);
        relay.hold(1, MessageKind::CallAnswer);
        relay.duplicate(1, MessageKind::CallOffer);
        relay.send(
            Timestamp(1),
            0,
            1,
            "inv".into(),
            true,
            MessageKind::CallInvitation,
        );
        relay.send(
            Timestamp(2),
            0,
            1,
            "offer".into(),
            false,
            MessageKind::CallOffer,
        );
        relay.send(
            Timestamp(3),
            0,
            1,
            "answer".into(),
            false,
            MessageKind::CallAnswer,
        );
        relay.send(
            Timestamp(4),
            1,
            0,
            "push".into(),
            true,
            MessageKind::CallInvitation,
        );
        assert!(relay.lost_nothing());
        relay.ack(0, 1, 1);
        relay.restart();
        assert!(relay.lost_nothing());
        relay.fetch_for_push(1, 0);
        relay.release(1);
        assert!(relay.lost_nothing());
        // A message that vanishes without being acknowledged or fetched is a loss.
        for queue in relay.queues.values_mut() {
            queue.messages.clear();
            queue.held.clear();
        }
        assert!(!relay.lost_nothing());
    }

    #[test]
    fn one_unacknowledged_message_at_a_time_in_order() {
        let mut relay = Relay::new();
        relay.subscribe(1);
        let first = relay.send(
            Timestamp(1),
            0,
            1,
            "a".into(),
            false,
            MessageKind::CallExtra,
        );
        assert_eq!(deliveries(&first), [1]);
        assert!(
            relay
                .send(
                    Timestamp(2),
                    0,
                    1,
                    "b".into(),
                    false,
                    MessageKind::CallExtra
                )
                .is_empty()
        );
        assert_eq!(deliveries(&relay.ack(0, 1, 1)), [2]);
        assert!(relay.ack(0, 1, 2).is_empty());
        assert!(relay.queue(0, 1).is_empty());
    }

    #[test]
    fn an_unsubscribed_client_gets_a_push_only_for_notifying_messages_and_loses_nothing() {
        let mut relay = Relay::new();
        assert!(
            relay
                .send(
                    Timestamp(1),
                    0,
                    1,
                    "a".into(),
                    false,
                    MessageKind::CallExtra
                )
                .is_empty()
        );
        let push = relay.send(Timestamp(2), 0, 1, "b".into(), true, MessageKind::CallExtra);
        assert_eq!(push, [RelayAction::Push { to: 1, from: 0 }]);
        assert_eq!(deliveries(&relay.subscribe(1)), [1]);
        // Disconnecting before the ACK delivers the message again on return.
        relay.unsubscribe(1);
        assert_eq!(deliveries(&relay.subscribe(1)), [1]);
    }

    #[test]
    fn a_push_fetch_takes_the_queue_up_to_the_notifying_message() {
        let mut relay = Relay::new();
        relay.send(
            Timestamp(1),
            0,
            1,
            "a".into(),
            false,
            MessageKind::CallExtra,
        );
        relay.send(Timestamp(2), 0, 1, "b".into(), true, MessageKind::CallExtra);
        relay.send(
            Timestamp(3),
            0,
            1,
            "c".into(),
            false,
            MessageKind::CallExtra,
        );
        let fetched: Vec<_> = relay
            .fetch_for_push(0, 1)
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(fetched, ["a", "b"]);
        assert_eq!(relay.queue(0, 1).len(), 1);
    }

    #[test]
    fn holds_and_duplicates_match_the_event_tag() {
        let mut relay = Relay::new();
        relay.subscribe(1);
        relay.hold(1, MessageKind::CallOffer);
        relay.duplicate(1, MessageKind::CallEnd);
        assert!(
            relay
                .send(
                    Timestamp(1),
                    0,
                    1,
                    "o".into(),
                    false,
                    MessageKind::CallOffer
                )
                .is_empty()
        );
        assert_eq!(
            deliveries(&relay.send(Timestamp(2), 0, 1, "e".into(), false, MessageKind::CallEnd)),
            [2]
        );
        assert_eq!(
            deliveries(&relay.ack(0, 1, 2)),
            [2],
            "the same message again"
        );
        assert!(relay.ack(0, 1, 2).is_empty());
        assert!(relay.queue(0, 1).is_empty());
        assert_eq!(
            deliveries(&relay.release(1)),
            [1],
            "the held offer goes last"
        );
    }
}
