//! The `callsim` command line: argument parsing and dispatch.

pub mod bdd;
pub mod bench;
pub mod call;
pub mod example;
pub mod explore;
pub mod phone;
pub mod protocol;
pub mod sweep;
pub mod turn;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Everything that can stop a command before it has done its work.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An input file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file named on the command line.
        path: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Write(#[from] io::Error),
    /// A file named on the command line could not be written.
    #[error("cannot write {path}: {source}")]
    WriteFile {
        /// The file.
        path: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The command's own arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The command ran but did not finish its work (a simulation or network failure, a report
    /// that could not be written after the run): exit status 1, not a usage error.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The exit status: 2 when the command could not start, 1 when it started and failed.
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Read { .. }
            | CliError::Write(_)
            | CliError::WriteFile { .. }
            | CliError::Usage(_) => 2,
        }
    }
}

impl From<crate::bdd::BddError> for CliError {
    fn from(e: crate::bdd::BddError) -> Self {
        use crate::bdd::BddError;
        match e {
            BddError::Usage(message) => CliError::Usage(message),
            BddError::Output(e) => CliError::Write(e),
            e @ (BddError::Report { .. } | BddError::Thread(_)) => CliError::Failed(e.to_string()),
        }
    }
}

impl From<call::CallCommandError> for CliError {
    fn from(e: call::CallCommandError) -> Self {
        match e {
            call::CallCommandError::Usage(message) => CliError::Usage(message),
            e => CliError::Failed(e.to_string()),
        }
    }
}

const ABOUT: &str = "Simulate and test SimpleX-style 1:1 audio/video calls, deterministically";

const LONG_ABOUT: &str = "\
callsim reproduces the call flow of SimpleX Chat's iOS app: the chat-core call protocol \
(x.call.inv, x.call.offer, x.call.answer, x.call.extra, x.call.end), the X25519 call key and \
media frame encryption, and the app logic above it (CallKit, the 30 s answer wait, \
fulfil-on-connect, China mode, audio routing), in simulated time.

The main job is `bdd`: Gherkin scenarios of call flows (the language `callsim steps` prints) \
run on phones and a relay under a deterministic network simulation, each with a seed that \
replays it exactly. `call` runs one call from the command line; `protocol` reads and writes \
the wire messages; `bench` measures.";

const AFTER_HELP: &str = "\
Examples:
  callsim bdd features/
  callsim bdd features/races.feature --seeds 1..1000
  callsim steps
  callsim call --answer-delay 29 --seed 7
  callsim protocol example | callsim protocol decode";

/// The command line of the `callsim` binary.
#[derive(Debug, Parser)]
#[command(
    name = "callsim",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Gherkin call-flow scenarios (the language of spec/steps.md) on the simulated world.
    ///
    /// Every scenario runs with a seed (`--seed`/`--seeds`, its or its feature's `@seed(N)`
    /// tag, or a hash of its file's name and its name), in simulated time, on its own thread.
    /// A line per scenario comes as it finishes, with its simulated and wall time; a failing
    /// scenario also gets why, the command that replays it alone, and its trace and sequence
    /// diagrams written under --artifacts. Exit status: 0 if every scenario passed, 1 if any
    /// failed (or a feature file could not be read), 2 if the run could not start.
    #[command(
        after_help = "Examples:\n  callsim bdd features/\n  callsim bdd features/races.feature --tags @glare --steps\n  callsim bdd features/ --shard 2/4 --junit report.xml --json cucumber.json\n  callsim bdd features/races.feature --seeds 1..1000\n  callsim bdd --list"
    )]
    Bdd(bdd::BddArgs),
    /// Print the scenario language: every step with what it means.
    Steps,
    /// Read, write and generate x.call.* chat messages.
    #[command(subcommand)]
    Protocol(ProtocolCommand),
    /// Measure throughput (build with --release for meaningful figures).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run one simulated call between two phones under turmoil and print its timeline.
    ///
    /// The phones and an SMP relay run as hosts of a deterministic network simulation: signalling
    /// over TCP through the relay, media over UDP (through TURN by default, as SimpleX) between
    /// the phones, every frame encrypted with the call's key. The faults and settings of the
    /// scenario language are options, timed from the call button. The same --seed gives the
    /// same run, event for event. Exit status: 0 if the call did what was asked (connected and
    /// ended on both phones; with --answer none, rang and ended), 1 if not, 2 on bad options.
    #[command(
        after_help = "Examples:\n  callsim call --media video --media-loss 5 --seed 7 --mermaid call.mmd\n  # the CallKit answer race: the chat needs 31 s, the answer waits 30 s\n  callsim call --callee-app not-running --chat-start 31 --answer-delay 1\n  callsim call --partition callee:2:5 --hold x.call.answer --release-at 8"
    )]
    Call(call::CallArgs),
    /// Explore every interleaving of a call between Alice and Bob with a model checker.
    ///
    /// The phones are callsim's own (the in-memory world, scripted WebRTC); a step is a relay
    /// hop, a push, a WebRTC event, a chat starting, a timer, or a user action of the menu
    /// (Alice may call and end; Bob may answer or decline on CallKit and end; options add
    /// more), each at most once. Checks the standing invariants at every quiet state and
    /// liveness at the end, and shows which named races are reachable. Each broken invariant
    /// is printed step by step and saved as a replay file, a Gherkin scenario for the turmoil
    /// world and a Mermaid diagram. Exit status: 0 if no invariant broke, 1 if one did.
    #[command(
        after_help = "Examples:\n  callsim explore\n  callsim explore --callkit-off bob --app-actions --kill\n  callsim explore --plant-bug callee-loses-end\n  callsim explore --replay target/callsim-explore/counterexample-1.json"
    )]
    Explore(explore::ExploreArgs),
    /// Run a grid of network and phone conditions, N seeds per cell, and report SIPp-style
    /// statistics per cell.
    ///
    /// Each call is `callsim call` with the cell's options and a seed, run on every core; per
    /// cell: calls attempted, rang, connected, as asked, failures by cause (with the seeds and
    /// the command that replays one), ring and connect times (p50/p90/p99 and histograms),
    /// media frames, loss, jitter, RTT and an E-model MOS. Writes a table, cells.csv,
    /// cells.json, report.html (calls.csv/json with --per-call) under --out. Lists: `0,5,10`,
    /// ranges `0..30/5`; a TOML grid file with --grid. --shard I/N runs a part and `sweep merge`
    /// combines the parts into the same files. Exit status: 0 if every cell meets
    /// --min-success and --max-p90-connect, 1 if one does not, 2 on bad input.
    #[command(
        after_help = "Examples:\n  callsim sweep --media-loss 0..30/5 --seeds 200\n  callsim sweep --media-latency 50,150,300 --direct off,on --min-success 0.99 --max-p90-connect 3s\n  callsim sweep --grid grid.toml --shard 0/4 --out shards && callsim sweep merge shards/*.json"
    )]
    Sweep(Box<sweep::SweepArgs>),
    /// One callsim phone against another client: the engine, SimpleX's app logic and the
    /// real WebRTC stack (webrtc-rs) on real UDP, with its relay connection as a line stream.
    ///
    /// Every chat message the phone sends (`x.call.*` and delivery receipts, the core's exact
    /// JSON) is one line on stdout (or the --listen/--connect TCP connection); every line read
    /// is a message from the peer. Events go to stderr (or --events FILE) as JSON lines: the
    /// phone's inputs and outputs (states, CallKit actions, chat items, errors), `stats` every
    /// second, an `error` per bad input line or refused message, and a final `summary`. A line
    /// that is not a JSON object, not UTF-8, or longer than 1 MiB, is an error event, never a crash; the
    /// input closing ends the call as a dead link would. Exit status: 0 if the call did what
    /// was asked (connected and ended; declined or unanswered: ended without connecting), 1
    /// if not, 2 on bad options.
    #[command(
        after_help = "Examples:\n  callsim phone --name Bob --peer Alice --listen 127.0.0.1:7000 --answer callkit --answer-after 1s\n  callsim phone --name Alice --peer Bob --connect 127.0.0.1:7000 --call video --hang-up-after 10s\n  mkfifo a b\n  callsim phone --call audio --hang-up-after 5s > b < a &\n  callsim phone --name Bob --peer Alice < b > a"
    )]
    Phone(Box<phone::PhoneArgs>),
    /// Run a TURN server (RFC 8656 over UDP) for `callsim phone`s and other clients.
    ///
    /// The same server the simulated worlds run for relay-only calls (turn-server-proto),
    /// on a real interface, with the credentials SimpleX's apps use unless --user and
    /// --password say otherwise. The first line on stdout names its URL and credentials; it
    /// runs until interrupted (Ctrl-C) or --stop-after. Media between two clients of the
    /// server stays inside it. RUST_LOG=info logs each allocation (none means no client got
    /// through: a wrong address or password). Exit status: 0 when stopped by --stop-after, 1
    /// if the server fails, 2 on bad options (an address that cannot be bound).
    #[command(
        after_help = "Examples:\n  callsim turn --listen 127.0.0.1:3478\n  callsim turn --listen 0.0.0.0:3478 --external-ip 192.168.1.20\n  callsim phone --name Alice --peer Bob --turn turn:127.0.0.1:3478 --call audio ..."
    )]
    Turn(turn::TurnArgs),
}

/// `callsim bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Complete audio calls under turmoil with SimRtc, one simulation per call, on one thread.
    ///
    /// Each call: invite, CallKit answer, ICE and DTLS over simulated UDP, 10 s of encrypted
    /// media, end. Then the same calls hand-written on raw turmoil (six encrypted signalling
    /// messages, 10 s of AES-GCM audio each way, nothing else), and idle worlds for as long.
    /// Prints `calls`, `wall_seconds`, `calls_per_second`, `sim_seconds`, `sim_to_wall`,
    /// `raw_turmoil_calls_per_second`, `idle_world_share` (the part of the wall time the
    /// ticks of an idle world cost) and `turmoil_floor_calls_per_second` (turmoil alone: three
    /// hosts that only sleep, as long as the calls), one per line; progress goes to stderr.
    Turmoil {
        /// How many calls to run.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
        calls: u64,
    },
    /// Complete audio calls in the in-memory world with SimRtc media, a fresh world per call,
    /// on one thread: the same calls as `bench turmoil`, time jumping from event to event.
    ///
    /// Then the same calls with the scripted WebRTC (no packets), to show what the media
    /// costs. Prints `calls`, `wall_seconds`, `calls_per_second`, `sim_to_wall`,
    /// `scripted_calls_per_second` and `media_share`, one per line; progress goes to stderr.
    Memory {
        /// How many calls to run.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
        calls: u64,
    },
    /// The explorer's default model (`callsim explore` with no options), searched exhaustively
    /// `runs` times: prints `states_generated`, `unique_states`, `wall_seconds`,
    /// `states_per_second` (generated states over wall time) and `threads`.
    Explore {
        /// How many exhaustive searches to run.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Real webrtc-rs calls connecting under turmoil, one simulation per call, on one thread.
    ///
    /// Each call: invite, CallKit answer, offer and answer through the relay, then ICE, DTLS
    /// and SRTP of the real stack over simulated UDP until both phones are connected. The
    /// connect time runs from the call button to both phones connected. Peer to peer, then
    /// relay-only through the world's TURN server. Prints `calls`, `median_connect_wall_ms`
    /// and `median_connect_sim_ms` (and the 90th percentiles), then the same with `turn_`
    /// before them, one per line; progress goes to stderr.
    RealWebrtc {
        /// How many calls to connect.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        calls: u64,
    },
    /// Complete calls through the in-memory world on one thread, encrypted and plain.
    ///
    /// Each call: invite, CallKit answer, WebRTC connect, 10 s of simulated call, end, both
    /// phones idle. Prints `calls`, `calls_per_second_encrypted`, `calls_per_second_plain` and
    /// `sim_to_wall`, one per line; progress goes to stderr.
    Engine {
        /// How many calls to run in each mode.
        #[arg(long, default_value_t = 20_000)]
        calls: u64,
    },
    /// `callsim sweep`'s calls on every core: complete audio calls with 10 s of media (the
    /// defaults of `callsim call`: relay-only through TURN), one simulation per call, in each
    /// world. Prints, per world, `<world>_calls`, `<world>_wall_seconds`,
    /// `<world>_calls_per_second` and `<world>_seconds_per_10000_calls`; for turmoil also
    /// `turmoil_floor_seconds_per_10000_calls`, what turmoil alone takes for as many idle
    /// simulations of the same hosts and length; then `threads`.
    Sweep {
        /// How many calls per world.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
        calls: u64,
        /// Only this world (default: both).
        #[arg(long, value_enum)]
        world: Option<call::WorldKind>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The scenario suite, on every core as `callsim bdd` runs it.
    ///
    /// Prints `scenarios`, `wall_seconds`, `sim_seconds` and `sim_to_wall` (simulated seconds of
    /// all scenarios per wall-clock second of the whole run), one per line.
    Bdd {
        /// Feature files or folders.
        #[arg(value_name = "PATH", default_value = "features")]
        paths: Vec<PathBuf>,
    },
}

/// `callsim protocol ...`
#[derive(Debug, Subcommand)]
pub enum ProtocolCommand {
    /// Decode wire messages, one JSON chat message per line, into readable JSON.
    ///
    /// Each message is printed as pretty JSON with `rtcSession` and `rtcIceCandidates` expanded
    /// from lz-string into the SDP and candidate JSON they hold (plain text that is not lz-string
    /// stays a string). A line that fails is reported on stderr with its line number and what is
    /// wrong; the other lines are still decoded. Blank lines are skipped. Exit status: 0 if every
    /// line decoded, 1 if any failed, 2 if the input could not be read.
    #[command(after_help = "Example:\n  callsim protocol example | callsim protocol decode")]
    Decode {
        /// File to read, or `-` for standard input.
        #[arg(value_name = "FILE", default_value = "-")]
        input: PathBuf,
    },
    /// Encode readable messages (as `decode` prints them, or hand-written) into wire form.
    ///
    /// The input is a sequence of JSON objects, each on one line or spread over several.
    /// `rtcSession` and `rtcIceCandidates` may be JSON (an SDP object, a candidate array), which
    /// is lz-string compressed as the apps do it, or a string, which is kept as it is. Each
    /// message is checked like a received one and printed as one line of wire JSON. Exit status:
    /// 0 if every message encoded, 1 if any failed, 2 if the input could not be read.
    #[command(
        after_help = "Example:\n  callsim protocol decode calls.jsonl > calls.json\n  $EDITOR calls.json\n  callsim protocol encode calls.json > edited.jsonl"
    )]
    Encode {
        /// File to read, or `-` for standard input.
        #[arg(value_name = "FILE", default_value = "-")]
        input: PathBuf,
    },
    /// Print the five wire messages of a complete call between Alice and Bob.
    ///
    /// Keys, ids and candidates come from a generator seeded with `--seed`, so the same seed
    /// prints the same bytes. The media key both phones derive is reported on stderr.
    Example {
        /// Seed of the generator for keys, ids and message ids.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Media of the call.
        #[arg(long, value_enum, default_value_t = Media::Video)]
        media: Media,
        /// Make a call without end-to-end encryption (no X25519 keys in the messages).
        #[arg(long)]
        no_encryption: bool,
    },
}

/// `--media` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Media {
    /// An audio call.
    Audio,
    /// A video call.
    Video,
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match execute(cli) {
        Ok(code) => code,
        // `callsim ... | head` closes the pipe early; that is not an error.
        Err(CliError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "callsim: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// A time as `2s`, `500ms` or plain seconds (up to a day), in ms: one syntax for every option
/// that takes a time.
pub(crate) fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || format!("takes a time such as 2s, 500ms or 1.5, not {text:?}");
    let (number, scale) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 1.0),
        None => (text.strip_suffix('s').unwrap_or(text), 1000.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(value.is_finite() && (0.0..=86_400.0).contains(&(value * scale / 1000.0))) {
        return Err(bad());
    }
    Ok((value * scale).round() as u64)
}

fn phone_exit(args: &phone::PhoneArgs) -> Result<ExitCode, CliError> {
    Ok(if phone::run(args)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn execute(cli: Cli) -> Result<ExitCode, CliError> {
    // The phone writes its messages to stdout from a thread of its own, line by line: it must
    // not find stdout locked here.
    if let Command::Phone(args) = &cli.command {
        return phone_exit(args);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    // Not locked for the whole command: scenario threads log to stderr meanwhile.
    let mut err = io::stderr();
    let code = match cli.command {
        Command::Protocol(ProtocolCommand::Decode { input }) => {
            let reader = open(&input)?;
            let summary = protocol::decode(reader, &mut out, &mut err).map_err(|e| match e {
                protocol::StreamError::Read(source) => read_error(&input, source),
                protocol::StreamError::Write(e) => CliError::Write(e),
            })?;
            summary.exit_code()
        }
        Command::Protocol(ProtocolCommand::Encode { input }) => {
            let reader = open(&input)?;
            let summary = protocol::encode(reader, &mut out, &mut err).map_err(|e| match e {
                protocol::StreamError::Read(source) => read_error(&input, source),
                protocol::StreamError::Write(e) => CliError::Write(e),
            })?;
            summary.exit_code()
        }
        Command::Bench(BenchCommand::Engine { calls }) => match bench::engine(calls, &mut err) {
            Ok(figures) => {
                bench::print_engine(&figures, &mut out)?;
                ExitCode::SUCCESS
            }
            Err(e) => {
                writeln!(err, "callsim: benchmark failed: {e}")?;
                ExitCode::FAILURE
            }
        },
        Command::Bench(BenchCommand::Turmoil { calls }) => match bench::turmoil(calls, &mut err) {
            Ok(figures) => {
                bench::print_turmoil(&figures, &mut out)?;
                ExitCode::SUCCESS
            }
            Err(e) => {
                writeln!(err, "callsim: benchmark failed: {e}")?;
                ExitCode::FAILURE
            }
        },
        Command::Bench(BenchCommand::Sweep {
            calls,
            world,
            threads,
        }) => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1);
            let worlds = match world {
                Some(w) => vec![w],
                None => vec![call::WorldKind::Turmoil, call::WorldKind::Memory],
            };
            for world in worlds {
                let name = match world {
                    call::WorldKind::Turmoil => "turmoil",
                    call::WorldKind::Memory => "memory",
                };
                let spec = sweep::Spec {
                    axes: vec![sweep::grid::Axis {
                        name: "world".into(),
                        values: vec![name.into()],
                    }],
                    seeds: calls,
                    first_seed: 1,
                    talk: 10.0,
                    buckets: vec![1_000],
                };
                let jobs: Vec<usize> = (0..calls as usize).collect();
                writeln!(err, "{calls} {name} calls on {threads} thread(s)...")?;
                let started = crate::wall::now();
                let records = sweep::run_jobs(&spec, &jobs, threads, &|| {});
                let wall = started.elapsed().as_secs_f64().max(1e-9);
                let failed = records
                    .iter()
                    .filter(|r| r.metrics.as_ref().is_none_or(|m| m.cause.is_some()))
                    .count();
                if failed > 0 {
                    return Err(CliError::Failed(format!(
                        "{failed} of {calls} {name} calls did not complete"
                    )));
                }
                writeln!(out, "{name}_calls {calls}")?;
                writeln!(out, "{name}_wall_seconds {wall:.3}")?;
                writeln!(out, "{name}_calls_per_second {:.1}", calls as f64 / wall)?;
                writeln!(
                    out,
                    "{name}_seconds_per_10000_calls {:.1}",
                    10_000.0 * wall / calls as f64
                )?;
                if world == call::WorldKind::Turmoil {
                    let floor = bench::sweep_turmoil_floor(&spec, calls, threads, &mut err)
                        .map_err(CliError::Failed)?;
                    writeln!(
                        out,
                        "turmoil_floor_seconds_per_10000_calls {:.1}",
                        10_000.0 * floor / calls as f64
                    )?;
                }
            }
            writeln!(out, "threads {threads}")?;
            ExitCode::SUCCESS
        }
        Command::Bench(BenchCommand::Explore { runs, threads }) => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1);
            let options = callsim_sim::explore::ExploreOptions {
                threads,
                max_states: None,
                walks: None,
            };
            let config = callsim_sim::explore::ExploreConfig::default();
            let started = crate::wall::now();
            let (mut generated, mut unique) = (0, 0);
            for run in 1..=runs {
                let report = callsim_sim::explore::explore(&config, &options);
                generated += report.generated;
                unique = report.unique;
                writeln!(err, "run {run}/{runs}: {} states", report.generated)?;
            }
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            writeln!(out, "states_generated: {generated}")?;
            writeln!(out, "unique_states: {unique}")?;
            writeln!(out, "wall_seconds: {seconds:.3}")?;
            writeln!(out, "states_per_second: {:.0}", generated as f64 / seconds)?;
            writeln!(out, "threads: {threads}")?;
            ExitCode::SUCCESS
        }
        Command::Bench(BenchCommand::Memory { calls }) => match bench::memory(calls, &mut err) {
            Ok(figures) => {
                bench::print_memory(&figures, &mut out)?;
                ExitCode::SUCCESS
            }
            Err(e) => {
                writeln!(err, "callsim: benchmark failed: {e}")?;
                ExitCode::FAILURE
            }
        },
        Command::Bench(BenchCommand::RealWebrtc { calls }) => {
            let both = bench::real_webrtc(calls, false, &mut err)
                .and_then(|direct| Ok((direct, bench::real_webrtc(calls, true, &mut err)?)));
            match both {
                Ok((direct, turn)) => {
                    bench::print_real_webrtc(&direct, &turn, &mut out)?;
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    writeln!(err, "callsim: benchmark failed: {e}")?;
                    ExitCode::FAILURE
                }
            }
        }
        Command::Steps => {
            write!(out, "{}", crate::bdd::language::describe())?;
            ExitCode::SUCCESS
        }
        Command::Bdd(args) => {
            let summary = crate::bdd::run(&args.options(), &mut out)?;
            let ok = if args.list {
                summary.problems.is_empty()
            } else {
                summary.succeeded()
            };
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Bench(BenchCommand::Bdd { paths }) => match bench::bdd(paths, &mut err) {
            Ok(figures) => {
                bench::print_bdd(&figures, &mut out)?;
                ExitCode::SUCCESS
            }
            Err(e) => {
                writeln!(err, "callsim: benchmark failed: {e}")?;
                ExitCode::FAILURE
            }
        },
        // Handled before stdout is locked; here only for the match to be whole.
        Command::Phone(args) => phone_exit(&args)?,
        Command::Turn(args) => {
            turn::run(&args, &mut out)?;
            ExitCode::SUCCESS
        }
        Command::Sweep(args) => {
            if sweep::run(&args, &mut out, &mut err)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Explore(args) => {
            if explore::run(&args, &mut out, &mut err)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Call(args) => {
            let run = call::run(&args)?;
            call::print(&args, &run, &mut out)?;
            if run.outcome.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Protocol(ProtocolCommand::Example {
            seed,
            media,
            no_encryption,
        }) => {
            let example = example::call(seed, media, !no_encryption);
            for line in &example.lines {
                writeln!(out, "{line}")?;
            }
            match example.media_key {
                Some(key) => writeln!(err, "media key (v1) derived by both phones: {key}")?,
                None => writeln!(err, "no media key: the call is not end-to-end encrypted")?,
            }
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

fn read_error(path: &std::path::Path, source: io::Error) -> CliError {
    CliError::Read {
        path: display_path(path),
        source,
    }
}

fn display_path(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

fn open(path: &std::path::Path) -> Result<Box<dyn BufRead>, CliError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    File::open(path)
        .map(|f| Box::new(BufReader::new(f)) as Box<dyn BufRead>)
        .map_err(|source| read_error(path, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bdd::BddError;

    #[test]
    fn a_run_that_could_not_start_is_a_usage_error_and_one_that_failed_after_is_not() {
        let usage = CliError::from(BddError::Usage("bad --tags".into()));
        assert_eq!(usage.exit_code(), 2);
        let report = CliError::from(BddError::Report {
            path: "out/junit.xml".into(),
            reason: "disk full".into(),
        });
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.to_string(),
            "cannot write the report out/junit.xml: disk full"
        );
        let world = CliError::from(call::CallCommandError::World(
            callsim_sim::WorldError::Simulation("turmoil stopped".into()),
        ));
        assert_eq!(world.exit_code(), 1);
        assert!(world.to_string().contains("turmoil stopped"), "{world}");
        let names = CliError::from(call::CallCommandError::from(
            "--from and --to must be names",
        ));
        assert_eq!(names.exit_code(), 2);
    }
}
