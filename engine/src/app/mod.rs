//! The app layer: SimpleX iOS's call logic over the chat core.
//!
//! Each concern is named after the SimpleX piece it reproduces (SimpleX master 6bb1da9e,
//! `apps/ios/Shared/Views/Call/`):
//!
//! - the call model ([`CallModel`]): `ChatModel`'s `activeCall` and `callInvitations`;
//! - `manager`: `CallManager`, which starts, answers and ends calls;
//! - the CallKit link ([`CallKitLink`]): `CallController`'s provider delegate, the VoIP push
//!   path and `fulfillOnConnect`;
//! - the command queue ([`CommandQueue`]): `WebRTCCommandProcessor`;
//! - the call view ([`CallView`]): `ActiveCallView`, which maps WebRTC responses to the core's
//!   `api*` commands, asks for permissions and plays the call sounds;
//! - the incoming view ([`IncomingCallView`]): the in-app banner without CallKit, with its
//!   ringtone;
//! - the chat lifecycle ([`ChatLifecycle`]): `SimpleXApp`'s scene phases and `AppChatState`;
//! - `core_events`: `processReceivedMsg`'s call events.
//!
//! The layer reaches the chat core only through its `api_*` commands and its events, the seam
//! where SimpleX's own bugs live. It reads no clock: everything it does is written into the
//! `Ctx` it is handed, with the time.

mod audio;
mod call_view;
mod callkit;
mod core_events;
mod incoming;
mod lifecycle;
mod manager;
mod queue;
mod timers;

/// The app's call states live with the vocabulary the UI sees them in.
pub use crate::io::AppCallState;
pub use call_view::{CallView, permission_alert};
pub use callkit::{AnswerWait, CallKitLink};
pub use incoming::IncomingCallView;
pub use lifecycle::{ChatLifecycle, ChatState, Scene};
pub use queue::CommandQueue;
pub(crate) use timers::Timer;

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tracing::debug;

use crate::chat::ChatCore;
use crate::crypto::MediaKey;
use crate::ids::{CallUuid, ClientId, ContactId};
use crate::io::webrtc::ConnectionInfo;
use crate::io::{Input, Output, Permission, PermissionStatus, PhoneConfig, PhoneStats, UiEvent};
use crate::protocol::{CallCapabilities, CallMediaType, RcvCallInvitation, Timestamp};
use timers::Timers;

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
    /// The call's UUID (an outgoing call's own, an incoming call's from its invitation);
    /// `None` when the invitation's copy had lost it (a failed CallKit report).
    pub call_uuid: Option<CallUuid>,
    /// Where the call is.
    pub state: AppCallState,
    /// The media the call started with (`initialCallType`).
    pub media: CallMediaType,
    /// This side's WebRTC capabilities, once known.
    pub local_capabilities: Option<CallCapabilities>,
    /// The media key, once known.
    pub shared_key: Option<MediaKey>,
    /// The microphone is on (`localMediaSources.mic`).
    pub mic: bool,
    /// The camera is on (`localMediaSources.camera`).
    pub camera: bool,
    /// The speaker button (`speakerEnabled`): on for video calls at the start.
    pub speaker_enabled: bool,
    /// When WebRTC connected.
    pub connected_at: Option<Timestamp>,
    /// The candidate pair in use.
    pub connection_info: Option<ConnectionInfo>,
}

impl AppCall {
    /// `encrypted`: the capability and a key.
    pub fn encrypted(&self) -> bool {
        self.shared_key.is_some() && self.local_capabilities.is_some_and(|c| c.encryption)
    }
}

/// A received invitation in the app's model (`m.callInvitations`): the core's, with the
/// app's own copy of its UUID, which a failed CallKit report clears until the next refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// What the core reported.
    pub invitation: RcvCallInvitation,
    /// The model copy's `callUUID`.
    pub call_uuid: Option<CallUuid>,
}

impl Invitation {
    /// The model's copy of a core invitation.
    pub fn new(invitation: RcvCallInvitation) -> Self {
        let call_uuid = Some(invitation.call_uuid.clone());
        Invitation {
            invitation,
            call_uuid,
        }
    }

    /// The caller.
    pub fn contact_id(&self) -> ContactId {
        self.invitation.contact.contact_id
    }
}

/// `ChatModel`'s calls: the active call and the pending invitations, one per contact.
#[derive(Debug, Clone, Default)]
pub struct CallModel {
    active: Option<AppCall>,
    invitations: BTreeMap<ContactId, Invitation>,
}

impl CallModel {
    /// The active call.
    pub fn active(&self) -> Option<&AppCall> {
        self.active.as_ref()
    }

    /// The pending invitations, by caller.
    pub fn invitations(&self) -> impl Iterator<Item = &Invitation> {
        self.invitations.values()
    }

    fn invitation_by_uuid(&self, uuid: &CallUuid) -> Option<&Invitation> {
        self.invitations
            .values()
            .find(|i| i.call_uuid.as_ref() == Some(uuid))
    }
}

/// The device's camera and microphone permissions.
#[derive(Debug, Clone)]
pub struct Permissions {
    statuses: BTreeMap<Permission, PermissionStatus>,
}

impl Permissions {
    fn new(config: &PhoneConfig) -> Self {
        Permissions {
            statuses: BTreeMap::from([
                (Permission::Microphone, config.microphone),
                (Permission::Camera, config.camera),
            ]),
        }
    }

    /// A permission's status.
    pub fn status(&self, permission: Permission) -> PermissionStatus {
        self.statuses
            .get(&permission)
            .copied()
            .unwrap_or(PermissionStatus::NotDetermined)
    }

    fn set(&mut self, permission: Permission, granted: bool) {
        let status = if granted {
            PermissionStatus::Granted
        } else {
            PermissionStatus::Denied
        };
        self.statuses.insert(permission, status);
    }
}

/// What the app layer acts on and writes into: the time, the phone's RNG, the chat core, the
/// settings, the counters and the output queue.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Timestamp,
    pub(crate) rng: &'a mut ChaCha8Rng,
    pub(crate) core: &'a mut ChatCore,
    pub(crate) config: &'a PhoneConfig,
    pub(crate) stats: &'a mut PhoneStats,
    pub(crate) out: &'a mut VecDeque<Output>,
}

impl Ctx<'_> {
    pub(crate) fn emit(&mut self, output: Output) {
        self.out.push_back(output);
    }

    /// An API command the core refused: SimpleX's app logs it and goes on (errata A10).
    pub(crate) fn refused(&mut self, what: &str, error: &crate::Error) {
        self.stats.refused_commands += 1;
        debug!(%error, "{what} refused by the core");
    }
}

/// The app layer's state.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) model: CallModel,
    pub(crate) queue: CommandQueue,
    pub(crate) callkit: CallKitLink,
    pub(crate) incoming: IncomingCallView,
    pub(crate) lifecycle: ChatLifecycle,
    /// The call view, while it shows (`showCallView`).
    pub(crate) view: Option<CallView>,
    /// `RTCAudioSession.isAudioEnabled`: with CallKit, audio flows only once CallKit
    /// activated the session.
    pub(crate) audio_enabled: bool,
    pub(crate) bluetooth: bool,
    pub(crate) permissions: Permissions,
    /// A call accepted while another was active, started 1 s later.
    pub(crate) delayed_answer: Option<AppCall>,
    /// Calls `CallManager.endCall(call:)` is ending, with what runs once each has ended.
    pub(crate) end_tasks: Vec<(ContactId, manager::AfterEnd)>,
    /// How many WebRTC clients the call views made (the last one's id).
    pub(crate) clients: ClientId,
    pub(crate) timers: Timers,
}

impl App {
    pub(crate) fn new(config: &PhoneConfig) -> Self {
        App {
            model: CallModel::default(),
            queue: CommandQueue::default(),
            callkit: CallKitLink::default(),
            incoming: IncomingCallView::default(),
            lifecycle: ChatLifecycle::default(),
            view: None,
            audio_enabled: !config.use_callkit(),
            bluetooth: false,
            permissions: Permissions::new(config),
            delayed_answer: None,
            end_tasks: Vec::new(),
            clients: 0,
            timers: Timers::default(),
        }
    }

    /// The app of a process that starts again: nothing in memory survives but what belongs
    /// to the device (permissions, a connected headset).
    pub(crate) fn relaunched(&self, config: &PhoneConfig) -> Self {
        let mut app = App::new(config);
        app.permissions = self.permissions.clone();
        app.bluetooth = self.bluetooth;
        // The engine's clients of the old process are gone; new ones get new ids.
        app.clients = self.clients;
        app
    }

    // ---- getters ----

    /// The active call.
    pub fn active_call(&self) -> Option<&AppCall> {
        self.model.active()
    }

    /// The pending invitations in the app's model, by caller.
    pub fn invitations(&self) -> impl Iterator<Item = &Invitation> {
        self.model.invitations()
    }

    /// The caller whose in-app incoming view shows, if any.
    pub fn incoming_view(&self) -> Option<ContactId> {
        self.incoming.contact()
    }

    /// Whether the in-app incoming view's ringtone plays (it does while no call view shows).
    pub fn incoming_ringing(&self) -> bool {
        self.incoming.ringing()
    }

    /// Whether the call view shows (`showCallView`).
    pub fn call_view_shows(&self) -> bool {
        self.view.is_some()
    }

    /// Whether the chat is active: messages flow and the app acts on the core's events.
    pub fn chat_running(&self) -> bool {
        self.lifecycle.chat() == ChatState::Active
    }

    /// The chat's state.
    pub fn chat_state(&self) -> ChatState {
        self.lifecycle.chat()
    }

    /// Whether the app is in the foreground.
    pub fn foreground(&self) -> bool {
        self.lifecycle.scene() == Scene::Foreground
    }

    /// The WebRTC command queue (`WebRTCCommandProcessor`).
    pub fn queue(&self) -> &CommandQueue {
        &self.queue
    }

    /// The CallKit side: pending answers, `fulfillOnConnect`.
    pub fn callkit(&self) -> &CallKitLink {
        &self.callkit
    }

    /// Whether a CallKit answer waits for the chat to start.
    pub fn answer_pending(&self) -> bool {
        !self.callkit.answer_waits.is_empty()
    }

    /// A permission's status.
    pub fn permission(&self, permission: Permission) -> PermissionStatus {
        self.permissions.status(permission)
    }

    /// The next timer deadline.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.timers.next_deadline()
    }

    // ---- inputs ----

    /// Handles one input (messages and pushes are the phone's: its agent comes first).
    pub(crate) fn handle(&mut self, cx: &mut Ctx<'_>, input: Input) {
        match input {
            Input::User(action) => self.on_user_action(cx, action),
            Input::CallKit(event) => self.on_callkit(cx, event),
            Input::Lifecycle(event) => self.on_lifecycle(cx, event),
            Input::WebRtc { client, response } => self.on_webrtc(cx, client, response),
            Input::PermissionAnswered {
                permission,
                granted,
            } => self.on_permission(cx, permission, granted),
            Input::BluetoothAvailable { available } => self.bluetooth = available,
            Input::Timeout => {
                while let Some(timer) = self.timers.pop_due(cx.now) {
                    debug!(?timer, "timer fired");
                    self.on_timer(cx, timer);
                }
            }
            Input::Message { .. } | Input::Push { .. } => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::AnswerWait(action) => self.answer_wait_step(cx, action),
            Timer::SuspendOnEndCall => self.suspend_on_end_call_fired(cx),
            Timer::DelayedAnswer => {
                if let Some(call) = self.delayed_answer.take() {
                    self.start_answered_call(cx, call);
                }
            }
            Timer::ExpiredCallEnd(uuid) => self.end_expired_call(cx, uuid),
            Timer::EndTasks => self.run_end_tasks(cx),
        }
    }

    pub(crate) fn alert(&mut self, cx: &mut Ctx<'_>, title: &str, message: &str) {
        cx.emit(Output::Ui(UiEvent::Alert {
            title: title.to_owned(),
            message: message.to_owned(),
        }));
    }

    /// Sets the active call (or none), telling the UI.
    pub(crate) fn set_active_call(&mut self, cx: &mut Ctx<'_>, call: Option<AppCall>) {
        let before = self.model.active.as_ref().map(|c| c.contact_id);
        self.model.active = call;
        match (&self.model.active, before) {
            (Some(call), _) => cx.emit(Output::Ui(UiEvent::CallState {
                contact_id: call.contact_id,
                state: Some(call.state),
            })),
            (None, Some(contact_id)) => cx.emit(Output::Ui(UiEvent::CallState {
                contact_id,
                state: None,
            })),
            (None, None) => {}
        }
    }

    /// Changes the active call's state, telling the UI.
    pub(crate) fn set_call_state(&mut self, cx: &mut Ctx<'_>, state: AppCallState) {
        if let Some(call) = self.model.active.as_mut()
            && call.state != state
        {
            call.state = state;
            debug!(contact_id = call.contact_id, %state, "call state");
            cx.emit(Output::Ui(UiEvent::CallState {
                contact_id: call.contact_id,
                state: Some(state),
            }));
        }
    }

    /// `hasActiveCalls()`: CallKit holds a call.
    pub(crate) fn callkit_has_calls(&self) -> bool {
        self.callkit.calls > 0
    }

    fn on_permission(&mut self, cx: &mut Ctx<'_>, permission: Permission, granted: bool) {
        self.permissions.set(permission, granted);
        self.permission_answered(cx, permission, granted);
    }
}
