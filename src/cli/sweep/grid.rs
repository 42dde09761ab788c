//! The grid of `callsim sweep`: which conditions are swept, with which values, and how each
//! cell becomes the options of one `callsim call`.

use serde::{Deserialize, Serialize};

/// What values a condition takes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A number from `min` to `max`, in `unit`.
    Number {
        min: f64,
        max: f64,
        unit: &'static str,
    },
    /// One of these words; the first is the default.
    Choice(&'static [&'static str]),
    /// A relay-link outage `WHO:AT:FOR` (caller or callee, seconds after the call button,
    /// seconds long), or `none`.
    Outage,
}

/// A condition the sweep can vary.
#[derive(Debug, Clone, Copy)]
pub struct Condition {
    /// Its option name (`--media-loss`), and its key in a grid file (`media-loss`).
    pub name: &'static str,
    kind: Kind,
}

/// Every condition, in the order cells and reports list them.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "world",
        kind: Kind::Choice(&["turmoil", "memory"]),
    },
    Condition {
        name: "webrtc",
        kind: Kind::Choice(&["sim", "real"]),
    },
    Condition {
        name: "media",
        kind: Kind::Choice(&["audio", "video"]),
    },
    Condition {
        name: "callkit",
        kind: Kind::Choice(&["on", "off"]),
    },
    Condition {
        name: "china",
        kind: Kind::Choice(&["off", "on"]),
    },
    Condition {
        name: "direct",
        kind: Kind::Choice(&["off", "on"]),
    },
    Condition {
        name: "callee-app",
        kind: Kind::Choice(&["foreground", "background", "suspended", "not-running"]),
    },
    Condition {
        name: "relay-latency",
        kind: Kind::Number {
            min: 0.0,
            max: 60_000.0,
            unit: "ms",
        },
    },
    Condition {
        name: "relay-loss",
        kind: Kind::Number {
            min: 0.0,
            max: 100.0,
            unit: "%",
        },
    },
    Condition {
        name: "relay-restart",
        kind: Kind::Number {
            min: 0.0,
            max: 3_600.0,
            unit: "s",
        },
    },
    Condition {
        name: "relay-outage",
        kind: Kind::Outage,
    },
    Condition {
        name: "media-latency",
        kind: Kind::Number {
            min: 0.0,
            max: 60_000.0,
            unit: "ms",
        },
    },
    Condition {
        name: "media-jitter",
        kind: Kind::Number {
            min: 0.0,
            max: 60_000.0,
            unit: "ms",
        },
    },
    Condition {
        name: "media-loss",
        kind: Kind::Number {
            min: 0.0,
            max: 100.0,
            unit: "%",
        },
    },
    Condition {
        name: "media-burst",
        kind: Kind::Number {
            min: 0.0,
            max: 10_000.0,
            unit: "packets",
        },
    },
    Condition {
        name: "push-delay",
        kind: Kind::Number {
            min: 0.0,
            max: 3_600.0,
            unit: "s",
        },
    },
    Condition {
        name: "chat-start",
        kind: Kind::Number {
            min: 0.0,
            max: 3_600.0,
            unit: "s",
        },
    },
    Condition {
        name: "answer-delay",
        kind: Kind::Number {
            min: 0.0,
            max: 3_600.0,
            unit: "s",
        },
    },
];

/// The most values one condition may take, and cells a grid may have.
pub const MAX_VALUES: usize = 1_000;
/// See [`MAX_VALUES`].
pub const MAX_CELLS: usize = 100_000;

impl Condition {
    /// The condition named `name`.
    pub fn named(name: &str) -> Option<&'static Condition> {
        CONDITIONS.iter().find(|c| c.name == name)
    }

    /// Whether its values are numbers (plotted on an axis) rather than words.
    pub fn numeric(&self) -> bool {
        matches!(self.kind, Kind::Number { .. })
    }

    /// Its unit, for reports.
    pub fn unit(&self) -> &'static str {
        match self.kind {
            Kind::Number { unit, .. } => unit,
            Kind::Choice(_) | Kind::Outage => "",
        }
    }

    /// Parses a list of values: `0,5,10`, ranges `0..30/5` (0 to 30 in steps of 5) and `0..3`
    /// (steps of 1), or words for a choice (`on,off`).
    pub fn parse(&self, text: &str) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(format!("--{}: an empty value in {text:?}", self.name));
            }
            match self.kind {
                Kind::Choice(words) => {
                    if !words.contains(&item) {
                        return Err(format!(
                            "--{} takes {}, not {item:?}",
                            self.name,
                            words.join(", ")
                        ));
                    }
                    values.push(item.to_owned());
                }
                Kind::Outage => {
                    values.push(outage(item).map_err(|e| format!("--{}: {e}", self.name))?)
                }
                Kind::Number { min, max, unit } => {
                    let numbers =
                        parse_numbers(item).map_err(|e| format!("--{}: {e}", self.name))?;
                    for n in numbers {
                        if !(min..=max).contains(&n) {
                            return Err(format!(
                                "--{}: {} is outside {} to {} {unit}",
                                self.name,
                                number(n),
                                number(min),
                                number(max)
                            ));
                        }
                        values.push(number(n));
                    }
                }
            }
            if values.len() > MAX_VALUES {
                return Err(format!("--{}: more than {MAX_VALUES} values", self.name));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = values.iter().find(|v| !seen.insert(v.as_str())) {
            return Err(format!("--{}: {twice} is listed twice", self.name));
        }
        Ok(values)
    }

    /// The options of `callsim call` that give this condition `value`.
    pub fn call_options(&self, value: &str) -> Vec<String> {
        let both = |flag: &str| vec![format!("--{flag}"), "both".to_owned()];
        match (self.name, value) {
            ("callkit", "off") => both("callkit-off"),
            ("china", "on") => both("china"),
            ("direct", "on") => both("direct"),
            ("callkit" | "china" | "direct", _) | ("relay-outage", "none") => Vec::new(),
            ("relay-outage", value) => vec!["--partition".to_owned(), value.to_owned()],
            (name, value) => vec![format!("--{name}"), value.to_owned()],
        }
    }
}

/// An outage in canonical form (`callee:2:5`), or `none`.
fn outage(item: &str) -> Result<String, String> {
    if item == "none" {
        return Ok(item.to_owned());
    }
    let bad = || {
        format!(
            "takes WHO:AT:FOR (caller or callee, seconds) or none, e.g. callee:2:5, not {item:?}"
        )
    };
    let mut parts = item.split(':');
    let who = match parts.next() {
        Some(who @ ("caller" | "callee")) => who,
        _ => return Err(bad()),
    };
    let mut seconds = || -> Result<f64, String> {
        let n: f64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if n.is_finite() && (0.0..=3_600.0).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    let (at, duration) = (seconds()?, seconds()?);
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(format!("{who}:{}:{}", number(at), number(duration)))
}

/// A number as reports and commands write it: `5`, `0.5`, `12.25`.
pub fn number(n: f64) -> String {
    let rounded = (n * 1e9).round() / 1e9;
    if rounded == rounded.trunc() && rounded.abs() < 1e15 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded}")
    }
}

fn parse_numbers(item: &str) -> Result<Vec<f64>, String> {
    let num = |t: &str| -> Result<f64, String> {
        let n: f64 = t
            .trim()
            .parse()
            .map_err(|_| format!("{t:?} is not a number"))?;
        if n.is_finite() {
            Ok(n)
        } else {
            Err(format!("{t:?} is not a finite number"))
        }
    };
    let Some((from, rest)) = item.split_once("..") else {
        return Ok(vec![num(item)?]);
    };
    let (to, step) = match rest.split_once('/') {
        Some((to, step)) => (num(to)?, num(step)?),
        None => (num(rest)?, 1.0),
    };
    let from = num(from)?;
    if step <= 0.0 {
        return Err(format!("{item:?}: the step must be more than 0"));
    }
    if to < from {
        return Err(format!("{item:?}: the range runs backwards"));
    }
    let count = ((to - from) / step + 1e-9).floor() as usize + 1;
    if count > MAX_VALUES {
        return Err(format!("{item:?} has more than {MAX_VALUES} values"));
    }
    Ok((0..count).map(|i| from + step * i as f64).collect())
}

/// One swept condition and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    /// The condition's name.
    pub name: String,
    /// Its values, as written in reports.
    pub values: Vec<String>,
}

impl Axis {
    /// The condition.
    pub fn condition(&self) -> &'static Condition {
        Condition::named(&self.name).unwrap_or(&CONDITIONS[0])
    }
}

/// The cells of a grid: every combination of the axes' values, the last axis changing fastest.
/// Each cell lists its `(condition, value)` pairs.
pub fn cells(axes: &[Axis]) -> Vec<Vec<(String, String)>> {
    let mut cells = vec![Vec::new()];
    for axis in axes {
        let mut next = Vec::with_capacity(cells.len() * axis.values.len());
        for cell in &cells {
            for value in &axis.values {
                let mut c: Vec<(String, String)> = cell.clone();
                c.push((axis.name.clone(), value.clone()));
                next.push(c);
            }
        }
        cells = next;
    }
    cells
}

/// Reads a grid file (TOML): each key a condition with a list as on the command line
/// (`media-loss = "0..30/5"`) or an array (`media-loss = [0, 5, 10]`, `callkit = ["on",
/// "off"]`), and optionally `seeds`, `first-seed`, `talk` and `buckets`. Errors name the line.
pub fn read_grid_file(path: &std::path::Path, text: &str) -> Result<GridFile, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("{}: {}", path.display(), e.to_string().trim()))?;
    let line_of = |key: &str| {
        text.lines()
            .position(|l| {
                let l = l.trim_start();
                l.starts_with(key) && l[key.len()..].trim_start().starts_with('=')
            })
            .map_or(0, |i| i + 1)
    };
    let at = |key: &str, message: String| format!("{}:{}: {message}", path.display(), line_of(key));
    let mut file = GridFile::default();
    for (key, value) in &table {
        let as_list = |value: &toml::Value| -> Result<String, String> {
            match value {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(number(*f)),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => Ok(s.clone()),
                        toml::Value::Integer(i) => Ok(i.to_string()),
                        toml::Value::Float(f) => Ok(number(*f)),
                        other => Err(format!("{key}: {other} is not a value")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.join(",")),
                other => Err(format!("{key}: {other} is not a list of values")),
            }
        };
        let whole = |value: &toml::Value| -> Result<u64, String> {
            value
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| format!("{key} takes a whole number"))
        };
        match key.as_str() {
            "seeds" => file.seeds = Some(whole(value).map_err(|e| at(key, e))?),
            "first-seed" => file.first_seed = Some(whole(value).map_err(|e| at(key, e))?),
            "talk" => {
                file.talk = Some(
                    value
                        .as_float()
                        .or_else(|| value.as_integer().map(|i| i as f64))
                        .ok_or_else(|| at(key, "talk takes seconds".into()))?,
                )
            }
            "buckets" => file.buckets = Some(as_list(value).map_err(|e| at(key, e))?),
            name => {
                let condition = Condition::named(name).ok_or_else(|| {
                    at(
                        key,
                        format!(
                            "unknown condition {name:?}; known: seeds, first-seed, talk, buckets, {}",
                            CONDITIONS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
                let list = as_list(value).map_err(|e| at(key, e))?;
                condition.parse(&list).map_err(|e| at(key, e))?;
                file.conditions.push((name.to_owned(), list));
            }
        }
    }
    Ok(file)
}

/// What a grid file sets.
#[derive(Debug, Default)]
pub struct GridFile {
    /// Conditions and their lists, as written.
    pub conditions: Vec<(String, String)>,
    /// Seeds per cell.
    pub seeds: Option<u64>,
    /// The first seed.
    pub first_seed: Option<u64>,
    /// Seconds of talk per call.
    pub talk: Option<f64>,
    /// Histogram buckets, ms.
    pub buckets: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges_parse_into_canonical_values() {
        let loss = Condition::named("media-loss").expect("known");
        assert_eq!(
            loss.parse("0..30/5").expect("parses"),
            ["0", "5", "10", "15", "20", "25", "30"]
        );
        assert_eq!(loss.parse("0,2.5, 10").expect("parses"), ["0", "2.5", "10"]);
        assert_eq!(
            loss.parse("0..0.3/0.1").expect("parses"),
            ["0", "0.1", "0.2", "0.3"]
        );
        for bad in [
            "", "0,,1", "x", "0..30/0", "30..0/5", "101", "5,5", "0..1e9",
        ] {
            assert!(loss.parse(bad).is_err(), "{bad:?}");
        }
        let callkit = Condition::named("callkit").expect("known");
        assert_eq!(callkit.parse("on,off").expect("parses"), ["on", "off"]);
        assert!(
            callkit
                .parse("maybe")
                .expect_err("an error")
                .contains("on, off")
        );
        assert_eq!(callkit.call_options("off"), ["--callkit-off", "both"]);
        assert!(callkit.call_options("on").is_empty());
        let outage = Condition::named("relay-outage").expect("known");
        assert_eq!(
            outage.parse("none, callee:2:5.50").expect("parses"),
            ["none", "callee:2:5.5"]
        );
        assert_eq!(
            outage.call_options("callee:2:5.5"),
            ["--partition", "callee:2:5.5"]
        );
        assert!(outage.call_options("none").is_empty());
        assert!(outage.parse("bob:1:2").is_err() && outage.parse("callee:1").is_err());
    }

    #[test]
    fn cells_are_every_combination_with_the_last_axis_fastest() {
        let axes = [
            Axis {
                name: "media".into(),
                values: vec!["audio".into(), "video".into()],
            },
            Axis {
                name: "media-loss".into(),
                values: vec!["0".into(), "5".into(), "10".into()],
            },
        ];
        let cells = cells(&axes);
        assert_eq!(cells.len(), 6);
        assert_eq!(
            cells[1],
            [
                ("media".to_owned(), "audio".to_owned()),
                ("media-loss".to_owned(), "5".to_owned())
            ]
        );
        assert_eq!(cells[3][0].1, "video");
    }

    #[test]
    fn a_grid_file_names_the_line_of_what_is_wrong() {
        let path = std::path::Path::new("grid.toml");
        let ok = read_grid_file(
            path,
            "seeds = 5\nmedia-loss = \"0..10/5\"\ncallkit = [\"on\", \"off\"]\n",
        )
        .expect("reads");
        assert_eq!(ok.seeds, Some(5));
        assert_eq!(ok.conditions.len(), 2);
        let unknown = read_grid_file(path, "seeds = 5\nmedia-los = [1]\n").expect_err("an error");
        assert!(
            unknown.starts_with("grid.toml:2: unknown condition \"media-los\""),
            "{unknown}"
        );
        let bad = read_grid_file(path, "media-loss = \"0..200/50\"\n").expect_err("an error");
        assert!(
            bad.starts_with("grid.toml:1: --media-loss: 100 is") || bad.contains("outside"),
            "{bad}"
        );
        assert!(read_grid_file(path, "media-loss = [").is_err());
    }
}
