//! `cargo test` runs the scenarios in `features/` through the same runner as `callsim bdd`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let features = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features");
    let mut options = callsim::bdd::BddOptions::new(vec![features]);
    options.artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/callsim-bdd");
    let mut out = std::io::stdout();
    match callsim::bdd::run(&options, &mut out) {
        Ok(summary) if summary.succeeded() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("bdd: {error}");
            ExitCode::FAILURE
        }
    }
}
