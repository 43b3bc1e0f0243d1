//! The scaling controller actor: a thin shell that carries out [`Controller`]'s actions.

use crate::l2met::{heartbeat_line, ScaleCounts};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use actix::prelude::*;
use slog::{debug, info, warn};

use super::boot::Ended;
use super::{Action, BootEnd, Bounds, CallInFlight, Controller, ControllerConfig, ScaleReason};
use crate::actors::messages::{
    GetDynos, GetFormation, InjectPanic, PrepareToStop, ScaleFormation, SendNotice, VerdictReached,
};
use crate::actors::{answered as flatten, monotonic_now as now, ApiRecipients, WallClock};
use crate::heroku::{ApiError, Formation};
use crate::judge::{ProbeOutcome, Sample, Verdict};
use crate::notify::NoticeContext;
use crate::settings::Settings;
use crate::supervision::{guarded, guarded_call, Link, Supervisable};

/// Decides from verdicts and scales through the API actor.
pub struct ControllerActor {
    logic: Controller,
    settings: Arc<Settings>,
    clock: WallClock,
    api: ApiRecipients,
    notifier: Recipient<SendNotice>,
    link: Link,
    announced: bool,
    /// The latest heartbeats, for the notices.
    recent: VecDeque<(Sample, Verdict)>,
    /// Log scale decisions instead of carrying them out.
    dry_run: bool,
    /// The worker is stopping: verdicts are no longer acted on.
    stopping: bool,
    /// Scale calls made since the last metrics line.
    scales: ScaleCounts,
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
        notifier: Recipient<SendNotice>,
        link: Link,
    ) -> Self {
        ControllerActor {
            logic: Controller::new(config),
            settings,
            clock,
            api,
            notifier,
            link,
            announced: false,
            recent: VecDeque::with_capacity(RECENT_SAMPLES),
            dry_run: false,
            stopping: false,
            scales: ScaleCounts::default(),
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
                Action::ReadDynos => self.read_dynos(ctx),
                Action::BootEnded(end) => self.log_boot(end),
                Action::Scale { from, to, reason } => self.scale(from, to, reason, ctx),
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
        let request = self.api.get_formation.send(GetFormation);
        let answered = guarded_call(
            self,
            request,
            |answer, act, ctx| {
                let bounds = act.bounds();
                let quantity = match flatten(answer) {
                    Ok(formation) => {
                        act.announce(&formation, bounds);
                        Ok(formation.quantity)
                    }
                    Err(error) => {
                        // The API actor has logged the failure itself; this says what it costs.
                        debug!(act.link.log(), "formation unknown: {error}");
                        Err(error)
                    }
                };
                let actions = act.logic.on_formation(quantity, bounds, now());
                act.perform(actions, ctx);
            },
            || (),
        );
        ctx.spawn(answered);
    }

    fn read_dynos(&mut self, ctx: &mut Context<Self>) {
        let request = self.api.get_dynos.send(GetDynos);
        let answered = guarded_call(
            self,
            request,
            |answer, act, ctx| {
                let actions = act.logic.on_dynos(flatten(answer), now());
                act.perform(actions, ctx);
            },
            || (),
        );
        ctx.spawn(answered);
    }

    fn log_boot(&self, end: BootEnd) {
        let process = &self.settings.process_type;
        let log = self.link.log();
        let (to, after) = (end.to, end.waited.as_secs());
        match end.how {
            Ended::Serving => info!(
                log,
                "dynos serving {process} quantity={to} after_s={after}; counting heartbeats again"
            ),
            Ended::Crashed(crashed) => warn!(
                log,
                "dyno crashed {process} crashed={crashed} of quantity={to} after_s={after}; \
                 counting heartbeats again (heroku logs shows why it crashed)"
            ),
            Ended::TimedOut(up) => {
                let up = up.map_or_else(|| "unknown".to_string(), |up| up.to_string());
                warn!(
                    log,
                    "boot timeout {process} up={up} of quantity={to} after_s={after}; counting \
                     heartbeats again (AUTOSCALE_BOOT_TIMEOUT_IN_SECONDS)"
                )
            }
        }
    }

    fn scale(&mut self, from: u32, to: u32, reason: ScaleReason, ctx: &mut Context<Self>) {
        let process = &self.settings.process_type;
        // A read that was in flight when the stop began can still end in a decision to scale;
        // a stop must not start a call it may not see answered.
        if self.stopping {
            info!(
                self.link.log(),
                "not scaling {process} from={from} to={to} reason={reason}: stopping"
            );
            return self.logic.abandon_scale();
        }
        if self.dry_run {
            info!(
                self.link.log(),
                "would scale {process} from={from} to={to} reason={reason} (dry run: no scale \
                 call sent)"
            );
            let actions = self.logic.on_scaled(Ok(to), now());
            return self.perform(actions, ctx);
        }
        let request = self.api.scale.send(ScaleFormation { quantity: to });
        let answered = guarded_call(
            self,
            request,
            move |answer, act, ctx| {
                let outcome = flatten(answer).map(|formation| formation.quantity);
                act.log_scale(from, to, reason, &outcome);
                // Busy asks for a fresh read, which a stop must not start.
                if act.stopping && outcome == Err(ApiError::Busy) {
                    return act.logic.abandon_scale();
                }
                let actions = act.logic.on_scaled(outcome, now());
                act.perform(actions, ctx);
            },
            || (),
        );
        ctx.spawn(answered);
    }

    fn log_scale(
        &mut self,
        from: u32,
        to: u32,
        reason: ScaleReason,
        outcome: &Result<u32, ApiError>,
    ) {
        if let Ok(quantity) = outcome {
            self.scales.record(from, *quantity);
        }
        let process = &self.settings.process_type;
        let log = self.link.log();
        match outcome {
            Ok(quantity) if *quantity == to => {
                info!(log, "scaled {process} from={from} to={to} reason={reason}")
            }
            // What was asked and what Heroku reports, in one line: the report is the truth the
            // next decision starts from.
            Ok(quantity) => warn!(
                log,
                "scale {process} from={from} to={to} reason={reason}: Heroku reports \
                 quantity={quantity} instead"
            ),
            Err(ApiError::Busy) => info!(
                log,
                "scale {process} from={from} to={to} reason={reason} waited for a scale call \
                 from before a restart; reading the formation to decide again"
            ),
            // The API actor's own line gives the advice.
            Err(error) => warn!(
                log,
                "scale {process} from={from} to={to} reason={reason} failed: {error}"
            ),
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

    /// The heartbeat's l2met line (`AUTOSCALE_LOG_METRICS`), with the scale calls since the
    /// line before.
    fn log_metrics(&mut self, msg: &VerdictReached) {
        if !self.settings.log_metrics {
            return;
        }
        let line = heartbeat_line(
            &self.settings.heroku_app_name,
            &self.settings.process_type,
            msg.sample.latency.as_secs_f64() * 1000.0,
            &msg.verdict.to_string(),
            self.logic.quantity(),
            std::mem::take(&mut self.scales),
        );
        info!(self.link.metrics_log(), "{line}");
    }

    /// One debug line per heartbeat, with the streaks it leaves.
    fn log_heartbeat(&self, msg: &VerdictReached) {
        let streaks = self.logic.streaks();
        debug!(
            self.link.log(),
            "heartbeat beat={} latency_ms={} {} verdict={} slow_streak={} fast_streak={}",
            msg.beat,
            msg.sample.latency.as_millis(),
            OutcomeField(&msg.sample.outcome),
            msg.verdict,
            streaks.slow,
            streaks.fast
        );
    }
}

/// A probe's outcome as the heartbeat line shows it. Formatted only when the line is written,
/// so a beat at the info level costs no string.
struct OutcomeField<'a>(&'a ProbeOutcome);

impl fmt::Display for OutcomeField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ProbeOutcome::Status(status) => write!(f, "status={status}"),
            ProbeOutcome::TimedOut => f.write_str("status=timeout"),
            ProbeOutcome::Failed(error) => write!(f, "status=error error=\"{error}\""),
        }
    }
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
    fn restarting(&mut self, _: &mut Context<Self>) {
        // `started` runs next and reads the formation afresh.
        self.logic.restart();
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
            act.recent.push_back((msg.sample.clone(), msg.verdict));
            let actions = act.logic.on_verdict(msg.verdict, act.bounds(), now());
            act.log_heartbeat(&msg);
            act.log_metrics(&msg);
            act.perform(actions, ctx);
        });
    }
}

impl Handler<PrepareToStop> for ControllerActor {
    type Result = Option<CallInFlight>;

    fn handle(&mut self, _: PrepareToStop, ctx: &mut Context<Self>) -> Option<CallInFlight> {
        // After a panic here the actor restarts; nothing of ours is in flight then.
        guarded(self, ctx, |act, _| {
            act.stopping = true;
            act.logic.call_in_flight()
        })
        .flatten()
    }
}

impl Handler<InjectPanic> for ControllerActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the controller"));
    }
}
