//! The chat envelope and the five `x.call.*` events.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::types::{CallType, SharedMsgId, VersionRange, WebRTCExtraInfo, WebRTCSession};
use super::wire;
use crate::Error;
use crate::crypto::PublicKey;
use crate::ids::CallId;

/// The largest encoded chat message SimpleX sends (`maxEncodedMsgLength` in `Protocol.hs`).
///
/// Decoding checks it before parsing, which also bounds the work the lz-string fields can cause.
pub const MAX_MESSAGE_BYTES: usize = 15_602;

/// `x.call.inv` params: what the caller offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallInvitation {
    /// The caller's media and capabilities.
    pub call_type: CallType,
    /// The caller's X25519 public key, present when the call is to be encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_dh_pub_key: Option<PublicKey>,
    /// The call protocol versions the caller supports (newer cores only).
    #[serde(
        default,
        rename = "callVRange",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_v_range: Option<VersionRange>,
}

/// `x.call.offer` params: the callee accepted and sends its WebRTC offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallOffer {
    /// The callee's media and capabilities at answer time.
    pub call_type: CallType,
    /// The callee's SDP offer and initial candidates.
    pub rtc_session: WebRTCSession,
    /// The callee's X25519 public key, sent only if its call type asks for encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_dh_pub_key: Option<PublicKey>,
    /// The agreed call protocol version (newer cores only; a JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_version: Option<u16>,
}

/// `x.call.answer` params: the caller's SDP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswer {
    /// The caller's SDP answer and initial candidates.
    pub rtc_session: WebRTCSession,
}

/// `x.call.extra` params: trickled ICE candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallExtraInfo {
    /// The candidates.
    pub rtc_extra_info: WebRTCExtraInfo,
}

/// One call event with its params. There is no reject, busy or ringing event: a reject is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// `x.call.inv`, caller to callee; the only call event that wakes a sleeping phone.
    Invitation {
        /// The call's id.
        call_id: CallId,
        /// What the caller offers.
        invitation: CallInvitation,
    },
    /// `x.call.offer`, callee to caller (the caller becomes the WebRTC answerer).
    Offer {
        /// The call's id.
        call_id: CallId,
        /// The callee's offer.
        offer: CallOffer,
    },
    /// `x.call.answer`, caller to callee.
    Answer {
        /// The call's id.
        call_id: CallId,
        /// The caller's answer.
        answer: CallAnswer,
    },
    /// `x.call.extra`, both ways: more ICE candidates.
    Extra {
        /// The call's id.
        call_id: CallId,
        /// The candidates.
        extra: CallExtraInfo,
    },
    /// `x.call.end`, either side, in any state.
    End {
        /// The call's id.
        call_id: CallId,
    },
}

impl CallEvent {
    /// Every call event tag, in protocol order.
    pub const TAGS: [&'static str; 5] = [
        "x.call.inv",
        "x.call.offer",
        "x.call.answer",
        "x.call.extra",
        "x.call.end",
    ];

    /// The event tag, e.g. `x.call.inv`.
    pub fn tag(&self) -> &'static str {
        match self {
            CallEvent::Invitation { .. } => "x.call.inv",
            CallEvent::Offer { .. } => "x.call.offer",
            CallEvent::Answer { .. } => "x.call.answer",
            CallEvent::Extra { .. } => "x.call.extra",
            CallEvent::End { .. } => "x.call.end",
        }
    }

    /// The call this event belongs to.
    pub fn call_id(&self) -> &CallId {
        match self {
            CallEvent::Invitation { call_id, .. }
            | CallEvent::Offer { call_id, .. }
            | CallEvent::Answer { call_id, .. }
            | CallEvent::Extra { call_id, .. }
            | CallEvent::End { call_id } => call_id,
        }
    }

    /// `hasNotification`: whether SMP sends this with the notification flag (a push to a
    /// sleeping phone). Only the invitation does.
    pub fn has_notification(&self) -> bool {
        matches!(self, CallEvent::Invitation { .. })
    }

    /// `hasDeliveryReceipt`: whether the receiver's agent confirms delivery. Among the call
    /// events only the invitation asks (`Protocol.hs`).
    pub fn has_delivery_receipt(&self) -> bool {
        matches!(self, CallEvent::Invitation { .. })
    }
}

/// A chat message carrying one call event: `{"v":..,"msgId":..,"event":..,"params":{..}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// The sender's chat protocol version range (`"v"`), omitted by some senders.
    pub version: Option<VersionRange>,
    /// The sender's message id (`"msgId"`), omitted by some senders.
    pub msg_id: Option<SharedMsgId>,
    /// The call event.
    pub event: CallEvent,
}

impl ChatMessage {
    /// A message with no version and no message id.
    pub fn new(event: CallEvent) -> Self {
        ChatMessage {
            version: None,
            msg_id: None,
            event,
        }
    }

    /// Decodes one chat message from its JSON bytes.
    ///
    /// Checks, in order: the size limit, JSON syntax, the envelope, that the event is a call
    /// event, then every field of `v`, `msgId` and `params` (the error names the field's path).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            // Tell bad JSON apart from JSON that is not an object.
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(envelope_error)?;
            return Err(Error::BadEnvelope("expected a JSON object".into()));
        }
        let raw: RawEnvelope<'_> = serde_json::from_slice(bytes).map_err(envelope_error)?;
        let params = raw.params.get();
        if !params.starts_with('{') {
            return Err(Error::BadEnvelope("params must be an object".into()));
        }
        let event = match raw.event.as_ref() {
            "x.call.inv" => {
                let p: InvParams = decode_params(params)?;
                CallEvent::Invitation {
                    call_id: p.call_id,
                    invitation: p.invitation,
                }
            }
            "x.call.offer" => {
                let p: OfferParams = decode_params(params)?;
                CallEvent::Offer {
                    call_id: p.call_id,
                    offer: p.offer,
                }
            }
            "x.call.answer" => {
                let p: AnswerParams = decode_params(params)?;
                CallEvent::Answer {
                    call_id: p.call_id,
                    answer: p.answer,
                }
            }
            "x.call.extra" => {
                let p: ExtraParams = decode_params(params)?;
                CallEvent::Extra {
                    call_id: p.call_id,
                    extra: p.extra,
                }
            }
            "x.call.end" => {
                let p: EndParams = decode_params(params)?;
                CallEvent::End { call_id: p.call_id }
            }
            other => return Err(Error::NotCallEvent(other.to_owned())),
        };
        let version = raw
            .v
            .map(|v| v.parse())
            .transpose()
            .map_err(|e: Error| field_error("v", &e))?;
        let msg_id = raw
            .msg_id
            .map(|m| m.parse())
            .transpose()
            .map_err(|e: Error| field_error("msgId", &e))?;
        Ok(ChatMessage {
            version,
            msg_id,
            event,
        })
    }

    /// Encodes the message as SimpleX would send it; fails only if it exceeds the size limit.
    pub fn to_json(&self) -> Result<String, Error> {
        let json = serde_json::to_string(self).map_err(|e| Error::BadJson(e.to_string()))?;
        if json.len() > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge {
                size: json.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(json)
    }
}

impl Serialize for ChatMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = 2 + usize::from(self.version.is_some()) + usize::from(self.msg_id.is_some());
        let mut st = s.serialize_struct("ChatMessage", fields)?;
        if let Some(v) = &self.version {
            st.serialize_field("v", v)?;
        }
        if let Some(id) = &self.msg_id {
            st.serialize_field("msgId", id)?;
        }
        st.serialize_field("event", self.event.tag())?;
        st.serialize_field("params", &wire::Params(&self.event))?;
        st.end()
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(default, borrow)]
    v: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "msgId")]
    msg_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    params: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvParams {
    call_id: CallId,
    invitation: CallInvitation,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferParams {
    call_id: CallId,
    offer: CallOffer,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerParams {
    call_id: CallId,
    answer: CallAnswer,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExtraParams {
    call_id: CallId,
    extra: CallExtraInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndParams {
    call_id: CallId,
}

fn envelope_error(e: serde_json::Error) -> Error {
    let text = match e.line() {
        0 => e.to_string(),
        1 => format!("{} at column {}", without_position(&e), e.column()),
        line => format!(
            "{} at line {line} column {}",
            without_position(&e),
            e.column()
        ),
    };
    match e.classify() {
        serde_json::error::Category::Data => Error::BadEnvelope(text),
        _ => Error::BadJson(text),
    }
}

/// serde_json's message without its ` at line L column C` suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

fn field_error(path: &str, e: &dyn std::fmt::Display) -> Error {
    Error::BadField {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Decodes `params`, naming the failing field's path in the error.
fn decode_params<T: DeserializeOwned>(raw: &str) -> Result<T, Error> {
    // Tracking the path costs as much as decoding; only a failure needs it.
    if let Ok(params) = serde_json::from_str(raw) {
        return Ok(params);
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = match e.path().to_string().as_str() {
            "." => "params".to_owned(),
            p => format!("params.{p}"),
        };
        // The position is within `params`, not the line, so it would only mislead.
        let reason = without_position(e.inner());
        Error::BadField { path, reason }
    })
}
