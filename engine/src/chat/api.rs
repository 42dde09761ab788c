//! The chat core's call commands, as `Library/Commands.hs` runs them: `APISendCallInvitation`,
//! `APIRejectCall`, `APISendCallOffer`, `APISendCallAnswer`, `APISendCallExtraInfo`,
//! `APIEndCall`, `APICallStatus` and `APIGetCallInvitations`.

use super::*;

impl ChatCore {
    /// `APISendCallInvitation`: starts a call, replacing any call with this contact.
    pub fn api_send_call_invitation(
        &mut self,
        now: Timestamp,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        call_type: CallType,
    ) -> Result<(), Error> {
        let contact = self
            .contacts
            .get(&contact_id)
            .ok_or(Error::UnknownContact(contact_id))?;
        if !contact.calls_allowed {
            return Err(Error::CallsNotAllowed);
        }
        let call_id = CallId::random(rng);
        let call_uuid = CallUuid::random(rng);
        let dh_key = call_type.encrypted().then(|| KeyPair::generate(rng));
        let invitation = CallInvitation {
            call_type,
            call_dh_pub_key: dh_key.as_ref().map(KeyPair::public_key),
            call_v_range: self.config.call_versions,
        };
        // The order of `APISendCallInvitation` (`Commands.hs`): the message goes first, then
        // the item is saved, the call enters the map, the replaced call's item is updated, and
        // only then is the new item announced.
        self.send(
            rng,
            contact_id,
            CallEvent::Invitation {
                call_id: call_id.clone(),
                invitation,
            },
        );
        let item = self.save_item(
            contact_id,
            call_item(MsgDirection::Snd, CICallStatus::Pending),
            now,
        );
        let sent_id = self.last_sent_msg_id.take();
        if let Some(saved) = self.db.items.get_mut(&item) {
            saved.shared_msg_id = sent_id;
        }
        let call = Call {
            contact_id,
            call_id,
            call_uuid,
            chat_item_id: item,
            state: CallState::InvitationSent(InvitationSent {
                local_call_type: call_type,
                local_dh_key: dh_key,
            }),
            call_ts: now,
        };
        // No `deleteCalls` here: a stored invitation from this contact stays in the table, and
        // `restoreCalls` brings it back after a restart in place of this call.
        if let Some(old) = self.current_calls.insert(contact_id, call) {
            self.update_item_status(now, old.chat_item_id, WebRTCCallStatus::Disconnected);
        }
        self.announce_item(item);
        Ok(())
    }

    /// `APIRejectCall`: rejects a received invitation. Nothing is sent: the caller is never told.
    pub fn api_reject_call(&mut self, now: Timestamp, contact_id: ContactId) -> Result<(), Error> {
        let call = self.call_in(contact_id, &[CallStateTag::InvitationReceived])?;
        let item = call.chat_item_id;
        self.remove_call(contact_id);
        self.set_item(now, item, CICallStatus::Rejected, 0, true);
        Ok(())
    }

    /// `APISendCallOffer`: the callee accepts with its WebRTC offer.
    pub fn api_send_call_offer(
        &mut self,
        now: Timestamp,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        offer: WebRTCCallOffer,
    ) -> Result<(), Error> {
        let call = self.call_in(contact_id, &[CallStateTag::InvitationReceived])?;
        let CallState::InvitationReceived(received) = &call.state else {
            return Err(Error::CallState(call.state.tag()));
        };
        let (call_id, item) = (call.call_id.clone(), call.chat_item_id);
        let state = OfferSent {
            local_call_type: offer.call_type,
            peer_call_type: received.peer_call_type,
            local_call_session: offer.rtc_session.clone(),
            shared_key: received.shared_key,
        };
        let message = CallOffer {
            call_type: offer.call_type,
            rtc_session: offer.rtc_session,
            // Our key goes out only if the app still wants encryption at answer time.
            call_dh_pub_key: received
                .local_dh_pub_key
                .filter(|_| offer.call_type.encrypted()),
            call_version: received.call_version,
        };
        self.send(
            rng,
            contact_id,
            CallEvent::Offer {
                call_id,
                offer: message,
            },
        );
        self.set_item(now, item, CICallStatus::Accepted, 0, true);
        self.set_state(contact_id, CallState::OfferSent(state));
        Ok(())
    }

    /// `APISendCallAnswer`: the caller answers the callee's offer.
    pub fn api_send_call_answer(
        &mut self,
        now: Timestamp,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        rtc_session: WebRTCSession,
    ) -> Result<(), Error> {
        let call = self.call_in(contact_id, &[CallStateTag::OfferReceived])?;
        let CallState::OfferReceived(received) = &call.state else {
            return Err(Error::CallState(call.state.tag()));
        };
        let (call_id, item) = (call.call_id.clone(), call.chat_item_id);
        let state = Negotiated {
            local_call_type: received.local_call_type,
            peer_call_type: received.peer_call_type,
            local_call_session: rtc_session.clone(),
            peer_call_session: received.peer_call_session.clone(),
            shared_key: received.shared_key,
        };
        let answer = CallAnswer { rtc_session };
        self.send(rng, contact_id, CallEvent::Answer { call_id, answer });
        self.set_item(now, item, CICallStatus::Negotiated, 0, false);
        self.set_state(contact_id, CallState::Negotiated(state));
        Ok(())
    }

    /// `APISendCallExtraInfo`: sends more ICE candidates (in offer-sent or negotiated only).
    pub fn api_send_call_extra_info(
        &mut self,
        rng: &mut impl RngCore,
        contact_id: ContactId,
        extra: WebRTCExtraInfo,
    ) -> Result<(), Error> {
        let call = self.call_in(
            contact_id,
            &[CallStateTag::OfferSent, CallStateTag::Negotiated],
        )?;
        let call_id = call.call_id.clone();
        let extra = CallExtraInfo {
            rtc_extra_info: extra,
        };
        self.send(rng, contact_id, CallEvent::Extra { call_id, extra });
        Ok(())
    }

    /// `APIEndCall`: ends the call in any state, telling the peer.
    pub fn api_end_call(
        &mut self,
        now: Timestamp,
        rng: &mut impl RngCore,
        contact_id: ContactId,
    ) -> Result<(), Error> {
        let call = self
            .current_calls
            .get(&contact_id)
            .ok_or(Error::NoCurrentCall)?;
        let (call_id, item) = (call.call_id.clone(), call.chat_item_id);
        self.send(rng, contact_id, CallEvent::End { call_id });
        self.update_item_status(now, item, WebRTCCallStatus::Disconnected);
        self.remove_call(contact_id);
        Ok(())
    }

    /// `APICallStatus`: the app reports its WebRTC status; only the chat item changes.
    pub fn api_call_status(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        status: WebRTCCallStatus,
    ) -> Result<(), Error> {
        let call = self
            .current_calls
            .get(&contact_id)
            .ok_or(Error::NoCurrentCall)?;
        let item = call.chat_item_id;
        self.update_item_status(now, item, status);
        Ok(())
    }

    /// `APIGetCallInvitations`: every pending received invitation.
    pub fn api_get_call_invitations(&self) -> Vec<RcvCallInvitation> {
        self.current_calls
            .values()
            .filter_map(|call| match &call.state {
                CallState::InvitationReceived(s) => Some(self.rcv_invitation(call, s)),
                _ => None,
            })
            .collect()
    }

    // ---- received messages ----
}
