//! `CallController`'s CallKit side (`CallController.swift`): the provider delegate, the VoIP
//! push path, `fulfillOnConnect` and `suspendOnEndCall`.

use std::collections::BTreeMap;

use tracing::debug;

use super::manager::{AfterEnd, RING_WINDOW_MS};
use super::{App, Ctx, Invitation, Timer};
use crate::chat::{CoreEvent, CoreOutput};
use crate::ids::{ActionId, CallUuid, ContactId};
use crate::io::callkit::{CallKitCommand, CallKitEvent, EndReason};
use crate::io::webrtc::WebRtcCommand;
use crate::io::{Output, UiEvent};
use crate::protocol::{CallMediaSource, CallMediaType, Timestamp};

/// `waitUntilChatStarted(timeoutMs: 30_000, ...)`.
pub(crate) const ANSWER_WAIT_MS: u64 = 30_000;
/// `waitUntilChatStarted(..., stepMs: 500)`.
const ANSWER_STEP_MS: u64 = 500;
/// How long the dummy call of an expired push stays (`reportExpiredCall`).
const EXPIRED_CALL_MS: u64 = 1_000;
/// The delay of `suspendOnEndCall`.
const SUSPEND_DELAY_MS: u64 = 3_000;

/// One CXAnswerCallAction's `waitUntilChatStarted`: it checks, sleeps 500 ms, and goes on
/// while the sleeps add up to less than 30 s, so the last check is at 29.5 s and the wait
/// gives up at 30 s without checking again. Nothing cancels it (errata A1, A12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerWait {
    /// The call answered.
    pub uuid: CallUuid,
    /// The sleeps so far (`t`).
    pub slept_ms: u64,
}

/// Who asked CallKit to report an incoming call, for the report's completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// `activateCall`: on an error, the model copy of the invitation loses its UUID.
    Invitation(ContactId),
    /// The VoIP push: on an error, the invitation leaves the model.
    Push(ContactId),
    /// `reportExpiredCall`: ended 1 s after it was reported.
    Expired,
}

/// What the app knows of CallKit.
#[derive(Debug, Clone, Default)]
pub struct CallKitLink {
    /// `fulfillOnConnect`: the answer action fulfilled when WebRTC connects.
    pub(crate) fulfill_on_connect: Option<ActionId>,
    /// Answer actions waiting for the chat, by action.
    pub(crate) answer_waits: BTreeMap<ActionId, AnswerWait>,
    /// `shouldSuspendChat`: a push started the chat, or the app went to the background during
    /// a CallKit call; suspend it 3 s after the call ends.
    pub(crate) should_suspend_chat: bool,
    /// How many calls CallKit holds (`callObserver.calls.count`).
    pub(crate) calls: usize,
    /// Incoming reports waiting for their completion.
    pub(crate) reports: BTreeMap<CallUuid, Report>,
}

impl CallKitLink {
    /// The answer action waiting to be fulfilled on connect.
    pub fn fulfill_on_connect(&self) -> Option<ActionId> {
        self.fulfill_on_connect
    }

    /// Answer actions waiting for the chat.
    pub fn answer_waits(&self) -> impl Iterator<Item = (&ActionId, &AnswerWait)> {
        self.answer_waits.iter()
    }
}

impl App {
    /// `CXProviderDelegate`, the reports' completions and the call observer.
    pub(crate) fn on_callkit(&mut self, cx: &mut Ctx<'_>, event: CallKitEvent) {
        match event {
            CallKitEvent::IncomingReported { uuid, result } => {
                let report = self.callkit.reports.remove(&uuid);
                match (report, result) {
                    (Some(Report::Invitation(contact_id)), Err(error)) => {
                        debug!(%uuid, ?error, "CallKit report failed: the invitation loses its UUID");
                        if let Some(invitation) = self.model.invitations.get_mut(&contact_id) {
                            invitation.call_uuid = None;
                        }
                    }
                    (Some(Report::Push(contact_id)), Err(error)) => {
                        debug!(%uuid, ?error, "CallKit report of a push failed");
                        self.model.invitations.remove(&contact_id);
                    }
                    (Some(Report::Expired), Ok(())) => {
                        let at = cx.now.add_ms(EXPIRED_CALL_MS);
                        self.timers.arm(Timer::ExpiredCallEnd(uuid), at);
                    }
                    _ => {}
                }
            }
            CallKitEvent::TransactionFailed { uuid, error } => {
                // `requestTransaction` only logs; a failed start leaves the active call in
                // waitCapabilities with no view.
                debug!(%uuid, ?error, "CallKit transaction failed");
            }
            CallKitEvent::PerformStart { action, uuid } => {
                if self.start_outgoing_call(cx, &uuid) {
                    cx.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
                    cx.emit(Output::CallKit(
                        CallKitCommand::ReportOutgoingStartedConnecting { uuid },
                    ));
                } else {
                    cx.emit(Output::CallKit(CallKitCommand::Fail { action }));
                }
            }
            CallKitEvent::PerformAnswer { action, uuid } => {
                self.callkit
                    .answer_waits
                    .insert(action, AnswerWait { uuid, slept_ms: 0 });
                self.answer_wait_step(cx, action);
            }
            CallKitEvent::PerformEnd { action, uuid } => {
                // A pending answer fails first, whatever call this end is for.
                if let Some(answer) = self.callkit.fulfill_on_connect.take() {
                    cx.emit(Output::CallKit(CallKitCommand::Fail { action: answer }));
                }
                self.manager_end_by_uuid(cx, &uuid, AfterEnd::EndAction(action));
            }
            CallKitEvent::PerformSetMuted {
                action,
                uuid,
                muted,
            } => {
                // `enableMedia` queues the command and is fulfilled before it runs (errata A11).
                let matches = self
                    .model
                    .active
                    .as_ref()
                    .is_some_and(|c| c.call_uuid.as_ref() == Some(&uuid));
                if matches {
                    let command = WebRtcCommand::Media {
                        source: CallMediaSource::Mic,
                        enable: !muted,
                    };
                    self.queue.push(command, cx.out);
                    cx.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
                } else {
                    cx.emit(Output::CallKit(CallKitCommand::Fail { action }));
                }
            }
            CallKitEvent::TimedOutPerforming { action } => {
                // SimpleX fulfils the timed-out action, which CallKit ignores.
                cx.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
            }
            CallKitEvent::DidActivateAudioSession => self.callkit_audio_activated(cx),
            CallKitEvent::DidDeactivateAudioSession => {
                self.audio_enabled = false;
                cx.emit(Output::Audio(crate::io::audio::AudioCommand::SetActive {
                    active: false,
                }));
                self.suspend_on_end_call(cx);
            }
            CallKitEvent::CallsChanged { calls } => self.callkit.calls = calls,
        }
    }

    /// One check of an answer's `waitUntilChatStarted`, or its end.
    pub(crate) fn answer_wait_step(&mut self, cx: &mut Ctx<'_>, action: ActionId) {
        let running = self.chat_running();
        let Some(wait) = self.callkit.answer_waits.get_mut(&action) else {
            return;
        };
        if wait.slept_ms >= ANSWER_WAIT_MS {
            // The invitation stays pending in the core; the caller is not told.
            let uuid = wait.uuid.clone();
            self.callkit.answer_waits.remove(&action);
            debug!(%uuid, "the chat did not start in 30 s: the answer fails");
            cx.emit(Output::CallKit(CallKitCommand::Fail { action }));
            return;
        }
        if running {
            let uuid = wait.uuid.clone();
            self.callkit.answer_waits.remove(&action);
            self.answer_when_chat_runs(cx, action, &uuid);
        } else {
            wait.slept_ms += ANSWER_STEP_MS;
            let at = cx.now.add_ms(ANSWER_STEP_MS);
            self.timers.arm(Timer::AnswerWait(action), at);
        }
    }

    /// The rest of `perform CXAnswerCallAction` once the chat runs: refresh the model if it
    /// lacks the invitation, then answer it and keep the action until WebRTC connects.
    fn answer_when_chat_runs(&mut self, cx: &mut Ctx<'_>, action: ActionId, uuid: &CallUuid) {
        if self.model.invitation_by_uuid(uuid).is_none() {
            self.just_refresh_call_invitations(cx);
        }
        if self.answer_incoming_call_by_uuid(cx, uuid) {
            // Fulfilled when WebRTC connects, or there would be no audio on the lock screen.
            self.callkit.fulfill_on_connect = Some(action);
        } else {
            debug!(%uuid, "no invitation for the CallKit answer");
            cx.emit(Output::CallKit(CallKitCommand::Fail { action }));
        }
    }

    /// `reportNewIncomingCall` to CallKit; the completion comes back as
    /// [`CallKitEvent::IncomingReported`].
    pub(crate) fn report_incoming(
        &mut self,
        cx: &mut Ctx<'_>,
        uuid: CallUuid,
        invitation: &Invitation,
        push: bool,
    ) {
        let contact_id = invitation.contact_id();
        let report = if push {
            Report::Push(contact_id)
        } else {
            Report::Invitation(contact_id)
        };
        self.callkit.reports.insert(uuid.clone(), report);
        let inv = &invitation.invitation;
        cx.emit(Output::CallKit(CallKitCommand::ReportNewIncomingCall {
            uuid,
            caller: inv.contact.local_display_name.clone(),
            video: inv.call_type.media == CallMediaType::Video,
        }));
    }

    /// `reportCallRemoteEnded(invitation:)`: CallKit is told if the model's copy still has its
    /// UUID; without CallKit (or without the UUID) only the banner of that caller goes.
    pub(crate) fn report_remote_ended_invitation(
        &mut self,
        cx: &mut Ctx<'_>,
        invitation: &Invitation,
    ) {
        match invitation.call_uuid.clone() {
            Some(uuid) if cx.config.use_callkit() => {
                cx.emit(Output::CallKit(CallKitCommand::ReportCallEnded {
                    uuid,
                    reason: EndReason::RemoteEnded,
                }));
            }
            _ => {
                if self.incoming.contact() == Some(invitation.contact_id()) {
                    self.hide_incoming(cx);
                }
            }
        }
    }

    /// `reportCallRemoteEnded(call:)`: CallKit is told, if it is used.
    pub(crate) fn report_remote_ended_call(&mut self, cx: &mut Ctx<'_>, uuid: Option<CallUuid>) {
        if let Some(uuid) = uuid.filter(|_| cx.config.use_callkit()) {
            cx.emit(Output::CallKit(CallKitCommand::ReportCallEnded {
                uuid,
                reason: EndReason::RemoteEnded,
            }));
        }
    }

    /// `suspendOnEndCall`: if a push started the chat (or the app went to the background in a
    /// CallKit call), suspend it 3 s later unless a call is active then.
    pub(crate) fn suspend_on_end_call(&mut self, cx: &mut Ctx<'_>) {
        if self.callkit.should_suspend_chat {
            let at = cx.now.add_ms(SUSPEND_DELAY_MS);
            self.timers.arm(Timer::SuspendOnEndCall, at);
        }
    }

    pub(crate) fn suspend_on_end_call_fired(&mut self, cx: &mut Ctx<'_>) {
        if self.model.active.is_none() && self.callkit.should_suspend_chat {
            self.callkit.should_suspend_chat = false;
            self.suspend_chat(cx);
        }
    }

    // ---- the VoIP push path ----

    /// A push while the chat does not run: the notification service extension fetches the
    /// message with its own core; with CallKit the app gets a VoIP push, reports the call and
    /// starts the chat (`pushRegistry(didReceiveIncomingPushWith:)`); without, the extension
    /// posts a notification.
    pub(crate) fn on_push(
        &mut self,
        cx: &mut Ctx<'_>,
        contact_id: ContactId,
        broker_ts: Timestamp,
        body: &str,
    ) {
        let (now, rng) = (cx.now, &mut *cx.rng);
        if let Err(error) = cx.core.receive(now, rng, contact_id, broker_ts, body) {
            cx.stats.undecodable_messages += 1;
            debug!(contact_id, %error, "undecodable pushed message");
        }
        // The extension's core: its events stay in the extension (observers still see them);
        // its receipts go out.
        let mut invitation = None;
        while let Some(output) = cx.core.poll_output() {
            match output {
                CoreOutput::Event(CoreEvent::CallInvitation(inv)) => invitation = Some(inv),
                CoreOutput::Event(event) => cx.emit(Output::Chat(event)),
                CoreOutput::SendReceipt { contact_id, msg_id } => {
                    cx.emit(crate::agent::receipt_output(contact_id, &msg_id));
                }
                CoreOutput::Send { .. } => {}
            }
        }
        let Some(inv) = invitation else {
            return;
        };
        if !cx.config.use_callkit() {
            cx.emit(Output::Ui(UiEvent::CallNotification {
                contact_id,
                media: inv.call_type.media,
            }));
            return;
        }
        // Every VoIP push is reported to CallKit: the call within 180 s, else a dummy call.
        let video = inv.call_type.media == CallMediaType::Video;
        if cx.now.ms_since(inv.call_ts) <= RING_WINDOW_MS {
            let uuid = inv.call_uuid.clone();
            self.report_incoming(cx, uuid, &Invitation::new(inv), true);
        } else {
            self.report_expired_call(cx, &inv.contact.local_display_name, video);
        }
        self.start_chat_for_call(cx);
        self.callkit.should_suspend_chat = true;
    }

    /// `reportExpiredCall`: a dummy CallKit call under a fresh UUID, ended 1 s later.
    fn report_expired_call(&mut self, cx: &mut Ctx<'_>, caller: &str, video: bool) {
        let uuid = CallUuid::random(cx.rng);
        self.callkit.reports.insert(uuid.clone(), Report::Expired);
        cx.emit(Output::CallKit(CallKitCommand::ReportNewIncomingCall {
            uuid,
            caller: caller.to_owned(),
            video,
        }));
    }

    pub(crate) fn end_expired_call(&mut self, cx: &mut Ctx<'_>, uuid: CallUuid) {
        cx.emit(Output::CallKit(CallKitCommand::ReportCallEnded {
            uuid,
            reason: EndReason::RemoteEnded,
        }));
    }
}
