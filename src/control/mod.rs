//! The scaling controller's state machine, free of actors and I/O.
//!
//! It is fed verdicts and API results and answers with [`Action`]s for the actor to carry out.
//! It owns the streaks: it counts each verdict, and starts them afresh after a successful scale.
//! Keeping it plain means every rule here — re-read before scaling, one call in flight, streaks
//! reset only after a successful scale — is unit-tested directly, and a simulator can drive it
//! on a virtual clock.

pub mod actor;
mod corrections;
pub mod decide;

pub use decide::{decide, Bounds, Decision, Policy, ScaleReason, Streaks};

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use self::corrections::{Correcting, Corrections};
use crate::heroku::ApiError;
use crate::judge::Verdict;
use crate::notify::{Notice, NoticeGate, NoticeKind};
use crate::settings::ScaleDiff;

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
    /// Send a notice to the admins.
    Notify(Notice),
}

/// What the controller is waiting for, if anything; at most one API call is ever in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Reading the count, with the streaks as they were when the read began.
    Read { streaks: Streaks },
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
    /// Scale calls are logged, not sent: a count read afterwards says nothing about whether a
    /// correction held, so none is counted as undone.
    pub dry_run: bool,
}

impl ControllerConfig {
    /// The worker's configuration from its settings (the simulator's too, so that it runs the
    /// same rules).
    pub fn of(settings: &crate::Settings, dry_run: bool) -> Self {
        ControllerConfig {
            policy: Policy {
                fails_to_scale_up: settings.number_of_fails_to_scale_up_after,
                passes_to_scale_down: settings.number_of_passes_to_scale_down_after,
                increment: settings.increment,
            },
            formation_refresh: settings.formation_refresh,
            notice_repeat: settings.notify_repeat_after,
            scale_diff: settings.notify_scale_diff,
            dry_run,
        }
    }
}

/// The kind of API call the controller waits for: a stop waits for a scale (so its outcome is
/// logged) but not for a read (nothing changes if it is abandoned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallInFlight {
    /// Reading the formation.
    Read,
    /// Scaling the formation.
    Scale,
}

/// The controller's state.
#[derive(Debug, Clone)]
pub struct Controller {
    config: ControllerConfig,
    known: Option<Known>,
    pending: Option<Pending>,
    streaks: Streaks,
    notices: NoticeGate,
    /// Dyno counts set (before and after each scale) within the scale-diff period.
    history: VecDeque<(Instant, u32)>,
    corrections: Corrections,
}

impl Controller {
    /// A controller that knows nothing yet; start it with [`Controller::start`].
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            config,
            known: None,
            pending: None,
            streaks: Streaks::default(),
            notices: NoticeGate::new(config.notice_repeat),
            history: VecDeque::new(),
            corrections: Corrections::default(),
        }
    }

    /// The first actions: read the dyno count so bounds are enforced without waiting.
    pub fn start(&mut self) -> Vec<Action> {
        self.read()
    }

    /// Forgets everything (after a restart): a scale may have completed unseen while the
    /// controller was down, so the count is unknown and the streaks start afresh. Call
    /// [`Controller::start`] afterwards, as for a new controller.
    pub fn restart(&mut self) {
        *self = Controller::new(self.config);
    }

    /// The streaks counted so far.
    pub fn streaks(&self) -> Streaks {
        self.streaks
    }

    /// The dyno count last read, if any.
    pub fn quantity(&self) -> Option<u32> {
        self.known.map(|known| known.quantity)
    }

    /// Which API call is in flight, if any.
    pub fn call_in_flight(&self) -> Option<CallInFlight> {
        self.pending.as_ref().map(|pending| match pending {
            Pending::Read { .. } => CallInFlight::Read,
            Pending::Scale { .. } => CallInFlight::Scale,
        })
    }

    /// Forgets a scale that was decided but will not be sent (the worker is stopping): no
    /// notice, no change to what is known. Reads in flight are left to finish.
    pub fn abandon_scale(&mut self) {
        if matches!(self.pending, Some(Pending::Scale { .. })) {
            self.pending = None;
        }
    }

    /// A new verdict from the judge: counted into the streaks, then acted on.
    pub fn on_verdict(&mut self, verdict: Verdict, bounds: Bounds, now: Instant) -> Vec<Action> {
        self.streaks.record(verdict);
        // One call at a time; its answer is decided when it comes.
        if self.pending.is_some() {
            return Vec::new();
        }
        let Some(known) = self.known else {
            return self.read();
        };
        if now.saturating_duration_since(known.read_at) >= self.config.formation_refresh {
            return self.read();
        }
        match decide(known.quantity, bounds, self.streaks, self.config.policy) {
            // Waiting out a correction that did not hold: no read needed to know that.
            Decision::Scale { to, reason }
                if reason.is_correction()
                    && matches!(self.corrections.status(to, now), Correcting::Later { .. }) =>
            {
                let (_, notice) = self.correct(known.quantity, to, reason, now);
                notice.into_iter().collect()
            }
            // Someone may have scaled by hand since the last read: check before acting.
            Decision::Scale { .. } => self.read(),
            decision => self.report(decision, known.quantity, bounds, self.streaks, now),
        }
    }

    /// The answer to [`Action::ReadFormation`] (failures are already logged by the API actor).
    pub fn on_formation(
        &mut self,
        result: Result<u32, ApiError>,
        bounds: Bounds,
        now: Instant,
    ) -> Vec<Action> {
        let streaks = match self.pending.take() {
            Some(Pending::Read { streaks }) => self.streaks.or_earlier(streaks),
            // Not an answer to a read of ours: the scale in flight stays the one call.
            Some(scale @ Pending::Scale { .. }) => {
                self.pending = Some(scale);
                return Vec::new();
            }
            None => self.streaks,
        };
        let quantity = match result {
            Ok(quantity) => quantity,
            // The next verdict reads again.
            Err(error) => return self.key_refused(&error, now).into_iter().collect(),
        };
        self.notices.clear(NoticeKind::ApiKeyRefused);
        self.known = Some(Known {
            quantity,
            read_at: now,
        });
        let decision = decide(quantity, bounds, streaks, self.config.policy);
        if !matches!(decision, Decision::Scale { reason, .. } if reason.is_correction()) {
            // Within the bounds: once the corrections have held long enough, the condition is over.
            if self.corrections.held(now) {
                self.notices.clear(NoticeKind::CorrectionUndone);
            }
        }
        match decision {
            Decision::Scale { to, reason } => {
                let (go, notice) = self.correct(quantity, to, reason, now);
                let mut actions: Vec<Action> = notice.into_iter().collect();
                if go {
                    self.pending = Some(Pending::Scale {
                        from: quantity,
                        to,
                        reason,
                    });
                    actions.push(Action::Scale {
                        from: quantity,
                        to,
                        reason,
                    });
                }
                actions
            }
            decision => self.report(decision, quantity, bounds, streaks, now),
        }
    }

    /// The answer to [`Action::Scale`]: the count the API now reports, or why it failed.
    pub fn on_scaled(&mut self, result: Result<u32, ApiError>, now: Instant) -> Vec<Action> {
        let Some(Pending::Scale { from, to, reason }) = self.pending else {
            return Vec::new();
        };
        self.pending = None;
        match result {
            Ok(quantity) => {
                self.known = Some(Known {
                    quantity,
                    read_at: now,
                });
                if reason.is_correction() && !self.config.dry_run {
                    self.corrections.made(to, now);
                }
                for kind in [
                    NoticeKind::ScaleFailed,
                    NoticeKind::ApiKeyRefused,
                    NoticeKind::NeedsAboveMax,
                    NoticeKind::NeedsBelowMin,
                ] {
                    // A scale ends these conditions; the next one begins afresh.
                    self.notices.clear(kind);
                }
                // The next step needs a fresh streak, which gives the new dynos time to boot.
                self.streaks = Streaks::default();
                self.check_scale_diff(from, quantity, now)
                    .into_iter()
                    .collect()
            }
            // A call from before a restart was still in flight and has ended now: not a
            // failure. Read what it left and decide on that. Its scale, like one of ours, needs
            // a fresh streak after it: the beats counted meanwhile came before its dynos served.
            Err(ApiError::Busy) => {
                self.known = None;
                self.streaks = Streaks::default();
                self.read()
            }
            Err(error) => {
                // The count is unknown now; streaks stay, so the next verdict tries again.
                self.known = None;
                let mut actions: Vec<Action> = self.key_refused(&error, now).into_iter().collect();
                let notice = Notice::ScaleFailed {
                    from,
                    to,
                    reason,
                    error,
                };
                actions.extend(self.notify_if_due(notice, now));
                actions
            }
        }
    }

    /// Whether a scale may be sent now (`true`). A correction into the bounds that was undone
    /// waits longer each time it is needed again, and the admins hear of it.
    fn correct(
        &mut self,
        from: u32,
        to: u32,
        reason: ScaleReason,
        now: Instant,
    ) -> (bool, Option<Action>) {
        if !reason.is_correction() {
            return (true, None);
        }
        let (go, corrections, next_in) = match self.corrections.status(to, now) {
            Correcting::First => return (true, None),
            // Counting the one sent now; `then_wait` is the wait if it is undone too.
            Correcting::Again { made, then_wait } => (true, made + 1, then_wait),
            Correcting::Later { made, left } => (false, made, left),
        };
        let notice = Notice::CorrectionUndone {
            from,
            to,
            corrections,
            next_in,
        };
        (go, self.notify_if_due(notice, now))
    }

    /// A refused key is worth a notice of its own: nothing scales until someone fixes it. Sent
    /// when it begins and then at most once per repeat period, until a call succeeds again.
    fn key_refused(&mut self, error: &ApiError, now: Instant) -> Option<Action> {
        if !error.is_key_refused() {
            return None;
        }
        let notice = Notice::ApiKeyRefused {
            error: error.clone(),
        };
        self.notify_if_due(notice, now)
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
        self.pending = Some(Pending::Read {
            streaks: self.streaks,
        });
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
        streaks: Streaks,
        now: Instant,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if decision == Decision::NeedsAboveMax {
            let notice = Notice::NeedsAboveMax {
                quantity,
                bounds,
                slow_streak: streaks.slow,
            };
            actions.extend(self.notify_if_due(notice, now));
        } else if quantity < bounds.max {
            self.notices.clear(NoticeKind::NeedsAboveMax);
        }
        if decision == Decision::NeedsBelowMin {
            let notice = Notice::NeedsBelowMin {
                quantity,
                bounds,
                fast_streak: streaks.fast,
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
