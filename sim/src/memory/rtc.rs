//! WebRTC in the in-memory world: the scripted network of `callsim-mocks`, or SimRtc endpoints
//! whose datagrams the world carries over the media paths (through the TURN server for
//! relay-only calls).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use callsim_engine::crypto::MediaPlatform;
use callsim_engine::ids::ClientId;
use callsim_engine::io::webrtc::WebRtcResponse;
use callsim_engine::protocol::Timestamp;
use callsim_mocks::webrtc::RtcTiming;

use crate::paths::MediaPaths;
use crate::rtc::endpoint::{Endpoint, EndpointConfig, EndpointOutput, RTC_PORT};
use crate::rtc::turn::{TURN_PORT, TurnServer};
use crate::rtc::{RtcControl, RtcStats};

/// Which WebRTC the in-memory world runs.
#[derive(Debug, Clone)]
pub enum WebRtcModel {
    /// The scripted network: sessions connect after fixed delays, no packets, no media. The
    /// fastest; what the engine benchmark and the app-logic tests use.
    Scripted(RtcTiming),
    /// SimRtc endpoints, as in the turmoil world: ICE checks, a DTLS-shaped handshake and
    /// encrypted media frames, carried over the world's media paths with their loss, latency
    /// and jitter, and through a TURN server for the relay-only policy.
    SimRtc,
}

impl Default for WebRtcModel {
    fn default() -> Self {
        WebRtcModel::Scripted(RtcTiming::default())
    }
}

/// A phone's address in the in-memory world.
pub(super) fn phone_ip(index: usize) -> IpAddr {
    let n = u32::try_from(index).unwrap_or(u32::MAX - 2) + 2;
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n))
}

/// The TURN server's address.
const TURN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1));

/// What the SimRtc network asks the world to do.
#[derive(Debug, Clone)]
pub(super) enum NetOutput {
    /// Carry a datagram, arriving after `delay_ms`.
    Carry {
        delay_ms: u64,
        to: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
    /// Hand a response to a phone.
    Respond {
        phone: usize,
        client: ClientId,
        response: WebRtcResponse,
    },
}

/// Where a SimRtc timer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum NetTimer {
    /// A phone's endpoint.
    Phone(usize),
    /// The TURN server.
    Turn,
}

/// Every phone's SimRtc endpoint, the TURN server and the media paths between them.
#[derive(Debug, Clone)]
pub(super) struct SimNet {
    seed: u64,
    endpoints: Vec<Endpoint>,
    platforms: Vec<MediaPlatform>,
    /// Each endpoint's next deadline, as it said after it was last handled (an endpoint's
    /// timers change only then), and the TURN server's.
    deadlines: Vec<Option<Timestamp>>,
    turn_deadline: Option<Timestamp>,
    turn: Option<TurnServer>,
    pub(super) paths: MediaPaths,
}

impl SimNet {
    pub(super) fn new(seed: u64, media_latency_ms: u64) -> Self {
        SimNet {
            seed,
            endpoints: Vec::new(),
            platforms: Vec::new(),
            deadlines: Vec::new(),
            turn_deadline: None,
            turn: None,
            paths: MediaPaths::new(seed, media_latency_ms),
        }
    }

    fn config(&self, index: usize, encryption: bool, platform: MediaPlatform) -> EndpointConfig {
        EndpointConfig {
            seed: self.seed.wrapping_mul(31).wrapping_add(index as u64 + 1),
            address: SocketAddr::new(phone_ip(index), RTC_PORT),
            encryption,
            platform,
            turn: Some(SocketAddr::new(TURN_IP, TURN_PORT)),
        }
    }

    /// Adds the next phone's endpoint.
    pub(super) fn add(&mut self, encryption: bool, platform: MediaPlatform) {
        let config = self.config(self.endpoints.len(), encryption, platform);
        self.endpoints.push(Endpoint::new(config));
        self.platforms.push(platform);
        self.deadlines.push(None);
        if self.turn.is_none() {
            // The hops to and from the server cost nothing here: it applies the whole path.
            self.turn = Some(TurnServer::new(TURN_IP, 0));
        }
    }

    /// Whether a phone's engine supports frame encryption; takes effect if it has no session
    /// (a new engine replaces the idle one).
    pub(super) fn set_encryption(&mut self, index: usize, encryption: bool) {
        if let Some(endpoint) = self.endpoints.get(index)
            && !endpoint.has_session()
        {
            let platform = self.platforms[index];
            let config = self.config(index, encryption, platform);
            self.endpoints[index] = Endpoint::new(config);
            self.deadlines[index] = None;
        }
    }

    pub(super) fn use_wrong_key(&mut self, index: usize) {
        if let Some(endpoint) = self.endpoints.get_mut(index) {
            endpoint.use_wrong_key();
        }
    }

    pub(super) fn stats(&self, index: usize) -> RtcStats {
        self.endpoints
            .get(index)
            .map(|e| e.stats().clone())
            .unwrap_or_default()
    }

    /// A control for a phone's engine.
    pub(super) fn control(
        &mut self,
        now: Timestamp,
        index: usize,
        control: RtcControl,
        out: &mut Vec<NetOutput>,
    ) {
        if let Some(endpoint) = self.endpoints.get_mut(index) {
            endpoint.handle_control(now, control);
            self.drain(index, out);
        }
    }

    /// A datagram reached `to`.
    pub(super) fn datagram(
        &mut self,
        now: Timestamp,
        to: SocketAddr,
        from: SocketAddr,
        data: &[u8],
        out: &mut Vec<NetOutput>,
    ) {
        if to.ip() == TURN_IP {
            if let Some(turn) = self.turn.as_mut() {
                turn.handle_datagram(now, to.port(), from, data, &mut self.paths);
                self.drain_turn(out);
            }
        } else if let Some(index) = self.index_of(to) {
            self.endpoints[index].handle_datagram(now, from, data);
            self.drain(index, out);
        }
    }

    fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        (0..self.endpoints.len()).find(|&i| phone_ip(i) == addr.ip() && addr.port() == RTC_PORT)
    }

    /// The earliest timer, and whose.
    pub(super) fn next_timeout(&self) -> Option<(Timestamp, NetTimer)> {
        let mut next = self.turn_deadline.map(|at| (at, NetTimer::Turn));
        for (i, deadline) in self.deadlines.iter().enumerate() {
            if let Some(at) = *deadline {
                let this = (at, NetTimer::Phone(i));
                if next.is_none_or(|n| this < n) {
                    next = Some(this);
                }
            }
        }
        next
    }

    /// A timer fired.
    pub(super) fn timeout(&mut self, now: Timestamp, timer: NetTimer, out: &mut Vec<NetOutput>) {
        match timer {
            NetTimer::Phone(index) => {
                self.endpoints[index].handle_timeout(now);
                self.drain(index, out);
            }
            NetTimer::Turn => {
                if let Some(turn) = self.turn.as_mut() {
                    turn.handle_timeout(now);
                    self.drain_turn(out);
                }
            }
        }
    }

    /// What a phone's endpoint asks for: datagrams over the media path (to the TURN server at
    /// no cost: it applies the path itself), responses to the phone.
    fn drain(&mut self, index: usize, out: &mut Vec<NetOutput>) {
        self.deadlines[index] = self.endpoints[index].poll_timeout();
        let from = SocketAddr::new(phone_ip(index), RTC_PORT);
        while let Some(output) = self.endpoints[index].poll_output() {
            match output {
                EndpointOutput::Transmit { to, data } => {
                    let delay = if to.ip() == TURN_IP {
                        Some(0)
                    } else {
                        self.paths.delay(from.ip(), to.ip())
                    };
                    if let Some(delay_ms) = delay {
                        out.push(NetOutput::Carry {
                            delay_ms,
                            to,
                            from,
                            data,
                        });
                    }
                }
                EndpointOutput::Respond { client, response } => out.push(NetOutput::Respond {
                    phone: index,
                    client,
                    response,
                }),
            }
        }
    }

    fn drain_turn(&mut self, out: &mut Vec<NetOutput>) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        self.turn_deadline = turn.poll_timeout();
        while let Some(t) = turn.poll_transmit() {
            out.push(NetOutput::Carry {
                delay_ms: 0,
                to: t.to,
                from: SocketAddr::new(TURN_IP, t.from_port),
                data: t.data,
            });
        }
    }
}
