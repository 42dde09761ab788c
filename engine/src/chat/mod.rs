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

mod api;
mod receive;
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
