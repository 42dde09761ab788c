//! The wall clock, for what is measured for a person: benchmarks and the runner's wall times.
//! Nothing simulated reads it (clippy's `disallowed-methods` keeps it so); this is the one door.

use std::time::Instant;

/// Now, on the wall clock.
#[allow(clippy::disallowed_methods)] // The one sanctioned reading of the wall clock.
pub fn now() -> Instant {
    Instant::now()
}
