//! The command/response protocol between the app and its WebRTC engine (spec §3.5), and the
//! client's direct calls.
//!
//! The JSON shape is SimpleX's (`WCallCommand` / `WCallResponse`, tagged by `type`), so a trace
//! reads like the app's own logs. What a backend answers is iOS's native client
//! (`WebRTCClient.swift`): it never sends `ended`, it answers `answer`, `ice`, `media` and `end`
//! with `ok`, and its `connection` states are ICE connection states.

use serde::{Deserialize, Serialize};

use crate::crypto::MediaKey;
use crate::protocol::{CallCapabilities, CallMediaSource, CallMediaType, VideoCamera};

/// A command to the WebRTC engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum WebRtcCommand {
    /// Ask what the engine supports (caller, before inviting).
    Capabilities {
        /// The call's media.
        media: CallMediaType,
    },
    /// Callee: create the peer connection and an offer.
    Start {
        /// The call's media.
        media: CallMediaType,
        /// The media key, when the call is encrypted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aes_key: Option<MediaKey>,
        /// Relay-only ICE policy.
        relay: bool,
    },
    /// Caller: apply the callee's offer and answer it.
    Offer {
        /// The peer's `rtcSession` text.
        offer: String,
        /// The peer's initial candidates.
        ice_candidates: String,
        /// The call's media.
        media: CallMediaType,
        /// The media key, when the call is encrypted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aes_key: Option<MediaKey>,
        /// Relay-only ICE policy.
        relay: bool,
    },
    /// Callee: apply the caller's answer.
    Answer {
        /// The peer's `rtcSession` text.
        answer: String,
        /// The peer's initial candidates.
        ice_candidates: String,
    },
    /// Add trickled candidates.
    Ice {
        /// The candidates.
        ice_candidates: String,
    },
    /// Enable or disable a local media source (mute, camera off).
    Media {
        /// The source.
        source: CallMediaSource,
        /// On or off.
        enable: bool,
    },
    /// Switch camera (call.ts only; the native client flips its camera directly).
    Camera {
        /// The camera.
        camera: VideoCamera,
    },
    /// Close the peer connection; answered with `ok` before it closes.
    End,
}

/// A command's kind, as a response names the command it answers (`WVAPIMessage.command`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandKind {
    /// `capabilities`.
    Capabilities,
    /// `start`.
    Start,
    /// `offer`.
    Offer,
    /// `answer`.
    Answer,
    /// `ice`.
    Ice,
    /// `media`.
    Media,
    /// `camera`.
    Camera,
    /// `end`.
    End,
}

impl CommandKind {
    /// The command's name on the wire (`"capabilities"`, `"start"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Capabilities => "capabilities",
            CommandKind::Start => "start",
            CommandKind::Offer => "offer",
            CommandKind::Answer => "answer",
            CommandKind::Ice => "ice",
            CommandKind::Media => "media",
            CommandKind::Camera => "camera",
            CommandKind::End => "end",
        }
    }
}

impl WebRtcCommand {
    /// The command's kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            WebRtcCommand::Capabilities { .. } => CommandKind::Capabilities,
            WebRtcCommand::Start { .. } => CommandKind::Start,
            WebRtcCommand::Offer { .. } => CommandKind::Offer,
            WebRtcCommand::Answer { .. } => CommandKind::Answer,
            WebRtcCommand::Ice { .. } => CommandKind::Ice,
            WebRtcCommand::Media { .. } => CommandKind::Media,
            WebRtcCommand::Camera { .. } => CommandKind::Camera,
            WebRtcCommand::End => CommandKind::End,
        }
    }
}

/// What the call view calls on the WebRTC client directly, outside the command queue
/// (`ActiveCallView`'s buttons, and its closing). The client answers none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ClientCall {
    /// `setAudioEnabled`: the microphone button; works before a peer connection exists.
    SetAudioEnabled {
        /// On or off.
        enabled: bool,
    },
    /// `setCameraEnabled`: the camera button.
    SetCameraEnabled {
        /// On or off.
        enabled: bool,
    },
    /// `flipCamera`.
    FlipCamera {
        /// The camera to use.
        camera: VideoCamera,
    },
    /// `endCall`: the call view went away; the peer connection closes without a response.
    EndCall,
}

impl WebRtcCommand {
    /// Whether the command runs without a peer connection (`capabilities`, `start`, `offer`,
    /// `end`); the others wait at the head of the queue until one exists.
    pub fn runs_without_connection(&self) -> bool {
        matches!(
            self,
            WebRtcCommand::Capabilities { .. }
                | WebRtcCommand::Start { .. }
                | WebRtcCommand::Offer { .. }
                | WebRtcCommand::End
        )
    }
}

/// `RTCIceConnectionState`, as the native client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IceConnectionState {
    /// Nothing yet.
    New,
    /// Checking candidate pairs.
    Checking,
    /// A pair works.
    Connected,
    /// Checks finished.
    Completed,
    /// Connectivity lost.
    Disconnected,
    /// No pair works.
    Failed,
    /// The connection was closed.
    Closed,
}

impl IceConnectionState {
    /// The state's name, as `connectionState` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            IceConnectionState::New => "new",
            IceConnectionState::Checking => "checking",
            IceConnectionState::Connected => "connected",
            IceConnectionState::Completed => "completed",
            IceConnectionState::Disconnected => "disconnected",
            IceConnectionState::Failed => "failed",
            IceConnectionState::Closed => "closed",
        }
    }
}

/// `RTCIceGatheringState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IceGatheringState {
    /// Not started.
    New,
    /// Gathering candidates.
    Gathering,
    /// Done.
    Complete,
}

/// `RTCSignalingState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignalingState {
    /// No offer outstanding.
    Stable,
    /// A local offer is set.
    HaveLocalOffer,
    /// A remote offer is set.
    HaveRemoteOffer,
    /// Closed.
    Closed,
}

/// The states a `connection` response carries. The native iOS client implements only the ICE
/// connection state callback, so `connection_state` holds the ICE connection state too
/// (`WebRTCClient.peerConnection(_:didChange: RTCIceConnectionState)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionState {
    /// The ICE connection state, in the field SimpleX's app reads.
    pub connection_state: IceConnectionState,
    /// The ICE connection state.
    pub ice_connection_state: IceConnectionState,
    /// The ICE gathering state.
    pub ice_gathering_state: IceGatheringState,
    /// The signaling state.
    pub signaling_state: SignalingState,
}

impl ConnectionState {
    /// The states of an ICE state change, gathering complete and signaling stable.
    pub fn ice(state: IceConnectionState) -> Self {
        ConnectionState {
            connection_state: state,
            ice_connection_state: state,
            ice_gathering_state: IceGatheringState::Complete,
            signaling_state: if state == IceConnectionState::Closed {
                SignalingState::Closed
            } else {
                SignalingState::Stable
            },
        }
    }
}

/// The candidate pair a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// The local candidate's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_candidate: Option<CandidateType>,
    /// The remote candidate's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_candidate: Option<CandidateType>,
}

impl ConnectionInfo {
    /// Whether media goes through a TURN server: either end of the pair is a relay candidate.
    pub fn relayed(&self) -> bool {
        self.local_candidate == Some(CandidateType::Relay)
            || self.remote_candidate == Some(CandidateType::Relay)
    }
}

/// An ICE candidate's type (RFC 8445).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    /// A local interface's address.
    Host,
    /// The address a STUN server saw.
    Srflx,
    /// An address learned from a peer's checks.
    Prflx,
    /// A TURN server's relayed address.
    Relay,
}

impl CandidateType {
    /// The type's name in SDP (`typ host`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    /// The type an SDP name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "host" => Some(CandidateType::Host),
            "srflx" => Some(CandidateType::Srflx),
            "prflx" => Some(CandidateType::Prflx),
            "relay" => Some(CandidateType::Relay),
            _ => None,
        }
    }
}

/// A response or event from the WebRTC engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum WebRtcResponse {
    /// What the engine supports.
    Capabilities {
        /// Frame encryption support.
        capabilities: CallCapabilities,
    },
    /// The callee's offer, with its first candidates.
    Offer {
        /// `rtcSession` text.
        offer: String,
        /// Initial candidates.
        ice_candidates: String,
        /// Frame encryption support.
        capabilities: CallCapabilities,
    },
    /// The caller's answer, with its first candidates.
    Answer {
        /// `rtcSession` text.
        answer: String,
        /// Initial candidates.
        ice_candidates: String,
    },
    /// Trickled candidates.
    Ice {
        /// The candidates.
        ice_candidates: String,
    },
    /// A connection state change.
    Connection {
        /// The states.
        state: ConnectionState,
    },
    /// Media is flowing over this candidate pair.
    Connected {
        /// The pair.
        connection_info: ConnectionInfo,
    },
    /// call.ts's engine ended the call; iOS's native client never sends it.
    Ended,
    /// A command completed.
    Ok {
        /// The command it answers.
        command: CommandKind,
    },
    /// A command failed, e.g. `answer: call not started`.
    Error {
        /// SimpleX's error text.
        message: String,
    },
}
