//! `RealRtc`: the [`WebRtc`](callsim_engine::backend::WebRtc) backend over the real WebRTC stack, webrtc-rs 0.21.
//!
//! One peer connection per call, built on the first `start` (the callee makes the offer) or
//! `offer` (the caller answers) command:
//! - **Tracks**: the four sendrecv transceivers of current SimpleX clients (mic, camera,
//!   screen audio, screen video: mids 0 to 3), on audio calls too; Opus-shaped frames every
//!   20 ms on the mic and, while the camera is on, VP8-shaped frames at 30 fps with a key
//!   frame every 2 s on the camera. A packet that carries no frame (padding only) is skipped. Every frame is encrypted with the
//!   call's media key in SimpleX's layout (the clear prefix of spec 4) before the stack
//!   packetizes it, and decrypted after the packets are put together again; a frame that fails
//!   is counted and dropped, never played.
//! - **Signalling** as the apps do it: the offer or answer waits for ICE gathering up to
//!   750 ms (checked every 150 ms) and carries the candidates gathered so far; later ones go
//!   out every 1.5 s for up to 12 s as `ice` responses. Both travel lz-string encoded.
//! - **States**: every change of the ICE or peer-connection state is a `connection`
//!   response; the peer connection reaching `connected` is also `connected` with the selected
//!   candidate pair; ICE `disconnected` or `failed` ends the call at once (SimpleX does no ICE
//!   restart).
//! - **Known webrtc-rs 0.21 failure modes** end the call in bounded time: a driver that stops
//!   without reporting `failed` is noticed by [`runtime::WatchedRuntime`] (an `error`, then
//!   `ended`), and a connection still not up 31 s after the remote description was applied
//!   (when ICE checking begins) fails the same way, a second after the stack's own ICE failure
//!   would have come. A panic in the engine task ends the call with an error too. See
//!   `docs/dependency-bugs.md`.
//!
//! The relay-only policy is handed to the stack (`iceTransportPolicy: relay`) with the TURN
//! server of [`RealRtcTask::turn`] (a real one: [`super::real_turn`]), so such a call gathers
//! relay candidates only and its media goes through the server; without a server it gathers
//! nothing and fails.
//!
//! The same engine runs in two networks ([`Network`]): inside a turmoil host, over simulated
//! UDP with the world's media faults and the host's simulated clock; and on real UDP sockets
//! on 127.0.0.1 under tokio (`callsim call --webrtc real --real-network`).
//!
//! Determinism, inside a simulation: what webrtc-rs draws from the operating system comes
//! from the seed ([`crate::seeded`]), what its ring crypto would draw comes from a provider of
//! the session's seed (`crypto`), the origin line's wall-clock version is replaced, and the
//! driver's pick among same-instant work is fixed ([`runtime`]'s arbiter), so runs and their
//! traces repeat byte for byte; only the DTLS datagrams keep 4 bytes of wall-clock time
//! (`docs/dependency-bugs.md`). On the real network the stack keeps its own.

mod crypto;
mod events;
pub mod runtime;
mod session;
mod tracks;

use session::add_candidates;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use std::time::Duration;

use bytes::Bytes;

use callsim_engine::crypto::{FrameCipher, FrameKind, MediaPlatform};
use callsim_engine::ids::ClientId;
use callsim_engine::io::Input;
use callsim_engine::io::webrtc::{
    CandidateType, ClientCall, CommandKind, ConnectionInfo, ConnectionState, IceConnectionState,
    IceGatheringState, SignalingState, WebRtcCommand, WebRtcResponse,
};
use callsim_engine::protocol::rtc::{self as lz, RtcIceCandidate, RtcSessionDescription, SdpType};
use callsim_engine::protocol::{CallCapabilities, CallMediaType};
use callsim_mocks::backends::Shared;
use futures::FutureExt;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::mpsc;
// tokio's clock: turmoil's simulated time inside a world, real time on real UDP.
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidate, RTCIceCandidateInit, RTCIceCandidateType,
    RTCIceConnectionState, RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, RTCSignalingState,
    RTCStatsReportEntry, Registry, SettingEngineBuilder, StatsSelector,
    register_default_interceptors,
};
use webrtc::runtime::Runtime;

use super::backend::ChannelRtc;
use super::media::{self, AUDIO_EVERY, VIDEO_EVERY};
use super::real_turn::TurnServerConfig;
use super::receive::{ReceiveStats, add_lost};
use super::{
    NewSession, Remote, Role, Routed, RtcControl, RtcStats, Sender, WrongKey, route, sender_of,
};
use runtime::{
    AddressMap, CallerRuns, FlushPass, KillSwitch, MediaFaults, TurmoilRuntime, WatchedRuntime,
};

const DESCRIBE_POLL: Duration = Duration::from_millis(150);
const DESCRIBE_POLLS: u32 = 5;
const TRICKLE: Duration = Duration::from_millis(1_500);
const TRICKLE_FOR: Duration = Duration::from_millis(12_000);
/// A backstop past the stack's own ~30.2 s ICE failure, for a handshake that never ends.
const CONNECT_LIMIT: Duration = Duration::from_secs(31);
const OPUS_PT: u8 = 111;
/// How often a connected session's packet and RTT counters are read from the stack.
const STATS_EVERY: Duration = Duration::from_secs(1);
const VP8_PT: u8 = 96;

/// Where the peer connections' packets go.
#[derive(Clone)]
pub enum Network {
    /// Inside a turmoil host at `my_ip`: simulated UDP and clock; `faults` says which media
    /// datagrams the world loses.
    Simulated {
        /// The host's simulated address.
        my_ip: IpAddr,
        /// The world's media loss, per datagram.
        faults: MediaFaults,
    },
    /// Real UDP sockets on 127.0.0.1 under the ambient tokio runtime.
    Loopback,
    /// Real UDP sockets on this address under the ambient tokio runtime (`callsim phone
    /// --bind`), for a peer on another host; `faults` says which datagrams this phone's
    /// socket loses on the way out (`callsim phone --media-loss`).
    Bound {
        /// The address host candidates are gathered on.
        ip: IpAddr,
        /// Loss on this phone's sends.
        faults: Option<MediaFaults>,
        /// The UDP ports the media socket may take, lowest first (`None`: any).
        ports: Option<(u16, u16)>,
    },
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Network::Simulated { my_ip, .. } => write!(f, "Simulated({my_ip})"),
            Network::Loopback => write!(f, "Loopback"),
            Network::Bound { ip, .. } => write!(f, "Bound({ip})"),
        }
    }
}

/// Everything the engine task needs.
pub struct RealRtcTask {
    /// The phone's name, for the log span.
    pub name: String,
    /// Seeds the engine's own choices (SSRCs, frame IVs); the stack's are its own.
    pub seed: u64,
    /// Where responses go.
    pub inbox: Arc<dyn callsim_engine::backend::Inbox>,
    /// Counters over the whole run.
    pub stats: Shared<RtcStats>,
    /// Whether the engine supports frame encryption.
    pub encryption: bool,
    /// A fault: new sessions use a wrong media key, as a broken key agreement would.
    pub wrong_key: WrongKey,
    /// Whose frame encryption the engine runs.
    pub platform: MediaPlatform,
    /// Simulated or real UDP.
    pub network: Network,
    /// The TURN server relay-only calls allocate on (`None`: such calls gather nothing).
    pub turn: Option<TurnServerConfig>,
}

/// The [`WebRtc`](callsim_engine::backend::WebRtc) backend of the real stack: hands commands to the engine task.
pub type RealRtc = ChannelRtc;

/// The backend, a sender to kill the engine, and the future of its task (spawn it on the
/// runtime the peer connections should live on: inside the phone's host in a world).
pub fn engine(
    task: RealRtcTask,
) -> (
    RealRtc,
    mpsc::UnboundedSender<RtcControl>,
    impl Future<Output = ()> + Send,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let span = info_span!("webrtc", phone = %task.name);
    let backend = ChannelRtc::new(tx.clone(), Arc::clone(&task.inbox));
    let crashed = backend.clone();
    // Every run of the engine may call into its peer connection (`runtime::Arbiter`).
    let callers = CallerRuns::default();
    let counted = callers.counted(run(task, rx, callers.clone()));
    // A panic in the stack under an await must not leave a call hanging without a word.
    let guarded = async move {
        if let Err(panic) = std::panic::AssertUnwindSafe(counted).catch_unwind().await {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            warn!(%what, "the WebRTC engine panicked");
            crashed.report_crash(format!("WebRTC: the engine crashed: {what}"));
        }
    };
    (backend, tx, guarded.instrument(span))
}

/// What the stack reports, tagged with the session it belongs to.
#[derive(Debug)]
enum Event {
    Candidate(RTCIceCandidate),
    Gathering(RTCIceGatheringState),
    Ice(RTCIceConnectionState),
    Peer(RTCPeerConnectionState),
    Signaling(RTCSignalingState),
    Rtp {
        video: bool,
        packet: rtc::rtp::Packet,
    },
    DriverExited,
}

struct Handler {
    session: u64,
    tx: mpsc::UnboundedSender<(u64, Event)>,
}

impl Handler {
    fn send(&self, event: Event) {
        let _ = self.tx.send((self.session, event));
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.send(Event::Candidate(event.candidate));
    }

    async fn on_signaling_state_change(&self, state: RTCSignalingState) {
        self.send(Event::Signaling(state));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.send(Event::Ice(state));
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.send(Event::Gathering(state));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.send(Event::Peer(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let video = track.kind().await == RtpCodecKind::Video;
        let (session, tx) = (self.session, self.tx.clone());
        // Reading on its own task: the driver waits for this callback to return. Reading
        // queues nothing for the driver, so its runs are not the arbiter's business.
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event
                    && tx.send((session, Event::Rtp { video, packet })).is_err()
                {
                    return;
                }
            }
        });
    }
}

struct LocalTrack {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    payload_type: u8,
    /// Its encoding (the SSRC), for a transceiver made around it.
    encodings: Vec<RTCRtpEncodingParameters>,
}

/// The stream of the mic and camera tracks (`WebRTCClient.swift`, `micCameraInit`).
const MIC_CAMERA: &str = "micCamera";
/// The stream of the screen's tracks (`WebRTCClient.swift`, `screenAudioVideoInit`).
const SCREEN: &str = "screenAudioVideo";

/// One received stream: RFC 3550 statistics, and the RTP timestamp media time counts from.
#[derive(Debug, Default)]
struct RtpIn {
    stats: ReceiveStats,
    /// The first RTP timestamp: later ones count from it, wrapping as the field does.
    first_timestamp: Option<u32>,
}

/// A video frame being put together from its packets.
#[derive(Debug)]
struct Assembly {
    timestamp: u32,
    next_seq: u16,
    data: Vec<u8>,
    whole: bool,
}

struct Session {
    id: u64,
    /// Packets sent by the run's earlier sessions.
    sent_before: u64,
    /// When the run's counters next read the stack's statistics (while connected).
    next_stats: Instant,
    /// The app's client that made this peer connection: its responses carry this id.
    client: ClientId,
    pc: Arc<dyn PeerConnection>,
    kill: KillSwitch,
    role: Role,
    cipher: Option<FrameCipher>,
    audio: LocalTrack,
    /// The camera's track: on every call, off (`camera` false) in an audio call until the
    /// user turns the camera on.
    video: LocalTrack,
    /// The local description to send once gathering is done or the wait is over.
    description: Option<String>,
    /// Gathered candidates not yet sent.
    pending: Vec<RtcIceCandidate>,
    gathering_complete: bool,
    created: Instant,
    polls: u32,
    next_poll: Option<Instant>,
    trickle_at: Option<Instant>,
    /// Remote candidates that came before the remote description.
    early: Vec<RtcIceCandidate>,
    remote_set: bool,
    checking_since: Option<Instant>,
    state: ConnectionState,
    connected: bool,
    next_audio: Instant,
    next_video: Instant,
    audio_seq: u32,
    video_seq: u32,
    mic: bool,
    camera: bool,
    audio_in: RtpIn,
    video_in: RtpIn,
    assembly: Option<Assembly>,
    /// The frame decryptors of the audio and the video receiver.
    audio_frames: media::FrameReceiver,
    video_frames: media::FrameReceiver,
}

struct Engine {
    /// Counts the runs of the tasks that call into the peer connections.
    callers: CallerRuns,
    task: RealRtcTask,
    rng: ChaCha8Rng,
    events: mpsc::UnboundedSender<(u64, Event)>,
    addresses: AddressMap,
    session: Option<Session>,
    sessions: u64,
    /// Whose responses the engine is sending: the client of the command or session at hand.
    client: ClientId,
}

async fn run(task: RealRtcTask, mut rx: mpsc::UnboundedReceiver<RtcControl>, callers: CallerRuns) {
    let (events, mut events_rx) = mpsc::unbounded_channel();
    let mut engine = Engine {
        callers,
        rng: ChaCha8Rng::seed_from_u64(task.seed ^ 0x5245_414c),
        task,
        events,
        addresses: AddressMap::default(),
        session: None,
        sessions: 0,
        client: ClientId::default(),
    };
    loop {
        let wake = engine.next_deadline();
        tokio::select! {
            biased;
            control = rx.recv() => match control {
                Some(RtcControl::Command(client, command)) => {
                    engine.command(client, command).await;
                }
                Some(RtcControl::Call(client, call)) => engine.client_call(client, call).await,
                Some(RtcControl::Kill) => engine.kill().await,
                None => {
                    engine.close().await;
                    return;
                }
            },
            Some((id, event)) = events_rx.recv() => engine.event(id, event).await,
            () = tokio::time::sleep_until(wake) => engine.tick().await,
        }
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

    fn error(&self, message: String) {
        self.respond(WebRtcResponse::Error { message });
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, RtcStats> {
        self.task.stats.lock()
    }

    async fn command(&mut self, client: ClientId, command: WebRtcCommand) {
        self.client = client;
        match route(self.session.as_ref().map(|s| s.client), client, command) {
            Routed::Engine(command) => self.handle_command(command).await,
            Routed::Answer(response) => self.respond(response),
        }
    }

    async fn handle_command(&mut self, command: WebRtcCommand) {
        if let Some(request) = NewSession::of(&command) {
            match request.remote.clone() {
                None => self.start(request).await,
                Some(remote) => self.accept(request, remote).await,
            }
            return;
        }
        match command {
            WebRtcCommand::Capabilities { .. } => {
                self.respond(WebRtcResponse::Capabilities {
                    capabilities: CallCapabilities {
                        encryption: self.task.encryption,
                    },
                });
            }
            WebRtcCommand::Start { .. } | WebRtcCommand::Offer { .. } => {}
            WebRtcCommand::Answer {
                answer,
                ice_candidates,
            } => {
                let Some(session) = self.session.as_mut().filter(|s| s.role == Role::Offerer)
                else {
                    self.error("answer: call not started".into());
                    return;
                };
                if session.remote_set {
                    self.error("answer: remote description already set".into());
                    return;
                }
                let description = match lz::decode_session(&answer) {
                    Ok(d) if d.kind == SdpType::Answer => d,
                    _ => {
                        self.error("answer: bad session description".into());
                        return;
                    }
                };
                let applied = match RTCSessionDescription::answer(description.sdp) {
                    Ok(sdp) => session.pc.set_remote_description(sdp).await,
                    Err(error) => Err(error),
                };
                match applied {
                    Ok(()) => {
                        session.remote_set = true;
                        session.checking_since = Some(Instant::now());
                        add_candidates(&session.pc, &ice_candidates).await;
                        let early = lz::encode_candidates(&std::mem::take(&mut session.early));
                        add_candidates(&session.pc, &early).await;
                    }
                    Err(error) => self.error(format!("answer: {error}")),
                }
                if self.session.as_ref().is_some_and(|s| s.remote_set) {
                    self.respond(WebRtcResponse::Ok {
                        command: CommandKind::Answer,
                    });
                }
            }
            WebRtcCommand::Ice { ice_candidates } => match self.session.as_mut() {
                Some(session) if session.remote_set => {
                    add_candidates(&session.pc, &ice_candidates).await;
                    self.respond(WebRtcResponse::Ok {
                        command: CommandKind::Ice,
                    });
                }
                Some(session) => {
                    // Race 3: the peer's trickle before its answer reached us.
                    session
                        .early
                        .extend(lz::decode_candidates(&ice_candidates).unwrap_or_default());
                    self.respond(WebRtcResponse::Ok {
                        command: CommandKind::Ice,
                    });
                }
                None => self.error("ice: call not started".into()),
            },
            WebRtcCommand::Media { source, enable } => match self.session.as_mut() {
                Some(session) => {
                    match sender_of(source) {
                        Some(Sender::Mic) => session.mic = enable,
                        Some(Sender::Camera) => session.camera = enable,
                        None => {}
                    }
                    self.respond(WebRtcResponse::Ok {
                        command: CommandKind::Media,
                    });
                }
                None => self.error("media: call not started".into()),
            },
            WebRtcCommand::Camera { .. } => {}
            WebRtcCommand::End => {
                self.respond(WebRtcResponse::Ok {
                    command: CommandKind::End,
                });
                // Then the client ends its call: its closed connection reports.
                self.close_reporting().await;
            }
        }
    }

    /// `start`: a session that makes the offer.
    async fn start(&mut self, request: NewSession) {
        self.close().await;
        let Some(mut session) = self.new_session(&request).await else {
            return;
        };
        let result = async {
            let offer = session.pc.create_offer(None).await?;
            session.pc.set_local_description(offer.clone()).await?;
            Ok::<_, webrtc::error::Error>(offer.sdp)
        }
        .await;
        match result {
            Ok(sdp) => {
                session.description = Some(self.sent_form(sdp));
                self.session = Some(session);
            }
            Err(error) => {
                let _ = session.pc.close().await;
                self.error(format!("start: {error}"));
            }
        }
    }

    /// `offer`: a session that answers the peer's offer.
    async fn accept(&mut self, request: NewSession, remote: Remote) {
        if self.session.is_some() {
            // call.ts: the running call stays; the app sends `end` first.
            self.error("accept: call already started".into());
            return;
        }
        let description = match lz::decode_session(&remote.description) {
            Ok(d) if d.kind == SdpType::Offer => d,
            _ => {
                self.error("offer: bad session description".into());
                return;
            }
        };
        let Some(mut session) = self.new_session(&request).await else {
            return;
        };
        let result = async {
            session
                .pc
                .set_remote_description(RTCSessionDescription::offer(description.sdp)?)
                .await?;
            // WebRTCClient.swift, `.offer`: every transceiver sends and receives, the four
            // of a current client or the two of an old one.
            for transceiver in session.pc.get_transceivers().await {
                transceiver
                    .set_direction(RTCRtpTransceiverDirection::Sendrecv)
                    .await?;
            }
            let answer = session.pc.create_answer(None).await?;
            session.pc.set_local_description(answer.clone()).await?;
            Ok::<_, webrtc::error::Error>(answer.sdp)
        }
        .await;
        match result {
            Ok(sdp) => {
                session.description = Some(self.sent_form(sdp));
                session.remote_set = true;
                session.checking_since = Some(Instant::now());
                add_candidates(&session.pc, &remote.candidates).await;
                self.session = Some(session);
            }
            Err(error) => {
                let _ = session.pc.close().await;
                self.error(format!("offer: {error}"));
            }
        }
    }

    /// The local description as it goes to the peer. In a simulation the origin line's
    /// session version is libwebrtc's first one, 2: webrtc-rs takes it from the wall clock
    /// (`rtc-sdp`, `new_jsep_session_description`), and the peer only compares it with later
    /// descriptions of the same session, which SimpleX never sends.
    fn sent_form(&self, sdp: String) -> String {
        if !matches!(self.task.network, Network::Simulated { .. }) {
            return sdp;
        }
        sdp.split_inclusive("\r\n")
            .map(|line| match line.strip_prefix("o=") {
                Some(origin) => {
                    let mut fields: Vec<&str> = origin.split(' ').collect();
                    if fields.len() > 2 {
                        fields[2] = "2";
                    }
                    format!("o={}", fields.join(" "))
                }
                None => line.to_owned(),
            })
            .collect()
    }

    /// A direct call of the call view.
    async fn client_call(&mut self, client: ClientId, call: ClientCall) {
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
            ClientCall::EndCall => self.close_reporting().await,
        }
    }

    /// `endCall`: closes the peer connection, whose ICE reports `closed`.
    async fn close_reporting(&mut self) {
        if let Some(mut session) = self.session.take() {
            session.state.connection_state = IceConnectionState::Closed;
            session.state.ice_connection_state = IceConnectionState::Closed;
            session.state.signaling_state = SignalingState::Closed;
            let state = session.state;
            self.session = Some(session);
            self.close().await;
            self.respond(WebRtcResponse::Connection { state });
        }
    }

    /// The app's process died: its peer connection stops mid-flight, sending nothing more.
    async fn kill(&mut self) {
        if let Some(session) = self.session.take() {
            self.read_stats(&session).await;
            session.kill.kill();
        }
    }

    fn runtime(&self, id: u64, kill: KillSwitch, relayed: bool) -> Arc<dyn Runtime> {
        let (inner, flush): (Arc<dyn Runtime>, _) = match &self.task.network {
            Network::Simulated { my_ip, faults } => (
                Arc::new(TurmoilRuntime::new(
                    *my_ip,
                    self.addresses.clone(),
                    Some(Arc::clone(faults)),
                    self.callers.clone(),
                )),
                FlushPass::ZeroSleep,
            ),
            Network::Loopback | Network::Bound { .. } => {
                (Arc::new(webrtc::runtime::TokioRuntime), FlushPass::Yield)
            }
        };
        let events = self.events.clone();
        let on_exit = Arc::new(move || {
            let _ = events.send((id, Event::DriverExited));
        });
        let mut watched = WatchedRuntime::new(inner, on_exit, kill);
        if relayed {
            watched = watched.with_relay_flush(flush);
        }
        Arc::new(match &self.task.network {
            Network::Bound {
                ip,
                faults: Some(faults),
                ..
            } => watched.with_send_loss(*ip, Arc::clone(faults)),
            _ => watched,
        })
    }

    /// Closes the session's peer connection, if any (its driver's exit is then expected).
    async fn close(&mut self) {
        if let Some(session) = self.session.take() {
            self.read_stats(&session).await;
            if let Err(error) = session.pc.close().await {
                debug!(%error, "closing the peer connection");
            }
        }
    }

    /// Ends the call from the engine's side: the ICE state seen, then the client closes its
    /// connection (`closed`).
    async fn end(&mut self, state: IceConnectionState, error: Option<String>) {
        if let Some(mut session) = self.session.take() {
            session.state.connection_state = state;
            session.state.ice_connection_state = state;
            self.respond(WebRtcResponse::Connection {
                state: session.state,
            });
            self.session = Some(session);
        }
        if let Some(message) = error {
            self.error(message);
        }
        self.close_reporting().await;
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3_600);
        let Some(s) = &self.session else {
            return far;
        };
        let mut next = far;
        for at in [s.next_poll, s.trickle_at].into_iter().flatten() {
            next = next.min(at);
        }
        if let Some(since) = s.checking_since.filter(|_| !s.connected) {
            next = next.min(since + CONNECT_LIMIT);
        }
        if s.connected {
            next = next.min(s.next_stats);
            if s.mic {
                next = next.min(s.next_audio);
            }
            if s.camera {
                next = next.min(s.next_video);
            }
        }
        next
    }

    async fn tick(&mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        self.client = session.client;
        let now = Instant::now();
        if session.next_poll.is_some_and(|at| now >= at) {
            session.polls += 1;
            if session.gathering_complete || session.polls >= DESCRIBE_POLLS {
                session.next_poll = None;
                self.describe(&mut session);
                session.trickle_at = Some(now + TRICKLE);
            } else {
                session.next_poll = Some(now + DESCRIBE_POLL);
            }
        }
        if session.trickle_at.is_some_and(|at| now >= at) {
            if !session.pending.is_empty() {
                let candidates = lz::encode_candidates(&std::mem::take(&mut session.pending));
                self.respond(WebRtcResponse::Ice {
                    ice_candidates: candidates,
                });
            }
            let over = now.duration_since(session.created) >= TRICKLE_FOR + DESCRIBE_POLL * 5;
            session.trickle_at = (!over && !session.gathering_complete).then_some(now + TRICKLE);
        }
        let stalled = session
            .checking_since
            .is_some_and(|since| !session.connected && now.duration_since(since) >= CONNECT_LIMIT);
        if stalled {
            warn!("the WebRTC connection did not come up in time");
            self.stats().failed += 1;
            self.session = Some(session);
            self.end(
                IceConnectionState::Failed,
                Some("WebRTC: the connection did not come up in 31 s".into()),
            )
            .await;
            return;
        }
        if session.connected {
            self.send_media(&mut session, now).await;
            if now >= session.next_stats {
                session.next_stats = now + STATS_EVERY;
                self.read_stats(&session).await;
            }
        }
        self.session = Some(session);
    }
}
