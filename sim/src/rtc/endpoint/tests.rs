//! Two endpoints wired to each other in memory, with a loss model between them: no
//! network stack, no runtime, time jumping to the next event.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use callsim_engine::crypto::MediaKey;

use super::*;
use crate::loss::{Loss, LossState};

const A: usize = 0;
const B: usize = 1;

struct Pair {
    ends: [Endpoint; 2],
    now: Timestamp,
    /// Datagrams on their way: when, to which end, from where, what.
    in_flight: BTreeMap<(Timestamp, u64), (usize, SocketAddr, Vec<u8>)>,
    seq: u64,
    loss: LossState,
    latency_ms: u64,
    connected: [bool; 2],
    responses: [Vec<WebRtcResponse>; 2],
}

fn addr(end: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + end as u8)), RTC_PORT)
}

impl Pair {
    fn new(loss: Loss) -> Self {
        let end = |i: usize| {
            Endpoint::new(EndpointConfig {
                seed: 7 + i as u64,
                address: addr(i),
                encryption: true,
                platform: MediaPlatform::Ios,
                turn: None,
            })
        };
        let mut state = LossState::new(99);
        state.set(loss);
        Pair {
            ends: [end(A), end(B)],
            now: Timestamp(0),
            in_flight: BTreeMap::new(),
            seq: 0,
            loss: state,
            latency_ms: 20,
            connected: [false; 2],
            responses: [Vec::new(), Vec::new()],
        }
    }

    /// Takes every end's outputs: datagrams go on their way (or are lost); the signalling
    /// responses reach the other end as the apps would hand them over.
    fn pump(&mut self) {
        for i in [A, B] {
            while let Some(output) = self.ends[i].poll_output() {
                match output {
                    EndpointOutput::Transmit { to, data } => {
                        if self.loss.drops() {
                            continue;
                        }
                        let to = if to == addr(A) { A } else { B };
                        self.seq += 1;
                        let at = self.now.add_ms(self.latency_ms);
                        self.in_flight.insert((at, self.seq), (to, addr(i), data));
                    }
                    EndpointOutput::Respond { response, .. } => self.respond(i, response),
                }
            }
        }
    }

    fn respond(&mut self, from: usize, response: WebRtcResponse) {
        let other = 1 - from;
        let key = Some(MediaKey([3; 32]));
        let command = match &response {
            WebRtcResponse::Offer {
                offer,
                ice_candidates,
                ..
            } => Some(WebRtcCommand::Offer {
                offer: offer.clone(),
                ice_candidates: ice_candidates.clone(),
                media: CallMediaType::Audio,
                aes_key: key,
                relay: false,
            }),
            WebRtcResponse::Answer {
                answer,
                ice_candidates,
            } => Some(WebRtcCommand::Answer {
                answer: answer.clone(),
                ice_candidates: ice_candidates.clone(),
            }),
            WebRtcResponse::Ice { ice_candidates } => Some(WebRtcCommand::Ice {
                ice_candidates: ice_candidates.clone(),
            }),
            WebRtcResponse::Connection { state }
                if state.ice_connection_state == IceConnectionState::Connected =>
            {
                self.connected[from] = true;
                None
            }
            _ => None,
        };
        self.responses[from].push(response);
        if let Some(command) = command {
            self.ends[other].handle_command(self.now, 1, command);
        }
    }

    /// Runs to `end`, from event to event.
    fn run_until(&mut self, end: Timestamp) {
        loop {
            self.pump();
            let timers = [A, B].map(|i| self.ends[i].poll_timeout());
            let next_datagram = self.in_flight.keys().next().map(|(at, _)| *at);
            let next = timers.into_iter().flatten().chain(next_datagram).min();
            let Some(next) = next.filter(|at| *at <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            if let Some(entry) = self.in_flight.first_entry()
                && entry.key().0 <= self.now
            {
                let (to, from, data) = entry.remove();
                self.ends[to].handle_datagram(self.now, from, &data);
                continue;
            }
            for i in [A, B] {
                if self.ends[i].poll_timeout().is_some_and(|at| at <= self.now) {
                    self.ends[i].handle_timeout(self.now);
                }
            }
        }
    }

    fn call(&mut self) {
        self.ends[A].handle_command(
            self.now,
            1,
            WebRtcCommand::Start {
                media: CallMediaType::Audio,
                aes_key: Some(MediaKey([3; 32])),
                relay: false,
            },
        );
        self.run_until(Timestamp(5_000));
    }
}

#[test]
fn two_endpoints_connect_and_carry_encrypted_audio_without_a_network_stack() {
    let mut pair = Pair::new(Loss::None);
    pair.call();
    assert_eq!(pair.connected, [true, true], "{:?}", pair.responses);
    let connected = |r: &WebRtcResponse| matches!(r, WebRtcResponse::Connected { .. });
    assert!(pair.responses[A].iter().any(connected));
    pair.run_until(Timestamp(15_000));
    let b = pair.ends[B].stats();
    assert!(b.audio_frames_received >= 495, "{b:?}");
    assert_eq!(b.audio_frames_received, b.frames_decrypted, "{b:?}");
    assert_eq!((b.undecryptable_frames, b.packets_lost), (0, 0), "{b:?}");
    assert_eq!(b.rtt_ms, Some(40), "two hops of 20 ms");
}

#[test]
fn random_loss_between_endpoints_shows_in_frames_and_packets_lost() {
    let mut pair = Pair::new(Loss::Random { rate: 0.0 });
    pair.call();
    pair.loss.set(Loss::Random { rate: 0.1 });
    pair.run_until(Timestamp(15_000));
    let b = pair.ends[B].stats().clone();
    let sent = pair.ends[A].stats().audio_frames_sent;
    let received = b.audio_frames_received;
    let share = received as f64 / sent as f64;
    assert!((0.85..0.95).contains(&share), "{received} of {sent}");
    assert!(
        b.packets_lost > 0 && b.packets_lost + received >= sent - 2,
        "{b:?}"
    );
}

#[test]
fn silence_ends_a_connected_call_and_a_blocked_path_fails_one_that_never_connects() {
    let mut pair = Pair::new(Loss::None);
    pair.call();
    pair.loss.set(Loss::Blocked);
    pair.run_until(Timestamp(11_000));
    let closed = |r: &WebRtcResponse| {
        matches!(r, WebRtcResponse::Connection { state }
            if state.ice_connection_state == IceConnectionState::Disconnected)
    };
    assert!(
        pair.responses[B].iter().any(closed),
        "{:?}",
        pair.responses[B]
    );
    assert!(!pair.ends[B].has_session());

    let mut pair = Pair::new(Loss::Blocked);
    pair.call();
    pair.run_until(Timestamp(40_000));
    assert_eq!(pair.connected, [false, false]);
    assert_eq!(pair.ends[B].stats().failed, 1, "30 s after checking began");
}
