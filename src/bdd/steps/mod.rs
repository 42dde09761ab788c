//! The steps of `spec/steps.md`, word for word, by domain (as medea-jason splits its steps).

mod network;
mod observe;
mod people;
mod phones;

use callsim_engine::protocol::CallMediaType;

use super::language::StepDef;

/// Every step, in the order of `steps.md`: the phones, the network, people, observations.
pub(crate) fn all() -> Vec<StepDef> {
    [
        phones::defs(),
        network::defs(),
        people::defs(),
        observe::defs(),
    ]
    .concat()
}

/// `audio` or `video`.
fn media(word: &str) -> CallMediaType {
    if word == "video" {
        CallMediaType::Video
    } else {
        CallMediaType::Audio
    }
}

/// A percentage as a rate from 0 to 1, refused outside 0-100.
fn rate(percent: f64) -> Result<f64, String> {
    if (0.0..=100.0).contains(&percent) {
        Ok(percent / 100.0)
    } else {
        Err(format!("{percent}% is not a percentage"))
    }
}
