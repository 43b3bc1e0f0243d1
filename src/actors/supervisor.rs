//! Supervision: panics become restarts, restarts back off, and a burst of them ends the process.
//!
//! actix's own `Supervisor` restarts an actor only when it *stops*, and a panic inside a handler
//! kills the actor silently instead (DESIGN §5). So every handler body and every future an actor
//! runs goes through [`guarded`] / [`guard_future`], which catch the panic, log it and stop the
//! actor; actix's `Supervisor` then calls `restarting()` (where each actor resets its state) and
//! starts it again with the same address, so messages keep flowing. The [`Supervisor`] actor
//! here counts restarts like OTP's intensity/period and, past the limit, stops the system with a
//! non-zero exit code so the platform restarts the dyno.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use actix::prelude::*;
use actix_rt::time::Instant;
use futures_util::FutureExt;
use slog::{crit, error, warn, Logger};

use super::messages::ChildRestarted;

/// Exit code when the restart limit is exceeded or an actor died beyond repair.
pub const EXIT_SUPERVISION_FAILED: i32 = 1;

/// How restarts are paced and limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisionPolicy {
    /// More restarts than this within `period` (all actors together) end the process.
    pub max_restarts: usize,
    /// The window restarts are counted in.
    pub period: Duration,
    /// The pause before an actor's first quick restart; it doubles with each restart in the
    /// window, up to `max_backoff`.
    pub first_backoff: Duration,
    /// The longest pause before a restart.
    pub max_backoff: Duration,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        SupervisionPolicy {
            max_restarts: 10,
            period: Duration::from_secs(60),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Restart times within the policy's window.
#[derive(Debug, Clone)]
pub struct RestartHistory {
    period: Duration,
    times: VecDeque<Instant>,
}

impl RestartHistory {
    /// An empty history counting over `period`.
    pub fn new(period: Duration) -> Self {
        RestartHistory {
            period,
            times: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; returns how many fall within the window, this one included.
    pub fn record(&mut self, now: Instant) -> usize {
        while let Some(oldest) = self.times.front() {
            if now.saturating_duration_since(*oldest) < self.period {
                break;
            }
            self.times.pop_front();
        }
        self.times.push_back(now);
        self.times.len()
    }
}

/// The pause before restart number `recent` (1-based) within the window.
pub fn backoff(policy: &SupervisionPolicy, recent: usize) -> Duration {
    let doublings = recent.saturating_sub(1).min(20) as u32;
    policy
        .first_backoff
        .saturating_mul(1 << doublings)
        .min(policy.max_backoff)
}

/// What each supervised actor carries: its name, its logger and its line to the supervisor.
#[derive(Clone)]
pub struct Link {
    name: &'static str,
    log: Logger,
    supervisor: Recipient<ChildRestarted>,
    policy: SupervisionPolicy,
    history: RestartHistory,
    pending_backoff: Duration,
}

impl Link {
    /// A link for the actor called `name`.
    pub fn new(
        name: &'static str,
        log: &Logger,
        supervisor: Recipient<ChildRestarted>,
        policy: SupervisionPolicy,
    ) -> Self {
        Link {
            name,
            log: log.new(slog::o!()),
            supervisor,
            policy,
            history: RestartHistory::new(policy.period),
            pending_backoff: Duration::ZERO,
        }
    }

    /// The actor's logger.
    pub fn log(&self) -> &Logger {
        &self.log
    }

    /// Call from `Supervised::restarting`: reports the restart and sets the backoff.
    pub fn restarting(&mut self) {
        let recent = self.history.record(Instant::now());
        self.pending_backoff = backoff(&self.policy, recent);
        warn!(
            self.log,
            "restarting actor={} backoff_ms={} restarts_in_window={}",
            self.name,
            self.pending_backoff.as_millis(),
            recent
        );
        self.supervisor.do_send(ChildRestarted { actor: self.name });
    }

    /// Call first thing in `started`: after a restart, holds the actor's mailbox for the backoff.
    pub fn back_off<A>(&mut self, ctx: &mut Context<A>)
    where
        A: Actor<Context = Context<A>>,
    {
        let pause = std::mem::take(&mut self.pending_backoff);
        if !pause.is_zero() {
            ctx.wait(actix::fut::wrap_future(actix_rt::time::sleep(pause)));
        }
    }
}

/// An actor that runs under supervision.
pub trait Supervisable: Actor<Context = Context<Self>> + Supervised {
    /// Its link to the supervisor.
    fn link(&self) -> &Link;
}

/// Runs `body`; if it panics, logs the panic and stops the actor so its supervisor restarts it.
pub fn guarded<A, R>(
    act: &mut A,
    ctx: &mut Context<A>,
    body: impl FnOnce(&mut A, &mut Context<A>) -> R,
) -> Option<R>
where
    A: Supervisable,
{
    match catch_unwind(AssertUnwindSafe(|| body(act, ctx))) {
        Ok(result) => Some(result),
        Err(panic) => {
            stop_after_panic(act, ctx, panic);
            None
        }
    }
}

/// Wraps a future so a panic while polling it comes back as `Err` instead of killing the actor's
/// task; pass the `Err` to [`stop_after_panic`].
pub fn guard_future<F: Future>(
    future: F,
) -> impl Future<Output = Result<F::Output, Box<dyn Any + Send>>> {
    AssertUnwindSafe(future).catch_unwind()
}

/// Logs a caught panic and stops the actor (its supervisor restarts it).
pub fn stop_after_panic<A: Supervisable>(
    act: &mut A,
    ctx: &mut Context<A>,
    panic: Box<dyn Any + Send>,
) {
    let link = act.link();
    error!(
        link.log(),
        "actor panicked actor={} panic=\"{}\"; restarting it",
        link.name,
        panic_message(panic.as_ref())
    );
    ctx.stop();
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".into()
    }
}

/// A check that an actor is still alive; a dead one cannot be restarted in place.
pub type LivenessCheck = Box<dyn Fn() -> bool + Send>;

/// Counts restarts across all actors and ends the process when they come too fast.
pub struct Supervisor {
    log: Logger,
    policy: SupervisionPolicy,
    liveness_period: Duration,
    history: RestartHistory,
    watched: Vec<(&'static str, LivenessCheck)>,
}

impl Supervisor {
    /// A supervisor applying `policy`, checking liveness every second.
    pub fn new(log: &Logger, policy: SupervisionPolicy) -> Self {
        Supervisor {
            log: log.new(slog::o!()),
            policy,
            liveness_period: Duration::from_secs(1),
            history: RestartHistory::new(policy.period),
            watched: Vec::new(),
        }
    }

    /// Checks liveness every `period` instead, kept between 1 s and 60 s. The worker passes its
    /// heartbeat interval: nothing happens between heartbeats, so a dead actor found within one
    /// interval is found in time, and a worker at a 30 s interval does not wake every second;
    /// the upper bound keeps a very long interval from hiding a dead actor for hours.
    pub fn with_liveness_period(mut self, period: Duration) -> Self {
        self.liveness_period = period.clamp(Duration::from_secs(1), Duration::from_secs(60));
        self
    }

    fn give_up(&self, reason: String) {
        crit!(
            self.log,
            "{reason}; stopping with exit code {EXIT_SUPERVISION_FAILED} so the platform restarts \
             the dyno"
        );
        System::current().stop_with_code(EXIT_SUPERVISION_FAILED);
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The last resort: an actor whose task died outside a guard cannot restart in place.
        ctx.run_interval(self.liveness_period, |act, _| {
            if let Some((name, _)) = act.watched.iter().find(|(_, alive)| !alive()) {
                act.give_up(format!("actor {name} died and cannot be restarted"));
            }
        });
    }
}

/// Adds an actor to the liveness watch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// The actor's name.
    pub actor: &'static str,
    /// Returns false once the actor is dead.
    pub alive: LivenessCheck,
}

impl Handler<Watch> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Context<Self>) {
        self.watched.push((msg.actor, msg.alive));
    }
}

impl Handler<ChildRestarted> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildRestarted, _: &mut Context<Self>) {
        let recent = self.history.record(Instant::now());
        if recent > self.policy.max_restarts {
            self.give_up(format!(
                "too many restarts: {recent} within {} s (limit {}), the last of actor {}",
                self.policy.period.as_secs(),
                self.policy.max_restarts,
                msg.actor
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_doubling_up_to_the_cap() {
        let policy = SupervisionPolicy::default();
        let pauses: Vec<u128> = (1..=8).map(|n| backoff(&policy, n).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn the_history_counts_only_the_window() {
        let start = Instant::now();
        let mut history = RestartHistory::new(Duration::from_secs(60));
        assert_eq!(history.record(start), 1);
        assert_eq!(history.record(start + Duration::from_secs(30)), 2);
        assert_eq!(history.record(start + Duration::from_secs(61)), 2);
        assert_eq!(history.record(start + Duration::from_secs(200)), 1);
    }
}
