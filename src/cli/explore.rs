//! `callsim explore`: every interleaving of a call between two phones, checked by stateright.

use std::io::Write;
use std::path::{Path, PathBuf};

use callsim_engine::io::MessageKind;
use callsim_sim::World;
use callsim_sim::explore::{
    Act, BOB, CallModel, DEFAULT_WINDOW_MS, Discovery, ExploreConfig, ExploreOptions,
    ExploreReport, PlantedBug, Progress, Walks, explore_watched, gherkin, replay,
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
    /// A third phone, Carol, may call Bob once (and end once); Bob may answer, decline and end
    /// once more for her.
    #[arg(long)]
    pub third: bool,
    /// The relay delivers every message of this kind twice, to both phones (a lost ACK;
    /// e.g. x.call.offer).
    #[arg(long, value_name = "KIND", value_parser = super::call::parse_kind)]
    pub duplicate: Option<MessageKind>,
    /// The relay may lose up to N deliveries on a path, any message on any queue, its queue
    /// moving on as if delivered (a fault outside SMP's guarantees).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub loss: u8,
    /// The relay may lose up to N ACKs on a path, each making it deliver the message again
    /// (the phone's agent drops the repeat).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub redeliver: u8,
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
    /// N random walks instead of an exhaustive search, for models too large to exhaust; walk i
    /// chooses its steps from seed SEED + i.
    #[arg(long, value_name = "N")]
    pub simulate: Option<u64>,
    /// Seed of the phones' keys and ids, and of the first random walk.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Serve stateright's web Explorer on this loopback address (e.g. 127.0.0.1:3000) to step
    /// through the model by hand, instead of checking it; runs until interrupted.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
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
            loss: self.loss,
            redeliver: self.redeliver,
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
        if self.third {
            config = config.with_third_phone();
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
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err(CliError::Usage("--threads must be at least 1".into()));
    }
    if args.simulate == Some(0) {
        return Err(CliError::Usage("--simulate takes at least 1 walk".into()));
    }
    if let Some(address) = args.serve {
        callsim_sim::explore::check_serve_address(address)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        writeln!(
            err,
            "serving the Explorer on http://{address}/ (Ctrl-C to stop)..."
        )?;
        callsim_sim::explore::serve(&config, threads, address)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        return Ok(true);
    }
    let options = ExploreOptions {
        threads,
        max_states: args.max_states,
        walks: args.simulate.map(|count| Walks {
            count,
            seed: args.seed,
        }),
    };
    match options.walks {
        Some(w) => writeln!(
            err,
            "{} random walk(s) from seed {} on {threads} thread(s)...",
            w.count, w.seed
        )?,
        None => writeln!(err, "exploring on {threads} thread(s)...")?,
    }
    let started = crate::wall::now();
    let report = {
        use std::io::IsTerminal;
        let mut line = ProgressLine::new(started);
        if std::io::stderr().is_terminal() {
            explore_watched(&config, &options, Some(&mut |p| line.tick(p)))
        } else {
            explore_watched(&config, &options, None)
        }
    };
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    print_report(&config, &report, seconds, out)?;
    let mut ok = true;
    for (n, found) in report.discoveries.iter().filter(|d| d.failure).enumerate() {
        ok = false;
        save(&config, found, &args.out, n + 1, out)?;
    }
    Ok(ok)
}

/// A progress line on a terminal: states, unique states, depth, states per second; redrawn
/// every second.
struct ProgressLine {
    started: std::time::Instant,
    drawn: f64,
}

impl ProgressLine {
    fn new(started: std::time::Instant) -> Self {
        ProgressLine {
            started,
            drawn: 0.0,
        }
    }

    fn tick(&mut self, p: Progress) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let seconds = self.started.elapsed().as_secs_f64();
        if seconds - self.drawn < 1.0 {
            return;
        }
        self.drawn = seconds;
        let unique = p
            .unique
            .map(|u| format!(", {u} unique"))
            .unwrap_or_default();
        eprint!(
            "\r{} states{unique}, depth {}, {:.0} states/s   ",
            p.generated,
            p.depth,
            p.generated as f64 / seconds.max(1e-9)
        );
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if self.drawn > 0.0 {
            eprintln!();
        }
    }
}

fn print_report(
    config: &ExploreConfig,
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
    let model = CallModel {
        config: config.clone(),
    };
    for race in model.races() {
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
    let phones: Vec<String> = config
        .phones()
        .into_iter()
        .map(|id| run.world.name(id))
        .collect();
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
    let svg = write(
        format!("counterexample-{n}.svg"),
        callsim_sim::trace::svg(&phones, &run.world.trace()),
    )?;
    writeln!(
        out,
        "  diagram:  {} (Mermaid), {} (SVG)",
        mermaid.display(),
        svg.display()
    )?;
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
