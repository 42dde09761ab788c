//! What crosses the phone's edges: its inputs and outputs, and the vocabulary of each backend.
//!
//! A [`crate::phone::Phone`] takes [`Input`]s and gives [`Output`]s; the submodules hold what
//! goes to and comes from each platform piece (CallKit, the audio session, the WebRTC engine,
//! the sound player). Nothing here does anything: these are the words, so the app layer, the
//! phone, the backends and the drivers all speak them without depending on each other.

pub mod audio;
pub mod callkit;
pub mod sound;
pub mod webrtc;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chat::CoreEvent;
use crate::ids::{ClientId, ContactId};
use crate::protocol::{CallMediaType, Timestamp, VersionRange};
use audio::{AudioCommand, AudioDevice};
use callkit::{CallKitCommand, CallKitEvent};
use sound::SoundCommand;
use webrtc::{ClientCall, WebRtcCommand, WebRtcResponse};

/// A permission the phone needs for calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    /// Microphone, for every call.
    Microphone,
    /// Camera, for video calls.
    Camera,
}

/// Whether a permission is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PermissionStatus {
    /// Granted.
    Granted,
    /// Denied: not asked again; the app shows its alert.
    Denied,
    /// Never asked: the system prompt shows, and the answer decides.
    NotDetermined,
}

/// How a phone is set up.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// The phone's owner, for logs and the peer's display (`Alice`).
    pub name: String,
    /// Seed of the phone's RNG.
    pub seed: u64,
    /// The App Store country (`SKStorefront().countryCode`); `CHN` turns CallKit off.
    pub country: String,
    /// The user's CallKit setting (`callKitEnabledGroupDefault`, default on).
    pub callkit_enabled: bool,
    /// The "Always use relay" setting (`DEFAULT_WEBRTC_POLICY_RELAY`, default on in SimpleX):
    /// the relay-only ICE policy, media through TURN.
    pub relay_policy: bool,
    /// Whether the user shows notifications (`user.showNotifications`).
    pub show_notifications: bool,
    /// Whether the chat sends delivery receipts to contacts (`sendRcptsContacts`, on).
    pub send_receipts: bool,
    /// Call versions the chat core announces; `None` (SimpleX master) keeps media key v1.
    pub call_versions: Option<VersionRange>,
    /// Microphone permission at start.
    pub microphone: PermissionStatus,
    /// Camera permission at start.
    pub camera: PermissionStatus,
}

impl PhoneConfig {
    /// SimpleX's defaults and steps.md's: outside China, CallKit on, relay-only, permissions
    /// granted.
    pub fn new(name: &str, seed: u64) -> Self {
        PhoneConfig {
            name: name.to_owned(),
            seed,
            country: "USA".into(),
            callkit_enabled: true,
            relay_policy: true,
            show_notifications: true,
            send_receipts: true,
            call_versions: None,
            microphone: PermissionStatus::Granted,
            camera: PermissionStatus::Granted,
        }
    }

    /// `CallController.useCallKit()`: not in China and the setting is on.
    pub fn use_callkit(&self) -> bool {
        self.country != "CHN" && self.callkit_enabled
    }
}

/// What the user does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UserAction {
    /// Taps the audio or video call button in the chat with a contact.
    StartCall {
        /// Whom to call.
        contact_id: ContactId,
        /// Audio or video.
        media: CallMediaType,
    },
    /// Taps Accept on the in-app incoming call view.
    AcceptCall {
        /// The caller.
        contact_id: ContactId,
    },
    /// Taps Reject on the in-app incoming call view.
    RejectCall {
        /// The caller.
        contact_id: ContactId,
    },
    /// Taps Ignore on the in-app incoming call view.
    IgnoreCall {
        /// The caller.
        contact_id: ContactId,
    },
    /// Taps End in the call view.
    EndCall,
    /// Taps the microphone button in the call view.
    SetMicrophone {
        /// Mute.
        muted: bool,
    },
    /// Turns the speaker on or off.
    SetSpeaker {
        /// Speaker on.
        on: bool,
    },
    /// Taps the camera button in the call view.
    SetCamera {
        /// Camera on.
        on: bool,
    },
    /// Flips the camera.
    SwitchCamera {
        /// The camera to use.
        camera: crate::protocol::VideoCamera,
    },
    /// Picks an audio device in the call's device picker.
    PickAudioDevice {
        /// The device.
        device: AudioDevice,
    },
}

/// App and chat lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// The chat became active (after [`LifecycleCommand::StartChat`]): its calls were restored
    /// from the database and messages flow.
    ChatStarted,
    /// The chat was suspended.
    ChatSuspended,
    /// The app came to the foreground (scene phase `.active`).
    AppBecameActive,
    /// The app went to the background (scene phase `.background`).
    AppEnteredBackground,
    /// The app's process ended: everything in memory is lost, received invitations survive.
    AppKilled,
    /// The user launched the app again (in the foreground); the chat starts.
    AppLaunched,
}

/// The app's call states (`CallState` in `WebRTC.swift`), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AppCallState {
    /// Outgoing, waiting for WebRTC capabilities ("starting…").
    WaitCapabilities,
    /// Outgoing, invitation sent ("waiting for answer…").
    InvitationSent,
    /// Incoming, accepted ("starting…").
    InvitationAccepted,
    /// Incoming, offer sent ("waiting for confirmation…").
    OfferSent,
    /// Outgoing, offer received ("received answer…").
    OfferReceived,
    /// Incoming, answer received ("received confirmation…").
    AnswerReceived,
    /// Both, WebRTC connecting ("connecting…").
    Negotiated,
    /// Both, media flowing.
    Connected,
    /// The call is over.
    Ended,
}

impl fmt::Display for AppCallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppCallState::WaitCapabilities => "waitCapabilities",
            AppCallState::InvitationSent => "invitationSent",
            AppCallState::InvitationAccepted => "invitationAccepted",
            AppCallState::OfferSent => "offerSent",
            AppCallState::OfferReceived => "offerReceived",
            AppCallState::AnswerReceived => "answerReceived",
            AppCallState::Negotiated => "negotiated",
            AppCallState::Connected => "connected",
            AppCallState::Ended => "ended",
        })
    }
}

/// Everything the phone reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    content = "value",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Input {
    /// A user action.
    User(UserAction),
    /// A CallKit callback.
    CallKit(CallKitEvent),
    /// A message from the relay, received by the running chat.
    Message {
        /// The sender.
        contact_id: ContactId,
        /// The relay's timestamp.
        broker_ts: Timestamp,
        /// The relay's id of the message in its queue; a redelivery carries the same id, and
        /// the messaging agent drops it (see [`PhoneStats::redeliveries_dropped`]).
        msg_id: u64,
        /// The message, as the sender's agent wrote it.
        body: String,
    },
    /// A push for a message with the notification flag, while the chat is not running: the
    /// notification service extension fetches the message, and the app gets a VoIP push.
    Push {
        /// The sender.
        contact_id: ContactId,
        /// The relay's timestamp.
        broker_ts: Timestamp,
        /// The relay's id of the message in its queue.
        msg_id: u64,
        /// The message.
        body: String,
    },
    /// App or chat lifecycle.
    Lifecycle(LifecycleEvent),
    /// A response of a WebRTC client.
    WebRtc {
        /// The client that answers.
        client: ClientId,
        /// What it says.
        response: WebRtcResponse,
    },
    /// The user answered a permission prompt.
    PermissionAnswered {
        /// Which permission.
        permission: Permission,
        /// The answer.
        granted: bool,
    },
    /// A Bluetooth headset was connected or disconnected (a route change).
    BluetoothAvailable {
        /// Whether a headset is connected now.
        available: bool,
    },
    /// Time passed: fire the timers that are due.
    Timeout,
}

/// What the in-app UI shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UiEvent {
    /// The in-app incoming call view appeared (`activeCallInvitation` set).
    IncomingCallShown {
        /// The caller.
        contact_id: ContactId,
        /// Audio or video.
        media: CallMediaType,
    },
    /// The in-app incoming call view disappeared.
    IncomingCallHidden {
        /// The caller.
        contact_id: ContactId,
    },
    /// A local notification about a call was posted.
    CallNotification {
        /// The caller.
        contact_id: ContactId,
        /// Audio or video.
        media: CallMediaType,
    },
    /// The call view appeared (`showCallView`).
    CallViewShown {
        /// The other party.
        contact_id: ContactId,
    },
    /// The call view disappeared.
    CallViewHidden,
    /// The active call's state changed (`None`: no active call any more).
    CallState {
        /// The other party.
        contact_id: ContactId,
        /// The new state.
        state: Option<AppCallState>,
    },
    /// An alert.
    Alert {
        /// Its title.
        title: String,
        /// Its message.
        message: String,
    },
}

/// What the phone asks of the app's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleCommand {
    /// Start or activate the chat; answered by [`LifecycleEvent::ChatStarted`].
    StartChat,
    /// Suspend the chat.
    SuspendChat,
}

/// What a relay message carries. A real relay sees ciphertext only; the simulation keeps the
/// kind beside the body to inject per-kind faults and to label traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MessageKind {
    /// `x.call.inv`.
    #[serde(rename = "x.call.inv")]
    CallInvitation,
    /// `x.call.offer`.
    #[serde(rename = "x.call.offer")]
    CallOffer,
    /// `x.call.answer`.
    #[serde(rename = "x.call.answer")]
    CallAnswer,
    /// `x.call.extra`.
    #[serde(rename = "x.call.extra")]
    CallExtra,
    /// `x.call.end`.
    #[serde(rename = "x.call.end")]
    CallEnd,
    /// A delivery receipt of the agent (`A_RCVD`), not a chat message.
    #[serde(rename = "receipt")]
    Receipt,
}

impl MessageKind {
    /// Every kind, in protocol order.
    pub const ALL: [MessageKind; 6] = [
        MessageKind::CallInvitation,
        MessageKind::CallOffer,
        MessageKind::CallAnswer,
        MessageKind::CallExtra,
        MessageKind::CallEnd,
        MessageKind::Receipt,
    ];

    /// The event tag (`x.call.inv`, ...), or `receipt`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::CallInvitation => "x.call.inv",
            MessageKind::CallOffer => "x.call.offer",
            MessageKind::CallAnswer => "x.call.answer",
            MessageKind::CallExtra => "x.call.extra",
            MessageKind::CallEnd => "x.call.end",
            MessageKind::Receipt => "receipt",
        }
    }

    /// The kind named by a tag, if any.
    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == tag)
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the phone does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "camelCase")]
pub enum Output {
    /// Send a message through the relay.
    Send {
        /// The recipient.
        contact_id: ContactId,
        /// The message, as this phone's agent writes it.
        body: String,
        /// SMP's notification flag.
        notify: bool,
        /// What it carries (see [`MessageKind`]).
        kind: MessageKind,
    },
    /// A CallKit request.
    CallKit(CallKitCommand),
    /// An audio session command.
    Audio(AudioCommand),
    /// A command of SimpleX's WebRTC protocol (`WCallCommand`) to a client, through the command
    /// queue; the client answers with the same id.
    WebRtc {
        /// The call view's client.
        client: ClientId,
        /// The command.
        command: WebRtcCommand,
    },
    /// A direct call on a WebRTC client (the call view's buttons, closing the view).
    WebRtcClient {
        /// The call view's client.
        client: ClientId,
        /// The call.
        call: ClientCall,
    },
    /// A sound.
    Sound(SoundCommand),
    /// A UI change.
    Ui(UiEvent),
    /// A chat-core event: items, errors, and what the core told the app.
    Chat(CoreEvent),
    /// Show the system permission prompt.
    RequestPermission(Permission),
    /// A lifecycle request.
    Lifecycle(LifecycleCommand),
    /// Nothing more now; the next timer deadline, if any.
    Timeout(Option<Timestamp>),
}

/// Counters of what the phone dropped, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PhoneStats {
    /// Messages the relay delivered again after the agent had processed them (a lost ACK, a
    /// reconnect): SimpleX's agent drops them before the chat core sees them.
    pub redeliveries_dropped: u64,
    /// Received messages that did not decode.
    pub undecodable_messages: u64,
    /// Core message errors (stale or out-of-state call messages).
    pub message_errors: u64,
    /// API commands the core refused; the app logs them and goes on, as SimpleX does.
    pub refused_commands: u64,
    /// WebRTC responses with no active call, which the call view ignores.
    pub stray_webrtc_responses: u64,
}
