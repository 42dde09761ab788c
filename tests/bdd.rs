//! `cargo test` runs every scenario in `features/` as a test of its own (a libtest harness), so
//! `cargo test --test bdd -- --list`, name filters and `cargo nextest run` (list, filter,
//! `--partition`, JUnit) see scenarios as tests. Each runs with its own seed, as `callsim bdd`
//! runs it; a failure says why and how to replay it.

use std::path::PathBuf;
use std::process::ExitCode;

use callsim::bdd::{BddOptions, Replay, catalog, exec, replay_command, run_scenario, test_name};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (specs, problems) = catalog::load(&[PathBuf::from("features")].map(|p| root.join(p)));
    let options = BddOptions::new(Vec::new());
    let settings = exec::ExecSettings {
        artifacts: root.join("target/callsim-bdd"),
        keep_artifacts: false,
        max_sim_ms: options.max_sim_ms,
    };
    let mut trials: Vec<Trial> = problems
        .into_iter()
        .map(|problem| {
            let name = format!("feature file {}", problem.file.display());
            Trial::test(name, move || Err(Failed::from(problem.to_string())))
        })
        .collect();
    for spec in specs {
        let settings = settings.clone();
        trials.push(Trial::test(test_name(&spec), move || {
            let seed = spec.seed();
            let outcome = run_scenario(&spec, seed, &settings);
            if outcome.passed {
                return Ok(());
            }
            let mut text = format!(
                "{}: {}\n{}\nseed: {seed}\nreplay: {}\n",
                spec.location(),
                spec.name,
                outcome.failure.unwrap_or_default(),
                replay_command(&Replay::CargoTest, &spec, seed)
            );
            for file in &outcome.artifacts {
                text.push_str(&format!("wrote: {}\n", file.display()));
            }
            Err(Failed::from(text))
        }));
    }
    libtest_mimic::run(&args, trials).exit_code()
}
