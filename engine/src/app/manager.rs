//! `CallManager` (`CallManager.swift`) and `CallController`'s entry points that start, answer
//! and end calls; the user's actions in the call view and the incoming view.

use tracing::debug;

use super::{App, AppCall, AppCallState, CallDirection, Ctx, Invitation, Timer};
use crate::ids::{ActionId, CallUuid, ContactId};
use crate::io::callkit::CallKitCommand;
use crate::io::webrtc::{ClientCall, WebRtcCommand};
use crate::io::{Output, Permission, PermissionStatus, UserAction};
use crate::protocol::CallMediaType;

/// `callTs` older than this is not rung (`reportNewIncomingCall`, the PushKit handler).
pub(crate) const RING_WINDOW_MS: u64 = 180_000;
/// `answerIncomingCall` waits this long when another call is still active.
const SWITCH_CALL_DELAY_MS: u64 = 1_000;

/// What runs once `CallManager.endCall` completes (its `completed` closure).
#[derive(Debug, Clone)]
pub(crate) enum AfterEnd {
    /// Nothing.
    Nothing,
    /// A `CXEndCallAction`: fulfilled if something ended, failed if not; then
    /// `suspendOnEndCall`.
    EndAction(ActionId),
    /// The incoming view's Accept during a call: answer the new invitation.
    Answer(Box<Invitation>),
}

impl App {
    pub(crate) fn on_user_action(&mut self, cx: &mut Ctx<'_>, action: UserAction) {
        match action {
            UserAction::StartCall { contact_id, media } => self.start_call(cx, contact_id, media),
            UserAction::AcceptCall { contact_id } => self.accept_in_app(cx, contact_id),
            UserAction::RejectCall { contact_id } => {
                // `IncomingCallView`'s Reject: `endCall(invitation:)`, nothing sent.
                if self.model.invitations.contains_key(&contact_id) {
                    self.end_invitation(cx, contact_id);
                }
                if self.incoming.contact() == Some(contact_id) {
                    self.hide_incoming(cx);
                }
            }
            UserAction::IgnoreCall { contact_id } => {
                // Only the banner goes; the invitation stays pending in core and model.
                if self.incoming.contact() == Some(contact_id) {
                    self.hide_incoming(cx);
                }
            }
            UserAction::EndCall => self.end_button(cx),
            UserAction::SetMicrophone { muted } => self.mic_button(cx, !muted),
            UserAction::SetCamera { on } => self.camera_button(cx, on),
            UserAction::SwitchCamera { camera } => {
                if self.model.active.is_some() {
                    self.client_call(cx, ClientCall::FlipCamera { camera });
                }
            }
            UserAction::SetSpeaker { on } => {
                if let Some(call) = self.model.active.as_mut() {
                    call.speaker_enabled = on;
                    self.configure_session(cx, on);
                }
            }
            UserAction::PickAudioDevice { device } => self.pick_audio_device(cx, device),
        }
    }

    // ---- outgoing ----

    /// `CallController.startCall`: the call button.
    fn start_call(&mut self, cx: &mut Ctx<'_>, contact_id: ContactId, media: CallMediaType) {
        if self.model.active.is_some() {
            // The chat's call buttons are disabled during a call.
            debug!(contact_id, "call button ignored: a call is active");
            return;
        }
        // `newOutgoingCall`: the active call exists before anything is sent.
        let uuid = CallUuid::random(cx.rng);
        let call = self.new_call(
            CallDirection::Outgoing,
            contact_id,
            Some(uuid.clone()),
            media,
        );
        self.set_active_call(cx, Some(call));
        if cx.config.use_callkit() {
            let handle = cx
                .core
                .contact(contact_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            cx.emit(Output::CallKit(CallKitCommand::RequestStartCall {
                uuid,
                handle,
                video: media == CallMediaType::Video,
            }));
        } else {
            self.start_outgoing_call(cx, &uuid);
        }
    }

    /// A new `Call`, its media sources as the permissions allow (`Call.init`).
    fn new_call(
        &self,
        direction: CallDirection,
        contact_id: ContactId,
        call_uuid: Option<CallUuid>,
        media: CallMediaType,
    ) -> AppCall {
        let granted = |p| self.permissions.status(p) == PermissionStatus::Granted;
        AppCall {
            direction,
            contact_id,
            call_uuid,
            state: match direction {
                CallDirection::Outgoing => AppCallState::WaitCapabilities,
                CallDirection::Incoming => AppCallState::InvitationAccepted,
            },
            media,
            local_capabilities: None,
            shared_key: None,
            mic: granted(Permission::Microphone),
            camera: media == CallMediaType::Video && granted(Permission::Camera),
            speaker_enabled: media == CallMediaType::Video,
            connected_at: None,
            connection_info: None,
        }
    }

    /// `CallManager.startOutgoingCall`: the call view shows and WebRTC is asked for its
    /// capabilities; false if the active call is not this one.
    pub(crate) fn start_outgoing_call(&mut self, cx: &mut Ctx<'_>, uuid: &CallUuid) -> bool {
        let Some(call) = self.model.active.as_ref() else {
            return false;
        };
        if call.call_uuid.as_ref() != Some(uuid) {
            return false;
        }
        let media = call.media;
        self.show_call_view(cx);
        self.queue
            .push(WebRtcCommand::Capabilities { media }, cx.out);
        true
    }

    // ---- incoming ----

    /// `IncomingCallView`'s Accept: during a call, that call ends first (directly, not through
    /// CallKit), then the invitation is answered.
    fn accept_in_app(&mut self, cx: &mut Ctx<'_>, contact_id: ContactId) {
        let Some(invitation) = self.model.invitations.get(&contact_id).cloned() else {
            debug!(contact_id, "accept ignored: no invitation");
            return;
        };
        if self.model.active.is_some() {
            self.end_active_call(cx, AfterEnd::Answer(Box::new(invitation)));
        } else {
            self.answer_call(cx, invitation);
        }
    }

    /// `CallController.answerCall(invitation:)`: through CallKit when it is used and the
    /// invitation has a UUID, else at once; the banner goes.
    fn answer_call(&mut self, cx: &mut Ctx<'_>, invitation: Invitation) {
        let contact_id = invitation.contact_id();
        match invitation.call_uuid.clone() {
            Some(uuid) if cx.config.use_callkit() => {
                cx.emit(Output::CallKit(CallKitCommand::RequestAnswerCall { uuid }));
            }
            _ => self.answer_incoming_call(cx, invitation),
        }
        if self.incoming.contact() == Some(contact_id) {
            self.hide_incoming(cx);
        }
    }

    /// `CallManager.answerIncomingCall(callUUID:)`: false if no invitation has this UUID.
    pub(crate) fn answer_incoming_call_by_uuid(
        &mut self,
        cx: &mut Ctx<'_>,
        uuid: &CallUuid,
    ) -> bool {
        match self.model.invitation_by_uuid(uuid).cloned() {
            Some(invitation) => {
                self.answer_incoming_call(cx, invitation);
                true
            }
            None => false,
        }
    }

    /// `CallManager.answerIncomingCall(invitation:)`: the invitation becomes the active call;
    /// WebRTC starts at once, or 1 s later while another call is still active.
    pub(crate) fn answer_incoming_call(&mut self, cx: &mut Ctx<'_>, invitation: Invitation) {
        let contact_id = invitation.contact_id();
        self.model.invitations.remove(&contact_id);
        let inv = &invitation.invitation;
        let mut call = self.new_call(
            CallDirection::Incoming,
            contact_id,
            invitation.call_uuid.clone(),
            inv.call_type.media,
        );
        call.shared_key = inv.shared_key;
        if self.model.active.is_some() {
            self.delayed_answer = Some(call);
            self.timers
                .arm(Timer::DelayedAnswer, cx.now.add_ms(SWITCH_CALL_DELAY_MS));
        } else {
            self.start_answered_call(cx, call);
        }
    }

    /// The end of `answerIncomingCall`: the call becomes active, its view shows, and WebRTC
    /// starts with the key and the relay policy.
    pub(crate) fn start_answered_call(&mut self, cx: &mut Ctx<'_>, call: AppCall) {
        let (media, aes_key) = (call.media, call.shared_key);
        self.set_active_call(cx, Some(call));
        self.show_call_view(cx);
        let relay = cx.config.relay_policy;
        self.queue.push(
            WebRtcCommand::Start {
                media,
                aes_key,
                relay,
            },
            cx.out,
        );
    }

    // ---- ending ----

    /// The call view's End button: through `CallController.endCall(callUUID:)` when the call
    /// has a UUID (CallKit's end action when CallKit is used), else `endCall(call:)`.
    fn end_button(&mut self, cx: &mut Ctx<'_>) {
        let Some(call) = self.model.active.as_ref() else {
            debug!("end ignored: no active call");
            return;
        };
        match call.call_uuid.clone() {
            Some(uuid) => self.end_call_by_uuid(cx, uuid),
            None => self.end_active_call(cx, AfterEnd::Nothing),
        }
    }

    /// `CallController.endCall(callUUID:)`: a CallKit end transaction when CallKit is used,
    /// else `CallManager.endCall(callUUID:)` at once.
    pub(crate) fn end_call_by_uuid(&mut self, cx: &mut Ctx<'_>, uuid: CallUuid) {
        if cx.config.use_callkit() {
            cx.emit(Output::CallKit(CallKitCommand::RequestEndCall { uuid }));
        } else {
            self.manager_end_by_uuid(cx, &uuid, AfterEnd::Nothing);
        }
    }

    /// `CallManager.endCall(callUUID:)`: the active call with this UUID, or the invitation
    /// with it; `then` learns whether there was one.
    pub(crate) fn manager_end_by_uuid(
        &mut self,
        cx: &mut Ctx<'_>,
        uuid: &CallUuid,
        then: AfterEnd,
    ) {
        let active = self
            .model
            .active
            .as_ref()
            .is_some_and(|c| c.call_uuid.as_ref() == Some(uuid));
        if active {
            self.end_active_call(cx, then);
        } else if let Some(invitation) = self.model.invitation_by_uuid(uuid).cloned() {
            self.end_invitation(cx, invitation.contact_id());
            self.after_end(cx, then, true);
        } else {
            self.after_end(cx, then, false);
        }
    }

    /// `CallManager.endCall(call:)`: a call that already ended is cleared at once; any other
    /// is ended in a `Task` that runs once this turn of the main thread is over (see
    /// [`App::run_end_tasks`]), so an action handled in the same turn still sees it active.
    pub(crate) fn end_active_call(&mut self, cx: &mut Ctx<'_>, then: AfterEnd) {
        let Some(call) = self.model.active.clone() else {
            return;
        };
        if call.state == AppCallState::Ended {
            self.close_call_view(cx);
            self.set_active_call(cx, None);
            self.after_end(cx, then, true);
        } else {
            self.end_tasks.push((call.contact_id, then));
            self.timers.arm(Timer::EndTasks, cx.now);
        }
    }

    /// The `Task` of `CallManager.endCall(call:)`: WebRTC is told (`.end`), the model cleared
    /// (whatever call is active by then), `completed` run, and then `apiEndCall` tells the peer.
    pub(crate) fn run_end_tasks(&mut self, cx: &mut Ctx<'_>) {
        for (contact_id, then) in std::mem::take(&mut self.end_tasks) {
            self.queue.push(WebRtcCommand::End, cx.out);
            self.close_call_view(cx);
            self.set_active_call(cx, None);
            self.after_end(cx, then, true);
            let (now, rng) = (cx.now, &mut *cx.rng);
            if let Err(error) = cx.core.api_end_call(now, rng, contact_id) {
                cx.refused("apiEndCall", &error);
            }
        }
    }

    /// `CallManager.endCall(invitation:)`: `apiRejectCall`, nothing sent to the caller.
    pub(crate) fn end_invitation(&mut self, cx: &mut Ctx<'_>, contact_id: ContactId) {
        self.model.invitations.remove(&contact_id);
        if let Err(error) = cx.core.api_reject_call(cx.now, contact_id) {
            cx.refused("apiRejectCall", &error);
        }
    }

    fn after_end(&mut self, cx: &mut Ctx<'_>, then: AfterEnd, ended: bool) {
        match then {
            AfterEnd::Nothing => {}
            AfterEnd::EndAction(action) => {
                let command = if ended {
                    CallKitCommand::Fulfill { action }
                } else {
                    CallKitCommand::Fail { action }
                };
                cx.emit(Output::CallKit(command));
                self.suspend_on_end_call(cx);
            }
            AfterEnd::Answer(invitation) => self.answer_call(cx, *invitation),
        }
    }

    // ---- the call view's buttons: direct calls on the client (errata A11) ----

    /// The microphone button: `client.setAudioEnabled`, no queue, no CallKit action. A denied
    /// permission shows the alert again.
    fn mic_button(&mut self, cx: &mut Ctx<'_>, enabled: bool) {
        if self.model.active.is_none() || self.view.is_none() {
            return;
        }
        if self.permissions.status(Permission::Microphone) != PermissionStatus::Granted {
            self.permission_alert(cx, Permission::Microphone);
            return;
        }
        if let Some(call) = self.model.active.as_mut() {
            call.mic = enabled;
        }
        self.client_call(cx, ClientCall::SetAudioEnabled { enabled });
    }

    /// The camera button: `client.setCameraEnabled`.
    fn camera_button(&mut self, cx: &mut Ctx<'_>, enabled: bool) {
        if self.model.active.is_none() || self.view.is_none() {
            return;
        }
        if self.permissions.status(Permission::Camera) != PermissionStatus::Granted {
            self.permission_alert(cx, Permission::Camera);
            return;
        }
        if let Some(call) = self.model.active.as_mut() {
            call.camera = enabled;
        }
        self.client_call(cx, ClientCall::SetCameraEnabled { enabled });
    }

    /// `activateCall` (`SimpleXAPI.swift`), then `CallController.reportNewIncomingCall`: with
    /// CallKit and a UUID, a report to CallKit within the 180 s window (nothing at all after
    /// it); without, a notification and, within the window, the in-app view.
    pub(crate) fn activate_call(&mut self, cx: &mut Ctx<'_>, invitation: &Invitation) {
        if !cx.config.show_notifications {
            return;
        }
        // Swift's optional comparison: no active call and an invitation without a UUID are
        // equal too.
        let active_uuid = self.model.active.as_ref().and_then(|c| c.call_uuid.clone());
        if active_uuid == invitation.call_uuid {
            return;
        }
        let inv = &invitation.invitation;
        let ringable = cx.now.ms_since(inv.call_ts) <= RING_WINDOW_MS;
        match invitation.call_uuid.clone() {
            Some(uuid) if cx.config.use_callkit() => {
                if ringable {
                    self.report_incoming(cx, uuid, invitation, false);
                }
            }
            _ => {
                cx.emit(Output::Ui(crate::io::UiEvent::CallNotification {
                    contact_id: invitation.contact_id(),
                    media: inv.call_type.media,
                }));
                if ringable {
                    self.show_incoming(cx, invitation);
                }
            }
        }
    }

    /// `refreshCallInvitations`: the model's invitations rebuilt from the core (UUIDs
    /// restored), then the last one in the core's order (the highest contact id) activated.
    pub(crate) fn refresh_call_invitations(&mut self, cx: &mut Ctx<'_>) {
        self.just_refresh_call_invitations(cx);
        if let Some(last) = self.model.invitations.values().last().cloned() {
            self.activate_call(cx, &last);
        }
    }

    /// `justRefreshCallInvitations`: the model's invitations rebuilt from the core.
    pub(crate) fn just_refresh_call_invitations(&mut self, cx: &mut Ctx<'_>) {
        self.model.invitations = cx
            .core
            .api_get_call_invitations()
            .into_iter()
            .map(|inv| (inv.contact.contact_id, Invitation::new(inv)))
            .collect();
    }
}
