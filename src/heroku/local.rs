//! A stand-in for the Heroku API actor that keeps the formation in memory (`run
//! --local-formation N`): the worker probes a real app and decides for real, and its scale calls
//! change only this count. Nothing is sent to Heroku and no key is needed.

use actix::prelude::*;
use slog::{debug, info, Logger};

use crate::actors::messages::{GetApp, GetFormation, ScaleFormation};
use crate::heroku::{ApiError, AppInfo, Formation};

/// Answers the API messages from an in-memory formation.
pub struct LocalFormationActor {
    app_name: String,
    process_type: String,
    quantity: u32,
    log: Logger,
}

impl LocalFormationActor {
    /// A formation of `quantity` dynos of `process_type`.
    pub fn new(app_name: String, process_type: String, quantity: u32, log: &Logger) -> Self {
        LocalFormationActor {
            app_name,
            process_type,
            quantity,
            log: log.new(slog::o!("actor" => "local_formation")),
        }
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

    fn started(&mut self, _: &mut Context<Self>) {
        info!(
            self.log,
            "local mode: no Heroku API calls; {} starts at {} dynos",
            self.process_type,
            self.quantity
        );
    }
}

impl Handler<GetApp> for LocalFormationActor {
    type Result = Result<AppInfo, ApiError>;

    fn handle(&mut self, _: GetApp, _: &mut Context<Self>) -> Self::Result {
        // Settings refuse a relative heartbeat URL in local mode, so this is never needed.
        Ok(AppInfo {
            name: self.app_name.clone(),
            web_url: None,
        })
    }
}

impl Handler<GetFormation> for LocalFormationActor {
    type Result = Result<Formation, ApiError>;

    fn handle(&mut self, _: GetFormation, _: &mut Context<Self>) -> Self::Result {
        Ok(self.formation())
    }
}

impl Handler<ScaleFormation> for LocalFormationActor {
    type Result = Result<Formation, ApiError>;

    fn handle(&mut self, msg: ScaleFormation, _: &mut Context<Self>) -> Self::Result {
        // The controller logs the scale itself; this line only confirms the stand-in saw it.
        debug!(
            self.log,
            "local formation {} from={} to={}", self.process_type, self.quantity, msg.quantity
        );
        self.quantity = msg.quantity;
        Ok(self.formation())
    }
}
