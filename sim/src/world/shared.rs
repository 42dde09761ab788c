//! State shared by the hosts of a turmoil world and the world itself.
//!
//! turmoil runs every host on one thread, one after another, so this state sees no contention;
//! it sits behind a mutex only because each host's software is a separate `'static` future.
//! Whatever must survive a host's crash (the relay's queues) lives here, not in the host.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use callsim_engine::io::MessageKind;
use callsim_engine::protocol::Timestamp;
use callsim_mocks::relay::{ClientId, Relay, RelayAction};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::wire::RelayFrame;
use crate::loss::LossState;

/// A message pushed to a sleeping phone, for its notification extension.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    pub(crate) from: ClientId,
    pub(crate) id: u64,
    pub(crate) ts: u64,
    pub(crate) body: String,
    pub(crate) delay_ms: u64,
}

/// One line of a trace: when, who, what.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceRecord {
    /// Simulated milliseconds since the world started.
    pub t: u64,
    /// A phone's name, or `relay`.
    pub who: String,
    /// `in` (an input to a phone), `out` (its output) or `relay` (a relay event).
    pub dir: &'static str,
    /// The input, output or event, as JSON.
    pub what: Value,
}

/// The latency of a media path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathLatency {
    /// One-way latency, ms.
    pub(crate) latency_ms: u64,
    /// Up to this much more, ms.
    pub(crate) jitter_ms: u64,
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
    /// Loss of media from one phone's address to another's.
    pub(crate) media_loss: BTreeMap<(IpAddr, IpAddr), LossState>,
    /// One-way latency and jitter of the media path between two phones (lower address first),
    /// for the TURN server to give relayed media the pair's path.
    pub(crate) media_latency: BTreeMap<(IpAddr, IpAddr), PathLatency>,
    /// The latency of a media path nobody changed.
    pub(crate) default_media_latency: u64,
    /// Draws the jitter of relayed packets.
    pub(crate) jitter_rng: ChaCha8Rng,
    pub(crate) names: Vec<String>,
    pub(crate) trace: Vec<TraceRecord>,
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
    pub(crate) fn new(seed: u64) -> Self {
        WorldState {
            seed,
            relay: Relay::recording(),
            conns: BTreeMap::new(),
            seen_sends: BTreeSet::new(),
            outbound: BTreeMap::new(),
            push: BTreeMap::new(),
            push_delay: BTreeMap::new(),
            relay_loss: BTreeMap::new(),
            media_loss: BTreeMap::new(),
            media_latency: BTreeMap::new(),
            default_media_latency: 20,
            jitter_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x4A49_5454),
            names: Vec::new(),
            trace: Vec::new(),
        }
    }

    pub(crate) fn record(&mut self, t: u64, who: &str, dir: &'static str, what: Value) {
        self.trace.push(TraceRecord {
            t,
            who: who.to_owned(),
            dir,
            what,
        });
    }

    fn name(&self, id: ClientId) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// The relay host (re)started: no connections, everything stored kept.
    pub(crate) fn relay_started(&mut self, now: u64) {
        self.relay.restart();
        self.conns.clear();
        self.record(now, "relay", "relay", json!({"started": {}}));
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
        let who = self.name(client);
        self.record(now, "relay", "relay", json!({"sub": who}));
        self.apply_actions(now, actions);
    }

    pub(crate) fn disconnected(&mut self, now: u64, client: ClientId, conn: u64) {
        if self.conns.get(&client).is_some_and(|(c, _)| *c == conn) {
            self.conns.remove(&client);
            self.relay.unsubscribe(client);
            let who = self.name(client);
            self.record(now, "relay", "relay", json!({"disconnected": who}));
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
        let (sender, recipient) = (self.name(from), self.name(to));
        self.record(
            now,
            "relay",
            "relay",
            json!({"send": {"from": sender, "to": recipient, "event": event, "notify": notify, "bytes": body.len()}}),
        );
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
                    let (sender, recipient) = (self.name(message.from), self.name(to));
                    self.record(
                        now,
                        "relay",
                        "relay",
                        json!({"deliver": {"from": sender, "to": recipient, "event": message.event, "id": message.id}}),
                    );
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
                        let (sender, recipient) = (self.name(from), self.name(to));
                        self.record(
                            now,
                            "relay",
                            "relay",
                            json!({"push": {"from": sender, "to": recipient, "event": message.event, "delayMs": delay_ms}}),
                        );
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

    /// Whether a media packet from one address to another is lost.
    pub(crate) fn media_drops(&mut self, from: IpAddr, to: IpAddr) -> bool {
        self.media_loss
            .get_mut(&(from, to))
            .is_some_and(LossState::drops)
    }

    /// What the media path between two phones does to one packet from `from` to `to`: lost
    /// (`None`), or delayed by the pair's latency plus jitter drawn as turmoil draws it on a
    /// link (an exponential with rate 5 over the jitter range, capped at its top).
    pub(crate) fn media_path_delay(&mut self, from: IpAddr, to: IpAddr) -> Option<u64> {
        if self.media_drops(from, to) {
            return None;
        }
        let path = self
            .media_latency
            .get(&(from.min(to), from.max(to)))
            .copied()
            .unwrap_or(PathLatency {
                latency_ms: self.default_media_latency,
                jitter_ms: 0,
            });
        if path.jitter_ms == 0 {
            return Some(path.latency_ms);
        }
        let u = (self.jitter_rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mult = -(1.0 - u).ln() / 5.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let extra = ((path.jitter_ms as f64 * mult) as u64).min(path.jitter_ms);
        Some(path.latency_ms + extra)
    }
}
