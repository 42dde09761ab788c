//! callsim-mocks: recording fakes of the phone's platform edges, with the platform's rules.
//!
//! Each fake is a plain state machine: it takes the commands a phone emits, returns what the
//! platform reports back (for the world to feed to the phone as inputs), and keeps a log that
//! tests and scenario steps read. They hold no clock: every call takes the simulated `now`.
//!
//! This crate is the middle of the dependency chain `callsim -> callsim-sim -> callsim-mocks ->
//! callsim-engine`.
#![forbid(unsafe_code)]

pub mod audio;
pub mod callkit;
pub mod sound;

pub use audio::FakeAudioSession;
pub use callkit::FakeCallKit;
pub use sound::FakeSoundPlayer;
