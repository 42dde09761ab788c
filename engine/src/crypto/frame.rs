//! Media frame encryption in SimpleX's layout: `clear prefix || AES-256-GCM(payload) || tag || IV`.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use rand_core::RngCore;

use super::MediaKey;
use crate::Error;

/// Length of the random IV appended to every frame.
pub const IV_LEN: usize = 12;
/// Length of the AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;
/// How much an encrypted frame with a non-empty payload grows: tag and IV.
pub const FRAME_OVERHEAD: usize = TAG_LEN + IV_LEN;

/// What a frame carries, which decides how many leading bytes stay in clear.
///
/// The clear prefix keeps the VP8 payload header (RFC 6386 §9.1) and the Opus TOC byte readable,
/// so packetizers and key-frame detection keep working on encrypted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// An audio frame: 1 byte in clear (the Opus TOC byte).
    Audio,
    /// A VP8 key frame: 10 bytes in clear.
    VideoKey,
    /// A VP8 inter frame: 3 bytes in clear.
    VideoDelta,
    /// An empty video frame: 1 byte in clear.
    VideoEmpty,
}

impl FrameKind {
    /// How many leading bytes of the frame stay unencrypted.
    pub fn clear_prefix_len(self) -> usize {
        match self {
            FrameKind::VideoKey => 10,
            FrameKind::VideoDelta => 3,
            FrameKind::Audio | FrameKind::VideoEmpty => 1,
        }
    }

    /// The kind of a VP8 frame as the iOS app decides it: a key frame when the P bit
    /// (bit 0 of the first byte) is 0. The first byte is in clear, so this works on both sides.
    pub fn of_video_frame(frame: &[u8]) -> Self {
        match frame.first() {
            None => FrameKind::VideoEmpty,
            Some(b) if b & 1 == 0 => FrameKind::VideoKey,
            Some(_) => FrameKind::VideoDelta,
        }
    }
}

/// Encrypts and decrypts one call's media frames with its [`MediaKey`].
#[derive(Clone)]
pub struct FrameCipher {
    aead: Aes256Gcm,
}

impl FrameCipher {
    /// A cipher for the given media key.
    pub fn new(key: &MediaKey) -> Self {
        FrameCipher {
            aead: Aes256Gcm::new(&key.0.into()),
        }
    }

    /// Encrypts a frame: the clear prefix as it is, the rest with AES-256-GCM (no AAD), then the
    /// 16-byte tag and the 12-byte IV drawn from `rng`.
    ///
    /// As in SimpleX's JS, a frame with nothing after its prefix gets only the IV appended.
    pub fn encrypt(&self, kind: FrameKind, frame: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
        let mut iv = [0; IV_LEN];
        rng.fill_bytes(&mut iv);
        let n = kind.clear_prefix_len().min(frame.len());
        let mut out = Vec::with_capacity(frame.len() + FRAME_OVERHEAD);
        out.extend_from_slice(frame);
        if frame.len() > n {
            let tag =
                self.aead
                    .encrypt_in_place_detached(Nonce::from_slice(&iv), b"", &mut out[n..]);
            match tag {
                Ok(tag) => out.extend_from_slice(&tag),
                // aes-gcm fails only for payloads over 64 GiB, which a frame never is.
                Err(_) => unreachable!("frame larger than AES-GCM allows"),
            }
        }
        out.extend_from_slice(&iv);
        out
    }

    /// Decrypts a frame made by [`FrameCipher::encrypt`] (or by SimpleX's apps).
    ///
    /// A wrong key or any changed bit in the encrypted part or IV is
    /// [`Error::FrameAuthentication`]; the frame must then be dropped, never played.
    pub fn decrypt(&self, kind: FrameKind, data: &[u8]) -> Result<Vec<u8>, Error> {
        let too_short = || Error::FrameTooShort { len: data.len() };
        let body_end = data.len().checked_sub(IV_LEN).ok_or_else(too_short)?;
        let n = kind.clear_prefix_len().min(body_end);
        let encrypted = body_end - n;
        if encrypted == 0 {
            return Ok(data[..n].to_vec());
        }
        let payload_end = body_end
            .checked_sub(TAG_LEN)
            .filter(|&e| e >= n)
            .ok_or_else(too_short)?;
        let tag = Tag::from_slice(&data[payload_end..body_end]);
        let iv = Nonce::from_slice(&data[body_end..]);
        let mut out = data[..payload_end].to_vec();
        self.aead
            .decrypt_in_place_detached(iv, b"", &mut out[n..], tag)
            .map_err(|_| Error::FrameAuthentication)?;
        Ok(out)
    }
}

impl std::fmt::Debug for FrameCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameCipher")
    }
}
