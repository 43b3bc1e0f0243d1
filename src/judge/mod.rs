//! Judging heartbeats: each sample is slow, fast or neutral; and noticing when the heartbeat
//! starts and stops failing. Counting verdicts into streaks is the controller's job.

pub mod actor;

use std::fmt;
use std::time::Duration;

/// How a heartbeat request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The app answered with this HTTP status (after following redirects).
    Status(u16),
    /// No complete answer by the max response time; the probe stopped waiting.
    TimedOut,
    /// Connecting, sending or reading failed; the text says how.
    Failed(String),
}

/// One heartbeat's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// From sending the request to the end of the response (or to giving up).
    pub latency: Duration,
    /// What came back.
    pub outcome: ProbeOutcome,
}

/// The judgement of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Too slow, or failed: counts towards scaling up.
    Slow,
    /// Quicker than the min response time: counts towards scaling down.
    Fast,
    /// In between (bounds included): ends both streaks.
    Neutral,
    /// The heartbeat URL answered this status (401, 403, 404 or 410), which says the URL is
    /// wrong, not that the app is loaded: ends both streaks, holding the count.
    BadUrl(u16),
}

/// Statuses that mean the heartbeat URL is wrong or needs a login: more dynos would answer
/// them just the same.
pub const BAD_URL_STATUSES: [u16; 4] = [401, 403, 404, 410];

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Slow => "slow",
            Verdict::Fast => "fast",
            Verdict::Neutral => "neutral",
            Verdict::BadUrl(_) => "bad_url",
        })
    }
}

/// The response-time limits a sample is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Slower than this is slow.
    pub max_response_time: Duration,
    /// Faster than this (with a 2xx) is fast.
    pub min_response_time: Duration,
    /// A status in [`BAD_URL_STATUSES`] is [`Verdict::BadUrl`]; else it is slow, as the seed
    /// had it.
    pub hold_on_url_errors: bool,
}

impl Limits {
    /// The limits the settings give.
    pub fn of(settings: &crate::Settings) -> Self {
        Limits {
            max_response_time: settings.max_response_time,
            min_response_time: settings.min_response_time,
            hold_on_url_errors: settings.hold_on_heartbeat_url_errors,
        }
    }
}

/// Classifies one sample.
pub fn classify(sample: &Sample, limits: Limits) -> Verdict {
    match sample.outcome {
        ProbeOutcome::Status(status) if (200..300).contains(&status) => {
            if sample.latency > limits.max_response_time {
                Verdict::Slow
            } else if sample.latency < limits.min_response_time {
                Verdict::Fast
            } else {
                Verdict::Neutral
            }
        }
        ProbeOutcome::Status(status)
            if limits.hold_on_url_errors && BAD_URL_STATUSES.contains(&status) =>
        {
            Verdict::BadUrl(status)
        }
        // Any other status (5xx, 429, ...), a timeout or a failed connection means users are
        // not being served.
        _ => Verdict::Slow,
    }
}

/// Notices when the heartbeat starts and stops failing (an error or a non-2xx answer), so the
/// log says so once per episode rather than at every beat. A timeout is not a failure here: a
/// slow app is what the autoscaler is for, while an error usually means a wrong URL or a down app.
#[derive(Debug, Clone, Default)]
pub struct FailureWatch {
    failures: u64,
    answers_in_a_row: u32,
}

/// Answers in a row that end a failure episode: an app failing every other beat stays in one
/// episode instead of logging a warning and a recovery every two beats.
const ANSWERS_TO_END_EPISODE: u32 = 3;

/// What [`FailureWatch::observe`] saw change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureChange {
    /// The first failure after an answer (or at start); the text says what failed.
    Began(String),
    /// Three answers in a row after the episode's failures.
    Ended {
        /// How many heartbeats failed in the episode.
        failures: u64,
    },
}

impl FailureWatch {
    /// Records one outcome; returns a change when a failure episode begins or ends.
    pub fn observe(&mut self, outcome: &ProbeOutcome) -> Option<FailureChange> {
        let failure = match outcome {
            ProbeOutcome::Status(status) if (200..300).contains(status) => None,
            ProbeOutcome::Status(status) => Some(format!("the app answered HTTP {status}")),
            ProbeOutcome::Failed(error) => Some(error.clone()),
            // Neither a failure nor an answer that ends one: the app may still be failing.
            ProbeOutcome::TimedOut => return None,
        };
        match failure {
            Some(what) => {
                self.answers_in_a_row = 0;
                self.failures += 1;
                (self.failures == 1).then_some(FailureChange::Began(what))
            }
            None if self.failures == 0 => None,
            None => {
                self.answers_in_a_row += 1;
                if self.answers_in_a_row < ANSWERS_TO_END_EPISODE {
                    return None;
                }
                self.answers_in_a_row = 0;
                let failures = std::mem::take(&mut self.failures);
                Some(FailureChange::Ended { failures })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_response_time: Duration::from_millis(1000),
        min_response_time: Duration::from_millis(200),
        hold_on_url_errors: false,
    };

    fn ok(ms: u64) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            outcome: ProbeOutcome::Status(200),
        }
    }

    fn with(ms: u64, outcome: ProbeOutcome) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            outcome,
        }
    }

    #[test]
    fn latency_decides_for_successful_responses_with_bounds_neutral() {
        assert_eq!(classify(&ok(1001), LIMITS), Verdict::Slow);
        assert_eq!(classify(&ok(1000), LIMITS), Verdict::Neutral);
        assert_eq!(classify(&ok(500), LIMITS), Verdict::Neutral);
        assert_eq!(classify(&ok(200), LIMITS), Verdict::Neutral);
        assert_eq!(classify(&ok(199), LIMITS), Verdict::Fast);
        assert_eq!(classify(&ok(0), LIMITS), Verdict::Fast);
    }

    #[test]
    fn failures_are_slow_however_quick() {
        assert_eq!(
            classify(&with(5, ProbeOutcome::Status(500)), LIMITS),
            Verdict::Slow
        );
        assert_eq!(
            classify(&with(5, ProbeOutcome::Status(404)), LIMITS),
            Verdict::Slow
        );
        assert_eq!(
            classify(&with(5, ProbeOutcome::Status(302)), LIMITS),
            Verdict::Slow
        );
        assert_eq!(
            classify(&with(1000, ProbeOutcome::TimedOut), LIMITS),
            Verdict::Slow
        );
        let refused = ProbeOutcome::Failed("connection refused".into());
        assert_eq!(classify(&with(1, refused), LIMITS), Verdict::Slow);
        assert_eq!(
            classify(&with(5, ProbeOutcome::Status(204)), LIMITS),
            Verdict::Fast
        );
    }

    #[test]
    fn a_wrong_url_holds_when_asked_while_overload_stays_slow() {
        let holding = Limits {
            hold_on_url_errors: true,
            ..LIMITS
        };
        for status in BAD_URL_STATUSES {
            let sample = with(5, ProbeOutcome::Status(status));
            assert_eq!(classify(&sample, holding), Verdict::BadUrl(status));
            assert_eq!(classify(&sample, LIMITS), Verdict::Slow, "the seed's rule");
        }
        for status in [400, 405, 429, 500, 502, 503] {
            let sample = with(5, ProbeOutcome::Status(status));
            assert_eq!(classify(&sample, holding), Verdict::Slow, "HTTP {status}");
        }
        assert_eq!(
            classify(&with(1000, ProbeOutcome::TimedOut), holding),
            Verdict::Slow
        );
        let refused = ProbeOutcome::Failed("connection refused".into());
        assert_eq!(classify(&with(1, refused), holding), Verdict::Slow);
        assert_eq!(classify(&ok(5), holding), Verdict::Fast);
    }

    #[test]
    fn failure_watch_speaks_once_per_episode() {
        let mut watch = FailureWatch::default();
        assert_eq!(watch.observe(&ProbeOutcome::Status(200)), None);
        assert_eq!(
            watch.observe(&ProbeOutcome::Status(404)),
            Some(FailureChange::Began("the app answered HTTP 404".into()))
        );
        assert_eq!(watch.observe(&ProbeOutcome::Failed("reset".into())), None);
        assert_eq!(watch.observe(&ProbeOutcome::TimedOut), None);
        assert_eq!(watch.observe(&ProbeOutcome::Status(503)), None);
        assert_eq!(watch.observe(&ProbeOutcome::Status(204)), None);
        assert_eq!(watch.observe(&ProbeOutcome::Status(200)), None);
        assert_eq!(
            watch.observe(&ProbeOutcome::Status(200)),
            Some(FailureChange::Ended { failures: 3 })
        );
        assert_eq!(watch.observe(&ProbeOutcome::Status(200)), None);
        assert_eq!(
            watch.observe(&ProbeOutcome::Failed("connection refused".into())),
            Some(FailureChange::Began("connection refused".into()))
        );
    }

    #[test]
    fn an_app_failing_every_other_beat_is_one_episode() {
        let mut watch = FailureWatch::default();
        let mut changes = Vec::new();
        for _ in 0..10 {
            changes.extend(watch.observe(&ProbeOutcome::Status(503)));
            changes.extend(watch.observe(&ProbeOutcome::Status(200)));
        }
        assert_eq!(
            changes,
            [FailureChange::Began("the app answered HTTP 503".into())]
        );
        // The loop's last 200 was the first in a row; two more end the episode.
        assert_eq!(watch.observe(&ProbeOutcome::Status(200)), None);
        assert_eq!(
            watch.observe(&ProbeOutcome::Status(200)),
            Some(FailureChange::Ended { failures: 10 })
        );
    }

    #[test]
    fn timeouts_alone_are_not_a_failure_episode() {
        let mut watch = FailureWatch::default();
        for _ in 0..5 {
            assert_eq!(watch.observe(&ProbeOutcome::TimedOut), None);
        }
        assert_eq!(watch.observe(&ProbeOutcome::Status(200)), None);
    }
}
