//! `callsim sweep`: a grid of network and phone conditions, N seeds per cell, one simulated
//! call per seed on every core, and SIPp-style statistics per cell.
//!
//! Each call is exactly `callsim call` with the cell's options and the seed (the sweep parses
//! those options as `callsim call` does), so every call replays alone by its command line.
//! Results depend only on the grid and the seeds: not on the thread count, and a run split
//! into `--shard I/N` parts and merged gives the same files byte for byte.

pub mod grid;
pub mod html;
pub mod output;
pub mod stats;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use serde::{Deserialize, Serialize};

use self::grid::{Axis, CONDITIONS, Condition};
use self::stats::CellStats;
use super::CliError;
use super::call::{CallArgs, CallMetrics};

/// The format tag of result files.
pub const RESULT_FORMAT: &str = "callsim-sweep-result/1";

/// The arguments of `callsim sweep`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    /// `merge`: combine shard result files.
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// World: turmoil, memory (a list sweeps both).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub world: Option<String>,
    /// WebRTC stack: sim, real.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub webrtc: Option<String>,
    /// Call media: audio, video.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub media: Option<String>,
    /// CallKit on both phones: on, off.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub callkit: Option<String>,
    /// China mode (no CallKit) on both phones: off, on.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub china: Option<String>,
    /// Both phones allow direct peer-to-peer media: off (relay-only, SimpleX's default), on.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub direct: Option<String>,
    /// The callee's app: foreground, background, suspended, not-running.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub callee_app: Option<String>,
    /// Relay-link latency, ms.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub relay_latency: Option<String>,
    /// Relay-link loss, %.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub relay_loss: Option<String>,
    /// The relay restarts this many seconds after the call button.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub relay_restart: Option<String>,
    /// A relay-link outage: WHO:AT:FOR (caller or callee, seconds after the call button,
    /// seconds long), or none; e.g. none,callee:1:5,callee:1:30.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub relay_outage: Option<String>,
    /// Media one-way latency, ms.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub media_latency: Option<String>,
    /// Media jitter, ms.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub media_jitter: Option<String>,
    /// Media loss, % (e.g. 0..30/5: 0 to 30 in steps of 5).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub media_loss: Option<String>,
    /// Media loss bursts, packets on average (0: independent losses).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub media_burst: Option<String>,
    /// Push delay to the callee, s.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub push_delay: Option<String>,
    /// The callee's chat start time when woken, s.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub chat_start: Option<String>,
    /// How long the callee waits before answering, s.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub answer_delay: Option<String>,
    /// A grid file (TOML): conditions as keys (`media-loss = "0..30/5"`), and `seeds`,
    /// `first-seed`, `talk`, `buckets`; options on the command line win.
    #[arg(long, value_name = "FILE")]
    pub grid: Option<PathBuf>,
    /// Calls per cell (seeds first-seed, first-seed + 1, ...).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// The first seed.
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Seconds each call talks before the caller hangs up.
    #[arg(long)]
    pub talk: Option<f64>,
    /// Histogram buckets for ring and connect times, ms (upper bounds).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub buckets: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Only part I of N of the calls (0-based), written as a result file for `sweep merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Where the outputs go: cells.csv, cells.json, report.html (and calls.* with
    /// --per-call), or a shard's result file.
    #[arg(long, value_name = "DIR", default_value = "target/callsim-sweep")]
    pub out: PathBuf,
    /// The outputs and the exit status.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Options of the outputs and the exit status, for a run and for a merge.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Also write one row per call (calls.csv, calls.json).
    #[arg(long)]
    pub per_call: bool,
    /// Exit 1 unless every cell's success rate is at least this (0 to 1).
    #[arg(long, value_name = "RATE")]
    pub min_success: Option<f64>,
    /// Exit 1 unless every cell's 90th percentile of time to connect is at most this (`3s`,
    /// `2500ms`).
    #[arg(long, value_name = "TIME")]
    pub max_p90_connect: Option<String>,
}

/// `callsim sweep merge`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SweepCommand {
    /// Combine the result files of `--shard` runs into the outputs one run would give.
    Merge {
        /// The shard result files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Where the outputs go.
        #[arg(long, value_name = "DIR", default_value = "target/callsim-sweep")]
        out: PathBuf,
        /// The outputs and the exit status.
        #[command(flatten)]
        report: ReportArgs,
    },
}

/// What is swept: the grid, the seeds, the talk time and the buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The swept conditions, in [`CONDITIONS`] order.
    pub axes: Vec<Axis>,
    /// Calls per cell.
    pub seeds: u64,
    /// The first seed.
    pub first_seed: u64,
    /// Seconds of talk per call.
    pub talk: f64,
    /// Histogram buckets, ms.
    pub buckets: Vec<u64>,
}

/// One call of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Its cell.
    pub cell: usize,
    /// Its seed.
    pub seed: u64,
    /// What it measured (`None` if the simulation failed).
    pub metrics: Option<CallMetrics>,
    /// Why the simulation failed.
    pub error: Option<String>,
}

/// A shard's result file (and the whole run's, internally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    /// [`RESULT_FORMAT`].
    pub format: String,
    /// The sweep.
    pub spec: Spec,
    /// Which part, `(i, n)`.
    pub shard: Option<(u64, u64)>,
    /// The calls of this part, by cell then seed.
    pub calls: Vec<CallRecord>,
}

impl Spec {
    /// The cells, each a list of `(condition, value)`.
    pub fn cells(&self) -> Vec<Vec<(String, String)>> {
        grid::cells(&self.axes)
    }

    /// How many calls the sweep runs.
    pub fn jobs(&self, cells: usize) -> usize {
        cells * self.seeds as usize
    }

    /// The `callsim call` options of one call of a cell.
    pub fn call_options(&self, cell: &[(String, String)], seed: u64) -> Vec<String> {
        let mut options = Vec::new();
        for (name, value) in cell {
            if let Some(c) = Condition::named(name) {
                options.extend(c.call_options(value));
            }
        }
        options.extend(["--talk".to_owned(), grid::number(self.talk)]);
        options.extend(["--seed".to_owned(), seed.to_string()]);
        options
    }

    /// The command that replays one call alone.
    pub fn replay_command(&self, cell: &[(String, String)], seed: u64) -> String {
        format!("callsim call {}", self.call_options(cell, seed).join(" "))
    }

    /// The sweep as one command, in canonical form (what made a report).
    pub fn command(&self) -> String {
        let mut words = vec!["callsim sweep".to_owned()];
        for axis in &self.axes {
            words.push(format!("--{} {}", axis.name, axis.values.join(",")));
        }
        words.push(format!("--seeds {}", self.seeds));
        if self.first_seed != 1 {
            words.push(format!("--first-seed {}", self.first_seed));
        }
        words.push(format!("--talk {}", grid::number(self.talk)));
        words.push(format!(
            "--buckets {}",
            self.buckets
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
        words.join(" ")
    }
}

const DEFAULT_BUCKETS: &str = "250,500,1000,2000,3000,5000,10000";

impl SweepArgs {
    /// The sweep these arguments ask for.
    pub fn spec(&self) -> Result<Spec, CliError> {
        let file = match &self.grid {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                grid::read_grid_file(path, &text).map_err(CliError::Usage)?
            }
            None => grid::GridFile::default(),
        };
        let given = |name: &str| -> Option<&String> {
            match name {
                "world" => self.world.as_ref(),
                "webrtc" => self.webrtc.as_ref(),
                "media" => self.media.as_ref(),
                "callkit" => self.callkit.as_ref(),
                "china" => self.china.as_ref(),
                "direct" => self.direct.as_ref(),
                "callee-app" => self.callee_app.as_ref(),
                "relay-latency" => self.relay_latency.as_ref(),
                "relay-loss" => self.relay_loss.as_ref(),
                "relay-restart" => self.relay_restart.as_ref(),
                "relay-outage" => self.relay_outage.as_ref(),
                "media-latency" => self.media_latency.as_ref(),
                "media-jitter" => self.media_jitter.as_ref(),
                "media-loss" => self.media_loss.as_ref(),
                "media-burst" => self.media_burst.as_ref(),
                "push-delay" => self.push_delay.as_ref(),
                "chat-start" => self.chat_start.as_ref(),
                "answer-delay" => self.answer_delay.as_ref(),
                _ => None,
            }
        };
        let mut axes = Vec::new();
        for condition in CONDITIONS {
            let list = given(condition.name).cloned().or_else(|| {
                file.conditions
                    .iter()
                    .find(|(n, _)| n == condition.name)
                    .map(|(_, l)| l.clone())
            });
            if let Some(list) = list {
                let values = condition.parse(&list).map_err(CliError::Usage)?;
                axes.push(Axis {
                    name: condition.name.to_owned(),
                    values,
                });
            }
        }
        let cells: usize = axes.iter().map(|a| a.values.len()).product();
        if cells > grid::MAX_CELLS {
            return Err(CliError::Usage(format!(
                "the grid has {cells} cells; at most {} (fewer values per condition)",
                grid::MAX_CELLS
            )));
        }
        let seeds = self.seeds.or(file.seeds).unwrap_or(20);
        if !(1..=1_000_000).contains(&seeds) {
            return Err(CliError::Usage("--seeds takes 1 to 1000000".into()));
        }
        let talk = self.talk.or(file.talk).unwrap_or(10.0);
        if !(talk.is_finite() && (0.0..=3_600.0).contains(&talk)) {
            return Err(CliError::Usage(
                "--talk takes seconds from 0 to 3600".into(),
            ));
        }
        let buckets_text = self
            .buckets
            .clone()
            .or(file.buckets)
            .unwrap_or_else(|| DEFAULT_BUCKETS.to_owned());
        let buckets = parse_buckets(&buckets_text)?;
        Ok(Spec {
            axes,
            seeds,
            first_seed: self.first_seed.or(file.first_seed).unwrap_or(1),
            talk,
            buckets,
        })
    }
}

fn parse_buckets(text: &str) -> Result<Vec<u64>, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--buckets takes rising whole milliseconds, e.g. {DEFAULT_BUCKETS}, not {text:?}"
        ))
    };
    let buckets: Vec<u64> = text
        .split(',')
        .map(|b| b.trim().parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if buckets.is_empty() || buckets.len() > 100 || buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad());
    }
    Ok(buckets)
}

fn parse_shard(text: &str) -> Result<(u64, u64), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--shard takes I/N with 0 <= I < N, e.g. 0/4, not {text:?}"
        ))
    };
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn parse_duration_ms(text: &str) -> Result<u64, CliError> {
    super::parse_time(text).map_err(|e| CliError::Usage(format!("--max-p90-connect {e}")))
}

/// Parses `callsim call`'s options, exactly as the command line does.
#[derive(Debug, Parser)]
#[command(name = "call")]
struct CallOnly {
    #[command(flatten)]
    args: CallArgs,
}

/// The `callsim call` arguments of one call; an error if the cell's options do not go
/// together (e.g. a relay fault on the in-memory world).
pub fn call_args(options: &[String]) -> Result<CallArgs, String> {
    let argv = std::iter::once("call".to_owned()).chain(options.iter().cloned());
    CallOnly::try_parse_from(argv)
        .map(|c| c.args)
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())
}

/// Runs one call of the sweep.
pub fn run_call(spec: &Spec, cells: &[Vec<(String, String)>], job: usize) -> CallRecord {
    let cell = job / spec.seeds as usize;
    let seed = spec.first_seed + (job % spec.seeds as usize) as u64;
    let options = spec.call_options(&cells[cell], seed);
    let run = call_args(&options)
        .and_then(|args| super::call::run_untraced(&args).map_err(|e| e.to_string()));
    match run {
        Ok(run) => CallRecord {
            cell,
            seed,
            metrics: Some(run.metrics),
            error: None,
        },
        Err(error) => CallRecord {
            cell,
            seed,
            metrics: None,
            error: Some(error),
        },
    }
}

/// Runs the given jobs on `threads` threads, calling `tick` after each; the records come back
/// in job order, whatever the threads did.
pub fn run_jobs(
    spec: &Spec,
    jobs: &[usize],
    threads: usize,
    tick: &(dyn Fn() + Sync),
) -> Vec<CallRecord> {
    let cells = spec.cells();
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, CallRecord)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&job) = jobs.get(k) else {
                            return mine;
                        };
                        mine.push((job, run_call(spec, &cells, job)));
                        tick();
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_by_key(|(job, _)| *job);
    done.into_iter().map(|(_, record)| record).collect()
}

/// Runs `callsim sweep`; true if every cell met the thresholds.
pub fn run(args: &SweepArgs, out: &mut impl Write, err: &mut impl Write) -> Result<bool, CliError> {
    if let Some(SweepCommand::Merge {
        files,
        out: dir,
        report,
    }) = &args.command
    {
        return merge(files, dir, report, out);
    }
    let spec = args.spec()?;
    let thresholds = Thresholds::of(&args.report)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err(CliError::Usage("--threads must be at least 1".into()));
    }
    let cells = spec.cells();
    // Check every cell's options before running anything.
    for cell in &cells {
        let bad = |e: String| CliError::Usage(format!("cell {}: {e}", describe_cell(cell)));
        let args = call_args(&spec.call_options(cell, spec.first_seed)).map_err(bad)?;
        super::call::check_simulated(&args).map_err(|e| bad(e.to_string()))?;
    }
    let jobs: Vec<usize> = (0..spec.jobs(cells.len()))
        .filter(|j| shard.is_none_or(|(i, n)| *j as u64 % n == i))
        .collect();
    writeln!(
        err,
        "sweeping {} cell(s) x {} seed(s): {} call(s) on {threads} thread(s){}",
        cells.len(),
        spec.seeds,
        jobs.len(),
        shard
            .map(|(i, n)| format!(" (shard {i}/{n})"))
            .unwrap_or_default()
    )?;
    let bar = progress_bar(jobs.len() as u64);
    let calls = run_jobs(&spec, &jobs, threads, &|| bar.inc(1));
    bar.finish_and_clear();
    let result = ResultFile {
        format: RESULT_FORMAT.to_owned(),
        spec,
        shard,
        calls,
    };
    if shard.is_some() {
        let (i, n) = result.shard.unwrap_or((0, 1));
        let path = args.out.join(format!("shard-{i}-of-{n}.json"));
        write_file(
            &path,
            &serde_json::to_string(&result).map_err(|e| CliError::Failed(e.to_string()))?,
        )?;
        writeln!(
            out,
            "wrote {} ({} calls); combine the shards with: callsim sweep merge FILES...",
            path.display(),
            result.calls.len()
        )?;
        return Ok(true);
    }
    report(
        &result.spec,
        &result.calls,
        &args.out,
        &args.report,
        &thresholds,
        out,
    )
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} calls, {per_sec}, {eta} left")
    {
        bar.set_style(style);
    }
    bar
}

fn describe_cell(cell: &[(String, String)]) -> String {
    if cell.is_empty() {
        return "(defaults)".into();
    }
    cell.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The thresholds of the exit status.
struct Thresholds {
    min_success: Option<f64>,
    max_p90_connect_ms: Option<u64>,
}

impl Thresholds {
    fn of(args: &ReportArgs) -> Result<Self, CliError> {
        if let Some(rate) = args.min_success
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(CliError::Usage(
                "--min-success takes a rate from 0 to 1, e.g. 0.99".into(),
            ));
        }
        Ok(Thresholds {
            min_success: args.min_success,
            max_p90_connect_ms: args
                .max_p90_connect
                .as_deref()
                .map(parse_duration_ms)
                .transpose()?,
        })
    }

    /// What a cell misses, in words.
    fn missed(&self, cell: &CellStats) -> Vec<String> {
        let mut missed = Vec::new();
        if let Some(min) = self.min_success
            && cell.success_rate < min
        {
            missed.push(format!("success {:.3} < {min}", cell.success_rate));
        }
        if let Some(max) = self.max_p90_connect_ms {
            match cell.connect_ms.p90 {
                Some(p90) if p90 <= max => {}
                Some(p90) => missed.push(format!("p90 connect {p90} ms > {max} ms")),
                None => missed.push("no call connected".into()),
            }
        }
        missed
    }
}

/// Aggregates, prints the table, writes the files; true if every cell met the thresholds.
fn report(
    spec: &Spec,
    calls: &[CallRecord],
    dir: &Path,
    args: &ReportArgs,
    thresholds: &Thresholds,
    out: &mut impl Write,
) -> Result<bool, CliError> {
    let cells = output::aggregate(spec, calls);
    output::table(spec, &cells, out)?;
    write_file(&dir.join("cells.csv"), &output::cells_csv(spec, &cells))?;
    write_file(&dir.join("cells.json"), &output::cells_json(spec, &cells)?)?;
    if args.per_call {
        write_file(&dir.join("calls.csv"), &output::calls_csv(spec, calls))?;
        write_file(&dir.join("calls.json"), &output::calls_json(spec, calls)?)?;
    }
    write_file(&dir.join("report.html"), &html::report(spec, &cells, calls))?;
    writeln!(
        out,
        "wrote {}/cells.csv, cells.json, report.html{}",
        dir.display(),
        if args.per_call {
            ", calls.csv, calls.json"
        } else {
            ""
        }
    )?;
    let mut ok = true;
    let errors: u64 = cells.iter().map(|c| c.errors).sum();
    if errors > 0 {
        ok = false;
        writeln!(
            out,
            "{errors} call(s) failed to simulate (a callsim bug): their replay commands are in report.html"
        )?;
    }
    for cell in &cells {
        let missed = thresholds.missed(cell);
        if !missed.is_empty() {
            ok = false;
            writeln!(
                out,
                "cell {} ({}) misses: {}",
                cell.cell,
                describe_cell(&cell.conditions),
                missed.join("; ")
            )?;
        }
    }
    Ok(ok)
}

fn merge(
    files: &[PathBuf],
    dir: &Path,
    args: &ReportArgs,
    out: &mut impl Write,
) -> Result<bool, CliError> {
    let thresholds = Thresholds::of(args)?;
    let mut spec: Option<Spec> = None;
    let mut calls: Vec<CallRecord> = Vec::new();
    let mut shards: Vec<(u64, u64)> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| CliError::Read {
            path: file.display().to_string(),
            source,
        })?;
        let part: ResultFile = serde_json::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "{} is not a result file of callsim sweep --shard: {e}",
                file.display()
            ))
        })?;
        if part.format != RESULT_FORMAT {
            return Err(CliError::Usage(format!(
                "{}: format {:?}, expected {RESULT_FORMAT:?}",
                file.display(),
                part.format
            )));
        }
        match &spec {
            None => spec = Some(part.spec.clone()),
            Some(s) if *s != part.spec => {
                return Err(CliError::Usage(format!(
                    "{} is from a different sweep ({}), not {}",
                    file.display(),
                    part.spec.command(),
                    s.command()
                )));
            }
            Some(_) => {}
        }
        shards.extend(part.shard);
        calls.extend(part.calls);
    }
    let Some(spec) = spec else {
        return Err(CliError::Usage("sweep merge needs result files".into()));
    };
    calls.sort_by_key(|c| (c.cell, c.seed));
    let cells = spec.cells().len();
    let expected = spec.jobs(cells);
    if let Some(twice) = calls
        .windows(2)
        .find(|w| (w[0].cell, w[0].seed) == (w[1].cell, w[1].seed))
    {
        return Err(CliError::Usage(format!(
            "call (cell {}, seed {}) is in more than one file: the same shard given twice?",
            twice[0].cell, twice[0].seed
        )));
    }
    if calls.len() != expected {
        let missing = match shards.first() {
            Some(&(_, n)) if shards.iter().all(|&(_, m)| m == n) => {
                let gone: Vec<String> = (0..n)
                    .filter(|i| !shards.iter().any(|&(j, _)| j == *i))
                    .map(|i| format!("{i}/{n}"))
                    .collect();
                format!(" (missing: --shard {})", gone.join(", "))
            }
            _ => String::new(),
        };
        return Err(CliError::Usage(format!(
            "the files hold {} of the sweep's {expected} calls: a shard is missing{missing}",
            calls.len()
        )));
    }
    report(&spec, &calls, dir, args, &thresholds, out)
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| CliError::WriteFile {
            path: parent.display().to_string(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| CliError::WriteFile {
        path: path.display().to_string(),
        source,
    })
}
