//! The `callsim` binary; see `callsim --help`.

use clap::Parser;

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
