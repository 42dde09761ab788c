//! SimRtc: the engine's `WebRtc` backend as a light model of a real stack, written as a sans-IO
//! endpoint (str0m's ICE agent and quinn's endpoint are the models): commands, direct calls and
//! datagrams go in with the time; datagrams to send and responses for the phone come out; the
//! endpoint says when it next needs the time. It reads no clock and owns no socket, so the
//! turmoil world, the in-memory world and a unit test run the same code.
//!
//! - **Gathering**: a host candidate at once, sent with the offer or answer after 750 ms (the
//!   apps' initial wait), then one server-reflexive candidate trickled 1.5 s later.
//! - **ICE**: binding requests to every remote candidate every 50 ms until one answers; a
//!   request from an unknown address adds it (peer-reflexive).
//! - **DTLS**: four flights between the answerer (client, `setup:active`) and the offerer, each
//!   retransmitted after 1 s, doubling, until answered. The offerer takes part only once it has
//!   the answer, so a call cannot connect before the answer reached it.
//! - **Media**: once connected, audio frames every 20 ms (Opus-shaped, 80 bytes) and for video
//!   calls VP8-shaped frames at 30 fps with a key frame every 2 s, split into packets of at most
//!   1,100 bytes. Every frame is encrypted with the call's media key in SimpleX's layout before
//!   it is sent and decrypted on arrival; a frame that fails is counted and dropped.
//! - **Liveness**: a binding request every second while connected; silence for 5 s is
//!   `disconnected` and not connecting within 30 s of checking is `failed` (SimpleX's
//!   `iceInactiveTimeout`), both ending the call at once as SimpleX's `WebRTCClient` does.
//! - **Relay-only policy**: with a TURN server, a session allocates a relayed address, offers
//!   it as its only candidate (`typ relay`), and sends everything through the server.
//!
//! Each of the phone's WebRTC clients is a peer connection of its own: a command from a client
//! that is not the live session's has nothing to act on.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use callsim_engine::crypto::{FrameCipher, FrameKind, MediaKey, MediaPlatform};
use callsim_engine::ids::ClientId;
use callsim_engine::io::webrtc::{
    CandidateType, ClientCall, CommandKind, ConnectionInfo, ConnectionState, IceConnectionState,
    WebRtcCommand, WebRtcResponse,
};
use callsim_engine::protocol::rtc::{self, RtcIceCandidate, RtcSessionDescription, SdpType};
use callsim_engine::protocol::{CallCapabilities, CallMediaType, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::media::{self, AUDIO_EVERY_MS, FrameReceiver, VIDEO_EVERY_MS};
use super::receive::{ReceiveStats, add_lost};
use super::sdp::SdpIdentity;
use super::timers::Timers;
use super::turn::{ALLOCATE, ALLOCATED, DATA, SEND, put_addr, take_addr};
use super::{NewSession, Role, Routed, RtcControl, RtcStats, Sender, route, sender_of};

mod wire;

use wire::*;

/// The UDP port every phone's engine uses.
pub const RTC_PORT: u16 = 5000;
const GATHER_MS: u64 = 750;
const TRICKLE_MS: u64 = 1_500;
const CHECK_EVERY_MS: u64 = 50;
const DTLS_RTO_MS: u64 = 1_000;
const KEEPALIVE_MS: u64 = 1_000;
const DISCONNECTED_AFTER_MS: u64 = 5_000;
const FAILED_AFTER_MS: u64 = 30_000;
const MAX_PACKET: usize = 1_100;

const BIND_REQUEST: u8 = 1;
const BIND_RESPONSE: u8 = 2;
const DTLS: u8 = 3;
const MEDIA: u8 = 4;

/// What an endpoint is.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Seeds its choices (tokens, SDP identities, frame IVs).
    pub seed: u64,
    /// Its own address, for its candidates.
    pub address: SocketAddr,
    /// Whether it supports frame encryption.
    pub encryption: bool,
    /// Whose frame encryption it runs.
    pub platform: MediaPlatform,
    /// The TURN server of the relay-only policy, if the network has one.
    pub turn: Option<SocketAddr>,
}

/// What the endpoint asks of whoever runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointOutput {
    /// Send this datagram.
    Transmit {
        /// Where to.
        to: SocketAddr,
        /// What.
        data: Vec<u8>,
    },
    /// Hand this response to the phone, from this client.
    Respond {
        /// The client whose command or connection it is.
        client: ClientId,
        /// The response.
        response: WebRtcResponse,
    },
}

/// The endpoint's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Send the offer or answer with the candidates gathered.
    Describe,
    /// Trickle the server-reflexive candidate.
    Trickle,
    /// The next round of ICE checks.
    Check,
    /// Give up: not connected 30 s after checking began.
    Fail,
    /// Retransmit the last DTLS flight.
    DtlsResend,
    /// A binding request to the selected pair.
    Keepalive,
    /// Nothing heard for 5 s.
    Silence,
    /// The next audio frame.
    Audio,
    /// The next video frame.
    Video,
}

/// The phases of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No remote description yet.
    Waiting,
    /// Connectivity checks.
    Checking,
    /// DTLS in progress; the last flight sent (0: none yet), and the retransmission timeout.
    Dtls {
        sent: u8,
        rto_ms: u64,
    },
    Connected,
}

/// One receiver: its RFC 3550 statistics, video fragments and frame decryptor.
#[derive(Debug, Clone, Default)]
struct Receiving {
    stats: ReceiveStats,
    /// Video fragments by frame sequence.
    fragments: BTreeMap<u32, Vec<Option<Vec<u8>>>>,
    frames: FrameReceiver,
}

/// A session under the relay-only policy: everything goes through the TURN server.
#[derive(Debug, Clone, Copy)]
struct Relayed {
    server: SocketAddr,
    /// The relayed address, once allocated.
    address: Option<SocketAddr>,
}

/// One peer connection.
#[derive(Debug, Clone)]
struct Session {
    client: ClientId,
    token: String,
    relayed: Option<Relayed>,
    /// The description waits for the relayed address.
    describe_when_allocated: bool,
    role: Role,
    media: CallMediaType,
    cipher: Option<FrameCipher>,
    remote: Vec<SocketAddr>,
    /// Remote candidates of type `relay`.
    remote_relayed: Vec<SocketAddr>,
    selected: Option<SocketAddr>,
    phase: Phase,
    audio_seq: u32,
    video_seq: u32,
    mic: bool,
    camera: bool,
    audio_in: Receiving,
    video_in: Receiving,
    timers: Timers<Timer>,
}

/// A SimRtc endpoint: one phone's WebRTC engine.
#[derive(Debug, Clone)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: ChaCha8Rng,
    /// Boxed: handlers take the session out and put it back for every packet and timer, and
    /// a session (ciphers, receivers, timers) is large to move.
    session: Option<Box<Session>>,
    /// Whose responses the engine is sending: the client of the command or session at hand.
    client: ClientId,
    stats: RtcStats,
    wrong_key: bool,
    outputs: VecDeque<EndpointOutput>,
}

fn connection(state: IceConnectionState) -> WebRtcResponse {
    WebRtcResponse::Connection {
        state: ConnectionState::ice(state),
    }
}

impl Endpoint {
    /// A new endpoint with no session.
    pub fn new(config: EndpointConfig) -> Self {
        Endpoint {
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x5254_4300),
            config,
            session: None,
            client: ClientId::default(),
            stats: RtcStats::default(),
            wrong_key: false,
            outputs: VecDeque::new(),
        }
    }

    /// Its counters over the whole run.
    pub fn stats(&self) -> &RtcStats {
        &self.stats
    }

    /// A fault: the next sessions use a wrong media key.
    pub fn use_wrong_key(&mut self) {
        self.wrong_key = true;
    }

    /// Whether a session is live.
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// A control: a command, a direct call, or the process's death.
    pub fn handle_control(&mut self, now: Timestamp, control: RtcControl) {
        match control {
            RtcControl::Command(client, command) => self.handle_command(now, client, command),
            RtcControl::Call(client, call) => self.handle_call(now, client, call),
            RtcControl::Kill => self.session = None,
        }
    }

    /// A command of the phone, from one of its clients.
    pub fn handle_command(&mut self, now: Timestamp, client: ClientId, command: WebRtcCommand) {
        self.client = client;
        match route(self.session.as_ref().map(|s| s.client), client, command) {
            Routed::Engine(command) => self.command(now, command),
            Routed::Answer(response) => self.respond(response),
        }
    }

    fn command(&mut self, now: Timestamp, command: WebRtcCommand) {
        if let Some(request) = NewSession::of(&command) {
            self.open(now, request);
            return;
        }
        match command {
            WebRtcCommand::Capabilities { .. } => {
                let capabilities = CallCapabilities {
                    encryption: self.config.encryption,
                };
                self.respond(WebRtcResponse::Capabilities { capabilities });
            }
            WebRtcCommand::Start { .. } | WebRtcCommand::Offer { .. } => {}
            WebRtcCommand::Answer { ice_candidates, .. } => {
                let waiting = self
                    .session
                    .as_mut()
                    .filter(|s| s.role == Role::Offerer && s.phase == Phase::Waiting);
                match waiting {
                    Some(session) => {
                        session.add_candidates(&ice_candidates);
                        session.start_checking(now);
                        self.respond(WebRtcResponse::Ok {
                            command: CommandKind::Answer,
                        });
                        self.respond(connection(IceConnectionState::Checking));
                    }
                    None => self.respond(WebRtcResponse::Error {
                        message: "answer: call not started".into(),
                    }),
                }
            }
            WebRtcCommand::Ice { ice_candidates } => match self.session.as_mut() {
                Some(session) => {
                    session.add_candidates(&ice_candidates);
                    self.respond(WebRtcResponse::Ok {
                        command: CommandKind::Ice,
                    });
                }
                None => self.respond(WebRtcResponse::Error {
                    message: "ice: call not started".into(),
                }),
            },
            WebRtcCommand::Media { source, enable } => match self.session.as_mut() {
                Some(session) => {
                    match sender_of(source) {
                        Some(Sender::Mic) => session.set_mic(now, enable),
                        Some(Sender::Camera) => session.set_camera(now, enable),
                        None => {}
                    }
                    self.respond(WebRtcResponse::Ok {
                        command: CommandKind::Media,
                    });
                }
                None => self.respond(WebRtcResponse::Error {
                    message: "media: call not started".into(),
                }),
            },
            WebRtcCommand::Camera { .. } => {}
            WebRtcCommand::End => {
                self.respond(WebRtcResponse::Ok {
                    command: CommandKind::End,
                });
                // Then the client ends its call: the closed connection reports.
                self.close();
            }
        }
    }

    /// `start` (a session that offers) or `offer` (one that answers the peer's offer).
    fn open(&mut self, now: Timestamp, request: NewSession) {
        let token = match &request.remote {
            None => format!("{:08x}", self.rng.next_u32()),
            Some(remote) => match ice_ufrag(&remote.description) {
                Some(token) => token,
                None => {
                    self.respond(WebRtcResponse::Error {
                        message: "offer: bad session description".into(),
                    });
                    return;
                }
            },
        };
        let key = request.key.filter(|_| self.config.encryption);
        let mut session =
            self.new_session(now, token, request.role, request.media, key, request.relay);
        if let Some(remote) = &request.remote {
            session.add_candidates(&remote.candidates);
            session.start_checking(now);
        }
        self.session = Some(Box::new(session));
        if request.remote.is_some() {
            self.respond(connection(IceConnectionState::Checking));
        }
    }

    /// A direct call of the call view, to one of the phone's clients.
    pub fn handle_call(&mut self, now: Timestamp, client: ClientId, call: ClientCall) {
        self.client = client;
        if self.session.as_ref().is_some_and(|s| s.client != client) {
            // A client without a session has nothing to change.
            return;
        }
        match call {
            ClientCall::SetAudioEnabled { enabled } => {
                if let Some(session) = self.session.as_mut() {
                    session.set_mic(now, enabled);
                }
            }
            ClientCall::SetCameraEnabled { enabled } => {
                if let Some(session) = self.session.as_mut() {
                    session.set_camera(now, enabled);
                }
            }
            ClientCall::FlipCamera { .. } => {}
            ClientCall::EndCall => self.close(),
        }
    }

    /// `endCall`: the peer connection closes, and its ICE reports `closed`.
    fn close(&mut self) {
        if self.session.take().is_some() {
            self.respond(connection(IceConnectionState::Closed));
        }
    }

    fn new_session(
        &mut self,
        now: Timestamp,
        token: String,
        role: Role,
        media: CallMediaType,
        key: Option<MediaKey>,
        relay: bool,
    ) -> Session {
        self.stats.sessions += 1;
        // Relay-only: allocate a relayed address and gather nothing else.
        let relayed = self.config.turn.filter(|_| relay).map(|server| {
            self.transmit(server, vec![ALLOCATE]);
            Relayed {
                server,
                address: None,
            }
        });
        let key = key.map(|mut k| {
            if self.wrong_key {
                k.0[0] ^= 0xFF;
            }
            k
        });
        let mut timers = Timers::default();
        timers.set(Timer::Describe, now.add_ms(GATHER_MS));
        if relayed.is_none() {
            timers.set(Timer::Trickle, now.add_ms(GATHER_MS + TRICKLE_MS));
        }
        Session {
            client: self.client,
            token,
            relayed,
            describe_when_allocated: false,
            role,
            media,
            cipher: key.map(|k| FrameCipher::new(&k, self.config.platform)),
            remote: Vec::new(),
            remote_relayed: Vec::new(),
            selected: None,
            phase: Phase::Waiting,
            audio_seq: 0,
            video_seq: 0,
            mic: true,
            camera: media == CallMediaType::Video,
            audio_in: Receiving::default(),
            video_in: Receiving::default(),
            timers,
        }
    }

    fn respond(&mut self, response: WebRtcResponse) {
        self.outputs.push_back(EndpointOutput::Respond {
            client: self.client,
            response,
        });
    }

    fn transmit(&mut self, to: SocketAddr, data: Vec<u8>) {
        self.outputs
            .push_back(EndpointOutput::Transmit { to, data });
    }

    /// Sends a packet to a peer: through the TURN server while the session relays.
    fn send(&mut self, relay: Option<SocketAddr>, to: SocketAddr, packet: Vec<u8>) {
        match relay {
            Some(server) => {
                // The packet's buffer has room for this prefix (`wire::header_with_room`):
                // wrapping moves bytes but allocates nothing.
                let mut prefix = Vec::with_capacity(7);
                prefix.push(SEND);
                put_addr(&mut prefix, to);
                let mut wrapped = packet;
                wrapped.splice(0..0, prefix);
                self.transmit(server, wrapped);
            }
            None => self.transmit(to, packet),
        }
    }

    fn local_candidate(&self, typ: &str) -> RtcIceCandidate {
        let ip = self.config.address.ip();
        let port = self.config.address.port();
        let extra = if typ == "host" {
            String::new()
        } else {
            format!(" raddr {ip} rport {port}")
        };
        RtcIceCandidate {
            candidate_type: None,
            protocol: None,
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            candidate: format!("candidate:1 1 udp 2122260223 {ip} {port} typ {typ}{extra}"),
            username_fragment: None,
        }
    }

    /// The session's description, with SimpleX's four transceivers; its ICE username is the
    /// session's token, which pairs the two ends.
    fn sdp(&mut self, token: &str, kind: SdpType) -> String {
        let identity = SdpIdentity::new(token, &mut self.rng);
        let sdp = super::sdp::description(kind, &identity);
        rtc::encode_session(&RtcSessionDescription { kind, sdp })
    }

    /// When [`Endpoint::handle_timeout`] is next needed.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.session.as_ref().and_then(|s| s.timers.next())
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<EndpointOutput> {
        self.outputs.pop_front()
    }

    /// Time passed: the session's due timers fire.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        self.client = session.client;
        let relay = session.relay_server();
        if session.timers.take_due(Timer::Describe, now) {
            if session.gathered() {
                self.describe(&session);
            } else {
                session.describe_when_allocated = true;
            }
        }
        if session.timers.take_due(Timer::Trickle, now) {
            let candidates = rtc::encode_candidates(&[self.local_candidate("srflx")]);
            self.respond(WebRtcResponse::Ice {
                ice_candidates: candidates,
            });
        }
        if session.phase == Phase::Connected {
            if session.timers.is_due(Timer::Silence, now) {
                self.stats.disconnected += 1;
                // SimpleX ends the call at once: the client closes its connection.
                self.respond(connection(IceConnectionState::Disconnected));
                self.respond(connection(IceConnectionState::Closed));
                return;
            }
            if session.timers.take_due(Timer::Keepalive, now) {
                session
                    .timers
                    .set(Timer::Keepalive, now.add_ms(KEEPALIVE_MS));
                if let Some(to) = session.selected {
                    let packet = bind_packet(BIND_REQUEST, &session.token, now);
                    self.send(relay, to, packet);
                }
            }
            self.send_media(&mut session, now);
        } else if session.timers.is_due(Timer::Fail, now) {
            // Not connected within `iceInactiveTimeout`.
            self.stats.failed += 1;
            self.respond(connection(IceConnectionState::Failed));
            self.respond(connection(IceConnectionState::Closed));
            return;
        } else if session.timers.take_due(Timer::Check, now) {
            session.timers.set(Timer::Check, now.add_ms(CHECK_EVERY_MS));
            let packet = bind_packet(BIND_REQUEST, &session.token, now);
            for to in session.remote.clone() {
                self.send(relay, to, packet.clone());
            }
        } else if let Phase::Dtls { sent, rto_ms } = session.phase
            && sent > 0
            && session.timers.take_due(Timer::DtlsResend, now)
        {
            if let Some(to) = session.selected {
                self.send(relay, to, dtls_packet(&session.token, sent));
            }
            session.phase = Phase::Dtls {
                sent,
                rto_ms: rto_ms * 2,
            };
            session
                .timers
                .set(Timer::DtlsResend, now.add_ms(rto_ms * 2));
        }
        self.session = Some(session);
    }

    /// The offer or answer, with the one candidate it has: the relayed address, or the host.
    fn describe(&mut self, session: &Session) {
        let candidate = match session.relayed.and_then(|r| r.address) {
            Some(address) => relay_candidate(address),
            None => self.local_candidate("host"),
        };
        let candidates = rtc::encode_candidates(&[candidate]);
        let capabilities = CallCapabilities {
            encryption: self.config.encryption,
        };
        let response = match session.role {
            Role::Offerer => WebRtcResponse::Offer {
                offer: self.sdp(&session.token, SdpType::Offer),
                ice_candidates: candidates,
                capabilities,
            },
            Role::Answerer => WebRtcResponse::Answer {
                answer: self.sdp(&session.token, SdpType::Answer),
                ice_candidates: candidates,
            },
        };
        self.respond(response);
    }

    fn send_media(&mut self, session: &mut Session, now: Timestamp) {
        let relay = session.relay_server();
        let Some(to) = session.selected else {
            return;
        };
        while session.mic && session.timers.is_due(Timer::Audio, now) {
            let due = session.timers.get(Timer::Audio).unwrap_or(now);
            session.timers.set(Timer::Audio, due.add_ms(AUDIO_EVERY_MS));
            session.audio_seq += 1;
            let frame = media::audio_out(session.cipher.as_ref(), session.audio_seq, &mut self.rng);
            let packet = media_packet(&session.token, 0, session.audio_seq, 0, 1, now.0, &frame);
            self.send(relay, to, packet);
            self.stats.audio_frames_sent += 1;
            self.stats.packets_sent += 1;
        }
        while session.media == CallMediaType::Video
            && session.camera
            && session.timers.is_due(Timer::Video, now)
        {
            let due = session.timers.get(Timer::Video).unwrap_or(now);
            session.timers.set(Timer::Video, due.add_ms(VIDEO_EVERY_MS));
            session.video_seq += 1;
            let frame = media::video_out(session.cipher.as_ref(), session.video_seq, &mut self.rng);
            let chunks: Vec<&[u8]> = frame.chunks(MAX_PACKET).collect();
            let count = u8::try_from(chunks.len()).unwrap_or(u8::MAX);
            for (i, chunk) in chunks.iter().enumerate() {
                let index = u8::try_from(i).unwrap_or(u8::MAX);
                let packet = media_packet(
                    &session.token,
                    1,
                    session.video_seq,
                    index,
                    count,
                    now.0,
                    chunk,
                );
                self.send(relay, to, packet);
                self.stats.packets_sent += 1;
            }
            self.stats.video_frames_sent += 1;
        }
    }

    /// A datagram from `from` reached this endpoint.
    pub fn handle_datagram(&mut self, now: Timestamp, from: SocketAddr, data: &[u8]) {
        let relay = self
            .session
            .as_ref()
            .and_then(|s| s.relayed.map(|r| r.server));
        if relay == Some(from) {
            match data.split_first() {
                Some((&ALLOCATED, port)) => self.allocated(from, port),
                Some((&DATA, rest)) => {
                    if let Some((peer, payload)) = take_addr(rest) {
                        self.handle_datagram(now, peer, payload);
                    }
                }
                _ => {}
            }
            return;
        }
        let Some((kind, token, body)) = parse_header(data) else {
            return;
        };
        let Some(mut session) = self.session.take() else {
            return;
        };
        if token != session.token.as_bytes() {
            // A packet of an earlier call: ignored, as a stack ignores a foreign ufrag.
            self.session = Some(session);
            return;
        }
        self.client = session.client;
        let relay = session.relay_server();
        if session.phase == Phase::Connected {
            session
                .timers
                .set(Timer::Silence, now.add_ms(DISCONNECTED_AFTER_MS));
        }
        match kind {
            BIND_REQUEST => {
                let mut reply = header(BIND_RESPONSE, &session.token);
                reply.extend_from_slice(body);
                self.send(relay, from, reply);
                if !session.remote.contains(&from) {
                    session.remote.push(from);
                }
            }
            BIND_RESPONSE => {
                if let Some(sent) = body.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    self.stats.rtt_ms = Some(now.0.saturating_sub(u64::from_be_bytes(sent)));
                }
                if session.phase == Phase::Checking {
                    session.selected = Some(from);
                    session.timers.stop(Timer::Check);
                    session.phase = match session.role {
                        Role::Answerer => {
                            self.send(relay, from, dtls_packet(&session.token, 1));
                            session
                                .timers
                                .set(Timer::DtlsResend, now.add_ms(DTLS_RTO_MS));
                            Phase::Dtls {
                                sent: 1,
                                rto_ms: DTLS_RTO_MS,
                            }
                        }
                        Role::Offerer => Phase::Dtls {
                            sent: 0,
                            rto_ms: DTLS_RTO_MS,
                        },
                    };
                }
            }
            DTLS => self.dtls(&mut session, body.first().copied().unwrap_or(0), from, now),
            MEDIA => self.media(&mut session, body, now),
            _ => {}
        }
        self.session = Some(session);
    }

    fn allocated(&mut self, server: SocketAddr, port: &[u8]) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(port) = port.get(..2) else {
            return;
        };
        let port = u16::from_be_bytes([port[0], port[1]]);
        if let Some(relayed) = session.relayed.as_mut() {
            relayed.address = Some(SocketAddr::new(server.ip(), port));
        }
        if std::mem::take(&mut session.describe_when_allocated) {
            let session = self.session.take();
            if let Some(session) = session {
                self.client = session.client;
                self.describe(&session);
                self.session = Some(session);
            }
        }
    }

    fn dtls(&mut self, session: &mut Session, flight: u8, from: SocketAddr, now: Timestamp) {
        // Without the answer the offerer knows neither its DTLS role nor the peer's
        // fingerprint: it answers early ICE checks but drops DTLS, and the client retransmits.
        if session.role == Role::Offerer && session.phase == Phase::Waiting {
            return;
        }
        let relay = session.relay_server();
        if session.selected.is_none() {
            session.selected = Some(from);
        }
        let reply = match (session.role, flight) {
            (Role::Offerer, 1) => Some(2),
            (Role::Answerer, 2) => Some(3),
            (Role::Offerer, 3) => Some(4),
            _ => None,
        };
        if let Some(reply) = reply {
            self.send(relay, from, dtls_packet(&session.token, reply));
        }
        let done = matches!(
            (session.role, flight),
            (Role::Offerer, 3) | (Role::Answerer, 4)
        );
        if done && session.phase != Phase::Connected {
            session.phase = Phase::Connected;
            session.timers.stop(Timer::Check);
            session.timers.stop(Timer::Fail);
            session.timers.stop(Timer::DtlsResend);
            if session.mic {
                session.timers.set(Timer::Audio, now);
            }
            if session.media == CallMediaType::Video && session.camera {
                session.timers.set(Timer::Video, now);
            }
            session
                .timers
                .set(Timer::Keepalive, now.add_ms(KEEPALIVE_MS));
            session
                .timers
                .set(Timer::Silence, now.add_ms(DISCONNECTED_AFTER_MS));
            self.stats.connected += 1;
            self.respond(connection(IceConnectionState::Connected));
            let kind = |relay: bool| {
                if relay {
                    CandidateType::Relay
                } else {
                    CandidateType::Host
                }
            };
            let remote_relay = session
                .selected
                .is_some_and(|addr| session.remote_relayed.contains(&addr));
            self.respond(WebRtcResponse::Connected {
                connection_info: ConnectionInfo {
                    local_candidate: Some(kind(session.relayed.is_some())),
                    remote_candidate: Some(kind(remote_relay)),
                },
            });
        } else if let (Some(reply), Phase::Dtls { .. }) = (reply, session.phase)
            && reply < 4
        {
            session.phase = Phase::Dtls {
                sent: reply,
                rto_ms: DTLS_RTO_MS,
            };
            session
                .timers
                .set(Timer::DtlsResend, now.add_ms(DTLS_RTO_MS));
        }
    }

    fn media(&mut self, session: &mut Session, body: &[u8], now: Timestamp) {
        let Some(head) = body.get(..15) else {
            return;
        };
        let video = head[0] == 1;
        let seq = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let (index, count) = (usize::from(head[5]), usize::from(head[6]).max(1));
        let sent = u64::from_be_bytes([
            head[7], head[8], head[9], head[10], head[11], head[12], head[13], head[14],
        ]);
        let payload = &body[15..];
        self.stats.packets_received += 1;
        let incoming = if video {
            &mut session.video_in
        } else {
            &mut session.audio_in
        };
        // Loss is counted in frames: audio packets, and the first fragments of video frames.
        let change = incoming.stats.packet(seq, index == 0 || !video);
        self.stats.packets_lost = add_lost(self.stats.packets_lost, change);
        if !video {
            self.stats.jitter_ms = incoming.stats.transit(now.0 as f64 - sent as f64);
            incoming.frames.count(
                &mut self.stats,
                session.cipher.as_ref(),
                FrameKind::Audio,
                payload,
                false,
            );
            return;
        }
        let parts = incoming
            .fragments
            .entry(seq)
            .or_insert_with(|| vec![None; count]);
        if let Some(slot) = parts.get_mut(index) {
            *slot = Some(payload.to_vec());
        }
        if parts.iter().all(Option::is_some) {
            let frame: Vec<u8> = incoming
                .fragments
                .remove(&seq)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            incoming.fragments.retain(|s, _| *s + 30 > seq);
            let kind = FrameKind::of_video_frame(&frame);
            incoming
                .frames
                .count(&mut self.stats, session.cipher.as_ref(), kind, &frame, true);
        }
    }
}

impl Session {
    /// The TURN server everything goes through, once the session relays.
    fn relay_server(&self) -> Option<SocketAddr> {
        self.relayed.map(|r| r.server)
    }

    /// Whether the candidates the description carries are there (the relayed address).
    fn gathered(&self) -> bool {
        self.relayed.is_none_or(|r| r.address.is_some())
    }

    fn start_checking(&mut self, now: Timestamp) {
        self.phase = Phase::Checking;
        self.timers.set(Timer::Check, now);
        self.timers.set(Timer::Fail, now.add_ms(FAILED_AFTER_MS));
    }

    /// The microphone on or off: frames go (from now, once connected) or stop.
    fn set_mic(&mut self, now: Timestamp, on: bool) {
        if on && !self.mic && self.phase == Phase::Connected {
            self.timers.set(Timer::Audio, now);
        }
        if !on {
            self.timers.stop(Timer::Audio);
        }
        self.mic = on;
    }

    /// The camera on or off: video frames go (from now, once connected) or stop.
    fn set_camera(&mut self, now: Timestamp, on: bool) {
        let video = self.media == CallMediaType::Video;
        if on && !self.camera && video && self.phase == Phase::Connected {
            self.timers.set(Timer::Video, now);
        }
        if !on {
            self.timers.stop(Timer::Video);
        }
        self.camera = on;
    }

    /// Adds lz-string encoded candidates (`candidate:f c udp prio IP PORT typ TYPE ...`).
    fn add_candidates(&mut self, text: &str) {
        for candidate in rtc::decode_candidates(text).unwrap_or_default() {
            let fields: Vec<&str> = candidate.candidate.split_whitespace().collect();
            let addr = (|| {
                let ip: IpAddr = fields.get(4)?.parse().ok()?;
                let port: u16 = fields.get(5)?.parse().ok()?;
                Some(SocketAddr::new(ip, port))
            })();
            let Some(addr) = addr else {
                continue;
            };
            if fields.get(7) == Some(&"relay") && !self.remote_relayed.contains(&addr) {
                self.remote_relayed.push(addr);
            }
            if !self.remote.contains(&addr) {
                self.remote.push(addr);
            }
        }
    }
}

#[cfg(test)]
mod tests;
