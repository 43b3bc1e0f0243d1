//! The heartbeat timer: probes the heartbeat URL at a fixed rate and hands each sample on.

use std::time::Duration;

use actix::prelude::*;
use slog::{debug, info, warn};
use url::Url;

use crate::actors::messages::{GetApp, InjectPanic, SampleTaken};
use crate::heartbeat::probe;
use crate::heroku::{ApiError, AppInfo};
use crate::secret::redacted;
use crate::settings::HeartbeatUrl;
use crate::supervision::{guarded, guarded_call, Link, Supervisable};

/// Probes the app every interval. A relative heartbeat URL is resolved against the app's
/// `web_url` (asked of the API actor) before the first probe.
pub struct HeartbeatActor {
    target: HeartbeatUrl,
    interval: Duration,
    deadline: Duration,
    judge: Recipient<SampleTaken>,
    api: Recipient<GetApp>,
    link: Link,
    state: State,
}

/// What a restart forgets.
#[derive(Default)]
struct State {
    client: Option<awc::Client>,
    url: Option<Url>,
    beats: u64,
    probing: bool,
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
            link,
            state: State::default(),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.state.url.is_none() {
            self.resolve(ctx);
        } else if self.state.probing {
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
        let probe = probe::probe(client, url, self.deadline);
        let sampled = guarded_call(
            self,
            probe,
            move |sample, act, _| {
                act.state.probing = false;
                act.judge.do_send(SampleTaken { beat, sample });
            },
            || (),
        );
        ctx.spawn(sampled);
    }

    /// Turns a path into a URL with the app's `web_url`, then probes at once.
    fn resolve(&mut self, ctx: &mut Context<Self>) {
        if self.state.resolving {
            return;
        }
        let path = match &self.target {
            HeartbeatUrl::Absolute(url) => {
                self.state.url = Some(url.0.clone());
                info!(self.link.log(), "heartbeat url={}", redacted(url));
                return self.beat(ctx);
            }
            HeartbeatUrl::Path(path) => path.clone(),
        };
        self.state.resolving = true;
        let ask = self.api.send(GetApp);
        let resolved = guarded_call(
            self,
            ask,
            move |answer, act, ctx| {
                act.state.resolving = false;
                act.use_web_url(&path, answer, ctx);
            },
            || (),
        );
        ctx.spawn(resolved);
    }

    /// Builds the heartbeat URL from the app's `web_url` (or says why it cannot), then probes.
    fn use_web_url(
        &mut self,
        path: &str,
        answer: Result<Result<AppInfo, ApiError>, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let log = self.link.log();
        let web_url = match answer {
            Ok(Ok(app)) => app.web_url,
            Ok(Err(error)) if error.is_deferred() => {
                debug!(log, "heartbeat path {path} not resolved yet: {error}");
                return;
            }
            Ok(Err(error)) => {
                warn!(
                    log,
                    "cannot resolve heartbeat path {path}: {error}; {}; trying again at the next \
                     heartbeat",
                    error.advice()
                );
                return;
            }
            Err(error) => {
                warn!(log, "cannot resolve heartbeat path {path}: {error}");
                return;
            }
        };
        let Some(web_url) = web_url else {
            warn!(
                log,
                "cannot resolve heartbeat path {path}: the app has no web_url; set \
                 AUTOSCALE_HEARTBEAT_URL to an absolute URL"
            );
            return;
        };
        match HeartbeatUrl::Path(path.to_string()).resolve(&web_url) {
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
