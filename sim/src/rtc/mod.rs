//! callsim's WebRTC backends and what they share.
//!
//! Two backends implement the engine's `WebRtc` trait:
//! - **SimRtc** ([`endpoint`]): a light model of a WebRTC stack (ICE checks, a DTLS-shaped
//!   handshake, encrypted media, TURN for the relay-only policy) written as a sans-IO state
//!   machine: datagrams and commands in, datagrams and responses out, time an argument. The
//!   turmoil world runs it over simulated UDP through a thin adapter of its own; the in-memory
//!   world routes its datagrams itself.
//! - **RealRtc** ([`real`]): webrtc-rs 0.21, the real stack, in a turmoil host or on real UDP.
//!
//! Both report the same things ([`RtcStats`]), carry the same frames ([`media`]), measure what
//! they receive the same way ([`receive`]) and are driven by the same controls ([`RtcControl`]).
//! [`turn`] is SimRtc's TURN server of the relay-only policy, also sans-IO; [`real_turn`] is a
//! real TURN server (RFC 8656 over UDP) for the real stack; [`sdp`] writes session
//! descriptions shaped as current SimpleX clients write them.

pub mod backend;
pub mod endpoint;
pub mod media;
pub mod real;
pub mod real_turn;
pub mod receive;
pub mod sdp;
pub mod timers;
pub mod turn;
pub mod turn_serve;

use std::sync::atomic::{AtomicBool, Ordering};

use callsim_engine::crypto::MediaKey;
use callsim_engine::ids::ClientId;
use callsim_engine::io::webrtc::{ClientCall, CommandKind, WebRtcCommand, WebRtcResponse};
use callsim_engine::protocol::{CallMediaSource, CallMediaType};
use serde::{Deserialize, Serialize};

/// Counters of one phone's WebRTC engine over the whole run: what both backends report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// What drives a backend's engine: the phone's commands and direct calls, each from one of its
/// WebRTC clients, and the death of the app's process.
#[derive(Debug, Clone)]
pub enum RtcControl {
    /// A command of the phone, from one of its clients.
    Command(ClientId, WebRtcCommand),
    /// A direct call of the phone's call view, to one of its clients.
    Call(ClientId, ClientCall),
    /// The app's process died: the engine vanishes without a word.
    Kill,
}

/// Which end of the peer connection a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Made the offer (`start`, the callee): the DTLS server.
    Offerer,
    /// Answered (`offer`, the caller): the DTLS client.
    Answerer,
}

/// A fault: new sessions use a wrong media key, as a broken key agreement would give.
#[derive(Debug, Clone, Default)]
pub struct WrongKey(std::sync::Arc<AtomicBool>);

impl WrongKey {
    /// From now on, new sessions use a wrong key.
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the fault is on.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The key a new session uses: `key`, or a wrong one under the fault.
    pub fn apply(&self, key: MediaKey) -> MediaKey {
        let mut key = key;
        if self.0.load(Ordering::Relaxed) {
            key.0[0] ^= 0xFF;
        }
        key
    }
}

/// Where a command from one of the phone's clients goes. Each client is a peer connection of
/// its own: a command from a client that is not the live session's has nothing to act on (its
/// own connection already closed), so it gets its answer here.
#[derive(Debug)]
pub enum Routed {
    /// To the engine, for the live session (or a new one).
    Engine(WebRtcCommand),
    /// Answered at once.
    Answer(WebRtcResponse),
}

/// Routes `command` from `client`, given the client of the live session, if any.
pub fn route(session_client: Option<ClientId>, client: ClientId, command: WebRtcCommand) -> Routed {
    if session_client.is_none_or(|c| c == client) {
        return Routed::Engine(command);
    }
    match command {
        WebRtcCommand::End => Routed::Answer(WebRtcResponse::Ok {
            command: CommandKind::End,
        }),
        WebRtcCommand::Answer { .. } | WebRtcCommand::Ice { .. } | WebRtcCommand::Media { .. } => {
            Routed::Answer(WebRtcResponse::Error {
                message: format!("{}: call not started", command.kind().as_str()),
            })
        }
        command => Routed::Engine(command),
    }
}

/// The peer's side of a call being accepted: its offer and first candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The lz-string session description.
    pub description: String,
    /// The lz-string candidates.
    pub candidates: String,
}

/// What a `start` or `offer` command asks for: a new session, its role, media, key and policy,
/// and for `offer`, the peer's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Offerer for `start` (the callee), answerer for `offer` (the caller).
    pub role: Role,
    /// The call's media.
    pub media: CallMediaType,
    /// The media key, if the call is encrypted.
    pub key: Option<MediaKey>,
    /// The relay-only ICE policy.
    pub relay: bool,
    /// The peer's offer, for `offer`.
    pub remote: Option<Remote>,
}

impl NewSession {
    /// The new session `command` asks for, if it is `start` or `offer`.
    pub fn of(command: &WebRtcCommand) -> Option<Self> {
        match command {
            WebRtcCommand::Start {
                media,
                aes_key,
                relay,
            } => Some(NewSession {
                role: Role::Offerer,
                media: *media,
                key: *aes_key,
                relay: *relay,
                remote: None,
            }),
            WebRtcCommand::Offer {
                offer,
                ice_candidates,
                media,
                aes_key,
                relay,
            } => Some(NewSession {
                role: Role::Answerer,
                media: *media,
                key: *aes_key,
                relay: *relay,
                remote: Some(Remote {
                    description: offer.clone(),
                    candidates: ice_candidates.clone(),
                }),
            }),
            _ => None,
        }
    }
}

/// Which of its senders a `media` command switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The microphone.
    Mic,
    /// The camera.
    Camera,
}

/// The sender a `media` command's source names (screen sharing has none here).
pub fn sender_of(source: CallMediaSource) -> Option<Sender> {
    match source {
        CallMediaSource::Mic => Some(Sender::Mic),
        CallMediaSource::Camera => Some(Sender::Camera),
        _ => None,
    }
}
