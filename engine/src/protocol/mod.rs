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

pub use item::{CICallStatus, CallItem, MsgDirection};
pub use message::{
    CallAnswer, CallEvent, CallExtraInfo, CallInvitation, CallOffer, ChatMessage, MAX_MESSAGE_BYTES,
};
pub use types::{
    CallCapabilities, CallId, CallMediaSource, CallMediaType, CallType, ContactRef,
    RcvCallInvitation, SharedMsgId, Timestamp, UserRef, VersionRange, VideoCamera, WebRTCCallOffer,
    WebRTCCallStatus, WebRTCExtraInfo, WebRTCSession,
};

/// Implements serde for a type whose JSON form is a string, via `Display` and `FromStr`.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        $crate::protocol::string_deserialize!($ty, $expecting);
    };
}
pub(crate) use string_serde;

/// Implements `Deserialize` via `FromStr`, for types that serialize themselves.
macro_rules! string_deserialize {
    ($ty:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(Visitor)
            }
        }
    };
}
pub(crate) use string_deserialize;

/// Implements serde for fixed-size bytes written as padded base64url, through a stack buffer.
macro_rules! base64_serde {
    ($ty:ty, $len:expr, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; (($len) as usize).div_ceil(3) * 4];
                s.serialize_str($crate::base64url::encode_into(&self.wire_bytes(), &mut buf))
            }
        }

        $crate::protocol::string_deserialize!($ty, $expecting);
    };
}
pub(crate) use base64_serde;
