//! callsim-mocks: mockall mocks and recording fakes of the engine's backend traits.
//!
//! This crate is the middle of the dependency chain `callsim -> callsim-sim -> callsim-mocks ->
//! callsim-engine`. It holds no code yet: the backend traits (`CallKit`, `AudioSession`,
//! `SmpClient`, `WebRtc`, ...) it mocks arrive with the engine's phone.
#![forbid(unsafe_code)]
