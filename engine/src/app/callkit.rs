//! The CallKit provider delegate and the VoIP push path (spec §3.2, §3.3).

use tracing::debug;

use super::AfterPermission;
use super::calls::RING_WINDOW_MS;
use crate::backend::callkit::{ActionId, CallKitCommand, CallKitEvent};
use crate::backend::webrtc::WebRtcCommand;
use crate::chat::{ContactId, CoreEvent, CoreOutput};
use crate::phone::{LifecycleCommand, Output, Phone, Timer, UiEvent};
use crate::protocol::{CallMediaSource, Timestamp};

/// How long a CallKit answer waits for the chat (`waitUntilChatStarted(timeoutMs: 30_000)`).
pub(crate) const ANSWER_WAIT_MS: u64 = 30_000;
/// How often it checks (`stepMs: 500`).
const ANSWER_POLL_MS: u64 = 500;
/// How long the dummy call for an expired push stays (`reportExpiredCall`).
const EXPIRED_CALL_MS: u64 = 1_000;

impl Phone {
    pub(crate) fn on_callkit(&mut self, event: CallKitEvent) {
        match event {
            CallKitEvent::IncomingReported { uuid, result } => {
                if let Err(error) = result {
                    debug!(%uuid, ?error, "CallKit refused the incoming call");
                    self.app.callkit_calls.remove(&uuid);
                    self.callkit_report_failed(&uuid);
                }
            }
            CallKitEvent::TransactionFailed { uuid, error } => {
                debug!(%uuid, ?error, "CallKit transaction failed");
                let active = self
                    .app
                    .active_call
                    .as_ref()
                    .and_then(|c| c.call_uuid.clone());
                if active.as_deref() == Some(uuid.as_str()) {
                    self.app.callkit_calls.remove(&uuid);
                    self.end_active_call();
                }
            }
            CallKitEvent::PerformStart { action, uuid } => {
                self.configure_audio_for_call();
                if self.start_outgoing_call(&uuid) {
                    self.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
                    self.emit(Output::CallKit(
                        CallKitCommand::ReportOutgoingStartedConnecting { uuid },
                    ));
                } else {
                    self.emit(Output::CallKit(CallKitCommand::Fail { action }));
                }
            }
            CallKitEvent::PerformAnswer { action, uuid } => self.answer_callkit(action, uuid),
            CallKitEvent::PerformEnd { action, uuid } => self.end_callkit(action, &uuid),
            CallKitEvent::PerformSetMuted {
                action,
                uuid,
                muted,
            } => {
                let matches = self
                    .app
                    .active_call
                    .as_ref()
                    .is_some_and(|c| c.call_uuid.as_deref() == Some(uuid.as_str()));
                if matches {
                    if let Some(call) = self.app.active_call.as_mut() {
                        call.mic_muted = muted;
                    }
                    self.queue_webrtc(WebRtcCommand::Media {
                        source: CallMediaSource::Mic,
                        enable: !muted,
                    });
                    self.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
                } else {
                    self.emit(Output::CallKit(CallKitCommand::Fail { action }));
                }
            }
            CallKitEvent::TimedOutPerforming { action } => {
                self.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
            }
            CallKitEvent::DidActivateAudioSession => {
                self.app.audio_enabled = true;
                self.apply_audio_route();
            }
            CallKitEvent::DidDeactivateAudioSession => {
                self.app.audio_enabled = false;
                self.suspend_on_end_call();
            }
        }
    }

    /// A CallKit report failed: the invitation falls back to the in-app view (race 9).
    fn callkit_report_failed(&mut self, uuid: &str) {
        let found = self
            .app
            .invitations
            .values_mut()
            .find(|i| i.invitation.call_uuid == uuid);
        let Some(invitation) = found else {
            return;
        };
        invitation.use_callkit = false;
        let invitation = invitation.clone();
        self.activate_call(&invitation);
    }

    /// `perform CXAnswerCallAction`: wait for the chat, then answer; fulfilled on connect.
    pub(crate) fn answer_callkit(&mut self, action: ActionId, uuid: String) {
        self.app.pending_answer = Some(super::PendingAnswer {
            action,
            uuid,
            since: self.now,
        });
        self.poll_answer_wait();
    }

    /// One step of `waitUntilChatStarted`: checks at 0, 0.5, ..., 29.5 s; fails at 30 s.
    pub(crate) fn poll_answer_wait(&mut self) {
        let Some(pending) = self.app.pending_answer.clone() else {
            return;
        };
        if self.app.chat_running() {
            self.app.pending_answer = None;
            self.answer_when_chat_runs(pending.action, pending.uuid);
        } else if self.now.ms_since(pending.since) + ANSWER_POLL_MS > ANSWER_WAIT_MS {
            // The invitation stays pending in the core; the peer is not told (race 1).
            self.app.pending_answer = None;
            self.app.callkit_calls.remove(&pending.uuid);
            debug!(uuid = %pending.uuid, "chat did not start in 30 s; answer failed");
            self.emit(Output::CallKit(CallKitCommand::Fail {
                action: pending.action,
            }));
        } else {
            self.timers
                .arm(Timer::AnswerPoll, self.now.add_ms(ANSWER_POLL_MS));
        }
    }

    fn answer_when_chat_runs(&mut self, action: ActionId, uuid: String) {
        if self.invitation_by_uuid(&uuid).is_none() {
            self.just_refresh_call_invitations();
        }
        let Some(contact_id) = self.invitation_by_uuid(&uuid) else {
            debug!(%uuid, "no invitation for the CallKit answer");
            self.app.callkit_calls.remove(&uuid);
            self.emit(Output::CallKit(CallKitCommand::Fail { action }));
            return;
        };
        let media = self.app.invitations[&contact_id].invitation.call_type.media;
        let then = AfterPermission::AnswerCallKit {
            action,
            uuid: uuid.clone(),
        };
        if !self.permissions_granted(media, then) {
            return;
        }
        let Some(invitation) = self.app.invitations.get(&contact_id).cloned() else {
            return;
        };
        self.app.fulfill_on_connect = Some(action);
        self.answer_invitation(invitation.invitation);
        self.configure_audio_for_call();
    }

    fn invitation_by_uuid(&self, uuid: &str) -> Option<ContactId> {
        self.app
            .invitations
            .values()
            .find(|i| i.invitation.call_uuid == uuid)
            .map(|i| i.invitation.contact.contact_id)
    }

    /// `perform CXEndCallAction`: end the active call, or reject the invitation, with this UUID.
    fn end_callkit(&mut self, action: ActionId, uuid: &str) {
        if let Some(pending) = self.app.fulfill_on_connect.take() {
            self.emit(Output::CallKit(CallKitCommand::Fail { action: pending }));
        }
        if self
            .app
            .pending_answer
            .as_ref()
            .is_some_and(|p| p.uuid == uuid)
        {
            self.app.pending_answer = None;
            self.timers.cancel(&Timer::AnswerPoll);
        }
        self.app.callkit_calls.remove(uuid);
        let active = self
            .app
            .active_call
            .as_ref()
            .is_some_and(|c| c.call_uuid.as_deref() == Some(uuid));
        if active {
            self.end_active_call();
            self.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
        } else if let Some(contact_id) = self.invitation_by_uuid(uuid) {
            self.app.invitations.remove(&contact_id);
            self.reject_in_core(contact_id);
            self.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
        } else {
            self.emit(Output::CallKit(CallKitCommand::Fail { action }));
        }
        self.suspend_on_end_call();
    }

    // ---- the VoIP push path ----

    /// A push while the chat is not running: the notification service extension fetches the
    /// message with its own core; with CallKit the app gets a VoIP push and reports the call.
    pub(crate) fn on_push(&mut self, contact_id: ContactId, broker_ts: Timestamp, body: &str) {
        let (now, rng) = (self.now, &mut self.rng);
        if let Err(error) = self.core.receive(now, rng, contact_id, broker_ts, body) {
            self.stats.undecodable_messages += 1;
            debug!(contact_id, %error, "undecodable pushed message");
        }
        // The extension's core events stay in the extension; observers still see them.
        let mut invitation = None;
        while let Some(output) = self.core.poll_output() {
            match output {
                CoreOutput::Event(CoreEvent::CallInvitation(inv)) => invitation = Some(inv),
                CoreOutput::Event(event) => self.emit(Output::Chat(event)),
                CoreOutput::Send { .. } => {}
            }
        }
        let Some(inv) = invitation else {
            return;
        };
        if !self.config.use_callkit() {
            self.emit(Output::Ui(UiEvent::CallNotification {
                contact_id,
                media: inv.call_type.media,
            }));
            return;
        }
        // pushRegistry(didReceiveIncomingPushWith:): every VoIP push is reported to CallKit.
        if self.now.ms_since(inv.call_ts) <= RING_WINDOW_MS {
            if !self.app.callkit_calls.contains(&inv.call_uuid) {
                self.report_incoming_to_callkit(&inv);
            }
        } else {
            self.report_expired_call(&inv.contact.local_display_name);
        }
        if !self.app.chat_running() {
            self.app.chat = super::ChatRunState::Starting;
            self.emit(Output::Lifecycle(LifecycleCommand::StartChat));
        }
        self.app.should_suspend_chat = true;
    }

    /// `reportExpiredCall`: a dummy CallKit call under a fresh UUID, ended 1 s later.
    fn report_expired_call(&mut self, caller: &str) {
        let uuid = crate::chat::uuid_v4(&mut self.rng);
        self.app.callkit_calls.insert(uuid.clone());
        self.emit(Output::CallKit(CallKitCommand::ReportNewIncomingCall {
            uuid: uuid.clone(),
            caller: caller.to_owned(),
            video: false,
        }));
        self.timers.arm(
            Timer::EndExpiredCall(uuid),
            self.now.add_ms(EXPIRED_CALL_MS),
        );
    }
}
