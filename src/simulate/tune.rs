//! `tune`: a search over the settings that shape scaling for the fewest dyno-hours that keep
//! slow or failed requests within a budget, each candidate judged by a simulation.
//!
//! The search is coordinate descent from the user's own settings: each knob in turn tries every
//! value on its list with the others held, and keeps the best; sweeps repeat until one changes
//! nothing (at most [`MAX_SWEEPS`]). The knobs interact (a shorter interval wants more fails),
//! which is why a knob is tried again in the next sweep after the others moved. A full grid
//! would take thousands of runs; this takes a hundred or so, in parallel, and starts from what
//! the user runs today, so "no better settings found" is an answer too.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;
use std::time::Duration;

use super::metrics::PolicyResult;
use crate::Settings;

/// The settings the search moves; the bounds, the schedule and everything else stay as set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Knobs {
    /// `AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS`, in ms (it may be fractional).
    pub interval_ms: u64,
    /// `AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER`.
    pub fails: u64,
    /// `AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER`.
    pub passes: u64,
    /// `AUTOSCALE_MAX_RESPONSE_TIME_IN_MS`.
    pub max_response_ms: u64,
    /// `AUTOSCALE_MIN_RESPONSE_TIME_IN_MS`.
    pub min_response_ms: u64,
    /// `AUTOSCALE_INCREMENT`.
    pub increment: u64,
    /// `AUTOSCALE_PROPORTIONAL_SCALE_UP`.
    pub proportional_scale_up: bool,
    /// `AUTOSCALE_SCALE_DOWN_BACKOFF`.
    pub scale_down_backoff: bool,
    /// `AUTOSCALE_BOOT_TIMEOUT_IN_SECONDS`; 0: no boot wait.
    pub boot_timeout_s: u64,
}

impl Knobs {
    /// The knobs as `settings` set them.
    pub fn of(settings: &Settings) -> Knobs {
        Knobs {
            interval_ms: millis(settings.heartbeat_interval),
            fails: u64::from(settings.number_of_fails_to_scale_up_after),
            passes: u64::from(settings.number_of_passes_to_scale_down_after),
            max_response_ms: millis(settings.max_response_time),
            min_response_ms: millis(settings.min_response_time),
            increment: u64::from(settings.increment),
            proportional_scale_up: settings.proportional_scale_up,
            scale_down_backoff: settings.scale_down_backoff,
            boot_timeout_s: settings.boot_timeout.map_or(0, |timeout| timeout.as_secs()),
        }
    }

    /// `settings` with these knobs.
    pub fn apply(&self, settings: &Settings) -> Settings {
        let count = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        Settings {
            heartbeat_interval: Duration::from_millis(self.interval_ms),
            number_of_fails_to_scale_up_after: count(self.fails),
            number_of_passes_to_scale_down_after: count(self.passes),
            max_response_time: Duration::from_millis(self.max_response_ms),
            min_response_time: Duration::from_millis(self.min_response_ms),
            increment: count(self.increment),
            proportional_scale_up: self.proportional_scale_up,
            scale_down_backoff: self.scale_down_backoff,
            boot_timeout: (self.boot_timeout_s > 0)
                .then(|| Duration::from_secs(self.boot_timeout_s)),
            ..settings.clone()
        }
    }

    /// Whether the worker would accept them: the same rules as the settings' validation.
    fn are_valid(&self) -> bool {
        self.min_response_ms < self.max_response_ms && self.max_response_ms < self.interval_ms
    }

    /// `heroku config:set` arguments for the knobs that differ from `from`, in the table's order.
    pub fn config_vars(&self, from: &Knobs) -> Vec<String> {
        AXES.iter()
            .filter(|axis| (axis.get)(self) != (axis.get)(from))
            .map(|axis| format!("{}={}", axis.variable, (axis.show)((axis.get)(self))))
            .collect()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// One knob: the values tried, how to read and set it, and how `config:set` writes it.
struct Axis {
    variable: &'static str,
    values: &'static [u64],
    get: fn(&Knobs) -> u64,
    set: fn(&mut Knobs, u64),
    show: fn(u64) -> String,
}

const BOOLEAN: &[u64] = &[1, 0];

fn plain(value: u64) -> String {
    value.to_string()
}

fn boolean(value: u64) -> String {
    (value != 0).to_string()
}

fn seconds_of_millis(value: u64) -> String {
    (value as f64 / 1000.0).to_string()
}

/// The knobs in the order they are tried and printed. The values bracket the defaults: the
/// interval between a heartbeat every 10 s (8640 requests a day to the app) and a minute;
/// response-time limits around the usual 1 s SLO.
const AXES: [Axis; 9] = [
    Axis {
        variable: "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS",
        values: &[10_000, 15_000, 20_000, 30_000, 60_000],
        get: |k| k.interval_ms,
        set: |k, v| k.interval_ms = v,
        show: seconds_of_millis,
    },
    Axis {
        variable: "AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER",
        values: &[1, 2, 3, 4, 5],
        get: |k| k.fails,
        set: |k, v| k.fails = v,
        show: plain,
    },
    Axis {
        variable: "AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER",
        values: &[2, 3, 5, 8, 12, 20],
        get: |k| k.passes,
        set: |k, v| k.passes = v,
        show: plain,
    },
    Axis {
        variable: "AUTOSCALE_MAX_RESPONSE_TIME_IN_MS",
        values: &[300, 500, 750, 1000, 1500, 2000],
        get: |k| k.max_response_ms,
        set: |k, v| k.max_response_ms = v,
        show: plain,
    },
    Axis {
        variable: "AUTOSCALE_MIN_RESPONSE_TIME_IN_MS",
        values: &[50, 100, 200, 300, 500],
        get: |k| k.min_response_ms,
        set: |k, v| k.min_response_ms = v,
        show: plain,
    },
    Axis {
        variable: "AUTOSCALE_INCREMENT",
        values: &[1, 2, 3],
        get: |k| k.increment,
        set: |k, v| k.increment = v,
        show: plain,
    },
    Axis {
        variable: "AUTOSCALE_PROPORTIONAL_SCALE_UP",
        values: BOOLEAN,
        get: |k| u64::from(k.proportional_scale_up),
        set: |k, v| k.proportional_scale_up = v != 0,
        show: boolean,
    },
    Axis {
        variable: "AUTOSCALE_SCALE_DOWN_BACKOFF",
        values: BOOLEAN,
        get: |k| u64::from(k.scale_down_backoff),
        set: |k, v| k.scale_down_backoff = v != 0,
        show: boolean,
    },
    Axis {
        variable: "AUTOSCALE_BOOT_TIMEOUT_IN_SECONDS",
        values: &[0, 60, 120, 180],
        get: |k| k.boot_timeout_s,
        set: |k, v| k.boot_timeout_s = v,
        show: plain,
    },
];

/// The names of the knobs, in the order of [`Knobs::config_vars`] and of the table's columns.
pub fn knob_names() -> impl Iterator<Item = &'static str> {
    AXES.iter().map(|axis| axis.variable)
}

/// Each knob's value as `config:set` writes it, in [`knob_names`] order.
pub fn knob_values(knobs: &Knobs) -> Vec<String> {
    AXES.iter()
        .map(|axis| (axis.show)((axis.get)(knobs)))
        .collect()
}

/// Sweeps after which the search stops even if the last one still moved a knob.
pub const MAX_SWEEPS: usize = 4;

/// The most candidates simulated: a day of traffic takes about 1.2 s to simulate on one core,
/// and `tune` on `daily` must answer within a minute on two. Searches from the defaults
/// settle well before it (34 simulations on `daily`).
pub const MAX_SIMULATIONS: usize = 80;

/// What one simulation of a candidate gave, as far as the search cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Requests slower than the SLO or failed, %.
    pub violation_pct: f64,
    /// The 95th percentile latency (a failed request counts as 30 s).
    pub p95_ms: f64,
    /// What the dynos cost, boots included.
    pub dyno_hours: f64,
    /// Up and down together.
    pub scale_calls: u64,
}

impl Figures {
    /// The figures of a simulated policy.
    pub fn of(result: &PolicyResult) -> Figures {
        Figures {
            violation_pct: result.slo_violation_pct,
            p95_ms: result.p95_ms,
            dyno_hours: result.dyno_hours,
            scale_calls: result.scale_ups + result.scale_downs,
        }
    }

    /// Within the budget: cheaper is better, then fewer violations. Over it: fewer violations
    /// is better, whatever the cost. Within beats over. Fewer scale calls break ties.
    pub fn compare(&self, other: &Figures, max_violation_pct: f64) -> Ordering {
        let over = |f: &Figures| f.violation_pct > max_violation_pct;
        let (first, second) = if over(self) {
            (self.violation_pct, self.dyno_hours)
        } else {
            (self.dyno_hours, self.violation_pct)
        };
        let (other_first, other_second) = if over(other) {
            (other.violation_pct, other.dyno_hours)
        } else {
            (other.dyno_hours, other.violation_pct)
        };
        over(self)
            .cmp(&over(other))
            .then(first.total_cmp(&other_first))
            .then(second.total_cmp(&other_second))
            .then(self.scale_calls.cmp(&other.scale_calls))
    }
}

/// A candidate and its figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The settings tried.
    pub knobs: Knobs,
    /// What they gave.
    pub figures: Figures,
}

/// Searches from `start`; returns every candidate simulated, best first (a stable sort: of
/// equals, the one tried first, nearer the start, comes first). `evaluate` runs on `threads`
/// threads at once.
pub fn search<F>(
    start: Knobs,
    max_violation_pct: f64,
    threads: usize,
    evaluate: F,
) -> Vec<Candidate>
where
    F: Fn(&Knobs) -> Figures + Sync,
{
    let mut tried: HashMap<Knobs, (usize, Figures)> = HashMap::new();
    let evaluate_new = |candidates: &[Knobs], tried: &mut HashMap<Knobs, (usize, Figures)>| {
        let room = MAX_SIMULATIONS.saturating_sub(tried.len());
        let fresh: Vec<Knobs> = candidates
            .iter()
            .filter(|knobs| !tried.contains_key(*knobs))
            .copied()
            .take(room)
            .collect();
        for (knobs, figures) in fresh.iter().zip(in_parallel(&fresh, threads, &evaluate)) {
            let order = tried.len();
            tried.insert(*knobs, (order, figures));
        }
    };
    evaluate_new(&[start], &mut tried);
    let mut current = start;
    for _ in 0..MAX_SWEEPS {
        let before = current;
        for axis in &AXES {
            let mut candidates = vec![current];
            for &value in axis.values {
                let mut knobs = current;
                (axis.set)(&mut knobs, value);
                if knobs.are_valid() && !candidates.contains(&knobs) {
                    candidates.push(knobs);
                }
            }
            evaluate_new(&candidates, &mut tried);
            // Past the most simulations, the ones left out are not candidates.
            candidates.retain(|knobs| tried.contains_key(knobs));
            current = candidates
                .iter()
                .copied()
                .min_by(|a, b| tried[a].1.compare(&tried[b].1, max_violation_pct))
                .expect("the current knobs are a candidate");
        }
        if current == before || tried.len() >= MAX_SIMULATIONS {
            break;
        }
    }
    let mut ranked: Vec<(usize, Candidate)> = tried
        .into_iter()
        .map(|(knobs, (order, figures))| (order, Candidate { knobs, figures }))
        .collect();
    ranked.sort_by_key(|(order, _)| *order);
    let mut ranked: Vec<Candidate> = ranked.into_iter().map(|(_, candidate)| candidate).collect();
    ranked.sort_by(|a, b| a.figures.compare(&b.figures, max_violation_pct));
    ranked
}

/// `evaluate` on each of `knobs`, `threads` at a time; the results in `knobs`' order.
fn in_parallel<F>(knobs: &[Knobs], threads: usize, evaluate: &F) -> Vec<Figures>
where
    F: Fn(&Knobs) -> Figures + Sync,
{
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; knobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, knobs.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, AtomicOrdering::Relaxed);
                let Some(candidate) = knobs.get(index) else {
                    break;
                };
                let figures = evaluate(candidate);
                results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(figures);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|figures| figures.expect("every candidate was evaluated"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Knobs = Knobs {
        interval_ms: 30_000,
        fails: 3,
        passes: 5,
        max_response_ms: 1000,
        min_response_ms: 200,
        increment: 1,
        proportional_scale_up: true,
        scale_down_backoff: true,
        boot_timeout_s: 120,
    };

    /// A made-up landscape: violations fall with a quicker reaction (short interval, few
    /// fails, a low max); cost rises with it, with lazy scale-downs (many passes, a low min)
    /// and with big steps.
    fn landscape(knobs: &Knobs) -> Figures {
        assert!(
            knobs.are_valid(),
            "an invalid candidate was simulated: {knobs:?}"
        );
        let reaction = knobs.interval_ms as f64 / 1000.0 * knobs.fails as f64
            + knobs.max_response_ms as f64 / 100.0;
        let violation_pct = reaction / 15.0;
        let dyno_hours = 100.0 + 500.0 / reaction + knobs.passes as f64 / 2.0
            - knobs.min_response_ms as f64 / 100.0
            + knobs.increment as f64
            + if knobs.scale_down_backoff { 0.0 } else { 1.0 };
        Figures {
            violation_pct,
            p95_ms: 0.0,
            dyno_hours,
            scale_calls: 10,
        }
    }

    /// Every valid combination of the knobs' values.
    fn grid() -> Vec<Knobs> {
        let mut all = vec![DEFAULTS];
        for axis in &AXES {
            all = all
                .iter()
                .flat_map(|knobs| {
                    axis.values.iter().map(move |&value| {
                        let mut knobs = *knobs;
                        (axis.set)(&mut knobs, value);
                        knobs
                    })
                })
                .collect();
        }
        all.retain(Knobs::are_valid);
        all
    }

    #[test]
    fn the_best_within_the_budget_is_cheapest_and_over_it_least_violating() {
        let figures = |violation_pct, dyno_hours| Figures {
            violation_pct,
            p95_ms: 0.0,
            dyno_hours,
            scale_calls: 0,
        };
        let cheap_within = figures(0.9, 10.0);
        let dear_within = figures(0.1, 20.0);
        let cheap_over = figures(5.0, 1.0);
        let nearly_within = figures(1.1, 50.0);
        let mut all = [nearly_within, cheap_over, dear_within, cheap_within];
        all.sort_by(|a, b| a.compare(b, 1.0));
        assert_eq!(all, [cheap_within, dear_within, nearly_within, cheap_over]);
    }

    #[test]
    fn the_search_comes_near_the_best_of_the_whole_grid_in_far_fewer_runs() {
        let grid = grid();
        let optimum = grid
            .iter()
            .map(landscape)
            .min_by(|a, b| a.compare(b, 1.0))
            .expect("a grid");
        assert!(optimum.violation_pct <= 1.0);
        let ranked = search(DEFAULTS, 1.0, 2, landscape);
        let best = ranked[0].figures;
        assert!(best.violation_pct <= 1.0, "{best:?}");
        assert!(
            best.dyno_hours <= optimum.dyno_hours * 1.02,
            "found {best:?}, the grid's best is {optimum:?}"
        );
        assert!(ranked.len() <= MAX_SIMULATIONS);
        assert!(
            ranked.len() * 100 < grid.len(),
            "{} runs for a grid of {}",
            ranked.len(),
            grid.len()
        );
        let unique: std::collections::HashSet<Knobs> = ranked.iter().map(|c| c.knobs).collect();
        assert_eq!(unique.len(), ranked.len(), "each candidate simulated once");
        for pair in ranked.windows(2) {
            assert_ne!(
                pair[0].figures.compare(&pair[1].figures, 1.0),
                Ordering::Greater
            );
        }
    }

    #[test]
    fn settings_that_cannot_be_bettered_stay_first() {
        // Every candidate alike: the start stays the best, and the search stops after a sweep.
        let flat = |_: &Knobs| Figures {
            violation_pct: 0.5,
            p95_ms: 0.0,
            dyno_hours: 10.0,
            scale_calls: 0,
        };
        let ranked = search(DEFAULTS, 1.0, 1, flat);
        assert_eq!(ranked[0].knobs, DEFAULTS);
        assert!(ranked[0].knobs.config_vars(&DEFAULTS).is_empty());
    }

    #[test]
    fn config_vars_name_only_what_changed_as_the_settings_are_written() {
        let tuned = Knobs {
            interval_ms: 15_000,
            scale_down_backoff: false,
            boot_timeout_s: 0,
            ..DEFAULTS
        };
        assert_eq!(
            tuned.config_vars(&DEFAULTS),
            [
                "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS=15",
                "AUTOSCALE_SCALE_DOWN_BACKOFF=false",
                "AUTOSCALE_BOOT_TIMEOUT_IN_SECONDS=0",
            ]
        );
        let half = Knobs {
            interval_ms: 500,
            ..DEFAULTS
        };
        assert_eq!(
            half.config_vars(&DEFAULTS),
            ["AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS=0.5"]
        );
    }
}
