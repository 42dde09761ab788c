//! What a run tells people and CI: a line per scenario as it finishes, a summary, the seeds
//! that failed, JUnit XML and Cucumber JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{Value, json};

use super::exec::StepStatus;
use super::{RunSummary, ScenarioReport};

/// The line of one finished scenario, with why, replay and artifacts if it failed.
pub fn scenario_lines(s: &ScenarioReport, steps: bool, out: &mut impl Write) -> io::Result<()> {
    let status = if s.passed { "ok  " } else { "FAIL" };
    writeln!(
        out,
        "{status} {}: {} (sim {:.1}s, wall {}, seed {})",
        s.location(),
        s.name,
        s.sim_ms as f64 / 1000.0,
        wall(s.wall),
        s.seed
    )?;
    if steps {
        for step in &s.steps {
            let mark = match &step.status {
                StepStatus::Passed => "✓",
                StepStatus::Failed(_) => "✗",
                StepStatus::Skipped => "-",
                StepStatus::Undefined(_) => "?",
            };
            writeln!(out, "       {mark} {} {}", step.keyword, step.text)?;
        }
    }
    if !s.passed {
        if let Some(failure) = &s.failure {
            writeln!(out, "       why: {failure}")?;
        }
        writeln!(out, "       replay: {}", s.replay)?;
        for file in &s.artifacts {
            writeln!(out, "       wrote: {}", file.display())?;
        }
    }
    Ok(())
}

/// A duration as a person reads it: `9ms`, `1.25s`.
pub fn wall(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// The end of a run: problems, failing seeds per scenario (several seeds), and the totals.
pub fn summary(summary: &RunSummary, out: &mut impl Write) -> io::Result<()> {
    for problem in &summary.problems {
        writeln!(out, "FAIL {problem}")?;
    }
    if summary.seeds_per_scenario > 1 {
        let mut by_scenario: BTreeMap<(String, usize, String), Vec<&ScenarioReport>> =
            BTreeMap::new();
        for s in &summary.scenarios {
            by_scenario
                .entry((s.file.display().to_string(), s.line, s.name.clone()))
                .or_default()
                .push(s);
        }
        for ((_, _, name), runs) in &by_scenario {
            let failed: Vec<&&ScenarioReport> = runs.iter().filter(|r| !r.passed).collect();
            writeln!(
                out,
                "{} {}: {name}: {} seeds, {} failed{}",
                if failed.is_empty() { "ok  " } else { "FAIL" },
                runs[0].location(),
                runs.len(),
                failed.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        failed
                            .iter()
                            .map(|r| r.seed.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )?;
            for run in failed.iter().take(3) {
                writeln!(out, "       replay: {}", run.replay)?;
            }
        }
    }
    if summary.scenarios.is_empty() && summary.problems.is_empty() {
        writeln!(
            out,
            "no scenario matched: check the paths, --tags, --name and --shard"
        )?;
    }
    let passed = summary.passed();
    let failed = summary.scenarios.len() - passed;
    let sim_ms: u64 = summary.scenarios.iter().map(|s| s.sim_ms).sum();
    let busy: Duration = summary.scenarios.iter().map(|s| s.wall).sum();
    writeln!(
        out,
        "{} scenarios: {passed} passed, {failed} failed; {:.1}s simulated in {} (wall, {} at once; {} of scenario time)",
        summary.scenarios.len(),
        sim_ms as f64 / 1000.0,
        wall(summary.wall),
        summary.concurrency,
        wall(busy),
    )?;
    writeln!(out, "{passed} passed, {failed} failed")
}

/// JUnit XML: a suite per feature file, a test case per scenario run named by the scenario
/// (no line numbers, so CI history survives edits), its feature as the class name, its seed as
/// a property, and why, seed, replay and artifacts in a failure.
pub fn junit(summary: &RunSummary) -> Result<String, String> {
    let mut report = Report::new("callsim bdd");
    report.set_time(summary.wall);
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for s in &summary.scenarios {
        let suite = suites
            .entry(s.file.display().to_string())
            .or_insert_with(|| TestSuite::new(s.file.display().to_string()));
        let status = if s.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let why = s.failure.clone().unwrap_or_default();
            status.set_message(why.lines().next().unwrap_or_default());
            let mut text = format!("{why}\nseed: {}\nreplay: {}\n", s.seed, s.replay);
            for file in &s.artifacts {
                text.push_str(&format!("artifact: {}\n", file.display()));
            }
            status.set_description(text);
            status
        };
        let name = if summary.seeds_per_scenario > 1 {
            format!("{} [seed {}]", s.name, s.seed)
        } else {
            s.name.clone()
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(if s.feature.is_empty() {
            s.file.display().to_string()
        } else {
            s.feature.clone()
        });
        case.set_time(s.wall);
        case.add_property(Property::new("seed", s.seed.to_string()));
        suite.add_test_case(case);
    }
    report.add_test_suites(suites.into_values());
    report.to_string().map_err(|e| e.to_string())
}

/// Cucumber JSON: a feature per file with its path as given, each scenario run preceded by its
/// background as its own element, and steps no definition matches marked `undefined`.
pub fn cucumber_json(summary: &RunSummary) -> Value {
    let mut features: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    for s in &summary.scenarios {
        let uri = s.file.display().to_string();
        let entry = features.entry(uri.clone()).or_insert_with(|| {
            (
                json!({
                    "uri": uri,
                    "id": slug(&s.feature),
                    "keyword": "Feature",
                    "name": s.feature,
                    "description": s.feature_description.clone().unwrap_or_default(),
                    "line": s.feature_line,
                    "tags": tags(&s.feature_tags, s.feature_line),
                }),
                Vec::new(),
            )
        });
        let step_json = |step: &super::exec::StepReport| {
            let (status, error) = match &step.status {
                StepStatus::Passed => ("passed", None),
                StepStatus::Failed(why) => ("failed", Some(why.clone())),
                StepStatus::Skipped => ("skipped", None),
                StepStatus::Undefined(why) => ("undefined", Some(why.clone())),
            };
            let mut result = json!({
                "status": status,
                "duration": u64::try_from(step.duration.as_nanos()).unwrap_or(u64::MAX),
            });
            if let Some(error) = error {
                result["error_message"] = json!(error);
            }
            json!({
                "keyword": format!("{} ", step.keyword),
                "name": step.text,
                "line": step.line,
                "result": result,
            })
        };
        let background: Vec<Value> = s
            .steps
            .iter()
            .filter(|st| st.background)
            .map(step_json)
            .collect();
        if let Some(line) = s.background_line.filter(|_| !background.is_empty()) {
            entry.1.push(json!({
                "keyword": "Background",
                "name": "",
                "description": "",
                "line": line,
                "type": "background",
                "steps": background,
            }));
        }
        let id = format!("{};{}", slug(&s.feature), slug(&s.name));
        entry.1.push(json!({
            "id": id,
            "keyword": s.keyword,
            "name": s.name,
            "description": "",
            "line": s.line,
            "type": "scenario",
            "tags": tags(&s.tags, s.line),
            "steps": s.steps.iter().filter(|st| !st.background).map(step_json).collect::<Vec<_>>(),
        }));
    }
    Value::Array(
        features
            .into_values()
            .map(|(mut feature, elements)| {
                feature["elements"] = Value::Array(elements);
                feature
            })
            .collect(),
    )
}

fn tags(tags: &[String], line: usize) -> Vec<Value> {
    tags.iter()
        .map(|t| json!({"name": format!("@{t}"), "line": line}))
        .collect()
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect()
}
