//! The chat-core call sub-protocol on the wire, exactly as SimpleX writes it.
//!
//! A call message is an ordinary chat message, `{"v":"1-19","msgId":"...","event":"x.call.inv","params":{...}}`,
//! sent end-to-end encrypted over the contact's SMP queue ([`ChatMessage`], [`CallEvent`]). The
//! JSON matches what SimpleX's core writes byte for byte: the envelope's keys in the order `v`,
//! `msgId`, `event`, `params`, and every object inside `params` with its keys sorted, at every
//! depth (the core builds `params` as an aeson `Object`, a sorted map; see `wire`); `Nothing`
//! fields omitted, byte strings as padded base64url, and the X25519 key as base64url of its DER
//! SubjectPublicKeyInfo. Decoding takes the keys in any order and ignores unknown ones, as
//! aeson does. The call types' own `Serialize` keep declaration order, as a standalone
//! `J.encode` of a Haskell record would (spec §6.1).
//!
//! The apps fill `rtcSession` and `rtcIceCandidates` with lz-string `compressToBase64` of the SDP
//! and candidate JSON; [`rtc`] converts both ways, and [`readable`] turns a whole message into a
//! human-readable form (and back) for the `callsim protocol` commands.

mod item;
mod message;
pub mod readable;
pub mod rtc;
mod types;
mod wire;

pub use crate::ids::CallId;
pub use item::{CICallStatus, CallItem, MsgDirection};
pub use message::{
    CallAnswer, CallEvent, CallExtraInfo, CallInvitation, CallOffer, ChatMessage, MAX_MESSAGE_BYTES,
};
pub use types::{
    CallCapabilities, CallMediaSource, CallMediaType, CallType, ContactRef, RcvCallInvitation,
    SharedMsgId, Timestamp, UserRef, VersionRange, VideoCamera, WebRTCCallOffer, WebRTCCallStatus,
    WebRTCExtraInfo, WebRTCSession,
};
