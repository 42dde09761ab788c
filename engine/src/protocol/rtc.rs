//! The apps' encoding of `rtcSession` and `rtcIceCandidates`: lz-string `compressToBase64` of JSON.
//!
//! `rtcSession` holds `{"type":"offer"|"answer","sdp":"..."}` and `rtcIceCandidates` a JSON array
//! of candidates. The core treats both as opaque text, and SimpleX's own tests send plain strings
//! such as `"{}"`, so [`decode_json`] answers `None` for text that is not lz-string of JSON, and
//! callers keep such text as it is.
//!
//! The decoders remember what this thread compressed last (see [`compress`]): a simulation
//! decodes on one thread what it has just encoded, and lz-str takes as long to decompress as
//! to compress. [`decompress`] itself always runs lz-str.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// The kind of a session description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
    /// A provisional answer.
    Pranswer,
    /// A rollback.
    Rollback,
}

/// `RTCSessionDescriptionInit` as the apps serialize it: `{"type":..,"sdp":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RtcSessionDescription {
    /// Offer or answer.
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// The SDP text.
    pub sdp: String,
}

/// One ICE candidate in the union of the browser's and the iOS app's JSON shapes.
///
/// The browser writes `candidate`, `sdpMid`, `sdpMLineIndex`, `usernameFragment`; iOS writes
/// `candidateType` and `protocol` too (nil on trickled candidates). Absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtcIceCandidate {
    /// iOS only: `host`, `srflx`, `prflx` or `relay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_type: Option<String>,
    /// iOS only: `udp` or `tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The media stream id the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The m-line index the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u32>,
    /// The `candidate:...` attribute line.
    pub candidate: String,
    /// Browser only: the ICE username fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// lz-string `compressToBase64` of `text`: the JS library's exact output, padding included.
pub fn compress(text: &str) -> String {
    // lz-str 0.2.1 pads one `=` more than the JS library (5 - len % 4 instead of 4 - len % 4);
    // see docs/dependency-bugs.md. Its alphabet never uses `=` for data, so re-padding is safe.
    let out = lz_str::compress_to_base64(text);
    let body = out.trim_end_matches('=');
    let pad = (4 - body.len() % 4) % 4;
    let mut fixed = String::with_capacity(body.len() + pad);
    fixed.push_str(body);
    fixed.extend(std::iter::repeat_n('=', pad));
    remember(&fixed, text);
    fixed
}

/// How many of this thread's latest compressions [`decode_json`] and the typed decoders
/// recognise without decompressing.
const RECENT: usize = 8;

thread_local! {
    /// This thread's latest compressions, newest last: (output, input).
    static COMPRESSED: std::cell::RefCell<std::collections::VecDeque<(String, String)>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// Keeps `text`'s compression for [`decompress_known`]. In a simulation one phone compresses a
/// description and another, on the same thread, decodes it: lz-str takes as long to decompress
/// 3 KB as to compress it (0.3 ms), a tenth of a real-stack connect.
fn remember(compressed: &str, text: &str) {
    // `decompress` answers `None` for empty text; only what it would give back is kept.
    if text.is_empty() {
        return;
    }
    COMPRESSED.with_borrow_mut(|recent| {
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((compressed.to_owned(), text.to_owned()));
    });
}

/// [`decompress`], answered from this thread's latest compressions when `text` is one of them.
/// The same answer either way: lz-string decompresses what it compressed to the original
/// (`lz_string_round_trips_any_text`, and the memo's own tests below).
fn decompress_known(text: &str) -> Option<String> {
    let known = COMPRESSED.with_borrow(|recent| {
        recent
            .iter()
            .rev()
            .find(|(compressed, _)| compressed == text)
            .map(|(_, original)| original.clone())
    });
    known.or_else(|| decompress(text))
}

/// lz-string `decompressFromBase64`; `None` unless `text` is base64 that decompresses to
/// non-empty, valid UTF-16.
pub fn decompress(text: &str) -> Option<String> {
    // lz-str skips characters outside the alphabet; a plain string must not decode by accident.
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if text.is_empty() || !text.bytes().all(alphabet) {
        return None;
    }
    let units = lz_str::decompress_from_base64(text)?;
    if units.is_empty() {
        return None;
    }
    String::from_utf16(&units).ok()
}

/// `JSON.stringify` then [`compress`], as the apps build these fields.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing our own types to a string cannot fail (no maps with non-string keys).
    compress(&serde_json::to_string(value).unwrap_or_default())
}

/// The JSON object or array inside an lz-string field, or `None` if the text is not one
/// (opaque text such as SimpleX's test value `"{}"`).
pub fn decode_json(text: &str) -> Option<Value> {
    let json = decompress_known(text)?;
    match serde_json::from_str(&json).ok()? {
        v @ (Value::Object(_) | Value::Array(_)) => Some(v),
        _ => None,
    }
}

/// Encodes a session description as an `rtcSession` field.
pub fn encode_session(session: &RtcSessionDescription) -> String {
    encode_json(session)
}

/// Decodes an `rtcSession` field.
pub fn decode_session(text: &str) -> Result<RtcSessionDescription, Error> {
    decode_typed("rtcSession", text)
}

/// Encodes candidates as an `rtcIceCandidates` field.
pub fn encode_candidates(candidates: &[RtcIceCandidate]) -> String {
    encode_json(candidates)
}

/// Decodes an `rtcIceCandidates` field.
pub fn decode_candidates(text: &str) -> Result<Vec<RtcIceCandidate>, Error> {
    decode_typed("rtcIceCandidates", text)
}

fn decode_typed<T: serde::de::DeserializeOwned>(
    field: &'static str,
    text: &str,
) -> Result<T, Error> {
    let json = decompress_known(text).ok_or_else(|| Error::BadRtcText {
        field,
        reason: "not lz-string base64".into(),
    })?;
    serde_json::from_str(&json).map_err(|e| Error::BadRtcText {
        field,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remembered() -> Vec<String> {
        COMPRESSED.with_borrow(|recent| recent.iter().map(|(c, _)| c.clone()).collect())
    }

    #[test]
    fn a_description_decodes_the_same_from_the_memo_and_from_lz_string() {
        let session = RtcSessionDescription {
            kind: SdpType::Offer,
            sdp: "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                .repeat(20),
        };
        let text = encode_session(&session);
        assert!(remembered().contains(&text));
        assert_eq!(decode_session(&text).expect("from the memo"), session);
        let fresh = text.clone();
        let (memo, decoded) = std::thread::spawn(move || (remembered(), decode_session(&fresh)))
            .join()
            .expect("decoded");
        assert!(memo.is_empty(), "a fresh thread has no memo");
        assert_eq!(decoded.expect("by lz-str"), session);
    }

    #[test]
    fn only_the_latest_compressions_are_kept_and_the_others_still_decode() {
        let texts: Vec<String> = (0..=RECENT).map(|n| format!("[\"text {n}\"]")).collect();
        let compressed: Vec<String> = texts.iter().map(|t| compress(t)).collect();
        let memo = remembered();
        assert_eq!(memo.len(), RECENT);
        assert!(!memo.contains(&compressed[0]));
        assert_eq!(memo.last(), compressed.last());
        for (text, compressed) in texts.iter().zip(&compressed) {
            assert_eq!(decompress_known(compressed).as_ref(), Some(text));
            assert_eq!(decompress(compressed).as_ref(), Some(text));
        }
    }

    #[test]
    fn decompress_itself_never_answers_from_the_memo() {
        // A planted entry the real decoder would never give: only `decompress_known` sees it,
        // so the round-trip tests that call `decompress` keep testing lz-str.
        let text = compress("[\"real\"]");
        COMPRESSED.with_borrow_mut(|recent| {
            recent.push_back((text.clone(), "[\"planted\"]".to_owned()));
        });
        assert_eq!(decompress_known(&text).as_deref(), Some("[\"planted\"]"));
        assert_eq!(decompress(&text).as_deref(), Some("[\"real\"]"));
    }

    #[test]
    fn empty_text_is_not_remembered_and_decodes_to_nothing_as_before() {
        let text = compress("");
        assert!(!remembered().contains(&text));
        assert_eq!(decompress_known(&text), None);
        assert_eq!(decompress(&text), None);
    }
}
