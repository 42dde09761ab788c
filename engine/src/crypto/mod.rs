//! Call cryptography: the X25519 call key exchange, the media key, and media frame encryption.
//!
//! The caller sends an X25519 public key in `x.call.inv`, the callee answers with its own in
//! `x.call.offer`, and both compute the same DH secret. The media key is that secret itself
//! (v1, the current release) or HKDF-SHA512 over it with the call id as salt (v2). The apps get
//! the key as padded base64url and encrypt every media frame with AES-256-GCM ([`FrameCipher`]).
//!
//! Keys and IVs come from an RNG passed in by the caller, never from the OS, so a seeded
//! simulation reproduces every byte.

mod frame;

pub use frame::{FRAME_OVERHEAD, FrameCipher, FrameKind, IV_LEN, MediaPlatform, TAG_LEN};

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use rand_core::RngCore;
use sha2::Sha512;
use x25519_dalek::StaticSecret;

use crate::base64url::base64_serde;
use crate::ids::CallId;
use crate::{Error, base64url};

/// The DER header of an X25519 SubjectPublicKeyInfo (RFC 8410, OID 1.3.101.110).
const SPKI_X25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];

/// Length of an X25519 SubjectPublicKeyInfo in DER: the header and the 32-byte key.
pub const SPKI_LEN: usize = 44;

/// An X25519 public key (`callDhPubKey`).
///
/// On the wire it is padded base64url of its DER SubjectPublicKeyInfo, so the text starts with
/// `MCowBQYDK2VuAyEA`. Decoding rejects the wrong length and other algorithms (such as an
/// Ed25519 key, which has the same length) with distinct errors.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The DER SubjectPublicKeyInfo encoding.
    pub fn to_spki_der(&self) -> [u8; SPKI_LEN] {
        let mut der = [0; SPKI_LEN];
        der[..12].copy_from_slice(&SPKI_X25519_PREFIX);
        der[12..].copy_from_slice(&self.0);
        der
    }

    fn wire_bytes(&self) -> [u8; SPKI_LEN] {
        self.to_spki_der()
    }

    /// Parses a DER SubjectPublicKeyInfo of an X25519 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        if der.len() != SPKI_LEN {
            return Err(Error::WrongLength {
                expected: SPKI_LEN,
                got: der.len(),
            });
        }
        let (prefix, key) = der.split_at(12);
        if prefix != SPKI_X25519_PREFIX {
            return Err(Error::WrongKeyType);
        }
        let mut bytes = [0; 32];
        bytes.copy_from_slice(key);
        Ok(PublicKey(bytes))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url::encode(&self.to_spki_der()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match base64url::decode_array::<SPKI_LEN>(s) {
            Ok(der) => PublicKey::from_spki_der(&der),
            // Not 44 bytes (or not base64): the slow path names what is wrong.
            Err(_) => PublicKey::from_spki_der(&base64url::decode(s)?),
        }
    }
}

base64_serde!(
    PublicKey,
    SPKI_LEN,
    "a base64url X25519 SubjectPublicKeyInfo"
);

/// An X25519 key pair for one call.
#[derive(Clone)]
pub struct KeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    /// A fresh key pair from the given RNG (the phone's seeded RNG in a simulation).
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0; 32];
        rng.fill_bytes(&mut bytes);
        KeyPair::from_secret_bytes(bytes)
    }

    /// The key pair of a given private scalar (clamped as X25519 requires).
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        KeyPair { secret, public }
    }

    /// The public half, to send to the peer.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The raw X25519 shared secret with `peer` (`dh'` in simplexmq).
    ///
    /// Like SimpleX, this does not reject low-order peer keys; the result is then all zeros.
    pub fn diffie_hellman(&self, peer: &PublicKey) -> DhSecret {
        let peer = x25519_dalek::PublicKey::from(peer.0);
        DhSecret(self.secret.diffie_hellman(&peer).to_bytes())
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}, secret hidden)", self.public)
    }
}

/// The raw 32-byte X25519 shared secret of a call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DhSecret(pub [u8; 32]);

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSecret(hidden)")
    }
}

/// How the media key is derived from the DH secret (SimpleX's call version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MediaKeyVersion {
    /// Call version 1 (and messages without a version): the DH secret is the key.
    #[default]
    V1,
    /// Call version 2 and later: HKDF-SHA512, salt = call id bytes, info `SimpleXCallMediaKey`.
    V2,
}

impl MediaKeyVersion {
    /// The derivation a negotiated call version uses (`callVersion` in `x.call.offer`).
    pub fn for_call_version(version: Option<u16>) -> Self {
        match version {
            Some(v) if v >= 2 => MediaKeyVersion::V2,
            _ => MediaKeyVersion::V1,
        }
    }
}

/// The HKDF info string of the v2 media key.
pub const MEDIA_KEY_INFO: &[u8] = b"SimpleXCallMediaKey";

/// The AES-256-GCM key that encrypts a call's media frames (`sharedKey`, the apps' `aesKey`).
///
/// Its text form is padded base64url of the 32 bytes (44 characters ending in `=`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaKey(pub [u8; 32]);

impl MediaKey {
    /// Derives the media key of a call from its DH secret.
    pub fn derive(version: MediaKeyVersion, call_id: &CallId, dh: &DhSecret) -> Self {
        match version {
            MediaKeyVersion::V1 => MediaKey(dh.0),
            MediaKeyVersion::V2 => {
                let hk = Hkdf::<Sha512>::new(Some(call_id.as_bytes()), &dh.0);
                let mut key = [0; 32];
                // 32 bytes is far below HKDF-SHA512's limit of 255 * 64, so expand cannot fail.
                if hk.expand(MEDIA_KEY_INFO, &mut key).is_err() {
                    unreachable!("HKDF output length is valid");
                }
                MediaKey(key)
            }
        }
    }
}

impl MediaKey {
    fn wire_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Display for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url::encode(&self.0))
    }
}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaKey({self})")
    }
}

impl FromStr for MediaKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        base64url::decode_array(s).map(MediaKey)
    }
}

base64_serde!(MediaKey, 32, "a base64url 32-byte media key");
