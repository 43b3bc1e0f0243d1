//! What a scale Heroku refused (HTTP 422) teaches, so the worker stops asking for it at every
//! heartbeat while reads and other scales go on.
//!
//! A refused scale-up is almost always the plan's dyno limit (`cannot_run_above_limit`): the
//! count is capped at the largest quantity Heroku is known to accept, or at the limit its
//! answer names, for `AUTOSCALE_PLAN_LIMIT_MEMORY_IN_MINUTES` (an hour) or until the max in
//! force changes. Anything else refused, or any refusal with the memory off, is not asked for
//! again for a minute.

use std::time::{Duration, Instant};

use super::Bounds;

/// How long another refused quantity is not asked for again.
pub const REFUSED_QUANTITY_HOLD: Duration = Duration::from_secs(60);

/// A refusal still remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than `cap` dynos are not asked for while the max in force is `max_then`.
    PlanLimit {
        cap: u32,
        max_then: u32,
        until: Instant,
    },
    /// Scaling to `to` is not asked for again for a while.
    Quantity { to: u32, until: Instant },
}

impl Refusal {
    /// What Heroku refusing a scale from `from` to `to` means, when the max in force was
    /// `max_then` and the answer named `limit` (if it did). A plan limit is believed for
    /// `memory` (`None`: it is not learned).
    pub fn of(
        from: u32,
        to: u32,
        limit: Option<u32>,
        max_then: u32,
        memory: Option<Duration>,
        now: Instant,
    ) -> Refusal {
        let memory = memory.filter(|_| to > from);
        let Some(memory) = memory else {
            return Refusal::Quantity {
                to,
                until: now + REFUSED_QUANTITY_HOLD,
            };
        };
        // `from` runs, so Heroku accepts it; a named limit below `to` is worth one try. A
        // limit at or above `to` cannot be about this process type alone (Free dynos count
        // across types), so only `from` is known to be accepted.
        let cap = limit
            .filter(|limit| *limit < to)
            .map_or(from, |limit| limit.max(from));
        Refusal::PlanLimit {
            cap,
            max_then,
            until: now + memory,
        }
    }

    /// The largest quantity asked for while this refusal holds, if it is a plan limit.
    pub fn cap(&self) -> Option<u32> {
        match self {
            Refusal::PlanLimit { cap, .. } => Some(*cap),
            Refusal::Quantity { .. } => None,
        }
    }

    /// Whether it still holds, given the max in force and the count last read: a plan limit
    /// ends when its memory does, when the max changes (a new setting or the schedule), or
    /// when more dynos than the cap run (the limit was raised and someone scaled by hand).
    pub fn holds(&self, max: u32, quantity: u32, now: Instant) -> bool {
        match *self {
            Refusal::PlanLimit {
                cap,
                max_then,
                until,
            } => max == max_then && quantity <= cap && now < until,
            Refusal::Quantity { until, .. } => now < until,
        }
    }

    /// The bounds in force with the plan's limit applied: the cap lowers the max, and the min
    /// with it, so a min above the limit is not asked for either.
    pub fn bounds(&self, bounds: Bounds) -> Bounds {
        match self.cap() {
            Some(cap) => {
                let max = bounds.max.min(cap);
                Bounds {
                    min: bounds.min.min(max),
                    max,
                }
            }
            None => bounds,
        }
    }

    /// Whether a scale to `to` is held back.
    pub fn refuses(&self, to: u32) -> bool {
        match *self {
            Refusal::PlanLimit { cap, .. } => to > cap,
            Refusal::Quantity { to: refused, .. } => to == refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { min: 1, max: 20 };
    const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

    #[test]
    fn a_refused_scale_up_caps_at_the_count_running_or_the_named_limit() {
        let now = Instant::now();
        let cap = |from, to, limit| Refusal::of(from, to, limit, 20, HOUR, now).cap();
        assert_eq!(cap(8, 16, None), Some(8));
        assert_eq!(cap(8, 16, Some(10)), Some(10));
        // A limit the refused quantity is within says nothing about this process type.
        assert_eq!(cap(1, 2, Some(2)), Some(1));
        assert_eq!(cap(1, 2, Some(10)), Some(1));
        // Never below what runs.
        assert_eq!(cap(5, 8, Some(3)), Some(5));
    }

    #[test]
    fn a_plan_limit_lowers_the_max_and_the_min_with_it() {
        let now = Instant::now();
        let limit = Refusal::of(4, 8, Some(6), 20, HOUR, now);
        assert_eq!(limit.bounds(BOUNDS), Bounds { min: 1, max: 6 });
        assert_eq!(
            limit.bounds(Bounds { min: 8, max: 20 }),
            Bounds { min: 6, max: 6 }
        );
        assert_eq!(
            limit.bounds(Bounds { min: 1, max: 3 }),
            Bounds { min: 1, max: 3 }
        );
        assert!(limit.refuses(7));
        assert!(!limit.refuses(6));
    }

    #[test]
    fn a_plan_limit_lasts_its_memory_while_the_max_and_the_count_say_nothing_new() {
        let now = Instant::now();
        let limit = Refusal::of(4, 8, None, 20, HOUR, now);
        assert!(limit.holds(20, 4, now + Duration::from_secs(3599)));
        assert!(!limit.holds(20, 4, now + Duration::from_secs(3600)));
        assert!(!limit.holds(30, 4, now), "the max changed");
        assert!(!limit.holds(10, 4, now), "the max changed, even downwards");
        assert!(!limit.holds(20, 5, now), "more dynos than the cap run");
    }

    #[test]
    fn another_refusal_holds_back_that_quantity_for_a_minute() {
        let now = Instant::now();
        let refused = Refusal::of(5, 4, None, 20, HOUR, now);
        assert_eq!(refused.cap(), None);
        let memory_off = Refusal::of(4, 5, Some(4), 20, None, now);
        assert_eq!(
            memory_off,
            Refusal::Quantity {
                to: 5,
                until: now + REFUSED_QUANTITY_HOLD
            }
        );
        assert_eq!(refused.bounds(BOUNDS), BOUNDS);
        assert!(refused.refuses(4));
        assert!(!refused.refuses(3));
        assert!(refused.holds(20, 5, now + REFUSED_QUANTITY_HOLD - Duration::from_secs(1)));
        assert!(!refused.holds(20, 5, now + REFUSED_QUANTITY_HOLD));
    }
}
