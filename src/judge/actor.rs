//! The response-time judge: classifies each sample and keeps the streaks.

use actix::prelude::*;
use slog::{debug, info, warn};

use crate::actors::messages::{InjectPanic, ResetStreaks, SampleTaken, VerdictReached};
use crate::control::Judged;
use crate::judge::{FailureChange, FailureWatch, Judge, Limits, ProbeOutcome};
use crate::supervision::{guarded, Link, Supervisable};

/// Wraps [`Judge`]; logs one debug line per heartbeat, and one warning when the heartbeat
/// starts failing.
pub struct JudgeActor {
    judge: Judge,
    failures: FailureWatch,
    /// Survives restarts, so the controller keeps accepting this judge's verdicts.
    epoch: u64,
    controller: Recipient<VerdictReached>,
    link: Link,
}

impl JudgeActor {
    /// A judge applying `limits`, reporting to `controller`.
    pub fn new(limits: Limits, controller: Recipient<VerdictReached>, link: Link) -> Self {
        JudgeActor {
            judge: Judge::new(limits),
            failures: FailureWatch::default(),
            epoch: 0,
            controller,
            link,
        }
    }
}

impl Actor for JudgeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
    }
}

impl Supervised for JudgeActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.judge.reset();
        self.link.restarting();
    }
}

impl Supervisable for JudgeActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<SampleTaken> for JudgeActor {
    type Result = ();

    fn handle(&mut self, msg: SampleTaken, ctx: &mut Context<Self>) {
        guarded(self, ctx, |act, _| {
            let (verdict, streaks) = act.judge.judge(&msg.sample);
            let outcome = match &msg.sample.outcome {
                ProbeOutcome::Status(status) => format!("status={status}"),
                ProbeOutcome::TimedOut => "status=timeout".to_string(),
                ProbeOutcome::Failed(error) => format!("status=error error=\"{error}\""),
            };
            debug!(
                act.link.log(),
                "heartbeat beat={} latency_ms={} {outcome} verdict={verdict} slow_streak={} \
                 fast_streak={}",
                msg.beat,
                msg.sample.latency.as_millis(),
                streaks.slow,
                streaks.fast
            );
            match act.failures.observe(&msg.sample.outcome) {
                Some(FailureChange::Began(what)) => warn!(
                    act.link.log(),
                    "heartbeat failed: {what}; failures count as slow and lead to scaling up: \
                     check AUTOSCALE_HEARTBEAT_URL and that the app is up"
                ),
                Some(FailureChange::Ended { failures }) => info!(
                    act.link.log(),
                    "heartbeat answers again after {failures} failed heartbeats"
                ),
                None => {}
            }
            act.controller.do_send(VerdictReached {
                beat: msg.beat,
                sample: msg.sample,
                judged: Judged {
                    verdict,
                    streaks,
                    epoch: act.epoch,
                },
            });
        });
    }
}

impl Handler<ResetStreaks> for JudgeActor {
    type Result = ();

    fn handle(&mut self, msg: ResetStreaks, ctx: &mut Context<Self>) {
        guarded(self, ctx, |act, _| {
            act.epoch = msg.epoch;
            act.judge.reset();
        });
    }
}

impl Handler<InjectPanic> for JudgeActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the judge"));
    }
}
