//! The BDD runner: the scenario language of `spec/steps.md` over the turmoil world.
//!
//! Feature files are read into scenarios ([`catalog`]); each step is matched against the
//! language's table ([`language`], which `callsim steps` prints); each scenario runs on one
//! thread with its own [`ScenarioState`] and seed ([`exec`]): the seed is `--seed`/`--seeds` if
//! given, else an `@seed(N)` tag on the scenario or its feature, else a hash of the file's name
//! and the scenario's name, stable across runs and machines. After the steps the standing
//! invariants are checked; a failing scenario leaves its trace and sequence diagrams under the
//! artifacts folder and a command that replays it. Results stream as scenarios finish
//! ([`report`]); the order of the final report does not depend on how many ran at once.
//!
//! The run loop of a step: `Given`s only shape the phones; the world is built by the first
//! step that needs it, with network changes asked for earlier applied then. A `When` acts and
//! runs one tick (10 simulated ms) so the phones see it, and marks the time "within N seconds"
//! counts from. Time only moves tick by tick through [`ScenarioState::advance`], which records
//! what the phones show ([`Observed`]) whenever it changes and checks the "does not ring"
//! guards, so a `Then ... within N seconds` can judge the past as it was.

pub mod catalog;
pub mod exec;
mod known;
pub mod language;
pub mod report;
mod scenario;
mod steps;

pub use scenario::{
    DEFAULT_MAX_SIM_MS, Observed, RING_GRACE_MS, ScenarioState, StepResult, Within, human_ms,
};

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use catalog::{Problem, ScenarioSpec, Selection};
use exec::{ExecSettings, StepReport};

/// How a failing scenario's replay command is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// `BINARY bdd FILE --name '^NAME$' --seed N`, with this binary and absolute paths, so it
    /// works from any folder.
    Binary(PathBuf),
    /// `cargo test --test bdd -- --exact 'TEST'`: the libtest harness of `cargo test`.
    CargoTest,
}

/// What `callsim bdd` and the test harness take.
#[derive(Debug, Clone)]
pub struct BddOptions {
    /// Feature files or folders.
    pub paths: Vec<PathBuf>,
    /// A tag expression, e.g. `@accept and not @slow`.
    pub tags: Option<String>,
    /// Only scenarios whose name matches this regular expression.
    pub name: Option<String>,
    /// One seed for every scenario, instead of their own (pins included, and the run says so).
    pub seed: Option<u64>,
    /// Every scenario once per seed of this inclusive range.
    pub seeds: Option<(u64, u64)>,
    /// Only part I of N (1-based), by a stable hash of file name and scenario name.
    pub shard: Option<(u64, u64)>,
    /// Write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Write Cucumber JSON here.
    pub json: Option<PathBuf>,
    /// How many scenarios run at once (one thread each); at least 1.
    pub concurrency: usize,
    /// Where failing scenarios leave their traces.
    pub artifacts: PathBuf,
    /// Print every step under its scenario's line.
    pub steps: bool,
    /// Write the trace and diagrams of every scenario, not only the failing ones.
    pub keep_artifacts: bool,
    /// Show a progress bar on stderr (for a terminal).
    pub progress: bool,
    /// List the scenarios (file:line, name, tags, seed) instead of running them.
    pub list: bool,
    /// Start no new scenario after one failed.
    pub fail_fast: bool,
    /// The simulated time a scenario may run, in ms.
    pub max_sim_ms: u64,
    /// How replay commands are written.
    pub replay: Replay,
}

impl BddOptions {
    /// Runs `paths` with the defaults: every scenario, one per core, artifacts under `target/`,
    /// replays through this binary.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        BddOptions {
            paths,
            tags: None,
            name: None,
            seed: None,
            seeds: None,
            shard: None,
            junit: None,
            json: None,
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            artifacts: PathBuf::from("target/callsim-bdd"),
            steps: false,
            keep_artifacts: false,
            progress: false,
            list: false,
            fail_fast: false,
            max_sim_ms: DEFAULT_MAX_SIM_MS,
            replay: Replay::Binary(
                std::env::current_exe().unwrap_or_else(|_| PathBuf::from("callsim")),
            ),
        }
    }
}

/// One scenario run's result.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The feature file, as given.
    pub file: PathBuf,
    /// The feature's name.
    pub feature: String,
    /// The feature's line, description and tags (for Cucumber JSON).
    pub feature_line: usize,
    /// The feature's description.
    pub feature_description: Option<String>,
    /// The feature's own tags.
    pub feature_tags: Vec<String>,
    /// The scenario's name.
    pub name: String,
    /// The scenario's keyword.
    pub keyword: String,
    /// Its line.
    pub line: usize,
    /// Its tags (with its feature's).
    pub tags: Vec<String>,
    /// The line of its background, if any.
    pub background_line: Option<usize>,
    /// The seed it ran with.
    pub seed: u64,
    /// Whether it passed (steps and invariants).
    pub passed: bool,
    /// Why it failed.
    pub failure: Option<String>,
    /// Each step's result, background first.
    pub steps: Vec<StepReport>,
    /// Simulated milliseconds it ran.
    pub sim_ms: u64,
    /// Wall-clock time it took.
    pub wall: Duration,
    /// Trace and diagrams written.
    pub artifacts: Vec<PathBuf>,
    /// The command that replays it alone, with its seed.
    pub replay: String,
}

impl ScenarioReport {
    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Every scenario run, by file, line and seed.
    pub scenarios: Vec<ScenarioReport>,
    /// Feature files that could not be used.
    pub problems: Vec<Problem>,
    /// Wall-clock time of the whole run.
    pub wall: Duration,
    /// How many scenarios ran at once.
    pub concurrency: usize,
    /// Seeds each scenario ran with (more than one with `--seeds`).
    pub seeds_per_scenario: u64,
    /// Scenarios not started because `--fail-fast` stopped the run.
    pub not_run: usize,
}

impl RunSummary {
    /// Scenario runs that passed.
    pub fn passed(&self) -> usize {
        self.scenarios.iter().filter(|s| s.passed).count()
    }

    /// Whether the run is a success: something ran, everything passed and every file was
    /// usable. Nothing run counts as a failure, so a typo in `--tags` cannot pass CI.
    pub fn succeeded(&self) -> bool {
        self.problems.is_empty()
            && self.not_run == 0
            && !self.scenarios.is_empty()
            && self.passed() == self.scenarios.len()
    }
}

/// The command that replays `spec` with `seed`.
pub fn replay_command(replay: &Replay, spec: &ScenarioSpec, seed: u64) -> String {
    match replay {
        Replay::Binary(binary) => {
            let file = std::path::absolute(&spec.file).unwrap_or_else(|_| spec.file.clone());
            format!(
                "{} bdd {} --name {} --seed {seed}",
                shell_quote(&binary.display().to_string()),
                shell_quote(&file.display().to_string()),
                shell_quote(&format!("^{}$", regex::escape(&spec.name))),
            )
        }
        Replay::CargoTest => format!(
            "cargo test --test bdd -- --exact {}",
            shell_quote(&test_name(spec))
        ),
    }
}

/// The libtest name of a scenario: its file's name and its name.
pub fn test_name(spec: &ScenarioSpec) -> String {
    format!("{}: {}", spec.file_stem(), spec.name)
}

fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Parses `--seeds A..B` (inclusive).
pub fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--seeds takes A..B with A <= B, e.g. 1..1000, not {text:?}");
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad())?,
    );
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// The scenarios `options` select, and the feature files that could not be used.
pub fn select(options: &BddOptions) -> Result<(Vec<ScenarioSpec>, Vec<Problem>), String> {
    let tags = options
        .tags
        .as_deref()
        .map(|t| {
            t.parse::<gherkin::tagexpr::TagOperation>()
                .map_err(|e| format!("bad --tags {t:?}: {e}"))
        })
        .transpose()?;
    let name = options
        .name
        .as_deref()
        .map(|n| regex::Regex::new(n).map_err(|e| format!("bad --name {n:?}: {e}")))
        .transpose()?;
    let selection = Selection {
        tags,
        name,
        shard: options.shard,
    };
    let (all, problems) = catalog::load(&options.paths);
    Ok((
        all.into_iter().filter(|s| selection.takes(s)).collect(),
        problems,
    ))
}

fn check_options(options: &BddOptions) -> Result<(), String> {
    if options.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if options.seed.is_some() && options.seeds.is_some() {
        return Err("--seed and --seeds cannot go together".into());
    }
    if options.max_sim_ms == 0 {
        return Err("--max-sim-time must be more than 0".into());
    }
    if !options.list {
        // Fail before running for an hour: the artifacts folder and report files must be
        // writable now.
        std::fs::create_dir_all(&options.artifacts).map_err(|e| {
            format!(
                "cannot use {} for artifacts: {e}",
                options.artifacts.display()
            )
        })?;
        let probe = options.artifacts.join(".callsim-write-test");
        std::fs::write(&probe, b"").map_err(|e| {
            format!(
                "cannot write artifacts under {}: {e}",
                options.artifacts.display()
            )
        })?;
        let _ = std::fs::remove_file(probe);
        for path in options.junit.iter().chain(&options.json) {
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Why a run of scenarios could not start or finish its output (failed scenarios are in the
/// summary, not here).
#[derive(Debug, thiserror::Error)]
pub enum BddError {
    /// The run cannot start: a missing path, bad options, a bad tag expression, an unwritable
    /// artifacts folder or report file.
    #[error("{0}")]
    Usage(String),
    /// Writing the run's lines failed.
    #[error("cannot write the run's output: {0}")]
    Output(#[source] std::io::Error),
    /// A report file could not be made or written after the run.
    #[error("cannot write the report {}: {reason}", path.display())]
    Report {
        /// The report file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A scenario thread could not start.
    #[error("cannot start a scenario thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl From<String> for BddError {
    /// Option checks and selection speak in plain messages.
    fn from(message: String) -> Self {
        BddError::Usage(message)
    }
}

/// Runs the selected scenarios, streaming a line per scenario run to `out` as it finishes,
/// then the summary; writes the reports asked for.
pub fn run(options: &BddOptions, out: &mut impl Write) -> Result<RunSummary, BddError> {
    for path in &options.paths {
        if !path.exists() {
            return Err(BddError::Usage(format!(
                "{} does not exist",
                path.display()
            )));
        }
    }
    check_options(options)?;
    let (specs, problems) = select(options)?;
    let io = BddError::Output;
    if options.list {
        for spec in &specs {
            let tags: Vec<String> = spec.tags.iter().map(|t| format!("@{t}")).collect();
            writeln!(
                out,
                "{}: {} [{}] seed {}",
                spec.location(),
                spec.name,
                tags.join(" "),
                spec.seed()
            )
            .map_err(io)?;
        }
        for problem in &problems {
            writeln!(out, "FAIL {problem}").map_err(io)?;
        }
        return Ok(RunSummary {
            problems,
            ..RunSummary::default()
        });
    }
    let seeds: Vec<Option<u64>> = match (options.seed, options.seeds) {
        (Some(seed), _) => vec![Some(seed)],
        (None, Some((a, b))) => (a..=b).map(Some).collect(),
        (None, None) => vec![None],
    };
    let overridden: Vec<&ScenarioSpec> = specs.iter().filter(|s| s.pinned.is_some()).collect();
    if seeds.iter().any(Option::is_some) && !overridden.is_empty() {
        writeln!(
            out,
            "note: {} scenario(s) pinned by @seed(N) run with the seeds asked for instead: {}",
            overridden.len(),
            overridden
                .iter()
                .map(|s| s.location())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .map_err(io)?;
    }
    let jobs: Vec<(usize, u64)> = specs
        .iter()
        .enumerate()
        .flat_map(|(i, spec)| {
            seeds
                .iter()
                .map(move |s| (i, s.unwrap_or_else(|| spec.seed())))
        })
        .collect();
    let settings = ExecSettings {
        artifacts: options.artifacts.clone(),
        keep_artifacts: options.keep_artifacts,
        max_sim_ms: options.max_sim_ms,
    };
    let progress = options
        .progress
        .then(|| indicatif::ProgressBar::new(jobs.len() as u64))
        .inspect(|bar| {
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{pos}/{len} scenarios [{elapsed}] {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
        });
    let started = crate::wall::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let many_seeds = seeds.len() > 1;
    let mut reports: Vec<ScenarioReport> = Vec::new();
    let mut failed_any = false;
    std::thread::scope(|scope| -> Result<(), BddError> {
        let (tx, rx) = mpsc::channel::<Event>();
        for worker in 0..options.concurrency.min(jobs.len().max(1)) {
            let tx = tx.clone();
            let (jobs, specs, settings, next, stop) = (&jobs, &specs, &settings, &next, &stop);
            let replay = &options.replay;
            let fail_fast = options.fail_fast;
            let spawned = std::thread::Builder::new()
                .name(format!("scenarios-{worker}"))
                .spawn_scoped(scope, move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Some(&(i, seed)) = jobs.get(next.fetch_add(1, Ordering::Relaxed))
                        else {
                            break;
                        };
                        let spec = &specs[i];
                        if tx.send(Event::Started(worker, spec.name.clone())).is_err() {
                            break;
                        }
                        let outcome = run_scenario(spec, seed, settings);
                        if fail_fast && !outcome.passed {
                            // Before the next job is taken: nothing starts after a failure.
                            stop.store(true, Ordering::Relaxed);
                        }
                        let report = ScenarioReport {
                            file: spec.file.clone(),
                            feature: spec.feature.clone(),
                            feature_line: spec.feature_line,
                            feature_description: spec.feature_description.clone(),
                            feature_tags: spec.feature_tags.clone(),
                            name: spec.name.clone(),
                            keyword: spec.keyword.clone(),
                            line: spec.line,
                            tags: spec.tags.clone(),
                            background_line: spec.background_line,
                            seed,
                            passed: outcome.passed,
                            failure: outcome.failure,
                            steps: outcome.steps,
                            sim_ms: outcome.sim_ms,
                            wall: outcome.wall,
                            artifacts: outcome.artifacts,
                            replay: replay_command(replay, spec, seed),
                        };
                        if tx.send(Event::Finished(worker, Box::new(report))).is_err() {
                            break;
                        }
                    }
                });
            if let Err(e) = spawned {
                return Err(BddError::Thread(e));
            }
        }
        drop(tx);
        let mut running: Vec<Option<String>> = vec![None; options.concurrency];
        for event in rx {
            let report = match event {
                Event::Started(worker, name) => {
                    if let Some(slot) = running.get_mut(worker) {
                        *slot = Some(name);
                    }
                    if let Some(bar) = &progress {
                        bar.set_message(running_names(&running));
                    }
                    continue;
                }
                Event::Finished(worker, report) => {
                    if let Some(slot) = running.get_mut(worker) {
                        *slot = None;
                    }
                    *report
                }
            };
            if !report.passed {
                failed_any = true;
                if options.fail_fast {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            // With many seeds, only failures get a line as they come; the summary has the rest.
            if !many_seeds || !report.passed {
                let mut line = Vec::new();
                report::scenario_lines(&report, options.steps, &mut line).map_err(io)?;
                match &progress {
                    Some(bar) => bar.suspend(|| out.write_all(&line)),
                    None => out.write_all(&line),
                }
                .map_err(io)?;
                out.flush().map_err(io)?;
            }
            if let Some(bar) = &progress {
                bar.inc(1);
                bar.set_message(running_names(&running));
            }
            reports.push(report);
        }
        Ok(())
    })?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    reports.sort_by(|a, b| (&a.file, a.line, a.seed).cmp(&(&b.file, b.line, b.seed)));
    let not_run = jobs.len() - reports.len();
    let summary = RunSummary {
        scenarios: reports,
        problems,
        wall: started.elapsed(),
        concurrency: options.concurrency.min(jobs.len().max(1)),
        seeds_per_scenario: seeds.len() as u64,
        not_run,
    };
    if not_run > 0 && failed_any {
        writeln!(
            out,
            "--fail-fast: {not_run} scenario run(s) not started after a failure"
        )
        .map_err(io)?;
    }
    report::summary(&summary, out).map_err(io)?;
    let report_error = |path: &std::path::Path, reason: String| BddError::Report {
        path: path.to_owned(),
        reason,
    };
    if let Some(path) = &options.junit {
        let xml = report::junit(&summary).map_err(|e| report_error(path, e))?;
        std::fs::write(path, xml).map_err(|e| report_error(path, e.to_string()))?;
    }
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&report::cucumber_json(&summary))
            .map_err(|e| report_error(path, e.to_string()))?;
        std::fs::write(path, json).map_err(|e| report_error(path, e.to_string()))?;
    }
    Ok(summary)
}

/// What a scenario thread tells the run.
enum Event {
    /// Worker `n` started the named scenario.
    Started(usize, String),
    /// Worker `n` finished one.
    Finished(usize, Box<ScenarioReport>),
}

/// The scenarios running now, for the progress line.
fn running_names(running: &[Option<String>]) -> String {
    let names: Vec<&str> = running.iter().flatten().map(String::as_str).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("running: {}", names.join(" | "))
    }
}

/// Whether stderr is a terminal (for the progress bar).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Runs a scenario as `callsim bdd` runs it: on a thread of its own, seeded before anything runs
/// on it, so the real WebRTC stack's randomness from the operating system and std's hash keys
/// (drawn once per thread) come from the scenario's seed whatever ran before on the caller's
/// thread (`callsim_sim::seeded`). Process-wide lazies are built on the caller's thread first:
/// building one takes hash keys on its thread, which would shift the first scenario's.
pub fn run_scenario(spec: &ScenarioSpec, seed: u64, settings: &ExecSettings) -> exec::Outcome {
    let _ = language::language();
    callsim_sim::seeded::on_fresh_thread(seed, || exec::run(spec, seed, settings))
}
