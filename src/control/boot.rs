//! Waiting for new dynos to serve before the heartbeats count again.
//!
//! A dyno asked for serves 20–60 s later. Heartbeats taken meanwhile say how the app does
//! without it, so counting them would add dynos again for load the booting ones will take.
//! After a scale-up the controller reads the dyno list (rationed) until the dynos serve, one
//! crashes, or the boot timeout passes.

use std::time::{Duration, Instant};

use crate::heroku::DynoStates;

/// The dyno list is read at most this often while waiting: a boot takes tens of seconds, and
/// every read comes out of the account's API budget that other clients share.
pub const DYNO_READ_GAP: Duration = Duration::from_secs(10);

/// How a wait for booting dynos ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootEnd {
    /// The dyno count the scale-up asked for.
    pub to: u32,
    /// From the scale to the end of the wait.
    pub waited: Duration,
    /// Why it ended.
    pub how: Ended,
}

/// Why a wait for booting dynos ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// At least as many dynos as asked for are up.
    Serving,
    /// This many dynos crashed.
    Crashed(u32),
    /// The boot timeout passed first; the count up at the last read, if one was answered.
    TimedOut(Option<u32>),
}

/// A wait under way: for `to` dynos to serve, since a scale at `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootWait {
    to: u32,
    since: Instant,
    last_read: Option<Instant>,
    last_up: Option<u32>,
}

impl BootWait {
    /// A wait that begins with a scale-up to `to` dynos at `since`.
    pub fn new(to: u32, since: Instant) -> Self {
        BootWait {
            to,
            since,
            last_read: None,
            last_up: None,
        }
    }

    /// The end of the wait if the timeout has passed by `now`.
    pub fn timed_out(&self, timeout: Duration, now: Instant) -> Option<BootEnd> {
        let waited = now.saturating_duration_since(self.since);
        (waited >= timeout).then_some(self.end(Ended::TimedOut(self.last_up), waited))
    }

    /// Whether the dyno list may be read again at `now` (the first read goes at once).
    pub fn read_due(&self, now: Instant) -> bool {
        self.last_read
            .is_none_or(|at| now.saturating_duration_since(at) >= DYNO_READ_GAP)
    }

    /// A read of the dyno list began at `now`.
    pub fn reading(&mut self, now: Instant) {
        self.last_read = Some(now);
    }

    /// The answer to a read: the end of the wait, or `None` while dynos still boot.
    pub fn on_dynos(&mut self, dynos: DynoStates, now: Instant) -> Option<BootEnd> {
        self.last_up = Some(dynos.up);
        let waited = now.saturating_duration_since(self.since);
        if dynos.crashed > 0 {
            Some(self.end(Ended::Crashed(dynos.crashed), waited))
        } else if dynos.up >= self.to {
            Some(self.end(Ended::Serving, waited))
        } else {
            None
        }
    }

    fn end(&self, how: Ended, waited: Duration) -> BootEnd {
        BootEnd {
            to: self.to,
            waited,
            how,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(starting: u32, up: u32, crashed: u32) -> DynoStates {
        DynoStates {
            starting,
            up,
            crashed,
        }
    }

    #[test]
    fn the_wait_ends_when_as_many_dynos_as_asked_for_are_up() {
        let start = Instant::now();
        let mut wait = BootWait::new(4, start);
        let later = start + Duration::from_secs(20);
        assert_eq!(wait.on_dynos(states(2, 2, 0), later), None);
        // Right after a PATCH the list may not show the new dynos yet: nothing starting is not
        // enough, the count up must reach the target.
        assert_eq!(wait.on_dynos(states(0, 2, 0), later), None);
        let end = start + Duration::from_secs(40);
        assert_eq!(
            wait.on_dynos(states(0, 4, 0), end),
            Some(BootEnd {
                to: 4,
                waited: Duration::from_secs(40),
                how: Ended::Serving
            })
        );
    }

    #[test]
    fn a_crashed_dyno_ends_the_wait() {
        let start = Instant::now();
        let mut wait = BootWait::new(3, start);
        let at = start + Duration::from_secs(30);
        assert_eq!(
            wait.on_dynos(states(1, 1, 1), at),
            Some(BootEnd {
                to: 3,
                waited: Duration::from_secs(30),
                how: Ended::Crashed(1)
            })
        );
    }

    #[test]
    fn the_timeout_ends_the_wait_and_says_how_many_were_up() {
        let start = Instant::now();
        let mut wait = BootWait::new(3, start);
        let timeout = Duration::from_secs(120);
        assert_eq!(
            wait.timed_out(timeout, start + Duration::from_secs(119)),
            None
        );
        wait.on_dynos(states(1, 2, 0), start + Duration::from_secs(60));
        assert_eq!(
            wait.timed_out(timeout, start + Duration::from_secs(120)),
            Some(BootEnd {
                to: 3,
                waited: Duration::from_secs(120),
                how: Ended::TimedOut(Some(2))
            })
        );
    }

    #[test]
    fn reads_are_rationed() {
        let start = Instant::now();
        let mut wait = BootWait::new(3, start);
        assert!(wait.read_due(start));
        wait.reading(start);
        assert!(!wait.read_due(start + DYNO_READ_GAP - Duration::from_millis(1)));
        assert!(wait.read_due(start + DYNO_READ_GAP));
    }
}
