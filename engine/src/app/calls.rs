//! Starting, answering, rejecting and ending calls; core events; lifecycle; timers.

use tracing::debug;

use super::{AfterPermission, AppCall, AppCallState, CallDirection, ChatRunState, Invitation};
use crate::backend::callkit::{CallKitCommand, EndReason};
use crate::backend::sound::SoundCommand;
use crate::backend::webrtc::WebRtcCommand;
use crate::chat::{ContactId, CoreEvent};
use crate::phone::{
    LifecycleCommand, LifecycleEvent, Output, Permission, PermissionStatus, Phone, Timer, UiEvent,
    UserAction,
};
use crate::protocol::{CallMediaSource, CallMediaType, RcvCallInvitation};

/// `callTs` older than this is not rung (iOS `reportNewIncomingCall`, the PushKit handler).
pub(crate) const RING_WINDOW_MS: u64 = 180_000;
/// Delay before starting a call accepted while another was active.
const SWITCH_CALL_DELAY_MS: u64 = 1_000;
/// Delay before suspending the chat after a push-started call ends.
const SUSPEND_DELAY_MS: u64 = 3_000;
/// Delay before the connecting sound becomes the in-call loop.
pub(crate) const IN_CALL_SOUND_DELAY_MS: u64 = 7_000;

/// The alert shown when a permission is denied.
pub fn permission_alert(permission: Permission) -> &'static str {
    match permission {
        Permission::Microphone => "Allow microphone access to make and receive calls",
        Permission::Camera => "Allow camera access to make video calls",
    }
}

impl Phone {
    pub(crate) fn on_user_action(&mut self, action: UserAction) {
        match action {
            UserAction::StartCall { contact_id, media } => self.start_call(contact_id, media),
            UserAction::AcceptCall { contact_id } => self.accept_in_app(contact_id),
            UserAction::RejectCall { contact_id } => self.reject_in_app(contact_id),
            UserAction::IgnoreCall { contact_id } => {
                // Only the banner goes; the invitation stays pending in core and model.
                if self.app.incoming_view == Some(contact_id) {
                    self.hide_incoming_view();
                }
            }
            UserAction::EndCall => self.user_end_call(),
            UserAction::SetMicrophone { muted } => {
                if let Some(call) = self.app.active_call.as_mut() {
                    call.mic_muted = muted;
                    let cmd = WebRtcCommand::Media {
                        source: CallMediaSource::Mic,
                        enable: !muted,
                    };
                    self.queue_webrtc(cmd);
                }
            }
            UserAction::SetCamera { on } => {
                if let Some(call) = self.app.active_call.as_mut() {
                    call.camera_on = on;
                    let cmd = WebRtcCommand::Media {
                        source: CallMediaSource::Camera,
                        enable: on,
                    };
                    self.queue_webrtc(cmd);
                }
            }
            UserAction::SwitchCamera { camera } => {
                if self.app.active_call.is_some() {
                    self.queue_webrtc(WebRtcCommand::Camera { camera });
                }
            }
            UserAction::SetSpeaker { on } => self.set_speaker(on),
            UserAction::PickAudioDevice { device } => self.pick_audio_device(device),
        }
    }

    // ---- permissions ----

    /// True if every permission `media` needs is granted; otherwise asks (or alerts) and
    /// remembers what to do after the answer.
    pub(crate) fn permissions_granted(
        &mut self,
        media: CallMediaType,
        then: AfterPermission,
    ) -> bool {
        let needed: &[Permission] = match media {
            CallMediaType::Audio => &[Permission::Microphone],
            CallMediaType::Video => &[Permission::Microphone, Permission::Camera],
        };
        let missing = needed
            .iter()
            .copied()
            .find(|p| self.app.permission(*p) != PermissionStatus::Granted);
        match missing {
            None => true,
            Some(permission) => {
                self.app.pending_permission = Some((permission, then));
                self.emit(Output::RequestPermission(permission));
                false
            }
        }
    }

    pub(crate) fn on_permission(&mut self, permission: Permission, granted: bool) {
        let status = if granted {
            PermissionStatus::Granted
        } else {
            PermissionStatus::Denied
        };
        self.app.permissions.insert(permission, status);
        let Some((asked, then)) = self.app.pending_permission.take() else {
            return;
        };
        if asked != permission {
            self.app.pending_permission = Some((asked, then));
            return;
        }
        if !granted {
            self.alert(permission_alert(permission));
            if let AfterPermission::AnswerCallKit { action, .. } = then {
                self.emit(Output::CallKit(CallKitCommand::Fail { action }));
            }
            return;
        }
        match then {
            AfterPermission::StartCall { contact_id, media } => self.start_call(contact_id, media),
            AfterPermission::AcceptInApp { contact_id } => self.accept_in_app(contact_id),
            AfterPermission::AnswerCallKit { action, uuid } => self.answer_callkit(action, uuid),
        }
    }

    pub(crate) fn alert(&mut self, text: &str) {
        self.emit(Output::Ui(UiEvent::Alert {
            text: text.to_owned(),
        }));
    }

    // ---- outgoing ----

    /// The call button: a new outgoing call, through CallKit when it is used.
    fn start_call(&mut self, contact_id: ContactId, media: CallMediaType) {
        if self.app.active_call.is_some() {
            debug!(contact_id, "call button ignored: a call is active");
            return;
        }
        if !self.permissions_granted(media, AfterPermission::StartCall { contact_id, media }) {
            return;
        }
        let uuid = crate::chat::uuid_v4(&mut self.rng);
        let call = AppCall {
            direction: CallDirection::Outgoing,
            contact_id,
            call_uuid: Some(uuid.clone()),
            state: AppCallState::WaitCapabilities,
            local_media: media,
            local_capabilities: None,
            shared_key: None,
            mic_muted: false,
            speaker_on: media == CallMediaType::Video,
            camera_on: media == CallMediaType::Video,
            connected_at: None,
            connection_info: None,
        };
        self.set_active_call(Some(call));
        if self.config.use_callkit() {
            self.app.callkit_calls.insert(uuid.clone());
            let handle = self.contact_name(contact_id);
            self.emit(Output::CallKit(CallKitCommand::RequestStartCall {
                uuid,
                handle,
                video: media == CallMediaType::Video,
            }));
        } else {
            self.configure_audio_for_call();
            self.start_outgoing_call(&uuid);
        }
    }

    /// `CallManager.startOutgoingCall`: ask WebRTC for its capabilities.
    pub(crate) fn start_outgoing_call(&mut self, uuid: &str) -> bool {
        let Some(call) = self.app.active_call.as_ref() else {
            return false;
        };
        if call.call_uuid.as_deref() != Some(uuid) {
            return false;
        }
        let media = call.local_media;
        self.queue_webrtc(WebRtcCommand::Capabilities { media });
        true
    }

    // ---- incoming ----

    /// `activateCall` then `reportNewIncomingCall` (foreground path).
    pub(crate) fn activate_call(&mut self, invitation: &Invitation) {
        if !self.config.show_notifications {
            return;
        }
        let inv = &invitation.invitation;
        let active_uuid = self
            .app
            .active_call
            .as_ref()
            .and_then(|c| c.call_uuid.as_deref());
        if active_uuid == Some(inv.call_uuid.as_str()) {
            return;
        }
        let ringable = self.now.ms_since(inv.call_ts) <= RING_WINDOW_MS;
        if self.config.use_callkit() && invitation.use_callkit {
            // CallKit would refuse the UUID it already shows (push path); nothing to do.
            if ringable && !self.app.callkit_calls.contains(&inv.call_uuid) {
                self.report_incoming_to_callkit(inv);
            }
        } else {
            self.emit(Output::Ui(UiEvent::CallNotification {
                contact_id: inv.contact.contact_id,
                media: inv.call_type.media,
            }));
            // The view (and the ringtone it starts) shows only in a visible app; a backgrounded
            // or locked phone gets the notification, and the view when the app comes back.
            if ringable && self.app.foreground {
                self.show_incoming_view(inv.contact.contact_id, inv.call_type.media);
            }
        }
    }

    pub(crate) fn report_incoming_to_callkit(&mut self, inv: &RcvCallInvitation) {
        self.app.callkit_calls.insert(inv.call_uuid.clone());
        self.emit(Output::CallKit(CallKitCommand::ReportNewIncomingCall {
            uuid: inv.call_uuid.clone(),
            caller: inv.contact.local_display_name.clone(),
            video: inv.call_type.media == CallMediaType::Video,
        }));
    }

    pub(crate) fn show_incoming_view(&mut self, contact_id: ContactId, media: CallMediaType) {
        if let Some(shown) = self.app.incoming_view {
            if shown == contact_id {
                return;
            }
            self.hide_incoming_view();
        }
        self.app.incoming_view = Some(contact_id);
        self.emit(Output::Ui(UiEvent::IncomingCallShown { contact_id, media }));
        self.emit(Output::Sound(SoundCommand::StartRingtone));
    }

    pub(crate) fn hide_incoming_view(&mut self) {
        if let Some(contact_id) = self.app.incoming_view.take() {
            self.emit(Output::Ui(UiEvent::IncomingCallHidden { contact_id }));
            self.emit(Output::Sound(SoundCommand::StopRingtone));
        }
    }

    /// Accept on the in-app view (or on the chat item).
    fn accept_in_app(&mut self, contact_id: ContactId) {
        let Some(invitation) = self.app.invitations.get(&contact_id).cloned() else {
            debug!(contact_id, "accept ignored: no invitation");
            return;
        };
        if self.app.incoming_view == Some(contact_id) {
            self.hide_incoming_view();
        }
        let media = invitation.invitation.call_type.media;
        if !self.permissions_granted(media, AfterPermission::AcceptInApp { contact_id }) {
            return;
        }
        self.answer_invitation(invitation.invitation);
    }

    /// Reject on the in-app view: `apiRejectCall`, nothing sent.
    fn reject_in_app(&mut self, contact_id: ContactId) {
        if self.app.incoming_view == Some(contact_id) {
            self.hide_incoming_view();
        }
        if self.app.invitations.remove(&contact_id).is_some() {
            self.reject_in_core(contact_id);
        }
    }

    pub(crate) fn reject_in_core(&mut self, contact_id: ContactId) {
        let now = self.now;
        if let Err(error) = self.core.api_reject_call(now, contact_id) {
            self.stats.refused_commands += 1;
            debug!(contact_id, %error, "reject refused");
        }
    }

    /// `CallManager.answerIncomingCall`: the invitation becomes the active call; WebRTC starts
    /// at once, or 1 s later when another call was active.
    pub(crate) fn answer_invitation(&mut self, inv: RcvCallInvitation) {
        let contact_id = inv.contact.contact_id;
        self.app.invitations.remove(&contact_id);
        let uses_callkit = self.app.callkit_calls.contains(&inv.call_uuid);
        let media = inv.call_type.media;
        let call = AppCall {
            direction: CallDirection::Incoming,
            contact_id,
            call_uuid: uses_callkit.then(|| inv.call_uuid.clone()),
            state: AppCallState::InvitationAccepted,
            local_media: media,
            local_capabilities: None,
            shared_key: inv.shared_key,
            mic_muted: false,
            speaker_on: media == CallMediaType::Video,
            camera_on: media == CallMediaType::Video,
            connected_at: None,
            connection_info: None,
        };
        if self.app.active_call.is_some() {
            // Accepting a call while in another: end the first, start this one 1 s later.
            self.end_active_call();
            self.app.delayed_call = Some(call);
            self.timers
                .arm(Timer::DelayedAnswer, self.now.add_ms(SWITCH_CALL_DELAY_MS));
        } else {
            self.start_incoming_call(call);
        }
    }

    fn start_incoming_call(&mut self, call: AppCall) {
        let media = call.local_media;
        let key = call.shared_key;
        self.set_active_call(Some(call));
        if !self.config.use_callkit() {
            self.configure_audio_for_call();
        }
        let relay = self.config.relay_policy;
        self.queue_webrtc(WebRtcCommand::Start {
            media,
            aes_key: key,
            relay,
        });
    }

    // ---- ending ----

    /// The End button: through CallKit when CallKit knows the call.
    fn user_end_call(&mut self) {
        let Some(call) = self.app.active_call.as_ref() else {
            debug!("end ignored: no active call");
            return;
        };
        match call.call_uuid.clone() {
            Some(uuid) if self.config.use_callkit() && self.app.callkit_calls.contains(&uuid) => {
                self.emit(Output::CallKit(CallKitCommand::RequestEndCall { uuid }));
            }
            _ => {
                self.end_active_call();
                self.suspend_on_end_call();
            }
        }
    }

    /// `CallManager.endCall(call:)`: unless already ended, tell WebRTC and the peer.
    pub(crate) fn end_active_call(&mut self) {
        let Some(call) = self.app.active_call.clone() else {
            return;
        };
        if call.state != AppCallState::Ended {
            self.queue_webrtc(WebRtcCommand::End);
            let (now, rng) = (self.now, &mut self.rng);
            if let Err(error) = self.core.api_end_call(now, rng, call.contact_id) {
                self.stats.refused_commands += 1;
                debug!(contact_id = call.contact_id, %error, "end refused by the core");
            }
        }
        self.close_call_view();
    }

    /// The call view goes: the model is cleared, queued WebRTC commands dropped
    /// (`setClient(nil)`), sounds stopped and the audio session returned to its defaults.
    pub(crate) fn close_call_view(&mut self) {
        let Some(call) = self.app.active_call.take() else {
            return;
        };
        if let Some(uuid) = &call.call_uuid {
            self.app.callkit_calls.remove(uuid);
        }
        self.emit(Output::Ui(UiEvent::CallState {
            contact_id: call.contact_id,
            state: None,
        }));
        self.app.webrtc_queue.clear();
        self.app.webrtc_has_connection = false;
        self.timers.cancel(&Timer::InCallSound);
        self.stop_call_sounds();
        self.audio_to_defaults();
    }

    /// `reportCallRemoteEnded`: tell CallKit, or hide the banner.
    fn report_remote_ended(&mut self, contact_id: ContactId, uuid: Option<&str>) {
        if let Some(uuid) = uuid {
            if self.app.callkit_calls.remove(uuid) {
                self.emit(Output::CallKit(CallKitCommand::ReportCallEnded {
                    uuid: uuid.to_owned(),
                    reason: EndReason::RemoteEnded,
                }));
            }
        }
        if self.app.incoming_view == Some(contact_id) {
            self.hide_incoming_view();
        }
    }

    /// `suspendOnEndCall`: 3 s later, suspend the chat if a push started it and no call is on.
    pub(crate) fn suspend_on_end_call(&mut self) {
        if self.app.should_suspend_chat {
            self.timers
                .arm(Timer::SuspendChat, self.now.add_ms(SUSPEND_DELAY_MS));
        }
    }

    pub(crate) fn set_active_call(&mut self, call: Option<AppCall>) {
        self.app.active_call = call;
        self.notify_call_state();
    }

    pub(crate) fn set_call_state(&mut self, state: AppCallState) {
        if let Some(call) = self.app.active_call.as_mut() {
            if call.state != state {
                call.state = state;
                self.notify_call_state();
            }
        }
    }

    fn notify_call_state(&mut self) {
        if let Some(call) = &self.app.active_call {
            let event = UiEvent::CallState {
                contact_id: call.contact_id,
                state: Some(call.state),
            };
            debug!(contact_id = call.contact_id, state = %call.state, "call state");
            self.emit(Output::Ui(event));
        }
    }

    pub(crate) fn contact_name(&self, contact_id: ContactId) -> String {
        self.core
            .contact(contact_id)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    // ---- core events ----

    pub(crate) fn on_core_event(&mut self, event: &CoreEvent) {
        match event {
            CoreEvent::CallInvitation(inv) => {
                let invitation = Invitation {
                    invitation: inv.clone(),
                    use_callkit: true,
                };
                let contact_id = invitation.invitation.contact.contact_id;
                self.app.invitations.insert(contact_id, invitation.clone());
                self.activate_call(&invitation);
            }
            CoreEvent::CallOffer {
                contact_id,
                offer,
                shared_key,
                ..
            } => {
                let Some(call) = self.active_call_with(*contact_id) else {
                    return;
                };
                call.shared_key = *shared_key;
                let media = call.local_media;
                self.set_call_state(AppCallState::OfferReceived);
                let relay = self.config.relay_policy;
                self.queue_webrtc(WebRtcCommand::Offer {
                    offer: offer.rtc_session.clone(),
                    ice_candidates: offer.rtc_ice_candidates.clone(),
                    media,
                    aes_key: *shared_key,
                    relay,
                });
            }
            CoreEvent::CallAnswer { contact_id, answer } => {
                if self.active_call_with(*contact_id).is_none() {
                    return;
                }
                self.set_call_state(AppCallState::AnswerReceived);
                self.queue_webrtc(WebRtcCommand::Answer {
                    answer: answer.rtc_session.clone(),
                    ice_candidates: answer.rtc_ice_candidates.clone(),
                });
            }
            CoreEvent::CallExtraInfo {
                contact_id,
                extra_info,
            } => {
                if self.active_call_with(*contact_id).is_some() {
                    self.queue_webrtc(WebRtcCommand::Ice {
                        ice_candidates: extra_info.rtc_ice_candidates.clone(),
                    });
                }
            }
            CoreEvent::CallEnded { contact_id } => {
                let contact_id = *contact_id;
                if let Some(inv) = self.app.invitations.remove(&contact_id) {
                    let uuid = inv.invitation.call_uuid;
                    self.report_remote_ended(contact_id, Some(&uuid));
                }
                if let Some(call) = self.active_call_with(contact_id) {
                    let uuid = call.call_uuid.clone();
                    self.set_call_state(AppCallState::Ended);
                    self.queue_webrtc(WebRtcCommand::End);
                    self.report_remote_ended(contact_id, uuid.as_deref());
                }
            }
            CoreEvent::NewChatItem(_)
            | CoreEvent::ChatItemUpdated(_)
            | CoreEvent::MessageError { .. } => {}
        }
    }

    /// `withCall`: the active call, if it is with this contact.
    fn active_call_with(&mut self, contact_id: ContactId) -> Option<&mut AppCall> {
        let call = self.app.active_call.as_mut();
        match call {
            Some(c) if c.contact_id == contact_id => Some(c),
            _ => {
                debug!(
                    contact_id,
                    "event for a contact without the active call ignored"
                );
                None
            }
        }
    }

    /// `justRefreshCallInvitations`: rebuild the model's invitations from the core.
    pub(crate) fn just_refresh_call_invitations(&mut self) {
        let fresh = self.core.api_get_call_invitations();
        self.app.invitations = fresh
            .into_iter()
            .map(|inv| {
                let use_callkit = self
                    .app
                    .invitations
                    .get(&inv.contact.contact_id)
                    .is_none_or(|old| old.use_callkit);
                (
                    inv.contact.contact_id,
                    Invitation {
                        invitation: inv,
                        use_callkit,
                    },
                )
            })
            .collect();
    }

    /// `refreshCallInvitations`: rebuild, then activate the latest invitation.
    fn refresh_call_invitations(&mut self) {
        self.just_refresh_call_invitations();
        let latest = self
            .app
            .invitations
            .values()
            .max_by_key(|i| (i.invitation.call_ts, i.invitation.contact.contact_id))
            .cloned();
        if let Some(invitation) = latest {
            self.activate_call(&invitation);
        }
    }

    // ---- lifecycle ----

    pub(crate) fn on_lifecycle(&mut self, event: LifecycleEvent) {
        match event {
            LifecycleEvent::ChatStarted => {
                self.app.chat = ChatRunState::Running;
                // A chat started for a VoIP push in the background does not refresh: a CallKit
                // answer then finds no invitation and runs `justRefreshCallInvitations`.
                if self.app.foreground {
                    self.refresh_call_invitations();
                }
            }
            LifecycleEvent::ChatSuspended => self.app.chat = ChatRunState::Stopped,
            LifecycleEvent::AppBecameActive => {
                self.app.foreground = true;
                if self.app.chat_running() {
                    self.refresh_call_invitations();
                }
            }
            LifecycleEvent::AppEnteredBackground => self.app.foreground = false,
            LifecycleEvent::AppKilled => {
                // Nothing is sent: a killed caller leaves the callee ringing (#2555).
                // Permissions and the connected headset belong to the device, not the process.
                let fresh = super::App::new(&self.config);
                let old = std::mem::replace(&mut self.app, fresh);
                self.app.permissions = old.permissions;
                self.app.bluetooth_available = old.bluetooth_available;
                self.app.chat = ChatRunState::Stopped;
                self.app.foreground = false;
                self.timers.clear();
                self.outputs.clear();
                self.core.restart();
            }
            LifecycleEvent::AppLaunched => {
                self.app.foreground = true;
                if self.app.chat == ChatRunState::Stopped {
                    self.app.chat = ChatRunState::Starting;
                    self.emit(Output::Lifecycle(LifecycleCommand::StartChat));
                }
            }
        }
    }

    // ---- timers ----

    pub(crate) fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::AnswerPoll => self.poll_answer_wait(),
            Timer::InCallSound => {
                let calling = self
                    .app
                    .active_call
                    .as_ref()
                    .is_some_and(|c| c.state == AppCallState::InvitationSent);
                if calling {
                    self.emit(Output::Sound(SoundCommand::StartInCallLoop));
                }
            }
            Timer::DelayedAnswer => {
                if let Some(call) = self.app.delayed_call.take() {
                    self.start_incoming_call(call);
                }
            }
            Timer::SuspendChat => {
                if self.app.active_call.is_none() && self.app.should_suspend_chat {
                    self.app.should_suspend_chat = false;
                    self.app.chat = ChatRunState::Stopped;
                    self.emit(Output::Lifecycle(LifecycleCommand::SuspendChat));
                }
            }
            Timer::EndExpiredCall(uuid) => {
                if self.app.callkit_calls.remove(&uuid) {
                    self.emit(Output::CallKit(CallKitCommand::ReportCallEnded {
                        uuid,
                        reason: EndReason::RemoteEnded,
                    }));
                }
            }
        }
    }
}
