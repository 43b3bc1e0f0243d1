//! The scaling controller's state machine, free of actors and I/O.
//!
//! It is fed verdicts and API results and answers with [`Action`]s for the actor to carry out.
//! It owns the streaks: it counts each verdict, and starts them afresh after a successful scale.
//! Keeping it plain means every rule here — re-read before scaling, one call in flight, streaks
//! reset only after a successful scale — is unit-tested directly, and a simulator can drive it
//! on a virtual clock.

pub mod actor;
pub mod boot;
mod corrections;
pub mod decide;
pub(crate) mod refusal;
pub(crate) mod steps;

pub use boot::BootEnd;
pub use decide::{decide, Bounds, Decision, Policy, ScaleReason, Streaks};

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use self::boot::BootWait;
use self::corrections::{Correcting, Corrections};
use self::refusal::Refusal;
use self::steps::{DownBackoff, UpSteps};
use crate::heroku::{ApiError, DynoStates};
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
    /// Read the process type's dyno states, then call [`Controller::on_dynos`].
    ReadDynos,
    /// Send a notice to the admins.
    Notify(Notice),
    /// Log how a wait for booting dynos ended.
    BootEnded(BootEnd),
}

/// What the controller is waiting for, if anything; at most one API call is ever in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Reading the count, with the streaks as they were when the read began.
    Read { streaks: Streaks },
    /// Reading the dyno list after `verdict`, which counts if the new dynos serve.
    Dynos { verdict: Verdict },
    /// Scaling, decided while `max` was the max in force.
    Scale {
        from: u32,
        to: u32,
        reason: ScaleReason,
        max: u32,
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
    /// After a scale-up, heartbeats count again once the new dynos serve, or after this long;
    /// `None`: at once, as the seed did.
    pub boot_timeout: Option<Duration>,
    /// Double the step after each scale-up that brought no relief (see `steps`).
    pub proportional_scale_up: bool,
    /// Double the passes a scale-down needs after each recent flap (see `steps`).
    pub scale_down_backoff: bool,
    /// How long a refused scale-up caps the count (see `refusal`); `None`: it does not.
    pub plan_limit_memory: Option<Duration>,
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
            policy: Policy::of(settings),
            boot_timeout: settings.boot_timeout,
            proportional_scale_up: settings.proportional_scale_up,
            scale_down_backoff: settings.scale_down_backoff,
            plan_limit_memory: settings.plan_limit_memory,
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
    booting: Option<BootWait>,
    up_steps: UpSteps,
    down_backoff: DownBackoff,
    refusal: Option<Refusal>,
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
            booting: None,
            up_steps: UpSteps::default(),
            down_backoff: DownBackoff::default(),
            refusal: None,
        }
    }

    /// The first actions: read the dyno count so bounds are enforced without waiting.
    pub fn start(&mut self) -> Vec<Action> {
        self.read()
    }

    /// Forgets everything (after a restart) but what Heroku refused: a scale may have
    /// completed unseen while the controller was down, so the count is unknown and the streaks
    /// start afresh. Call [`Controller::start`] afterwards, as for a new controller.
    pub fn restart(&mut self) {
        let refusal = self.refusal;
        *self = Controller::new(self.config);
        self.refusal = refusal;
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
            Pending::Read { .. } | Pending::Dynos { .. } => CallInFlight::Read,
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
        let mut actions = Vec::new();
        match verdict {
            // A wrong URL says nothing about load: it holds the count, and someone must fix it.
            Verdict::BadUrl(status) => {
                actions.extend(self.notify_if_due(Notice::HeartbeatUrlRefused { status }, now));
            }
            _ => {
                if verdict != Verdict::Slow {
                    // Fast and neutral beats are 2xx answers: the URL works.
                    self.notices.clear(NoticeKind::HeartbeatUrlRefused);
                    self.up_steps.relief();
                }
                self.down_backoff.verdict(verdict, now);
            }
        }
        actions.extend(self.boot_timed_out(now));
        // Beats taken while new dynos boot say how the app does without them: not counted.
        if self.booting.is_none() {
            self.streaks.record(verdict);
        }
        // One call at a time; its answer is decided when it comes.
        if self.pending.is_some() {
            return actions;
        }
        if let Some(wait) = self.booting.as_mut().filter(|wait| wait.read_due(now)) {
            wait.reading(now);
            self.pending = Some(Pending::Dynos { verdict });
            actions.push(Action::ReadDynos);
            return actions;
        }
        let Some(known) = self.known else {
            actions.extend(self.read());
            return actions;
        };
        if now.saturating_duration_since(known.read_at) >= self.config.formation_refresh {
            actions.extend(self.read());
            return actions;
        }
        actions.extend(self.act_on_verdict(known, bounds, now));
        actions
    }

    fn act_on_verdict(&mut self, known: Known, bounds: Bounds, now: Instant) -> Vec<Action> {
        match self.decide_now(known.quantity, bounds, self.streaks, now) {
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
            // Not an answer to a read of ours: the call in flight stays the one call.
            Some(other) => {
                self.pending = Some(other);
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
        let decision = self.decide_now(quantity, bounds, streaks, now);
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
                        max: bounds.max,
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
        let Some(Pending::Scale {
            from,
            to,
            reason,
            max,
        }) = self.pending
        else {
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
                self.stepped(reason, from, quantity, now);
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
                if let Some(notice) = self.refused(from, to, max, &error, now) {
                    return self.notify_if_due(notice, now).into_iter().collect();
                }
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

    /// The answer to [`Action::ReadDynos`]: the wait goes on until the dynos serve, one
    /// crashes, or the boot timeout passes (a failed read changes nothing).
    pub fn on_dynos(&mut self, result: Result<DynoStates, ApiError>, now: Instant) -> Vec<Action> {
        let Some(Pending::Dynos { verdict }) = self.pending else {
            return Vec::new();
        };
        self.pending = None;
        let states = match result {
            Ok(states) => states,
            Err(error) => return self.key_refused(&error, now).into_iter().collect(),
        };
        self.notices.clear(NoticeKind::ApiKeyRefused);
        let ended = self
            .booting
            .as_mut()
            .and_then(|wait| wait.on_dynos(states, now));
        let actions = self.end_boot_wait(ended);
        // The list was read right after the beat: dynos up now were up for it too (a boot
        // takes tens of seconds), so it is the first beat of the new count.
        if !actions.is_empty() {
            self.streaks.record(verdict);
        }
        actions
    }

    fn boot_timed_out(&mut self, now: Instant) -> Vec<Action> {
        let ended = self
            .booting
            .zip(self.config.boot_timeout)
            .and_then(|(wait, timeout)| wait.timed_out(timeout, now));
        self.end_boot_wait(ended)
    }

    fn end_boot_wait(&mut self, ended: Option<BootEnd>) -> Vec<Action> {
        let Some(end) = ended else {
            return Vec::new();
        };
        self.booting = None;
        self.streaks = Streaks::default();
        vec![Action::BootEnded(end)]
    }

    /// Remembers a scale Heroku refused (422); a refused scale-up is the plan's limit, worth
    /// a notice of its own.
    fn refused(
        &mut self,
        from: u32,
        to: u32,
        max: u32,
        error: &ApiError,
        now: Instant,
    ) -> Option<Notice> {
        if !matches!(error, ApiError::Unprocessable { .. }) {
            return None;
        }
        let memory = self.config.plan_limit_memory;
        let refusal = Refusal::of(from, to, error.named_limit(), max, memory, now);
        self.refusal = Some(refusal);
        let (cap, lasts) = refusal.cap().zip(memory)?;
        Some(Notice::PlanLimit {
            from,
            refused: to,
            cap,
            lasts,
            error: error.clone(),
        })
    }

    /// The bounds in force with a plan limit Heroku taught applied, once the refusal is
    /// checked against the max and the count now.
    fn bounds_within_plan(&mut self, bounds: Bounds, quantity: u32, now: Instant) -> Bounds {
        if self
            .refusal
            .is_some_and(|refusal| !refusal.holds(bounds.max, quantity, now))
        {
            self.refusal = None;
        }
        self.refusal
            .map_or(bounds, |refusal| refusal.bounds(bounds))
    }

    /// The rule in force: the configured one, with the step and the passes the recent scales
    /// call for.
    fn policy_now(&mut self, quantity: u32, now: Instant) -> Policy {
        let mut policy = self.config.policy;
        if self.config.proportional_scale_up {
            policy.up_by = self.up_steps.step(policy.up_by, quantity);
        }
        if self.config.scale_down_backoff {
            let to = quantity.saturating_sub(policy.down_by);
            policy.passes_to_scale_down =
                self.down_backoff
                    .passes(policy.passes_to_scale_down, to, now);
        }
        policy
    }

    /// `decide`'s answer within the plan's limit, or putting back the dynos of a scale-down
    /// the heartbeats refuted. Corrections into the bounds come first, as always.
    fn decide_now(
        &mut self,
        quantity: u32,
        bounds: Bounds,
        streaks: Streaks,
        now: Instant,
    ) -> Decision {
        let bounds = self.bounds_within_plan(bounds, quantity, now);
        let policy = self.policy_now(quantity, now);
        let decision = match decide(quantity, bounds, streaks, policy) {
            // Heroku refused this very scale a moment ago: asking again at once would only be
            // refused again.
            Decision::Scale { to, .. } if self.refusal.is_some_and(|r| r.refuses(to)) => {
                return Decision::Hold
            }
            decision => decision,
        };
        if matches!(decision, Decision::Scale { reason, .. } if reason.is_correction()) {
            return decision;
        }
        match self.down_backoff.to_undo(quantity, now) {
            Some(removed) if self.config.scale_down_backoff && quantity < bounds.max => {
                Decision::Scale {
                    to: quantity.saturating_add(removed).min(bounds.max),
                    reason: ScaleReason::ScaleDownUndone,
                }
            }
            _ => decision,
        }
    }

    /// Remembers a scale for the next steps, and waits for the dynos it added.
    fn stepped(&mut self, reason: ScaleReason, from: u32, to: u32, now: Instant) {
        match reason {
            ScaleReason::SlowStreak => {
                self.up_steps.scaled_up();
                self.down_backoff.scaled_up(now);
            }
            // Putting back what was removed is not a step that could have been too small.
            ScaleReason::ScaleDownUndone => self.down_backoff.scaled_up(now),
            ScaleReason::FastStreak => {
                let passes = self.policy_now(from, now).passes_to_scale_down;
                self.down_backoff.scaled_down(from, to, passes, now)
            }
            ScaleReason::BelowMin | ScaleReason::AboveMax => self.down_backoff.other_scale(),
        }
        // In a dry run no dyno boots: the list would never show them.
        if to > from && self.config.boot_timeout.is_some() && !self.config.dry_run {
            self.booting = Some(BootWait::new(to, now));
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
        // At the plan's limit below the max: the plan-limit notice has said so.
        let plan_limited = self
            .refusal
            .and_then(|refusal| refusal.cap())
            .is_some_and(|cap| cap < bounds.max);
        if decision == Decision::NeedsAboveMax && !plan_limited {
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
