//! base64url as SimpleX writes it: URL-safe alphabet with `=` padding.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Error;

/// Writes padding, reads with or without it (Haskell's decoder accepts both).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn encode(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

pub(crate) fn decode(text: &str) -> Result<Vec<u8>, Error> {
    ENGINE
        .decode(text)
        .map_err(|e| Error::BadBase64(e.to_string()))
}

/// Decodes a base64url string as simplexmq's `base64urlP` takes it: at least one character,
/// padding optional.
pub(crate) fn decode_nonempty(text: &str) -> Result<Vec<u8>, Error> {
    if text.trim_end_matches('=').is_empty() {
        return Err(Error::BadBase64("empty".into()));
    }
    decode(text)
}

/// Encodes into `buf` (which must hold `4 * ceil(len / 3)` bytes) without allocating.
pub(crate) fn encode_into<'a>(bytes: &[u8], buf: &'a mut [u8]) -> &'a str {
    let len = ENGINE.encode_slice(bytes, buf).unwrap_or(0);
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// Decodes exactly `N` bytes.
pub(crate) fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], Error> {
    // The common case without allocating; anything else takes the path with precise errors.
    let mut buf = [0u8; 64];
    if N <= buf.len()
        && let Ok(len) = ENGINE.decode_slice(text, &mut buf)
        && len == N
    {
        let mut out = [0u8; N];
        out.copy_from_slice(&buf[..N]);
        return Ok(out);
    }
    let bytes = decode(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| Error::WrongLength {
        expected: N,
        got: bytes.len(),
    })
}

/// Implements serde for a type whose JSON form is a string, via `Display` and `FromStr`.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        $crate::base64url::string_deserialize!($ty, $expecting);
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

        $crate::base64url::string_deserialize!($ty, $expecting);
    };
}
pub(crate) use base64_serde;
