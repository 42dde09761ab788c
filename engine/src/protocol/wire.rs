//! `params` as SimpleX's core writes it: every object's keys in sorted order, at every depth.
//!
//! The core builds `params` as an aeson `Object` (`JM.fromList` in `chatToAppMessage`,
//! `Protocol.hs`) of `toJSON` values, and the aeson SimpleX pins (its fork of 2.2.1.0, flag
//! `ordered-keymap` on) keeps objects in a `Data.Map`, so they are written with their keys in
//! ascending order. The envelope itself is a derived record encoding (`v`, `msgId`, `event`,
//! `params`, in that order; see [`super::ChatMessage`]). The call types' own derived `Serialize`
//! keep declaration order, which is what a standalone `J.encode` of a record gives (spec §6.1):
//! only the wire form goes through these wrappers.
//!
//! Each wrapper below lists its fields in sorted order by hand; a test checks every message
//! callsim writes against a sort.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::message::{CallAnswer, CallEvent, CallExtraInfo, CallInvitation, CallOffer};
use super::types::{CallType, WebRTCExtraInfo, WebRTCSession};

/// An event's params, keys sorted (so `answer` comes before `callId`).
pub(super) struct Params<'a>(pub(super) &'a CallEvent);

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            CallEvent::Invitation {
                call_id,
                invitation,
            } => {
                let mut st = s.serialize_struct("Params", 2)?;
                st.serialize_field("callId", call_id)?;
                st.serialize_field("invitation", &Invitation(invitation))?;
                st.end()
            }
            CallEvent::Offer { call_id, offer } => {
                let mut st = s.serialize_struct("Params", 2)?;
                st.serialize_field("callId", call_id)?;
                st.serialize_field("offer", &Offer(offer))?;
                st.end()
            }
            CallEvent::Answer { call_id, answer } => {
                let mut st = s.serialize_struct("Params", 2)?;
                st.serialize_field("answer", &Answer(answer))?;
                st.serialize_field("callId", call_id)?;
                st.end()
            }
            CallEvent::Extra { call_id, extra } => {
                let mut st = s.serialize_struct("Params", 2)?;
                st.serialize_field("callId", call_id)?;
                st.serialize_field("extra", &Extra(extra))?;
                st.end()
            }
            CallEvent::End { call_id } => {
                let mut st = s.serialize_struct("Params", 1)?;
                st.serialize_field("callId", call_id)?;
                st.end()
            }
        }
    }
}

struct Invitation<'a>(&'a CallInvitation);

impl Serialize for Invitation<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let inv = self.0;
        let mut st = s.serialize_struct("CallInvitation", 3)?;
        if let Some(key) = &inv.call_dh_pub_key {
            st.serialize_field("callDhPubKey", key)?;
        }
        st.serialize_field("callType", &Type(&inv.call_type))?;
        if let Some(range) = &inv.call_v_range {
            st.serialize_field("callVRange", range)?;
        }
        st.end()
    }
}

struct Offer<'a>(&'a CallOffer);

impl Serialize for Offer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let offer = self.0;
        let mut st = s.serialize_struct("CallOffer", 4)?;
        if let Some(key) = &offer.call_dh_pub_key {
            st.serialize_field("callDhPubKey", key)?;
        }
        st.serialize_field("callType", &Type(&offer.call_type))?;
        if let Some(version) = &offer.call_version {
            st.serialize_field("callVersion", version)?;
        }
        st.serialize_field("rtcSession", &Session(&offer.rtc_session))?;
        st.end()
    }
}

struct Answer<'a>(&'a CallAnswer);

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CallAnswer", 1)?;
        st.serialize_field("rtcSession", &Session(&self.0.rtc_session))?;
        st.end()
    }
}

struct Extra<'a>(&'a CallExtraInfo);

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CallExtraInfo", 1)?;
        st.serialize_field("rtcExtraInfo", &ExtraInfo(&self.0.rtc_extra_info))?;
        st.end()
    }
}

struct ExtraInfo<'a>(&'a WebRTCExtraInfo);

impl Serialize for ExtraInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("WebRTCExtraInfo", 1)?;
        st.serialize_field("rtcIceCandidates", &self.0.rtc_ice_candidates)?;
        st.end()
    }
}

struct Session<'a>(&'a WebRTCSession);

impl Serialize for Session<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("WebRTCSession", 2)?;
        st.serialize_field("rtcIceCandidates", &self.0.rtc_ice_candidates)?;
        st.serialize_field("rtcSession", &self.0.rtc_session)?;
        st.end()
    }
}

struct Type<'a>(&'a CallType);

impl Serialize for Type<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CallType", 2)?;
        st.serialize_field("capabilities", &self.0.capabilities)?;
        st.serialize_field("media", &self.0.media)?;
        st.end()
    }
}
