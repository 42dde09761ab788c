//! A real TURN server (RFC 5766 / RFC 8656 over UDP) for the real WebRTC stack: the sans-IO
//! server of `turn-server-proto`, plus what a deployment adds around it, still sans-IO.
//!
//! - **Relayed addresses** are bound by the adapter (a turmoil host, or tokio on a real
//!   interface): the core asks with [`RealTurnOutput::Allocate`] and is told the address with
//!   [`RealTurn::allocated`].
//! - **Media between two clients of this server** (both phones relay-only, SimpleX's default)
//!   goes from one relayed address to the other. That hop never leaves the server: the core
//!   hands it back to itself after the pair's media path ([`MediaPath`]: latency, jitter and
//!   loss) less what the hops to and from the server cost the network that runs it, so a call
//!   through TURN sees the same path between the phones as a direct one, and a blocked path
//!   blocks relayed media too.
//! - **Media between a relayed address and a phone that does not relay** is held for the same
//!   path, on its way out to the phone and on its way in from it.
//!
//! Credentials are SimpleX's own TURN server's (`WebRTCClient.swift`, `defaultIceServers`): the
//! app's settings carry them, and a real TURN server refuses a client without them.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use callsim_engine::protocol::Timestamp;
use turn_server_proto::api::{SocketAllocateError, TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::Instant;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::AddressFamily;
use turn_server_proto::types::stun::TransportType;

use super::turn::MediaPath;

/// The port SimpleX's TURN server listens on (`turn.simplex.im:443`).
pub const REAL_TURN_PORT: u16 = 443;
/// First port of the relayed addresses a simulated server hands out.
pub const FIRST_REAL_RELAY_PORT: u16 = 60_000;
/// The username SimpleX's apps give their TURN server (`WebRTCClient.swift`).
pub const TURN_USERNAME: &str = "private2";
/// The password SimpleX's apps give their TURN server (`WebRTCClient.swift`).
pub const TURN_PASSWORD: &str = "Hxuq2QxUjnhj96Zq2r4HjqHRj";
/// The server's realm, sent to clients in its nonce challenges.
const REALM: &str = "callsim";

/// A TURN server a real-stack phone is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServerConfig {
    /// Where the server listens (UDP).
    pub addr: SocketAddr,
    /// The long-term credential's username.
    pub username: String,
    /// The long-term credential's password.
    pub password: String,
}

impl TurnServerConfig {
    /// A server at `addr` with SimpleX's credentials.
    pub fn simplex(addr: SocketAddr) -> Self {
        TurnServerConfig {
            addr,
            username: TURN_USERNAME.to_owned(),
            password: TURN_PASSWORD.to_owned(),
        }
    }

    /// The ICE server URL, as an app's settings write it.
    pub fn url(&self) -> String {
        format!("turn:{}?transport=udp", self.addr)
    }
}

/// A client's request for a relayed address, to answer with [`RealTurn::allocated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationRequest {
    /// The client's address as the server sees it.
    pub client: SocketAddr,
    listen: SocketAddr,
    family: AddressFamily,
}

impl AllocationRequest {
    /// Whether a relayed address at `ip` is of the family the client asked for (RFC 8656
    /// §7.2: otherwise the server answers 440, Address Family not Supported).
    pub fn family_matches(&self, ip: std::net::IpAddr) -> bool {
        match self.family {
            AddressFamily::IPV4 => ip.is_ipv4(),
            AddressFamily::IPV6 => ip.is_ipv6(),
        }
    }
}

/// What the server asks of the adapter that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealTurnOutput {
    /// Send `data` from the server's address `from` (its listening or a relayed address).
    Transmit {
        /// The server's address it leaves from.
        from: SocketAddr,
        /// Where it goes.
        to: SocketAddr,
        /// What it carries.
        data: Vec<u8>,
    },
    /// Bind a socket for a relayed address and answer with [`RealTurn::allocated`].
    Allocate(AllocationRequest),
    /// The relayed address is released: close its socket.
    Release(SocketAddr),
}

/// A datagram held for the path between the two phones it goes between.
#[derive(Debug)]
enum Held {
    /// Into the server once due: a hop between two of its relayed addresses, or a peer's
    /// datagram to a relayed address.
    Into(Transmit<Vec<u8>>),
    /// Out of the adapter's socket once due: a relayed address's datagram to a peer.
    Out {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
}

/// The server and its relayed addresses.
#[derive(Debug)]
pub struct RealTurn {
    server: TurnServer,
    listen: SocketAddr,
    hop_cost_ms: u64,
    /// Each relayed address's client.
    relays: BTreeMap<SocketAddr, SocketAddr>,
    /// Datagrams held for their pair's path, by due time and order.
    held: BTreeMap<(Timestamp, u64), Held>,
    seq: u64,
    out: VecDeque<RealTurnOutput>,
    /// When the server last asked to be polled again.
    wake: Option<Timestamp>,
}

/// turn-server-proto's clock from callsim's: the same milliseconds, in nanoseconds.
fn instant(at: Timestamp) -> Instant {
    Instant::from_nanos(i64::try_from(at.0.saturating_mul(1_000_000)).unwrap_or(i64::MAX))
}

/// callsim's clock from turn-server-proto's, rounded up to the millisecond.
fn timestamp(at: Instant) -> Timestamp {
    let since = at.saturating_duration_since(Instant::from_nanos(0));
    let ms = since.as_millis() + u128::from(!since.subsec_nanos().is_multiple_of(1_000_000));
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl RealTurn {
    /// A server listening at `listen` that accepts `users` (username, password).
    /// `hop_cost_ms` is what the network running it charges for the two hops to and from it.
    pub fn new(listen: SocketAddr, users: &[(String, String)], hop_cost_ms: u64) -> Self {
        let mut server = TurnServer::new(TransportType::Udp, listen, REALM.to_owned());
        for (user, password) in users {
            server.add_user(user.clone(), password.clone());
        }
        // Nonces last as long as any call: a fresh one would cost each client a round trip.
        server.set_nonce_expiry_duration(Duration::from_secs(3_600));
        RealTurn {
            server,
            listen,
            hop_cost_ms,
            relays: BTreeMap::new(),
            held: BTreeMap::new(),
            seq: 0,
            out: VecDeque::new(),
            wake: None,
        }
    }

    /// Where the server listens.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// A datagram from `from` reached the server's address `local`.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
        path: &mut impl MediaPath,
    ) {
        if let Some(&owner) = self.relays.get(&local) {
            // A peer's datagram to a relayed address: after the path from the peer to the
            // address's client, as if it had gone straight there.
            if let Some(delay) = path.delay(from.ip(), owner.ip()) {
                let hop = Transmit::new(data.to_vec(), TransportType::Udp, from, local);
                self.hold(now, delay, Held::Into(hop));
            }
        } else {
            let transmit = Transmit::new(data, TransportType::Udp, from, local);
            if let Some(reply) = self.server.recv(transmit, instant(now)) {
                let reply = reply.build();
                self.route(now, reply.from, reply.to, reply.data, path);
            }
        }
        self.drain(now, path);
    }

    /// Holds a datagram for a path of `delay_ms`, less what the hops to and from the server
    /// cost the network running it.
    fn hold(&mut self, now: Timestamp, delay_ms: u64, held: Held) {
        let due = now.add_ms(delay_ms.saturating_sub(self.hop_cost_ms));
        self.seq += 1;
        self.held.insert((due, self.seq), held);
    }

    /// The adapter bound (or could not bind) a relayed address for `request`.
    pub fn allocated(
        &mut self,
        now: Timestamp,
        request: AllocationRequest,
        bound: Option<SocketAddr>,
        path: &mut impl MediaPath,
    ) {
        if let Some(addr) = bound {
            self.relays.insert(addr, request.client);
        }
        let answer = match bound {
            Some(addr) => Ok(addr),
            None if request.family_matches(self.listen.ip()) => {
                Err(SocketAllocateError::InsufficientCapacity)
            }
            None => Err(SocketAllocateError::AddressFamilyNotSupported),
        };
        self.server.allocated_socket(
            TransportType::Udp,
            request.listen,
            request.client,
            TransportType::Udp,
            request.family,
            answer,
            instant(now),
        );
        self.drain(now, path);
    }

    /// Time passed: relayed hops that are due arrive, and the server's timers run.
    pub fn handle_timeout(&mut self, now: Timestamp, path: &mut impl MediaPath) {
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Held::Into(hop) => {
                    if let Some(reply) = self.server.recv(hop, instant(now)) {
                        let reply = reply.build();
                        self.route(now, reply.from, reply.to, reply.data, path);
                    }
                }
                Held::Out { from, to, data } => {
                    self.out
                        .push_back(RealTurnOutput::Transmit { from, to, data });
                }
            }
        }
        self.drain(now, path);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let held = self.held.keys().next().map(|(at, _)| *at);
        match (held, self.wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing for the adapter to do.
    pub fn poll_output(&mut self) -> Option<RealTurnOutput> {
        self.out.pop_front()
    }

    /// Runs the server until it waits: its transmits, allocations and releases.
    fn drain(&mut self, now: Timestamp, path: &mut impl MediaPath) {
        loop {
            while let Some(transmit) = self.server.poll_transmit(instant(now)) {
                self.route(now, transmit.from, transmit.to, transmit.data, path);
            }
            match self.server.poll(instant(now)) {
                TurnServerPollRet::WaitUntil(at) => {
                    self.wake = Some(timestamp(at).max(now.add_ms(1)));
                    return;
                }
                TurnServerPollRet::AllocateSocket {
                    listen_addr,
                    client_addr,
                    family,
                    ..
                } => self
                    .out
                    .push_back(RealTurnOutput::Allocate(AllocationRequest {
                        client: client_addr,
                        listen: listen_addr,
                        family,
                    })),
                TurnServerPollRet::SocketClose { listen_addr, .. } => {
                    self.relays.remove(&listen_addr);
                    self.out.push_back(RealTurnOutput::Release(listen_addr));
                }
                // UDP allocations only: nothing connects or closes over TCP.
                TurnServerPollRet::TcpConnect { .. } | TurnServerPollRet::TcpClose { .. } => {}
            }
        }
    }

    /// Sends what the server wrote. From one of its relayed addresses it goes after the media
    /// path between the two phones: back into the server if it is for another relayed address,
    /// else out of the adapter's socket to the peer. Anything else (the server's answers to
    /// its clients, data it hands them) goes out at once: the path was applied on the way in.
    fn route(
        &mut self,
        now: Timestamp,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
        path: &mut impl MediaPath,
    ) {
        let Some(&sender) = self.relays.get(&from) else {
            self.out
                .push_back(RealTurnOutput::Transmit { from, to, data });
            return;
        };
        let (far, held) = match self.relays.get(&to) {
            Some(&receiver) => (
                receiver.ip(),
                Held::Into(Transmit::new(data, TransportType::Udp, from, to)),
            ),
            None => (to.ip(), Held::Out { from, to, data }),
        };
        if let Some(delay) = path.delay(sender.ip(), far) {
            self.hold(now, delay, held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_convert_both_ways_rounding_up() {
        assert_eq!(timestamp(instant(Timestamp(1_234))), Timestamp(1_234));
        assert_eq!(timestamp(Instant::from_nanos(1_000_001)), Timestamp(2));
        assert_eq!(timestamp(Instant::from_nanos(-5)), Timestamp(0));
    }

    #[test]
    fn the_url_is_the_apps_udp_form() {
        let config = TurnServerConfig::simplex("10.0.0.9:443".parse().expect("an address"));
        assert_eq!(config.url(), "turn:10.0.0.9:443?transport=udp");
        assert_eq!(config.username, "private2");
    }
}
