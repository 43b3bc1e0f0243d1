//! The scaling rule: given the dyno count, the bounds in force and the streaks, what to do.

use std::fmt;

use crate::judge::Verdict;

/// The fewest and most dynos allowed right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Fewest dynos.
    pub min: u32,
    /// Most dynos.
    pub max: u32,
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "min={} max={}", self.min, self.max)
    }
}

/// Consecutive slow and fast verdicts; at most one of the two is non-zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streaks {
    /// Consecutive slow verdicts up to now.
    pub slow: u32,
    /// Consecutive fast verdicts up to now.
    pub fast: u32,
}

impl Streaks {
    /// Adds a verdict: it extends its own streak and ends the other (neutral ends both).
    pub fn record(&mut self, verdict: Verdict) {
        *self = match verdict {
            Verdict::Slow => Streaks {
                slow: self.slow.saturating_add(1),
                fast: 0,
            },
            Verdict::Fast => Streaks {
                slow: 0,
                fast: self.fast.saturating_add(1),
            },
            Verdict::Neutral | Verdict::BadUrl(_) => Streaks::default(),
        };
    }

    /// The streaks to decide on when `earlier` ones started a call that has just been
    /// answered: these, unless they are the same evidence grown weaker (a neutral beat, or one
    /// and a new shorter streak, came in between), which must not cancel what `earlier` asked
    /// for. A streak the other way is newer evidence, and wins.
    pub fn or_earlier(self, earlier: Streaks) -> Streaks {
        let reversed = (self.slow > 0 && earlier.fast > 0) || (self.fast > 0 && earlier.slow > 0);
        let weaker = self.slow < earlier.slow || self.fast < earlier.fast;
        if weaker && !reversed {
            earlier
        } else {
            self
        }
    }
}

/// How many verdicts in a row it takes to scale, and by how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive slow verdicts before scaling up.
    pub fails_to_scale_up: u32,
    /// Consecutive fast verdicts before scaling down.
    pub passes_to_scale_down: u32,
    /// Dynos added by a slow streak.
    pub up_by: u32,
    /// Dynos removed by a fast streak.
    pub down_by: u32,
}

impl Policy {
    /// The seed's rule: `increment` both ways.
    pub fn of(settings: &crate::Settings) -> Self {
        Policy {
            fails_to_scale_up: settings.number_of_fails_to_scale_up_after,
            passes_to_scale_down: settings.number_of_passes_to_scale_down_after,
            up_by: settings.increment,
            down_by: settings.increment,
        }
    }
}

/// Why the dyno count should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleReason {
    /// Fewer dynos than the minimum in force (a schedule change, or a manual scale).
    BelowMin,
    /// More dynos than the maximum in force.
    AboveMax,
    /// Enough slow heartbeats in a row.
    SlowStreak,
    /// Enough fast heartbeats in a row.
    FastStreak,
    /// A slow heartbeat soon after a scale-down: the dynos removed are put back.
    ScaleDownUndone,
}

impl ScaleReason {
    /// Whether the scale brings the count back within the bounds, rather than following the
    /// heartbeats.
    pub fn is_correction(self) -> bool {
        matches!(self, ScaleReason::BelowMin | ScaleReason::AboveMax)
    }
}

impl fmt::Display for ScaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScaleReason::BelowMin => "below_min",
            ScaleReason::AboveMax => "above_max",
            ScaleReason::SlowStreak => "slow_streak",
            ScaleReason::FastStreak => "fast_streak",
            ScaleReason::ScaleDownUndone => "scale_down_undone",
        })
    }
}

/// What the controller should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Leave the dyno count as it is.
    Hold,
    /// Set the dyno count to `to`.
    Scale {
        /// The new dyno count, always within the bounds.
        to: u32,
        /// Why.
        reason: ScaleReason,
    },
    /// Responses are slow but the count is already at the maximum.
    NeedsAboveMax,
    /// Responses are fast but the count is already at the minimum (and above 1).
    NeedsBelowMin,
}

/// Applies the rules of DESIGN §2 "Deciding", in order: bounds first, then scaling up, then down.
pub fn decide(quantity: u32, bounds: Bounds, streaks: Streaks, policy: Policy) -> Decision {
    if quantity < bounds.min {
        return Decision::Scale {
            to: bounds.min,
            reason: ScaleReason::BelowMin,
        };
    }
    if quantity > bounds.max {
        return Decision::Scale {
            to: bounds.max,
            reason: ScaleReason::AboveMax,
        };
    }
    if streaks.slow >= policy.fails_to_scale_up {
        return if quantity >= bounds.max {
            Decision::NeedsAboveMax
        } else {
            Decision::Scale {
                to: quantity.saturating_add(policy.up_by).min(bounds.max),
                reason: ScaleReason::SlowStreak,
            }
        };
    }
    if streaks.fast >= policy.passes_to_scale_down {
        return if quantity > bounds.min {
            Decision::Scale {
                to: quantity.saturating_sub(policy.down_by).max(bounds.min),
                reason: ScaleReason::FastStreak,
            }
        } else if quantity > 1 {
            Decision::NeedsBelowMin
        } else {
            Decision::Hold
        };
    }
    Decision::Hold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{classify, Limits, ProbeOutcome, Sample};
    use std::time::Duration;

    const POLICY: Policy = Policy {
        fails_to_scale_up: 3,
        passes_to_scale_down: 5,
        up_by: 1,
        down_by: 1,
    };

    fn bounds(min: u32, max: u32) -> Bounds {
        Bounds { min, max }
    }

    fn slow(n: u32) -> Streaks {
        Streaks { slow: n, fast: 0 }
    }

    fn fast(n: u32) -> Streaks {
        Streaks { slow: 0, fast: n }
    }

    fn scale(to: u32, reason: ScaleReason) -> Decision {
        Decision::Scale { to, reason }
    }

    /// Drives the rule the way the worker does: classify samples, count streaks, decide after
    /// each, and apply a scale (which resets the streaks). Returns the dyno count after each.
    fn simulate(start: u32, limits: Bounds, policy: Policy, latencies_ms: &[u64]) -> Vec<u32> {
        let response_limits = Limits {
            max_response_time: Duration::from_millis(1000),
            min_response_time: Duration::from_millis(200),
            hold_on_url_errors: true,
        };
        let mut streaks = Streaks::default();
        let mut quantity = start;
        latencies_ms
            .iter()
            .map(|ms| {
                let sample = Sample {
                    latency: Duration::from_millis(*ms),
                    outcome: ProbeOutcome::Status(200),
                };
                streaks.record(classify(&sample, response_limits));
                if let Decision::Scale { to, .. } = decide(quantity, limits, streaks, policy) {
                    quantity = to;
                    streaks = Streaks::default();
                }
                quantity
            })
            .collect()
    }

    #[test]
    fn streaks_are_strictly_consecutive() {
        let mut streaks = Streaks::default();
        let mut after = |verdict| {
            streaks.record(verdict);
            streaks
        };
        assert_eq!(after(Verdict::Slow), slow(1));
        assert_eq!(after(Verdict::Slow), slow(2));
        assert_eq!(after(Verdict::Fast), fast(1));
        assert_eq!(after(Verdict::Slow), slow(1));
        assert_eq!(after(Verdict::Neutral), Streaks::default());
        assert_eq!(after(Verdict::Fast), fast(1));
        assert_eq!(after(Verdict::Fast), fast(2));
    }

    #[test]
    fn a_read_is_answered_on_the_newest_evidence_that_is_not_weaker() {
        // Grown: the newer streak. Broken by a neutral, or rebuilt shorter: the earlier one.
        assert_eq!(slow(4).or_earlier(slow(3)), slow(4));
        assert_eq!(Streaks::default().or_earlier(slow(3)), slow(3));
        assert_eq!(slow(1).or_earlier(slow(3)), slow(3));
        assert_eq!(fast(2).or_earlier(fast(5)), fast(5));
        // Reversed: the newer streak, however short.
        assert_eq!(fast(1).or_earlier(slow(3)), fast(1));
        assert_eq!(slow(2).or_earlier(fast(5)), slow(2));
    }

    #[test]
    fn three_slow_beats_add_a_dyno_until_the_max() {
        let counts = simulate(1, bounds(1, 3), POLICY, &[2000; 9]);
        assert_eq!(counts, [1, 1, 2, 2, 2, 3, 3, 3, 3]);
    }

    #[test]
    fn five_fast_beats_remove_a_dyno_until_the_min() {
        let counts = simulate(3, bounds(1, 3), POLICY, &[50; 15]);
        assert_eq!(counts[4], 2);
        assert_eq!(counts[9], 1);
        assert_eq!(counts[14], 1);
        assert_eq!(&counts[..4], [3, 3, 3, 3]);
    }

    #[test]
    fn slow_after_fast_scales_up() {
        let counts = simulate(1, bounds(1, 3), POLICY, &[50, 50, 50, 2000, 2000, 2000]);
        assert_eq!(counts, [1, 1, 1, 1, 1, 2]);
    }

    #[test]
    fn neutral_beats_hold() {
        let counts = simulate(2, bounds(1, 3), POLICY, &[500; 20]);
        assert!(counts.iter().all(|count| *count == 2));
    }

    #[test]
    fn the_increment_is_clamped_to_the_bounds_and_never_reaches_zero() {
        let by_two = Policy {
            up_by: 2,
            down_by: 2,
            ..POLICY
        };
        assert_eq!(
            decide(1, bounds(1, 5), slow(3), by_two),
            scale(3, ScaleReason::SlowStreak)
        );
        assert_eq!(
            decide(4, bounds(1, 5), slow(3), by_two),
            scale(5, ScaleReason::SlowStreak)
        );
        assert_eq!(
            decide(2, bounds(1, 5), fast(5), by_two),
            scale(1, ScaleReason::FastStreak)
        );
        assert_eq!(decide(1, bounds(1, 5), fast(9), by_two), Decision::Hold);
    }

    #[test]
    fn bounds_are_enforced_at_once_whatever_the_streaks() {
        assert_eq!(
            decide(1, bounds(2, 5), Streaks::default(), POLICY),
            scale(2, ScaleReason::BelowMin)
        );
        assert_eq!(
            decide(4, bounds(1, 2), Streaks::default(), POLICY),
            scale(2, ScaleReason::AboveMax)
        );
        assert_eq!(
            decide(4, bounds(1, 2), slow(10), POLICY),
            scale(2, ScaleReason::AboveMax)
        );
        assert_eq!(
            decide(0, bounds(1, 3), fast(10), POLICY),
            scale(1, ScaleReason::BelowMin)
        );
    }

    #[test]
    fn at_the_bounds_the_need_is_reported_instead() {
        assert_eq!(
            decide(3, bounds(1, 3), slow(3), POLICY),
            Decision::NeedsAboveMax
        );
        assert_eq!(
            decide(2, bounds(2, 3), fast(5), POLICY),
            Decision::NeedsBelowMin
        );
        assert_eq!(decide(1, bounds(1, 3), fast(5), POLICY), Decision::Hold);
        assert_eq!(decide(0, bounds(0, 3), fast(5), POLICY), Decision::Hold);
    }

    #[test]
    fn streaks_below_the_threshold_hold() {
        assert_eq!(decide(2, bounds(1, 3), slow(2), POLICY), Decision::Hold);
        assert_eq!(decide(2, bounds(1, 3), fast(4), POLICY), Decision::Hold);
    }

    #[test]
    fn a_zero_minimum_allows_scaling_to_zero_only_when_set() {
        assert_eq!(
            decide(1, bounds(0, 3), fast(5), POLICY),
            scale(0, ScaleReason::FastStreak)
        );
    }
}
