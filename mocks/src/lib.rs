//! callsim-mocks: recording fakes of the phone's platform edges, with the platform's rules.
//!
//! - [`mock`]: a mockall mock of every backend trait (`MockCallKit`, `MockWebRtc`, ...).
//! - Recording fakes with the platform's real rules ([`FakeCallKit`], [`FakeAudioSession`],
//!   [`FakeRinger`], and in [`backends`] `FakePermissions` and `FakePlatform`): plain state
//!   machines that take the commands a phone emits, return what the platform reports back, and
//!   keep a log that tests and scenario steps read. They hold no clock: every call takes `now`.
//! - Sans-IO models shared by every world: [`relay::Relay`] (SMP's delivery rules) and
//!   [`webrtc::ScriptedRtcNetwork`] (a scripted WebRTC engine per phone).
//! - [`backends`]: all of these as the backends of a driven phone, reporting through the
//!   driver's inbox, with an in-process relay and a hub for the scripted WebRTC.
//!
//! This crate is the middle of the dependency chain `callsim -> callsim-sim -> callsim-mocks ->
//! callsim-engine`.
#![forbid(unsafe_code)]

pub mod audio;
pub mod backends;
pub mod callkit;
pub mod mock;
pub mod relay;
pub mod ringer;
pub mod webrtc;

pub use audio::FakeAudioSession;
pub use callkit::FakeCallKit;
pub use relay::Relay;
pub use ringer::FakeRinger;
