//! The engine's one error type.

/// Everything that can go wrong in the engine: malformed peer input, bad keys, bad frames.
///
/// Messages are short and lowercase so they can be embedded in a line such as
/// `line 3: params.invitation.callDhPubKey: wrong key type ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The encoded message is larger than SimpleX allows for one chat message.
    #[error("message too large: {size} bytes, the limit is {limit}")]
    TooLarge {
        /// Size of the rejected message in bytes.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },
    /// The input is not well-formed JSON (or not UTF-8).
    #[error("bad JSON: {0}")]
    BadJson(String),
    /// The JSON is not a chat message envelope `{"v","msgId","event","params"}`.
    #[error("not a chat message: {0}")]
    BadEnvelope(String),
    /// A well-formed chat message whose event is not one of the `x.call.*` events.
    #[error("not a call event: {0:?}")]
    NotCallEvent(String),
    /// A field of a call message is missing or malformed; `path` is its JSON path.
    #[error("{path}: {reason}")]
    BadField {
        /// Dotted JSON path of the field, e.g. `params.invitation.callDhPubKey`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A base64 string does not decode.
    #[error("bad base64: {0}")]
    BadBase64(String),
    /// A value decoded to the wrong number of bytes.
    #[error("wrong length: expected {expected} bytes, got {got}")]
    WrongLength {
        /// The length required.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// A public key of the right length whose DER header names another algorithm.
    #[error("wrong key type: not an X25519 SubjectPublicKeyInfo")]
    WrongKeyType,
    /// A version or version range string that does not parse.
    #[error("bad version range {0:?}")]
    BadVersionRange(String),
    /// A WebRTC call status string other than connecting, connected, disconnected or failed.
    #[error("bad WebRTC call status {0:?}")]
    BadCallStatus(String),
    /// An lz-string field that does not hold the JSON it should.
    #[error("bad {field}: {reason}")]
    BadRtcText {
        /// `rtcSession` or `rtcIceCandidates`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An encrypted media frame too short to hold its IV and authentication tag.
    #[error("frame too short: {len} bytes")]
    FrameTooShort {
        /// Length of the rejected frame.
        len: usize,
    },
    /// A call API command for a contact with no call (`CENoCurrentCall`).
    #[error("no current call")]
    NoCurrentCall,
    /// A call API command in a state that does not allow it (`CECallState`); nothing changed.
    #[error("wrong call state: {0}")]
    CallState(crate::call_state::CallStateTag),
    /// The contact's preferences do not allow calls.
    #[error("feature not allowed calls")]
    CallsNotAllowed,
    /// No contact with this id.
    #[error("unknown contact {0}")]
    UnknownContact(i64),
    /// A media frame that fails AES-GCM authentication: wrong key, or tampered with.
    #[error("frame authentication failed: wrong key or tampered frame")]
    FrameAuthentication,
}
