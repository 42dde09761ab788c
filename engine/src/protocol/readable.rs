//! A human-readable form of a call message, for `callsim protocol decode` and `encode`.
//!
//! The readable form is the message's own JSON with every lz-string `rtcSession` and
//! `rtcIceCandidates` string replaced by the JSON it holds, so SDP and candidates can be read and
//! edited. Opaque text that is not lz-string of JSON stays a string. [`from_readable`] compresses
//! those fields again, so `from_readable(to_readable(m)) == m` and the wire bytes are reproduced
//! whenever the fields hold JSON as `JSON.stringify` writes it, which is what the apps send
//! (serde_json with `preserve_order` agrees with it on key order, escapes and integers). A field
//! holding JSON with extra whitespace would come back compact, that is, re-encoded.

use serde_json::Value;

use super::{ChatMessage, rtc};
use crate::Error;

const RTC_FIELDS: [&str; 2] = ["rtcSession", "rtcIceCandidates"];

/// The readable form of `msg`.
pub fn to_readable(msg: &ChatMessage) -> Result<Value, Error> {
    let mut value = serde_json::to_value(msg).map_err(|e| Error::BadJson(e.to_string()))?;
    if let Some(params) = value.get_mut("params") {
        walk_rtc_fields(params, &mut |field| {
            if let Value::String(text) = field
                && let Some(json) = rtc::decode_json(text)
            {
                *field = json;
            }
        });
    }
    Ok(value)
}

/// Parses the readable form back into a message, validating it like a received one.
pub fn from_readable(mut value: Value) -> Result<ChatMessage, Error> {
    if let Some(params) = value.get_mut("params") {
        walk_rtc_fields(params, &mut |field| {
            if matches!(field, Value::Object(_) | Value::Array(_)) {
                *field = Value::String(rtc::encode_json(field));
            }
        });
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| Error::BadJson(e.to_string()))?;
    ChatMessage::from_json(&bytes)
}

/// Calls `f` on every value under a key named `rtcSession` or `rtcIceCandidates`, except the
/// `WebRTCSession` objects that hold those keys themselves (`offer.rtcSession`).
fn walk_rtc_fields(value: &mut Value, f: &mut impl FnMut(&mut Value)) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let holds_session = field
                    .as_object()
                    .is_some_and(|o| RTC_FIELDS.iter().any(|k| o.contains_key(*k)));
                if RTC_FIELDS.contains(&key.as_str()) && !holds_session {
                    f(field);
                } else {
                    walk_rtc_fields(field, f);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk_rtc_fields(v, f)),
        _ => {}
    }
}
