//! The app layer: SimpleX iOS's `CallController` and `CallManager` logic over the chat core.
//!
//! It owns the app's call model (one active call, one pending invitation per contact), drives
//! CallKit or the in-app incoming view, queues WebRTC commands, maps WebRTC responses to the
//! core's `api*` commands, routes audio and plays sounds (spec §3). Its handlers are methods of
//! [`crate::phone::Phone`]; they reach the chat core only through its `api_*` commands and
//! its events, the seam where SimpleX's own bugs live.

mod audio;
mod callkit;
mod calls;
mod rtc;

pub use calls::permission_alert;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::Serialize;

use crate::backend::callkit::ActionId;
use crate::backend::webrtc::{ConnectionInfo, WebRtcCommand};
use crate::chat::ContactId;
use crate::crypto::MediaKey;
use crate::phone::{Permission, PermissionStatus, PhoneConfig};
use crate::protocol::{CallCapabilities, CallMediaType, RcvCallInvitation, Timestamp};

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

/// Who started the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CallDirection {
    /// This phone called.
    Outgoing,
    /// This phone was called.
    Incoming,
}

/// The app's active call (`Call` in `WebRTC.swift`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCall {
    /// Who started it.
    pub direction: CallDirection,
    /// The other party.
    pub contact_id: ContactId,
    /// The CallKit UUID, when CallKit knows the call.
    pub call_uuid: Option<String>,
    /// Where the call is.
    pub state: AppCallState,
    /// This side's media.
    pub local_media: CallMediaType,
    /// This side's WebRTC capabilities, once known.
    pub local_capabilities: Option<CallCapabilities>,
    /// The media key, once known.
    pub shared_key: Option<MediaKey>,
    /// Microphone muted.
    pub mic_muted: bool,
    /// Speaker on (video calls start on speaker).
    pub speaker_on: bool,
    /// Camera on.
    pub camera_on: bool,
    /// When WebRTC connected.
    pub connected_at: Option<Timestamp>,
    /// The candidate pair in use.
    pub connection_info: Option<ConnectionInfo>,
}

impl AppCall {
    /// `encrypted`: both a key and the capability.
    pub fn encrypted(&self) -> bool {
        self.shared_key.is_some() && self.local_capabilities.is_some_and(|c| c.encryption)
    }
}

/// A received invitation in the app's model (`m.callInvitations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// What the core reported.
    pub invitation: RcvCallInvitation,
    /// Whether CallKit handles it; cleared when CallKit refused to report it.
    pub use_callkit: bool,
}

/// Whether the chat core is running in this process (`AppChatState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChatRunState {
    /// Not running: the relay holds messages and pushes for invitations.
    Stopped,
    /// Asked to start, not running yet.
    Starting,
    /// Running: messages arrive and are processed.
    Running,
}

/// A CallKit answer waiting for the chat to run (`waitUntilChatStarted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingAnswer {
    pub(crate) action: ActionId,
    pub(crate) uuid: String,
    pub(crate) since: Timestamp,
}

/// What to do once a permission prompt is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterPermission {
    StartCall {
        contact_id: ContactId,
        media: CallMediaType,
    },
    AcceptInApp {
        contact_id: ContactId,
    },
    AnswerCallKit {
        action: ActionId,
        uuid: String,
    },
}

/// The app layer's state.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) active_call: Option<AppCall>,
    pub(crate) invitations: BTreeMap<ContactId, Invitation>,
    /// The caller whose in-app incoming view is showing, with its ringtone.
    pub(crate) incoming_view: Option<ContactId>,
    pub(crate) fulfill_on_connect: Option<ActionId>,
    pub(crate) pending_answer: Option<PendingAnswer>,
    /// The call to start when [`crate::phone::Timer::DelayedAnswer`] fires.
    pub(crate) delayed_call: Option<AppCall>,
    pub(crate) pending_permission: Option<(Permission, AfterPermission)>,
    pub(crate) webrtc_queue: VecDeque<WebRtcCommand>,
    pub(crate) webrtc_has_connection: bool,
    /// UUIDs CallKit shows now, whether reported incoming or started outgoing.
    pub(crate) callkit_calls: BTreeSet<String>,
    pub(crate) chat: ChatRunState,
    pub(crate) foreground: bool,
    pub(crate) should_suspend_chat: bool,
    /// `isAudioEnabled`: with CallKit, audio flows only after CallKit activated the session.
    pub(crate) audio_enabled: bool,
    pub(crate) bluetooth_available: bool,
    pub(crate) permissions: BTreeMap<Permission, PermissionStatus>,
    pub(crate) calling_sound: bool,
}

impl App {
    pub(crate) fn new(config: &PhoneConfig) -> Self {
        App {
            active_call: None,
            invitations: BTreeMap::new(),
            incoming_view: None,
            fulfill_on_connect: None,
            pending_answer: None,
            delayed_call: None,
            pending_permission: None,
            webrtc_queue: VecDeque::new(),
            webrtc_has_connection: false,
            callkit_calls: BTreeSet::new(),
            chat: ChatRunState::Stopped,
            foreground: true,
            should_suspend_chat: false,
            audio_enabled: !config.use_callkit(),
            bluetooth_available: false,
            permissions: BTreeMap::from([
                (Permission::Microphone, config.microphone),
                (Permission::Camera, config.camera),
            ]),
            calling_sound: false,
        }
    }

    /// The active call.
    pub fn active_call(&self) -> Option<&AppCall> {
        self.active_call.as_ref()
    }

    /// The pending invitations in the app's model, by caller.
    pub fn invitations(&self) -> impl Iterator<Item = &Invitation> {
        self.invitations.values()
    }

    /// The caller whose in-app incoming view (with ringtone) is showing.
    pub fn incoming_view(&self) -> Option<ContactId> {
        self.incoming_view
    }

    /// Whether the chat core is running.
    pub fn chat_running(&self) -> bool {
        self.chat == ChatRunState::Running
    }

    /// The chat's run state.
    pub fn chat_state(&self) -> ChatRunState {
        self.chat
    }

    /// Whether the app is in the foreground.
    pub fn foreground(&self) -> bool {
        self.foreground
    }

    /// The UUIDs of the calls CallKit shows for this app.
    pub fn callkit_calls(&self) -> impl Iterator<Item = &String> {
        self.callkit_calls.iter()
    }

    /// Whether a CallKit answer is waiting for the chat to start.
    pub fn answer_pending(&self) -> bool {
        self.pending_answer.is_some()
    }

    /// A permission's status.
    pub fn permission(&self, permission: Permission) -> PermissionStatus {
        self.permissions
            .get(&permission)
            .copied()
            .unwrap_or(PermissionStatus::NotDetermined)
    }
}
