//! The TURN server of the relay-only policy (a small subset of TURN), as a sans-IO state
//! machine: datagrams in, datagrams out, time an argument.
//!
//! A client allocates a relayed address (`ALLOCATE` to the server's port → `ALLOCATED port`);
//! it sends to peers through it (`SEND peer payload`), and what peers send to the relayed
//! address comes back to it as `DATA peer payload`. Peers see only the relayed address, as
//! with a real TURN server.
//!
//! Relayed media between two phones gets the pair's media path ([`MediaPath`]: latency, jitter
//! and loss) here, once per packet, less what the hops to and from the server cost the network
//! that runs it: the path is the same end to end whichever way a call goes.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use callsim_engine::protocol::Timestamp;

/// The TURN server's port.
pub const TURN_PORT: u16 = 3478;
/// First port of relayed addresses.
const FIRST_RELAY_PORT: u16 = 50_000;

/// Allocate a relayed address (client to server).
pub const ALLOCATE: u8 = 0x10;
/// The relayed address's port (server to client).
pub const ALLOCATED: u8 = 0x11;
/// Send a payload to a peer through the relayed address (client to server).
pub const SEND: u8 = 0x12;
/// A peer's payload that reached the relayed address (server to client).
pub const DATA: u8 = 0x13;

/// Writes a peer address: 4 bytes of IPv4 and 2 of port.
pub fn put_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => [0; 4],
    };
    out.extend_from_slice(&ip);
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Reads what [`put_addr`] wrote, and the rest.
pub fn take_addr(bytes: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let (addr, rest) = bytes.split_at_checked(6)?;
    let ip = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
    let port = u16::from_be_bytes([addr[4], addr[5]]);
    Some((SocketAddr::new(IpAddr::V4(ip), port), rest))
}

/// A peer's payload as the server hands it to a client: `DATA`, the peer, the payload.
fn wrap_data(peer: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut wrapped = Vec::with_capacity(7 + payload.len());
    wrapped.push(DATA);
    put_addr(&mut wrapped, peer);
    wrapped.extend_from_slice(payload);
    wrapped
}

/// What the media path between two phones does to one packet: `None` loses it, else its
/// one-way delay in ms.
pub trait MediaPath {
    /// The fate of a packet from the phone at `from` to the phone at `to`.
    fn delay(&mut self, from: IpAddr, to: IpAddr) -> Option<u64>;
}

/// A datagram the server sends, from one of its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnTransmit {
    /// The server's port it leaves from: [`TURN_PORT`] or a relayed address's.
    pub from_port: u16,
    /// Where it goes.
    pub to: SocketAddr,
    /// What it carries.
    pub data: Vec<u8>,
}

/// The server.
#[derive(Debug, Clone)]
pub struct TurnServer {
    me: IpAddr,
    hop_cost_ms: u64,
    /// Each client's relayed port, and each port's client.
    relays: BTreeMap<SocketAddr, u16>,
    owners: BTreeMap<u16, SocketAddr>,
    next_port: u16,
    /// Packets held for their path's latency, keyed by due time and arrival order.
    held: BTreeMap<(Timestamp, u64), TurnTransmit>,
    seq: u64,
    ready: VecDeque<TurnTransmit>,
}

impl TurnServer {
    /// A server at `me`. `hop_cost_ms` is what the network running it charges for the two hops
    /// to and from it (taken off each relayed packet's path, so the path stays the pair's).
    pub fn new(me: IpAddr, hop_cost_ms: u64) -> Self {
        TurnServer {
            me,
            hop_cost_ms,
            relays: BTreeMap::new(),
            owners: BTreeMap::new(),
            next_port: FIRST_RELAY_PORT,
            held: BTreeMap::new(),
            seq: 0,
            ready: VecDeque::new(),
        }
    }

    /// The server's address.
    pub fn ip(&self) -> IpAddr {
        self.me
    }

    /// The relayed ports allocated so far.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.owners.keys().copied()
    }

    /// A datagram from `from` reached the server's port `port`.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        port: u16,
        from: SocketAddr,
        data: &[u8],
        path: &mut impl MediaPath,
    ) {
        if port == TURN_PORT {
            self.control(now, from, data, path);
        } else if let Some(&client) = self.owners.get(&port) {
            // A peer's packet to a relayed address: after the media path from the peer.
            let delay = path
                .delay(from.ip(), client.ip())
                .map(|d| d.saturating_sub(self.hop_cost_ms));
            if let Some(delay) = delay {
                self.hold(now.add_ms(delay), TURN_PORT, client, wrap_data(from, data));
            }
        }
    }

    fn control(
        &mut self,
        now: Timestamp,
        client: SocketAddr,
        data: &[u8],
        path: &mut impl MediaPath,
    ) {
        let Some((&kind, body)) = data.split_first() else {
            return;
        };
        match kind {
            ALLOCATE => {
                let port = match self.relays.get(&client) {
                    Some(&port) => port,
                    None => {
                        let port = self.next_port;
                        self.next_port += 1;
                        self.relays.insert(client, port);
                        self.owners.insert(port, client);
                        port
                    }
                };
                let mut reply = vec![ALLOCATED];
                reply.extend_from_slice(&port.to_be_bytes());
                self.ready.push_back(TurnTransmit {
                    from_port: TURN_PORT,
                    to: client,
                    data: reply,
                });
            }
            SEND => {
                let (Some(&port), Some((peer, payload))) =
                    (self.relays.get(&client), take_addr(body))
                else {
                    return;
                };
                if peer.ip() == self.me {
                    // Both ends relay: the packet goes from this client's relayed address to
                    // the peer's, on this server, and straight on to the peer's owner as
                    // `DATA`. Only the pair's path delays it (a packet the server sent itself
                    // would cost the network running it another hop).
                    if let Some(&owner) = self.owners.get(&peer.port())
                        && let Some(delay) = path.delay(client.ip(), owner.ip())
                    {
                        let at = now.add_ms(delay.saturating_sub(self.hop_cost_ms));
                        let data = wrap_data(SocketAddr::new(self.me, port), payload);
                        self.hold(at, TURN_PORT, owner, data);
                    }
                } else if let Some(delay) = path.delay(client.ip(), peer.ip()) {
                    let at = now.add_ms(delay.saturating_sub(self.hop_cost_ms));
                    self.hold(at, port, peer, payload.to_vec());
                }
            }
            _ => {}
        }
    }

    fn hold(&mut self, at: Timestamp, from_port: u16, to: SocketAddr, data: Vec<u8>) {
        self.seq += 1;
        let transmit = TurnTransmit {
            from_port,
            to,
            data,
        };
        self.held.insert((at, self.seq), transmit);
    }

    /// Time passed: held packets that are due become ready, in the order they came.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.ready.push_back(entry.remove());
        }
    }

    /// The earliest packet held for its path, and when it is due, whether due yet or not: for
    /// a network that schedules deliveries itself (the in-memory world), in place of waiting
    /// for [`TurnServer::handle_timeout`]. Packets due at once leave in the order they came.
    pub fn poll_held(&mut self) -> Option<(Timestamp, TurnTransmit)> {
        self.held
            .pop_first()
            .map(|((at, _), transmit)| (at, transmit))
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<TurnTransmit> {
        self.ready.pop_front()
    }

    /// When [`TurnServer::handle_timeout`] is next needed.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.held.first_key_value().map(|((at, _), _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Option<u64>);

    impl MediaPath for Fixed {
        fn delay(&mut self, _: IpAddr, _: IpAddr) -> Option<u64> {
            self.0
        }
    }

    fn addr(last: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port)
    }

    #[test]
    fn a_relayed_packet_takes_the_pairs_path_and_comes_back_as_data() {
        let (turn, alice, bob) = (addr(9, TURN_PORT), addr(1, 5000), addr(2, 5000));
        let mut server = TurnServer::new(turn.ip(), 0);
        let mut path = Fixed(Some(40));
        server.handle_datagram(Timestamp(0), TURN_PORT, alice, &[ALLOCATE], &mut path);
        let reply = server.poll_transmit().expect("allocated");
        assert_eq!(reply.to, alice);
        let port = u16::from_be_bytes([reply.data[1], reply.data[2]]);
        let mut send = vec![SEND];
        put_addr(&mut send, bob);
        send.extend_from_slice(b"hi");
        server.handle_datagram(Timestamp(100), TURN_PORT, alice, &send, &mut path);
        assert_eq!(server.poll_transmit(), None, "held for the path");
        assert_eq!(server.poll_timeout(), Some(Timestamp(140)));
        server.handle_timeout(Timestamp(140));
        let out = server.poll_transmit().expect("sent");
        assert_eq!(
            (out.from_port, out.to, out.data.as_slice()),
            (port, bob, &b"hi"[..])
        );
        // Bob answers the relayed address: Alice gets it wrapped, after the path.
        server.handle_datagram(Timestamp(200), port, bob, b"yo", &mut path);
        server.handle_timeout(Timestamp(240));
        let back = server.poll_transmit().expect("data");
        assert_eq!(back.to, alice);
        assert_eq!(take_addr(&back.data[1..]), Some((bob, &b"yo"[..])));
        // A lost packet never comes out.
        server.handle_datagram(Timestamp(300), port, bob, b"x", &mut Fixed(None));
        server.handle_timeout(Timestamp(10_000));
        assert_eq!(server.poll_transmit(), None);
    }

    #[test]
    fn between_two_relaying_clients_a_packet_goes_straight_to_the_peers_owner_after_the_path() {
        let (alice, bob) = (addr(1, 5000), addr(2, 5000));
        let mut server = TurnServer::new(addr(9, TURN_PORT).ip(), 10);
        let mut path = Fixed(Some(40));
        let mut allocate = |server: &mut TurnServer, client| {
            server.handle_datagram(Timestamp(0), TURN_PORT, client, &[ALLOCATE], &mut path);
            let reply = server.poll_transmit().expect("allocated");
            SocketAddr::new(
                server.ip(),
                u16::from_be_bytes([reply.data[1], reply.data[2]]),
            )
        };
        let (alice_relayed, bob_relayed) =
            (allocate(&mut server, alice), allocate(&mut server, bob));
        let mut send = vec![SEND];
        put_addr(&mut send, bob_relayed);
        send.extend_from_slice(b"hi");
        server.handle_datagram(Timestamp(100), TURN_PORT, alice, &send, &mut path);
        // The path less the hops' cost, once: no packet from the server to itself.
        assert_eq!(server.poll_timeout(), Some(Timestamp(130)));
        server.handle_timeout(Timestamp(130));
        let out = server.poll_transmit().expect("data for Bob");
        assert_eq!((out.from_port, out.to), (TURN_PORT, bob));
        assert_eq!(out.data[0], DATA);
        assert_eq!(take_addr(&out.data[1..]), Some((alice_relayed, &b"hi"[..])));
        assert_eq!(server.poll_transmit(), None);
        // To a relayed port nobody holds: nothing comes out.
        let mut stray = vec![SEND];
        put_addr(&mut stray, SocketAddr::new(server.ip(), 60_000));
        stray.extend_from_slice(b"lost");
        server.handle_datagram(Timestamp(200), TURN_PORT, alice, &stray, &mut path);
        server.handle_timeout(Timestamp(10_000));
        assert_eq!(server.poll_transmit(), None);
    }

    #[test]
    fn a_network_that_schedules_itself_takes_every_held_packet_with_its_due_time() {
        let (turn, alice, bob) = (addr(9, TURN_PORT), addr(1, 5000), addr(2, 5000));
        let mut server = TurnServer::new(turn.ip(), 0);
        server.handle_datagram(
            Timestamp(0),
            TURN_PORT,
            alice,
            &[ALLOCATE],
            &mut Fixed(None),
        );
        server.poll_transmit();
        for (at, latency) in [(100, 40), (110, 10)] {
            let mut send = vec![SEND];
            put_addr(&mut send, bob);
            send.push(u8::try_from(at).expect("small"));
            server.handle_datagram(
                Timestamp(at),
                TURN_PORT,
                alice,
                &send,
                &mut Fixed(Some(latency)),
            );
        }
        let held: Vec<(u64, u8)> = std::iter::from_fn(|| server.poll_held())
            .map(|(at, t)| (at.0, t.data[0]))
            .collect();
        assert_eq!(held, [(120, 110), (140, 100)], "earliest due first");
        assert_eq!(server.poll_timeout(), None);
        assert_eq!(server.poll_transmit(), None);
    }

    #[test]
    fn packets_due_at_the_same_time_leave_in_the_order_they_came() {
        let (turn, alice, bob) = (addr(9, TURN_PORT), addr(1, 5000), addr(2, 5000));
        let mut server = TurnServer::new(turn.ip(), 0);
        let mut path = Fixed(Some(40));
        server.handle_datagram(Timestamp(0), TURN_PORT, alice, &[ALLOCATE], &mut path);
        server.poll_transmit();
        for (at, payload) in [(100, b"1"), (100, b"2"), (90, b"0"), (100, b"3")] {
            let mut send = vec![SEND];
            put_addr(&mut send, bob);
            send.extend_from_slice(payload);
            server.handle_datagram(Timestamp(at), TURN_PORT, alice, &send, &mut path);
        }
        server.handle_timeout(Timestamp(140));
        let order: Vec<Vec<u8>> = std::iter::from_fn(|| server.poll_transmit())
            .map(|t| t.data)
            .collect();
        assert_eq!(order, [b"0", b"1", b"2", b"3"].map(|p| p.to_vec()));
    }
}
