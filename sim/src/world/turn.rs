//! The `turn` host: a media relay for the relay-only ICE policy (a small subset of TURN).
//!
//! A client allocates a relayed address (`ALLOCATE` → `ALLOCATED port`); it sends to peers
//! through it (`SEND peer payload`), and what peers send to the relayed address comes back to
//! it as `DATA peer payload`. Peers see only the relayed address, as with a real TURN server.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tracing::debug;
use turmoil::net::UdpSocket;

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

/// The TURN server's software.
pub(crate) async fn run() -> turmoil::Result {
    let control = Arc::new(UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), TURN_PORT)).await?);
    let mut relays: BTreeMap<SocketAddr, Arc<UdpSocket>> = BTreeMap::new();
    let mut next_port = FIRST_RELAY_PORT;
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
                        next_port += 1;
                        tokio::spawn(forward(Arc::clone(&relay), Arc::clone(&control), client));
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
                let _ = relay.try_send_to(payload, peer);
            }
            _ => debug!(%client, kind, "unknown TURN message dropped"),
        }
    }
}

/// What peers send to a relayed address goes to its client as `DATA`.
async fn forward(relay: Arc<UdpSocket>, control: Arc<UdpSocket>, client: SocketAddr) {
    let mut buf = vec![0u8; 4096];
    while let Ok((len, peer)) = relay.recv_from(&mut buf).await {
        let mut data = vec![DATA];
        put_addr(&mut data, peer);
        data.extend_from_slice(&buf[..len]);
        let _ = control.try_send_to(&data, client);
    }
}
