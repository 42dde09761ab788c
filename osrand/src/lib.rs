//! Seeds, per thread, the randomness the operating system gives this process.
//!
//! The real WebRTC stack (webrtc-rs) and crates under it draw randomness the engine cannot pass
//! in: `rand`'s thread RNG (ICE credentials, SDP session ids, STUN transaction ids, SCTP tags),
//! seeded from the operating system through the `getrandom` crate, and the keys of std's
//! `HashMap`s (whose iteration order shows in the SDP's header extensions). On Linux both ask
//! the C library's `getrandom(3)` for bytes, found by name at run time (`dlsym`).
//!
//! This crate defines a `getrandom` symbol of its own. A binary that links it and exports the
//! symbol (`-Wl,--export-dynamic-symbol=getrandom`: see `build.rs` of the packages whose tests
//! and binaries run simulations) gets every such request here. On a thread that called
//! [`seed_this_thread`], the bytes come from a ChaCha20 stream of that seed; everywhere else,
//! and after the [`Seeded`] guard is dropped, from the kernel's `getrandom(2)` as before. So a
//! simulation gets the same bytes every run. (What a library drew while the thread was seeded
//! and keeps, such as std's hash keys of that thread, stays as it was drawn.)
//!
//! What this does not reach: code that makes the system call itself (`ring`, through
//! `getrandom` 0.2) or reads a clock. callsim gives the stack a crypto provider of its own for
//! those (`callsim_sim::rtc::real::crypto`).
//!
//! This is the only `unsafe` code in callsim: one `extern "C"` function with the C library's
//! signature, which writes `len` bytes to the buffer its caller passed.

use std::cell::RefCell;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

thread_local! {
    /// The seeded stream of this thread, while a simulation runs on it.
    static SOURCE: RefCell<Option<ChaCha20Rng>> = const { RefCell::new(None) };
}

/// While alive, the operating system's randomness on this thread comes from a seed. Not
/// `Send`: it belongs to the thread it seeded.
#[derive(Debug)]
#[must_use = "the seed applies only while the guard lives"]
pub struct Seeded {
    previous: Option<ChaCha20Rng>,
    _thread: std::marker::PhantomData<*const ()>,
}

impl Drop for Seeded {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = SOURCE.try_with(|source| *source.borrow_mut() = previous);
    }
}

/// Makes the operating system's randomness on this thread a ChaCha20 stream of `seed` until
/// the guard is dropped. Whether a request reaches it depends on the binary exporting the
/// symbol: [`intercepting`] says.
pub fn seed_this_thread(seed: u64) -> Seeded {
    // Keeps the symbol in the binary: nothing else refers to it by name at link time.
    std::hint::black_box(getrandom as unsafe extern "C" fn(_, _, _) -> _);
    let stream = ChaCha20Rng::seed_from_u64(seed ^ 0x6f73_7261_6e64);
    let previous = SOURCE.with(|source| source.borrow_mut().replace(stream));
    Seeded {
        previous,
        _thread: std::marker::PhantomData,
    }
}

/// Whether this binary's requests for the operating system's randomness reach this crate:
/// true when it exports the `getrandom` symbol. Checked by asking std for a hash key under a
/// known seed, on a thread of its own.
pub fn intercepting() -> bool {
    let draw = || {
        std::thread::spawn(|| {
            let _seeded = seed_this_thread(7);
            let mut bytes = [0u8; 16];
            fill_from_system(&mut bytes);
            bytes
        })
        .join()
        .unwrap_or_default()
    };
    let expected = {
        let mut stream = ChaCha20Rng::seed_from_u64(7 ^ 0x6f73_7261_6e64);
        let mut bytes = [0u8; 16];
        stream.fill_bytes(&mut bytes);
        bytes
    };
    draw() == expected
}

/// Asks the C library for random bytes by name, as the `getrandom` crate does.
fn fill_from_system(bytes: &mut [u8]) {
    type Fill =
        unsafe extern "C" fn(*mut libc::c_void, libc::size_t, libc::c_uint) -> libc::ssize_t;
    #[allow(unsafe_code)]
    // SAFETY: dlsym with a NUL-terminated name; the symbol, when found, has getrandom(3)'s
    // signature (ours or the C library's), and the buffer is valid for its length.
    unsafe {
        let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"getrandom".as_ptr());
        if !symbol.is_null() {
            let fill: Fill = std::mem::transmute::<*mut libc::c_void, Fill>(symbol);
            fill(bytes.as_mut_ptr().cast(), bytes.len(), 0);
        }
    }
}

/// `getrandom(3)`: bytes from this thread's seeded stream, or from the kernel.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes, as for the C library's function.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrandom(
    buf: *mut libc::c_void,
    len: libc::size_t,
    flags: libc::c_uint,
) -> libc::ssize_t {
    if len == 0 {
        return 0;
    }
    // What the kernel refuses (a null buffer, a length past `isize::MAX`), it refuses with
    // the right error; a slice over it would be undefined behaviour.
    if buf.is_null() || isize::try_from(len).is_err() {
        // SAFETY: the system call with the caller's own arguments; it checks them.
        return unsafe { libc::syscall(libc::SYS_getrandom, buf, len, flags) as libc::ssize_t };
    }
    let seeded = SOURCE
        .try_with(|source| {
            let mut source = source.try_borrow_mut().ok()?;
            let stream = source.as_mut()?;
            // SAFETY: the caller gives a buffer valid for `len` bytes.
            let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
            stream.fill_bytes(out);
            Some(())
        })
        .ok()
        .flatten();
    if seeded.is_some() {
        return libc::ssize_t::try_from(len).unwrap_or(libc::ssize_t::MAX);
    }
    // SAFETY: the system call with the caller's own arguments.
    unsafe { libc::syscall(libc::SYS_getrandom, buf, len, flags) as libc::ssize_t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_thread_gets_the_seeds_stream_and_others_the_kernels() {
        let read = |seed: Option<u64>| {
            std::thread::spawn(move || {
                let _seeded = seed.map(seed_this_thread);
                let mut bytes = [0u8; 32];
                // SAFETY: a valid buffer of its own length.
                #[allow(unsafe_code)]
                let n = unsafe { getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
                assert_eq!(n, 32);
                bytes
            })
            .join()
            .expect("the thread runs")
        };
        assert_eq!(read(Some(5)), read(Some(5)));
        assert_ne!(read(Some(5)), read(Some(6)));
        assert_ne!(read(None), read(None), "the kernel's bytes, not a seed's");
    }

    #[test]
    fn edge_arguments_go_to_the_kernel_never_into_a_slice() {
        let _seeded = seed_this_thread(3);
        // SAFETY: the C idioms a library may use: a probe of nothing, a null buffer.
        #[allow(unsafe_code)]
        unsafe {
            assert_eq!(getrandom(std::ptr::null_mut(), 0, 0), 0);
            assert_eq!(getrandom(std::ptr::null_mut(), 16, 0), -1);
        }
    }

    #[test]
    fn the_guard_gives_the_thread_back_to_the_kernel() {
        let seeded = seed_this_thread(1);
        drop(seeded);
        SOURCE.with(|s| assert!(s.borrow().is_none()));
    }
}
