//! The chat core's call states by name (`CallStateTag` in `Call.hs`), as its errors carry them.
//!
//! A leaf module: the crate's [`Error`](crate::Error) names a state without depending on the
//! core.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `CallStateTag`; its JSON and text drop the `CSTCall` prefix (`invitationSent`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallStateTag {
    /// `CSTCallInvitationSent`.
    InvitationSent,
    /// `CSTCallInvitationReceived`.
    InvitationReceived,
    /// `CSTCallOfferSent`.
    OfferSent,
    /// `CSTCallOfferReceived`.
    OfferReceived,
    /// `CSTCallNegotiated`.
    Negotiated,
}

impl CallStateTag {
    /// Haskell's `show` of the tag (`CSTCallInvitationSent`, ...), as the core writes it into
    /// the message errors of received call messages (`msgCallStateError`, `Subscriber.hs`).
    pub fn haskell_name(self) -> &'static str {
        match self {
            CallStateTag::InvitationSent => "CSTCallInvitationSent",
            CallStateTag::InvitationReceived => "CSTCallInvitationReceived",
            CallStateTag::OfferSent => "CSTCallOfferSent",
            CallStateTag::OfferReceived => "CSTCallOfferReceived",
            CallStateTag::Negotiated => "CSTCallNegotiated",
        }
    }
}

/// The JSON form, as command errors (`CECallState`) carry it: the `CSTCall` prefix dropped.
impl fmt::Display for CallStateTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallStateTag::InvitationSent => "invitationSent",
            CallStateTag::InvitationReceived => "invitationReceived",
            CallStateTag::OfferSent => "offerSent",
            CallStateTag::OfferReceived => "offerReceived",
            CallStateTag::Negotiated => "negotiated",
        })
    }
}
