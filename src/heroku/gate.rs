//! Holding API requests back after an error, so a bad key or a rate limit is not retried at
//! heartbeat rate.

use std::time::{Duration, Instant};

use super::ApiError;

/// Tracks errors and answers whether a request may go out now.
#[derive(Debug, Clone, Default)]
pub struct ApiGate {
    closed: Option<(Instant, ApiError)>,
    failures_in_a_row: u32,
}

impl ApiGate {
    /// `Ok` if a request may be sent now, else the [`ApiError::Deferred`] to answer with.
    pub fn check(&self, now: Instant) -> Result<(), ApiError> {
        match &self.closed {
            Some((until, cause)) if now < *until => Err(ApiError::Deferred {
                remaining: *until - now,
                cause: Box::new(cause.clone()),
            }),
            _ => Ok(()),
        }
    }

    /// Records a request's outcome: success opens the gate, an error closes it for its backoff.
    pub fn record<T>(&mut self, result: &Result<T, ApiError>, now: Instant) {
        match result {
            Ok(_) => {
                self.closed = None;
                self.failures_in_a_row = 0;
            }
            // Not the API failing: nothing to hold back or count (a 422 refused one quantity).
            Err(
                ApiError::Deferred { .. }
                | ApiError::Busy
                | ApiError::Unavailable(_)
                | ApiError::Unprocessable { .. },
            ) => {}
            Err(error) => {
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                // An absurd backoff must not overflow the clock; a far-off time is the same wait.
                let backoff = error.backoff(self.failures_in_a_row);
                let until = now
                    .checked_add(backoff)
                    .unwrap_or(now + Duration::from_secs(3600));
                self.closed = Some((until, error.clone()));
            }
        }
    }

    /// How many requests failed in a row (0 after a success).
    pub fn failures_in_a_row(&self) -> u32 {
        self.failures_in_a_row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limited() -> ApiError {
        ApiError::RateLimited {
            message: "Your account reached the API rate limit".into(),
            retry_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_rate_limit_holds_requests_back_until_it_has_passed() {
        let start = Instant::now();
        let mut gate = ApiGate::default();
        assert!(gate.check(start).is_ok());
        gate.record::<()>(&Err(rate_limited()), start);
        let held = gate.check(start + Duration::from_secs(59)).unwrap_err();
        assert!(matches!(held, ApiError::Deferred { ref cause, .. } if **cause == rate_limited()));
        assert!(gate.check(start + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn a_success_opens_the_gate_and_forgets_the_failures() {
        let start = Instant::now();
        let mut gate = ApiGate::default();
        let failure = Err::<(), _>(ApiError::Network("connection refused".into()));
        gate.record(&failure, start);
        gate.record(&failure, start);
        assert_eq!(gate.failures_in_a_row(), 2);
        gate.record(&Ok(()), start);
        assert_eq!(gate.failures_in_a_row(), 0);
        assert!(gate.check(start).is_ok());
    }

    #[test]
    fn a_refused_quantity_holds_no_request_back() {
        let now = Instant::now();
        let mut gate = ApiGate::default();
        let refused = ApiError::Unprocessable {
            id: "cannot_run_above_limit".into(),
            message: "Cannot run more than 2 Free size dynos.".into(),
        };
        gate.record::<()>(&Err(refused), now);
        assert!(gate.check(now).is_ok());
        assert_eq!(gate.failures_in_a_row(), 0);
    }

    #[test]
    fn a_backoff_beyond_the_clock_does_not_panic() {
        let now = Instant::now();
        let mut gate = ApiGate::default();
        let error = ApiError::RateLimited {
            message: String::new(),
            retry_after: Duration::MAX,
        };
        gate.record::<()>(&Err(error), now);
        assert!(gate.check(now).is_err());
    }

    #[test]
    fn deferred_answers_do_not_extend_the_wait() {
        let start = Instant::now();
        let mut gate = ApiGate::default();
        gate.record::<()>(&Err(rate_limited()), start);
        let deferred = gate.check(start).unwrap_err();
        gate.record::<()>(&Err(deferred), start + Duration::from_secs(30));
        assert!(gate.check(start + Duration::from_secs(60)).is_ok());
    }
}
