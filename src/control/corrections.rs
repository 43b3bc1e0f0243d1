//! Corrections into the bounds that do not hold. When something else keeps putting the dyno
//! count back outside the bounds (another autoscaler, a script, an API that answers a scale call
//! with the old count), a scale call per heartbeat would not help: each correction to the same
//! count waits twice as long as the one before, from a minute up to an hour.

use std::time::{Duration, Instant};

use crate::backoff::Backoff;

/// The wait before correcting to the same count again, after each correction that was undone.
pub const CORRECTION_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(60), Duration::from_secs(3600));

/// Corrections are remembered this long after the last one, however often the count is found
/// within the bounds meanwhile: something that undoes them every few minutes (a scheduled
/// `heroku ps:scale`) is then seen for what it is, not met by a first correction each time.
pub const CORRECTION_MEMORY: Duration = Duration::from_secs(3600);

/// Corrections to one count, the last less than [`CORRECTION_MEMORY`] ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Episode {
    to: u32,
    made: u32,
    last_made: Instant,
}

/// Whether a correction to a count may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correcting {
    /// No correction to this count was undone: send it.
    First,
    /// `made` corrections were undone and the wait has passed: send it; if it is undone too,
    /// the next waits `then_wait`.
    Again { made: u32, then_wait: Duration },
    /// `made` corrections were undone: wait `left` more before the next.
    Later { made: u32, left: Duration },
}

/// The corrections made in the current episode, if any.
#[derive(Debug, Clone, Default)]
pub struct Corrections {
    episode: Option<Episode>,
}

impl Corrections {
    /// Whether a correction to `to` may be sent at `now`.
    pub fn status(&self, to: u32, now: Instant) -> Correcting {
        let Some(episode) = self.episode.filter(|episode| episode.to == to) else {
            return Correcting::First;
        };
        let next_at = episode.last_made + CORRECTION_BACKOFF.after(episode.made);
        match next_at.checked_duration_since(now) {
            Some(left) if !left.is_zero() => Correcting::Later {
                made: episode.made,
                left,
            },
            _ => Correcting::Again {
                made: episode.made,
                then_wait: CORRECTION_BACKOFF.after(episode.made + 1),
            },
        }
    }

    /// A correction to `to` was carried out at `now` (the API answered it).
    pub fn made(&mut self, to: u32, now: Instant) {
        let made = match self.episode {
            Some(episode) if episode.to == to => episode.made + 1,
            _ => 1,
        };
        self.episode = Some(Episode {
            to,
            made,
            last_made: now,
        });
    }

    /// The count was found within the bounds at `now`. Returns whether that ends the episode:
    /// the last correction has held for [`CORRECTION_MEMORY`], so the next one is a first.
    pub fn held(&mut self, now: Instant) -> bool {
        let Some(episode) = self.episode else {
            return false;
        };
        let ended = now.saturating_duration_since(episode.last_made) >= CORRECTION_MEMORY;
        if ended {
            self.episode = None;
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_undone_correction_waits_twice_as_long_up_to_an_hour() {
        let start = Instant::now();
        let mut corrections = Corrections::default();
        assert_eq!(corrections.status(3, start), Correcting::First);
        corrections.made(3, start);
        let half_a_minute = start + Duration::from_secs(30);
        assert_eq!(
            corrections.status(3, half_a_minute),
            Correcting::Later {
                made: 1,
                left: Duration::from_secs(30)
            }
        );
        let a_minute = start + Duration::from_secs(60);
        assert_eq!(
            corrections.status(3, a_minute),
            Correcting::Again {
                made: 1,
                then_wait: Duration::from_secs(120)
            }
        );
        let mut at = a_minute;
        for _ in 0..10 {
            corrections.made(3, at);
            at += Duration::from_secs(3600);
        }
        assert!(matches!(
            corrections.status(3, at),
            Correcting::Again { .. }
        ));
    }

    #[test]
    fn another_count_or_a_correction_held_for_an_hour_starts_afresh() {
        let now = Instant::now();
        let mut corrections = Corrections::default();
        corrections.made(3, now);
        assert_eq!(corrections.status(4, now), Correcting::First);
        let minutes = |m: u64| now + Duration::from_secs(60 * m);
        // Held for a while only: undone again later, it is the same episode.
        assert!(!corrections.held(minutes(10)));
        assert!(matches!(
            corrections.status(3, minutes(10)),
            Correcting::Again { made: 1, .. }
        ));
        assert!(corrections.held(minutes(60)));
        assert_eq!(corrections.status(3, minutes(60)), Correcting::First);
    }
}
