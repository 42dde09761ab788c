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

/// Every phone's SimRtc endpoint, the TURN server and the media paths between them.
#[derive(Debug, Clone)]
pub(super) struct SimNet {
    seed: u64,
    endpoints: Vec<Endpoint>,
    platforms: Vec<MediaPlatform>,
    /// Each endpoint's next deadline, as it said after it was last handled (an endpoint's
    /// timers change only then). The TURN server has none here: what it holds is scheduled
    /// at once ([`TurnServer::poll_held`]).
    deadlines: Vec<Option<Timestamp>>,
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
                self.drain_turn(now, out);
            }
        } else if let Some(index) = self.index_of(to) {
            self.endpoints[index].handle_datagram(now, from, data);
            self.drain(index, out);
        }
    }

    fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        (0..self.endpoints.len()).find(|&i| phone_ip(i) == addr.ip() && addr.port() == RTC_PORT)
    }

    /// The earliest endpoint timer, and whose (the phone's index).
    pub(super) fn next_timeout(&self) -> Option<(Timestamp, usize)> {
        self.deadlines
            .iter()
            .enumerate()
            .filter_map(|(i, deadline)| deadline.map(|at| (at, i)))
            .min()
    }

    /// A phone's endpoint timer fired.
    pub(super) fn timeout(&mut self, now: Timestamp, index: usize, out: &mut Vec<NetOutput>) {
        self.endpoints[index].handle_timeout(now);
        self.drain(index, out);
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

    fn drain_turn(&mut self, now: Timestamp, out: &mut Vec<NetOutput>) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        let from = |port| SocketAddr::new(TURN_IP, port);
        while let Some(t) = turn.poll_transmit() {
            out.push(NetOutput::Carry {
                delay_ms: 0,
                to: t.to,
                from: from(t.from_port),
                data: t.data,
            });
        }
        // Held packets are scheduled at once for when they are due: the world's queue holds
        // them, one event each instead of a server timer and an event.
        while let Some((at, t)) = turn.poll_held() {
            out.push(NetOutput::Carry {
                delay_ms: at.0.saturating_sub(now.0),
                to: t.to,
                from: from(t.from_port),
                data: t.data,
            });
        }
    }
}
