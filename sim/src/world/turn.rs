//! The `turn` host: a media relay for the relay-only ICE policy (a small subset of TURN).
//!
//! A client allocates a relayed address (`ALLOCATE` → `ALLOCATED port`); it sends to peers
//! through it (`SEND peer payload`), and what peers send to the relayed address comes back to
//! it as `DATA peer payload`. Peers see only the relayed address, as with a real TURN server.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, which turmoil drives: simulated time, never the wall clock.
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::debug;
use turmoil::net::UdpSocket;

use super::shared::{SharedWorld, lock};

/// The TURN server's port.
pub(crate) const TURN_PORT: u16 = 3478;
/// First port of relayed addresses.
const FIRST_RELAY_PORT: u16 = 50_000;

pub(crate) const ALLOCATE: u8 = 0x10;
pub(crate) const ALLOCATED: u8 = 0x11;
pub(crate) const SEND: u8 = 0x12;
pub(crate) const DATA: u8 = 0x13;

/// Writes a peer address: 4 bytes of IPv4 and 2 of port.
pub(crate) fn put_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => [0; 4],
    };
    out.extend_from_slice(&ip);
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Reads what [`put_addr`] wrote, and the rest.
pub(crate) fn take_addr(bytes: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let (addr, rest) = bytes.split_at_checked(6)?;
    let ip = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
    let port = u16::from_be_bytes([addr[4], addr[5]]);
    Some((SocketAddr::new(IpAddr::V4(ip), port), rest))
}

/// A packet the TURN server holds for its media path's latency before sending it on.
#[derive(Debug)]
struct Delayed {
    at: Instant,
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    packet: Vec<u8>,
}

/// What the two hops between the phones and the server cost: turmoil delivers a message no
/// sooner than the next tick, so each zero-latency hop takes one (measured by
/// `media_latency_is_the_pairs_whether_relayed_or_direct`).
const HOPS: u64 = 2 * super::TICK_MS;

/// The TURN server's software.
///
/// Relayed media between two phones gets the pair's media path (`media between Alice and Bob
/// ...`: its latency, jitter and loss) here, once per packet, less what the hops to and from
/// the server cost: the path is the same end to end whichever way the call goes.
pub(crate) async fn run(world: SharedWorld) -> turmoil::Result {
    let me = turmoil::lookup("turn");
    let control = Arc::new(UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), TURN_PORT)).await?);
    let mut relays: BTreeMap<SocketAddr, Arc<UdpSocket>> = BTreeMap::new();
    // Which client each relayed port belongs to.
    let mut owners: BTreeMap<u16, SocketAddr> = BTreeMap::new();
    let mut next_port = FIRST_RELAY_PORT;
    let (delay_tx, delay_rx) = mpsc::unbounded_channel();
    tokio::spawn(delay_line(delay_rx));
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, client) = control.recv_from(&mut buf).await?;
        let Some((&kind, body)) = buf[..len].split_first() else {
            continue;
        };
        match kind {
            ALLOCATE => {
                let relay = match relays.entry(client) {
                    std::collections::btree_map::Entry::Occupied(e) => Arc::clone(e.get()),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
                        let relay = Arc::new(UdpSocket::bind((any, next_port)).await?);
                        owners.insert(next_port, client);
                        next_port += 1;
                        tokio::spawn(forward(
                            Arc::clone(&relay),
                            Arc::clone(&control),
                            client,
                            world.clone(),
                            delay_tx.clone(),
                        ));
                        Arc::clone(e.insert(relay))
                    }
                };
                let port = relay.local_addr()?.port();
                let mut reply = vec![ALLOCATED];
                reply.extend_from_slice(&port.to_be_bytes());
                let _ = control.try_send_to(&reply, client);
            }
            SEND => {
                let (Some(relay), Some((peer, payload))) = (relays.get(&client), take_addr(body))
                else {
                    debug!(%client, "TURN send without an allocation dropped");
                    continue;
                };
                // The phone at the far end: the peer itself, or the owner of the peer's
                // relayed address when both ends relay.
                let far = if peer.ip() == me {
                    owners.get(&peer.port()).map_or(peer.ip(), SocketAddr::ip)
                } else {
                    peer.ip()
                };
                let Some(delay) = lock(&world).media_path_delay(client.ip(), far) else {
                    continue;
                };
                let delay = delay.saturating_sub(HOPS);
                let _ = delay_tx.send(Delayed {
                    at: Instant::now() + Duration::from_millis(delay),
                    socket: Arc::clone(relay),
                    to: peer,
                    packet: payload.to_vec(),
                });
            }
            _ => debug!(%client, kind, "unknown TURN message dropped"),
        }
    }
}

/// What peers send to a relayed address goes to its client as `DATA`: at once from another
/// relayed address (its path was applied when it was sent), after the media path from a phone.
async fn forward(
    relay: Arc<UdpSocket>,
    control: Arc<UdpSocket>,
    client: SocketAddr,
    world: SharedWorld,
    delay_tx: mpsc::UnboundedSender<Delayed>,
) {
    let me = turmoil::lookup("turn");
    let mut buf = vec![0u8; 4096];
    while let Ok((len, peer)) = relay.recv_from(&mut buf).await {
        let mut data = vec![DATA];
        put_addr(&mut data, peer);
        data.extend_from_slice(&buf[..len]);
        let delay = if peer.ip() == me {
            0
        } else {
            match lock(&world).media_path_delay(peer.ip(), client.ip()) {
                Some(delay) => delay.saturating_sub(HOPS),
                None => continue,
            }
        };
        let _ = delay_tx.send(Delayed {
            at: Instant::now() + Duration::from_millis(delay),
            socket: Arc::clone(&control),
            to: client,
            packet: data,
        });
    }
}

/// Sends each held packet when its time comes; packets due at the same time leave in the order
/// they came, so a path without jitter never reorders.
async fn delay_line(mut rx: mpsc::UnboundedReceiver<Delayed>) {
    let mut held: BTreeMap<(Instant, u64), Delayed> = BTreeMap::new();
    let mut seq = 0u64;
    loop {
        let next = held.keys().next().map(|(at, _)| *at);
        tokio::select! {
            biased;
            item = rx.recv() => match item {
                Some(delayed) => {
                    seq += 1;
                    held.insert((delayed.at, seq), delayed);
                }
                None => return,
            },
            () = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                while let Some(entry) = held.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let d = entry.remove();
                    let _ = d.socket.try_send_to(&d.packet, d.to);
                }
            }
        }
    }
}
