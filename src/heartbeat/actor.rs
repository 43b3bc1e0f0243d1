//! The heartbeat timer: probes the heartbeat URL at a fixed rate and hands each sample on; with
//! worker process types, it also reads the job-queue document at each beat.

use std::time::Duration;

use actix::prelude::*;
use slog::{debug, info, warn};
use url::Url;

use crate::actors::messages::{GetApp, InjectPanic, QueueRead, SampleTaken};
use crate::heartbeat::{probe, queue};
use crate::heroku::{ApiError, AppInfo};
use crate::secret::redacted;
use crate::settings::{HeartbeatUrl, QueueUrl};
use crate::supervision::{guarded, guarded_call, Link, Supervisable};

/// Probes the app every interval. A relative heartbeat URL is resolved against the app's
/// `web_url` (asked of the API actor) before the first probe.
pub struct HeartbeatActor {
    target: HeartbeatUrl,
    interval: Duration,
    deadline: Duration,
    judge: Recipient<SampleTaken>,
    api: Recipient<GetApp>,
    /// The queue document to read at each beat, and who takes the readings.
    queue: Option<(HeartbeatUrl, Recipient<QueueRead>)>,
    link: Link,
    state: State,
}

/// What a restart forgets.
#[derive(Default)]
struct State {
    client: Option<awc::Client>,
    url: Option<Url>,
    queue_url: Option<Url>,
    beats: u64,
    probing: bool,
    reading_queue: bool,
    resolving: bool,
}

impl HeartbeatActor {
    /// A heartbeat probing `target` every `interval`, judged slow at `deadline`.
    pub fn new(
        target: HeartbeatUrl,
        interval: Duration,
        deadline: Duration,
        judge: Recipient<SampleTaken>,
        api: Recipient<GetApp>,
        link: Link,
    ) -> Self {
        HeartbeatActor {
            target,
            interval,
            deadline,
            judge,
            api,
            queue: None,
            link,
            state: State::default(),
        }
    }

    /// Also reads the queue document at `url` at each beat and sends it to `readings`.
    pub fn with_queue(mut self, url: QueueUrl, readings: Recipient<QueueRead>) -> Self {
        self.queue = Some((url.url().clone(), readings));
        self
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.state.url.is_none() || self.queue_needs_web_url() {
            self.resolve(ctx);
        }
        if self.state.url.is_none() {
            // Waiting for the app's web_url; its answer probes at once.
            return;
        }
        if self.state.probing {
            // Cannot happen while the interval exceeds the deadline; kept as a guard.
            debug!(
                self.link.log(),
                "heartbeat skipped: the previous one is still running"
            );
        } else {
            self.beat(ctx);
        }
    }

    fn beat(&mut self, ctx: &mut Context<Self>) {
        let (Some(client), Some(url)) = (self.state.client.clone(), self.state.url.clone()) else {
            return;
        };
        self.state.probing = true;
        self.state.beats += 1;
        let beat = self.state.beats;
        let probe = probe::probe(client.clone(), url, self.deadline);
        let sampled = guarded_call(
            self,
            probe,
            move |sample, act, ctx| {
                act.state.probing = false;
                act.judge.do_send(SampleTaken { beat, sample });
                // After the probe, not beside it: on a busy dyno a queue request in flight
                // would slow the heartbeat the web's rule judges.
                act.read_queue(client, ctx);
            },
            || (),
        );
        ctx.spawn(sampled);
    }

    /// One reading of the queue document, unless the last is still under way.
    fn read_queue(&mut self, client: awc::Client, ctx: &mut Context<Self>) {
        let Some(url) = self.state.queue_url.clone() else {
            return;
        };
        if self.state.reading_queue {
            return;
        }
        self.state.reading_queue = true;
        // A reading must end before the next beat's begins.
        let read = queue::read(client, url, self.interval.mul_f64(0.9));
        let done = guarded_call(
            self,
            read,
            |body, act, _| {
                act.state.reading_queue = false;
                if let Some((_, readings)) = &act.queue {
                    readings.do_send(QueueRead { body });
                }
            },
            || (),
        );
        ctx.spawn(done);
    }

    fn queue_needs_web_url(&self) -> bool {
        matches!(self.queue, Some((HeartbeatUrl::Path(_), _))) && self.state.queue_url.is_none()
    }

    /// Takes absolute URLs as they are; a path waits for the app's `web_url`, asked of the API
    /// once at a time.
    fn resolve(&mut self, ctx: &mut Context<Self>) {
        if self.state.resolving {
            return;
        }
        if let (HeartbeatUrl::Absolute(url), None) = (&self.target, &self.state.url) {
            info!(self.link.log(), "heartbeat url={}", redacted(url));
            self.state.url = Some(url.0.clone());
        }
        if let (Some((HeartbeatUrl::Absolute(url), _)), None) = (&self.queue, &self.state.queue_url)
        {
            info!(self.link.log(), "queue url={}", QueueUrl::masked(&url.0));
            self.state.queue_url = Some(url.0.clone());
        }
        // What the app's web_url is wanted for: the heartbeat's path, or else the queue's,
        // which is a secret.
        let what = match &self.target {
            HeartbeatUrl::Path(path) if self.state.url.is_none() => {
                (format!("heartbeat path {path}"), "AUTOSCALE_HEARTBEAT_URL")
            }
            _ if self.queue_needs_web_url() => {
                ("the queue path".to_string(), "AUTOSCALE_QUEUE_URL")
            }
            _ => return,
        };
        self.state.resolving = true;
        let ask = self.api.send(GetApp);
        let resolved = guarded_call(
            self,
            ask,
            move |answer, act, ctx| {
                act.state.resolving = false;
                act.use_web_url(&what, answer, ctx);
            },
            || (),
        );
        ctx.spawn(resolved);
    }

    /// Builds the heartbeat URL (and the queue's, when it is a path) from the app's `web_url`
    /// (or says why it cannot), then probes.
    fn use_web_url(
        &mut self,
        (what, setting): &(String, &str),
        answer: Result<Result<AppInfo, ApiError>, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let log = self.link.log();
        let web_url = match answer {
            Ok(Ok(app)) => app.web_url,
            Ok(Err(error)) if error.is_deferred() => {
                debug!(log, "{what} not resolved yet: {error}");
                return;
            }
            Ok(Err(error)) => {
                warn!(
                    log,
                    "cannot resolve {what}: {error}; {}; trying again at the next heartbeat",
                    error.advice()
                );
                return;
            }
            Err(error) => {
                warn!(log, "cannot resolve {what}: {error}");
                return;
            }
        };
        let Some(web_url) = web_url else {
            warn!(
                log,
                "cannot resolve {what}: the app has no web_url; set {setting} to an absolute URL"
            );
            return;
        };
        if let Some((HeartbeatUrl::Path(queue_path), _)) = &self.queue {
            match web_url.join(queue_path) {
                Ok(url) => {
                    info!(
                        log,
                        "queue url={} (from the app's web_url)",
                        QueueUrl::masked(&url)
                    );
                    self.state.queue_url = Some(url);
                }
                Err(error) => warn!(
                    log,
                    "cannot join the queue path to web_url {}: {error}",
                    redacted(&web_url)
                ),
            }
        }
        if self.state.url.is_some() {
            return;
        }
        let HeartbeatUrl::Path(path) = self.target.clone() else {
            return;
        };
        match HeartbeatUrl::Path(path.clone()).resolve(&web_url) {
            Ok(url) => {
                info!(
                    log,
                    "heartbeat url={} (from the app's web_url)",
                    redacted(&url)
                );
                self.state.url = Some(url);
                self.beat(ctx);
            }
            Err(error) => warn!(
                log,
                "cannot join heartbeat path {path} to web_url {}: {error}",
                redacted(&web_url)
            ),
        }
    }
}

impl Actor for HeartbeatActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
        guarded(self, ctx, |act, ctx| {
            act.state.client = Some(probe::client());
            // The first heartbeat goes out at once; then one every interval, at a fixed rate
            // (a probe's own duration never shifts the schedule).
            act.tick(ctx);
            ctx.run_interval(act.interval, |act, ctx| {
                guarded(act, ctx, HeartbeatActor::tick);
            });
        });
    }
}

impl Supervised for HeartbeatActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.state = State::default();
        self.link.restarting();
    }
}

impl Supervisable for HeartbeatActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<InjectPanic> for HeartbeatActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the heartbeat"));
    }
}
