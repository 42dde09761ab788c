//! The call events of `processReceivedMsg` (`SimpleXAPI.swift`).

use super::{App, AppCallState, Ctx, Invitation};
use crate::chat::{CoreEvent, ItemContent};
use crate::ids::ContactId;
use crate::io::webrtc::WebRtcCommand;
use crate::protocol::MsgDirection;

impl App {
    /// What the app does with a core event while the chat runs.
    pub(crate) fn on_core_event(&mut self, cx: &mut Ctx<'_>, event: &CoreEvent) {
        match event {
            CoreEvent::CallInvitation(inv) => {
                let invitation = Invitation::new(inv.clone());
                self.model
                    .invitations
                    .insert(invitation.contact_id(), invitation.clone());
                self.activate_call(cx, &invitation);
            }
            CoreEvent::CallOffer {
                contact_id,
                call_type,
                offer,
                shared_key,
                ..
            } => {
                if !self.with_call(*contact_id) {
                    return;
                }
                self.set_call_state(cx, AppCallState::OfferReceived);
                if let Some(call) = self.model.active.as_mut() {
                    call.shared_key = *shared_key;
                }
                // The media is the offer's: the callee's call type (errata A16).
                let relay = cx.config.relay_policy;
                let command = WebRtcCommand::Offer {
                    offer: offer.rtc_session.clone(),
                    ice_candidates: offer.rtc_ice_candidates.clone(),
                    media: call_type.media,
                    aes_key: *shared_key,
                    relay,
                };
                self.queue.push(command, cx.out);
            }
            CoreEvent::CallAnswer { contact_id, answer } => {
                if !self.with_call(*contact_id) {
                    return;
                }
                self.set_call_state(cx, AppCallState::AnswerReceived);
                let command = WebRtcCommand::Answer {
                    answer: answer.rtc_session.clone(),
                    ice_candidates: answer.rtc_ice_candidates.clone(),
                };
                self.queue.push(command, cx.out);
            }
            CoreEvent::CallExtraInfo {
                contact_id,
                extra_info,
            } => {
                if self.with_call(*contact_id) {
                    let command = WebRtcCommand::Ice {
                        ice_candidates: extra_info.rtc_ice_candidates.clone(),
                    };
                    self.queue.push(command, cx.out);
                }
            }
            CoreEvent::CallEnded { contact_id } => {
                if let Some(invitation) = self.model.invitations.remove(contact_id) {
                    self.report_remote_ended_invitation(cx, &invitation);
                }
                if self.with_call(*contact_id) {
                    // The model is cleared when the client answers `end` with `ok`.
                    self.queue.push(WebRtcCommand::End, cx.out);
                    let uuid = self.model.active.as_ref().and_then(|c| c.call_uuid.clone());
                    self.report_remote_ended_call(cx, uuid);
                }
            }
            CoreEvent::ChatItemDelivered(item) => {
                let sent_call = matches!(
                    item.content,
                    ItemContent::Call(call) if call.direction == MsgDirection::Snd
                );
                if sent_call {
                    self.invitation_delivered(cx, item.contact_id);
                }
            }
            CoreEvent::NewChatItem(_)
            | CoreEvent::ChatItemUpdated(_)
            | CoreEvent::MessageError { .. } => {}
        }
    }

    /// `withCall`: whether the active call is with this contact (else the event is logged and
    /// ignored).
    fn with_call(&self, contact_id: ContactId) -> bool {
        let with = self
            .model
            .active
            .as_ref()
            .is_some_and(|c| c.contact_id == contact_id);
        if !with {
            tracing::debug!(
                contact_id,
                "event for a contact without the active call ignored"
            );
        }
        with
    }
}
