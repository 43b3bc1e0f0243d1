//! Supervision: panics become restarts, restarts back off, and a burst of them ends the process.
//!
//! actix's own `Supervisor` restarts an actor only when it *stops*, and a panic inside a handler
//! kills the actor silently instead (DESIGN §5). So every handler body and every future an actor
//! runs goes through [`guarded`] / [`guard_future`], which catch the panic, log it and stop the
//! actor; actix's `Supervisor` then calls `restarting()` (where each actor resets its state) and
//! starts it again with the same address, so messages keep flowing. The [`SupervisorActor`] actor
//! here counts restarts like OTP's intensity/period and, past the limit, stops the system with a
//! non-zero exit code so the platform restarts the dyno.

pub mod actor;
pub mod fault_injection;

pub use actor::{LivenessCheck, SupervisorActor, Watch};

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use actix::prelude::*;
use actix_rt::time::Instant;
use futures_util::FutureExt;
use slog::{error, warn, Logger};

use crate::actors::messages::ChildRestarted;
use crate::backoff::Backoff;

/// Exit code when the restart limit is exceeded or an actor died beyond repair.
pub const EXIT_SUPERVISION_FAILED: i32 = 1;

/// How restarts are paced and limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisionPolicy {
    /// More restarts than this within `period` (all actors together) end the process.
    pub max_restarts: usize,
    /// The window restarts are counted in.
    pub period: Duration,
    /// The pause before an actor's restart, by the number of restarts in the window.
    pub backoff: Backoff,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        SupervisionPolicy {
            max_restarts: 10,
            period: Duration::from_secs(60),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
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

/// What each supervised actor carries: its name, its logger and its line to the supervisor.
#[derive(Clone)]
pub struct Link {
    name: &'static str,
    log: Logger,
    metrics_log: Logger,
    supervisor: Recipient<ChildRestarted>,
    policy: SupervisionPolicy,
    history: RestartHistory,
    pending_backoff: Duration,
}

impl Link {
    /// A link for the actor called `name`, logging to `log` with its name on each line.
    pub fn new(
        name: &'static str,
        log: &Logger,
        supervisor: Recipient<ChildRestarted>,
        policy: SupervisionPolicy,
    ) -> Self {
        Link {
            name,
            log: log.new(slog::o!("actor" => name)),
            metrics_log: log.new(slog::o!()),
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

    /// The logger for l2met metrics lines: without the actor's name, which would end the line
    /// in `, actor: NAME` and glue a comma to the last metric's value.
    pub fn metrics_log(&self) -> &Logger {
        &self.metrics_log
    }

    /// Call from `Supervised::restarting`: reports the restart and sets the backoff.
    pub fn restarting(&mut self) {
        let recent = self.history.record(Instant::now());
        self.pending_backoff = self
            .policy
            .backoff
            .after(recent.try_into().unwrap_or(u32::MAX));
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

/// Runs `future` for the actor, then `then` on its output: the one way actors make calls. A
/// panic while polling the future or in `then` is caught, logged and stops the actor (its
/// supervisor restarts it); `on_panic` gives the answer in that case.
pub fn guarded_call<A, F, R>(
    act: &A,
    future: F,
    then: impl FnOnce(F::Output, &mut A, &mut Context<A>) -> R + 'static,
    on_panic: impl FnOnce() -> R + 'static,
) -> impl ActorFuture<A, Output = R>
where
    A: Supervisable,
    F: Future + 'static,
    R: 'static,
{
    guard_future(future)
        .into_actor(act)
        .map(move |result, act, ctx| match result {
            Ok(output) => {
                guarded(act, ctx, |act, ctx| then(output, act, ctx)).unwrap_or_else(on_panic)
            }
            Err(panic) => {
                stop_after_panic(act, ctx, panic);
                on_panic()
            }
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_doubling_up_to_the_cap() {
        let policy = SupervisionPolicy::default();
        let pauses: Vec<u128> = (1..=8)
            .map(|n| policy.backoff.after(n).as_millis())
            .collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    /// An actor whose call's continuation panics, counting its restarts.
    struct Caller {
        link: Link,
        restarts: std::rc::Rc<std::cell::Cell<u32>>,
    }

    impl Actor for Caller {
        type Context = Context<Self>;
    }

    impl Supervised for Caller {
        fn restarting(&mut self, _: &mut Context<Self>) {
            self.restarts.set(self.restarts.get() + 1);
            self.link.restarting();
        }
    }

    impl Supervisable for Caller {
        fn link(&self) -> &Link {
            &self.link
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct CallThenPanic;

    impl Handler<CallThenPanic> for Caller {
        type Result = ();

        fn handle(&mut self, _: CallThenPanic, ctx: &mut Context<Self>) {
            let call = guarded_call(
                self,
                async {},
                |_, _, _| panic!("the answer could not be handled"),
                || (),
            );
            ctx.spawn(call);
        }
    }

    #[actix_rt::test]
    async fn a_panic_after_a_call_restarts_the_actor_instead_of_killing_it() {
        let log = Logger::root(slog::Discard, slog::o!());
        let policy = SupervisionPolicy::default();
        let supervisor = SupervisorActor::new(&log, policy).start();
        let restarts = std::rc::Rc::new(std::cell::Cell::new(0));
        let caller = actix::Supervisor::start({
            let link = Link::new("caller", &log, supervisor.recipient(), policy);
            let restarts = restarts.clone();
            move |_| Caller { link, restarts }
        });
        caller.send(CallThenPanic).await.expect("delivered");
        for _ in 0..50 {
            if restarts.get() > 0 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(restarts.get(), 1);
        assert!(caller.connected(), "the actor lives on at the same address");
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
