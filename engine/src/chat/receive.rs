//! What the chat core does with a received call message, as `Library/Subscriber.hs` does it
//! (`xCallInv`, `xCallOffer`, `xCallAnswer`, `xCallExtra`, `xCallEnd`, `msgCurrentCall`), and
//! with a delivery receipt.

use super::*;

impl ChatCore {
    /// Parses and processes a message from a contact; `broker_ts` is the relay's timestamp.
    ///
    /// A message that does not parse leaves a `message error: ...` item in the chat, as the
    /// core does for a parse error (`CIRcvMsgError (RMEParseError e)`), and comes back as the
    /// error; a well-formed message that is not a call event is not the core's business here and
    /// is only returned as an error.
    pub fn receive(
        &mut self,
        now: Timestamp,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        broker_ts: Timestamp,
        body: &str,
    ) -> Result<(), Error> {
        match ChatMessage::from_json(body.as_bytes()) {
            Ok(message) => {
                self.handle_message(now, rng, contact_id, broker_ts, message);
                Ok(())
            }
            Err(error @ Error::NotCallEvent(_)) => Err(error),
            Err(error) => {
                if self.contacts.contains_key(&contact_id) {
                    self.new_item(
                        contact_id,
                        ItemContent::MsgError(error.to_string()),
                        broker_ts,
                    );
                }
                Err(error)
            }
        }
    }

    /// A delivery receipt from a contact for a message this core sent: its item becomes
    /// delivered (`SndRcvd`) and the app hears of it (`chatItemsStatusesUpdated`).
    pub fn receive_receipt(&mut self, contact_id: ContactId, msg_id: &SharedMsgId) {
        let found = self.db.items.values_mut().rev().find(|i| {
            i.contact_id == contact_id && i.shared_msg_id.as_ref() == Some(msg_id) && !i.delivered
        });
        if let Some(item) = found {
            item.delivered = true;
            let item = item.clone();
            self.event(CoreEvent::ChatItemDelivered(item));
        }
    }

    /// Processes a call message from a contact; `broker_ts` is the relay's timestamp.
    ///
    /// Messages that do not fit the call's state are dropped with a [`CoreEvent::MessageError`],
    /// as SimpleX does; a message from an unknown contact is dropped and logged.
    pub fn handle_message(
        &mut self,
        now: Timestamp,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        broker_ts: Timestamp,
        message: ChatMessage,
    ) {
        if !self.contacts.contains_key(&contact_id) {
            debug!(
                contact_id,
                event = message.event.tag(),
                "message from unknown contact dropped"
            );
            return;
        }
        let receipt = message.event.has_delivery_receipt() && self.config.send_receipts;
        if let (true, Some(msg_id)) = (receipt, message.msg_id.clone()) {
            self.outputs
                .push_back(CoreOutput::SendReceipt { contact_id, msg_id });
        }
        match message.event {
            CallEvent::Invitation {
                call_id,
                invitation,
            } => {
                self.receive_invitation(rng, contact_id, broker_ts, call_id, invitation);
            }
            CallEvent::Offer { call_id, offer } => {
                self.receive_offer(now, contact_id, call_id, offer)
            }
            CallEvent::Answer { call_id, answer } => {
                self.receive_answer(now, contact_id, call_id, answer);
            }
            CallEvent::Extra { call_id, extra } => self.receive_extra(contact_id, call_id, extra),
            CallEvent::End { call_id } => self.receive_end(now, contact_id, call_id),
        }
    }

    pub(super) fn receive_invitation(
        &mut self,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        broker_ts: Timestamp,
        call_id: CallId,
        invitation: CallInvitation,
    ) {
        let calls_allowed = self
            .contacts
            .get(&contact_id)
            .is_some_and(|c| c.calls_allowed);
        if !calls_allowed {
            self.new_item(contact_id, ItemContent::CallsRejected, broker_ts);
            return;
        }
        let call_version = self.agree_call_version(invitation.call_v_range);
        let dh_key = invitation
            .call_type
            .encrypted()
            .then(|| KeyPair::generate(rng));
        let shared_key = match (&dh_key, &invitation.call_dh_pub_key) {
            (Some(ours), Some(theirs)) => Some(MediaKey::derive(
                MediaKeyVersion::for_call_version(call_version),
                &call_id,
                &ours.diffie_hellman(theirs),
            )),
            _ => None,
        };
        // The order of `xCallInv` (`Subscriber.hs`): the item is saved, the call stored and
        // put in the map, the replaced call's item updated, then the invitation event, then the
        // new item's.
        let item = self.save_item(
            contact_id,
            call_item(MsgDirection::Rcv, CICallStatus::Pending),
            broker_ts,
        );
        let call = Call {
            contact_id,
            call_id,
            call_uuid: CallUuid::random(rng),
            chat_item_id: item,
            state: CallState::InvitationReceived(InvitationReceived {
                peer_call_type: invitation.call_type,
                local_dh_pub_key: dh_key.as_ref().map(KeyPair::public_key),
                shared_key,
                call_version,
            }),
            call_ts: broker_ts,
        };
        let CallState::InvitationReceived(received) = &call.state else {
            return;
        };
        let event = self.rcv_invitation(&call, received);
        self.replace_call(broker_ts, call);
        self.outputs
            .push_back(CoreOutput::Event(CoreEvent::CallInvitation(event)));
        self.announce_item(item);
    }

    pub(super) fn receive_offer(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        call_id: CallId,
        offer: CallOffer,
    ) {
        let Some(call) = self.msg_current_call(
            contact_id,
            &call_id,
            "x.call.offer",
            &[CallStateTag::InvitationSent],
        ) else {
            return;
        };
        let CallState::InvitationSent(sent) = &call.state else {
            return;
        };
        let shared_key = match (&sent.local_dh_key, &offer.call_dh_pub_key) {
            (Some(ours), Some(theirs)) => Some(MediaKey::derive(
                MediaKeyVersion::for_call_version(offer.call_version),
                &call_id,
                &ours.diffie_hellman(theirs),
            )),
            _ => None,
        };
        let local_call_type = sent.local_call_type;
        let item = call.chat_item_id;
        let ask_confirmation = local_call_type.encrypted() && !offer.call_type.encrypted();
        self.event(CoreEvent::CallOffer {
            contact_id,
            call_type: offer.call_type,
            offer: offer.rtc_session.clone(),
            shared_key,
            ask_confirmation,
        });
        self.set_item(now, item, CICallStatus::Accepted, 0, false);
        self.set_state(
            contact_id,
            CallState::OfferReceived(OfferReceived {
                local_call_type,
                peer_call_type: offer.call_type,
                peer_call_session: offer.rtc_session,
                shared_key,
            }),
        );
    }

    pub(super) fn receive_answer(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        call_id: CallId,
        answer: CallAnswer,
    ) {
        let Some(call) = self.msg_current_call(
            contact_id,
            &call_id,
            "x.call.answer",
            &[CallStateTag::OfferSent],
        ) else {
            return;
        };
        let CallState::OfferSent(sent) = &call.state else {
            return;
        };
        let state = Negotiated {
            local_call_type: sent.local_call_type,
            peer_call_type: sent.peer_call_type,
            local_call_session: sent.local_call_session.clone(),
            peer_call_session: answer.rtc_session.clone(),
            shared_key: sent.shared_key,
        };
        let item = call.chat_item_id;
        self.event(CoreEvent::CallAnswer {
            contact_id,
            answer: answer.rtc_session,
        });
        self.set_item(now, item, CICallStatus::Negotiated, 0, false);
        self.set_state(contact_id, CallState::Negotiated(state));
    }

    pub(super) fn receive_extra(
        &mut self,
        contact_id: ContactId,
        call_id: CallId,
        extra: CallExtraInfo,
    ) {
        let allowed = [CallStateTag::OfferReceived, CallStateTag::Negotiated];
        if self
            .msg_current_call(contact_id, &call_id, "x.call.extra", &allowed)
            .is_some()
        {
            self.event(CoreEvent::CallExtraInfo {
                contact_id,
                extra_info: extra.rtc_extra_info,
            });
        }
    }

    pub(super) fn receive_end(&mut self, now: Timestamp, contact_id: ContactId, call_id: CallId) {
        let any = [
            CallStateTag::InvitationSent,
            CallStateTag::InvitationReceived,
            CallStateTag::OfferSent,
            CallStateTag::OfferReceived,
            CallStateTag::Negotiated,
        ];
        let Some(call) = self.msg_current_call(contact_id, &call_id, "x.call.end", &any) else {
            return;
        };
        let item = call.chat_item_id;
        self.event(CoreEvent::CallEnded { contact_id });
        self.update_item_status(now, item, WebRTCCallStatus::Disconnected);
        self.remove_call(contact_id);
    }

    // ---- helpers ----

    /// `msgCurrentCall`: the call a received message is for, or a message error.
    pub(super) fn msg_current_call(
        &mut self,
        contact_id: ContactId,
        call_id: &CallId,
        event: &str,
        states: &[CallStateTag],
    ) -> Option<&Call> {
        let error = match self.current_calls.get(&contact_id) {
            None => format!("{event}: no current call"),
            Some(call) if call.call_id != *call_id => format!("{event}: wrong contact or callId"),
            Some(call) if !states.contains(&call.state.tag()) => {
                format!(
                    "{event}: wrong call state {}",
                    call.state.tag().haskell_name()
                )
            }
            Some(_) => return self.current_calls.get(&contact_id),
        };
        debug!(contact_id, %error, "call message dropped");
        self.event(CoreEvent::MessageError {
            contact_id,
            text: error,
        });
        None
    }
}
