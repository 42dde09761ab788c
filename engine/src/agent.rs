//! The part of SimpleX's messaging agent (simplexmq) that calls see: it drops a message the
//! relay delivers again, and it carries delivery receipts.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::ContactId;
use crate::io::{MessageKind, Output};
use crate::protocol::SharedMsgId;

/// What a relay message carries, once the agent decrypted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage<'a> {
    /// A chat message for the chat core.
    Chat(&'a str),
    /// A delivery receipt (`A_RCVD`) for a message this phone sent.
    Receipt(SharedMsgId),
}

/// The start of a receipt's body: not a chat message, which is a JSON object with an `event`.
const RECEIPT_PREFIX: &str = "{\"rcvd\":\"";

impl<'a> AgentMessage<'a> {
    /// Tells a receipt from a chat message.
    pub fn parse(body: &'a str) -> Self {
        let msg_id = body
            .strip_prefix(RECEIPT_PREFIX)
            .and_then(|rest| rest.strip_suffix("\"}"))
            .and_then(|id| id.parse().ok());
        match msg_id {
            Some(id) => AgentMessage::Receipt(id),
            None => AgentMessage::Chat(body),
        }
    }
}

/// The output that sends a delivery receipt for a received message.
pub fn receipt_output(contact_id: ContactId, msg_id: &SharedMsgId) -> Output {
    Output::Send {
        contact_id,
        body: format!("{RECEIPT_PREFIX}{msg_id}\"}}"),
        notify: false,
        kind: MessageKind::Receipt,
    }
}

/// The agent's memory of what it received.
///
/// A redelivery carries the same relay message id; the agent's ratchet refuses to decrypt it
/// again (`A_DUPLICATE`), finds it as the last message received and already acknowledged by the
/// chat, and acknowledges it to the relay without telling the chat (`processSMPTransmissions`,
/// simplexmq `Agent.hs`). A phone processes every delivered message before its ACK, so a copy
/// always meets an acknowledged message. The agent's store survives the app's process.
#[derive(Debug, Clone, Default)]
pub struct Agent {
    /// The relay message ids received from each contact, the newest [`Agent::WINDOW`] of them.
    /// A fault may reorder a queue (a held message released late), which the ratchet allows:
    /// only a message received before is a duplicate.
    received: BTreeMap<ContactId, BTreeSet<u64>>,
}

impl Agent {
    /// How many ids per contact are remembered; anything older counts as received.
    const WINDOW: usize = 256;

    /// Whether a delivered message is new (true) or a redelivery to drop (false).
    pub fn accept(&mut self, contact_id: ContactId, msg_id: u64) -> bool {
        let ids = self.received.entry(contact_id).or_default();
        let too_old = ids.len() == Self::WINDOW && ids.first().is_some_and(|first| msg_id < *first);
        if too_old || !ids.insert(msg_id) {
            return false;
        }
        if ids.len() > Self::WINDOW {
            ids.pop_first();
        }
        true
    }
}
