//! A phone's SMP client over turmoil TCP: subscribe while the chat runs, confirm sends,
//! acknowledge deliveries, keep the connection alive, and reconnect after it dies.

use std::collections::BTreeMap;
use std::time::Duration;

use callsim_engine::backend::{Inbox, SmpClient};
use callsim_engine::driver::DriverInbox;
use callsim_engine::ids::ContactId;
use callsim_engine::io::{Input, MessageKind};
use callsim_engine::protocol::Timestamp;
use callsim_mocks::relay::{ClientId, client_of, contact_id};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tracing::debug;
use turmoil::net::TcpStream;

use super::shared::{Pushed, SharedWorld, lock};
use super::wire::{ClientFrame, RELAY_PORT, RelayFrame};
use crate::e2e::PairCipher;

/// How often a connected client pings the relay.
const PING_MS: u64 = 2_000;
/// A connection silent for this long is dead: drop it and reconnect.
const DEAD_MS: u64 = 6_000;
/// First and longest wait between connection attempts.
const BACKOFF_MS: (u64, u64) = (500, 8_000);

/// A message the phone asked to send.
#[derive(Debug)]
pub(crate) struct Outgoing {
    to: ClientId,
    body: String,
    notify: bool,
    event: MessageKind,
}

/// The [`SmpClient`] backend: hands sends to the client task.
#[derive(Debug, Clone)]
pub(crate) struct TcpSmpClient {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl SmpClient for TcpSmpClient {
    fn send(
        &mut self,
        _now: Timestamp,
        contact_id: ContactId,
        body: String,
        notify: bool,
        event: MessageKind,
    ) {
        let Some(to) = client_of(contact_id) else {
            return;
        };
        let outgoing = Outgoing {
            to,
            body,
            notify,
            event,
        };
        if self.tx.send(outgoing).is_err() {
            debug!("send after the client stopped dropped");
        }
    }
}

/// What the client task needs.
pub(crate) struct SmpTask {
    pub(crate) me: ClientId,
    pub(crate) seed: u64,
    pub(crate) world: SharedWorld,
    pub(crate) inbox: DriverInbox,
    pub(crate) chat: watch::Receiver<bool>,
}

/// The backend and the future of its task (to spawn inside the phone's host).
pub(crate) fn client(task: SmpTask) -> (TcpSmpClient, impl Future<Output = ()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (TcpSmpClient { tx }, run(task, rx))
}

async fn run(mut task: SmpTask, mut outgoing: mpsc::UnboundedReceiver<Outgoing>) {
    let mut rng = ChaCha8Rng::seed_from_u64(task.seed ^ 0x5350);
    // Sent and not yet confirmed, by sequence number: sent again after a reconnect.
    let mut unconfirmed: BTreeMap<u64, ClientFrame> = BTreeMap::new();
    let mut seq = 0;
    let mut backoff = BACKOFF_MS.0;
    loop {
        // Offline: queue what the phone sends until the chat runs.
        while !*task.chat.borrow() {
            tokio::select! {
                biased;
                changed = task.chat.changed() => if changed.is_err() { return },
                next = outgoing.recv() => match next {
                    Some(out) => {
                        seq += 1;
                        let frame = seal(&task, &mut rng, seq, out);
                        unconfirmed.insert(seq, frame);
                    }
                    None => return,
                },
            }
        }
        let Ok(stream) = TcpStream::connect(("relay", RELAY_PORT)).await else {
            tokio::time::sleep(Duration::from_millis(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_MS.1);
            continue;
        };
        backoff = BACKOFF_MS.0;
        let (read, write) = stream.into_split();
        let (frames, writer) = writer(task.world.clone(), task.me, write);
        let _ = frames.send(ClientFrame::Sub { client: task.me });
        for frame in unconfirmed.values() {
            let _ = frames.send(frame.clone());
        }
        let mut lines = BufReader::new(read).lines();
        let mut ping = tokio::time::interval(Duration::from_millis(PING_MS));
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                changed = task.chat.changed() => {
                    if changed.is_err() || !*task.chat.borrow() {
                        break;
                    }
                }
                next = outgoing.recv() => {
                    let Some(out) = next else { break };
                    seq += 1;
                    let frame = seal(&task, &mut rng, seq, out);
                    unconfirmed.insert(seq, frame.clone());
                    let _ = frames.send(frame);
                }
                line = lines.next_line() => {
                    let Ok(Some(line)) = line else { break };
                    last_heard = tokio::time::Instant::now();
                    match serde_json::from_str::<RelayFrame>(&line) {
                        Ok(RelayFrame::Ok { seq }) => {
                            unconfirmed.remove(&seq);
                        }
                        Ok(RelayFrame::Msg { from, id, ts, body }) => {
                            // A redelivery keeps its id; the phone's agent drops it.
                            deliver(&task, from, id, ts, &body, false);
                            let _ = frames.send(ClientFrame::Ack { from, id });
                        }
                        Ok(RelayFrame::Pong) => {}
                        Err(error) => debug!(%error, "bad frame from the relay dropped"),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > Duration::from_millis(DEAD_MS) {
                        debug!("relay connection silent; reconnecting");
                        break;
                    }
                    let _ = frames.send(ClientFrame::Ping);
                }
            }
        }
        writer.abort();
    }
}

fn seal(task: &SmpTask, rng: &mut ChaCha8Rng, seq: u64, out: Outgoing) -> ClientFrame {
    let seed = {
        let mut world = lock(&task.world);
        world
            .outbound
            .insert((task.me, seq), (out.to, out.event, super::shared::now_ms()));
        world.seed
    };
    let body = PairCipher::for_pair(seed, task.me, out.to).seal(rng, &out.body);
    ClientFrame::Send {
        seq,
        to: out.to,
        body,
        notify: out.notify,
        event: out.event,
    }
}

/// Decrypts a message and hands it to the phone: as a message, or as a push.
fn deliver(task: &SmpTask, from: ClientId, msg_id: u64, ts: u64, body: &str, pushed: bool) {
    let seed = lock(&task.world).seed;
    let Some(plain) = PairCipher::for_pair(seed, task.me, from).open(body) else {
        debug!(from, "undecryptable message dropped");
        return;
    };
    let (contact_id, broker_ts) = (contact_id(from), Timestamp(ts));
    let input = if pushed {
        Input::Push {
            contact_id,
            broker_ts,
            msg_id,
            body: plain,
        }
    } else {
        Input::Message {
            contact_id,
            broker_ts,
            msg_id,
            body: plain,
        }
    };
    task.inbox.deliver(0, input);
}

/// A writer task that writes frames in order, each after its link's retransmission delay.
fn writer(
    world: SharedWorld,
    me: ClientId,
    mut write: turmoil::net::tcp::OwnedWriteHalf,
) -> (
    mpsc::UnboundedSender<ClientFrame>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ClientFrame>();
    let handle = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let delay = lock(&world).relay_link_delay(me);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut line = serde_json::to_string(&frame).unwrap_or_default();
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    (tx, handle)
}

/// The phone's notification extension: each push arrives after its delay, in order.
pub(crate) async fn receive_pushes(task: SmpTask, mut pushes: mpsc::UnboundedReceiver<Pushed>) {
    while let Some(push) = pushes.recv().await {
        tokio::time::sleep(Duration::from_millis(push.delay_ms)).await;
        deliver(&task, push.from, push.id, push.ts, &push.body, true);
    }
}
