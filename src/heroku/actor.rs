//! The Heroku API client actor: makes the calls, and holds them back after errors.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use actix::prelude::*;
use actix_rt::time::Instant;
use slog::{error, warn};
use tokio::sync::oneshot;

use crate::actors::messages::{
    GetApp, GetDynos, GetFormation, GetFormations, InjectPanic, ScaleFormation, ScaleFormations,
};
use crate::heroku::{ApiError, ApiGate, AppInfo, DynoStates, Formation, HerokuClient};
use crate::settings::Settings;
use crate::supervision::{guarded, guarded_call, Link, Supervisable};

/// How long one API request may take before it counts as failed.
pub const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Speaks to the Platform API for one app and process type.
pub struct HerokuApiActor {
    settings: Arc<Settings>,
    link: Link,
    client: Option<HerokuClient>,
    gate: ApiGate,
    /// A PATCH is under way. A second one (from a restarted controller that lost track of the
    /// first) is not sent: it is answered [`ApiError::Busy`] once the first has ended, so at
    /// most one scale call is ever in flight.
    scaling: bool,
    /// The answers owed to scale requests waiting for the call in flight.
    waiting_for_scale: Vec<oneshot::Sender<()>>,
    /// A batch PATCH of the worker process types is under way: they are not the web's, so it
    /// may run beside the web's, but never beside another batch.
    batch_scaling: bool,
    timeout: std::time::Duration,
}

impl HerokuApiActor {
    /// An API actor for the app and process type in `settings`.
    pub fn new(settings: Arc<Settings>, link: Link) -> Self {
        HerokuApiActor {
            settings,
            link,
            client: None,
            gate: ApiGate::default(),
            scaling: false,
            waiting_for_scale: Vec::new(),
            batch_scaling: false,
            timeout: API_TIMEOUT,
        }
    }

    /// Gives up each request after `timeout` instead of [`API_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs one call unless the gate holds calls back; records the outcome in the gate.
    fn call<T, F>(
        &mut self,
        what: &'static str,
        request: impl FnOnce(HerokuClient) -> F,
    ) -> ResponseActFuture<Self, Result<T, ApiError>>
    where
        T: 'static,
        F: Future<Output = Result<T, ApiError>> + 'static,
    {
        let ready = |result| Box::pin(actix::fut::ready(result)) as ResponseActFuture<Self, _>;
        if let Err(deferred) = self.gate.check(Instant::now().into_std()) {
            return ready(Err(deferred));
        }
        let Some(client) = self.client.clone() else {
            return ready(Err(ApiError::Unavailable("not started".into())));
        };
        let answered = guarded_call(
            self,
            request(client),
            move |result, act, _| {
                act.gate.record(&result, Instant::now().into_std());
                if let Err(error) = &result {
                    act.log_failure(what, error);
                }
                result
            },
            || Err(ApiError::Unavailable("the API client panicked".into())),
        );
        Box::pin(answered)
    }

    fn log_failure(&self, what: &str, error: &ApiError) {
        let log = self.link.log();
        let advice = error.advice();
        let wait = self.gate.check(Instant::now().into_std()).err();
        let retry = match wait {
            Some(ApiError::Deferred { remaining, .. }) => {
                // Rounded up: "in 59 s" for a 60 s hold read as if the hold were shorter.
                let seconds = remaining.as_millis().div_ceil(1000).max(1);
                format!("next request in {seconds} s")
            }
            // The controller remembers the refusal and does not ask for it again.
            _ if matches!(error, ApiError::Unprocessable { .. }) => "other requests go on".into(),
            _ => "retrying at the next decision".into(),
        };
        match error {
            ApiError::Unauthorized { .. } | ApiError::NotFound { .. } => {
                error!(log, "heroku api {what} failed: {error}; {advice}; {retry}");
            }
            _ => warn!(log, "heroku api {what} failed: {error}; {advice}; {retry}"),
        }
    }
}

impl Actor for HerokuApiActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
        guarded(self, ctx, |act, _| {
            let settings = &act.settings;
            act.client = Some(HerokuClient::new(
                settings.heroku_api_url.0.clone(),
                settings.heroku_app_name.clone(),
                settings.process_type.clone(),
                settings.heroku_api_key.clone(),
                act.timeout,
            ));
        });
    }
}

impl Supervised for HerokuApiActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The gate survives: a restart must not become a way around a rate limit or a bad key.
        // A PATCH under way was dropped with the old context.
        self.client = None;
        self.scaling = false;
        self.batch_scaling = false;
        // The requests waiting for it went with the old context too (their senders see the
        // API actor unavailable, a failure like any other): their answers are owed no more.
        self.waiting_for_scale.clear();
        self.link.restarting();
    }
}

impl Supervisable for HerokuApiActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<GetApp> for HerokuApiActor {
    type Result = ResponseActFuture<Self, Result<AppInfo, ApiError>>;

    fn handle(&mut self, _: GetApp, _: &mut Context<Self>) -> Self::Result {
        self.call("get app", |client| async move { client.app().await })
    }
}

impl Handler<GetFormation> for HerokuApiActor {
    type Result = ResponseActFuture<Self, Result<Formation, ApiError>>;

    fn handle(&mut self, _: GetFormation, _: &mut Context<Self>) -> Self::Result {
        self.call(
            "get formation",
            |client| async move { client.formation().await },
        )
    }
}

impl Handler<GetDynos> for HerokuApiActor {
    type Result = ResponseActFuture<Self, Result<DynoStates, ApiError>>;

    fn handle(&mut self, _: GetDynos, _: &mut Context<Self>) -> Self::Result {
        self.call("list dynos", |client| async move { client.dynos().await })
    }
}

impl Handler<ScaleFormation> for HerokuApiActor {
    type Result = ResponseActFuture<Self, Result<Formation, ApiError>>;

    fn handle(&mut self, msg: ScaleFormation, _: &mut Context<Self>) -> Self::Result {
        if self.scaling {
            let (answer, call_ended) = oneshot::channel();
            self.waiting_for_scale.push(answer);
            let busy = async move {
                // An error here means the actor restarted, which also ends the call in flight.
                let _ = call_ended.await;
                Err(ApiError::Busy)
            };
            return Box::pin(busy.into_actor(self));
        }
        self.scaling = true;
        let call = self.call("scale formation", move |client| async move {
            client.scale(msg.quantity).await
        });
        Box::pin(call.map(|result, act, _| {
            act.scaling = false;
            for answer in act.waiting_for_scale.drain(..) {
                // A waiter that gave up (its controller restarted again) needs no answer.
                let _ = answer.send(());
            }
            result
        }))
    }
}

impl Handler<GetFormations> for HerokuApiActor {
    type Result = ResponseActFuture<Self, Result<BTreeMap<String, u32>, ApiError>>;

    fn handle(&mut self, _: GetFormations, _: &mut Context<Self>) -> Self::Result {
        self.call("list formations", |client| async move {
            client.formations().await
        })
    }
}

impl Handler<ScaleFormations> for HerokuApiActor {
    type Result = ResponseActFuture<Self, Result<BTreeMap<String, u32>, ApiError>>;

    fn handle(&mut self, msg: ScaleFormations, _: &mut Context<Self>) -> Self::Result {
        // Only a restarted workers actor that lost track of its batch asks again meanwhile: it
        // reads the counts and decides afresh.
        if self.batch_scaling {
            return Box::pin(actix::fut::ready(Err(ApiError::Busy)));
        }
        self.batch_scaling = true;
        let call = self.call("scale formations", move |client| async move {
            client.scale_batch(&msg.updates).await
        });
        Box::pin(call.map(|result, act, _| {
            act.batch_scaling = false;
            result
        }))
    }
}

impl Handler<InjectPanic> for HerokuApiActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| {
            panic!("injected panic in the Heroku API client")
        });
    }
}
