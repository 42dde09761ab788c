//! The `callsim` binary; see `callsim --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    callsim::cli::run(callsim::cli::Cli::parse())
}
