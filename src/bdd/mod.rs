//! The BDD runner: the scenario language of `spec/steps.md` over the turmoil world.
//!
//! Each scenario gets its own [`ScenarioState`] on its own thread (turmoil's simulation is not
//! `Send`), so cucumber runs several scenarios at once, one core each, and a scenario's result
//! depends only on its steps and its seed. The seed is `--seed` if given, else the scenario's
//! `@seed(N)` tag, else a hash of the feature file and the scenario's name: stable across runs.
//! After every scenario the standing invariants are checked; a failing scenario leaves its
//! trace and sequence diagrams under `target/callsim-bdd/` and a command that replays it.
//!
//! The run loop of a step: cucumber calls the step on its executor; the step sends a closure to
//! the scenario's thread and waits for its answer. `Given`s only shape the phones; the world is
//! built by the first step that needs it, with network changes asked for earlier applied then.
//! A `When` acts and runs one tick (10 simulated ms) so the phones see it, and marks the time
//! "within N seconds" counts from. Time only moves tick by tick through
//! [`ScenarioState::advance`], which records what the phones show ([`Observed`]) whenever it
//! changes and checks the "does not ring" guards, so a `Then ... within N seconds` can judge the
//! past as it was, and a ring is caught in the tick it starts.

mod scenario;
mod steps;

pub use scenario::{Observed, RING_GRACE_MS, ScenarioState, StepResult};

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use cucumber::writer::Ext as _;
use cucumber::{World, event, gherkin, parser, runner, writer, writer::Coloring};
use futures::FutureExt as _;
use futures::stream;

type Job = Box<dyn FnOnce(&mut ScenarioState) + Send>;

/// A scenario's thread, where its simulation runs; steps send it work and wait for the answer.
#[derive(Debug)]
pub struct ScenarioHandle {
    tx: mpsc::Sender<Job>,
}

impl ScenarioHandle {
    fn start(seed: u64, name: String) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        // A scenario whose thread cannot start fails at its first step.
        let _ = std::thread::Builder::new()
            .name(format!("scenario-{seed}"))
            .spawn(move || {
                // The phones' spans nest in this one, so a log names its scenario and seed.
                let span = tracing::info_span!("scenario", name = %name, seed);
                let _entered = span.enter();
                let mut state = ScenarioState::new(seed);
                for job in rx {
                    job(&mut state);
                }
            });
        ScenarioHandle { tx }
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ScenarioState) -> StepResult<T> + Send + 'static,
    ) -> StepResult<T> {
        let (reply, answer) = futures::channel::oneshot::channel();
        let job: Job = Box::new(move |state| {
            let result = catch_unwind(AssertUnwindSafe(|| f(state)))
                .unwrap_or_else(|panic| Err(panic_text(&panic)));
            let _ = reply.send(result);
        });
        self.tx
            .send(job)
            .map_err(|_| "the scenario's thread stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the scenario's thread stopped".to_owned())?
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a step panicked".into())
}

/// cucumber's world: a handle to the scenario's thread.
#[derive(Debug, World)]
#[world(init = Self::new)]
pub struct CallWorld {
    handle: Option<ScenarioHandle>,
    seed: u64,
    started: Instant,
}

impl CallWorld {
    fn new() -> Self {
        CallWorld {
            handle: None,
            seed: 0,
            started: Instant::now(),
        }
    }

    /// Runs `f` on the scenario; an `Err` fails the step with its message.
    pub async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut ScenarioState) -> StepResult<T> + Send + 'static,
    ) -> T {
        let result = match &self.handle {
            Some(handle) => handle.call(f).await,
            None => Err("the scenario was not started".into()),
        };
        match result {
            Ok(value) => value,
            Err(message) => panic!("{message}"),
        }
    }
}

/// What `callsim bdd` and the test runner take.
#[derive(Debug, Clone)]
pub struct BddOptions {
    /// Feature files or folders.
    pub paths: Vec<PathBuf>,
    /// A tag expression, e.g. `@accept and not @slow`.
    pub tags: Option<String>,
    /// Only scenarios whose name matches this regular expression.
    pub name: Option<String>,
    /// One seed for every scenario, instead of their own.
    pub seed: Option<u64>,
    /// Write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Write Cucumber JSON here.
    pub json: Option<PathBuf>,
    /// How many scenarios run at once (one thread each).
    pub concurrency: usize,
    /// Where failing scenarios leave their traces.
    pub artifacts: PathBuf,
    /// Print cucumber's step-by-step report too.
    pub steps: bool,
    /// Write the trace and diagrams of every scenario, not only the failing ones.
    pub keep_artifacts: bool,
    /// Show a running count of finished scenarios on stderr (for a terminal).
    pub progress: bool,
}

impl BddOptions {
    /// Runs `paths` with the defaults: every scenario, one per core, artifacts under `target/`.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        BddOptions {
            paths,
            tags: None,
            name: None,
            seed: None,
            junit: None,
            json: None,
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            artifacts: PathBuf::from("target/callsim-bdd"),
            steps: false,
            keep_artifacts: false,
            progress: false,
        }
    }
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The feature file.
    pub feature: PathBuf,
    /// The scenario's name.
    pub name: String,
    /// Its seed.
    pub seed: u64,
    /// Whether it passed (steps and invariants).
    pub passed: bool,
    /// Why it failed.
    pub failure: Option<String>,
    /// Simulated milliseconds it ran.
    pub sim_ms: u64,
    /// Wall-clock milliseconds it took.
    pub wall_ms: f64,
    /// Trace and diagrams of a failing scenario.
    pub artifacts: Vec<PathBuf>,
}

impl ScenarioReport {
    /// The command that replays this scenario alone, with its seed.
    pub fn replay(&self) -> String {
        // Relative to where the user is, as they would type it; absolute if elsewhere.
        let cwd = std::env::current_dir().unwrap_or_default();
        let feature = self.feature.strip_prefix(&cwd).unwrap_or(&self.feature);
        let path = feature.display().to_string();
        let plain = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
        let path = if plain {
            path
        } else {
            format!("'{}'", path.replace('\'', "'\\''"))
        };
        format!(
            "cargo run --release -- bdd {path} --name '^{}$' --seed {}",
            regex_escape(&self.name),
            self.seed
        )
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect::<String>()
        .replace('\'', "'\\''")
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Every scenario run, in order of completion.
    pub scenarios: Vec<ScenarioReport>,
    /// Whether anything failed: a step, a hook, an invariant, or a feature file.
    pub failed: bool,
    /// Feature files that could not be run, and why.
    pub problems: Vec<String>,
}

impl RunSummary {
    /// Scenarios that passed.
    pub fn passed(&self) -> usize {
        self.scenarios.iter().filter(|s| s.passed).count()
    }

    /// Whether the run is a success: something ran and everything passed. Nothing run counts
    /// as a failure, so a typo in `--tags` cannot pass CI.
    pub fn succeeded(&self) -> bool {
        !self.failed && !self.scenarios.is_empty() && self.passed() == self.scenarios.len()
    }
}

/// A seed from the scenario's `@seed(N)` tag, or a hash of where it is.
fn scenario_seed(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> u64 {
    scenario
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("seed(")?.strip_suffix(')')?.parse().ok())
        .unwrap_or_else(|| {
            let path = feature
                .path
                .as_deref()
                .and_then(Path::file_name)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            fnv1a(format!("{path}/{}", scenario.name).as_bytes())
        })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Reads several feature files or folders as one input, and notes the files it cannot use.
#[derive(Debug, Clone, Default)]
struct Paths {
    problems: Arc<Mutex<Vec<String>>>,
}

/// Two scenarios of one feature with the same name would share a seed, a replay command and an
/// artifact folder, so names must be unique within a file.
fn duplicate_name(feature: &gherkin::Feature) -> Option<String> {
    let scenarios = feature
        .scenarios
        .iter()
        .chain(feature.rules.iter().flat_map(|r| &r.scenarios));
    let mut seen = std::collections::BTreeMap::new();
    for scenario in scenarios {
        if let Some(line) = seen.insert(scenario.name.as_str(), scenario.position.line) {
            return Some(format!(
                "{}: two scenarios are named {:?} (lines {line} and {}); names identify scenarios for seeds and replays",
                feature.path.as_deref().unwrap_or(Path::new("?")).display(),
                scenario.name,
                scenario.position.line
            ));
        }
    }
    None
}

impl cucumber::Parser<Vec<PathBuf>> for Paths {
    type Cli = parser::basic::Cli;
    type Output = stream::Iter<std::vec::IntoIter<parser::Result<gherkin::Feature>>>;

    fn parse(self, input: Vec<PathBuf>, cli: Self::Cli) -> Self::Output {
        let mut features = Vec::new();
        let mut problems = Vec::new();
        for path in input {
            // Basic's stream is a ready iterator: no executor needed (we run inside one).
            let parsed = cucumber::Parser::parse(parser::Basic::new(), path, cli.clone());
            for feature in parsed.into_inner() {
                match &feature {
                    Err(e) => problems.push(format!("cannot read a feature: {e}")),
                    Ok(f) => {
                        if let Some(problem) = duplicate_name(f) {
                            problems.push(problem);
                            continue;
                        }
                    }
                }
                features.push(feature);
            }
        }
        if let Ok(mut all) = self.problems.lock() {
            all.extend(problems);
        }
        stream::iter(features)
    }
}

/// Runs the scenarios; prints cucumber's report (if asked) and a line per scenario.
pub fn run(options: &BddOptions, out: &mut impl Write) -> Result<RunSummary, String> {
    for path in &options.paths {
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
    }
    let tags = options
        .tags
        .as_deref()
        .map(|t| {
            t.parse::<TagOperation>()
                .map_err(|e| format!("bad --tags {t:?}: {e}"))
        })
        .transpose()?;
    let name = options
        .name
        .as_deref()
        .map(|n| regex::Regex::new(n).map_err(|e| format!("bad --name {n:?}: {e}")))
        .transpose()?;
    let reports: Arc<Mutex<Vec<ScenarioReport>>> = Arc::default();
    let paths = Paths::default();
    let sink = |path: &Option<PathBuf>| -> Result<Box<dyn Write>, String> {
        match path {
            Some(p) => std::fs::File::create(p)
                .map(|f| Box::new(f) as Box<dyn Write>)
                .map_err(|e| format!("cannot write {}: {e}", p.display())),
            None => Ok(Box::new(io::sink())),
        }
    };
    let steps_out: Box<dyn Write> = if options.steps {
        Box::new(io::stdout())
    } else {
        Box::new(io::sink())
    };
    let writer = writer::Basic::raw(steps_out, Coloring::Never, 0)
        .summarized()
        .tee::<CallWorld, _>(writer::JUnit::for_tee(sink(&options.junit)?, 0))
        .tee::<CallWorld, _>(writer::Json::for_tee(sink(&options.json)?))
        .normalized();
    let seed_override = options.seed;
    let (after_reports, artifacts) = (Arc::clone(&reports), options.artifacts.clone());
    let (keep_artifacts, progress) = (options.keep_artifacts, options.progress);
    // Our own command line, not cucumber's: `with_default_cli` stops it reading `argv`.
    let cucumber = cucumber::Cucumber::<_, _, Vec<PathBuf>, _, _, cucumber::cli::Empty>::custom(
        paths.clone(),
        runner::Basic::default().steps(CallWorld::collection()),
        writer,
    )
    .with_default_cli()
    .max_concurrent_scenarios(options.concurrency.max(1))
    .before(move |feature, _, scenario, world| {
        let seed = seed_override.unwrap_or_else(|| scenario_seed(feature, scenario));
        world.seed = seed;
        world.started = Instant::now();
        world.handle = Some(ScenarioHandle::start(seed, scenario.name.clone()));
        async {}.boxed_local()
    })
    .after(move |feature, rule, scenario, finished, world| {
        let reports = Arc::clone(&after_reports);
        let artifacts = artifacts.join(format!(
            "{}-{}",
            feature
                .path
                .as_deref()
                .and_then(Path::file_stem)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            slug(&scenario.name)
        ));
        let feature_path = feature.path.clone().unwrap_or_default();
        let name = scenario.name.clone();
        let cucumber_failed = matches!(
            finished,
            event::ScenarioFinished::StepFailed(..) | event::ScenarioFinished::BeforeHookFailed(_)
        );
        let step_failure = match finished {
            event::ScenarioFinished::StepFailed(_, _, err) => Some(step_failure_text(err)),
            event::ScenarioFinished::BeforeHookFailed(_) => Some("set-up failed".into()),
            event::ScenarioFinished::StepSkipped => Some(unknown_step(feature, rule, scenario)),
            event::ScenarioFinished::StepPassed => None,
        };
        async move {
            let Some(world) = world else {
                return;
            };
            let Some(handle) = world.handle.take() else {
                return;
            };
            let invariants = handle.call(|s| s.check_invariants()).await.err();
            let failure = step_failure.or(invariants);
            let ours = failure.clone().filter(|_| !cucumber_failed);
            let files = if failure.is_some() || keep_artifacts {
                handle
                    .call(move |s| Ok(write_artifacts(s, &artifacts)))
                    .await
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let sim_ms = handle
                .call(|s| Ok(s.built().map_or(0, |w| w.now().0)))
                .await
                .unwrap_or(0);
            let report = ScenarioReport {
                feature: feature_path,
                name,
                seed: world.seed,
                passed: failure.is_none(),
                failure,
                sim_ms,
                wall_ms: world.started.elapsed().as_secs_f64() * 1000.0,
                artifacts: files,
            };
            if let Ok(mut reports) = reports.lock() {
                reports.push(report);
                if progress {
                    let failed = reports.iter().filter(|r| !r.passed).count();
                    let _ = write!(
                        io::stderr(),
                        "\r{} scenarios run, {failed} failed",
                        reports.len()
                    );
                }
            }
            // cucumber counts a step's failure itself; ours (an unknown step, a broken invariant)
            // fail the scenario through its after hook.
            if let Some(why) = ours {
                panic!("{why}");
            }
        }
        .boxed_local()
    });
    let filter = move |feature: &gherkin::Feature,
                       rule: Option<&gherkin::Rule>,
                       scenario: &gherkin::Scenario| {
        // A scenario has its own tags and those of its rule and feature, as in Gherkin.
        let all = scenario
            .tags
            .iter()
            .chain(rule.iter().flat_map(|r| &r.tags))
            .chain(&feature.tags);
        tags.as_ref().is_none_or(|t| t.eval(all))
            && name.as_ref().is_none_or(|n| n.is_match(&scenario.name))
    };
    let finished = futures::executor::block_on(cucumber.filter_run(options.paths.clone(), filter));
    if progress {
        let _ = writeln!(io::stderr());
    }
    let failed = cucumber::writer::Stats::<CallWorld>::execution_has_failed(&finished);
    let mut scenarios = reports.lock().map(|r| r.clone()).unwrap_or_default();
    scenarios.sort_by(|a, b| (&a.feature, &a.name).cmp(&(&b.feature, &b.name)));
    let problems = paths.problems.lock().map(|p| p.clone()).unwrap_or_default();
    let summary = RunSummary {
        scenarios,
        failed: failed || !problems.is_empty(),
        problems,
    };
    print_report(&summary, out).map_err(|e| format!("cannot write the report: {e}"))?;
    Ok(summary)
}

/// Names the first step no definition matches (cucumber skips it; we fail the scenario).
fn unknown_step(
    feature: &gherkin::Feature,
    rule: Option<&gherkin::Rule>,
    scenario: &gherkin::Scenario,
) -> String {
    let steps = CallWorld::collection();
    let background = feature
        .background
        .iter()
        .chain(rule.and_then(|r| r.background.as_ref()))
        .flat_map(|b| &b.steps);
    background
        .chain(&scenario.steps)
        .find(|step| !matches!(steps.find(step), Ok(Some(_))))
        .map_or_else(
            || "a step was skipped".to_owned(),
            |step| {
                format!(
                    "line {}: \"{} {}\" is not a step of the scenario language (spec/steps.md)",
                    step.position.line,
                    step.keyword.trim(),
                    step.value
                )
            },
        )
}

/// A failed step's message, without cucumber's "Step panicked. Captured output:" prefix: our
/// steps fail by panicking with a sentence meant for the reader.
fn step_failure_text(err: &event::StepError) -> String {
    let text = err.to_string();
    text.strip_prefix("Step panicked. Captured output: ")
        .map(str::to_owned)
        .unwrap_or(text)
}

fn write_artifacts(state: &ScenarioState, dir: &Path) -> Vec<PathBuf> {
    let Some(world) = state.built() else {
        return Vec::new();
    };
    if std::fs::create_dir_all(dir).is_err() {
        return Vec::new();
    }
    let files = [
        ("trace.jsonl", world.trace_jsonl()),
        ("sequence.mmd", world.mermaid()),
        ("sequence.svg", world.svg()),
    ];
    files
        .into_iter()
        .filter_map(|(file, text)| {
            let path = dir.join(file);
            std::fs::write(&path, text).ok().map(|()| path)
        })
        .collect()
}

fn print_report(summary: &RunSummary, out: &mut impl Write) -> io::Result<()> {
    let mut sim_ms = 0;
    let mut wall_ms = 0.0;
    for s in &summary.scenarios {
        sim_ms += s.sim_ms;
        wall_ms += s.wall_ms;
        let status = if s.passed { "ok  " } else { "FAIL" };
        let feature = s
            .feature
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default();
        writeln!(
            out,
            "{status} {feature}: {} (sim {:.1}s, wall {:.0}ms, seed {})",
            s.name,
            s.sim_ms as f64 / 1000.0,
            s.wall_ms,
            s.seed
        )?;
        if !s.passed {
            if let Some(failure) = &s.failure {
                writeln!(out, "       why: {failure}")?;
            }
            writeln!(out, "       replay: {}", s.replay())?;
            for file in &s.artifacts {
                writeln!(out, "       wrote: {}", file.display())?;
            }
        }
    }
    for problem in &summary.problems {
        writeln!(out, "FAIL {problem}")?;
    }
    if summary.scenarios.is_empty() && summary.problems.is_empty() {
        writeln!(
            out,
            "no scenario matched: check the paths, --tags and --name"
        )?;
    }
    let failed = summary.scenarios.len() - summary.passed();
    writeln!(
        out,
        "{} scenarios: {} passed, {failed} failed; {:.1}s simulated in {:.2}s of scenario wall time",
        summary.scenarios.len(),
        summary.passed(),
        sim_ms as f64 / 1000.0,
        wall_ms / 1000.0
    )?;
    writeln!(out, "{} passed, {failed} failed", summary.passed())
}
