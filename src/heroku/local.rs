//! A stand-in for the Heroku API actor that keeps the formation in memory (`run
//! --local-formation N`): the worker probes a real app and decides for real, and its scale calls
//! change only this count. Nothing is sent to Heroku and no key is needed.

use std::collections::BTreeMap;

use actix::prelude::*;
use slog::{debug, info};

use crate::actors::messages::{
    GetApp, GetDynos, GetFormation, GetFormations, InjectPanic, ScaleFormation, ScaleFormations,
};
use crate::heroku::{ApiError, AppInfo, DynoStates, Formation};
use crate::supervision::{guarded, Link, Supervisable};

/// Answers the API messages from an in-memory formation.
pub struct LocalFormationActor {
    app_name: String,
    process_type: String,
    /// Kept across restarts: it stands for Heroku's state, which a crash here does not change.
    quantity: u32,
    /// The worker process types' counts, each starting at 0.
    others: BTreeMap<String, u32>,
    link: Link,
}

impl LocalFormationActor {
    /// A formation of `quantity` dynos of `process_type`, and none of each of `others`.
    pub fn new(
        app_name: String,
        process_type: String,
        quantity: u32,
        others: &[String],
        link: Link,
    ) -> Self {
        info!(
            link.log(),
            "local mode: no Heroku API calls; {process_type} starts at {quantity} dynos"
        );
        LocalFormationActor {
            app_name,
            process_type,
            quantity,
            others: others.iter().map(|name| (name.clone(), 0)).collect(),
            link,
        }
    }

    fn counts(&self) -> BTreeMap<String, u32> {
        let mut counts = self.others.clone();
        counts.insert(self.process_type.clone(), self.quantity);
        counts
    }

    fn formation(&self) -> Formation {
        Formation {
            process_type: self.process_type.clone(),
            quantity: self.quantity,
        }
    }
}

impl Actor for LocalFormationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
    }
}

impl Supervised for LocalFormationActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.link.restarting();
    }
}

impl Supervisable for LocalFormationActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<GetApp> for LocalFormationActor {
    type Result = Result<AppInfo, ApiError>;

    fn handle(&mut self, _: GetApp, ctx: &mut Context<Self>) -> Self::Result {
        // Settings refuse a relative heartbeat URL in local mode, so this is never needed.
        guarded(self, ctx, |act, _| AppInfo {
            name: act.app_name.clone(),
            web_url: None,
        })
        .ok_or_else(panicked)
    }
}

impl Handler<GetFormation> for LocalFormationActor {
    type Result = Result<Formation, ApiError>;

    fn handle(&mut self, _: GetFormation, ctx: &mut Context<Self>) -> Self::Result {
        guarded(self, ctx, |act, _| act.formation()).ok_or_else(panicked)
    }
}

impl Handler<GetDynos> for LocalFormationActor {
    type Result = Result<DynoStates, ApiError>;

    fn handle(&mut self, _: GetDynos, ctx: &mut Context<Self>) -> Self::Result {
        // Nothing boots here: every dyno asked for is up at once.
        guarded(self, ctx, |act, _| DynoStates {
            up: act.quantity,
            ..DynoStates::default()
        })
        .ok_or_else(panicked)
    }
}

impl Handler<ScaleFormation> for LocalFormationActor {
    type Result = Result<Formation, ApiError>;

    fn handle(&mut self, msg: ScaleFormation, ctx: &mut Context<Self>) -> Self::Result {
        guarded(self, ctx, |act, _| {
            // The controller logs the scale itself; this line only confirms the stand-in saw it.
            debug!(
                act.link.log(),
                "local formation {} from={} to={}", act.process_type, act.quantity, msg.quantity
            );
            act.quantity = msg.quantity;
            act.formation()
        })
        .ok_or_else(panicked)
    }
}

impl Handler<GetFormations> for LocalFormationActor {
    type Result = Result<BTreeMap<String, u32>, ApiError>;

    fn handle(&mut self, _: GetFormations, ctx: &mut Context<Self>) -> Self::Result {
        guarded(self, ctx, |act, _| act.counts()).ok_or_else(panicked)
    }
}

impl Handler<ScaleFormations> for LocalFormationActor {
    type Result = Result<BTreeMap<String, u32>, ApiError>;

    fn handle(&mut self, msg: ScaleFormations, ctx: &mut Context<Self>) -> Self::Result {
        guarded(self, ctx, |act, _| {
            let mut changed = BTreeMap::new();
            for (process_type, quantity) in msg.updates {
                if process_type == act.process_type {
                    act.quantity = quantity;
                } else {
                    act.others.insert(process_type.clone(), quantity);
                }
                changed.insert(process_type, quantity);
            }
            changed
        })
        .ok_or_else(panicked)
    }
}

impl Handler<InjectPanic> for LocalFormationActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| {
            panic!("injected panic in the local formation")
        });
    }
}

fn panicked() -> ApiError {
    ApiError::Unavailable("the local formation panicked".into())
}
