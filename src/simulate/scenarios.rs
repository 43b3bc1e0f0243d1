//! The built-in traces of `simulate --scenario`.
//!
//! Sized for the model's defaults (100 ms mean service, 4 requests at once per dyno, a 1000 ms
//! SLO), under which one dyno carries about 36 requests/s: the demand for a rate λ is about
//! ⌈λ / 36⌉ dynos. Quiet levels ask for 1–2 dynos, peaks for 5–9, so every policy has room to
//! be early, late, short or wasteful. Each scenario gives the same rows every time.

use super::trace::{Trace, TracePoint};

/// A built-in traffic pattern.
#[derive(Debug)]
pub struct Scenario {
    /// What `--scenario` takes, e.g. `spike`.
    pub name: &'static str,
    /// One line for `--scenario list`: the length, the shape, its rates and their demand.
    pub summary: &'static str,
    rows: fn() -> Vec<TracePoint>,
    /// A worker process type's jobs per second at each row.
    jobs: Option<JobRates>,
}

/// A worker process type and its jobs per second at each of the scenario's rows.
type JobRates = (&'static str, fn() -> Vec<f64>);

/// Every built-in scenario, in the order `--scenario list` shows them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "daily",
        summary: "24 h: a quiet night of 25 req/s (1 dyno), office hours 10:00-16:00 at \
                  300 req/s (9 dynos)",
        rows: daily,
        jobs: None,
    },
    Scenario {
        name: "spike",
        summary: "2 h: 40 req/s (2 dynos), a flash crowd of 200 req/s (6 dynos) for 10 minutes \
                  at 0:45",
        rows: spike,
        jobs: None,
    },
    Scenario {
        name: "ramp",
        summary: "3 h: 60 req/s (2 dynos) growing steadily from 0:10 to 240 req/s (7 dynos) at \
                  2:40",
        rows: ramp,
        jobs: None,
    },
    Scenario {
        name: "slow-db",
        summary: "2 h: a steady 110 req/s (3 dynos); service time doubles to 200 ms for 20 min \
                  at 0:45 (7 dynos)",
        rows: slow_db,
        jobs: None,
    },
    Scenario {
        name: "noisy",
        summary: "2 h: 40 req/s (2 dynos) with 22 bursts of 80-300 req/s (3-9 dynos), 1-5 \
                  minutes each",
        rows: noisy,
        jobs: None,
    },
    Scenario {
        name: "night",
        summary: "8 h: near idle, 2-8 req/s (1 dyno)",
        rows: night,
        jobs: None,
    },
    Scenario {
        name: "jobs-burst",
        summary: "2 h: web at 40 req/s (2 dynos); worker jobs of 10 s at 0.3/s, a burst of \
                  4/s for 15 minutes at 0:20, none from 0:51 to 1:10, a batch of about 1,500 \
                  in 3 minutes at 1:10 (needs a worker process type in AUTOSCALE_PROCESSES)",
        rows: jobs_burst,
        jobs: Some(("worker", jobs_burst_jobs)),
    },
];

impl Scenario {
    /// The scenario's rows as a trace named `scenario NAME`.
    pub fn trace(&self) -> Trace {
        let trace = Trace::from_points(format!("scenario {}", self.name), (self.rows)());
        match self.jobs {
            Some((process, rates)) => trace.and_then(|trace| trace.with_jobs(process, &rates())),
            None => trace,
        }
        .expect("every built-in scenario is a valid trace (see the tests)")
    }
}

/// The scenario called `name`, if there is one. `list` is not a scenario: the caller prints
/// [`list`] for it.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|scenario| scenario.name == name)
}

/// What `simulate --scenario list` prints: one line per scenario, the summaries aligned, each
/// line ending in a newline.
pub fn list() -> String {
    let width = SCENARIOS
        .iter()
        .map(|scenario| scenario.name.len())
        .max()
        .unwrap_or(0);
    SCENARIOS
        .iter()
        .map(|scenario| format!("{:width$}  {}\n", scenario.name, scenario.summary))
        .collect()
}

/// The refusal of an unknown `--scenario`, with the nearest name when it looks like a typo.
pub fn unknown_scenario_message(name: &str) -> String {
    let names: Vec<&str> = SCENARIOS.iter().map(|scenario| scenario.name).collect();
    let guess = match nearest_name(name) {
        Some(nearest) => format!(" (did you mean {nearest}?)"),
        None => String::new(),
    };
    format!(
        "--scenario \"{name}\" is not a built-in scenario{guess}: use one of {} (or list)",
        names.join(", ")
    )
}

/// A name at most two edits away (`dayly`, `slowdb`, `nigth`); further off, a guess would
/// mislead more than help.
fn nearest_name(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.to_lowercase();
    SCENARIOS
        .iter()
        .map(|scenario| (strsim::levenshtein(&unknown, scenario.name), scenario.name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;

fn row(seconds: f64, requests_per_second: f64) -> TracePoint {
    TracePoint {
        seconds,
        requests_per_second,
        service_ms: None,
    }
}

/// A row that also sets the mean service time from here on.
fn row_with_service(seconds: f64, requests_per_second: f64, service_ms: f64) -> TracePoint {
    TracePoint {
        service_ms: Some(service_ms),
        ..row(seconds, requests_per_second)
    }
}

const DAILY_NIGHT: f64 = 25.0;
const DAILY_PEAK: f64 = 300.0;

/// A row every 30 minutes: the night level until 06:00, an eased rise to the peak at 10:00, the
/// peak until 16:00, an eased fall back to the night level by 21:00.
fn daily() -> Vec<TracePoint> {
    (0..=48)
        .map(|half_hour| {
            let hour = f64::from(half_hour) / 2.0;
            row(hour * HOUR, daily_rate(hour))
        })
        .collect()
}

fn daily_rate(hour: f64) -> f64 {
    let day_share = match hour {
        h if h < 6.0 => 0.0,
        h if h < 10.0 => ease((h - 6.0) / 4.0),
        h if h <= 16.0 => 1.0,
        h if h < 21.0 => 1.0 - ease((h - 16.0) / 5.0),
        _ => 0.0,
    };
    // Whole requests per second keep the rows readable in `to_csv`.
    (DAILY_NIGHT + day_share * (DAILY_PEAK - DAILY_NIGHT)).round()
}

/// 0 at 0, 1 at 1, flat at both ends: a morning that builds, not a cliff.
fn ease(fraction: f64) -> f64 {
    (1.0 - (std::f64::consts::PI * fraction).cos()) / 2.0
}

const SPIKE_BASE: f64 = 40.0;
const SPIKE_PEAK: f64 = 5.0 * SPIKE_BASE;

/// The crowd arrives over a minute at 0:45, stays 10 minutes, leaves over a minute.
fn spike() -> Vec<TracePoint> {
    let start = 45.0 * MINUTE;
    let at_peak = start + MINUTE;
    let peak_ends = at_peak + 10.0 * MINUTE;
    vec![
        row(0.0, SPIKE_BASE),
        row(start, SPIKE_BASE),
        row(at_peak, SPIKE_PEAK),
        row(peak_ends, SPIKE_PEAK),
        row(peak_ends + MINUTE, SPIKE_BASE),
        row(2.0 * HOUR, SPIKE_BASE),
    ]
}

const RAMP_START: f64 = 60.0;
const RAMP_END: f64 = 4.0 * RAMP_START;

/// Flat for 10 minutes so the policies start settled, linear growth to 2:40, then flat for 20
/// minutes to show who catches up.
fn ramp() -> Vec<TracePoint> {
    vec![
        row(0.0, RAMP_START),
        row(10.0 * MINUTE, RAMP_START),
        row(2.0 * HOUR + 40.0 * MINUTE, RAMP_END),
        row(3.0 * HOUR, RAMP_END),
    ]
}

/// High enough that doubling the service time roughly doubles the demand (3 dynos to 7);
/// at a lower rate the rounding up to whole dynos hides the change.
const SLOW_DB_RATE: f64 = 110.0;
const SLOW_DB_NORMAL_MS: f64 = 100.0;
const SLOW_DB_SLOW_MS: f64 = 2.0 * SLOW_DB_NORMAL_MS;

/// The traffic never changes; only the work per request does, from 0:45 to 1:05.
fn slow_db() -> Vec<TracePoint> {
    let slow_from = 45.0 * MINUTE;
    let slow_until = slow_from + 20.0 * MINUTE;
    vec![
        row_with_service(0.0, SLOW_DB_RATE, SLOW_DB_NORMAL_MS),
        row_with_service(slow_from, SLOW_DB_RATE, SLOW_DB_SLOW_MS),
        row_with_service(slow_until, SLOW_DB_RATE, SLOW_DB_NORMAL_MS),
        row(2.0 * HOUR, SLOW_DB_RATE),
    ]
}

const NOISY_BASE: f64 = 40.0;

/// The bursts of `noisy`: (start minute, minutes at the top, requests/s at the top). Written by
/// hand rather than drawn from a generator so the pattern cannot change with a crate's
/// version; heights, lengths and gaps vary so no fixed delay or streak fits them all.
const NOISY_BURSTS: &[(f64, f64, f64)] = &[
    (3.0, 2.0, 120.0),
    (8.0, 1.0, 200.0),
    (12.0, 3.0, 90.0),
    (18.0, 2.0, 260.0),
    (23.0, 1.0, 150.0),
    (27.0, 4.0, 110.0),
    (34.0, 2.0, 300.0),
    (39.0, 1.0, 80.0),
    (43.0, 3.0, 180.0),
    (50.0, 1.0, 240.0),
    (54.0, 2.0, 130.0),
    (59.0, 5.0, 100.0),
    (67.0, 2.0, 220.0),
    (72.0, 1.0, 160.0),
    (76.0, 3.0, 280.0),
    (83.0, 1.0, 90.0),
    (87.0, 2.0, 200.0),
    (92.0, 4.0, 140.0),
    (99.0, 1.0, 260.0),
    (103.0, 2.0, 110.0),
    (108.0, 3.0, 190.0),
    (114.0, 1.0, 150.0),
];

/// Each burst rises over 30 s, holds, and falls over 30 s back to the base.
fn noisy() -> Vec<TracePoint> {
    let ramp = 30.0;
    let mut rows = vec![row(0.0, NOISY_BASE)];
    for &(start_minute, minutes, peak) in NOISY_BURSTS {
        let start = start_minute * MINUTE;
        let top_ends = start + ramp + minutes * MINUTE;
        rows.extend([
            row(start, NOISY_BASE),
            row(start + ramp, peak),
            row(top_ends, peak),
            row(top_ends + ramp, NOISY_BASE),
        ]);
    }
    rows.push(row(2.0 * HOUR, NOISY_BASE));
    rows
}

/// Requests/s every 30 minutes from 0:00 to 8:00: the evening tail dies down to a trickle
/// and the first early risers come back; never more than one dyno's worth.
const NIGHT_RATES: [f64; 17] = [
    8.0, 7.0, 6.0, 5.0, 4.0, 3.5, 3.0, 2.5, 2.0, 2.0, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0,
];

fn night() -> Vec<TracePoint> {
    NIGHT_RATES
        .iter()
        .zip(0u32..)
        .map(|(&rate, half_hour)| row(f64::from(half_hour) * 30.0 * MINUTE, rate))
        .collect()
}

const JOBS_BURST_WEB: f64 = 40.0;
const JOBS_BURST_BASE: f64 = 0.3;

/// (minute, worker jobs per second), linear between: the base, a burst that outgrows a few
/// dynos for 15 minutes, a quiet stretch long enough to reach zero, and a batch enqueued at
/// once (a newsletter, an import) that no max clears at once.
const JOBS_BURST_RATES: &[(f64, f64)] = &[
    (0.0, JOBS_BURST_BASE),
    (20.0, JOBS_BURST_BASE),
    (21.0, 4.0),
    (35.0, 4.0),
    (36.0, JOBS_BURST_BASE),
    (50.0, JOBS_BURST_BASE),
    (51.0, 0.0),
    (70.0, 0.0),
    (70.5, 10.0),
    (72.5, 10.0),
    (73.0, JOBS_BURST_BASE),
    (120.0, JOBS_BURST_BASE),
];

/// Steady web traffic at the times the job rate turns.
fn jobs_burst() -> Vec<TracePoint> {
    JOBS_BURST_RATES
        .iter()
        .map(|&(minute, _)| row(minute * MINUTE, JOBS_BURST_WEB))
        .collect()
}

fn jobs_burst_jobs() -> Vec<f64> {
    JOBS_BURST_RATES.iter().map(|&(_, rate)| rate).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule of thumb under the model's defaults (see the module docs).
    use crate::simulate::demand::DynoCapacity;

    const REQUESTS_PER_DYNO: f64 = 36.0;
    const DEFAULT_SERVICE_MS: f64 = 100.0;

    fn scenario(name: &str) -> &'static Scenario {
        find(name).unwrap_or_else(|| panic!("scenario {name}"))
    }

    /// The rate a scenario's load amounts to at the default service time: 110 req/s at
    /// 200 ms is as much work as 220 req/s at 100 ms.
    fn load_at_default_service(trace: &Trace, point: &TracePoint) -> f64 {
        point.requests_per_second * trace.service_ms_at(point.seconds, DEFAULT_SERVICE_MS)
            / DEFAULT_SERVICE_MS
    }

    fn loads(trace: &Trace) -> Vec<f64> {
        trace
            .points()
            .iter()
            .map(|point| load_at_default_service(trace, point))
            .collect()
    }

    /// How long the rate stays at `rate` exactly, summed over the trace.
    fn seconds_at(trace: &Trace, rate: f64) -> f64 {
        trace
            .points()
            .windows(2)
            .filter(|pair| {
                pair[0].requests_per_second == rate && pair[1].requests_per_second == rate
            })
            .map(|pair| pair[1].seconds - pair[0].seconds)
            .sum()
    }

    #[test]
    fn every_scenario_is_a_valid_trace_with_its_documented_length() {
        let hours = [
            ("daily", 24.0),
            ("spike", 2.0),
            ("ramp", 3.0),
            ("slow-db", 2.0),
            ("noisy", 2.0),
            ("night", 8.0),
            ("jobs-burst", 2.0),
        ];
        assert_eq!(SCENARIOS.len(), hours.len());
        for (name, hours) in hours {
            let scenario = scenario(name);
            let trace = Trace::from_points(name, (scenario.rows)()).unwrap();
            assert_eq!(trace.duration_seconds(), hours * HOUR, "{name}");
            assert!(
                scenario.summary.starts_with(&format!("{hours} h: ")),
                "{name}: {}",
                scenario.summary
            );
            assert_eq!(scenario.trace().name, format!("scenario {name}"));
        }
    }

    #[test]
    fn scenarios_are_the_same_every_time() {
        for scenario in SCENARIOS {
            assert_eq!(scenario.trace(), scenario.trace(), "{}", scenario.name);
        }
    }

    /// The fewest and most dynos the demand model asks for over the trace's rows (a row is
    /// where the rate turns, so the extremes are at rows), at the model's defaults.
    fn demand_range(trace: &Trace) -> (u32, u32) {
        let demand_at = |point: &TracePoint| {
            let service_ms = trace.service_ms_at(point.seconds, DEFAULT_SERVICE_MS);
            DynoCapacity::new(4, service_ms, 1000.0)
                .expect("the defaults' SLO is within reach")
                .dynos_for(point.requests_per_second)
        };
        let demands: Vec<u32> = trace.points().iter().map(demand_at).collect();
        let low = demands.iter().copied().min().unwrap_or(0);
        let high = demands.iter().copied().max().unwrap_or(0);
        (low, high)
    }

    #[test]
    fn each_summary_gives_the_demand_the_model_finds() {
        for scenario in SCENARIOS {
            let (low, high) = demand_range(&scenario.trace());
            let says = |count: u32| {
                let unit = if count == 1 { "dyno" } else { "dynos" };
                scenario.summary.contains(&format!("({count} {unit})"))
                    || scenario.summary.contains(&format!("-{count} {unit})"))
            };
            assert!(
                says(low) && says(high),
                "{}: demand {low} to {high}, summary {:?}",
                scenario.name,
                scenario.summary
            );
            // jobs-burst keeps the web steady: its change is in the jobs.
            if !["night", "jobs-burst"].contains(&scenario.name) {
                assert!((5..=15).contains(&high), "{}: peak {high}", scenario.name);
            }
            // slow-db holds its rate steady so that doubling the service time shows: its change
            // is in the work per request, not the traffic.
            if scenario.name != "slow-db" {
                assert!(low <= 2, "{}: low {low}", scenario.name);
            }
        }
    }

    #[test]
    fn night_never_asks_for_more_than_one_dyno() {
        let peak = loads(&scenario("night").trace())
            .into_iter()
            .fold(0.0, f64::max);
        assert!(peak <= REQUESTS_PER_DYNO, "{peak}");
    }

    #[test]
    fn daily_is_quiet_at_night_and_peaks_in_office_hours() {
        let trace = scenario("daily").trace();
        assert_eq!(trace.rate_at(3.0 * HOUR), DAILY_NIGHT);
        assert_eq!(trace.rate_at(13.0 * HOUR), DAILY_PEAK);
        assert_eq!(trace.rate_at(23.0 * HOUR), DAILY_NIGHT);
        assert_eq!(seconds_at(&trace, DAILY_PEAK), 6.0 * HOUR);
    }

    #[test]
    fn spike_is_five_times_the_base_for_ten_minutes() {
        let trace = scenario("spike").trace();
        let base = trace.rate_at(0.0);
        let peak = trace
            .points()
            .iter()
            .map(|p| p.requests_per_second)
            .fold(0.0, f64::max);
        assert_eq!(peak, 5.0 * base);
        assert_eq!(seconds_at(&trace, peak), 10.0 * MINUTE);
        assert_eq!(trace.rate_at(trace.duration_seconds()), base);
    }

    #[test]
    fn ramp_ends_at_four_times_its_start() {
        let trace = scenario("ramp").trace();
        assert_eq!(
            trace.rate_at(trace.duration_seconds()),
            4.0 * trace.rate_at(0.0)
        );
        let rates: Vec<f64> = trace
            .points()
            .iter()
            .map(|p| p.requests_per_second)
            .collect();
        assert!(rates.windows(2).all(|pair| pair[0] <= pair[1]), "{rates:?}");
    }

    #[test]
    fn slow_db_doubles_the_service_time_for_twenty_minutes() {
        let trace = scenario("slow-db").trace();
        let slow_seconds: f64 = trace
            .points()
            .windows(2)
            .filter(|pair| trace.service_ms_at(pair[0].seconds, 1.0) == 2.0 * DEFAULT_SERVICE_MS)
            .map(|pair| pair[1].seconds - pair[0].seconds)
            .sum();
        assert_eq!(slow_seconds, 20.0 * MINUTE);
        assert_eq!(trace.service_ms_at(0.0, 1.0), DEFAULT_SERVICE_MS);
        assert_eq!(
            trace.service_ms_at(trace.duration_seconds(), 1.0),
            DEFAULT_SERVICE_MS
        );
        assert!(trace
            .points()
            .iter()
            .all(|p| p.requests_per_second == SLOW_DB_RATE));
    }

    #[test]
    fn noisy_bursts_vary_and_return_to_the_base() {
        let trace = scenario("noisy").trace();
        assert_eq!(trace.rate_at(0.0), NOISY_BASE);
        assert_eq!(trace.rate_at(trace.duration_seconds()), NOISY_BASE);
        let heights: std::collections::BTreeSet<u64> = NOISY_BURSTS
            .iter()
            .map(|&(_, _, peak)| peak as u64)
            .collect();
        assert!(heights.len() >= 10, "{heights:?}");
        assert!(trace.rate_at(35.0 * MINUTE) == 300.0);
    }

    /// The jobs' work in dynos at the model's defaults (10 s jobs, 5 at once), and the batch.
    #[test]
    fn jobs_burst_brings_a_burst_a_quiet_stretch_and_a_batch_for_worker() {
        let trace = scenario("jobs-burst").trace();
        let [stream] = trace.jobs() else {
            panic!("one job stream: {:?}", trace.jobs());
        };
        assert_eq!(stream.process, "worker");
        let rate = |minute: f64| super::super::trace::rate_at(stream.points(), minute * MINUTE);
        let dynos = |minute: f64| rate(minute) * 10.0 / 5.0;
        assert!(dynos(10.0) <= 1.0);
        assert_eq!(dynos(28.0), 8.0);
        assert_eq!((rate(55.0), rate(69.0)), (0.0, 0.0));
        // The batch: the rate's integral from 1:10 to 1:13.
        let batch: f64 = stream
            .points()
            .windows(2)
            .filter(|pair| pair[0].seconds >= 70.0 * MINUTE && pair[1].seconds <= 73.0 * MINUTE)
            .map(|pair| {
                (pair[0].requests_per_second + pair[1].requests_per_second) / 2.0
                    * (pair[1].seconds - pair[0].seconds)
            })
            .sum();
        assert!((1400.0..=1600.0).contains(&batch), "{batch}");
        assert!(trace
            .points()
            .iter()
            .all(|p| p.requests_per_second == JOBS_BURST_WEB));
    }

    #[test]
    fn list_names_every_scenario_aligned() {
        let text = list();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), SCENARIOS.len());
        for (line, scenario) in lines.iter().zip(SCENARIOS) {
            assert!(line.starts_with(scenario.name), "{line}");
            assert_eq!(
                &line[12..],
                scenario.summary,
                "summaries start in one column"
            );
        }
        assert!(text.starts_with("daily       24 h: "), "{text}");
    }

    #[test]
    fn find_knows_the_names_and_nothing_else() {
        assert_eq!(find("slow-db").unwrap().name, "slow-db");
        assert!(find("list").is_none());
        assert!(find("Daily").is_none());
    }

    #[test]
    fn an_unknown_name_gets_the_nearest_one_when_it_looks_like_a_typo() {
        assert_eq!(
            unknown_scenario_message("dayly"),
            "--scenario \"dayly\" is not a built-in scenario (did you mean daily?): use one \
             of daily, spike, ramp, slow-db, noisy, night, jobs-burst (or list)"
        );
        assert!(unknown_scenario_message("slow_db").contains("(did you mean slow-db?)"));
        assert!(unknown_scenario_message("NIGHT").contains("(did you mean night?)"));
        assert_eq!(
            unknown_scenario_message("weekly-sale"),
            "--scenario \"weekly-sale\" is not a built-in scenario: use one of daily, spike, \
             ramp, slow-db, noisy, night, jobs-burst (or list)"
        );
    }
}
