//! State shared by the hosts of a turmoil world and the world itself.
//!
//! turmoil runs every host on one thread, one after another, so this state sees no contention;
//! it sits behind a mutex only because each host's software is a separate `'static` future.
//! Whatever must survive a host's crash (the relay's queues) lives here, not in the host.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use callsim_engine::io::MessageKind;
use callsim_engine::protocol::Timestamp;
use callsim_mocks::relay::{ClientId, Relay, RelayAction};
use tokio::sync::mpsc;

use super::wire::RelayFrame;
use crate::loss::LossState;
use crate::paths::MediaPaths;
use crate::trace::{TraceEvent, TraceRecord};

/// A message pushed to a sleeping phone, for its notification extension.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    pub(crate) from: ClientId,
    pub(crate) id: u64,
    pub(crate) ts: u64,
    pub(crate) body: String,
    pub(crate) delay_ms: u64,
}

/// Everything the hosts share.
#[derive(Debug)]
pub(crate) struct WorldState {
    pub(crate) seed: u64,
    pub(crate) relay: Relay,
    /// The current connection of each subscribed client: its id and writer.
    pub(crate) conns: BTreeMap<ClientId, (u64, mpsc::UnboundedSender<RelayFrame>)>,
    /// Sends already stored, by client and sequence number (resends are confirmed, not stored).
    pub(crate) seen_sends: BTreeSet<(ClientId, u64)>,
    /// Sends a phone made that have not reached the relay yet, by sender and sequence
    /// number: the recipient, the kind and when the phone sent it.
    pub(crate) outbound: BTreeMap<(ClientId, u64), (ClientId, MessageKind, u64)>,
    pub(crate) push: BTreeMap<ClientId, mpsc::UnboundedSender<Pushed>>,
    pub(crate) push_delay: BTreeMap<ClientId, u64>,
    /// Loss on each phone's link to the relay (both directions draw from it).
    pub(crate) relay_loss: BTreeMap<ClientId, LossState>,
    /// The media paths between phones, which SimRtc's adapter and the TURN server apply.
    pub(crate) media: MediaPaths,
    pub(crate) names: Vec<String>,
    /// The trace, if recorded.
    pub(crate) trace: Option<Vec<TraceRecord>>,
}

/// The shared state, as the hosts hold it.
pub(crate) type SharedWorld = Arc<Mutex<WorldState>>;

pub(crate) fn lock(world: &SharedWorld) -> MutexGuard<'_, WorldState> {
    world.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Simulated milliseconds since the world started, from inside a host.
pub(crate) fn now_ms() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl WorldState {
    pub(crate) fn new(seed: u64, media_latency_ms: u64, trace: bool) -> Self {
        WorldState {
            seed,
            relay: Relay::recording(),
            conns: BTreeMap::new(),
            seen_sends: BTreeSet::new(),
            outbound: BTreeMap::new(),
            push: BTreeMap::new(),
            push_delay: BTreeMap::new(),
            relay_loss: BTreeMap::new(),
            media: MediaPaths::new(seed, media_latency_ms),
            names: Vec::new(),
            trace: trace.then(Vec::new),
        }
    }

    /// Records an event, if the world records a trace.
    pub(crate) fn record(&mut self, t: u64, event: impl FnOnce(&Self) -> TraceEvent) {
        if self.trace.is_some() {
            let event = event(self);
            if let Some(trace) = self.trace.as_mut() {
                trace.push(TraceRecord::new(Timestamp(t), event));
            }
        }
    }

    pub(crate) fn name(&self, id: ClientId) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// The relay host (re)started: no connections, everything stored kept.
    pub(crate) fn relay_started(&mut self, now: u64) {
        self.relay.restart();
        self.conns.clear();
        self.record(now, |_| TraceEvent::RelayStarted);
    }

    pub(crate) fn subscribe(
        &mut self,
        now: u64,
        client: ClientId,
        conn: u64,
        tx: mpsc::UnboundedSender<RelayFrame>,
    ) {
        // A client that reconnects after its old connection froze: what was in flight on the
        // old one was lost, so it goes again on the new one.
        if self.conns.insert(client, (conn, tx)).is_some() {
            self.relay.unsubscribe(client);
        }
        let actions = self.relay.subscribe(client);
        self.record(now, |w| TraceEvent::Subscribed {
            phone: w.name(client),
        });
        self.apply_actions(now, actions);
    }

    pub(crate) fn disconnected(&mut self, now: u64, client: ClientId, conn: u64) {
        if self.conns.get(&client).is_some_and(|(c, _)| *c == conn) {
            self.conns.remove(&client);
            self.relay.unsubscribe(client);
            self.record(now, |w| TraceEvent::Disconnected {
                phone: w.name(client),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn client_send(
        &mut self,
        now: u64,
        from: ClientId,
        seq: u64,
        to: ClientId,
        body: String,
        notify: bool,
        event: MessageKind,
    ) {
        self.outbound.remove(&(from, seq));
        if !self.seen_sends.insert((from, seq)) {
            return;
        }
        let bytes = body.len();
        self.record(now, |w| TraceEvent::RelaySend {
            from: w.name(from),
            to: w.name(to),
            kind: event,
            notify,
            bytes,
        });
        let actions = self
            .relay
            .send(Timestamp(now), from, to, body, notify, event);
        self.apply_actions(now, actions);
    }

    pub(crate) fn client_ack(&mut self, now: u64, client: ClientId, from: ClientId, id: u64) {
        let actions = self.relay.ack(from, client, id);
        self.apply_actions(now, actions);
    }

    pub(crate) fn apply_actions(&mut self, now: u64, actions: Vec<RelayAction>) {
        for action in actions {
            match action {
                RelayAction::Deliver { to, message } => {
                    self.record(now, |w| TraceEvent::RelayDeliver {
                        from: w.name(message.from),
                        to: w.name(to),
                        kind: message.event,
                        id: message.id,
                    });
                    if let Some((_, tx)) = self.conns.get(&to) {
                        // A connection that just died drops it; the relay delivers it again.
                        let _ = tx.send(RelayFrame::Msg {
                            from: message.from,
                            id: message.id,
                            ts: message.ts.0,
                            body: message.body,
                        });
                    }
                }
                RelayAction::Push { to, from } => {
                    let delay_ms = self.push_delay.get(&to).copied().unwrap_or(0);
                    for message in self.relay.fetch_for_push(from, to) {
                        self.record(now, |w| TraceEvent::Push {
                            from: w.name(from),
                            to: w.name(to),
                            kind: message.event,
                            delay_ms,
                        });
                        if let Some(tx) = self.push.get(&to) {
                            let _ = tx.send(Pushed {
                                from,
                                id: message.id,
                                ts: message.ts.0,
                                body: message.body,
                                delay_ms,
                            });
                        }
                    }
                }
            }
        }
    }

    /// The extra delay of one segment on a phone's relay link (TCP retransmissions).
    pub(crate) fn relay_link_delay(&mut self, client: ClientId) -> u64 {
        self.relay_loss
            .get_mut(&client)
            .map_or(0, |loss| loss.tcp_delay_ms(200))
    }
}
