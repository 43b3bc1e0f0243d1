//! What one policy did with one worker process type: how long its jobs waited for a dyno, and
//! what its dynos cost.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::metrics::round;
use super::trace::MAX_DURATION_SECONDS;

/// The running measurements of one process type in one policy.
#[derive(Debug, Clone)]
pub struct JobRecorder {
    /// Waits in ms, with 0.1 % precision.
    waits: Histogram<u64>,
    most_waiting: usize,
    scale_ups: u64,
    scale_downs: u64,
    notices: u64,
    since: f64,
    asked: u32,
    most_asked: u32,
    billed_dyno_seconds: f64,
}

impl JobRecorder {
    /// Starts at time 0 with `dynos` asked for.
    pub fn new(dynos: u32) -> Self {
        JobRecorder {
            waits: Histogram::new_with_max((MAX_DURATION_SECONDS * 1000.0) as u64, 3)
                .expect("valid histogram bounds"),
            most_waiting: 0,
            scale_ups: 0,
            scale_downs: 0,
            notices: 0,
            since: 0.0,
            asked: dynos,
            most_asked: dynos,
            billed_dyno_seconds: 0.0,
        }
    }

    /// A job started after waiting `seconds` (or was still waiting that long at the end).
    pub fn wait(&mut self, seconds: f64) {
        self.waits
            .saturating_record((seconds * 1000.0).round().max(0.0) as u64);
    }

    /// `waiting` jobs wait for a slot.
    pub fn queue(&mut self, waiting: usize) {
        self.most_waiting = self.most_waiting.max(waiting);
    }

    /// A scale call at `now` from `from` to `to` dynos.
    pub fn scale_call(&mut self, now: f64, from: u32, to: u32) {
        self.integrate_to(now);
        if to > from {
            self.scale_ups += 1;
        } else if to < from {
            self.scale_downs += 1;
        }
        self.asked = to;
        self.most_asked = self.most_asked.max(to);
    }

    /// A notice the worker sent about this process type.
    pub fn notice(&mut self) {
        self.notices += 1;
    }

    fn integrate_to(&mut self, now: f64) {
        self.billed_dyno_seconds += f64::from(self.asked) * (now - self.since).max(0.0);
        self.since = now.max(self.since);
    }

    /// The results over a run of `duration` seconds.
    pub fn finish(mut self, duration: f64) -> JobResult {
        self.integrate_to(duration);
        let wait = |quantile: f64| {
            if self.waits.is_empty() {
                return 0.0;
            }
            let ms = self
                .waits
                .lowest_equivalent(self.waits.value_at_quantile(quantile));
            round(ms as f64 / 1000.0, 3)
        };
        JobResult {
            jobs: self.waits.len(),
            p50_wait_s: wait(0.50),
            p95_wait_s: wait(0.95),
            max_wait_s: wait(1.0),
            most_waiting: self.most_waiting as u64,
            dyno_hours: round(self.billed_dyno_seconds / 3600.0, 3),
            scale_ups: self.scale_ups,
            scale_downs: self.scale_downs,
            max_dynos: self.most_asked,
            notices: self.notices,
        }
    }
}

/// One process type's figures for one policy (the `--json` field names; docs/simulation.md
/// defines each).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobResult {
    /// Jobs that joined the queue.
    pub jobs: u64,
    /// Median wait from joining the queue to a dyno starting it, seconds. A job still waiting
    /// at the end counts with its wait so far.
    pub p50_wait_s: f64,
    /// 95th percentile wait, seconds.
    pub p95_wait_s: f64,
    /// The longest wait, seconds.
    pub max_wait_s: f64,
    /// The most jobs waiting at once.
    pub most_waiting: u64,
    /// Dyno-hours billed: from each scale call, boot included.
    pub dyno_hours: f64,
    /// Scale calls that added dynos.
    pub scale_ups: u64,
    /// Scale calls that removed dynos.
    pub scale_downs: u64,
    /// The most dynos asked for at once.
    pub max_dynos: u32,
    /// Notices the worker sent about it (0 for the baselines that run no worker).
    pub notices: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_calls_and_billing_are_measured() {
        // One hour: 1 dyno, 3 from 1800 s, 2 from 2700 s.
        let mut recorder = JobRecorder::new(1);
        for seconds in 0..100 {
            recorder.wait(f64::from(seconds));
        }
        recorder.queue(7);
        recorder.queue(3);
        recorder.scale_call(1800.0, 1, 3);
        recorder.scale_call(2700.0, 3, 2);
        recorder.notice();
        let result = recorder.finish(3600.0);
        assert_eq!(result.jobs, 100);
        let about = |value: f64, expected: f64| (value - expected).abs() <= expected / 1000.0;
        assert!(about(result.p50_wait_s, 49.0), "{}", result.p50_wait_s);
        assert!(about(result.p95_wait_s, 94.0), "{}", result.p95_wait_s);
        assert!(about(result.max_wait_s, 99.0), "{}", result.max_wait_s);
        assert_eq!(result.most_waiting, 7);
        // 1 × 1800 + 3 × 900 + 2 × 900 = 6300 dyno-seconds.
        assert_eq!(result.dyno_hours, 1.75);
        assert_eq!((result.scale_ups, result.scale_downs), (1, 1));
        assert_eq!(result.max_dynos, 3);
        assert_eq!(result.notices, 1);
    }

    #[test]
    fn no_jobs_waits_nothing() {
        let result = JobRecorder::new(0).finish(60.0);
        assert_eq!(
            (result.jobs, result.p95_wait_s, result.dyno_hours),
            (0, 0.0, 0.0)
        );
    }
}
