//! callsim: the command line of the call simulator.
//!
//! The binary's commands live in [`cli`]; the engine is the crate `callsim-engine`.
//! The BDD world and its steps will live here too, so the binary and the test runner share them.

pub mod cli;
