//! The actors and how they are wired together under the supervisor (DESIGN §1, §5).

pub mod messages;

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use slog::Logger;

pub use crate::control::actor::ControllerActor;
pub use crate::heartbeat::actor::HeartbeatActor;
pub use crate::heroku::actor::HerokuApiActor;
pub use crate::heroku::local::LocalFormationActor;
pub use crate::judge::actor::JudgeActor;
pub use crate::notify::actor::{NotifierActor, EMAIL_RETRY, SMTP_TIMEOUT};
pub use crate::queue::actor::WorkersActor;
use crate::queue::workers::Workers;

use crate::backoff::Backoff;
use crate::control::ControllerConfig;
use crate::judge::Limits;
use crate::settings::Settings;
use crate::supervision::fault_injection;
use crate::supervision::{Link, SupervisionPolicy, SupervisorActor, Watch};
use messages::{GetApp, GetDynos, GetFormation, GetFormations, ScaleFormation, ScaleFormations};

/// The wall clock the schedules are read against (tests substitute their own).
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Where the controller and the heartbeat send their API requests: the real [`HerokuApiActor`],
/// or any actor that answers the same messages (a mock in tests).
#[derive(Clone)]
pub struct ApiRecipients {
    /// Answers [`GetApp`].
    pub get_app: Recipient<GetApp>,
    /// Answers [`GetFormation`].
    pub get_formation: Recipient<GetFormation>,
    /// Answers [`GetDynos`].
    pub get_dynos: Recipient<GetDynos>,
    /// Answers [`ScaleFormation`].
    pub scale: Recipient<ScaleFormation>,
    /// Answers [`GetFormations`].
    pub get_formations: Recipient<GetFormations>,
    /// Answers [`ScaleFormations`].
    pub scale_batch: Recipient<ScaleFormations>,
}

impl ApiRecipients {
    /// The recipients of one actor that handles every request.
    pub fn of<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<GetApp>
            + Handler<GetFormation>
            + Handler<GetDynos>
            + Handler<ScaleFormation>
            + Handler<GetFormations>
            + Handler<ScaleFormations>,
    {
        ApiRecipients {
            get_app: addr.clone().recipient(),
            get_formation: addr.clone().recipient(),
            get_dynos: addr.clone().recipient(),
            scale: addr.clone().recipient(),
            get_formations: addr.clone().recipient(),
            scale_batch: addr.clone().recipient(),
        }
    }
}

/// The monotonic now, from actix's clock so that paused-time tests drive it.
pub(crate) fn monotonic_now() -> std::time::Instant {
    actix_rt::time::Instant::now().into_std()
}

/// An API actor's answer: a mailbox error (the API actor was restarting) is one more way for a
/// call to fail.
pub(crate) fn answered<T>(
    answer: Result<Result<T, crate::heroku::ApiError>, MailboxError>,
) -> Result<T, crate::heroku::ApiError> {
    answer.unwrap_or_else(|error| Err(crate::heroku::ApiError::Unavailable(error.to_string())))
}

/// Which API the worker scales through.
#[derive(Clone)]
pub enum ApiBackend {
    /// The real [`HerokuApiActor`] (production).
    Heroku,
    /// An in-memory formation starting at this many dynos ([`LocalFormationActor`]; `run
    /// --local-formation N`).
    Local(u32),
    /// Any actor that answers the API messages (a mock in tests).
    Custom(ApiRecipients),
}

/// Everything needed to start the actors, beyond the settings.
#[derive(Clone)]
pub struct Wiring {
    /// Where the actors log.
    pub log: Logger,
    /// Restart pacing and limit.
    pub policy: SupervisionPolicy,
    /// Which API the controller and the heartbeat talk to.
    pub api: ApiBackend,
    /// Decide but never send a scale call: log `would scale ...` (`run --dry-run`).
    pub dry_run: bool,
    /// The clock schedules are read against.
    pub clock: WallClock,
    /// How failed emails are retried.
    pub email_retry: Backoff,
    /// How long one SMTP exchange may take.
    pub smtp_timeout: std::time::Duration,
    /// How long one Heroku API request may take.
    pub api_timeout: std::time::Duration,
    /// Actors made to panic at a fixed period (a test hook; empty in production).
    pub injected_panics: Vec<fault_injection::PanicSchedule>,
}

impl Wiring {
    /// The production wiring: real API actor, system clock, default supervision.
    pub fn new(log: Logger) -> Self {
        Wiring {
            log,
            policy: SupervisionPolicy::default(),
            api: ApiBackend::Heroku,
            dry_run: false,
            clock: Arc::new(Utc::now),
            email_retry: EMAIL_RETRY,
            smtp_timeout: SMTP_TIMEOUT,
            api_timeout: crate::heroku::API_TIMEOUT,
            injected_panics: Vec::new(),
        }
    }
}

/// The addresses of a running worker's actors.
#[derive(Clone)]
pub struct Actors {
    /// Counts restarts and ends the process past the limit.
    pub supervisor: Addr<SupervisorActor>,
    /// The heartbeat timer.
    pub heartbeat: Addr<HeartbeatActor>,
    /// The response-time judge.
    pub judge: Addr<JudgeActor>,
    /// The scaling controller.
    pub controller: Addr<ControllerActor>,
    /// The Heroku API actor, unless another was wired in.
    pub heroku_api: Option<Addr<HerokuApiActor>>,
    /// The in-memory formation of `run --local-formation N`, if that is the API.
    pub local_formation: Option<Addr<LocalFormationActor>>,
    /// The notifier.
    pub notifier: Addr<NotifierActor>,
    /// The worker process types' controller, when the queue has any to scale.
    pub workers: Option<Addr<WorkersActor>>,
}

/// Starts every actor on the current arbiter. Must be called inside a running actix system.
pub fn start(settings: Arc<Settings>, wiring: Wiring) -> Actors {
    let log = wiring.log.clone();
    let policy = wiring.policy;
    let supervisor = SupervisorActor::new(&log, policy)
        .with_liveness_period(settings.heartbeat_interval)
        .start();
    let link = |name: &'static str| Link::new(name, &log, supervisor.clone().recipient(), policy);

    let notifier = actix::Supervisor::start({
        let link = link("notifier");
        let settings = settings.clone();
        let retry = wiring.email_retry;
        let timeout = wiring.smtp_timeout;
        move |_| NotifierActor::new(settings, retry, link).with_timeout(timeout)
    });
    let mut heroku_api = None;
    let mut local_formation = None;
    let api = match &wiring.api {
        ApiBackend::Custom(api) => api.clone(),
        ApiBackend::Local(quantity) => {
            let addr = actix::Supervisor::start({
                let link = link("local_formation");
                let (app, process, quantity) = (
                    settings.heroku_app_name.clone(),
                    settings.process_type.clone(),
                    *quantity,
                );
                let others: Vec<String> =
                    settings.processes.iter().map(|p| p.name.clone()).collect();
                move |_| LocalFormationActor::new(app, process, quantity, &others, link)
            });
            local_formation = Some(addr.clone());
            ApiRecipients::of(&addr)
        }
        ApiBackend::Heroku => {
            let addr = actix::Supervisor::start({
                let link = link("heroku_api");
                let settings = settings.clone();
                let timeout = wiring.api_timeout;
                move |_| HerokuApiActor::new(settings, link).with_timeout(timeout)
            });
            heroku_api = Some(addr.clone());
            ApiRecipients::of(&addr)
        }
    };

    let limits = Limits::of(&settings);
    let config = ControllerConfig::of(&settings, wiring.dry_run);
    // Data flows one way, so each actor is started before the one that sends to it.
    let controller = actix::Supervisor::start({
        let link = link("controller");
        let settings = settings.clone();
        let clock = wiring.clock.clone();
        let dry_run = wiring.dry_run;
        let api = api.clone();
        let notifier = notifier.clone().recipient();
        move |_| {
            ControllerActor::new(settings, config, clock, api, notifier, link).with_dry_run(dry_run)
        }
    });
    let judge = actix::Supervisor::start({
        let link = link("judge");
        let verdicts = controller.clone().recipient();
        move |_| JudgeActor::new(limits, verdicts, link)
    });
    // Worker process types, when the queue has any to scale.
    let workers = settings
        .queue_url
        .is_some()
        .then_some(())
        .filter(|()| !settings.processes.is_empty())
        .map(|()| {
            actix::Supervisor::start({
                let link = link("workers");
                let settings = settings.clone();
                let clock = wiring.clock.clone();
                let api = api.clone();
                let notifier = notifier.clone().recipient();
                let dry_run = wiring.dry_run;
                move |_| {
                    let logic = Workers::of(&settings, &settings.processes);
                    WorkersActor::new(logic, settings, clock, api, notifier, link)
                        .with_dry_run(dry_run)
                }
            })
        });
    let heartbeat = actix::Supervisor::start({
        let link = link("heartbeat");
        let settings = settings.clone();
        let samples = judge.clone().recipient();
        let get_app = api.get_app.clone();
        let readings = workers.clone().map(Addr::recipient);
        move |_| {
            let heartbeat = HeartbeatActor::new(
                settings.heartbeat_url.clone(),
                settings.heartbeat_interval,
                settings.max_response_time,
                samples,
                get_app,
                link,
            );
            match (&settings.queue_url, &readings) {
                (Some(url), Some(readings)) => heartbeat.with_queue(url.clone(), readings.clone()),
                _ => heartbeat,
            }
        }
    });

    watch(&supervisor, "heartbeat", &heartbeat);
    watch(&supervisor, "judge", &judge);
    watch(&supervisor, "controller", &controller);
    watch(&supervisor, "notifier", &notifier);
    if let Some(api) = &heroku_api {
        watch(&supervisor, "heroku_api", api);
    }
    if let Some(formation) = &local_formation {
        watch(&supervisor, "local_formation", formation);
    }
    if let Some(workers) = &workers {
        watch(&supervisor, "workers", workers);
    }

    let actors = Actors {
        supervisor,
        heartbeat,
        judge,
        controller,
        heroku_api,
        local_formation,
        notifier,
        workers,
    };
    fault_injection::inject_panics(&actors, &wiring.injected_panics, &log);
    actors
}

fn watch<A: Actor>(supervisor: &Addr<SupervisorActor>, actor: &'static str, addr: &Addr<A>) {
    let addr = addr.clone();
    supervisor.do_send(Watch {
        actor,
        alive: Box::new(move || addr.connected()),
    });
}
