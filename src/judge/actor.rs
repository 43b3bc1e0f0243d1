//! The response-time judge actor: classifies each sample, watches for failure episodes, and
//! forwards the verdict to the controller (which counts the streaks).

use actix::prelude::*;
use slog::{error, info, warn};

use super::{classify, FailureChange, FailureWatch, Limits, Verdict};
use crate::actors::messages::{InjectPanic, SampleTaken, VerdictReached};
use crate::supervision::{guarded, Link, Supervisable};

/// Wraps [`classify`] and [`FailureWatch`]; logs one warning when the heartbeat starts failing.
pub struct JudgeActor {
    limits: Limits,
    failures: FailureWatch,
    controller: Recipient<VerdictReached>,
    link: Link,
}

impl JudgeActor {
    /// A judge applying `limits`, reporting to `controller`.
    pub fn new(limits: Limits, controller: Recipient<VerdictReached>, link: Link) -> Self {
        JudgeActor {
            limits,
            failures: FailureWatch::default(),
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
        self.failures = FailureWatch::default();
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
            let verdict = classify(&msg.sample, act.limits);
            match act.failures.observe(&msg.sample.outcome) {
                // Loud: the dynos are not scaled on load until someone fixes the setting.
                Some(FailureChange::Began(what)) if matches!(verdict, Verdict::BadUrl(_)) => {
                    let log = act.link.log();
                    error!(
                        log,
                        "heartbeat failed: {what}, which means a wrong AUTOSCALE_HEARTBEAT_URL \
                         (or one that needs a login), not load: holding the dyno count until it \
                         answers 2xx"
                    )
                }
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
                verdict,
                sample: msg.sample,
            });
        });
    }
}

impl Handler<InjectPanic> for JudgeActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the judge"));
    }
}
