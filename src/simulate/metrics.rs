//! What one policy did, measured: request latencies against the SLO, and its supply of dynos
//! against the demand (the SPEC Research Group's elasticity metrics, DESIGN §7).

use hdrhistogram::Histogram;
use serde::Serialize;

use super::queue::{Outcome, ROUTER_TIMEOUT_SECONDS};

/// Answers are recorded in microseconds, up to twice the router's timeout.
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;

/// Request latencies: answers in a histogram with 0.1 % precision; failed requests counted
/// apart, as the router's 30 s, above every answer.
#[derive(Debug, Clone)]
pub struct Latencies {
    answered: Histogram<u64>,
    failed: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            answered: Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
                .expect("valid histogram bounds"),
            failed: 0,
        }
    }
}

impl Latencies {
    /// Records one request's outcome.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Answered(seconds) => {
                let micros = (seconds * 1e6).round().max(1.0) as u64;
                self.answered.saturating_record(micros);
            }
            Outcome::TimedOut | Outcome::NoDyno => self.failed += 1,
        }
    }

    /// The latency at `quantile` (0 to 1), in ms; 0 when nothing was recorded.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        let answered = self.answered.len();
        let total = answered + self.failed;
        if total == 0 {
            return 0.0;
        }
        // The nearest rank: the smallest value with at least that share of values at or
        // below it. Failed requests rank above every answer (none takes longer than 30 s).
        let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
        if rank > answered {
            return ROUTER_TIMEOUT_SECONDS * 1000.0;
        }
        let mut counted = 0;
        for bucket in self.answered.iter_recorded() {
            counted += bucket.count_at_value();
            if counted >= rank {
                // The bucket's lowest value: within 0.1 % of what was recorded, never above.
                let value = self.answered.lowest_equivalent(bucket.value_iterated_to());
                return value as f64 / 1000.0;
            }
        }
        self.answered.max() as f64 / 1000.0
    }

    /// Forgets every value (for the chart's per-minute p95).
    pub fn clear(&mut self) {
        self.answered.reset();
        self.failed = 0;
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.answered.is_empty() && self.failed == 0
    }
}

/// The running measurements of one policy.
#[derive(Debug, Clone)]
pub struct Recorder {
    slo_seconds: f64,
    latencies: Latencies,
    requests: u64,
    violations: u64,
    h12: u64,
    h14: u64,
    scale_ups: u64,
    scale_downs: u64,
    notices: u64,
    // The state since `since`, integrated whenever it changes.
    since: f64,
    demand: u32,
    serving: u32,
    asked: u32,
    most_asked: u32,
    supply_changes: u64,
    missing_dyno_seconds: f64,
    surplus_dyno_seconds: f64,
    seconds_under: f64,
    seconds_over: f64,
    billed_dyno_seconds: f64,
}

impl Recorder {
    /// Starts at time 0 with `dynos` serving and a demand of `demand`.
    pub fn new(slo_seconds: f64, dynos: u32, demand: u32) -> Self {
        Recorder {
            slo_seconds,
            latencies: Latencies::default(),
            requests: 0,
            violations: 0,
            h12: 0,
            h14: 0,
            scale_ups: 0,
            scale_downs: 0,
            notices: 0,
            since: 0.0,
            demand,
            serving: dynos,
            asked: dynos,
            most_asked: dynos,
            supply_changes: 0,
            missing_dyno_seconds: 0.0,
            surplus_dyno_seconds: 0.0,
            seconds_under: 0.0,
            seconds_over: 0.0,
            billed_dyno_seconds: 0.0,
        }
    }

    /// One user request (heartbeats are not recorded: they are the worker's, not the users').
    pub fn request(&mut self, outcome: Outcome) {
        self.requests += 1;
        self.latencies.record(outcome);
        let violation = match outcome {
            Outcome::Answered(seconds) => seconds > self.slo_seconds,
            Outcome::TimedOut => {
                self.h12 += 1;
                true
            }
            Outcome::NoDyno => {
                self.h14 += 1;
                true
            }
        };
        self.violations += u64::from(violation);
    }

    /// A scale call from `from` to `to` dynos.
    pub fn scale_call(&mut self, from: u32, to: u32) {
        if to > from {
            self.scale_ups += 1;
        } else if to < from {
            self.scale_downs += 1;
        }
    }

    /// A notice the worker sent.
    pub fn notice(&mut self) {
        self.notices += 1;
    }

    /// The dynos asked for and serving changed (or may have) at `now`.
    pub fn supply(&mut self, now: f64, serving: u32, asked: u32) {
        self.integrate_to(now);
        self.supply_changes += u64::from(serving != self.serving);
        self.serving = serving;
        self.asked = asked;
        self.most_asked = self.most_asked.max(asked);
    }

    /// The demand changed (or may have) at `now`.
    pub fn demand(&mut self, now: f64, demand: u32) {
        self.integrate_to(now);
        self.demand = demand;
    }

    fn integrate_to(&mut self, now: f64) {
        let span = now - self.since;
        if span <= 0.0 {
            return;
        }
        let (demand, serving) = (f64::from(self.demand), f64::from(self.serving));
        self.missing_dyno_seconds += (demand - serving).max(0.0) * span;
        self.surplus_dyno_seconds += (serving - demand).max(0.0) * span;
        if self.serving < self.demand {
            self.seconds_under += span;
        } else if self.serving > self.demand {
            self.seconds_over += span;
        }
        self.billed_dyno_seconds += f64::from(self.asked) * span;
        self.since = now;
    }

    /// The results over a run of `duration` seconds in which the demand changed
    /// `demand_changes` times.
    pub fn finish(mut self, duration: f64, demand_changes: u64) -> PolicyResult {
        self.integrate_to(duration);
        let per_second = |total: f64| {
            if duration > 0.0 {
                total / duration
            } else {
                0.0
            }
        };
        let hours = duration / 3600.0;
        let jitter = self.supply_changes as f64 - demand_changes as f64;
        PolicyResult {
            requests: self.requests,
            slo_violation_pct: round(percent(self.violations, self.requests), 3),
            p50_ms: round(self.latencies.quantile_ms(0.50), 1),
            p95_ms: round(self.latencies.quantile_ms(0.95), 1),
            p99_ms: round(self.latencies.quantile_ms(0.99), 1),
            h12: self.h12,
            h14: self.h14,
            dyno_hours: round(self.billed_dyno_seconds / 3600.0, 3),
            scale_ups: self.scale_ups,
            scale_downs: self.scale_downs,
            max_dynos: self.most_asked,
            theta_u: round(per_second(self.missing_dyno_seconds), 4),
            theta_o: round(per_second(self.surplus_dyno_seconds), 4),
            tau_u: round(per_second(self.seconds_under), 4),
            tau_o: round(per_second(self.seconds_over), 4),
            jitter_per_hour: round(if hours > 0.0 { jitter / hours } else { 0.0 }, 3),
            notices: self.notices,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Rounds to `decimals` places, so the JSON reads well and stays the same for a seed.
pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One policy's figures (the `--json` field names; docs/simulation.md defines each).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// User requests (heartbeats not included).
    pub requests: u64,
    /// Requests slower than the SLO or failed, % of requests.
    pub slo_violation_pct: f64,
    /// Median latency, ms (a failed request counts as 30 s).
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Requests the router gave up on after 30 s.
    pub h12: u64,
    /// Requests that found no dyno serving.
    pub h14: u64,
    /// Dyno-hours billed: from each scale call, boot included.
    pub dyno_hours: f64,
    /// Scale calls that added dynos.
    pub scale_ups: u64,
    /// Scale calls that removed dynos.
    pub scale_downs: u64,
    /// The most dynos asked for at once.
    pub max_dynos: u32,
    /// Dynos missing on average: (1/T)∫max(d − s, 0)dt.
    pub theta_u: f64,
    /// Dynos in surplus on average: (1/T)∫max(s − d, 0)dt.
    pub theta_o: f64,
    /// Share of the time with fewer dynos serving than the demand.
    pub tau_u: f64,
    /// Share of the time with more dynos serving than the demand.
    pub tau_o: f64,
    /// (Supply changes − demand changes) per hour: negative is sluggish, positive flapping.
    pub jitter_per_hour: f64,
    /// Notices the worker sent (0 for the baselines that run no worker).
    pub notices: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_supply_and_demand_step_gives_every_metric() {
        // One hour. Demand: 2 dynos, then 4 from 1200 s. Supply: 2 serving; a scale call to 4
        // at 1500 s, serving from 1545 s; back to 3 at 3000 s.
        let mut recorder = Recorder::new(1.0, 2, 2);
        recorder.demand(1200.0, 4);
        recorder.scale_call(2, 4);
        recorder.supply(1500.0, 2, 4);
        recorder.supply(1545.0, 4, 4);
        recorder.scale_call(4, 3);
        recorder.supply(3000.0, 3, 3);
        for latency in [0.1, 0.2, 0.3, 2.0] {
            recorder.request(Outcome::Answered(latency));
        }
        recorder.request(Outcome::TimedOut);
        recorder.request(Outcome::NoDyno);
        let result = recorder.finish(3600.0, 1);

        assert_eq!(result.requests, 6);
        // 2.0 s, the H12 and the H14: 3 of 6.
        assert_eq!(result.slo_violation_pct, 50.0);
        assert_eq!((result.h12, result.h14), (1, 1));
        // The histogram keeps three significant digits.
        let about = |ms: f64, expected: f64| (ms - expected).abs() <= expected / 1000.0;
        assert!(about(result.p50_ms, 300.0), "{}", result.p50_ms);
        assert_eq!(result.p95_ms, 30_000.0);
        assert_eq!(result.p99_ms, 30_000.0);
        // Billed: 2 × 1500 + 4 × 1500 + 3 × 600 = 10 800 dyno-seconds.
        assert_eq!(result.dyno_hours, 3.0);
        assert_eq!((result.scale_ups, result.scale_downs), (1, 1));
        assert_eq!(result.max_dynos, 4);
        // Missing 2 dynos from 1200 to 1545 s, then 1 from 3000 to 3600 s: (690 + 600) / 3600.
        assert_eq!(result.theta_u, round(1290.0 / 3600.0, 4));
        assert_eq!(result.theta_o, 0.0);
        // Under for 345 + 600 s, never over.
        assert_eq!(result.tau_u, round(945.0 / 3600.0, 4));
        assert_eq!(result.tau_o, 0.0);
        // Supply changed twice (at 1545 and 3000 s), demand once, in one hour.
        assert_eq!(result.jitter_per_hour, 1.0);
    }

    #[test]
    fn percentiles_rank_failed_requests_above_every_answer() {
        let mut latencies = Latencies::default();
        for ms in 1..=90 {
            latencies.record(Outcome::Answered(f64::from(ms) / 1000.0));
        }
        for _ in 0..10 {
            latencies.record(Outcome::TimedOut);
        }
        let about = |ms: f64, expected: f64| (ms - expected).abs() <= expected / 1000.0;
        assert!(about(latencies.quantile_ms(0.5), 50.0));
        assert!(about(latencies.quantile_ms(0.9), 90.0));
        assert_eq!(latencies.quantile_ms(0.91), 30_000.0);
        latencies.clear();
        assert!(latencies.is_empty());
        assert_eq!(latencies.quantile_ms(0.5), 0.0);
    }

    #[test]
    fn surplus_counts_as_over() {
        let mut recorder = Recorder::new(1.0, 5, 2);
        recorder.supply(1800.0, 3, 3);
        let result = recorder.finish(3600.0, 0);
        // 3 surplus for half an hour, 1 for the other half.
        assert_eq!(result.theta_o, 2.0);
        assert_eq!(result.tau_o, 1.0);
        assert_eq!(result.dyno_hours, 4.0);
    }
}
