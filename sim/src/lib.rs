//! callsim-sim: the simulated worlds phones run in.
//!
//! - [`memory`]: an in-memory world (quinn's `Pair` is the model): phones, a relay with SMP's
//!   delivery rules, a scripted WebRTC, the platform fakes, and virtual time that jumps to the
//!   next event. No network stack, so it runs thousands of calls per second; the explorer, the
//!   sweep and the engine benchmark build on it.
//!
//! - [`world`]: the turmoil world: phones and a relay as hosts of a deterministic network
//!   simulation (TCP to the relay, UDP between phones), with network faults, seeds and traces.
#![forbid(unsafe_code)]

pub mod loopback;
pub mod loss;
pub mod memory;
pub mod rtc;
pub mod world;
