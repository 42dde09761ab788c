//! callsim-engine: everything a phone is, with no I/O of its own.
//!
//! This crate reproduces the call engine of SimpleX Chat's iOS app as deterministic, sans-IO code:
//!
//! - [`protocol`]: the wire types of the chat-core call sub-protocol (`x.call.inv`, `x.call.offer`,
//!   `x.call.answer`, `x.call.extra`, `x.call.end` inside the chat envelope), encoded and decoded
//!   byte for byte as SimpleX's Haskell core writes them, plus the lz-string codec the apps use
//!   for SDP and ICE candidates, and the call chat items;
//! - [`phone`]: a [`phone::Phone`] is one device, the [`app`] layer (CallKit, ringing, China
//!   mode, audio routing, the WebRTC command queue) over the chat-core layer; the crate's run
//!   loop is described there;
//! - [`backend`]: the traits a phone's outputs are dispatched to (CallKit, the audio session,
//!   WebRTC, the relay connection, sounds, permissions, the platform) and what crosses them;
//! - `driver` (feature `driver`): runs a phone against its backends on tokio;
//! - [`chat`]: the chat-core call layer (SimpleX's Haskell core): the per-contact call map, the
//!   `api*` commands, received `x.call.*` messages, call chat items and what survives a restart;
//! - [`crypto`]: the X25519 call key exchange, the media key (v1: the raw DH secret; v2: HKDF-SHA512
//!   over it) and media frame encryption in SimpleX's frame layout.
//!
//! # The run loop
//!
//! A phone is driven by whoever runs it (a world, the tokio driver, a test): hand it an input
//! with the time, then take its outputs until it says how long it can wait. Each output is a
//! request to something outside (CallKit, WebRTC, the relay, ...), whose answers come back as
//! inputs later:
//!
//! ```
//! use callsim_engine::io::{Input, LifecycleEvent, Output, PhoneConfig};
//! use callsim_engine::phone::Phone;
//! use callsim_engine::protocol::Timestamp;
//!
//! let mut phone = Phone::new(PhoneConfig::new("Alice", 1));
//! let mut now = Timestamp(0);
//! let mut inputs = vec![Input::Lifecycle(LifecycleEvent::AppLaunched)];
//! let mut wake_at = None;
//! for _ in 0..3 {
//!     for input in inputs.drain(..) {
//!         phone.handle_input(now, input);
//!     }
//!     loop {
//!         match phone.poll_output() {
//!             // Nothing more to do before this time (or before the next input).
//!             Output::Timeout(deadline) => {
//!                 wake_at = deadline;
//!                 break;
//!             }
//!             // The platform answers the phone's requests: here, the chat starts at once.
//!             Output::Lifecycle(_) => inputs.push(Input::Lifecycle(LifecycleEvent::ChatStarted)),
//!             _ => {}
//!         }
//!     }
//!     // Time is an argument: move it to the next deadline, or a little.
//!     now = wake_at.unwrap_or(now.add_ms(10));
//!     if wake_at.is_some_and(|at| at <= now) {
//!         inputs.push(Input::Timeout);
//!     }
//! }
//! assert!(phone.app().chat_running());
//! ```
//!
//! [`pair::Pair`] runs two phones this way in memory, with a relay between them.
//!
//! # Determinism
//!
//! Nothing here reads a clock or the operating system's randomness. Every function that needs
//! random bytes (keys, call ids, frame IVs) takes an RNG argument, so a simulation seeded with the
//! same value produces the same bytes, and a test can pin them.
//!
//! # Bad input
//!
//! Everything a peer can send goes through [`protocol::ChatMessage::from_json`], which checks the
//! message size first and returns an [`Error`] for any malformed input; it never panics.
#![forbid(unsafe_code)]

pub mod agent;
pub mod app;
pub mod backend;
pub mod call_state;
pub mod chat;
pub mod crypto;
#[cfg(feature = "driver")]
pub mod driver;
pub mod error;
pub mod ids;
pub mod io;
pub mod pair;
pub mod phone;
pub mod protocol;

mod base64url;

pub use error::Error;
