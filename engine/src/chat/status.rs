//! `callStatusItemContent`: how a reported WebRTC status changes a call chat item.

use crate::protocol::{CICallStatus, WebRTCCallStatus};

/// The new status and duration of a call item whose current status is `current`, when
/// `status` is reported; `None` means the item stays as it is.
///
/// `seconds_since_update` is the time since the item was last updated, which for an item in
/// progress is the time since the call connected (row 1 keeps that time unchanged).
/// Rows are checked top to bottom, as in SimpleX's core (spec §2.5).
pub fn call_status_item_content(
    current: CICallStatus,
    status: WebRTCCallStatus,
    seconds_since_update: u32,
) -> Option<(CICallStatus, u32)> {
    use CICallStatus as S;
    use WebRTCCallStatus as W;
    match (current, status) {
        (S::Progress, W::Connected) => None,
        (S::Progress, W::Disconnected | W::Failed) => Some((S::Ended, seconds_since_update)),
        (S::Pending, W::Disconnected) => Some((S::Missed, 0)),
        (S::Ended | S::Error, _) => None,
        (_, W::Connecting) => Some((S::Negotiated, 0)),
        (_, W::Connected) => Some((S::Progress, 0)),
        (_, W::Disconnected) => Some((S::Ended, 0)),
        (_, W::Failed) => Some((S::Error, 0)),
    }
}
