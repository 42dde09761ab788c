//! The call data types of SimpleX's `Call.hs` / `CallTypes.swift`, with their JSON forms.

use std::fmt;
use std::str::FromStr;

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::base64url::string_serde;
use crate::crypto::MediaKey;
use crate::{Error, base64url};

/// Audio or video (`CallMedia` in Haskell, `CallMediaType` in Swift): `"audio"` or `"video"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallMediaType {
    /// An audio-only call.
    Audio,
    /// A video call (with audio).
    Video,
}

impl CallMediaType {
    /// The lowercase name used in JSON and UI text.
    pub fn as_str(self) -> &'static str {
        match self {
            CallMediaType::Audio => "audio",
            CallMediaType::Video => "video",
        }
    }
}

impl fmt::Display for CallMediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the sender's WebRTC stack can do: `{"encryption":true}` means it supports frame encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallCapabilities {
    /// The stack supports insertable streams / frame encryptors, so the call can be e2e encrypted.
    pub encryption: bool,
}

/// The media of a call and the capabilities of the side that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallType {
    /// Audio or video.
    pub media: CallMediaType,
    /// The choosing side's capabilities.
    pub capabilities: CallCapabilities,
}

impl CallType {
    /// A call type with the given media and encryption capability.
    pub fn new(media: CallMediaType, encryption: bool) -> Self {
        CallType {
            media,
            capabilities: CallCapabilities { encryption },
        }
    }

    /// `encryptedCall` in Haskell: whether this side asked for an encrypted call.
    pub fn encrypted(&self) -> bool {
        self.capabilities.encryption
    }
}

/// An SDP offer or answer with its initial ICE candidates, as opaque text on the wire.
///
/// The apps write lz-string `compressToBase64` of JSON into both fields (see [`super::rtc`]);
/// the core never looks inside, and SimpleX's own tests send plain text such as `"{}"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRTCSession {
    /// The session description.
    pub rtc_session: String,
    /// The initial batch of ICE candidates.
    pub rtc_ice_candidates: String,
}

/// ICE candidates trickled after the offer or answer (`x.call.extra`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRTCExtraInfo {
    /// A batch of ICE candidates.
    pub rtc_ice_candidates: String,
}

/// What the app passes to `apiSendCallOffer`: its call type and its WebRTC offer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRTCCallOffer {
    /// The callee's media and capabilities at answer time.
    pub call_type: CallType,
    /// The WebRTC offer and initial candidates.
    pub rtc_session: WebRTCSession,
}

/// The connection status the app reports with `apiCallStatus`; any other string does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebRTCCallStatus {
    /// ICE/DTLS in progress.
    Connecting,
    /// Media is flowing.
    Connected,
    /// The connection was lost or closed.
    Disconnected,
    /// The connection could not be established or failed for good.
    Failed,
}

impl WebRTCCallStatus {
    /// The status as SimpleX spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WebRTCCallStatus::Connecting => "connecting",
            WebRTCCallStatus::Connected => "connected",
            WebRTCCallStatus::Disconnected => "disconnected",
            WebRTCCallStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for WebRTCCallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebRTCCallStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "connecting" => Ok(WebRTCCallStatus::Connecting),
            "connected" => Ok(WebRTCCallStatus::Connected),
            "disconnected" => Ok(WebRTCCallStatus::Disconnected),
            "failed" => Ok(WebRTCCallStatus::Failed),
            other => Err(Error::BadCallStatus(other.to_owned())),
        }
    }
}

string_serde!(WebRTCCallStatus, "a WebRTC call status");

/// A media source of newer clients (`CallMediaSource`), used by the `media` WebRTC command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallMediaSource {
    /// The microphone.
    Mic,
    /// The camera.
    Camera,
    /// Screen-share audio.
    ScreenAudio,
    /// Screen-share video.
    ScreenVideo,
    /// A source this version does not know.
    Unknown,
}

/// Which camera sends video: `user` (front) or `environment` (back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCamera {
    /// The front camera.
    User,
    /// The back camera.
    Environment,
}

/// The sender's id of a chat message (`msgId`), any number of bytes as padded base64url.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedMsgId(pub Vec<u8>);

impl fmt::Display for SharedMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url::encode(&self.0))
    }
}

impl fmt::Debug for SharedMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMsgId({self})")
    }
}

impl SharedMsgId {
    /// A fresh message id as SimpleX's store makes one (`createWithRandomId'`): 12 random bytes
    /// in standard base64, so the id is those 16 ASCII bytes, and 24 characters on the wire.
    pub fn random(rng: &mut impl RngCore) -> Self {
        use base64::Engine as _;
        let mut bytes = [0u8; 12];
        rng.fill_bytes(&mut bytes);
        SharedMsgId(
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into_bytes(),
        )
    }
}

impl FromStr for SharedMsgId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        base64url::decode_nonempty(s).map(SharedMsgId)
    }
}

string_serde!(SharedMsgId, "a base64url message id");

/// A protocol version range such as the chat envelope's `"1-16"` or a call's `callVRange`.
///
/// Written as `"min-max"`, or as a single number when both ends are equal (as simplexmq writes it);
/// both forms are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version supported.
    pub min: u16,
    /// The highest version supported.
    pub max: u16,
}

impl VersionRange {
    /// A range; `None` when `min > max`.
    pub fn new(min: u16, max: u16) -> Option<Self> {
        (min <= max).then_some(VersionRange { min, max })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

impl FromStr for VersionRange {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadVersionRange(s.to_owned());
        let number = |t: &str| -> Result<u16, Error> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let (min, max) = match s.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let v = number(s)?;
                (v, v)
            }
        };
        VersionRange::new(min, max).ok_or_else(bad)
    }
}

string_serde!(VersionRange, "a version range such as \"1-16\"");

/// A point in (simulated) wall-clock time: milliseconds since the Unix epoch.
///
/// The phone's `now` is one of these; in a simulation it comes from the world's clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This time plus `ms` milliseconds.
    pub fn add_ms(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to this time, zero if `earlier` is later.
    pub fn ms_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    /// Seconds with milliseconds, e.g. `12.345s`: readable in traces of simulated time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// The user a call belongs to, as much of SimpleX's `User` as calls need.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    /// The user's id in the chat database.
    pub user_id: i64,
    /// The user's display name.
    pub local_display_name: String,
}

/// The contact a call is with, as much of SimpleX's `Contact` as calls need.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRef {
    /// The contact's id in the chat database.
    pub contact_id: i64,
    /// The contact's display name.
    pub local_display_name: String,
}

/// A received call invitation as the core hands it to the app (`CEvtCallInvitation`,
/// `APIGetCallInvitations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RcvCallInvitation {
    /// The receiving user.
    pub user: UserRef,
    /// The caller.
    pub contact: ContactRef,
    /// The caller's media and capabilities.
    pub call_type: CallType,
    /// The media key, computed as soon as the invitation arrives when it asks for encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_key: Option<MediaKey>,
    /// The core-generated UUID that NSE, app and CallKit all share (lowercase).
    #[serde(rename = "callUUID")]
    pub call_uuid: crate::ids::CallUuid,
    /// When the invitation arrived (the relay's timestamp), for the 180 s ringing window.
    pub call_ts: Timestamp,
}
