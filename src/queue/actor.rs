//! The workers actor: a thin shell that carries out [`Workers`]' actions for the worker process
//! types scaled from the job queue.

use crate::l2met::{queue_line, QueueValue, ScaleCounts};
use crate::settings::processes::QueueMeasure;
use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use slog::{debug, info, warn};

use super::document;
use super::workers::{Change, Workers, WorkersAction};
use crate::actors::messages::{
    GetFormations, InjectPanic, PrepareToStop, QueueRead, ScaleFormations, SendNotice,
};
use crate::actors::{answered as flatten, monotonic_now as now, ApiRecipients, WallClock};
use crate::control::CallInFlight;
use crate::heroku::ApiError;
use crate::notify::{Notice, NoticeContext};
use crate::settings::schedule::TimeOfDay;
use crate::settings::Settings;
use crate::supervision::{guarded, guarded_call, Link, Supervisable};

/// Scales the worker process types from the queue readings the heartbeat sends.
pub struct WorkersActor {
    logic: Workers,
    settings: Arc<Settings>,
    clock: WallClock,
    api: ApiRecipients,
    notifier: Recipient<SendNotice>,
    link: Link,
    dry_run: bool,
    stopping: bool,
    announced: bool,
    /// Scale calls per process type since its last metrics line.
    scales: BTreeMap<String, ScaleCounts>,
}

impl WorkersActor {
    /// An actor for `settings.processes`, with their rules in `logic`, scaling through `api`.
    pub fn new(
        logic: Workers,
        settings: Arc<Settings>,
        clock: WallClock,
        api: ApiRecipients,
        notifier: Recipient<SendNotice>,
        link: Link,
    ) -> Self {
        WorkersActor {
            logic,
            settings,
            clock,
            api,
            notifier,
            link,
            dry_run: false,
            stopping: false,
            announced: false,
            scales: BTreeMap::new(),
        }
    }

    /// With `true`, batches are logged (`would scale ...`) and not sent, as for web.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    fn time(&self) -> TimeOfDay {
        TimeOfDay::at((self.clock)(), self.settings.time_zone)
    }

    fn perform(&mut self, actions: Vec<WorkersAction>, ctx: &mut Context<Self>) {
        let log = self.link.log().clone();
        for action in actions {
            match action {
                WorkersAction::ReadFormations => self.read(ctx),
                WorkersAction::Scale(changes) => self.scale(changes, ctx),
                WorkersAction::Notify(notice) => self.notify(notice),
                WorkersAction::ReadingFailed { processes, why } => warn!(
                    log,
                    "queue reading failed for {}: {why}; their dyno counts hold until it works \
                     (AUTOSCALE_QUEUE_URL={})",
                    processes.join(", "),
                    self.queue_url()
                ),
                WorkersAction::ReadingRecovered { process, failures } => info!(
                    log,
                    "queue reading works again for {process} after {failures} failed readings"
                ),
                WorkersAction::UnknownNames(names) => warn!(
                    log,
                    "the queue document names process types that are not configured: {} \
                     (ignored; add them to AUTOSCALE_PROCESSES to scale them)",
                    listed(&names)
                ),
                WorkersAction::NotInFormation(process) => warn!(
                    log,
                    "process type {process} is not in the app's formation: it is not scaled \
                     (check AUTOSCALE_PROCESSES against `heroku ps`)"
                ),
            }
        }
    }

    fn queue_url(&self) -> String {
        self.settings
            .queue_url
            .as_ref()
            .map_or_else(|| "(none)".into(), ToString::to_string)
    }

    fn read(&mut self, ctx: &mut Context<Self>) {
        let request = self.api.get_formations.send(GetFormations);
        let answered = guarded_call(
            self,
            request,
            |answer, act, ctx| {
                let counts = flatten(answer);
                match &counts {
                    Ok(counts) => act.announce(counts),
                    Err(error) => debug!(act.link.log(), "worker formations unknown: {error}"),
                }
                let actions = act.logic.on_formations(counts, act.time(), now());
                act.perform(actions, ctx);
            },
            || (),
        );
        ctx.spawn(answered);
    }

    fn scale(&mut self, changes: Vec<Change>, ctx: &mut Context<Self>) {
        let log = self.link.log();
        if self.stopping {
            info!(log, "not scaling worker process types: stopping");
            let error = ApiError::Unavailable("the worker is stopping".into());
            let actions = self.logic.on_scaled(Err(error), now());
            return self.perform(actions, ctx);
        }
        if self.dry_run {
            for change in &changes {
                info!(
                    log,
                    "would scale {} from={} to={} reason={} (dry run: no scale call sent)",
                    change.process,
                    change.from,
                    change.to,
                    change.reason
                );
            }
            let counts = changes.iter().map(|c| (c.process.clone(), c.to)).collect();
            let actions = self.logic.on_scaled(Ok(counts), now());
            return self.perform(actions, ctx);
        }
        let updates = changes.iter().map(|c| (c.process.clone(), c.to)).collect();
        let request = self.api.scale_batch.send(ScaleFormations { updates });
        let answered = guarded_call(
            self,
            request,
            move |answer, act, ctx| {
                let outcome = flatten(answer);
                act.log_scale(&changes, &outcome);
                let actions = act.logic.on_scaled(outcome, now());
                act.perform(actions, ctx);
            },
            || (),
        );
        ctx.spawn(answered);
    }

    fn log_scale(&mut self, changes: &[Change], outcome: &Result<BTreeMap<String, u32>, ApiError>) {
        if let Ok(counts) = outcome {
            for change in changes {
                if let Some(&now) = counts.get(&change.process) {
                    let scales = self.scales.entry(change.process.clone()).or_default();
                    scales.record(change.from, now);
                }
            }
        }
        let log = self.link.log();
        for Change {
            process,
            from,
            to,
            reason,
        } in changes
        {
            match outcome {
                Ok(counts) if counts.get(process) == Some(to) => {
                    info!(log, "scaled {process} from={from} to={to} reason={reason}")
                }
                Ok(counts) => warn!(
                    log,
                    "scale {process} from={from} to={to} reason={reason}: Heroku reports \
                     quantity={} instead",
                    counts
                        .get(process)
                        .map_or_else(|| "none".to_string(), u32::to_string)
                ),
                Err(error) => warn!(
                    log,
                    "scale {process} from={from} to={to} reason={reason} failed: {error}"
                ),
            }
        }
    }

    /// One l2met line per process type for a reading (`AUTOSCALE_LOG_METRICS`), with the
    /// scale calls since its line before.
    fn log_metrics(&mut self, values: Option<&BTreeMap<String, f64>>) {
        if !self.settings.log_metrics {
            return;
        }
        for process in &self.settings.processes {
            let value = values.and_then(|values| values.get(&process.name)).copied();
            let reading = value.map(|value| match process.measure {
                QueueMeasure::Size { .. } => QueueValue::Jobs(value),
                QueueMeasure::Latency { .. } => QueueValue::LatencySeconds(value),
            });
            let line = queue_line(
                &self.settings.heroku_app_name,
                &process.name,
                reading,
                self.logic.count(&process.name),
                self.scales.remove(&process.name).unwrap_or_default(),
            );
            info!(self.link.metrics_log(), "{line}");
        }
    }

    fn notify(&self, notice: Notice) {
        let (quantity, bounds) = match &notice {
            Notice::QueueNeedsAboveMax {
                quantity, bounds, ..
            } => (Some(*quantity), *bounds),
            _ => (None, self.settings.bounds_at((self.clock)())),
        };
        let context = NoticeContext {
            quantity,
            bounds,
            at: (self.clock)(),
            recent: Vec::new(),
            dry_run: self.dry_run,
        };
        self.notifier.do_send(SendNotice { notice, context });
    }

    /// One info line when the counts are first known, so the log shows what is watched.
    fn announce(&mut self, counts: &BTreeMap<String, u32>) {
        if self.announced {
            return;
        }
        self.announced = true;
        let watched: Vec<String> = self
            .settings
            .processes
            .iter()
            .map(|process| {
                let count = counts
                    .get(&process.name)
                    .map_or_else(|| "missing".to_string(), u32::to_string);
                format!("{} quantity={count} ({process})", process.name)
            })
            .collect();
        info!(
            self.link.log(),
            "watching queue {} for {}",
            self.queue_url(),
            watched.join("; ")
        );
    }
}

/// At most ten names, and how many more: a document may name hundreds.
fn listed(names: &[String]) -> String {
    const MOST: usize = 10;
    let shown = names[..names.len().min(MOST)].join(", ");
    match names.len().saturating_sub(MOST) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

impl Actor for WorkersActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
        guarded(self, ctx, |act, ctx| {
            let actions = act.logic.start();
            act.perform(actions, ctx);
        });
    }
}

impl Supervised for WorkersActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // `started` runs next and reads the counts afresh.
        self.logic = self.logic.restarted();
        self.link.restarting();
    }
}

impl Supervisable for WorkersActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<QueueRead> for WorkersActor {
    type Result = ();

    fn handle(&mut self, msg: QueueRead, ctx: &mut Context<Self>) {
        guarded(self, ctx, |act, ctx| {
            if act.stopping {
                return;
            }
            let reading = msg.body.and_then(|body| document::parse(&body));
            if let Ok(document) = &reading {
                debug!(
                    act.link.log(),
                    "queue {}",
                    document
                        .values
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            // Kept past the reading only for the metrics line.
            let values = reading
                .as_ref()
                .ok()
                .filter(|_| act.settings.log_metrics)
                .map(|document| document.values.clone());
            let actions = act.logic.on_reading(reading, act.time(), now());
            act.log_metrics(values.as_ref());
            act.perform(actions, ctx);
        });
    }
}

impl Handler<PrepareToStop> for WorkersActor {
    type Result = Option<CallInFlight>;

    fn handle(&mut self, _: PrepareToStop, ctx: &mut Context<Self>) -> Option<CallInFlight> {
        guarded(self, ctx, |act, _| {
            act.stopping = true;
            act.logic.scaling().then_some(CallInFlight::Scale)
        })
        .flatten()
    }
}

impl Handler<InjectPanic> for WorkersActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the workers"));
    }
}
