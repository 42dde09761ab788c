//! Call chat items: the `CISndCall` / `CIRcvCall` entries a call leaves in the chat.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who sent the call: `Snd` for an outgoing call, `Rcv` for an incoming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MsgDirection {
    /// Outgoing (`CISndCall`).
    Snd,
    /// Incoming (`CIRcvCall`).
    Rcv,
}

/// The status of a call item (`CICallStatus`); JSON drops the `CISCall` prefix, lowercased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CICallStatus {
    /// "calling...": invited, not answered yet.
    Pending,
    /// "missed": ended while still pending.
    Missed,
    /// "rejected": the callee rejected (received calls only).
    Rejected,
    /// "accepted": the callee accepted.
    Accepted,
    /// "connecting...": offer and answer exchanged.
    Negotiated,
    /// "in progress (mm:ss)": connected.
    Progress,
    /// "ended (mm:ss)": ended after connecting.
    Ended,
    /// "error": the connection failed.
    Error,
}

/// A call chat item: direction, status and duration in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallItem {
    /// Outgoing or incoming.
    pub direction: MsgDirection,
    /// The item's status.
    pub status: CICallStatus,
    /// Call duration in seconds (shown for `Progress` and `Ended`).
    pub duration: u32,
}

impl CallItem {
    /// A new item.
    pub fn new(direction: MsgDirection, status: CICallStatus, duration: u32) -> Self {
        CallItem {
            direction,
            status,
            duration,
        }
    }
}

/// The item's text as the chat shows it, e.g. `outgoing call: ended (00:30)`.
impl fmt::Display for CallItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.direction {
            MsgDirection::Snd => "outgoing call: ",
            MsgDirection::Rcv => "incoming call: ",
        })?;
        // Minutes are not wrapped into hours: SimpleX's `durationText` shows 75 minutes as (75:00).
        let (mins, secs) = (self.duration / 60, self.duration % 60);
        match self.status {
            CICallStatus::Pending => f.write_str("calling..."),
            CICallStatus::Missed => f.write_str("missed"),
            CICallStatus::Rejected => f.write_str("rejected"),
            CICallStatus::Accepted => f.write_str("accepted"),
            CICallStatus::Negotiated => f.write_str("connecting..."),
            CICallStatus::Progress => write!(f, "in progress ({mins:02}:{secs:02})"),
            CICallStatus::Ended => write!(f, "ended ({mins:02}:{secs:02})"),
            CICallStatus::Error => f.write_str("error"),
        }
    }
}
