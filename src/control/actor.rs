//! The scaling controller actor: a thin shell that carries out [`Controller`]'s actions.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use actix_rt::time::Instant;
use slog::{debug, info, warn};

use crate::actors::messages::{
    GetFormation, InjectPanic, PrepareToStop, ResetStreaks, ScaleFormation, SendNotice,
    VerdictReached,
};
use crate::actors::{ApiRecipients, WallClock};
use crate::control::{Action, Controller, ControllerConfig};
use crate::control::{Bounds, ScaleReason};
use crate::heroku::{ApiError, Formation};
use crate::judge::{Sample, Verdict};
use crate::notify::NoticeContext;
use crate::settings::Settings;
use crate::supervision::{guard_future, guarded, stop_after_panic, Link, Supervisable};

/// Decides from verdicts and scales through the API actor.
pub struct ControllerActor {
    logic: Controller,
    settings: Arc<Settings>,
    clock: WallClock,
    api: ApiRecipients,
    judge: Recipient<ResetStreaks>,
    notifier: Recipient<SendNotice>,
    link: Link,
    announced: bool,
    /// The latest heartbeats, for the notices.
    recent: VecDeque<(Sample, Verdict)>,
    /// Log scale decisions instead of carrying them out.
    dry_run: bool,
    /// The worker is stopping: verdicts are no longer acted on.
    stopping: bool,
}

/// How many recent heartbeats a notice shows.
const RECENT_SAMPLES: usize = 10;

impl ControllerActor {
    /// A controller for `settings`, scaling through `api`.
    pub fn new(
        settings: Arc<Settings>,
        config: ControllerConfig,
        clock: WallClock,
        api: ApiRecipients,
        judge: Recipient<ResetStreaks>,
        notifier: Recipient<SendNotice>,
        link: Link,
    ) -> Self {
        ControllerActor {
            logic: Controller::new(config),
            settings,
            clock,
            api,
            judge,
            notifier,
            link,
            announced: false,
            recent: VecDeque::with_capacity(RECENT_SAMPLES),
            dry_run: false,
            stopping: false,
        }
    }

    /// With `true`, scale decisions are logged (`would scale ...`) and not sent: the logic
    /// carries on as if the call had succeeded, until the next read shows the real count.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    fn bounds(&self) -> Bounds {
        self.settings.bounds_at((self.clock)())
    }

    fn perform(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                Action::ReadFormation => self.read_formation(ctx),
                Action::Scale { from, to, reason } => self.scale(from, to, reason, ctx),
                Action::ResetStreaks { epoch } => self.judge.do_send(ResetStreaks { epoch }),
                Action::Notify(notice) => {
                    let at = (self.clock)();
                    let context = NoticeContext {
                        quantity: self.logic.quantity(),
                        bounds: self.settings.bounds_at(at),
                        at,
                        recent: self.recent.iter().cloned().collect(),
                        dry_run: self.dry_run,
                    };
                    self.notifier.do_send(SendNotice { notice, context });
                }
            }
        }
    }

    fn read_formation(&mut self, ctx: &mut Context<Self>) {
        let request = guard_future(self.api.get_formation.send(GetFormation));
        ctx.spawn(request.into_actor(self).map(|result, act, ctx| {
            let answer = match result {
                Ok(answer) => flatten(answer),
                Err(panic) => return stop_after_panic(act, ctx, panic),
            };
            guarded(act, ctx, |act, ctx| {
                let bounds = act.bounds();
                let now = Instant::now().into_std();
                let quantity = match answer {
                    Ok(formation) => {
                        act.announce(&formation, bounds);
                        Ok(formation.quantity)
                    }
                    Err(error) => {
                        // The API actor has logged the failure itself; this says what it costs.
                        debug!(act.link.log(), "formation unknown: {error}");
                        act.report_refused_key(&error, ctx);
                        Err(())
                    }
                };
                let actions = act.logic.on_formation(quantity, bounds, now);
                act.perform(actions, ctx);
            });
        }));
    }

    fn scale(&mut self, from: u32, to: u32, reason: ScaleReason, ctx: &mut Context<Self>) {
        // A read that was in flight when the stop began can still end in a decision to scale;
        // a stop must not start a call it may not see answered.
        if self.stopping {
            info!(
                self.link.log(),
                "not scaling {} from={from} to={to} reason={reason}: stopping",
                self.settings.process_type
            );
            return self.logic.abandon_scale();
        }
        if self.dry_run {
            info!(
                self.link.log(),
                "would scale {} from={from} to={to} reason={reason} (dry run: no scale call sent)",
                self.settings.process_type
            );
            let actions = self.logic.on_scaled(Ok(to), Instant::now().into_std());
            return self.perform(actions, ctx);
        }
        let request = guard_future(self.api.scale.send(ScaleFormation { quantity: to }));
        ctx.spawn(request.into_actor(self).map(move |result, act, ctx| {
            let answer = match result {
                Ok(answer) => flatten(answer),
                Err(panic) => return stop_after_panic(act, ctx, panic),
            };
            guarded(act, ctx, |act, ctx| {
                let process = &act.settings.process_type;
                let log = act.link.log();
                let outcome = match answer {
                    Ok(formation) => {
                        info!(
                            log,
                            "scaled {process} from={from} to={} reason={reason}",
                            formation.quantity
                        );
                        if formation.quantity != to {
                            warn!(
                                log,
                                "asked Heroku for {to} {process} dynos, it reports {}",
                                formation.quantity
                            );
                        }
                        Ok(formation.quantity)
                    }
                    Err(error) => {
                        warn!(
                            log,
                            "scale {process} from={from} to={to} reason={reason} failed: {error}"
                        );
                        act.report_refused_key(&error, ctx);
                        Err(format!("{error}; {}", error.advice()))
                    }
                };
                let actions = act.logic.on_scaled(outcome, Instant::now().into_std());
                act.perform(actions, ctx);
            });
        }));
    }

    /// A refused key is worth a notice of its own: nothing scales until someone fixes it.
    fn report_refused_key(&mut self, error: &ApiError, ctx: &mut Context<Self>) {
        if error.is_key_refused() {
            let advice = error.advice();
            let now = Instant::now().into_std();
            let actions = self
                .logic
                .on_api_key_refused(format!("{error}; {advice}"), now);
            self.perform(actions, ctx);
        }
    }

    /// One info line when the dyno count is first known, so the log shows what is watched.
    fn announce(&mut self, formation: &Formation, bounds: Bounds) {
        let log = self.link.log();
        if self.announced {
            debug!(
                log,
                "formation {} quantity={}", formation.process_type, formation.quantity
            );
            return;
        }
        self.announced = true;
        info!(
            log,
            "watching app={} process={} quantity={} {bounds} time_zone={}",
            self.settings.heroku_app_name,
            formation.process_type,
            formation.quantity,
            self.settings.time_zone.name()
        );
    }
}

/// A mailbox error (the API actor was restarting) is one more way for a call to fail.
fn flatten<T>(answer: Result<Result<T, ApiError>, MailboxError>) -> Result<T, ApiError> {
    answer.unwrap_or_else(|error| Err(ApiError::Unavailable(error.to_string())))
}

impl Actor for ControllerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
        guarded(self, ctx, |act, ctx| {
            let actions = act.logic.start();
            act.perform(actions, ctx);
        });
    }
}

impl Supervised for ControllerActor {
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        let actions = self.logic.restart();
        self.perform(actions, ctx);
        self.link.restarting();
    }
}

impl Supervisable for ControllerActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<VerdictReached> for ControllerActor {
    type Result = ();

    fn handle(&mut self, msg: VerdictReached, ctx: &mut Context<Self>) {
        guarded(self, ctx, |act, ctx| {
            if act.stopping {
                return;
            }
            if act.recent.len() == RECENT_SAMPLES {
                act.recent.pop_front();
            }
            act.recent
                .push_back((msg.sample.clone(), msg.judged.verdict));
            let bounds = act.bounds();
            let now = Instant::now().into_std();
            let actions = act.logic.on_verdict(msg.judged, bounds, now);
            act.perform(actions, ctx);
        });
    }
}

impl Handler<PrepareToStop> for ControllerActor {
    type Result = bool;

    fn handle(&mut self, _: PrepareToStop, _: &mut Context<Self>) -> bool {
        self.stopping = true;
        self.logic.is_busy()
    }
}

impl Handler<InjectPanic> for ControllerActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the controller"));
    }
}
