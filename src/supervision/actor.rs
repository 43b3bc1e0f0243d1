//! The supervisor actor: counts restarts across all actors like OTP's intensity/period and,
//! past the limit, stops the system with a non-zero exit code so the platform restarts the dyno;
//! as a last resort it watches that every actor is still alive.

use std::time::Duration;

use actix::prelude::*;
use actix_rt::time::Instant;
use slog::{crit, Logger};

use super::{RestartHistory, SupervisionPolicy, EXIT_SUPERVISION_FAILED};
use crate::actors::messages::ChildRestarted;

/// A check that an actor is still alive; a dead one cannot be restarted in place.
pub type LivenessCheck = Box<dyn Fn() -> bool + Send>;

/// Counts restarts across all actors and ends the process when they come too fast.
pub struct SupervisorActor {
    log: Logger,
    policy: SupervisionPolicy,
    liveness_period: Duration,
    history: RestartHistory,
    watched: Vec<(&'static str, LivenessCheck)>,
}

impl SupervisorActor {
    /// A supervisor applying `policy`, checking liveness every second.
    pub fn new(log: &Logger, policy: SupervisionPolicy) -> Self {
        SupervisorActor {
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

impl Actor for SupervisorActor {
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

impl Handler<Watch> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Context<Self>) {
        self.watched.push((msg.actor, msg.alive));
    }
}

impl Handler<ChildRestarted> for SupervisorActor {
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
