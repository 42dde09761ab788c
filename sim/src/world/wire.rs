//! The line protocol between a phone's SMP client and the relay host: one JSON object a line.

use callsim_engine::io::MessageKind;
use serde::{Deserialize, Serialize};

/// The relay's TCP port.
pub(crate) const RELAY_PORT: u16 = 5223;

/// From a client to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub(crate) enum ClientFrame {
    /// SUB: deliver my queues to this connection.
    Sub {
        /// The client's id.
        client: usize,
    },
    /// SEND: a message for `to`; the relay confirms it with `ok` and the same `seq`, and
    /// ignores a `seq` it has seen (a resend after a reconnect).
    Send {
        /// The client's sequence number for this send.
        seq: u64,
        /// The recipient.
        to: usize,
        /// The end-to-end encrypted body.
        body: String,
        /// SMP's notification flag.
        notify: bool,
        /// What it carries: a simulation oracle for faults and diagrams, not part of what the
        /// relay sees.
        event: MessageKind,
    },
    /// ACK: the message `id` from `from` was processed.
    Ack {
        /// The sender of the message.
        from: usize,
        /// The relay's id of the message.
        id: u64,
    },
    /// Keepalive.
    Ping,
}

/// From the relay to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub(crate) enum RelayFrame {
    /// The send with this `seq` is stored.
    Ok {
        /// The client's sequence number.
        seq: u64,
    },
    /// MSG: a message for the client.
    Msg {
        /// The sender.
        from: usize,
        /// The relay's id, for ACK and for dropping redeliveries.
        id: u64,
        /// The relay's timestamp, in milliseconds of simulated time.
        ts: u64,
        /// The end-to-end encrypted body.
        body: String,
    },
    /// Keepalive answer.
    Pong,
}
