//! The scenarios of a run: feature files read and parsed, outlines expanded, each scenario with
//! its tags, seed and steps; and the selection of a run (tags, name, shard).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gherkin::tagexpr::TagOperation;
use gherkin::{Feature, GherkinEnv, StepType};

use super::language::Keyword;

/// One step as a scenario writes it.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// The keyword as written (`Given`, `And`, `But`, ...).
    pub keyword: String,
    /// The keyword it counts as (`And` takes the one before).
    pub kind: Keyword,
    /// The step's text after the keyword.
    pub text: String,
    /// Its line in the feature file.
    pub line: usize,
}

/// One scenario to run (an outline gives one per example row).
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    /// The feature file, as given on the command line (or found in a folder given).
    pub file: PathBuf,
    /// The feature's name.
    pub feature: String,
    /// The feature's line.
    pub feature_line: usize,
    /// The feature's description, if any.
    pub feature_description: Option<String>,
    /// The feature's own tags.
    pub feature_tags: Vec<String>,
    /// The scenario's name.
    pub name: String,
    /// The scenario's keyword (`Scenario`, `Scenario Outline`, `Example`, ...).
    pub keyword: String,
    /// Its line.
    pub line: usize,
    /// Its tags, then its rule's and its feature's, without `@`.
    pub tags: Vec<String>,
    /// The seed an `@seed(N)` tag pins, on the scenario or else on its feature.
    pub pinned: Option<u64>,
    /// The background steps that run first (the feature's, then the rule's).
    pub background: Vec<StepSpec>,
    /// The line of the background, if there is one.
    pub background_line: Option<usize>,
    /// The scenario's own steps.
    pub steps: Vec<StepSpec>,
}

impl ScenarioSpec {
    /// The seed it runs with unless told otherwise: its pin, or a hash of its file's name and
    /// its name (stable across runs and machines, and the same from any directory).
    pub fn seed(&self) -> u64 {
        self.pinned.unwrap_or_else(|| fnv1a(self.key().as_bytes()))
    }

    /// What identifies it across runs: its file's name and its name.
    pub fn key(&self) -> String {
        let file = self
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{file}/{}", self.name)
    }

    /// Its file's name without `.feature`.
    pub fn file_stem(&self) -> String {
        self.file
            .file_stem()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `file:line`, as a person looks it up.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// A feature file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, or the path given.
    pub file: PathBuf,
    /// Where in it, when known.
    pub line: Option<usize>,
    /// The column, when known.
    pub col: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// The feature files of `paths` (a folder gives its `.feature` files, recursively, sorted),
/// parsed into scenarios, with the files that could not be used.
pub fn load(paths: &[PathBuf]) -> (Vec<ScenarioSpec>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            feature_files(path, &mut files, &mut problems);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            problems.push(Problem {
                file: path.clone(),
                line: None,
                col: None,
                message: "no such file or folder".into(),
            });
        }
    }
    let mut scenarios = Vec::new();
    for file in files {
        match Feature::parse_path(&file, GherkinEnv::default()) {
            Ok(feature) => match scenarios_of(&file, &feature) {
                Ok(found) => scenarios.extend(found),
                Err(problem) => problems.push(problem),
            },
            Err(error) => problems.push(parse_problem(&file, &error)),
        }
    }
    (scenarios, problems)
}

fn feature_files(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem {
                file: dir.to_path_buf(),
                line: None,
                col: None,
                message: format!("cannot read the folder: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            feature_files(&path, out, problems);
        } else if path.extension().is_some_and(|e| e == "feature") {
            out.push(path);
        }
    }
}

/// A parse error as `file:line:col: what was expected`, the expected tokens sorted.
fn parse_problem(file: &Path, error: &gherkin::ParseFileError) -> Problem {
    match error {
        gherkin::ParseFileError::Reading { source, .. } => Problem {
            file: file.to_path_buf(),
            line: None,
            col: None,
            message: format!("cannot read it: {source}"),
        },
        gherkin::ParseFileError::Parsing { source, .. } => {
            // gherkin shows "Error at L:C: {expected tokens}" with the tokens in hash order.
            let text = source.to_string();
            let (position, expected) = text
                .strip_prefix("Error at ")
                .and_then(|rest| rest.split_once(": "))
                .unwrap_or(("", &text));
            let mut numbers = position.split(':').filter_map(|n| n.parse::<usize>().ok());
            let (line, col) = (numbers.next(), numbers.next());
            let mut tokens: Vec<&str> = expected
                .trim_matches(|c| c == '{' || c == '}')
                .split(", ")
                .map(|t| t.trim_matches('"'))
                .filter(|t| !t.is_empty())
                .collect();
            tokens.sort_unstable();
            tokens.dedup();
            Problem {
                file: file.to_path_buf(),
                line,
                col,
                message: format!(
                    "not Gherkin here: expected one of {} (a line of a description must not start with a keyword such as \"Scenarios\")",
                    tokens.join(", ")
                ),
            }
        }
    }
}

fn steps(background: &[gherkin::Step]) -> Vec<StepSpec> {
    background.iter().map(step).collect()
}

fn step(s: &gherkin::Step) -> StepSpec {
    StepSpec {
        keyword: s.keyword.trim().to_owned(),
        kind: match s.ty {
            StepType::Given => Keyword::Given,
            StepType::When => Keyword::When,
            StepType::Then => Keyword::Then,
        },
        text: s.value.clone(),
        line: s.position.line,
    }
}

fn bare(tags: &[String]) -> impl Iterator<Item = String> + '_ {
    tags.iter().map(|t| t.trim_start_matches('@').to_owned())
}

fn pin(tags: &[String]) -> Option<u64> {
    tags.iter().find_map(|t| {
        t.trim_start_matches('@')
            .strip_prefix("seed(")?
            .strip_suffix(')')?
            .parse()
            .ok()
    })
}

/// The scenarios of one feature, outlines expanded; names must be unique in a file, since a
/// name identifies a scenario for its seed, its replay and its artifacts.
fn scenarios_of(file: &Path, feature: &Feature) -> Result<Vec<ScenarioSpec>, Problem> {
    let feature_background = feature.background.as_ref();
    let mut out = Vec::new();
    let mut groups: Vec<(Option<&gherkin::Rule>, &gherkin::Scenario)> =
        feature.scenarios.iter().map(|s| (None, s)).collect();
    for rule in &feature.rules {
        groups.extend(rule.scenarios.iter().map(|s| (Some(rule), s)));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (rule, scenario) in groups {
        let mut background = feature_background
            .map(|b| steps(&b.steps))
            .unwrap_or_default();
        if let Some(b) = rule.and_then(|r| r.background.as_ref()) {
            background.extend(steps(&b.steps));
        }
        let background_line = rule
            .and_then(|r| r.background.as_ref())
            .or(feature_background)
            .map(|b| b.position.line);
        let mut tags: Vec<String> = bare(&scenario.tags).collect();
        if let Some(rule) = rule {
            tags.extend(bare(&rule.tags));
        }
        tags.extend(bare(&feature.tags));
        let pinned = pin(&scenario.tags)
            .or_else(|| rule.and_then(|r| pin(&r.tags)))
            .or_else(|| pin(&feature.tags));
        let base = ScenarioSpec {
            file: file.to_path_buf(),
            feature: feature.name.clone(),
            feature_line: feature.position.line,
            feature_description: feature.description.clone(),
            feature_tags: bare(&feature.tags).collect(),
            name: scenario.name.clone(),
            keyword: scenario.keyword.clone(),
            line: scenario.position.line,
            tags,
            pinned,
            background,
            background_line,
            steps: scenario.steps.iter().map(step).collect(),
        };
        let expanded = expand(base, scenario);
        for spec in expanded {
            if let Some(first) = seen.insert(spec.name.clone(), spec.line) {
                return Err(Problem {
                    file: file.to_path_buf(),
                    line: Some(spec.line),
                    col: None,
                    message: format!(
                        "two scenarios are named {:?} (lines {first} and {}); a name identifies a scenario for its seed, its replay and its artifacts",
                        spec.name, spec.line
                    ),
                });
            }
            out.push(spec);
        }
    }
    Ok(out)
}

/// A scenario outline's example rows, each a scenario with `<column>` replaced in its name and
/// steps; a plain scenario as it is.
fn expand(base: ScenarioSpec, scenario: &gherkin::Scenario) -> Vec<ScenarioSpec> {
    if scenario.examples.is_empty() {
        return vec![base];
    }
    let mut out = Vec::new();
    for examples in &scenario.examples {
        let Some(table) = &examples.table else {
            continue;
        };
        let Some((header, rows)) = table.rows.split_first() else {
            continue;
        };
        for (i, row) in rows.iter().enumerate() {
            let fill = |text: &str| {
                header
                    .iter()
                    .zip(row)
                    .fold(text.to_owned(), |t, (k, v)| t.replace(&format!("<{k}>"), v))
            };
            let mut spec = base.clone();
            spec.name = format!("{} (example {})", fill(&base.name), i + 1);
            spec.line = table.position.line + 1 + i;
            spec.tags.extend(bare(&examples.tags));
            for step in &mut spec.steps {
                step.text = fill(&step.text);
            }
            out.push(spec);
        }
    }
    out
}

/// Which scenarios a run takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// A tag expression (`@races and not @glare`).
    pub tags: Option<TagOperation>,
    /// A regular expression the name must match.
    pub name: Option<regex::Regex>,
    /// Part `i` (1-based) of `n`.
    pub shard: Option<(u64, u64)>,
}

impl Selection {
    /// Whether the run takes `spec`.
    pub fn takes(&self, spec: &ScenarioSpec) -> bool {
        self.tags.as_ref().is_none_or(|t| eval(t, &spec.tags))
            && self.name.as_ref().is_none_or(|n| n.is_match(&spec.name))
            && self
                .shard
                .is_none_or(|(i, n)| fnv1a(spec.key().as_bytes()) % n == i - 1)
    }
}

/// A tag expression against a scenario's tags (theirs, their rule's and feature's).
pub fn eval(op: &TagOperation, tags: &[String]) -> bool {
    match op {
        TagOperation::And(a, b) => eval(a, tags) && eval(b, tags),
        TagOperation::Or(a, b) => eval(a, tags) || eval(b, tags),
        TagOperation::Not(a) => !eval(a, tags),
        TagOperation::Tag(tag) => {
            let tag = tag.trim_start_matches('@');
            tags.iter().any(|t| t == tag)
        }
    }
}

/// Parses `--shard I/N`.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard takes I/N with 1 <= I <= N, e.g. 2/4, not {text:?}");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// FNV-1a: a stable hash for seeds and shards (the same on every machine and run).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("callsim-catalog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column_and_what_was_expected() {
        let dir = scratch("syntax");
        let file = write(
            &dir,
            "bad.feature",
            "Feature: f\n  Scenarios are described here\n\n  Scenario: s\n    Given Alice and Bob are contacts\n",
        );
        let (scenarios, problems) = load(std::slice::from_ref(&file));
        assert!(scenarios.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        let text = problems[0].to_string();
        assert!(text.starts_with(&format!("{}:", file.display())), "{text}");
        assert!(
            problems[0].line.is_some() && problems[0].col.is_some(),
            "{text}"
        );
        assert!(text.contains("expected one of"), "{text}");
    }

    #[test]
    fn feature_seeds_pin_their_scenarios_and_scenario_seeds_win() {
        let dir = scratch("seeds");
        let file = write(
            &dir,
            "s.feature",
            "@seed(5)\nFeature: f\n\n  Scenario: a\n    Given Alice and Bob are contacts\n\n  @seed(9)\n  Scenario: b\n    Given Alice and Bob are contacts\n",
        );
        let (scenarios, problems) = load(&[file]);
        assert!(problems.is_empty(), "{problems:?}");
        let seeds: Vec<(String, Option<u64>)> = scenarios
            .iter()
            .map(|s| (s.name.clone(), s.pinned))
            .collect();
        assert_eq!(seeds, [("a".into(), Some(5)), ("b".into(), Some(9))]);
    }

    #[test]
    fn shards_split_a_run_into_disjoint_parts_whose_union_is_the_whole() {
        let (scenarios, problems) =
            load(&[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features")]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(scenarios.len() > 20);
        for n in [1, 2, 3, 4, 7] {
            let mut taken = vec![0; scenarios.len()];
            for i in 1..=n {
                let selection = Selection {
                    shard: Some((i, n)),
                    ..Selection::default()
                };
                for (k, spec) in scenarios.iter().enumerate() {
                    if selection.takes(spec) {
                        taken[k] += 1;
                    }
                }
            }
            assert!(taken.iter().all(|t| *t == 1), "{n} shards: {taken:?}");
        }
        assert!(parse_shard("0/4").is_err() && parse_shard("5/4").is_err());
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
    }

    #[test]
    fn tag_expressions_see_scenario_rule_and_feature_tags() {
        let op: TagOperation = "@races and not @glare".parse().expect("parses");
        assert!(eval(&op, &["races".into()]));
        assert!(!eval(&op, &["races".into(), "glare".into()]));
    }
}
