//! The `callsim` binary; see `callsim --help`.

use clap::Parser;

/// The allocator: a simulation allocates for every packet, event and frame, and mimalloc
/// takes a tenth to a quarter off simulations' wall time against glibc's (`bench sweep`,
/// `bench real-webrtc`). Its own randomness comes from the kernel by system call, never
/// through the seeded `getrandom` of `callsim-osrand`; it changes no simulated result.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Logs only when asked (`RUST_LOG=callsim_engine=debug`), on stderr, without wall-clock
    // times: every line sits in its scenario's and phone's spans, which say where in a run it is.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .without_time()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    callsim::cli::run(callsim::cli::Cli::parse())
}
