//! The command/response protocol between the app and its WebRTC engine (spec §3.5).
//!
//! The JSON shape is SimpleX's (`WCallCommand` / `WCallResponse`, tagged by `type`), so a trace
//! reads like the app's own logs.

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
    /// Switch camera.
    Camera {
        /// The camera.
        camera: VideoCamera,
    },
    /// Close the peer connection.
    End,
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

/// The state strings of a `connection` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionState {
    /// `RTCPeerConnectionState` (`new`, `connecting`, `connected`, `disconnected`, `failed`, `closed`).
    pub connection_state: String,
    /// `RTCIceConnectionState`.
    pub ice_connection_state: String,
    /// `RTCIceGatheringState`.
    pub ice_gathering_state: String,
    /// `RTCSignalingState`.
    pub signaling_state: String,
}

impl ConnectionState {
    /// A state where every field says `state` except signaling, which is `stable`.
    pub fn uniform(state: &str) -> Self {
        ConnectionState {
            connection_state: state.into(),
            ice_connection_state: state.into(),
            ice_gathering_state: "complete".into(),
            signaling_state: "stable".into(),
        }
    }
}

/// The candidate pair a connection uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// Local candidate type (`host`, `srflx`, `relay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_candidate: Option<String>,
    /// Remote candidate type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_candidate: Option<String>,
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
    /// The engine ended the call (on `end`, or by itself on disconnect or failure).
    Ended,
    /// A command completed.
    Ok,
    /// A command failed, e.g. `answer: call not started`.
    Error {
        /// SimpleX's error text.
        message: String,
    },
}
