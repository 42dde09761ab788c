//! Everything a simulation's thread draws from the operating system, drawn from its seed.
//!
//! The engine and callsim's own backends take their randomness from the seed already; the real
//! WebRTC stack (webrtc-rs) does not. [`ThreadSeed`] covers what it draws through the
//! operating system: `getrandom(3)` on this thread comes from the seed (`callsim-osrand`), and
//! the thread RNGs of the `rand` versions under the stack are reseeded from it, so ICE
//! credentials, SDP session ids, STUN transaction ids and std's hash keys repeat by seed.
//! Cryptography the stack does with `ring` (which asks the kernel itself) goes through
//! callsim's crypto provider instead (`rtc::real::crypto`).
//!
//! std draws a thread's hash keys once, when the thread makes its first `HashMap`: a
//! simulation should run on a thread of its own, seeded before anything else runs on it (the
//! BDD runner and the tests do so; a second simulation on the same thread gets keys that
//! follow the first one's).

/// While alive, this thread's randomness from the operating system comes from a seed.
#[derive(Debug)]
#[must_use = "the seed applies only while the guard lives"]
pub struct ThreadSeed {
    _os: callsim_osrand::Seeded,
}

impl ThreadSeed {
    /// Seeds this thread with `seed`, and reseeds its `rand` thread RNGs from it.
    pub fn new(seed: u64) -> Self {
        let os = callsim_osrand::seed_this_thread(seed);
        // Drawn from the stream just installed; a failure leaves the old state, which only
        // costs repeatability, never correctness.
        let _ = rand010::rng().reseed();
        let _ = rand09::rng().reseed();
        ThreadSeed { _os: os }
    }
}

/// Runs `f` on a thread of its own, seeded with `seed` before anything runs on it: the way to
/// run a simulation whose real WebRTC stack should repeat byte for byte (std draws a thread's
/// hash keys once, at its first hash map). Runs it here, seeded, if no thread can be had.
pub fn on_fresh_thread<T: Send>(seed: u64, f: impl FnOnce() -> T + Send) -> T {
    let slot = std::sync::Mutex::new(Some(f));
    let take = || {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    };
    let ran = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(format!("simulation-{seed}"))
            .spawn_scoped(scope, || {
                let _seeded = ThreadSeed::new(seed);
                take().map(|f| f())
            });
        match spawned.map(|thread| thread.join()) {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        }
    });
    match (ran, take()) {
        (Some(value), _) => value,
        // No thread to be had: here, seeded all the same.
        (None, Some(f)) => {
            let _seeded = ThreadSeed::new(seed);
            f()
        }
        (None, None) => unreachable!("`f` either ran on the thread or is still here"),
    }
}

/// Whether this binary routes the operating system's randomness through the seed (it exports
/// `callsim-osrand`'s `getrandom`: see the package's `build.rs`). Without it, real-stack runs
/// still repeat their events and order, but not the bytes of their ICE credentials and SDP.
pub fn intercepting() -> bool {
    callsim_osrand::intercepting()
}
