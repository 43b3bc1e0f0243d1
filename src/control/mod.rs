//! The scaling controller's state machine, free of actors and I/O.
//!
//! It is fed verdicts and API results and answers with [`Action`]s for the actor to carry out.
//! Keeping it plain means every rule here — re-read before scaling, one call in flight, streaks
//! reset only after a successful scale — is unit-tested directly.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub mod actor;
pub mod decide;

use crate::judge::{Streaks, Verdict};
use crate::notify::{Notice, NoticeGate, NoticeKind};
use crate::settings::ScaleDiff;
pub use decide::{decide, Bounds, Decision, Policy, ScaleReason};

/// A verdict as the judge sends it: with its streaks and the streak epoch they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    /// The latest sample's verdict.
    pub verdict: Verdict,
    /// Streaks including that verdict.
    pub streaks: Streaks,
    /// Which reset of the streaks these count from (see [`Action::ResetStreaks`]).
    pub epoch: u64,
}

/// Something the controller actor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the current dyno count from the API, then call [`Controller::on_formation`].
    ReadFormation,
    /// Set the dyno count, then call [`Controller::on_scaled`].
    Scale {
        /// The count before.
        from: u32,
        /// The count asked for.
        to: u32,
        /// Why.
        reason: ScaleReason,
    },
    /// Tell the judge to start its streaks afresh, counting from this epoch.
    ResetStreaks {
        /// The new epoch.
        epoch: u64,
    },
    /// Send a notice to the admins.
    Notify(Notice),
}

/// What the controller is waiting for, if anything; at most one API call is ever in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Read,
    Scale {
        from: u32,
        to: u32,
        reason: ScaleReason,
    },
}

/// The dyno count as last read from the API, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    quantity: u32,
    read_at: Instant,
}

/// Settings the controller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Streak thresholds and step size.
    pub policy: Policy,
    /// How long a dyno count read from the API is trusted when nothing needs doing.
    pub formation_refresh: Duration,
    /// How soon a notice about a lasting condition is repeated.
    pub notice_repeat: Duration,
    /// When to send the scale-diff notice, if at all.
    pub scale_diff: Option<ScaleDiff>,
}

/// The controller's state.
#[derive(Debug, Clone)]
pub struct Controller {
    config: ControllerConfig,
    known: Option<Known>,
    pending: Option<Pending>,
    streaks: Streaks,
    epoch: u64,
    notices: NoticeGate,
    /// Dyno counts set (before and after each scale) within the scale-diff period.
    history: VecDeque<(Instant, u32)>,
}

impl Controller {
    /// A controller that knows nothing yet; start it with [`Controller::start`].
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            config,
            known: None,
            pending: None,
            streaks: Streaks::default(),
            epoch: 0,
            notices: NoticeGate::new(config.notice_repeat),
            history: VecDeque::new(),
        }
    }

    /// The first actions: read the dyno count so bounds are enforced without waiting.
    pub fn start(&mut self) -> Vec<Action> {
        self.read()
    }

    /// Forgets everything but the epoch (after a restart) and starts the streaks afresh, since
    /// a scale may have completed unseen while the controller was down. Call
    /// [`Controller::start`] afterwards, as for a new controller.
    pub fn restart(&mut self) -> Vec<Action> {
        let epoch = self.epoch + 1;
        *self = Controller::new(self.config);
        self.epoch = epoch;
        vec![Action::ResetStreaks { epoch }]
    }

    /// The dyno count last read, if any.
    pub fn quantity(&self) -> Option<u32> {
        self.known.map(|known| known.quantity)
    }

    /// Whether an API call is in flight.
    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets a scale that was decided but will not be sent (the worker is stopping): no
    /// notice, no change to what is known. Reads in flight are left to finish.
    pub fn abandon_scale(&mut self) {
        if matches!(self.pending, Some(Pending::Scale { .. })) {
            self.pending = None;
        }
    }

    /// A new verdict from the judge.
    pub fn on_verdict(&mut self, judged: Judged, bounds: Bounds, now: Instant) -> Vec<Action> {
        // While a call is in flight the streaks that started it stay: the answer is decided on
        // the verdict that reached the threshold, not on whatever came in meanwhile.
        if self.pending.is_some() {
            return Vec::new();
        }
        // Streaks counted before the last reset would scale a second time for the same need.
        self.streaks = if judged.epoch == self.epoch {
            judged.streaks
        } else {
            Streaks::default()
        };
        let Some(known) = self.known else {
            return self.read();
        };
        if now.saturating_duration_since(known.read_at) >= self.config.formation_refresh {
            return self.read();
        }
        match decide(known.quantity, bounds, self.streaks, self.config.policy) {
            // Someone may have scaled by hand since the last read: check before acting.
            Decision::Scale { .. } => self.read(),
            decision => self.report(decision, known.quantity, bounds, now),
        }
    }

    /// The result of [`Action::ReadFormation`]; `Err` means the read failed (already logged).
    pub fn on_formation(
        &mut self,
        result: Result<u32, ()>,
        bounds: Bounds,
        now: Instant,
    ) -> Vec<Action> {
        if self.pending == Some(Pending::Read) {
            self.pending = None;
        }
        let Ok(quantity) = result else {
            return Vec::new();
        };
        self.notices.clear(NoticeKind::ApiKeyRefused);
        self.known = Some(Known {
            quantity,
            read_at: now,
        });
        match decide(quantity, bounds, self.streaks, self.config.policy) {
            Decision::Scale { to, reason } => {
                self.pending = Some(Pending::Scale {
                    from: quantity,
                    to,
                    reason,
                });
                vec![Action::Scale {
                    from: quantity,
                    to,
                    reason,
                }]
            }
            decision => self.report(decision, quantity, bounds, now),
        }
    }

    /// The result of [`Action::Scale`]: the count the API now reports, or the error text.
    pub fn on_scaled(&mut self, result: Result<u32, String>, now: Instant) -> Vec<Action> {
        let Some(Pending::Scale { from, to, reason }) = self.pending.take() else {
            return Vec::new();
        };
        match result {
            Ok(quantity) => {
                self.known = Some(Known {
                    quantity,
                    read_at: now,
                });
                for kind in [
                    NoticeKind::ScaleFailed,
                    NoticeKind::ApiKeyRefused,
                    NoticeKind::NeedsAboveMax,
                    NoticeKind::NeedsBelowMin,
                ] {
                    // A scale ends these conditions; the next one begins afresh.
                    self.notices.clear(kind);
                }
                self.epoch += 1;
                self.streaks = Streaks::default();
                let mut actions = vec![Action::ResetStreaks { epoch: self.epoch }];
                actions.extend(self.check_scale_diff(from, quantity, now));
                actions
            }
            Err(error) => {
                // The count is unknown now; streaks stay, so the next verdict tries again.
                self.known = None;
                let notice = Notice::ScaleFailed {
                    from,
                    to,
                    reason,
                    error,
                };
                self.notify_if_due(notice, now).into_iter().collect()
            }
        }
    }

    /// The API refused the key on some call; the admins hear of it when it begins and then at
    /// most once per repeat period, until a call succeeds again.
    pub fn on_api_key_refused(&mut self, error: String, now: Instant) -> Vec<Action> {
        self.notify_if_due(Notice::ApiKeyRefused { error }, now)
            .into_iter()
            .collect()
    }

    /// Records a scale and says whether the counts set within the period now range too widely.
    fn check_scale_diff(&mut self, from: u32, to: u32, now: Instant) -> Option<Action> {
        let diff = self.config.scale_diff?;
        self.history.push_back((now, from));
        self.history.push_back((now, to));
        while let Some((at, _)) = self.history.front() {
            if now.saturating_duration_since(*at) <= diff.period {
                break;
            }
            self.history.pop_front();
        }
        let counts = self.history.iter().map(|(_, count)| *count);
        let low = counts.clone().min()?;
        let high = counts.max()?;
        if high - low > diff.threshold {
            let notice = Notice::ScaleDiff {
                low,
                high,
                threshold: diff.threshold,
                period: diff.period,
            };
            self.notify_if_due(notice, now)
        } else {
            self.notices.clear(NoticeKind::ScaleDiff);
            None
        }
    }

    fn read(&mut self) -> Vec<Action> {
        self.pending = Some(Pending::Read);
        vec![Action::ReadFormation]
    }

    /// Updates the notice conditions for a decision that does not scale. A condition lasts
    /// while the count stays at the bound: a streak broken by one neutral heartbeat at max is
    /// the same overload going on, not a new one to report.
    fn report(
        &mut self,
        decision: Decision,
        quantity: u32,
        bounds: Bounds,
        now: Instant,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if decision == Decision::NeedsAboveMax {
            let notice = Notice::NeedsAboveMax {
                quantity,
                bounds,
                slow_streak: self.streaks.slow,
            };
            actions.extend(self.notify_if_due(notice, now));
        } else if quantity < bounds.max {
            self.notices.clear(NoticeKind::NeedsAboveMax);
        }
        if decision == Decision::NeedsBelowMin {
            let notice = Notice::NeedsBelowMin {
                quantity,
                bounds,
                fast_streak: self.streaks.fast,
            };
            actions.extend(self.notify_if_due(notice, now));
        } else if quantity > bounds.min {
            self.notices.clear(NoticeKind::NeedsBelowMin);
        }
        actions
    }

    fn notify_if_due(&mut self, notice: Notice, now: Instant) -> Option<Action> {
        self.notices
            .should_send(notice.kind(), now)
            .then_some(Action::Notify(notice))
    }
}

#[cfg(test)]
mod tests;
