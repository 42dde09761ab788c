//! One scenario, run on the calling thread: its steps against the language, then the standing
//! invariants, then its artifacts if it failed (or if asked).

use callsim_sim::World;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::catalog::{ScenarioSpec, StepSpec};
use super::language::{Lookup, Mode, language};
use super::{ScenarioState, known};

/// How a step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// It ran and held.
    Passed,
    /// It ran and failed, with why.
    Failed(String),
    /// It did not run: an earlier step failed.
    Skipped,
    /// No step of the language matches it.
    Undefined(String),
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The keyword as written.
    pub keyword: String,
    /// The text after it.
    pub text: String,
    /// Its line.
    pub line: usize,
    /// Whether it belongs to the background.
    pub background: bool,
    /// How it went.
    pub status: StepStatus,
    /// Wall-clock time it took.
    pub duration: Duration,
}

/// What a scenario run needs besides its steps.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Where failing scenarios (or all, with `keep_artifacts`) leave their traces.
    pub artifacts: PathBuf,
    /// Write the trace and diagrams of passing scenarios too.
    pub keep_artifacts: bool,
    /// The simulated time a scenario may run, in ms.
    pub max_sim_ms: u64,
}

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Whether every step and every invariant held.
    pub passed: bool,
    /// The first failure, for a person.
    pub failure: Option<String>,
    /// Each step, background first.
    pub steps: Vec<StepReport>,
    /// Simulated ms the scenario ran.
    pub sim_ms: u64,
    /// Wall-clock time it took.
    pub wall: Duration,
    /// The trace and diagrams written.
    pub artifacts: Vec<PathBuf>,
}

/// Runs `spec` with `seed` on this thread.
pub fn run(spec: &ScenarioSpec, seed: u64, settings: &ExecSettings) -> Outcome {
    let started = crate::wall::now();
    let span = tracing::info_span!("scenario", name = %spec.name, seed);
    let _entered = span.enter();
    let mut state = ScenarioState::new(seed);
    state.set_max_sim_ms(settings.max_sim_ms);
    let mut steps = Vec::new();
    let mut failure: Option<String> = None;
    let all = spec
        .background
        .iter()
        .map(|s| (s, true))
        .chain(spec.steps.iter().map(|s| (s, false)));
    for (step, background) in all {
        let step_started = crate::wall::now();
        let status = if failure.is_some() {
            StepStatus::Skipped
        } else {
            run_step(&mut state, step)
        };
        match &status {
            StepStatus::Failed(why) | StepStatus::Undefined(why) => {
                failure = Some(format!(
                    "line {}: {} {}: {why}",
                    step.line, step.keyword, step.text
                ));
            }
            StepStatus::Passed | StepStatus::Skipped => {}
        }
        steps.push(StepReport {
            keyword: step.keyword.clone(),
            text: step.text.clone(),
            line: step.line,
            background,
            status,
            duration: step_started.elapsed(),
        });
    }
    if failure.is_none() {
        let invariants = catch_unwind(AssertUnwindSafe(|| state.check_invariants()))
            .unwrap_or_else(|panic| Err(panic_text(&panic)));
        if let Err(why) = invariants {
            failure = Some(why);
        }
    }
    if let Some(why) = failure.as_mut()
        && let Some(note) = known::explain(&state)
    {
        why.push_str("\n       ");
        why.push_str(&note);
    }
    let artifacts = if failure.is_some() || settings.keep_artifacts {
        write_artifacts(&state, &settings.artifacts.join(artifact_dir(spec, seed)))
    } else {
        Vec::new()
    };
    Outcome {
        passed: failure.is_none(),
        failure,
        steps,
        sim_ms: state.built().map_or(0, |w| w.now().0),
        wall: started.elapsed(),
        artifacts,
    }
}

fn run_step(state: &mut ScenarioState, step: &StepSpec) -> StepStatus {
    match language().find(step.kind, &step.text) {
        Lookup::Found(def, args) => {
            let result = catch_unwind(AssertUnwindSafe(|| {
                (def.run)(state, &args)?;
                match def.mode {
                    Mode::Plain => Ok(()),
                    Mode::Act => state.when_done(),
                    Mode::Change if state.built().is_some() => state.when_done(),
                    Mode::Change => Ok(()),
                }
            }))
            .unwrap_or_else(|panic| Err(panic_text(&panic)));
            match result {
                Ok(()) => StepStatus::Passed,
                Err(why) => StepStatus::Failed(with_in_flight(state, def, &args, why)),
            }
        }
        Lookup::WrongKeyword(def) => StepStatus::Undefined(format!(
            "this is a step of another keyword: {}",
            super::language::written(def)
        )),
        Lookup::Unknown(close) => {
            let mut why =
                "not a step of the scenario language (`callsim steps` lists them)".to_owned();
            if !close.is_empty() {
                why.push_str("; did you mean: ");
                why.push_str(&close.join(" | "));
            }
            StepStatus::Undefined(why)
        }
    }
}

/// A check of "now" that failed while messages to the phones it names were not in yet says
/// which, and when they come: a "within" form would have waited for them.
fn with_in_flight(
    state: &ScenarioState,
    def: &super::language::StepDef,
    args: &super::language::Args<'_>,
    mut why: String,
) -> String {
    let now_check = def.keywords == [super::language::Keyword::Then]
        && !def.form.contains("within")
        && !def.form.contains("does not ring");
    if !now_check {
        return why;
    }
    let mut named = Vec::new();
    for i in 0..args.len() {
        if let Ok(id) = state.phone(&args.text(i))
            && !named.contains(&id)
        {
            named.push(id);
        }
    }
    for id in named {
        if let Some(note) = state.in_flight_note(id) {
            why.push_str("\n       ");
            why.push_str(&note);
        }
    }
    why
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a step panicked".into());
    format!("callsim failed inside the step (a bug to report): {text}")
}

/// The folder of a scenario's artifacts: its file, its name, and its seed when it is not the
/// scenario's own (several seeds of one scenario keep apart).
pub fn artifact_dir(spec: &ScenarioSpec, seed: u64) -> String {
    let mut dir = format!("{}-{}", spec.file_stem(), slug(&spec.name));
    if seed != spec.seed() {
        dir.push_str(&format!("-seed-{seed}"));
    }
    dir
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
