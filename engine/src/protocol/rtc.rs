//! The apps' encoding of `rtcSession` and `rtcIceCandidates`: lz-string `compressToBase64` of JSON.
//!
//! `rtcSession` holds `{"type":"offer"|"answer","sdp":"..."}` and `rtcIceCandidates` a JSON array
//! of candidates. The core treats both as opaque text, and SimpleX's own tests send plain strings
//! such as `"{}"`, so [`decode_json`] answers `None` for text that is not lz-string of JSON, and
//! callers keep such text as it is.

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
    fixed
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
    let json = decompress(text)?;
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
    let json = decompress(text).ok_or_else(|| Error::BadRtcText {
        field,
        reason: "not lz-string base64".into(),
    })?;
    serde_json::from_str(&json).map_err(|e| Error::BadRtcText {
        field,
        reason: e.to_string(),
    })
}
