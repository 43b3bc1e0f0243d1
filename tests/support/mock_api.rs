//! A mock Heroku API *actor* (not an HTTP server): it answers the API messages from memory, so
//! actor-level tests can run the real actors without the real API actor.
//!
//! [`MockApi::start_here`] runs it in the test's own actix system: use that under
//! `tokio::time::pause()`, where its delays are virtual and an answer never leaves the runtime
//! idle (an idle paused runtime jumps to its next timer, e.g. the next heartbeat).

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use heroku_autoscale::actors::messages::{
    GetApp, GetDynos, GetFormation, GetFormations, ScaleFormation, ScaleFormations,
};
use heroku_autoscale::actors::ApiRecipients;
use heroku_autoscale::heroku::{ApiError, AppInfo, DynoStates, Formation};
use std::collections::BTreeMap;

/// What the mock has seen and holds; shared with the test.
#[derive(Debug, Default)]
pub struct MockState {
    pub quantity: u32,
    pub web_url: Option<String>,
    pub scales: Vec<u32>,
    pub reads: usize,
    /// While set, every scale call fails with this error.
    pub fail_scales: Option<ApiError>,
    /// While set, every scale call is answered only after this long (an async wait: the mock
    /// goes on answering other calls meanwhile).
    pub scale_delay: Option<std::time::Duration>,
    /// The same for formation reads.
    pub read_delay: Option<std::time::Duration>,
    /// The worker process types' counts.
    pub others: BTreeMap<String, u32>,
    /// Each batch scale call received.
    pub batches: Vec<Vec<(String, u32)>>,
}

pub struct MockApi {
    state: Arc<Mutex<MockState>>,
}

impl MockApi {
    /// Starts the mock on a thread with its own actix system (so it serves a worker in any
    /// system, on any thread) and returns its recipients and shared state.
    pub fn start(quantity: u32, web_url: Option<&str>) -> (ApiRecipients, Arc<Mutex<MockState>>) {
        let state = Arc::new(Mutex::new(MockState {
            quantity,
            web_url: web_url.map(String::from),
            ..MockState::default()
        }));
        let shared = state.clone();
        let (sender, receiver) = std::sync::mpsc::channel();
        // The thread lives as long as the test process; tests are short.
        std::thread::spawn(move || {
            let system = System::new();
            system.block_on(async move {
                let addr = MockApi { state: shared }.start();
                sender
                    .send(addr)
                    .expect("the test waits for the mock's address");
            });
            system.run()
        });
        let addr = receiver.recv().expect("the mock API actor started");
        (ApiRecipients::of(&addr), state)
    }

    /// Starts the mock in the actix system running on this thread (see the module docs).
    pub fn start_here(
        quantity: u32,
        web_url: Option<&str>,
    ) -> (ApiRecipients, Arc<Mutex<MockState>>) {
        let state = Arc::new(Mutex::new(MockState {
            quantity,
            web_url: web_url.map(String::from),
            ..MockState::default()
        }));
        let addr = MockApi {
            state: state.clone(),
        }
        .start();
        (ApiRecipients::of(&addr), state)
    }

    fn formation(quantity: u32) -> Formation {
        Formation {
            process_type: "web".into(),
            quantity,
        }
    }
}

impl Actor for MockApi {
    type Context = Context<Self>;
}

impl Handler<GetApp> for MockApi {
    type Result = Result<AppInfo, ApiError>;

    fn handle(&mut self, _: GetApp, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.lock().unwrap();
        Ok(AppInfo {
            name: "acme-shop".into(),
            web_url: state.web_url.as_deref().map(|url| url.parse().unwrap()),
        })
    }
}

impl Handler<GetFormation> for MockApi {
    type Result = ResponseFuture<Result<Formation, ApiError>>;

    fn handle(&mut self, _: GetFormation, _: &mut Context<Self>) -> Self::Result {
        let delay = {
            let mut state = self.state.lock().unwrap();
            state.reads += 1;
            state.read_delay
        };
        let state = self.state.clone();
        Box::pin(async move {
            if let Some(delay) = delay {
                actix_rt::time::sleep(delay).await;
            }
            let state = state.lock().unwrap();
            Ok(Self::formation(state.quantity))
        })
    }
}

impl Handler<GetFormations> for MockApi {
    type Result = Result<BTreeMap<String, u32>, ApiError>;

    fn handle(&mut self, _: GetFormations, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.lock().unwrap();
        let mut counts = state.others.clone();
        counts.insert("web".into(), state.quantity);
        Ok(counts)
    }
}

impl Handler<ScaleFormations> for MockApi {
    type Result = Result<BTreeMap<String, u32>, ApiError>;

    fn handle(&mut self, msg: ScaleFormations, _: &mut Context<Self>) -> Self::Result {
        let mut state = self.state.lock().unwrap();
        state.batches.push(msg.updates.clone());
        for (process_type, quantity) in &msg.updates {
            state.others.insert(process_type.clone(), *quantity);
        }
        Ok(msg.updates.into_iter().collect())
    }
}

impl Handler<GetDynos> for MockApi {
    type Result = Result<DynoStates, ApiError>;

    /// Nothing boots here: every dyno is up as soon as it is asked for.
    fn handle(&mut self, _: GetDynos, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.lock().unwrap();
        Ok(DynoStates {
            up: state.quantity,
            ..DynoStates::default()
        })
    }
}

impl Handler<ScaleFormation> for MockApi {
    type Result = ResponseFuture<Result<Formation, ApiError>>;

    fn handle(&mut self, msg: ScaleFormation, _: &mut Context<Self>) -> Self::Result {
        let delay = {
            let mut state = self.state.lock().unwrap();
            state.scales.push(msg.quantity);
            state.scale_delay
        };
        let state = self.state.clone();
        Box::pin(async move {
            if let Some(delay) = delay {
                actix_rt::time::sleep(delay).await;
            }
            let mut state = state.lock().unwrap();
            if let Some(error) = &state.fail_scales {
                return Err(error.clone());
            }
            state.quantity = msg.quantity;
            Ok(Self::formation(state.quantity))
        })
    }
}
