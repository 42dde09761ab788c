//! Media frame encryption in SimpleX's layout: `clear prefix || AES-256-GCM(payload) || tag || IV`.

use rand_core::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use serde::{Deserialize, Serialize};

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

/// Which of SimpleX's WebRTC clients handles the frames. The two write the same layout and
/// read each other's frames, but differ in two details (errata W6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaPlatform {
    /// iOS's native client: `WebRTCClient.swift`'s frame encryptor over the core's
    /// `chat_encrypt_media` (`Mobile/WebRTC.hs`). Every frame gets a tag and an IV, 28 bytes
    /// more even when nothing follows the clear prefix. A frame that does not decrypt is still
    /// handed to the decoder (`frameDecryptor` returns the buffer whatever the result), so the
    /// stream goes on.
    #[default]
    Ios,
    /// call.ts (Android and desktop, in a web view): `callCryptoFunction`'s `encryptFrame` gives
    /// a frame with nothing after its prefix only the IV (12 bytes more). A frame that does not
    /// decrypt throws inside the transform stream, which errors the stream's pipe: that
    /// receiver gets no frame again for the rest of the call.
    Js,
}

/// Encrypts and decrypts one call's media frames with its [`MediaKey`], as one platform does.
#[derive(Clone)]
pub struct FrameCipher {
    /// ring's AES-256-GCM: a third faster than RustCrypto's on an 80-byte frame, and a call
    /// seals and opens fifty a second each way.
    aead: LessSafeKey,
    platform: MediaPlatform,
}

impl FrameCipher {
    /// A cipher for the given media key, writing frames as `platform` does.
    pub fn new(key: &MediaKey, platform: MediaPlatform) -> Self {
        let key = match UnboundKey::new(&AES_256_GCM, &key.0) {
            Ok(key) => key,
            // ring refuses only a key of the wrong length; a media key is 32 bytes.
            Err(_) => unreachable!("a media key is an AES-256 key"),
        };
        FrameCipher {
            aead: LessSafeKey::new(key),
            platform,
        }
    }

    /// The platform whose frames this cipher writes.
    pub fn platform(&self) -> MediaPlatform {
        self.platform
    }

    /// Encrypts a frame: the clear prefix as it is, the rest with AES-256-GCM (no AAD), then the
    /// 16-byte tag and the 12-byte IV drawn from `rng`.
    ///
    /// A frame with nothing after its prefix gets a tag and the IV on iOS, only the IV in
    /// call.ts ([`MediaPlatform`]).
    pub fn encrypt(&self, kind: FrameKind, frame: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
        let mut iv = [0; IV_LEN];
        rng.fill_bytes(&mut iv);
        let n = kind.clear_prefix_len().min(frame.len());
        let mut out = Vec::with_capacity(frame.len() + FRAME_OVERHEAD);
        out.extend_from_slice(frame);
        if frame.len() > n || self.platform == MediaPlatform::Ios {
            let nonce = Nonce::assume_unique_for_key(iv);
            let tag = self
                .aead
                .seal_in_place_separate_tag(nonce, Aad::empty(), &mut out[n..]);
            match tag {
                Ok(tag) => out.extend_from_slice(tag.as_ref()),
                // AES-GCM fails only for payloads over 64 GiB, which a frame never is.
                Err(_) => unreachable!("frame larger than AES-GCM allows"),
            }
        }
        out.extend_from_slice(&iv);
        out
    }

    /// Decrypts a frame made by [`FrameCipher::encrypt`] (or by SimpleX's apps), of either
    /// platform: both read a frame that has only an IV after its prefix, or a tag and an IV.
    ///
    /// A wrong key or any changed bit in the encrypted part or IV is
    /// [`Error::FrameAuthentication`]; what the receiver does then depends on its platform
    /// ([`MediaPlatform`]), but the frame's content is never the sender's.
    pub fn decrypt(&self, kind: FrameKind, data: &[u8]) -> Result<Vec<u8>, Error> {
        let too_short = || Error::FrameTooShort { len: data.len() };
        let body_end = data.len().checked_sub(IV_LEN).ok_or_else(too_short)?;
        let n = kind.clear_prefix_len().min(body_end);
        let encrypted = body_end - n;
        if encrypted == 0 {
            return Ok(data[..n].to_vec());
        }
        // Less than a tag after the prefix: a frame shorter than its prefix that carries a tag
        // (iOS adds one to every frame); a call.ts frame always has a tag after its payload.
        let payload_end = body_end.checked_sub(TAG_LEN).ok_or_else(too_short)?;
        let n = n.min(payload_end);
        let tag = Tag::try_from(&data[payload_end..body_end]).map_err(|_| too_short())?;
        let iv = Nonce::try_assume_unique_for_key(&data[body_end..]).map_err(|_| too_short())?;
        let mut out = data[..payload_end].to_vec();
        self.aead
            .open_in_place_separate_tag(iv, Aad::empty(), tag, &mut out[n..], 0..)
            .map_err(|_| Error::FrameAuthentication)?;
        Ok(out)
    }
}

impl std::fmt::Debug for FrameCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameCipher")
    }
}
