//! The media both WebRTC backends send: frame shapes, their encryption, and what a received
//! frame counts as. One definition, so SimRtc and RealRtc carry the same frames.

use std::time::Duration;

use callsim_engine::crypto::{FrameCipher, FrameKind, MediaPlatform};
use rand_core::RngCore;

use super::RtcStats;

/// An audio frame every 20 ms (Opus's usual packet time).
pub(crate) const AUDIO_EVERY_MS: u64 = 20;
/// A video frame every 33 ms (30 fps).
pub(crate) const VIDEO_EVERY_MS: u64 = 33;
/// [`AUDIO_EVERY_MS`] as a duration.
pub(crate) const AUDIO_EVERY: Duration = Duration::from_millis(AUDIO_EVERY_MS);
/// [`VIDEO_EVERY_MS`] as a duration.
pub(crate) const VIDEO_EVERY: Duration = Duration::from_millis(VIDEO_EVERY_MS);
/// Every 60th video frame (2 s) is a key frame.
const KEY_FRAME_EVERY: u32 = 60;

/// The `seq`th audio frame: Opus-shaped, 80 bytes (a TOC byte, then the sequence number).
pub(crate) fn audio_frame(seq: u32) -> Vec<u8> {
    let mut frame = vec![0x78u8; 80];
    frame[1..5].copy_from_slice(&seq.to_be_bytes());
    frame
}

/// The `seq`th video frame: VP8-shaped, a 6,000-byte key frame every 2 s and 1,500-byte
/// delta frames between, so the clear prefix of spec 4 (10 bytes or 3) follows the frame type.
pub(crate) fn video_frame(seq: u32) -> Vec<u8> {
    let key = seq % KEY_FRAME_EVERY == 1;
    let mut frame = vec![0u8; if key { 6_000 } else { 1_500 }];
    // A VP8 frame tag: bit 0 clear on key frames (RFC 6386 §9.1).
    frame[0] = if key { 0x10 } else { 0x31 };
    frame[1..5].copy_from_slice(&seq.to_be_bytes());
    frame
}

/// A frame as it leaves: encrypted in SimpleX's layout when the call has a key.
pub(crate) fn protect(
    cipher: Option<&FrameCipher>,
    kind: FrameKind,
    frame: Vec<u8>,
    rng: &mut impl RngCore,
) -> Vec<u8> {
    match cipher {
        Some(cipher) => cipher.encrypt(kind, &frame, rng),
        None => frame,
    }
}

/// The `seq`th audio frame as it leaves.
pub(crate) fn audio_out(cipher: Option<&FrameCipher>, seq: u32, rng: &mut impl RngCore) -> Vec<u8> {
    protect(cipher, FrameKind::Audio, audio_frame(seq), rng)
}

/// The `seq`th video frame as it leaves.
pub(crate) fn video_out(cipher: Option<&FrameCipher>, seq: u32, rng: &mut impl RngCore) -> Vec<u8> {
    let frame = video_frame(seq);
    let kind = FrameKind::of_video_frame(&frame);
    protect(cipher, kind, frame, rng)
}

/// What became of the frames one receiver got: its frame decryptor, as its platform runs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct FrameReceiver {
    /// call.ts only: a frame failed to decrypt, which errored the receiver's transform stream;
    /// nothing reaches the decoder again.
    stopped: bool,
}

impl FrameReceiver {
    /// Counts a frame that arrived whole: decrypted and played; undecryptable (on iOS handed to
    /// the decoder as it is, so not played as the sender's; in call.ts the end of this
    /// receiver's stream); or lost behind a stopped stream.
    pub(crate) fn count(
        &mut self,
        stats: &mut RtcStats,
        cipher: Option<&FrameCipher>,
        kind: FrameKind,
        frame: &[u8],
        video: bool,
    ) {
        if self.stopped {
            stats.frames_after_stream_error += 1;
            return;
        }
        let playable = match cipher {
            Some(cipher) => match cipher.decrypt(kind, frame) {
                Ok(_) => {
                    stats.frames_decrypted += 1;
                    true
                }
                Err(_) => {
                    stats.undecryptable_frames += 1;
                    self.stopped = cipher.platform() == MediaPlatform::Js;
                    false
                }
            },
            None => true,
        };
        if playable {
            if video {
                stats.video_frames_received += 1;
            } else {
                stats.audio_frames_received += 1;
            }
        }
    }
}
