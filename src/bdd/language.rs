//! The scenario language as a table: each step's keywords, its form as `spec/steps.md` writes
//! it, what it means, the pattern that matches it and the code that runs it. The runner
//! matches against this table and `callsim steps` prints it, so the two cannot drift apart.

use std::fmt;
use std::sync::OnceLock;

use regex::{Captures, Regex};

use super::{ScenarioState, StepResult};

/// The keyword a step is written under (`And` and `But` take the one before them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Keyword {
    /// Sets up phones and network before the call.
    Given,
    /// Something happens: a person acts, the network changes, time passes.
    When,
    /// A check of what the phones show.
    Then,
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Keyword::Given => "Given",
            Keyword::When => "When",
            Keyword::Then => "Then",
        })
    }
}

/// What the runner does around a step's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the step's code.
    Plain,
    /// An action: afterwards one tick passes so the phones see it, and "within N seconds"
    /// counts from there.
    Act,
    /// A network change: an action once the world runs, a set-up before.
    Change,
}

/// One step of the language.
#[derive(Debug, Clone, Copy)]
pub struct StepDef {
    /// The keywords it may be written under.
    pub keywords: &'static [Keyword],
    /// The step as `steps.md` writes it, with example names and `N`, `P`, `"TEXT"`, and its
    /// variants after slashes.
    pub form: &'static str,
    /// One text the step matches, as a scenario would write it.
    pub example: &'static str,
    /// What it means.
    pub meaning: &'static str,
    /// The regular expression its text must match, whole.
    pub pattern: &'static str,
    /// What runs around its code.
    pub mode: Mode,
    /// Its code, given the scenario and the pattern's captures.
    pub run: fn(&mut ScenarioState, &Args<'_>) -> StepResult,
}

/// The captures of a step's text, with checked conversions.
#[derive(Debug)]
pub struct Args<'t> {
    captures: Vec<&'t str>,
}

impl<'t> Args<'t> {
    fn from(captures: &Captures<'t>) -> Self {
        Args {
            captures: captures
                .iter()
                .skip(1)
                .map(|m| m.map_or("", |m| m.as_str()))
                .collect(),
        }
    }

    /// Captures given directly (for tests of step code).
    pub fn of(captures: &[&'t str]) -> Self {
        Args {
            captures: captures.to_vec(),
        }
    }

    /// How many captures there are.
    pub fn len(&self) -> usize {
        self.captures.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.captures.is_empty()
    }

    /// The `i`th capture as written.
    pub fn text(&self, i: usize) -> String {
        self.captures.get(i).copied().unwrap_or_default().to_owned()
    }

    /// The `i`th capture as a whole number from 0 up.
    pub fn whole(&self, i: usize) -> StepResult<u64> {
        let text = self.captures.get(i).copied().unwrap_or_default();
        if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
            return text
                .parse()
                .map_err(|_| format!("{text} is too large for this step"));
        }
        Err(format!(
            "this step takes a whole number from 0 up, not {text:?}"
        ))
    }

    /// The `i`th capture as a number (decimals allowed), from 0 up.
    pub fn number(&self, i: usize) -> StepResult<f64> {
        let text = self.captures.get(i).copied().unwrap_or_default();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 && !text.starts_with(['+', '-']) => Ok(n),
            _ => Err(format!("this step takes a number from 0 up, not {text:?}")),
        }
    }
}

/// The whole language, compiled once.
#[derive(Debug)]
pub struct Language {
    defs: Vec<StepDef>,
    patterns: Vec<Regex>,
}

/// How a step's text fared against the language.
#[derive(Debug)]
pub enum Lookup<'l, 't> {
    /// This definition, with these captures.
    Found(&'l StepDef, Args<'t>),
    /// A definition matches the text but not under this keyword.
    WrongKeyword(&'l StepDef),
    /// Nothing matches; the closest forms.
    Unknown(Vec<String>),
}

/// The language of every scenario.
pub fn language() -> &'static Language {
    static LANGUAGE: OnceLock<Language> = OnceLock::new();
    LANGUAGE.get_or_init(|| Language::new(super::steps::all()))
}

impl Language {
    fn new(defs: Vec<StepDef>) -> Self {
        let patterns = defs
            .iter()
            .map(|d| {
                // A pattern that does not compile is a bug in this table, caught by its tests.
                Regex::new(d.pattern).unwrap_or_else(|e| panic!("step pattern {}: {e}", d.pattern))
            })
            .collect();
        Language { defs, patterns }
    }

    /// Every step, in the order `steps.md` lists them.
    pub fn defs(&self) -> &[StepDef] {
        &self.defs
    }

    /// The step written `keyword text`.
    pub fn find<'t>(&self, keyword: Keyword, text: &'t str) -> Lookup<'_, 't> {
        // Each thread matches with patterns of its own: a shared pattern lends its match
        // caches to whichever thread asks first, so how many a scenario's thread builds (each
        // taking one of std's per-thread hash keys) would depend on what other threads ran,
        // and the real WebRTC stack's hash maps, made later on the thread, would iterate in
        // another order (`callsim_sim::seeded`).
        thread_local! {
            static PATTERNS: std::cell::RefCell<Vec<Regex>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        PATTERNS.with(|patterns| {
            let mut patterns = patterns.borrow_mut();
            if patterns.len() != self.patterns.len() {
                // A clone shares the compiled pattern and has a cache pool of its own.
                *patterns = self.patterns.clone();
            }
            let mut other = None;
            for (def, pattern) in self.defs.iter().zip(patterns.iter()) {
                if let Some(captures) = pattern.captures(text) {
                    if def.keywords.contains(&keyword) {
                        return Lookup::Found(def, Args::from(&captures));
                    }
                    other.get_or_insert(def);
                }
            }
            match other {
                Some(def) => Lookup::WrongKeyword(def),
                None => Lookup::Unknown(self.closest(keyword, text)),
            }
        })
    }

    /// The forms most like `text` (names and numbers aside), best first, at most three.
    fn closest(&self, keyword: Keyword, text: &str) -> Vec<String> {
        let wanted = normalize(text);
        let mut scored: Vec<(f64, String)> = self
            .defs
            .iter()
            .map(|def| {
                let score = strsim::normalized_levenshtein(&wanted, &normalize(def.example));
                let keyword_bonus = if def.keywords.contains(&keyword) {
                    0.05
                } else {
                    0.0
                };
                (score + keyword_bonus, written(def))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored
            .into_iter()
            .take_while(|(score, _)| *score > 0.5)
            .take(3)
            .map(|(_, form)| form)
            .collect()
    }
}

/// A step as a scenario writes it: its first keyword and its form.
pub fn written(def: &StepDef) -> String {
    format!(
        "{} {}",
        def.keywords.first().copied().unwrap_or(Keyword::Then),
        def.form
    )
}

/// The whole language as text, by keyword, each step with what it means: `callsim steps`.
pub fn describe() -> String {
    let mut out = String::new();
    for keyword in [Keyword::Given, Keyword::When, Keyword::Then] {
        out.push_str(&format!("{keyword}\n"));
        for def in language()
            .defs()
            .iter()
            .filter(|d| d.keywords.contains(&keyword))
        {
            out.push_str(&format!(
                "  {keyword} {}\n      {}\n",
                def.form, def.meaning
            ));
        }
        out.push('\n');
    }
    out
}

/// Names become `X`, numbers `N`: what is left is the shape of a step.
fn normalize(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let bare = word.trim_end_matches("'s");
            if bare.chars().next().is_some_and(char::is_uppercase)
                && bare.chars().skip(1).all(char::is_lowercase)
                && !["CallKit", "TURN", "Bluetooth", "WebRTC"].contains(&bare)
            {
                word.replacen(bare, "X", 1)
            } else if word.chars().any(|c| c.is_ascii_digit()) {
                "N".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_matched_by_its_own_pattern_under_each_of_its_keywords() {
        let language = language();
        for def in language.defs() {
            let text = def.example;
            for keyword in def.keywords {
                match language.find(*keyword, text) {
                    Lookup::Found(found, _) => {
                        assert_eq!(found.pattern, def.pattern, "{text:?} matched another step");
                    }
                    other => panic!("{keyword} {text:?} does not match its own step: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn numbers_are_checked_not_wrapped() {
        let args = Args::of(&["18446744073709551616", "-5", "2.5", "7", "12.5", "-1"]);
        assert!(args.whole(0).expect_err("refused").contains("too large"));
        assert!(args.whole(1).expect_err("refused").contains("whole number"));
        assert!(args.whole(2).expect_err("refused").contains("whole number"));
        assert_eq!(args.whole(3), Ok(7));
        assert_eq!(args.number(4), Ok(12.5));
        assert!(args.number(5).is_err());
    }

    #[test]
    fn an_unknown_step_gets_the_closest_forms_and_a_wrong_keyword_is_named() {
        let language = language();
        match language.find(Keyword::Then, "Bob's phone ring within 2 seconds") {
            Lookup::Unknown(close) => {
                assert_eq!(
                    close.first().map(String::as_str),
                    Some("Then Bob's phone rings within N seconds")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            language.find(Keyword::Given, "Bob's phone rings within 2 seconds"),
            Lookup::WrongKeyword(_)
        ));
    }
}
