//! The ids everything else refers to: contacts, chat items, calls, CallKit's calls and actions.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rand_core::RngCore;

use crate::{Error, base64url};

/// A contact's id in the chat database.
pub type ContactId = i64;

/// A chat item's id.
pub type ItemId = u64;

/// Identifies one CallKit action (`CXAction`) so the phone can fulfil or fail it later.
pub type ActionId = u64;

/// Identifies one WebRTC client: each call view makes its own (`ActiveCallView.client`), and
/// only the view that made a client acts on that client's responses.
pub type ClientId = u64;

/// A call's UUID as SimpleX writes it, lowercase (`callUUID`): the core makes one for every
/// call, and the notification extension, the app and CallKit all name the call by it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct CallUuid(String);

impl CallUuid {
    /// A random (version 4) UUID from the given RNG (a phone's seeded RNG in a simulation).
    pub fn random(rng: &mut impl RngCore) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut text = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                text.push('-');
            }
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        CallUuid(text)
    }

    /// The UUID's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CallUuid {
    fn from(text: &str) -> Self {
        CallUuid(text.to_lowercase())
    }
}

/// A call id: on the wire as padded base64url (`"q83vEjRWeJCrze8SNFZ4kA=="`).
///
/// SimpleX's core makes 16 random bytes, but it parses any non-empty base64url string as a
/// call id, of any length, padded or not (`CallId`'s `strP` is simplexmq's `base64urlP`, with
/// no length check), so callsim accepts the same. The bytes are shared, so a clone is cheap.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(Arc<[u8]>);

impl CallId {
    /// How many random bytes SimpleX's core makes for a new call id.
    pub const LEN: usize = 16;

    /// A fresh 16-byte call id from the given RNG (the phone's seeded RNG in a simulation).
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0; Self::LEN];
        rng.fill_bytes(&mut bytes);
        CallId(Arc::from(bytes.as_slice()))
    }

    /// A call id of these bytes; `None` if there are none (an empty id does not parse).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (!bytes.is_empty()).then(|| CallId(Arc::from(bytes)))
    }

    /// The raw bytes (the HKDF salt of the v2 media key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url::encode(&self.0))
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({self})")
    }
}

impl FromStr for CallId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        base64url::decode_nonempty(s).map(|bytes| CallId(Arc::from(bytes)))
    }
}

impl serde::Serialize for CallId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Call ids are 16 bytes in practice: encode them without allocating.
        let mut buf = [0u8; 64];
        if self.0.len() <= 48 {
            s.serialize_str(base64url::encode_into(&self.0, &mut buf))
        } else {
            s.collect_str(self)
        }
    }
}

base64url::string_deserialize!(CallId, "a base64url call id");
