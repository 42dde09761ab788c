//! `SimRtc`: the [`WebRtc`] backend as a light model of a real stack, over turmoil UDP.
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
//!   `disconnected` and not connecting within 30 s is `failed` (SimpleX's `iceInactiveTimeout`),
//!   both ending the call at once as SimpleX's `WebRTCClient` does.
//! - **Relay-only policy**: with a `turn` host in the world, a session allocates a relayed
//!   address, offers it as its only candidate (`typ relay`), and sends everything through the
//!   server; the candidate pair then reports `relay` and media still flows when the direct path
//!   between the phones is blocked.
//! - **Faults**: the world's media loss decides, per packet, from its seeded RNG.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callsim_engine::backend::{Inbox, WebRtc};
use callsim_engine::crypto::{FrameCipher, FrameKind, MediaPlatform};
use callsim_engine::driver::DriverInbox;
use callsim_engine::ids::ClientId;
use callsim_engine::io::Input;
use callsim_engine::io::webrtc::{
    CandidateType, ClientCall, CommandKind, ConnectionInfo, ConnectionState, IceConnectionState,
    WebRtcCommand, WebRtcResponse,
};
use callsim_engine::protocol::rtc::{self, RtcIceCandidate, RtcSessionDescription, SdpType};

use crate::rtc::sdp::SdpIdentity;
use callsim_engine::protocol::{CallCapabilities, CallMediaSource, CallMediaType, Timestamp};
use callsim_mocks::backends::Shared;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;
use tokio::sync::mpsc;
// tokio's clock, which turmoil drives: simulated time, never the wall clock.
use tokio::time::Instant;
use tracing::debug;
use turmoil::net::UdpSocket;

use super::shared::{SharedWorld, lock};
use super::turn::{ALLOCATE, ALLOCATED, DATA, SEND, TURN_PORT, put_addr, take_addr};
use crate::media::{self, AUDIO_EVERY, VIDEO_EVERY};

/// The UDP port every phone's engine uses.
pub const RTC_PORT: u16 = 5000;
const GATHER: Duration = Duration::from_millis(750);
const TRICKLE: Duration = Duration::from_millis(1_500);
const CHECK_EVERY: Duration = Duration::from_millis(50);
const DTLS_RTO: Duration = Duration::from_secs(1);
const KEEPALIVE: Duration = Duration::from_secs(1);
const DISCONNECTED_AFTER: Duration = Duration::from_secs(5);
const FAILED_AFTER: Duration = Duration::from_secs(30);
const MAX_PACKET: usize = 1_100;

const BIND_REQUEST: u8 = 1;
const BIND_RESPONSE: u8 = 2;
const DTLS: u8 = 3;
const MEDIA: u8 = 4;

/// What the backend sends the engine task.
#[derive(Debug)]
pub(crate) enum RtcControl {
    Command(ClientId, WebRtcCommand),
    Call(ClientId, ClientCall),
    /// The app's process died: the engine vanishes without a word.
    Kill,
}

/// The [`WebRtc`] backend: hands commands to the engine task.
#[derive(Debug, Clone)]
pub(crate) struct SimRtc {
    tx: mpsc::UnboundedSender<RtcControl>,
}

impl WebRtc for SimRtc {
    fn execute(&mut self, _now: Timestamp, client: ClientId, command: WebRtcCommand) {
        if self.tx.send(RtcControl::Command(client, command)).is_err() {
            debug!("WebRTC command after the engine stopped dropped");
        }
    }

    fn call(&mut self, _now: Timestamp, client: ClientId, call: ClientCall) {
        if self.tx.send(RtcControl::Call(client, call)).is_err() {
            debug!("WebRTC client call after the engine stopped dropped");
        }
    }
}

/// Counters of one phone's engine over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RtcStats {
    /// Peer connections created.
    pub sessions: u64,
    /// Sessions that connected.
    pub connected: u64,
    /// Sessions that failed to connect.
    pub failed: u64,
    /// Sessions that lost their peer after connecting.
    pub disconnected: u64,
    /// Audio frames sent.
    pub audio_frames_sent: u64,
    /// Audio frames received (decrypted, or in clear on unencrypted calls).
    pub audio_frames_received: u64,
    /// Video frames sent.
    pub video_frames_sent: u64,
    /// Video frames received whole (decrypted, or in clear).
    pub video_frames_received: u64,
    /// Frames received that failed to decrypt (never played as the sender's).
    pub undecryptable_frames: u64,
    /// call.ts receivers only: frames that arrived after a frame failed to decrypt, which
    /// stopped the receiver's transform stream for the rest of the call.
    pub frames_after_stream_error: u64,
    /// Frames decrypted with the media key.
    pub frames_decrypted: u64,
    /// Media packets sent.
    pub packets_sent: u64,
    /// Media packets received.
    pub packets_received: u64,
    /// Media packets missing: expected by sequence number minus received (RFC 3550).
    pub packets_lost: u64,
    /// Interarrival jitter of audio (RFC 3550 estimator), in milliseconds.
    pub jitter_ms: f64,
    /// The last round-trip time measured by a binding request, in milliseconds.
    pub rtt_ms: Option<u64>,
}

/// What the engine task needs.
pub(crate) struct RtcTask {
    pub(crate) seed: u64,
    pub(crate) my_ip: IpAddr,
    pub(crate) world: SharedWorld,
    pub(crate) inbox: DriverInbox,
    pub(crate) stats: Shared<RtcStats>,
    pub(crate) encryption: bool,
    /// A fault: new sessions use a wrong media key, as a broken key agreement would.
    pub(crate) wrong_key: Arc<AtomicBool>,
    /// The world has a `turn` host for the relay-only policy.
    pub(crate) turn: bool,
    /// Whose frame encryption the engine runs.
    pub(crate) platform: MediaPlatform,
}

/// The backend and a sender to kill the engine, and the future of its task.
pub(crate) fn engine(
    task: RtcTask,
) -> (
    SimRtc,
    mpsc::UnboundedSender<RtcControl>,
    impl Future<Output = ()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (SimRtc { tx: tx.clone() }, tx, run(task, rx))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Made the offer (`start`): the DTLS server.
    Offerer,
    /// Answered (`offer`): the DTLS client.
    Answerer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No remote description yet.
    Waiting,
    /// Connectivity checks.
    Checking,
    /// DTLS in progress; the last flight sent, and when to send it again.
    Dtls {
        sent: u8,
        resend_at: Instant,
        rto: Duration,
    },
    Connected,
}

#[derive(Debug, Default)]
struct Receiving {
    /// First and highest sequence number seen, and how many packets arrived (RFC 3550 loss:
    /// expected minus received, so reordering is not loss).
    first_seq: Option<u32>,
    max_seq: u32,
    received: u64,
    /// For jitter: the last (arrival, sent) times in ms.
    last: Option<(u64, u64)>,
    /// Video fragments by frame sequence.
    fragments: BTreeMap<u32, Vec<Option<Vec<u8>>>>,
    /// The frame decryptor of this track's receiver.
    frames: media::FrameReceiver,
}

/// A session under the relay-only policy: everything goes through the TURN server.
#[derive(Debug, Clone, Copy)]
struct Relayed {
    server: SocketAddr,
    /// The relayed address, once allocated.
    address: Option<SocketAddr>,
}

struct Session {
    /// The app's client that made this peer connection: its responses carry this id.
    client: ClientId,
    token: String,
    relayed: Option<Relayed>,
    role: Role,
    media: CallMediaType,
    cipher: Option<FrameCipher>,
    remote: Vec<SocketAddr>,
    /// Remote candidates of type `relay`.
    remote_relayed: Vec<SocketAddr>,
    selected: Option<SocketAddr>,
    phase: Phase,
    /// When ICE checking began (the peer's description applied). The 30 s failure counts from
    /// here, as an ICE agent's does: an offerer still waiting for its answer never fails.
    checking_since: Option<Instant>,
    describe_at: Option<Instant>,
    trickle_at: Option<Instant>,
    last_check: Option<Instant>,
    last_heard: Instant,
    last_keepalive: Instant,
    next_audio: Instant,
    next_video: Instant,
    audio_seq: u32,
    video_seq: u32,
    mic: bool,
    camera: bool,
    audio_in: Receiving,
    video_in: Receiving,
}

struct Engine {
    task: RtcTask,
    socket: UdpSocket,
    /// The TURN server every packet goes through, while the session is relay-only.
    relay_server: Option<SocketAddr>,
    rng: ChaCha8Rng,
    session: Option<Session>,
    /// Whose responses the engine is sending: the client of the command or session at hand.
    client: ClientId,
    origin: Instant,
}

async fn run(task: RtcTask, mut rx: mpsc::UnboundedReceiver<RtcControl>) {
    let Ok(socket) = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), RTC_PORT)).await else {
        debug!("WebRTC engine could not bind its port");
        return;
    };
    let mut engine = Engine {
        rng: ChaCha8Rng::seed_from_u64(task.seed ^ 0x5254_4300),
        task,
        socket,
        relay_server: None,
        session: None,
        client: ClientId::default(),
        origin: Instant::now(),
    };
    let mut buf = vec![0u8; 4096];
    loop {
        // Sleep until the session's next timer, not on a fixed beat: a host wakes only when
        // there is something to do, which is most of what a simulated second costs.
        let wake = engine.next_deadline();
        tokio::select! {
            biased;
            control = rx.recv() => match control {
                Some(RtcControl::Command(client, command)) => engine.command(client, command),
                Some(RtcControl::Call(client, call)) => engine.client_call(client, call),
                Some(RtcControl::Kill) => engine.session = None,
                None => return,
            },
            received = engine.socket.recv_from(&mut buf) => {
                if let Ok((len, from)) = received {
                    let packet = buf[..len].to_vec();
                    engine.packet(&packet, from);
                }
            }
            () = tokio::time::sleep_until(wake) => engine.tick(),
        }
    }
}

fn connection(state: IceConnectionState) -> WebRtcResponse {
    WebRtcResponse::Connection {
        state: ConnectionState::ice(state),
    }
}

impl Engine {
    fn respond(&self, response: WebRtcResponse) {
        self.task.inbox.deliver(
            0,
            Input::WebRtc {
                client: self.client,
                response,
            },
        );
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn local_candidate(&self, typ: &str) -> RtcIceCandidate {
        let extra = if typ == "host" {
            String::new()
        } else {
            format!(" raddr {} rport {RTC_PORT}", self.task.my_ip)
        };
        RtcIceCandidate {
            candidate_type: None,
            protocol: None,
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            candidate: format!(
                "candidate:1 1 udp 2122260223 {} {RTC_PORT} typ {typ}{extra}",
                self.task.my_ip
            ),
            username_fragment: None,
        }
    }

    fn command(&mut self, client: ClientId, command: WebRtcCommand) {
        self.client = client;
        let other_client = self.session.as_ref().is_some_and(|s| s.client != client);
        match command {
            // Each client is its own peer connection: one that is not this session's has
            // nothing to act on (its own connection already closed).
            WebRtcCommand::End if other_client => self.respond(WebRtcResponse::Ok {
                command: CommandKind::End,
            }),
            WebRtcCommand::Answer { .. }
            | WebRtcCommand::Ice { .. }
            | WebRtcCommand::Media { .. }
                if other_client =>
            {
                self.respond(WebRtcResponse::Error {
                    message: format!("{}: call not started", command.kind().as_str()),
                });
            }
            command => self.handle_command(command),
        }
        self.relay_server = self
            .session
            .as_ref()
            .and_then(|s| s.relayed)
            .map(|r| r.server);
    }

    fn handle_command(&mut self, command: WebRtcCommand) {
        let capabilities = CallCapabilities {
            encryption: self.task.encryption,
        };
        match command {
            WebRtcCommand::Capabilities { .. } => {
                self.respond(WebRtcResponse::Capabilities { capabilities });
            }
            WebRtcCommand::Start {
                media,
                aes_key,
                relay,
            } => {
                let token = format!("{:08x}", self.rng.next_u32());
                let cipher = aes_key.filter(|_| self.task.encryption);
                let session = self.new_session(token, Role::Offerer, media, cipher, relay);
                self.session = Some(session);
            }
            WebRtcCommand::Offer {
                offer,
                ice_candidates,
                media,
                aes_key,
                relay,
            } => {
                let Some(token) = ice_ufrag(&offer) else {
                    self.respond(WebRtcResponse::Error {
                        message: "offer: bad session description".into(),
                    });
                    return;
                };
                let cipher = aes_key.filter(|_| self.task.encryption);
                let mut session = self.new_session(token, Role::Answerer, media, cipher, relay);
                session.add_candidates(&ice_candidates);
                session.phase = Phase::Checking;
                session.checking_since = Some(Instant::now());
                self.session = Some(session);
                self.respond(connection(IceConnectionState::Checking));
            }
            WebRtcCommand::Answer { ice_candidates, .. } => {
                let waiting = self
                    .session
                    .as_mut()
                    .filter(|s| s.role == Role::Offerer && s.phase == Phase::Waiting);
                match waiting {
                    Some(session) => {
                        session.add_candidates(&ice_candidates);
                        session.phase = Phase::Checking;
                        session.checking_since = Some(Instant::now());
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
                    match source {
                        CallMediaSource::Mic => session.mic = enable,
                        CallMediaSource::Camera => session.camera = enable,
                        _ => {}
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
                // `ok` first, then the client ends its call: the closed connection reports.
                self.respond(WebRtcResponse::Ok {
                    command: CommandKind::End,
                });
                self.close();
            }
        }
    }

    /// A direct call of the call view.
    fn client_call(&mut self, client: ClientId, call: ClientCall) {
        self.client = client;
        if self.session.as_ref().is_some_and(|s| s.client != client) {
            debug!(?call, "client call from a client without a session ignored");
            return;
        }
        match call {
            ClientCall::SetAudioEnabled { enabled } => {
                if let Some(session) = self.session.as_mut() {
                    session.mic = enabled;
                }
            }
            ClientCall::SetCameraEnabled { enabled } => {
                if let Some(session) = self.session.as_mut() {
                    session.camera = enabled;
                }
            }
            ClientCall::FlipCamera { .. } => {}
            ClientCall::EndCall => self.close(),
        }
        self.relay_server = self
            .session
            .as_ref()
            .and_then(|s| s.relayed)
            .map(|r| r.server);
    }

    /// `endCall`: the peer connection closes, and its ICE reports `closed`.
    fn close(&mut self) {
        if self.session.take().is_some() {
            self.respond(connection(IceConnectionState::Closed));
        }
    }

    fn new_session(
        &mut self,
        token: String,
        role: Role,
        media: CallMediaType,
        key: Option<callsim_engine::crypto::MediaKey>,
        relay: bool,
    ) -> Session {
        lock_stats(&self.task.stats).sessions += 1;
        // Relay-only: allocate a relayed address and gather nothing else.
        let relayed = (relay && self.task.turn).then(|| {
            let server = SocketAddr::new(turmoil::lookup("turn"), TURN_PORT);
            let _ = self.socket.try_send_to(&[ALLOCATE], server);
            Relayed {
                server,
                address: None,
            }
        });
        let key = key.map(|mut k| {
            if self.task.wrong_key.load(Ordering::Relaxed) {
                k.0[0] ^= 0xFF;
            }
            k
        });
        let now = Instant::now();
        Session {
            client: self.client,
            token,
            relayed,
            role,
            media,
            cipher: key.map(|k| FrameCipher::new(&k, self.task.platform)),
            remote: Vec::new(),
            remote_relayed: Vec::new(),
            selected: None,
            phase: Phase::Waiting,
            checking_since: None,
            describe_at: Some(now + GATHER),
            trickle_at: relayed.is_none().then_some(now + GATHER + TRICKLE),
            last_check: None,
            last_heard: now,
            last_keepalive: now,
            next_audio: now,
            next_video: now,
            audio_seq: 0,
            video_seq: 0,
            mic: true,
            camera: media == CallMediaType::Video,
            audio_in: Receiving::default(),
            video_in: Receiving::default(),
        }
    }

    /// The session's description, with SimpleX's four transceivers; its ICE username is the
    /// session's token, which pairs the two ends.
    fn sdp(&mut self, token: &str, kind: SdpType) -> String {
        let identity = SdpIdentity::new(token, &mut self.rng);
        let sdp = crate::rtc::sdp::description(kind, &identity);
        rtc::encode_session(&RtcSessionDescription { kind, sdp })
    }

    /// When the session next needs [`Engine::tick`]: the earliest of its timers.
    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3_600);
        let Some(s) = &self.session else {
            return far;
        };
        let mut next = s
            .checking_since
            .map_or(far, |since| far.min(since + FAILED_AFTER));
        for at in [s.describe_at, s.trickle_at].into_iter().flatten() {
            next = next.min(at);
        }
        match s.phase {
            Phase::Waiting => {}
            Phase::Checking => {
                next = next.min(s.last_check.map_or(Instant::now(), |at| at + CHECK_EVERY));
            }
            Phase::Dtls {
                sent, resend_at, ..
            } if sent > 0 => next = next.min(resend_at),
            Phase::Dtls { .. } => {}
            Phase::Connected => {
                next = s.last_heard + DISCONNECTED_AFTER;
                next = next.min(s.last_keepalive + KEEPALIVE);
                if s.mic {
                    next = next.min(s.next_audio);
                }
                if s.media == CallMediaType::Video && s.camera {
                    next = next.min(s.next_video);
                }
                for at in [s.describe_at, s.trickle_at].into_iter().flatten() {
                    next = next.min(at);
                }
            }
        }
        next
    }

    fn tick(&mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        self.client = session.client;
        let now = Instant::now();
        let gathered = session.relayed.is_none_or(|r| r.address.is_some());
        if gathered && session.describe_at.is_some_and(|at| now >= at) {
            session.describe_at = None;
            let candidate = match session.relayed.and_then(|r| r.address) {
                Some(address) => relay_candidate(address),
                None => self.local_candidate("host"),
            };
            let candidates = rtc::encode_candidates(&[candidate]);
            let capabilities = CallCapabilities {
                encryption: self.task.encryption,
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
        if session.trickle_at.is_some_and(|at| now >= at) {
            session.trickle_at = None;
            let candidates = rtc::encode_candidates(&[self.local_candidate("srflx")]);
            self.respond(WebRtcResponse::Ice {
                ice_candidates: candidates,
            });
        }
        match session.phase {
            Phase::Connected => {
                if now.duration_since(session.last_heard) >= DISCONNECTED_AFTER {
                    lock_stats(&self.task.stats).disconnected += 1;
                    // SimpleX ends the call at once: the client closes its connection.
                    self.respond(connection(IceConnectionState::Disconnected));
                    self.respond(connection(IceConnectionState::Closed));
                    return;
                }
                if now.duration_since(session.last_keepalive) >= KEEPALIVE {
                    session.last_keepalive = now;
                    if let Some(to) = session.selected {
                        let packet = self.bind_packet(BIND_REQUEST, &session.token);
                        self.send(to, &packet);
                    }
                }
                self.send_media(&mut session, now);
            }
            _ if session
                .checking_since
                .is_some_and(|since| now.duration_since(since) >= FAILED_AFTER) =>
            {
                // Not connected within `iceInactiveTimeout`.
                lock_stats(&self.task.stats).failed += 1;
                self.respond(connection(IceConnectionState::Failed));
                self.respond(connection(IceConnectionState::Closed));
                return;
            }
            Phase::Checking => {
                if session
                    .last_check
                    .is_none_or(|at| now.duration_since(at) >= CHECK_EVERY)
                {
                    session.last_check = Some(now);
                    let packet = self.bind_packet(BIND_REQUEST, &session.token);
                    for to in session.remote.clone() {
                        self.send(to, &packet);
                    }
                }
            }
            Phase::Dtls {
                sent,
                resend_at,
                rto,
            } if now >= resend_at && sent > 0 => {
                if let Some(to) = session.selected {
                    let packet = dtls_packet(&session.token, sent);
                    self.send(to, &packet);
                }
                session.phase = Phase::Dtls {
                    sent,
                    resend_at: now + rto * 2,
                    rto: rto * 2,
                };
            }
            Phase::Waiting | Phase::Dtls { .. } => {}
        }
        self.session = Some(session);
    }

    fn bind_packet(&self, kind: u8, token: &str) -> Vec<u8> {
        let mut packet = header(kind, token);
        packet.extend_from_slice(&self.now_ms().to_be_bytes());
        packet
    }

    fn send(&mut self, to: SocketAddr, packet: &[u8]) {
        if lock(&self.task.world).media_drops(self.task.my_ip, to.ip()) {
            return;
        }
        // turmoil's UDP never blocks; a full buffer on the far side drops, as UDP does.
        match self.relay_server {
            Some(server) => {
                let mut wrapped = vec![SEND];
                put_addr(&mut wrapped, to);
                wrapped.extend_from_slice(packet);
                let _ = self.socket.try_send_to(&wrapped, server);
            }
            None => {
                let _ = self.socket.try_send_to(packet, to);
            }
        }
    }

    fn send_media(&mut self, session: &mut Session, now: Instant) {
        let Some(to) = session.selected else {
            return;
        };
        while session.mic && now >= session.next_audio {
            session.next_audio += AUDIO_EVERY;
            session.audio_seq += 1;
            let frame = media::protect(
                session.cipher.as_ref(),
                FrameKind::Audio,
                media::audio_frame(session.audio_seq),
                &mut self.rng,
            );
            let packet = media_packet(
                &session.token,
                0,
                session.audio_seq,
                0,
                1,
                self.now_ms(),
                &frame,
            );
            self.send(to, &packet);
            let mut stats = lock_stats(&self.task.stats);
            stats.audio_frames_sent += 1;
            stats.packets_sent += 1;
        }
        if !session.mic {
            session.next_audio = now;
        }
        while session.media == CallMediaType::Video && session.camera && now >= session.next_video {
            session.next_video += VIDEO_EVERY;
            session.video_seq += 1;
            let frame = media::video_frame(session.video_seq);
            let kind = FrameKind::of_video_frame(&frame);
            let frame = media::protect(session.cipher.as_ref(), kind, frame, &mut self.rng);
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
                    self.now_ms(),
                    chunk,
                );
                self.send(to, &packet);
                lock_stats(&self.task.stats).packets_sent += 1;
            }
            lock_stats(&self.task.stats).video_frames_sent += 1;
        }
        if !session.camera {
            session.next_video = now;
        }
    }

    fn packet(&mut self, packet: &[u8], from: SocketAddr) {
        if self.relay_server == Some(from) {
            match packet.split_first() {
                Some((&ALLOCATED, port)) => {
                    if let (Some(session), Some(port)) = (self.session.as_mut(), port.get(..2)) {
                        let port = u16::from_be_bytes([port[0], port[1]]);
                        if let Some(relayed) = session.relayed.as_mut() {
                            relayed.address = Some(SocketAddr::new(from.ip(), port));
                        }
                    }
                }
                Some((&DATA, rest)) => {
                    if let Some((peer, payload)) = take_addr(rest) {
                        let payload = payload.to_vec();
                        self.packet(&payload, peer);
                    }
                }
                _ => {}
            }
            return;
        }
        let Some((kind, token, body)) = parse_header(packet) else {
            return;
        };
        let Some(mut session) = self.session.take() else {
            return;
        };
        if token != session.token {
            // A packet of an earlier call: ignored, as a stack ignores a foreign ufrag.
            self.session = Some(session);
            return;
        }
        self.client = session.client;
        let now = Instant::now();
        session.last_heard = now;
        match kind {
            BIND_REQUEST => {
                let mut reply = header(BIND_RESPONSE, &session.token);
                reply.extend_from_slice(body);
                self.send(from, &reply);
                if !session.remote.contains(&from) {
                    session.remote.push(from);
                }
            }
            BIND_RESPONSE => {
                if let Some(sent) = body.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    let rtt = self.now_ms().saturating_sub(u64::from_be_bytes(sent));
                    lock_stats(&self.task.stats).rtt_ms = Some(rtt);
                }
                if session.phase == Phase::Checking {
                    session.selected = Some(from);
                    session.phase = match session.role {
                        Role::Answerer => {
                            self.send(from, &dtls_packet(&session.token, 1));
                            Phase::Dtls {
                                sent: 1,
                                resend_at: now + DTLS_RTO,
                                rto: DTLS_RTO,
                            }
                        }
                        Role::Offerer => Phase::Dtls {
                            sent: 0,
                            resend_at: now,
                            rto: DTLS_RTO,
                        },
                    };
                }
            }
            DTLS => self.dtls(&mut session, body.first().copied().unwrap_or(0), from, now),
            MEDIA => self.media(&mut session, body),
            _ => {}
        }
        self.session = Some(session);
    }

    fn dtls(&mut self, session: &mut Session, flight: u8, from: SocketAddr, now: Instant) {
        // Without the answer the offerer knows neither its DTLS role nor the peer's
        // fingerprint: it answers early ICE checks but drops DTLS, and the client retransmits.
        if session.role == Role::Offerer && session.phase == Phase::Waiting {
            return;
        }
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
            self.send(from, &dtls_packet(&session.token, reply));
        }
        let done = matches!(
            (session.role, flight),
            (Role::Offerer, 3) | (Role::Answerer, 4)
        );
        if done && session.phase != Phase::Connected {
            session.phase = Phase::Connected;
            session.next_audio = now;
            session.next_video = now;
            lock_stats(&self.task.stats).connected += 1;
            self.respond(connection(IceConnectionState::Connected));
            let kind = |relay: bool| {
                if relay {
                    CandidateType::Relay
                } else {
                    CandidateType::Host
                }
            };
            self.respond(WebRtcResponse::Connected {
                connection_info: ConnectionInfo {
                    local_candidate: Some(kind(session.relayed.is_some())),
                    remote_candidate: Some(kind(self.remote_is_relay(session))),
                },
            });
        } else if let (Some(reply), Phase::Dtls { .. }) = (reply, session.phase)
            && reply < 4
        {
            session.phase = Phase::Dtls {
                sent: reply,
                resend_at: now + DTLS_RTO,
                rto: DTLS_RTO,
            };
        }
    }

    fn remote_is_relay(&self, session: &Session) -> bool {
        session
            .selected
            .is_some_and(|addr| session.remote_relayed.contains(&addr))
    }

    fn media(&mut self, session: &mut Session, body: &[u8]) {
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
        let arrival = self.now_ms();
        let mut stats = lock_stats(&self.task.stats);
        stats.packets_received += 1;
        let incoming = if video {
            &mut session.video_in
        } else {
            &mut session.audio_in
        };
        let lost_before = incoming.lost();
        let first = *incoming.first_seq.get_or_insert(seq);
        incoming.max_seq = incoming.max_seq.max(seq).max(first);
        if index == 0 || !video {
            incoming.received += 1;
        }
        stats.packets_lost = (stats.packets_lost + incoming.lost()).saturating_sub(lost_before);
        if !video {
            if let Some((last_arrival, last_sent)) = incoming.last {
                let d = (arrival as f64 - last_arrival as f64) - (sent as f64 - last_sent as f64);
                stats.jitter_ms += (d.abs() - stats.jitter_ms) / 16.0;
            }
            incoming.last = Some((arrival, sent));
            drop(stats);
            self.frame(session, FrameKind::Audio, payload.to_vec(), false);
            return;
        }
        drop(stats);
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
            self.frame(session, kind, frame, true);
        }
    }

    fn frame(&mut self, session: &mut Session, kind: FrameKind, frame: Vec<u8>, video: bool) {
        let mut stats = lock_stats(&self.task.stats);
        let receiver = if video {
            &mut session.video_in.frames
        } else {
            &mut session.audio_in.frames
        };
        receiver.count(&mut stats, session.cipher.as_ref(), kind, &frame, video);
    }
}

impl Receiving {
    /// Frames (audio) or first fragments (video) missing so far.
    fn lost(&self) -> u64 {
        self.first_seq.map_or(0, |first| {
            (u64::from(self.max_seq - first) + 1).saturating_sub(self.received)
        })
    }
}

/// A relayed candidate at the TURN server's allocated address.
fn relay_candidate(address: SocketAddr) -> RtcIceCandidate {
    RtcIceCandidate {
        candidate_type: None,
        protocol: None,
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        candidate: format!(
            "candidate:2 1 udp 41885439 {} {} typ relay raddr 0.0.0.0 rport 0",
            address.ip(),
            address.port()
        ),
        username_fragment: None,
    }
}

fn lock_stats(stats: &Shared<RtcStats>) -> std::sync::MutexGuard<'_, RtcStats> {
    stats.lock()
}

fn header(kind: u8, token: &str) -> Vec<u8> {
    let mut packet = vec![kind, u8::try_from(token.len()).unwrap_or(0)];
    packet.extend_from_slice(token.as_bytes());
    packet
}

fn parse_header(packet: &[u8]) -> Option<(u8, &str, &[u8])> {
    let (&kind, rest) = packet.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let (token, body) = rest.split_at_checked(usize::from(len))?;
    Some((kind, std::str::from_utf8(token).ok()?, body))
}

fn dtls_packet(token: &str, flight: u8) -> Vec<u8> {
    let mut packet = header(DTLS, token);
    packet.push(flight);
    // DTLS flights are large; the certificate flights the largest.
    packet.resize(packet.len() + if flight == 2 { 700 } else { 200 }, 0);
    packet
}

#[allow(clippy::too_many_arguments)]
fn media_packet(
    token: &str,
    kind: u8,
    seq: u32,
    index: u8,
    count: u8,
    sent: u64,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = header(MEDIA, token);
    packet.push(kind);
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.push(index);
    packet.push(count);
    packet.extend_from_slice(&sent.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// The `a=ice-ufrag` of an lz-string session description.
fn ice_ufrag(session: &str) -> Option<String> {
    let description = rtc::decode_session(session).ok()?;
    crate::rtc::sdp::ice_ufrag(&description.sdp).map(str::to_owned)
}

impl Session {
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
