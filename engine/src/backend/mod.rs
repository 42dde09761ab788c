//! The phone's platform edges: what it tells CallKit, the audio session, WebRTC and the sound
//! player, and what they report back.
//!
//! A backend is a command sink. Whatever it completes later (a CallKit action, a WebRTC offer,
//! an audio session activation) comes back to the phone as an [`crate::phone::Input`], so a fake
//! can stay pending in simulated time for as long as a scenario needs.

pub mod audio;
pub mod callkit;
pub mod sound;
pub mod webrtc;
