//! What callsim's WebRTC backends share.
//!
//! - [`sdp`]: session descriptions shaped as current SimpleX clients write them, for the
//!   backends that do not run a real stack (SimRtc) and for `callsim protocol example`.

pub mod sdp;
