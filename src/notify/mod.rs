//! Notices for the admins, and the rule that sends each one when its condition begins and then at
//! most once per repeat period while it lasts (never once per heartbeat).

pub mod actor;
pub mod email;
pub mod smtp;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::control::{Bounds, ScaleReason};
use crate::heroku::ApiError;
use crate::judge::{Sample, Verdict};

/// Something an admin should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Responses are slow and the dyno count is already at the maximum in force.
    NeedsAboveMax {
        /// Dynos running.
        quantity: u32,
        /// The bounds in force.
        bounds: Bounds,
        /// Slow heartbeats in a row so far.
        slow_streak: u32,
    },
    /// Responses are fast and the dyno count is already at the minimum in force (above 1).
    NeedsBelowMin {
        /// Dynos running.
        quantity: u32,
        /// The bounds in force.
        bounds: Bounds,
        /// Fast heartbeats in a row so far.
        fast_streak: u32,
    },
    /// The Heroku API refused the API key (401/403): nothing can be scaled until it is fixed.
    ApiKeyRefused {
        /// The API's answer.
        error: ApiError,
    },
    /// The dyno counts set within the period ranged over more than the threshold.
    ScaleDiff {
        /// The fewest dynos set within the period.
        low: u32,
        /// The most dynos set within the period.
        high: u32,
        /// The threshold exceeded.
        threshold: u32,
        /// The period looked back over.
        period: Duration,
    },
    /// A scale call failed.
    ScaleFailed {
        /// Dynos before the attempt.
        from: u32,
        /// Dynos asked for.
        to: u32,
        /// Why the scale was attempted.
        reason: ScaleReason,
        /// What went wrong.
        error: ApiError,
    },
    /// Heroku refused a scale-up (422, the plan's dyno limit): the worker asks for at most
    /// `cap` dynos until the max in force changes or `lasts` passes.
    PlanLimit {
        /// Dynos before the attempt.
        from: u32,
        /// Dynos asked for and refused.
        refused: u32,
        /// The most dynos the worker asks for meanwhile.
        cap: u32,
        /// How long the cap lasts at most.
        lasts: Duration,
        /// Heroku's answer.
        error: ApiError,
    },
    /// A worker process type's queue wants more dynos than its max.
    QueueNeedsAboveMax {
        /// The process type.
        process: String,
        /// Dynos running.
        quantity: u32,
        /// Its bounds in force.
        bounds: Bounds,
        /// The queue's last value: jobs waiting, or seconds the oldest waited.
        value: u64,
        /// Whether `value` is a latency.
        latency: bool,
    },
    /// The heartbeat URL answered 401, 403, 404 or 410: a setting to fix; the count is held.
    HeartbeatUrlRefused {
        /// The status.
        status: u16,
    },
    /// A correction into the bounds keeps being undone: Heroku reports `from` dynos again
    /// after being asked for `to`.
    CorrectionUndone {
        /// The count Heroku keeps reporting.
        from: u32,
        /// The count the bounds call for.
        to: u32,
        /// Corrections sent so far in this episode, counting one sent with this notice.
        corrections: u32,
        /// How long the worker will not send another correction.
        next_in: Duration,
    },
}

/// What the admins need to read a notice: the state of things when it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContext {
    /// The dyno count last read, if known.
    pub quantity: Option<u32>,
    /// The bounds in force when the notice was sent.
    pub bounds: Bounds,
    /// When the notice was sent.
    pub at: DateTime<Utc>,
    /// The latest heartbeats, oldest first.
    pub recent: Vec<(Sample, Verdict)>,
    /// Sent by a dry run: the dyno count is the one the worker would have set, not Heroku's.
    pub dry_run: bool,
}

/// The kinds of notice, each rate-limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// See [`Notice::NeedsAboveMax`].
    NeedsAboveMax,
    /// See [`Notice::NeedsBelowMin`].
    NeedsBelowMin,
    /// See [`Notice::ApiKeyRefused`].
    ApiKeyRefused,
    /// See [`Notice::ScaleDiff`].
    ScaleDiff,
    /// See [`Notice::ScaleFailed`].
    ScaleFailed,
    /// See [`Notice::PlanLimit`].
    PlanLimit,
    /// See [`Notice::HeartbeatUrlRefused`].
    HeartbeatUrlRefused,
    /// See [`Notice::QueueNeedsAboveMax`]; each process type has its own gate.
    QueueNeedsAboveMax,
    /// See [`Notice::CorrectionUndone`].
    CorrectionUndone,
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoticeKind::NeedsAboveMax => "needs_above_max",
            NoticeKind::NeedsBelowMin => "needs_below_min",
            NoticeKind::ApiKeyRefused => "api_key_refused",
            NoticeKind::ScaleDiff => "scale_diff",
            NoticeKind::ScaleFailed => "scale_failed",
            NoticeKind::PlanLimit => "plan_limit",
            NoticeKind::HeartbeatUrlRefused => "heartbeat_url_refused",
            NoticeKind::QueueNeedsAboveMax => "queue_needs_above_max",
            NoticeKind::CorrectionUndone => "correction_undone",
        })
    }
}

impl Notice {
    /// A queue notice's headline: `at max 5 worker dynos and 900 jobs waiting`.
    pub fn queue_headline(&self) -> Option<String> {
        let Notice::QueueNeedsAboveMax {
            process,
            quantity,
            value,
            latency,
            ..
        } = self
        else {
            return None;
        };
        Some(if *latency {
            format!("at max {quantity} {process} dynos and jobs waiting {value} s")
        } else {
            format!("at max {quantity} {process} dynos and {value} jobs waiting")
        })
    }

    /// The process type a notice is about when it is not the web's.
    pub fn process(&self) -> Option<&str> {
        match self {
            Notice::QueueNeedsAboveMax { process, .. } => Some(process),
            _ => None,
        }
    }

    /// Which kind of notice this is.
    pub fn kind(&self) -> NoticeKind {
        match self {
            Notice::NeedsAboveMax { .. } => NoticeKind::NeedsAboveMax,
            Notice::NeedsBelowMin { .. } => NoticeKind::NeedsBelowMin,
            Notice::ApiKeyRefused { .. } => NoticeKind::ApiKeyRefused,
            Notice::ScaleDiff { .. } => NoticeKind::ScaleDiff,
            Notice::ScaleFailed { .. } => NoticeKind::ScaleFailed,
            Notice::PlanLimit { .. } => NoticeKind::PlanLimit,
            Notice::HeartbeatUrlRefused { .. } => NoticeKind::HeartbeatUrlRefused,
            Notice::QueueNeedsAboveMax { .. } => NoticeKind::QueueNeedsAboveMax,
            Notice::CorrectionUndone { .. } => NoticeKind::CorrectionUndone,
        }
    }

    /// One plain sentence saying what happened and which setting to look at.
    pub fn describe(&self, process_type: &str) -> String {
        match self {
            Notice::NeedsAboveMax {
                quantity,
                bounds,
                slow_streak,
            } => format!(
                "at max {quantity} {process_type} dynos and responses still too slow \
                 ({slow_streak} slow heartbeats in a row, {bounds}); raise AUTOSCALE_MAX_DYNOS \
                 to allow more"
            ),
            Notice::NeedsBelowMin {
                quantity,
                bounds,
                fast_streak,
            } => format!(
                "at min {quantity} {process_type} dynos and responses fast \
                 ({fast_streak} fast heartbeats in a row, {bounds}); AUTOSCALE_MIN_DYNOS may \
                 be higher than needed"
            ),
            Notice::ApiKeyRefused { error } => {
                format!(
                    "{process_type} cannot be scaled until the key is replaced: {error}; {}",
                    error.advice()
                )
            }
            Notice::ScaleDiff {
                low,
                high,
                threshold,
                period,
            } => format!(
                "{process_type} dynos ranged from {low} to {high} within {} minutes, a \
                 difference above {threshold}",
                period.as_secs() / 60
            ),
            Notice::ScaleFailed {
                from,
                to,
                reason,
                error,
            } => format!(
                "scaling {process_type} from {from} to {to} ({reason}) failed: {error}; {}",
                error.advice()
            ),
            Notice::PlanLimit {
                from,
                refused,
                cap,
                lasts,
                error,
            } => format!(
                "Heroku refused to scale {process_type} from {from} to {refused}: {error}; the \
                 worker asks for at most {cap} {process_type} dynos for {} minute(s) \
                 (AUTOSCALE_PLAN_LIMIT_MEMORY_IN_MINUTES), or until AUTOSCALE_MAX_DYNOS (or its \
                 schedule) changes",
                lasts.as_secs().div_ceil(60)
            ),
            Notice::QueueNeedsAboveMax {
                process, bounds, ..
            } => format!(
                "{}; raise max_dynos for {process} in AUTOSCALE_PROCESSES (now {}) to allow more",
                self.queue_headline().unwrap_or_default(),
                bounds.max
            ),
            Notice::HeartbeatUrlRefused { status } => format!(
                "the heartbeat URL answered HTTP {status}: AUTOSCALE_HEARTBEAT_URL is wrong or \
                 needs a login, so the heartbeats say nothing about load; {process_type} stays \
                 at its dyno count until the URL answers 2xx"
            ),
            Notice::CorrectionUndone {
                from,
                to,
                corrections,
                next_in,
            } => format!(
                "{process_type} keeps going back to {from} dynos after being scaled to {to} \
                 ({corrections} correction(s) so far); the worker will not correct it again for \
                 {} minute(s). Something else scales this app (another autoscaler, Heroku's own \
                 autoscaling, a script), or the API does not apply the change",
                next_in.as_secs().div_ceil(60)
            ),
        }
    }
}

/// Decides when a notice whose condition is active should actually be sent.
#[derive(Debug, Clone)]
pub struct NoticeGate {
    repeat_after: Duration,
    last_sent: HashMap<NoticeKind, Instant>,
}

impl NoticeGate {
    /// A gate that repeats an ongoing condition's notice after `repeat_after`.
    pub fn new(repeat_after: Duration) -> Self {
        NoticeGate {
            repeat_after,
            last_sent: HashMap::new(),
        }
    }

    /// The condition of `kind` holds now; returns true when a notice should go out: the
    /// condition just began, or it has lasted a repeat period since the last notice.
    pub fn should_send(&mut self, kind: NoticeKind, now: Instant) -> bool {
        match self.last_sent.get(&kind) {
            Some(sent) if now.saturating_duration_since(*sent) < self.repeat_after => false,
            _ => {
                self.last_sent.insert(kind, now);
                true
            }
        }
    }

    /// The condition of `kind` has ended; the next time it holds is a new beginning.
    pub fn clear(&mut self, kind: NoticeKind) {
        self.last_sent.remove(&kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_condition_is_sent_once_per_repeat_period() {
        let start = Instant::now();
        let mut gate = NoticeGate::new(Duration::from_secs(3600));
        let sent: Vec<bool> = (0..20)
            .map(|beat| {
                let now = start + Duration::from_secs(30 * beat);
                gate.should_send(NoticeKind::NeedsAboveMax, now)
            })
            .collect();
        assert_eq!(sent.iter().filter(|sent| **sent).count(), 1);
        assert!(sent[0]);
        let an_hour_on = start + Duration::from_secs(3600);
        assert!(gate.should_send(NoticeKind::NeedsAboveMax, an_hour_on));
    }

    #[test]
    fn a_condition_that_ends_and_begins_again_is_sent_again() {
        let now = Instant::now();
        let mut gate = NoticeGate::new(Duration::from_secs(3600));
        assert!(gate.should_send(NoticeKind::ScaleFailed, now));
        assert!(!gate.should_send(NoticeKind::ScaleFailed, now));
        gate.clear(NoticeKind::ScaleFailed);
        assert!(gate.should_send(NoticeKind::ScaleFailed, now));
    }

    #[test]
    fn kinds_are_limited_separately() {
        let now = Instant::now();
        let mut gate = NoticeGate::new(Duration::from_secs(3600));
        assert!(gate.should_send(NoticeKind::NeedsAboveMax, now));
        assert!(gate.should_send(NoticeKind::ScaleFailed, now));
    }
}
