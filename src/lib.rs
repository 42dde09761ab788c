//! callsim: the command line of the call simulator, and the BDD runner.
//!
//! The binary's commands live in [`cli`]; the scenario language and its runner in [`bdd`], so
//! `callsim bdd` and `cargo test` run scenarios the same way. The engine is `callsim-engine`.

pub mod bdd;
pub mod cli;
pub mod wall;
