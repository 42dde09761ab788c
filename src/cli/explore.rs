//! `callsim explore`: every interleaving of a call between two phones, checked by stateright.

use std::io::Write;
use std::path::{Path, PathBuf};

use callsim_engine::io::MessageKind;
use callsim_sim::World;
use callsim_sim::explore::{
    ALICE, Act, BOB, DEFAULT_WINDOW_MS, Discovery, ExploreConfig, ExploreOptions, ExploreReport,
    PlantedBug, RACES, explore, gherkin, replay,
};
use serde::{Deserialize, Serialize};

use super::CliError;

/// The arguments of `callsim explore`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExploreArgs {
    /// CallKit is off on this phone (alice, bob or both): the in-app views instead.
    #[arg(long, value_name = "WHO")]
    pub callkit_off: Option<String>,
    /// How long Bob's chat takes to start when woken, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5)]
    pub chat_start: f64,
    /// Bob may also accept or reject in the app (with CallKit off).
    #[arg(long)]
    pub app_actions: bool,
    /// Bob's app may be killed and started again once.
    #[arg(long)]
    pub kill: bool,
    /// Bob may call Alice too (glare).
    #[arg(long)]
    pub glare: bool,
    /// The relay delivers every message of this kind to Bob twice (e.g. x.call.offer).
    #[arg(long, value_name = "KIND", value_parser = super::call::parse_kind)]
    pub duplicate: Option<MessageKind>,
    /// Only what is due within this many ms of the earliest thing due may happen next;
    /// `none`: anything pending may (every timer may overtake every callback).
    #[arg(long, value_name = "MS|none", default_value_t = DEFAULT_WINDOW_MS.to_string())]
    pub window: String,
    /// Plant a bug to see what the explorer reports: `callee-loses-end`.
    #[arg(long, value_name = "BUG")]
    pub plant_bug: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Stop after about this many states.
    #[arg(long, value_name = "N")]
    pub max_states: Option<usize>,
    /// Random walks instead of an exhaustive search, from this seed.
    #[arg(long, value_name = "SEED")]
    pub simulate: Option<u64>,
    /// Seed of the phones' keys and ids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where counterexamples go: a replay file, a Gherkin scenario and a Mermaid diagram each.
    #[arg(long, value_name = "DIR", default_value = "target/callsim-explore")]
    pub out: PathBuf,
    /// Re-run a saved path exactly and print its steps and trace.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// A saved path: the model and the steps, enough to re-run it exactly.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplayFile {
    /// The model.
    pub config: ExploreConfig,
    /// What was found.
    pub discovery: Discovery,
}

impl ExploreArgs {
    /// The model these arguments ask for.
    pub fn config(&self) -> Result<ExploreConfig, CliError> {
        let mut config = ExploreConfig {
            seed: self.seed,
            duplicate: self.duplicate,
            ..ExploreConfig::default()
        };
        match self
            .callkit_off
            .as_deref()
            .map(str::to_lowercase)
            .as_deref()
        {
            None => {}
            Some("alice") => config.callkit[0] = false,
            Some("bob") => config.callkit[1] = false,
            Some("both") => config.callkit = [false, false],
            Some(other) => {
                return Err(CliError::Usage(format!(
                    "--callkit-off takes alice, bob or both, not {other:?}"
                )));
            }
        }
        if !(self.chat_start.is_finite() && (0.0..=3_600.0).contains(&self.chat_start)) {
            return Err(CliError::Usage(
                "--chat-start takes seconds from 0 to 3600".into(),
            ));
        }
        config.chat_start_ms[1] = (self.chat_start * 1000.0).round() as u64;
        config.window_ms = match self.window.as_str() {
            "none" => None,
            ms => Some(ms.parse().map_err(|_| {
                CliError::Usage(format!("--window takes milliseconds or none, not {ms:?}"))
            })?),
        };
        config.bug = match self.plant_bug.as_deref() {
            None => None,
            Some("callee-loses-end") => Some(PlantedBug::CalleeLosesEnd),
            Some(other) => {
                return Err(CliError::Usage(format!(
                    "--plant-bug takes callee-loses-end, not {other:?}"
                )));
            }
        };
        if self.app_actions {
            config.menu.push((BOB, Act::AcceptInApp, 1));
            config.menu.push((BOB, Act::RejectInApp, 1));
        }
        if self.kill {
            config.menu.push((BOB, Act::Kill, 1));
            config.menu.push((BOB, Act::Launch, 1));
        }
        if self.glare {
            config.menu.push((BOB, Act::Call, 1));
        }
        Ok(config)
    }
}

/// Runs `callsim explore`; true if no invariant broke.
pub fn run(
    args: &ExploreArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<bool, CliError> {
    if let Some(file) = &args.replay {
        return replay_file(file, out);
    }
    let config = args.config()?;
    let options = ExploreOptions {
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        max_states: args.max_states,
        simulate: args.simulate,
    };
    if options.threads == 0 {
        return Err(CliError::Usage("--threads must be at least 1".into()));
    }
    writeln!(err, "exploring on {} thread(s)...", options.threads)?;
    let started = crate::wall::now();
    let report = explore(&config, &options);
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    print_report(&report, seconds, out)?;
    let mut ok = true;
    for (n, found) in report.discoveries.iter().filter(|d| d.failure).enumerate() {
        ok = false;
        save(&config, found, &args.out, n + 1, out)?;
    }
    Ok(ok)
}

fn print_report(
    report: &ExploreReport,
    seconds: f64,
    out: &mut impl Write,
) -> Result<(), CliError> {
    writeln!(out, "states generated: {}", report.generated)?;
    writeln!(out, "unique states: {}", report.unique)?;
    writeln!(out, "depth: {}", report.depth)?;
    writeln!(
        out,
        "states per second: {:.0}",
        report.generated as f64 / seconds
    )?;
    writeln!(
        out,
        "complete: {}",
        if report.complete {
            "yes, every state was visited"
        } else {
            "no"
        }
    )?;
    writeln!(out, "races (sometimes):")?;
    for race in RACES {
        match report.discoveries.iter().find(|d| d.property == race.name) {
            Some(found) => writeln!(
                out,
                "  reached in {:>3} steps  {}",
                found.steps.len(),
                race.name
            )?,
            None => writeln!(out, "  not reached          {}", race.name)?,
        }
    }
    let failures: Vec<_> = report.discoveries.iter().filter(|d| d.failure).collect();
    if failures.is_empty() {
        writeln!(out, "invariants: none broken")?;
    } else {
        writeln!(out, "invariants broken: {}", failures.len())?;
    }
    Ok(())
}

fn save(
    config: &ExploreConfig,
    found: &Discovery,
    dir: &Path,
    n: usize,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let run = replay(config, &found.steps).map_err(|e| CliError::Failed(e.to_string()))?;
    writeln!(out, "\nBROKEN: {}", found.property)?;
    for (i, (t, words)) in run.steps.iter().enumerate() {
        writeln!(out, "  {:>3}. {:>9.3}s  {words}", i + 1, *t as f64 / 1000.0)?;
    }
    std::fs::create_dir_all(dir).map_err(|source| CliError::WriteFile {
        path: dir.display().to_string(),
        source,
    })?;
    let write = |name: String, text: String| -> Result<PathBuf, CliError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| CliError::WriteFile {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    };
    let file = ReplayFile {
        config: config.clone(),
        discovery: found.clone(),
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| CliError::Failed(e.to_string()))?;
    let replay_path = write(format!("counterexample-{n}.json"), json)?;
    let feature = write(
        format!("counterexample-{n}.feature"),
        gherkin(config, found, &run),
    )?;
    let phones = [ALICE, BOB].map(|id| run.world.name(id)).to_vec();
    let mermaid = write(
        format!("counterexample-{n}.mmd"),
        callsim_sim::trace::mermaid(&phones, &run.world.trace()),
    )?;
    writeln!(
        out,
        "  replay:   callsim explore --replay {}",
        replay_path.display()
    )?;
    writeln!(
        out,
        "  scenario: {} (runs on the turmoil world: callsim bdd {})",
        feature.display(),
        feature.display()
    )?;
    writeln!(out, "  diagram:  {}", mermaid.display())?;
    Ok(())
}

fn replay_file(file: &Path, out: &mut impl Write) -> Result<bool, CliError> {
    let text = std::fs::read_to_string(file).map_err(|source| CliError::Read {
        path: file.display().to_string(),
        source,
    })?;
    let saved: ReplayFile = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a replay file of callsim explore: {e}",
            file.display()
        ))
    })?;
    let run = replay(&saved.config, &saved.discovery.steps)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    writeln!(
        out,
        "{} ({})",
        saved.discovery.property,
        if saved.discovery.failure {
            "broken"
        } else {
            "reached"
        }
    )?;
    for (i, (t, words)) in run.steps.iter().enumerate() {
        writeln!(out, "  {:>3}. {:>9.3}s  {words}", i + 1, *t as f64 / 1000.0)?;
    }
    writeln!(out, "trace:")?;
    for line in run.world.trace_lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(!saved.discovery.failure)
}
