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

/// While alive, this thread's randomness from the operating system comes from a seed. Not
/// `Send`: it belongs to the thread it seeded.
#[derive(Debug)]
#[must_use = "the seed applies only while the guard lives"]
pub struct ThreadSeed {
    os: Option<callsim_osrand::Seeded>,
}

impl ThreadSeed {
    /// Seeds this thread with `seed`, and reseeds its `rand` thread RNGs from it.
    pub fn new(seed: u64) -> Self {
        let os = callsim_osrand::seed_this_thread(seed);
        reseed_thread_rngs();
        ThreadSeed { os: Some(os) }
    }
}

impl Drop for ThreadSeed {
    fn drop(&mut self) {
        // The kernel's randomness first, then the thread RNGs drawn from it again: nothing
        // after the simulation keeps drawing from its seed.
        drop(self.os.take());
        reseed_thread_rngs();
    }
}

/// Reseeds the `rand` thread RNGs from `getrandom(3)`. A failure leaves the old state, which
/// only costs repeatability, never correctness.
fn reseed_thread_rngs() {
    let _ = rand010::rng().reseed();
    let _ = rand09::rng().reseed();
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
            // The main thread's stack: webrtc-rs's futures are large in debug builds.
            .stack_size(8 << 20)
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
        // No thread to be had: here, seeded all the same (this thread's hash keys may have
        // been drawn before, so the stack's hash maps may iterate in another order).
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
