//! One worker process type's rule: the evidence its queue readings give, and what count it
//! calls for, given the count running and the bounds in force.
//!
//! A queue size says how many dynos are wanted (`ceil(jobs / jobs_per_dyno)`): more are added
//! at once, and fewer only once every one of the last `passes` readings wanted fewer (then as
//! many as the most of them wanted). A latency is judged like a heartbeat, against
//! `max_latency_in_seconds` (slow above it, fast below half of it), with the web's streak
//! rule: its proportional steps and its scale-downs on trial too (`control::steps`), when the
//! web's settings have them on. Either way the last dyno goes only after the queue has been empty for the idle time,
//! and a dyno comes back at once when jobs appear. A failed reading changes no evidence but the
//! idle time, which starts again: an error is never an empty queue.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::control::steps::{DownBackoff, UpSteps};
use crate::control::{Bounds, Streaks};
use crate::judge::Verdict;
use crate::settings::processes::QueueMeasure;

/// The settings one process type's rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// What a reading means.
    pub measure: QueueMeasure,
    /// Readings that must all want fewer dynos (size), or fast readings in a row (latency),
    /// before a scale-down.
    pub passes: u32,
    /// Slow readings in a row before a scale-up (latency).
    pub fails: u32,
    /// Dynos added or removed by a latency streak.
    pub increment: u32,
    /// How long the queue must stay empty before the last dyno goes.
    pub idle_before_zero: Duration,
    /// Latency: a slow streak right after one that brought no relief adds twice the dynos.
    pub proportional_scale_up: bool,
    /// Latency: a scale-down is on trial, and one refuted is undone and backed off from.
    pub scale_down_backoff: bool,
}

impl Rule {
    /// The parts every process type shares with the web's settings (its measure is set per
    /// process type): the passes, fails and increment, and the idle time.
    pub fn shared(settings: &crate::Settings) -> Rule {
        Rule {
            measure: QueueMeasure::Size { jobs_per_dyno: 1 },
            passes: settings.number_of_passes_to_scale_down_after,
            fails: settings.number_of_fails_to_scale_up_after,
            increment: settings.increment,
            idle_before_zero: settings.idle_before_zero,
            proportional_scale_up: settings.proportional_scale_up,
            scale_down_backoff: settings.scale_down_backoff,
        }
    }
}

/// Why a process type's count changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueReason {
    /// Fewer dynos than the minimum in force.
    BelowMin,
    /// More dynos than the maximum in force.
    AboveMax,
    /// The queue wants more dynos than run.
    MoreJobs,
    /// The last readings all wanted fewer dynos.
    FewerJobs,
    /// Jobs have waited too long for several readings.
    SlowJobs,
    /// Jobs have been picked up quickly for several readings.
    QuickJobs,
    /// Jobs appeared while no dyno ran.
    JobsAtZero,
    /// The queue has been empty for the idle time.
    Idle,
    /// The readings after a scale-down refuted it: its dynos go back.
    ScaleDownUndone,
}

impl fmt::Display for QueueReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueReason::BelowMin => "below_min",
            QueueReason::AboveMax => "above_max",
            QueueReason::MoreJobs => "more_jobs",
            QueueReason::FewerJobs => "fewer_jobs",
            QueueReason::SlowJobs => "slow_jobs",
            QueueReason::QuickJobs => "quick_jobs",
            QueueReason::JobsAtZero => "jobs_at_zero",
            QueueReason::Idle => "idle",
            QueueReason::ScaleDownUndone => "scale_down_undone",
        })
    }
}

/// What the rule calls for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueDecision {
    /// Leave the count.
    Hold,
    /// Set the count to `to`.
    Scale {
        /// The new count, within the bounds.
        to: u32,
        /// Why.
        reason: QueueReason,
    },
    /// The queue wants more dynos than the max allows.
    NeedsAboveMax {
        /// The last value read.
        value: u64,
    },
}

/// The dynos `jobs` waiting want at `jobs_per_dyno` each.
pub fn dynos_for(jobs: u64, jobs_per_dyno: u32) -> u64 {
    jobs.div_ceil(u64::from(jobs_per_dyno))
}

/// The evidence of one process type's readings since its last scale.
#[derive(Debug, Clone)]
pub struct ProcessRule {
    rule: Rule,
    /// Size: the counts the latest readings wanted, oldest first, at most `passes`.
    wanted: VecDeque<u32>,
    /// Latency: the streaks of judged readings.
    streaks: Streaks,
    /// The latest value read.
    last: Option<u64>,
    /// Since when every reading found the queue empty.
    empty_since: Option<Instant>,
    /// The idle time is this many times the setting: it doubles each time jobs came back
    /// sooner after a scale to zero than the idle time it had waited.
    idle_factor: u32,
    /// When it was last scaled to zero for being idle.
    zero_since: Option<Instant>,
    /// Latency: the size of the next step up.
    up_steps: UpSteps,
    /// Latency: the scale-down on trial, and the refuted ones.
    down_backoff: DownBackoff,
}

/// The idle time before zero grows to at most this many times the setting.
pub const MOST_IDLE_FACTOR: u32 = 16;

impl ProcessRule {
    /// A rule with no readings yet.
    pub fn new(rule: Rule) -> Self {
        ProcessRule {
            rule,
            wanted: VecDeque::new(),
            streaks: Streaks::default(),
            last: None,
            empty_since: None,
            idle_factor: 1,
            zero_since: None,
            up_steps: UpSteps::default(),
            down_backoff: DownBackoff::default(),
        }
    }

    /// One reading: the value, or `None` when it failed for this process type.
    pub fn observe(&mut self, value: Option<u64>, now: Instant) {
        let Some(value) = value else {
            // Nothing is known of the queue meanwhile: the idle time and the runs of evidence
            // start again, so no scale-down rests on readings an error came between.
            self.empty_since = None;
            self.wanted.clear();
            self.streaks = Streaks::default();
            return;
        };
        let previous = self.last.replace(value);
        if value == 0 {
            self.empty_since.get_or_insert(now);
        } else {
            self.empty_since = None;
        }
        match self.rule.measure {
            QueueMeasure::Size { jobs_per_dyno } => {
                let wanted = dynos_for(value, jobs_per_dyno);
                if self.wanted.len() == self.window() {
                    self.wanted.pop_front();
                }
                self.wanted
                    .push_back(u32::try_from(wanted).unwrap_or(u32::MAX));
            }
            QueueMeasure::Latency { max_seconds } => {
                let verdict = if value > u64::from(max_seconds) {
                    Verdict::Slow
                } else if value * 2 < u64::from(max_seconds) {
                    Verdict::Fast
                } else {
                    Verdict::Neutral
                };
                // The oldest job's age falls only while the dynos start jobs faster than they
                // come: the last step helped, even if the backlog is still over the max. (The
                // web waits for the dynos to boot instead; a queue's age lags the load longer.)
                let falling = previous.is_some_and(|previous| value < previous);
                if verdict != Verdict::Slow || falling {
                    self.up_steps.relief();
                }
                self.down_backoff.verdict(verdict, now);
                self.streaks.record(verdict);
            }
        }
    }

    /// The queue must read empty this long before the last dyno goes.
    pub fn idle_time(&self) -> Duration {
        self.rule.idle_before_zero * self.idle_factor
    }

    /// A scale from `from` to `to` dynos for `reason` was made at `now`. A scale to zero is a
    /// trial: jobs back sooner than the idle time waited say the quiet was a gap between jobs
    /// (a latency reads 0 while dynos keep up), so the next wait is twice as long; a quiet
    /// that outlasted it brings the setting's back.
    pub fn scaled_for(&mut self, reason: QueueReason, from: u32, to: u32, now: Instant) {
        match reason {
            QueueReason::SlowJobs => {
                self.up_steps.scaled_up();
                self.down_backoff.scaled_up(now);
            }
            // Putting back what was removed is not a step that could have been too small.
            QueueReason::ScaleDownUndone => self.down_backoff.scaled_up(now),
            QueueReason::QuickJobs => {
                let passes = self.passes_to(to, now);
                self.down_backoff.scaled_down(from, to, passes, now);
            }
            _ => self.down_backoff.other_scale(),
        }
        match (reason, self.zero_since.take()) {
            (QueueReason::Idle, _) if to == 0 => self.zero_since = Some(now),
            (QueueReason::JobsAtZero, Some(since)) => {
                self.idle_factor = if now.saturating_duration_since(since) < self.idle_time() {
                    (self.idle_factor * 2).min(MOST_IDLE_FACTOR)
                } else {
                    1
                };
            }
            _ => {}
        }
        self.scaled();
    }

    /// After a scale of this process type: the evidence starts afresh, as the web's streaks do.
    pub fn scaled(&mut self) {
        self.wanted.clear();
        self.streaks = Streaks::default();
    }

    /// What the readings call for at `current` dynos within `bounds`.
    pub fn decide(&self, current: u32, bounds: Bounds, now: Instant) -> QueueDecision {
        let scale = |to: u32, reason| QueueDecision::Scale { to, reason };
        if current < bounds.min {
            return scale(bounds.min, QueueReason::BelowMin);
        }
        if current > bounds.max {
            return scale(bounds.max, QueueReason::AboveMax);
        }
        let Some(value) = self.last else {
            return QueueDecision::Hold;
        };
        let idle = self
            .empty_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.idle_time());
        // Never below one dyno unless the queue has been idle long enough.
        let floor = if idle { bounds.min } else { bounds.min.max(1) };
        let down_to = |target: u32, reason| {
            let target = target.max(floor);
            if target >= current {
                QueueDecision::Hold
            } else if target == 0 {
                scale(0, QueueReason::Idle)
            } else {
                scale(target, reason)
            }
        };
        if current == 0 && value > 0 {
            return match bounds.max {
                0 => QueueDecision::NeedsAboveMax { value },
                max => scale(self.wanted_now().clamp(1, max), QueueReason::JobsAtZero),
            };
        }
        match self.rule.measure {
            QueueMeasure::Size { .. } => {
                let wanted = self.wanted_now();
                if wanted > current {
                    if current >= bounds.max {
                        return QueueDecision::NeedsAboveMax { value };
                    }
                    return scale(wanted.min(bounds.max), QueueReason::MoreJobs);
                }
                let full = self.wanted.len() == self.window();
                match self.wanted.iter().max() {
                    Some(&most) if full && most < current => down_to(most, QueueReason::FewerJobs),
                    _ => QueueDecision::Hold,
                }
            }
            QueueMeasure::Latency { .. } => {
                if let Some(removed) = self
                    .down_backoff
                    .to_undo(current, now)
                    .filter(|_| self.rule.scale_down_backoff && current < bounds.max)
                {
                    let to = current.saturating_add(removed).min(bounds.max);
                    return scale(to, QueueReason::ScaleDownUndone);
                }
                if self.streaks.slow >= self.rule.fails {
                    if current >= bounds.max {
                        return QueueDecision::NeedsAboveMax { value };
                    }
                    let step = if self.rule.proportional_scale_up {
                        self.up_steps.step(self.rule.increment, current)
                    } else {
                        self.rule.increment
                    };
                    let to = current.saturating_add(step).min(bounds.max);
                    return scale(to, QueueReason::SlowJobs);
                }
                let fewer = current.saturating_sub(self.rule.increment).max(floor);
                if fewer < current && self.streaks.fast >= self.passes_to(fewer, now) {
                    return down_to(fewer, QueueReason::QuickJobs);
                }
                // An empty queue for the idle time lets the last dyno go, streak or not.
                if idle && current == 1 {
                    return down_to(0, QueueReason::Idle);
                }
                QueueDecision::Hold
            }
        }
    }

    /// Latency: the fast readings in a row a scale-down to `to` needs, longer after refuted
    /// scale-downs to that count or above.
    fn passes_to(&self, to: u32, now: Instant) -> u32 {
        if self.rule.scale_down_backoff {
            self.down_backoff.passes(self.rule.passes, to, now)
        } else {
            self.rule.passes
        }
    }

    /// How many size readings must all want fewer dynos before a scale-down.
    fn window(&self) -> usize {
        self.rule.passes.max(1) as usize
    }

    /// The count the latest size reading wants (1 for any job in a latency reading).
    fn wanted_now(&self) -> u32 {
        match self.rule.measure {
            QueueMeasure::Size { .. } => self.wanted.back().copied().unwrap_or(0),
            QueueMeasure::Latency { .. } => u32::from(self.last.unwrap_or(0) > 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: Rule = Rule {
        measure: QueueMeasure::Size { jobs_per_dyno: 50 },
        passes: 3,
        fails: 2,
        increment: 1,
        idle_before_zero: Duration::from_secs(300),
        proportional_scale_up: true,
        scale_down_backoff: true,
    };
    const LATENCY: Rule = Rule {
        measure: QueueMeasure::Latency { max_seconds: 30 },
        ..SIZE
    };
    const BOUNDS: Bounds = Bounds { min: 0, max: 5 };

    fn after(rule: Rule, values: &[u64], start: Instant) -> ProcessRule {
        let mut process = ProcessRule::new(rule);
        for (i, value) in values.iter().enumerate() {
            process.observe(Some(*value), start + Duration::from_secs(30 * i as u64));
        }
        process
    }

    fn scale(to: u32, reason: QueueReason) -> QueueDecision {
        QueueDecision::Scale { to, reason }
    }

    #[test]
    fn jobs_back_soon_after_a_scale_to_zero_double_the_idle_time_and_a_long_quiet_resets_it() {
        let start = Instant::now();
        let minutes = |m: u64| start + Duration::from_secs(60 * m);
        // A latency type whose one dyno keeps up: it reads 0 for the idle time and goes.
        let mut process = after(LATENCY, &[0; 12], start);
        assert_eq!(
            process.decide(1, BOUNDS, minutes(6)),
            scale(0, QueueReason::Idle)
        );
        process.scaled_for(QueueReason::Idle, 1, 0, minutes(6));
        // Jobs wait again a minute later: back at once, and the next wait is 10 minutes.
        process.observe(Some(40), minutes(7));
        assert_eq!(
            process.decide(0, BOUNDS, minutes(7)),
            scale(1, QueueReason::JobsAtZero)
        );
        process.scaled_for(QueueReason::JobsAtZero, 0, 1, minutes(7));
        assert_eq!(process.idle_time(), Duration::from_secs(600));
        for minute in 8..=17 {
            process.observe(Some(0), minutes(minute));
        }
        // 9 minutes empty: not yet; 10: it goes.
        assert_eq!(process.decide(1, BOUNDS, minutes(17)), QueueDecision::Hold);
        process.observe(Some(0), minutes(18));
        assert_eq!(
            process.decide(1, BOUNDS, minutes(18)),
            scale(0, QueueReason::Idle)
        );
        process.scaled_for(QueueReason::Idle, 1, 0, minutes(18));
        // Quiet for longer than that wait: the quiet was real, the setting's 5 minutes again.
        process.observe(Some(40), minutes(29));
        process.scaled_for(QueueReason::JobsAtZero, 0, 1, minutes(29));
        assert_eq!(process.idle_time(), Duration::from_secs(300));
        // It doubles up to 16 times the setting and no further.
        for round in 0..6 {
            process.scaled_for(QueueReason::Idle, 1, 0, minutes(100 + round));
            process.scaled_for(QueueReason::JobsAtZero, 0, 1, minutes(100 + round));
        }
        assert_eq!(
            process.idle_time(),
            Duration::from_secs(300 * u64::from(MOST_IDLE_FACTOR))
        );
        // Other scales leave it alone.
        process.scaled_for(QueueReason::MoreJobs, 1, 3, minutes(200));
        assert_eq!(
            process.idle_time(),
            Duration::from_secs(300 * u64::from(MOST_IDLE_FACTOR))
        );
        // A scale from zero that the jobs did not ask for (a schedule's min) ends the trial:
        // jobs later are no evidence against the quiet.
        let mut process = after(LATENCY, &[0; 12], start);
        process.scaled_for(QueueReason::Idle, 1, 0, minutes(6));
        process.scaled_for(QueueReason::BelowMin, 0, 1, minutes(7));
        process.scaled_for(QueueReason::JobsAtZero, 0, 1, minutes(8));
        assert_eq!(process.idle_time(), Duration::from_secs(300));
    }

    #[test]
    fn a_queue_size_is_met_at_once_up_to_the_max() {
        let now = Instant::now();
        let process = after(SIZE, &[120], now);
        assert_eq!(
            process.decide(1, BOUNDS, now),
            scale(3, QueueReason::MoreJobs)
        );
        assert_eq!(process.decide(3, BOUNDS, now), QueueDecision::Hold);
        let process = after(SIZE, &[900], now);
        assert_eq!(
            process.decide(2, BOUNDS, now),
            scale(5, QueueReason::MoreJobs)
        );
        assert_eq!(
            process.decide(5, BOUNDS, now),
            QueueDecision::NeedsAboveMax { value: 900 }
        );
    }

    #[test]
    fn fewer_dynos_only_after_every_one_of_the_passes_wanted_fewer() {
        let now = Instant::now();
        let mut process = after(SIZE, &[60, 40], now);
        assert_eq!(
            process.decide(3, BOUNDS, now),
            QueueDecision::Hold,
            "two readings"
        );
        process.observe(Some(90), now);
        // The most the last three wanted: 2.
        assert_eq!(
            process.decide(3, BOUNDS, now),
            scale(2, QueueReason::FewerJobs)
        );
        process.scaled();
        assert_eq!(
            process.decide(2, BOUNDS, now),
            QueueDecision::Hold,
            "fresh evidence"
        );
        // One reading wanting the count breaks the run.
        let process = after(SIZE, &[10, 150, 10, 10], now);
        assert_eq!(process.decide(3, BOUNDS, now), QueueDecision::Hold);
    }

    #[test]
    fn the_last_dyno_goes_only_after_the_idle_time_and_comes_back_at_once() {
        let start = Instant::now();
        let mut process = after(SIZE, &[0, 0, 0], start);
        let at = |s: u64| start + Duration::from_secs(s);
        // Empty for 60 s: down to one dyno, not zero.
        assert_eq!(
            process.decide(3, BOUNDS, at(60)),
            scale(1, QueueReason::FewerJobs)
        );
        assert_eq!(process.decide(1, BOUNDS, at(299)), QueueDecision::Hold);
        assert_eq!(
            process.decide(1, BOUNDS, at(300)),
            scale(0, QueueReason::Idle)
        );
        // A min of 1 holds the last dyno however idle.
        let one = Bounds { min: 1, max: 5 };
        assert_eq!(process.decide(1, one, at(900)), QueueDecision::Hold);
        process.observe(Some(7), at(900));
        assert_eq!(
            process.decide(0, BOUNDS, at(900)),
            scale(1, QueueReason::JobsAtZero)
        );
        process.observe(Some(170), at(930));
        assert_eq!(
            process.decide(0, BOUNDS, at(930)),
            scale(4, QueueReason::JobsAtZero)
        );
    }

    #[test]
    fn a_failed_reading_is_never_an_empty_queue() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut process = after(SIZE, &[0, 0, 0], start);
        process.observe(None, at(200));
        for s in [240, 270, 300] {
            process.observe(Some(0), at(s));
        }
        // The idle time counts from 240 s, the first empty reading after the failure.
        assert_eq!(process.decide(1, BOUNDS, at(400)), QueueDecision::Hold);
        assert_eq!(
            process.decide(1, BOUNDS, at(540)),
            scale(0, QueueReason::Idle)
        );
        // Failed readings alone change nothing.
        let mut process = after(SIZE, &[100], start);
        for s in 0..10 {
            process.observe(None, at(30 * s));
        }
        assert_eq!(process.decide(2, BOUNDS, at(300)), QueueDecision::Hold);
        // A failure breaks a run of readings that wanted fewer, and a fast streak.
        let mut process = after(SIZE, &[10, 10], start);
        process.observe(None, at(60));
        process.observe(Some(10), at(90));
        assert_eq!(process.decide(3, BOUNDS, at(90)), QueueDecision::Hold);
        let mut process = after(LATENCY, &[1, 1], start);
        process.observe(None, at(60));
        process.observe(Some(1), at(90));
        assert_eq!(process.decide(3, BOUNDS, at(90)), QueueDecision::Hold);
    }

    #[test]
    fn a_latency_steps_up_in_proportion_and_puts_back_a_refuted_scale_down() {
        let start = Instant::now();
        let at = |reading: u64| start + Duration::from_secs(30 * reading);
        let bounds = Bounds { min: 0, max: 20 };
        let mut process = after(LATENCY, &[40, 45], start);
        assert_eq!(
            process.decide(2, bounds, at(1)),
            scale(3, QueueReason::SlowJobs)
        );
        process.scaled_for(QueueReason::SlowJobs, 2, 3, at(1));
        // No relief: the next step is twice the increment, then four times (never more than
        // doubling the count).
        process.observe(Some(50), at(2));
        process.observe(Some(55), at(3));
        assert_eq!(
            process.decide(3, bounds, at(3)),
            scale(5, QueueReason::SlowJobs)
        );
        process.scaled_for(QueueReason::SlowJobs, 3, 5, at(3));
        process.observe(Some(60), at(4));
        process.observe(Some(60), at(5));
        assert_eq!(
            process.decide(5, bounds, at(5)),
            scale(9, QueueReason::SlowJobs)
        );
        process.scaled_for(QueueReason::SlowJobs, 5, 9, at(5));
        // Relief resets the step; quick readings then take one dyno away, on trial.
        for reading in 6..9 {
            process.observe(Some(2), at(reading));
        }
        assert_eq!(
            process.decide(9, bounds, at(8)),
            scale(8, QueueReason::QuickJobs)
        );
        process.scaled_for(QueueReason::QuickJobs, 9, 8, at(8));
        // The next reading is not quick: the dyno goes back at once.
        process.observe(Some(20), at(9));
        assert_eq!(
            process.decide(8, bounds, at(9)),
            scale(9, QueueReason::ScaleDownUndone)
        );
        process.scaled_for(QueueReason::ScaleDownUndone, 8, 9, at(9));
        // And a scale-down to 8 now needs twice the quick readings.
        for reading in 10..13 {
            process.observe(Some(2), at(reading));
        }
        assert_eq!(process.decide(9, bounds, at(12)), QueueDecision::Hold);
        for reading in 13..16 {
            process.observe(Some(2), at(reading));
        }
        assert_eq!(
            process.decide(9, bounds, at(15)),
            scale(8, QueueReason::QuickJobs)
        );
    }

    #[test]
    fn a_falling_latency_over_the_max_is_relief_so_the_next_step_is_not_doubled() {
        let start = Instant::now();
        let at = |reading: u64| start + Duration::from_secs(30 * reading);
        let bounds = Bounds { min: 0, max: 40 };
        let mut process = after(LATENCY, &[40, 60], start);
        assert_eq!(
            process.decide(4, bounds, at(1)),
            scale(5, QueueReason::SlowJobs)
        );
        process.scaled_for(QueueReason::SlowJobs, 4, 5, at(1));
        // Still over the max but the backlog shrinks: the dynos catch up. Two more slow
        // readings add the increment, not twice it.
        process.observe(Some(55), at(2));
        process.observe(Some(50), at(3));
        assert_eq!(
            process.decide(5, bounds, at(3)),
            scale(6, QueueReason::SlowJobs)
        );
        process.scaled_for(QueueReason::SlowJobs, 5, 6, at(3));
        // Growing again: the step was too small, the next doubles.
        process.observe(Some(60), at(4));
        process.observe(Some(70), at(5));
        assert_eq!(
            process.decide(6, bounds, at(5)),
            scale(8, QueueReason::SlowJobs)
        );
    }

    #[test]
    fn with_the_web_rule_switched_off_a_latency_keeps_the_seed_streak_rule() {
        let start = Instant::now();
        let at = |reading: u64| start + Duration::from_secs(30 * reading);
        let plain = Rule {
            proportional_scale_up: false,
            scale_down_backoff: false,
            ..LATENCY
        };
        let bounds = Bounds { min: 0, max: 20 };
        let mut process = after(plain, &[40, 45], start);
        process.scaled_for(QueueReason::SlowJobs, 2, 3, at(1));
        process.observe(Some(50), at(2));
        process.observe(Some(55), at(3));
        assert_eq!(
            process.decide(3, bounds, at(3)),
            scale(4, QueueReason::SlowJobs)
        );
        for reading in 4..7 {
            process.observe(Some(2), at(reading));
        }
        process.scaled_for(QueueReason::QuickJobs, 4, 3, at(6));
        process.observe(Some(20), at(7));
        assert_eq!(process.decide(3, bounds, at(7)), QueueDecision::Hold);
    }

    #[test]
    fn a_latency_follows_the_streak_rule_against_its_max() {
        let now = Instant::now();
        let process = after(LATENCY, &[40, 45], now);
        assert_eq!(
            process.decide(2, BOUNDS, now),
            scale(3, QueueReason::SlowJobs)
        );
        assert_eq!(
            process.decide(5, BOUNDS, now),
            QueueDecision::NeedsAboveMax { value: 45 }
        );
        // 20 s is under the max but not well under: neutral, which ends the streaks.
        let process = after(LATENCY, &[40, 20, 40], now);
        assert_eq!(process.decide(2, BOUNDS, now), QueueDecision::Hold);
        let process = after(LATENCY, &[10, 5, 3], now);
        assert_eq!(
            process.decide(3, BOUNDS, now),
            scale(2, QueueReason::QuickJobs)
        );
        // Quick jobs take it down to one; the last goes after the idle time with none waiting.
        assert_eq!(process.decide(1, BOUNDS, now), QueueDecision::Hold);
        let start = Instant::now();
        let process = after(LATENCY, &[0, 0], start);
        assert_eq!(
            process.decide(1, BOUNDS, start + Duration::from_secs(330)),
            scale(0, QueueReason::Idle)
        );
        let waiting = after(LATENCY, &[0, 0, 4], start);
        assert_eq!(
            waiting.decide(0, BOUNDS, start),
            scale(1, QueueReason::JobsAtZero)
        );
    }

    #[test]
    fn the_bounds_come_first() {
        let now = Instant::now();
        let process = after(SIZE, &[0], now);
        let day = Bounds { min: 2, max: 4 };
        assert_eq!(process.decide(0, day, now), scale(2, QueueReason::BelowMin));
        assert_eq!(process.decide(6, day, now), scale(4, QueueReason::AboveMax));
        assert_eq!(
            ProcessRule::new(SIZE).decide(1, BOUNDS, now),
            QueueDecision::Hold
        );
    }
}
