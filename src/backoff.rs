//! The one exponential backoff: actor restarts, email retries and failed API calls all wait
//! `first`, then twice that after each further failure, up to `max`.

use std::time::Duration;

/// A wait that doubles with each failure in a row, from `first` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// A backoff from `first` doubling up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The wait after `failures` failures in a row (1-based; 0 counts as 1).
    pub fn after(&self, failures: u32) -> Duration {
        // 2^20 times any sensible first wait is past every cap; the limit keeps the shift sane.
        let doublings = failures.saturating_sub(1).min(20);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_first_wait_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(1800));
        let waits: Vec<u64> = (1..=8).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1800, 1800]);
        assert_eq!(backoff.after(0), Duration::from_secs(30));
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(1800));
    }

    #[test]
    fn a_huge_first_wait_saturates_instead_of_overflowing() {
        let backoff = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(backoff.after(40), Duration::MAX);
    }
}
