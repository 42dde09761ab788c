//! callsim-sim: the simulated world in which phones and an SMP relay run under turmoil.
//!
//! It holds no code yet; see `design/architecture.md`, "The simulated world", for what comes
//! here: the relay host, the SMP client over simulated TCP, simulated and real WebRTC over
//! simulated UDP, network faults, seeds and traces.
#![forbid(unsafe_code)]
