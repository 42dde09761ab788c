//! The chat-core call layer: what SimpleX's Haskell core does with calls.
//!
//! [`ChatCore`] holds the per-contact call map (at most one call per contact, any number across
//! contacts), takes the app's `api*` commands and the peer's `x.call.*` messages, and writes what
//! it does into an output queue ([`CoreOutput`]): messages to send, events for the app
//! (`callInvitation`, `callOffer`, ...), chat item changes and message errors. Drain it with
//! [`ChatCore::poll_output`] after every call.
//!
//! The layer has no timers and no expiry, as in SimpleX: an invitation stays pending until
//! something ends it. Only calls in the "invitation received" state are persisted, so
//! [`ChatCore::restart`] keeps those and loses every outgoing call or negotiation in progress.
//! Time and randomness are arguments: the core never reads a clock or the OS RNG.

mod status;

pub use crate::call_state::CallStateTag;
pub use status::call_status_item_content;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use rand_core::RngCore;
use serde::Serialize;
use tracing::debug;

use crate::Error;
use crate::crypto::{KeyPair, MediaKey, MediaKeyVersion, PublicKey};
use crate::ids::{CallUuid, ContactId, ItemId};
use crate::protocol::{
    CICallStatus, CallAnswer, CallEvent, CallExtraInfo, CallId, CallInvitation, CallItem,
    CallOffer, CallType, ChatMessage, ContactRef, MsgDirection, RcvCallInvitation, SharedMsgId,
    Timestamp, UserRef, VersionRange, WebRTCCallOffer, WebRTCCallStatus, WebRTCExtraInfo,
    WebRTCSession,
};

/// The chat protocol versions the core announces in every message's `v`
/// (`supportedChatVRange`, `Protocol.hs`, SimpleX master 6bb1da9e: 1 to 19).
pub const CHAT_VERSION_RANGE: VersionRange = VersionRange { min: 1, max: 19 };

/// The state of a call in the core (`CallState`), one struct per state.
#[derive(Debug, Clone)]
pub enum CallState {
    /// The caller sent `x.call.inv` and waits for the offer.
    InvitationSent(InvitationSent),
    /// The callee received `x.call.inv`; the only state that survives a restart.
    InvitationReceived(InvitationReceived),
    /// The callee accepted and sent its WebRTC offer; it waits for the answer.
    OfferSent(OfferSent),
    /// The caller received the offer; its app is to answer it.
    OfferReceived(OfferReceived),
    /// Offer and answer exchanged, on both sides.
    Negotiated(Negotiated),
}

/// The caller after inviting.
#[derive(Debug, Clone)]
pub struct InvitationSent {
    /// The caller's call type.
    pub local_call_type: CallType,
    /// The caller's key pair, when the call is to be encrypted.
    pub local_dh_key: Option<KeyPair>,
}

/// The callee after an invitation arrived.
#[derive(Debug, Clone)]
pub struct InvitationReceived {
    /// The caller's call type.
    pub peer_call_type: CallType,
    /// The callee's public key, to send with the offer.
    pub local_dh_pub_key: Option<PublicKey>,
    /// The media key, computed as soon as the invitation arrived.
    pub shared_key: Option<MediaKey>,
    /// The agreed call version, when both sides announced version ranges.
    pub call_version: Option<u16>,
}

/// The callee after sending its offer.
#[derive(Debug, Clone)]
pub struct OfferSent {
    /// The callee's call type at answer time.
    pub local_call_type: CallType,
    /// The caller's call type.
    pub peer_call_type: CallType,
    /// The offer sent.
    pub local_call_session: WebRTCSession,
    /// The media key.
    pub shared_key: Option<MediaKey>,
}

/// The caller after the offer arrived.
#[derive(Debug, Clone)]
pub struct OfferReceived {
    /// The caller's call type.
    pub local_call_type: CallType,
    /// The callee's call type.
    pub peer_call_type: CallType,
    /// The offer received.
    pub peer_call_session: WebRTCSession,
    /// The media key.
    pub shared_key: Option<MediaKey>,
}

/// Either side after the answer.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// This side's call type.
    pub local_call_type: CallType,
    /// The peer's call type.
    pub peer_call_type: CallType,
    /// The session this side sent.
    pub local_call_session: WebRTCSession,
    /// The session the peer sent.
    pub peer_call_session: WebRTCSession,
    /// The media key.
    pub shared_key: Option<MediaKey>,
}

impl CallState {
    /// The state's tag, as errors name it.
    pub fn tag(&self) -> CallStateTag {
        match self {
            CallState::InvitationSent(_) => CallStateTag::InvitationSent,
            CallState::InvitationReceived(_) => CallStateTag::InvitationReceived,
            CallState::OfferSent(_) => CallStateTag::OfferSent,
            CallState::OfferReceived(_) => CallStateTag::OfferReceived,
            CallState::Negotiated(_) => CallStateTag::Negotiated,
        }
    }

    /// The media key this side holds, if any.
    pub fn shared_key(&self) -> Option<MediaKey> {
        match self {
            CallState::InvitationSent(_) => None,
            CallState::InvitationReceived(s) => s.shared_key,
            CallState::OfferSent(s) => s.shared_key,
            CallState::OfferReceived(s) => s.shared_key,
            CallState::Negotiated(s) => s.shared_key,
        }
    }
}

/// One live call (`Call` in `Call.hs`).
#[derive(Debug, Clone)]
pub struct Call {
    /// The contact the call is with.
    pub contact_id: ContactId,
    /// The call's id, shared by both sides.
    pub call_id: CallId,
    /// A UUID v4 made by this side's core; NSE, app and CallKit use it.
    pub call_uuid: CallUuid,
    /// The call's chat item.
    pub chat_item_id: ItemId,
    /// Where the call is.
    pub state: CallState,
    /// When the call started (for a received call: the relay's timestamp of the invitation).
    pub call_ts: Timestamp,
}

/// What a chat item holds; calls leave call items, a forbidden call leaves a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemContent {
    /// `CISndCall` / `CIRcvCall`.
    Call(CallItem),
    /// `CIRcvChatFeatureRejected CFCalls`: an invitation arrived while calls are not allowed.
    CallsRejected,
    /// `CIRcvMsgError (RMEParseError e)`: a received message that did not parse, e.g. a call
    /// message with a malformed call id (`processDirectMessage`, `Subscriber.hs`).
    MsgError(String),
}

impl fmt::Display for ItemContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemContent::Call(item) => item.fmt(f),
            ItemContent::CallsRejected => f.write_str("audio/video calls: received, prohibited"),
            ItemContent::MsgError(error) => write!(f, "message error: {error}"),
        }
    }
}

/// A chat item in the chat with a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatItem {
    /// The item's id, increasing in creation order.
    pub id: ItemId,
    /// The contact whose chat holds it.
    pub contact_id: ContactId,
    /// What it shows.
    pub content: ItemContent,
    /// When it was created (for received items, the relay's timestamp).
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Whether the user has seen it.
    pub read: bool,
    /// A sent item's message id, for its delivery receipt.
    #[serde(skip)]
    pub shared_msg_id: Option<SharedMsgId>,
    /// A sent item's delivery: true once the peer's receipt came (`SndRcvd`).
    pub delivered: bool,
}

/// What the core tells the app (`ChatEvent`s, without the `CEvt` prefix).
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CoreEvent {
    /// `callInvitation`: a call arrived.
    CallInvitation(RcvCallInvitation),
    /// `callOffer`: the callee accepted (to the caller).
    CallOffer {
        /// The callee.
        contact_id: ContactId,
        /// The callee's call type.
        call_type: CallType,
        /// The callee's WebRTC offer.
        offer: WebRTCSession,
        /// The media key.
        shared_key: Option<MediaKey>,
        /// True when this side asked for encryption and the peer did not.
        ask_confirmation: bool,
    },
    /// `callAnswer`: the caller answered (to the callee).
    CallAnswer {
        /// The caller.
        contact_id: ContactId,
        /// The caller's WebRTC answer.
        answer: WebRTCSession,
    },
    /// `callExtraInfo`: more ICE candidates.
    CallExtraInfo {
        /// The peer.
        contact_id: ContactId,
        /// The candidates.
        extra_info: WebRTCExtraInfo,
    },
    /// `callEnded`: the peer ended the call.
    CallEnded {
        /// The peer.
        contact_id: ContactId,
    },
    /// `newChatItems`: an item was created.
    NewChatItem(ChatItem),
    /// `chatItemUpdated`: an item changed.
    ChatItemUpdated(ChatItem),
    /// `chatItemsStatusesUpdated`: a sent item's delivery receipt came (`SndRcvd`).
    ChatItemDelivered(ChatItem),
    /// A received message was dropped (`messageError`), e.g. `x.call.offer: no current call`.
    MessageError {
        /// The sender.
        contact_id: ContactId,
        /// What was wrong.
        text: String,
    },
}

/// One thing the core did, in order.
#[derive(Debug, Clone)]
pub enum CoreOutput {
    /// Send a chat message to a contact; `notify` sets SMP's notification flag.
    Send {
        /// The recipient.
        contact_id: ContactId,
        /// The message.
        message: ChatMessage,
        /// Whether the relay should push a sleeping recipient.
        notify: bool,
    },
    /// Tell the app.
    Event(CoreEvent),
    /// Have the agent send a delivery receipt for a received message (`x.call.inv` asks for
    /// one: `hasDeliveryReceipt`, `Protocol.hs`).
    SendReceipt {
        /// The sender of the message.
        contact_id: ContactId,
        /// The message's id.
        msg_id: SharedMsgId,
    },
}

/// A contact as the call layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The contact's display name.
    pub name: String,
    /// Whether the contact's preferences allow calls (`featureAllowed SCFCalls`).
    pub calls_allowed: bool,
}

/// Settings of one chat core.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// The user.
    pub user: UserRef,
    /// The chat protocol version range sent in every message's `v`.
    pub chat_version: VersionRange,
    /// The call versions this core supports; `None` sends no `callVRange` (media key v1).
    pub call_versions: Option<VersionRange>,
    /// Whether delivery receipts go to contacts (`sendRcptsContacts`).
    pub send_receipts: bool,
}

/// What outlives the process: the `calls` table and the chat items.
#[derive(Debug, Clone, Default)]
struct Database {
    /// Only calls in the invitation-received state are stored.
    calls: BTreeMap<ContactId, Call>,
    items: BTreeMap<ItemId, ChatItem>,
    next_item_id: ItemId,
}

/// The chat-core call layer of one phone.
#[derive(Debug, Clone)]
pub struct ChatCore {
    config: ChatConfig,
    /// The id of the message just sent, for the item that records it.
    last_sent_msg_id: Option<SharedMsgId>,
    contacts: BTreeMap<ContactId, Contact>,
    current_calls: BTreeMap<ContactId, Call>,
    db: Database,
    outputs: VecDeque<CoreOutput>,
    /// Items of calls `restoreCalls` dropped: SimpleX leaves them in whatever status they had.
    dropped_call_items: BTreeSet<ItemId>,
}

impl ChatCore {
    /// A core with no contacts and no calls.
    pub fn new(config: ChatConfig) -> Self {
        ChatCore {
            config,
            last_sent_msg_id: None,
            contacts: BTreeMap::new(),
            current_calls: BTreeMap::new(),
            dropped_call_items: BTreeSet::new(),
            db: Database::default(),
            outputs: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The settings.
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// The live call with a contact.
    pub fn call(&self, contact_id: ContactId) -> Option<&Call> {
        self.current_calls.get(&contact_id)
    }

    /// Every live call, by contact.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.current_calls.values()
    }

    /// A chat item by id.
    pub fn item(&self, id: ItemId) -> Option<&ChatItem> {
        self.db.items.get(&id)
    }

    /// The chat items with a contact, oldest first.
    pub fn items(&self, contact_id: ContactId) -> impl DoubleEndedIterator<Item = &ChatItem> {
        self.db
            .items
            .values()
            .filter(move |i| i.contact_id == contact_id)
    }

    /// The newest call item with a contact.
    pub fn last_call_item(&self, contact_id: ContactId) -> Option<CallItem> {
        self.items(contact_id).rev().find_map(|i| match i.content {
            ItemContent::Call(item) => Some(item),
            ItemContent::CallsRejected | ItemContent::MsgError(_) => None,
        })
    }

    /// A contact by id.
    pub fn contact(&self, contact_id: ContactId) -> Option<&Contact> {
        self.contacts.get(&contact_id)
    }

    // ---- mutators ----

    /// Adds or replaces a contact.
    pub fn add_contact(&mut self, contact_id: ContactId, contact: Contact) {
        self.contacts.insert(contact_id, contact);
    }

    /// `restoreCalls` (`Commands.hs`), run when the chat starts and on every activation from
    /// the background (`APIActivateChat restoreChat`): the live calls are replaced by the rows of
    /// the `calls` table, so only received invitations survive.
    pub fn restore_calls(&mut self) {
        for (contact_id, call) in &self.current_calls {
            if !self.db.calls.contains_key(contact_id) {
                self.dropped_call_items.insert(call.chat_item_id);
            }
        }
        self.current_calls = self.db.calls.clone();
    }

    /// The items of calls that `restoreCalls` dropped from memory: nothing ends them, so they
    /// keep the status they had (an observation for invariants; SimpleX keeps no such list).
    pub fn dropped_call_items(&self) -> &BTreeSet<ItemId> {
        &self.dropped_call_items
    }

    /// The app's process ended and starts again: what was not yet handed over is lost, and the
    /// calls are restored from the database.
    pub fn restart(&mut self) {
        self.outputs.clear();
        self.restore_calls();
    }

    /// The next thing the core did, oldest first.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<CoreOutput> {
        self.outputs.pop_front()
    }

    // ---- API commands ----

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

    fn receive_invitation(
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

    fn receive_offer(
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

    fn receive_answer(
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

    fn receive_extra(&mut self, contact_id: ContactId, call_id: CallId, extra: CallExtraInfo) {
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

    fn receive_end(&mut self, now: Timestamp, contact_id: ContactId, call_id: CallId) {
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
    fn msg_current_call(
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

    /// `withCurrentCall` for commands: the call, if it is in one of `states`.
    fn call_in(&self, contact_id: ContactId, states: &[CallStateTag]) -> Result<&Call, Error> {
        let call = self
            .current_calls
            .get(&contact_id)
            .ok_or(Error::NoCurrentCall)?;
        if states.contains(&call.state.tag()) {
            Ok(call)
        } else {
            Err(Error::CallState(call.state.tag()))
        }
    }

    fn agree_call_version(&self, peer: Option<VersionRange>) -> Option<u16> {
        let (ours, theirs) = (self.config.call_versions?, peer?);
        let version = ours.max.min(theirs.max);
        (version >= ours.min.max(theirs.min)).then_some(version)
    }

    fn rcv_invitation(&self, call: &Call, state: &InvitationReceived) -> RcvCallInvitation {
        RcvCallInvitation {
            user: self.config.user.clone(),
            contact: ContactRef {
                contact_id: call.contact_id,
                local_display_name: self
                    .contacts
                    .get(&call.contact_id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
            },
            call_type: state.peer_call_type,
            shared_key: state.shared_key,
            call_uuid: call.call_uuid.clone(),
            call_ts: call.call_ts,
        }
    }

    fn send(&mut self, rng: &mut impl RngCore, contact_id: ContactId, event: CallEvent) {
        let notify = event.has_notification();
        let msg_id = SharedMsgId::random(rng);
        self.last_sent_msg_id = Some(msg_id.clone());
        let message = ChatMessage {
            version: Some(self.config.chat_version),
            msg_id: Some(msg_id),
            event,
        };
        self.outputs.push_back(CoreOutput::Send {
            contact_id,
            message,
            notify,
        });
    }

    fn event(&mut self, event: CoreEvent) {
        self.outputs.push_back(CoreOutput::Event(event));
    }

    /// `lookupInsert`: a new call replaces the contact's old one, whose item is ended.
    fn replace_call(&mut self, now: Timestamp, call: Call) {
        let contact_id = call.contact_id;
        self.persist(&call);
        if let Some(old) = self.current_calls.insert(contact_id, call) {
            self.update_item_status(now, old.chat_item_id, WebRTCCallStatus::Disconnected);
        }
    }

    /// Moves a call on; no state but a received invitation is stored, so the row goes.
    fn set_state(&mut self, contact_id: ContactId, state: CallState) {
        debug_assert!(!matches!(state, CallState::InvitationReceived(_)));
        if let Some(call) = self.current_calls.get_mut(&contact_id) {
            call.state = state;
            self.db.calls.remove(&contact_id);
        }
    }

    fn remove_call(&mut self, contact_id: ContactId) {
        self.current_calls.remove(&contact_id);
        self.db.calls.remove(&contact_id);
    }

    /// Only received invitations are stored; any other state deletes the contact's row.
    fn persist(&mut self, call: &Call) {
        if matches!(call.state, CallState::InvitationReceived(_)) {
            self.db.calls.insert(call.contact_id, call.clone());
        } else {
            self.db.calls.remove(&call.contact_id);
        }
    }

    /// Saves a new item and announces it (`CEvtNewChatItems`) at once.
    fn new_item(&mut self, contact_id: ContactId, content: ItemContent, at: Timestamp) -> ItemId {
        let id = self.save_item(contact_id, content, at);
        self.announce_item(id);
        id
    }

    /// Saves a new item without announcing it yet.
    fn save_item(&mut self, contact_id: ContactId, content: ItemContent, at: Timestamp) -> ItemId {
        self.db.next_item_id += 1;
        let read = matches!(
            content,
            ItemContent::Call(CallItem {
                direction: MsgDirection::Snd,
                ..
            })
        );
        let item = ChatItem {
            id: self.db.next_item_id,
            contact_id,
            content,
            created_at: at,
            updated_at: at,
            read,
            shared_msg_id: None,
            delivered: false,
        };
        let id = item.id;
        self.db.items.insert(id, item);
        id
    }

    /// `CEvtNewChatItems` for a saved item.
    fn announce_item(&mut self, id: ItemId) {
        if let Some(item) = self.db.items.get(&id).cloned() {
            self.event(CoreEvent::NewChatItem(item));
        }
    }

    /// `updateCallItemStatus`: applies `callStatusItemContent`.
    fn update_item_status(&mut self, now: Timestamp, id: ItemId, status: WebRTCCallStatus) {
        let Some(item) = self.db.items.get(&id) else {
            return;
        };
        let ItemContent::Call(call_item) = item.content else {
            return;
        };
        let elapsed = now.0.saturating_sub(item.updated_at.0) / 1000;
        let elapsed = u32::try_from(elapsed).unwrap_or(u32::MAX);
        if let Some((new, duration)) = call_status_item_content(call_item.status, status, elapsed) {
            self.set_item(now, id, new, duration, false);
        }
    }

    fn set_item(
        &mut self,
        now: Timestamp,
        id: ItemId,
        status: CICallStatus,
        duration: u32,
        mark_read: bool,
    ) {
        let Some(item) = self.db.items.get_mut(&id) else {
            return;
        };
        if let ItemContent::Call(call_item) = &mut item.content {
            call_item.status = status;
            call_item.duration = duration;
        }
        item.updated_at = now;
        item.read |= mark_read;
        let item = item.clone();
        self.event(CoreEvent::ChatItemUpdated(item));
    }
}

fn call_item(direction: MsgDirection, status: CICallStatus) -> ItemContent {
    ItemContent::Call(CallItem::new(direction, status, 0))
}
