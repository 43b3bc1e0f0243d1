//! How big the next step is, and when a scale-down stands: the rules that make the
//! controller react in proportion to an overload and stop it flapping. The constants were
//! chosen with `simulate` (docs/tuning.md shows the figures).
//!
//! **Up.** The heartbeat cannot say how far over the limit the app is: the probe stops waiting
//! at the max response time, so a mild and a crushing overload look alike. What it can say is
//! whether the last step helped. A scale-up followed (once its dynos serve) by a new slow
//! streak, with no fast or neutral heartbeat in between, was too small: the next one is twice
//! as big, but never more than doubles the count. Relief resets the step to `increment`.
//!
//! **Down.** A fast heartbeat at N dynos cannot say whether N − 1 would do; only the beats
//! after the scale-down can. So a scale-down is on trial: the first `passes` beats after it
//! must be fast too, and none may be slow for [`TRIAL`]. If it fails, the dynos go back at once
//! (`scale_down_undone`), and for [`FLAP_MEMORY`] each such failure at a count doubles the
//! fast streak the next scale-down to that count (or above) needs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::judge::Verdict;

/// A scale-down is on trial this long: a slow heartbeat meanwhile undoes it. Longer trials
/// keep dynos through every burst of bursty traffic; shorter ones miss slow creep.
pub const TRIAL: Duration = Duration::from_secs(10 * 60);

/// A failed scale-down is remembered this long: about a working day's shift in load, so a
/// count found too small in the morning is not tried every hour.
pub const FLAP_MEMORY: Duration = Duration::from_secs(4 * 60 * 60);

/// At most 2^4 = 16 times the configured passes (80 beats, 40 minutes at the defaults).
const MOST_DOUBLINGS: u32 = 4;

/// The scale-up step: `increment`, doubled for each scale-up in a row that brought no relief.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpSteps {
    unrelieved: u32,
}

impl UpSteps {
    /// A heartbeat that is not slow: the last step helped (or the load fell).
    pub fn relief(&mut self) {
        self.unrelieved = 0;
    }

    /// A slow-streak scale-up was made.
    pub fn scaled_up(&mut self) {
        self.unrelieved = self.unrelieved.saturating_add(1);
    }

    /// Dynos to add now, before clamping to the max: never more than doubles the count.
    pub fn step(&self, increment: u32, quantity: u32) -> u32 {
        let doubled = increment.saturating_mul(1 << self.unrelieved.min(MOST_DOUBLINGS));
        doubled.min(quantity.max(increment))
    }
}

/// The scale-down on trial, and the failed ones that make the next need a longer fast streak.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownBackoff {
    last_down: Option<Trial>,
    /// When a scale-down was undone, and the count it had gone down to.
    flaps: VecDeque<(Instant, u32)>,
}

/// A scale-down from `from` dynos at `at`, and how the heartbeats since have judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trial {
    from: u32,
    to: u32,
    at: Instant,
    /// The fast streak that justified it: as many beats after it must be fast too.
    confirm_beats: u32,
    beats: u32,
    failed: bool,
}

impl DownBackoff {
    /// The dynos to put back at `now`, if the last scale was a scale-down from more than
    /// `quantity` dynos that the heartbeats since have refuted: a beat that was not fast
    /// among the first ones after it, or a slow beat within [`TRIAL`].
    pub fn to_undo(&self, quantity: u32, now: Instant) -> Option<u32> {
        let trial = self.on_trial(now)?;
        (trial.failed && trial.from > quantity).then(|| trial.from - quantity)
    }

    /// Judges the scale-down on trial by one more heartbeat.
    pub fn verdict(&mut self, verdict: Verdict, now: Instant) {
        let on_trial = |trial: &&mut Trial| now.saturating_duration_since(trial.at) <= TRIAL;
        let Some(trial) = self.last_down.as_mut().filter(on_trial) else {
            return;
        };
        trial.beats = trial.beats.saturating_add(1);
        let confirming = trial.beats <= trial.confirm_beats;
        trial.failed |= verdict == Verdict::Slow || (confirming && verdict != Verdict::Fast);
    }

    fn on_trial(&self, now: Instant) -> Option<Trial> {
        self.last_down
            .filter(|trial| now.saturating_duration_since(trial.at) <= TRIAL)
    }

    /// A scale that was neither up nor down by the heartbeats (a correction into the bounds)
    /// ends any trial: the count is no longer the one on trial.
    pub fn other_scale(&mut self) {
        self.last_down = None;
    }

    /// A scale-up was made at `now`: a scale-down on trial failed.
    pub fn scaled_up(&mut self, now: Instant) {
        while self
            .flaps
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > FLAP_MEMORY)
        {
            self.flaps.pop_front();
        }
        if let Some(trial) = self.on_trial(now) {
            self.flaps.push_back((now, trial.to));
        }
        self.last_down = None;
    }

    /// A fast-streak scale-down from `from` dynos, on `passes` fast beats, was made at `now`.
    pub fn scaled_down(&mut self, from: u32, to: u32, passes: u32, now: Instant) {
        self.last_down = Some(Trial {
            from,
            to,
            at: now,
            confirm_beats: passes,
            beats: 0,
            failed: false,
        });
    }

    /// The passes a scale-down to `to` dynos needs at `now`: a flap at that count or above
    /// says `to` is too few (a flap at 1 dyno says nothing against 2).
    pub fn passes(&self, passes: u32, to: u32, now: Instant) -> u32 {
        let flaps = self
            .flaps
            .iter()
            .filter(|&&(at, count)| count >= to && now.saturating_duration_since(at) <= FLAP_MEMORY)
            .count();
        let doublings = (flaps as u32).min(MOST_DOUBLINGS);
        passes.saturating_mul(1 << doublings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unrelieved_scale_up_doubles_the_step_up_to_doubling_the_count() {
        let mut steps = UpSteps::default();
        assert_eq!(steps.step(1, 2), 1);
        steps.scaled_up();
        assert_eq!(steps.step(1, 3), 2);
        steps.scaled_up();
        assert_eq!(steps.step(1, 5), 4);
        steps.scaled_up();
        // 8 would more than double 5 dynos.
        assert_eq!(steps.step(1, 5), 5);
        assert_eq!(steps.step(2, 20), 16);
        steps.relief();
        assert_eq!(steps.step(2, 20), 2);
        // At 0 dynos the step is the increment, not 0.
        assert_eq!(UpSteps::default().step(1, 0), 1);
    }

    fn minutes(start: Instant, minutes: u64) -> Instant {
        start + Duration::from_secs(minutes * 60)
    }

    #[test]
    fn a_scale_down_stands_if_the_next_passes_are_fast_and_none_slow_during_the_trial() {
        let start = Instant::now();
        let mut backoff = DownBackoff::default();
        backoff.scaled_down(3, 2, 5, start);
        for _ in 0..5 {
            backoff.verdict(Verdict::Fast, start);
        }
        // After the confirming beats a neutral one is fine...
        backoff.verdict(Verdict::Neutral, minutes(start, 3));
        assert_eq!(backoff.to_undo(2, minutes(start, 3)), None);
        // ...but a slow one within the trial is not.
        backoff.verdict(Verdict::Slow, minutes(start, 9));
        assert_eq!(backoff.to_undo(2, minutes(start, 9)), Some(1));
    }

    #[test]
    fn a_beat_that_is_not_fast_among_the_confirming_ones_fails_the_trial() {
        let start = Instant::now();
        let mut backoff = DownBackoff::default();
        backoff.scaled_down(5, 4, 5, start);
        backoff.verdict(Verdict::Fast, start);
        backoff.verdict(Verdict::Neutral, start);
        assert_eq!(backoff.to_undo(4, start), Some(1));
        // Someone scaled back up by hand meanwhile: nothing to undo.
        assert_eq!(backoff.to_undo(5, start), None);
    }

    #[test]
    fn a_slow_beat_after_the_trial_changes_nothing() {
        let start = Instant::now();
        let mut backoff = DownBackoff::default();
        backoff.scaled_down(3, 2, 5, start);
        let after = start + TRIAL + Duration::from_secs(1);
        backoff.verdict(Verdict::Slow, after);
        assert_eq!(backoff.to_undo(2, after), None);
        // A scale-up then is not a failed scale-down either.
        backoff.scaled_up(after);
        assert_eq!(backoff.passes(5, 2, after), 5);
    }

    #[test]
    fn each_failed_scale_down_doubles_the_passes_to_that_count_or_above_for_a_while() {
        let start = Instant::now();
        let mut backoff = DownBackoff::default();
        backoff.scaled_down(2, 1, 5, start);
        backoff.scaled_up(minutes(start, 1));
        assert_eq!(backoff.passes(5, 1, minutes(start, 1)), 10);
        // 1 dyno was too few: that says nothing against 2.
        assert_eq!(backoff.passes(5, 2, minutes(start, 1)), 5);
        backoff.scaled_down(2, 1, 10, minutes(start, 10));
        backoff.scaled_up(minutes(start, 12));
        assert_eq!(backoff.passes(5, 1, minutes(start, 12)), 20);
        // Forgotten one by one after FLAP_MEMORY.
        let memory = FLAP_MEMORY.as_secs() / 60;
        assert_eq!(backoff.passes(5, 1, minutes(start, memory + 2)), 10);
        assert_eq!(backoff.passes(5, 1, minutes(start, memory + 13)), 5);
    }

    #[test]
    fn a_correction_ends_the_trial() {
        let start = Instant::now();
        let mut backoff = DownBackoff::default();
        backoff.scaled_down(3, 2, 5, start);
        backoff.other_scale();
        backoff.verdict(Verdict::Slow, start);
        assert_eq!(backoff.to_undo(2, start), None);
    }

    #[test]
    fn the_passes_double_at_most_four_times() {
        let start = Instant::now();
        let mut backoff = DownBackoff::default();
        for flap in 0..6 {
            let at = minutes(start, flap);
            backoff.scaled_down(2, 1, 5, at);
            backoff.scaled_up(at + Duration::from_secs(30));
        }
        assert_eq!(backoff.passes(5, 1, minutes(start, 7)), 80);
    }
}
