//! Worker process types scaled from the app's job queue: `[processes.NAME]` tables in a TOML
//! file, or one `AUTOSCALE_PROCESSES` variable for Heroku config vars, with the same keys:
//!
//! ```text
//! AUTOSCALE_PROCESSES="worker: max_dynos=5 jobs_per_dyno=50; urgentworker: min_dynos=1 max_dynos=3 max_latency_in_seconds=30"
//! ```
//!
//! Entries are separated by `;`, keys by spaces; a key's value runs to the next space, so a
//! schedule is written without spaces (`min_dynos=0:00=0,8:00=2`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::raw::{whole_number, RawValue};
use super::schedule::{first_conflict, DynoLimit};

/// How a process type's queue value is read, and so how it is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMeasure {
    /// The value is jobs waiting: `ceil(value / jobs_per_dyno)` dynos are wanted.
    Size {
        /// Jobs one dyno is expected to keep up with.
        jobs_per_dyno: u32,
    },
    /// The value is how long the oldest job has waited: dynos are added while it is over.
    Latency {
        /// The most seconds a job should wait.
        max_seconds: u32,
    },
}

/// One worker process type's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSettings {
    /// The Procfile process type, as the queue document names it.
    pub name: String,
    /// Fewest dynos, by time of day (0 allowed).
    pub min_dynos: DynoLimit,
    /// Most dynos, by time of day.
    pub max_dynos: DynoLimit,
    /// What the queue value means.
    pub measure: QueueMeasure,
    /// How long the queue must stay empty before the last dyno goes; `None`: the global
    /// `AUTOSCALE_IDLE_MINUTES_BEFORE_ZERO`.
    pub idle_before_zero: Option<Duration>,
}

impl fmt::Display for QueueMeasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueMeasure::Size { jobs_per_dyno } => write!(f, "jobs_per_dyno={jobs_per_dyno}"),
            QueueMeasure::Latency { max_seconds } => {
                write!(f, "max_latency_in_seconds={max_seconds}")
            }
        }
    }
}

impl fmt::Display for ProcessSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: min_dynos={} max_dynos={} {}",
            self.name, self.min_dynos, self.max_dynos, self.measure
        )?;
        if let Some(idle) = self.idle_before_zero {
            write!(f, " idle_minutes_before_zero={}", idle.as_secs_f64() / 60.0)?;
        }
        Ok(())
    }
}

/// The keys a process type takes.
pub const PROCESS_KEYS: [&str; 5] = [
    "min_dynos",
    "max_dynos",
    "jobs_per_dyno",
    "max_latency_in_seconds",
    "idle_minutes_before_zero",
];

/// Longest idle wait before zero: a day.
pub const LONGEST_IDLE_MINUTES: f64 = 1_440.0;

/// Heroku's process type names (and hirefire-resource's).
pub fn is_process_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 30
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The process types in `value` (a TOML table of tables, or the variable's text), or every
/// problem found, each naming the process type and the key. `web` is the process type the
/// heartbeat scales, which none of these may be.
pub(super) fn parse_processes(
    value: &RawValue,
    web: &str,
) -> Result<Vec<ProcessSettings>, Vec<String>> {
    let entries: Vec<(String, Result<Keys, String>)> = match value {
        RawValue::Table(table) => table
            .iter()
            .map(|(name, keys)| {
                let keys = match keys {
                    RawValue::Table(keys) => Ok(keys.clone()),
                    other => Err(format!(
                        "process \"{name}\" must be a table of keys, like [processes.{name}], \
                         not {other}"
                    )),
                };
                (name.clone(), keys)
            })
            .collect(),
        RawValue::Text(text) => match parse_text(text) {
            Ok(entries) => entries.into_iter().map(|(n, k)| (n, Ok(k))).collect(),
            Err(problem) => return Err(vec![problem]),
        },
        other => {
            return Err(vec![format!(
                "must be process types like \"worker: max_dynos=5 jobs_per_dyno=50\" (in TOML: \
                 [processes.worker] tables), not {other}"
            )])
        }
    };
    let mut problems = Vec::new();
    let mut processes: Vec<ProcessSettings> = Vec::new();
    for (name, keys) in entries {
        let parsed = keys.and_then(|keys| process(&name, &keys, web));
        match parsed {
            Ok(_) if processes.iter().any(|p| p.name == name) => {
                problems.push(format!("process \"{name}\" is given twice"))
            }
            Ok(process) => processes.push(process),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(processes)
    } else {
        Err(problems)
    }
}

/// One process type's keys as given.
type Keys = BTreeMap<String, RawValue>;

/// `name: key=value key=value; name: ...` into names and their keys; keys given twice refused.
fn parse_text(text: &str) -> Result<Vec<(String, Keys)>, String> {
    let mut entries = Vec::new();
    for entry in text
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (name, keys) = entry.split_once(':').ok_or_else(|| {
            format!(
                "entry \"{entry}\" is not NAME: KEY=VALUE ..., like \"worker: max_dynos=5 \
                 jobs_per_dyno=50\""
            )
        })?;
        let name = name.trim().to_string();
        let mut table = BTreeMap::new();
        for pair in keys.split_whitespace() {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                format!("process \"{name}\": \"{pair}\" is not KEY=VALUE, like max_dynos=5")
            })?;
            if table
                .insert(key.to_string(), RawValue::Text(value.to_string()))
                .is_some()
            {
                return Err(format!("process \"{name}\": {key} is given twice"));
            }
        }
        entries.push((name, table));
    }
    if entries.is_empty() {
        return Err(
            "names no process type: give \"NAME: KEY=VALUE ...\" entries, or unset it".into(),
        );
    }
    Ok(entries)
}

fn process(
    name: &str,
    keys: &BTreeMap<String, RawValue>,
    web: &str,
) -> Result<ProcessSettings, String> {
    let problem = |message: String| format!("process \"{name}\": {message}");
    if !is_process_name(name) {
        return Err(problem(
            "is not a process type name: a letter, then up to 29 letters, digits, _ or -".into(),
        ));
    }
    if name == web {
        return Err(problem(format!(
            "is the process type the heartbeat scales (AUTOSCALE_PROCESS_TYPE={web}); a queue \
             scales other process types"
        )));
    }
    if let Some(unknown) = keys
        .keys()
        .find(|key| !PROCESS_KEYS.contains(&key.as_str()))
    {
        return Err(problem(format!(
            "unknown key \"{unknown}\"; the keys are {}",
            PROCESS_KEYS.join(", ")
        )));
    }
    let text = |key: &'static str| keys.get(key).map(|value| (key, value.to_string()));
    let limit = |key: &str| -> Result<Option<DynoLimit>, String> {
        match keys.get(key) {
            None => Ok(None),
            Some(RawValue::Table(table)) => {
                let entries = table
                    .iter()
                    .map(|(time, count)| (time.clone(), count.to_string()))
                    .collect();
                DynoLimit::from_entries(entries).map(Some)
            }
            Some(value) => DynoLimit::parse(&value.to_string()).map(Some),
        }
        .map_err(|reason| {
            problem(format!(
                "{key}={}: {reason}; expected a number of dynos like 3, or a schedule like \
                 0:00=0,8:00=2",
                keys[key]
            ))
        })
    };
    let min_dynos = limit("min_dynos")?.unwrap_or(DynoLimit::Fixed(0));
    let max_dynos = limit("max_dynos")?
        .ok_or_else(|| problem("max_dynos is required: the most dynos to run".into()))?;
    if let Some((time, min, max)) = first_conflict(&min_dynos, &max_dynos) {
        return Err(problem(format!(
            "at {time} min_dynos gives {min}, more than max_dynos gives then ({max}); the minimum \
             must never exceed the maximum"
        )));
    }
    let positive = |(key, value): (&str, String)| {
        whole_number(&value).filter(|n| *n >= 1).ok_or_else(|| {
            problem(format!(
                "{key}={value}: must be a whole number from 1, like 50"
            ))
        })
    };
    let measure =
        match (text("jobs_per_dyno"), text("max_latency_in_seconds")) {
            (Some(jobs), None) => QueueMeasure::Size {
                jobs_per_dyno: positive(jobs)?,
            },
            (None, Some(latency)) => QueueMeasure::Latency {
                max_seconds: positive(latency)?,
            },
            (Some(_), Some(_)) => return Err(problem(
                "give jobs_per_dyno (the value is a queue size) or max_latency_in_seconds (the \
                 value is a latency), not both"
                    .into(),
            )),
            (None, None) => {
                return Err(problem(
                    "give jobs_per_dyno (the value is a queue size, like 50) or \
                 max_latency_in_seconds (the value is a latency, like 30)"
                        .into(),
                ))
            }
        };
    let idle_before_zero = text("idle_minutes_before_zero")
        .map(|(key, value)| {
            parse_idle_minutes(&value).map_err(|m| problem(format!("{key}={value}: {m}")))
        })
        .transpose()?;
    Ok(ProcessSettings {
        name: name.to_string(),
        min_dynos,
        max_dynos,
        measure,
        idle_before_zero,
    })
}

/// Minutes from 0 (at once) to a day, decimals allowed.
pub(super) fn parse_idle_minutes(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(minutes) if (0.0..=LONGEST_IDLE_MINUTES).contains(&minutes) => {
            Ok(Duration::from_secs_f64(minutes * 60.0))
        }
        _ => Err(format!(
            "must be a number of minutes from 0 to {LONGEST_IDLE_MINUTES}, decimals allowed, \
             like 5 or 0.5"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> RawValue {
        RawValue::Text(value.into())
    }

    fn table(entries: &[(&str, RawValue)]) -> RawValue {
        RawValue::Table(
            entries
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect(),
        )
    }

    #[test]
    fn the_variable_and_the_toml_tables_say_the_same() {
        let variable = text(
            "worker: max_dynos=5 jobs_per_dyno=50; urgentworker: min_dynos=0:00=0,8:00=1 \
             max_dynos=3 max_latency_in_seconds=30 idle_minutes_before_zero=0.5",
        );
        let toml = table(&[
            (
                "worker",
                table(&[
                    ("max_dynos", RawValue::Whole(5)),
                    ("jobs_per_dyno", RawValue::Whole(50)),
                ]),
            ),
            (
                "urgentworker",
                table(&[
                    (
                        "min_dynos",
                        table(&[("0:00", RawValue::Whole(0)), ("8:00", RawValue::Whole(1))]),
                    ),
                    ("max_dynos", RawValue::Whole(3)),
                    ("max_latency_in_seconds", RawValue::Whole(30)),
                    ("idle_minutes_before_zero", RawValue::Number(0.5)),
                ]),
            ),
        ]);
        let mut from_variable = parse_processes(&variable, "web").unwrap();
        let from_toml = parse_processes(&toml, "web").unwrap();
        from_variable.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(from_variable, from_toml);
        let worker = from_toml.iter().find(|p| p.name == "worker").unwrap();
        assert_eq!(worker.min_dynos, DynoLimit::Fixed(0), "min defaults to 0");
        assert_eq!(worker.measure, QueueMeasure::Size { jobs_per_dyno: 50 });
        assert_eq!(worker.idle_before_zero, None);
        let urgent = from_toml.iter().find(|p| p.name == "urgentworker").unwrap();
        assert_eq!(urgent.measure, QueueMeasure::Latency { max_seconds: 30 });
        assert_eq!(urgent.idle_before_zero, Some(Duration::from_secs(30)));
        assert_eq!(
            urgent.to_string(),
            "urgentworker: min_dynos=0:00=0,8:00=1 max_dynos=3 max_latency_in_seconds=30 \
             idle_minutes_before_zero=0.5"
        );
    }

    #[test]
    fn each_mistake_is_refused_naming_the_process_and_the_key() {
        let cases = [
            ("worker: max_dynos=5", "give jobs_per_dyno"),
            (
                "worker: max_dynos=5 jobs_per_dyno=5 max_latency_in_seconds=9",
                "not both",
            ),
            ("worker: jobs_per_dyno=5", "max_dynos is required"),
            (
                "worker: max_dynos=5 jobs_per_dynos=5",
                "unknown key \"jobs_per_dynos\"",
            ),
            (
                "worker: max_dynos=2 min_dynos=3 jobs_per_dyno=5",
                "min_dynos gives 3",
            ),
            (
                "worker: max_dynos=0:00=1,9:00=4 min_dynos=0:00=0,8:00=2 jobs_per_dyno=5",
                "at 8:00 min_dynos gives 2",
            ),
            (
                "worker: max_dynos=5 jobs_per_dyno=0",
                "jobs_per_dyno=0: must be a whole number",
            ),
            ("worker: max_dynos=5 jobs_per_dyno=2.5", "jobs_per_dyno=2.5"),
            ("worker: max_dynos=lots jobs_per_dyno=5", "max_dynos=lots"),
            (
                "worker: max_dynos=5 jobs_per_dyno=5 idle_minutes_before_zero=-1",
                "from 0 to 1440",
            ),
            (
                "worker: max_dynos=5 jobs_per_dyno=5; worker: max_dynos=2 jobs_per_dyno=5",
                "given twice",
            ),
            (
                "worker: max_dynos=5 max_dynos=6 jobs_per_dyno=5",
                "max_dynos is given twice",
            ),
            (
                "web: max_dynos=5 jobs_per_dyno=5",
                "the process type the heartbeat scales",
            ),
            (
                "9lives: max_dynos=5 jobs_per_dyno=5",
                "is not a process type name",
            ),
            ("worker max_dynos=5", "is not NAME: KEY=VALUE"),
            ("worker: max_dynos 5", "is not KEY=VALUE"),
            (" ; ", "names no process type"),
        ];
        for (given, expected) in cases {
            let problems = parse_processes(&text(given), "web").unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{given:?}: {problems:?} does not say {expected:?}"
            );
            if given.starts_with("worker") {
                assert!(
                    problems.iter().all(|p| p.contains("worker")),
                    "{problems:?}"
                );
            }
        }
    }

    #[test]
    fn process_names_follow_heroku() {
        for name in ["worker", "urgent_worker", "w-2", "a"] {
            assert!(is_process_name(name), "{name}");
        }
        for name in ["", "2x", "worker.1", "my worker", &"w".repeat(31)] {
            assert!(!is_process_name(name), "{name}");
        }
    }
}
