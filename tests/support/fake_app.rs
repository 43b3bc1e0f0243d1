//! `FakeApp`: the user's app, whose heartbeat answers with the latency and status the test sets.
//!
//! Every path and method answers the same way, so a test using the default relative heartbeat
//! path and one using an absolute URL both work; `paths()` shows what was asked.
//!
//! Latency and status are read when a request arrives: changing them affects later requests,
//! not one already waiting. The wait is an async sleep, so a hung request (say a latency of an
//! hour) never holds up the ones after it, and dropping the `FakeApp` cuts it off at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::BackgroundServer;

/// The worker's default heartbeat path.
pub const HEARTBEAT_PATH: &str = "/heroku-autoscale/heartbeat/v1";

/// The fake app. Dropping it stops the server.
pub struct FakeApp {
    shared: Arc<Shared>,
    server: BackgroundServer,
}

impl FakeApp {
    /// Starts the app (latency zero, status 200); returns once it is listening.
    pub fn start() -> FakeApp {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let server = BackgroundServer::start("fake app", 1, move |cfg| {
            cfg.app_data(data.clone())
                .default_service(web::to(handle_request));
        });
        FakeApp { shared, server }
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The base URL plus the default heartbeat path.
    pub fn heartbeat_url(&self) -> String {
        format!("{}{HEARTBEAT_PATH}", self.url())
    }

    /// How long each later request waits before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// The status of later answers. Panics at once on a code HTTP cannot carry.
    pub fn set_status(&self, status: u16) {
        StatusCode::from_u16(status)
            .unwrap_or_else(|e| panic!("FakeApp::set_status({status}): {e}"));
        self.shared.lock().status = status;
    }

    /// Requests received so far, answered or not.
    pub fn hits(&self) -> usize {
        self.shared.lock().hits.len()
    }

    /// When each request arrived, in order.
    pub fn hit_times(&self) -> Vec<Instant> {
        self.shared.lock().hits.iter().map(|hit| hit.at).collect()
    }

    /// The path of each request, in order (without the query string).
    pub fn paths(&self) -> Vec<String> {
        self.shared
            .lock()
            .hits
            .iter()
            .map(|hit| hit.path.clone())
            .collect()
    }

    /// The method of each request, in order.
    pub fn methods(&self) -> Vec<String> {
        self.shared
            .lock()
            .hits
            .iter()
            .map(|hit| hit.method.clone())
            .collect()
    }

    /// Requests arrived but not yet answered nor abandoned by their client.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight
    }

    /// The largest number of requests ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// Blocks until at least `count` requests arrived; false if `timeout` passed first.
    pub fn wait_for_hits(&self, count: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, || self.hits() >= count)
    }
}

struct Hit {
    at: Instant,
    method: String,
    path: String,
}

struct State {
    latency: Duration,
    status: u16,
    hits: Vec<Hit>,
    in_flight: usize,
    max_in_flight: usize,
}

impl Default for State {
    fn default() -> State {
        State {
            latency: Duration::ZERO,
            status: 200,
            hits: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// A panicking test thread must not make every later call panic too: ignore poisoning.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an arriving request; returns its latency and status.
    fn arrive(&self, req: &HttpRequest) -> (Duration, u16) {
        let mut state = self.lock();
        state.hits.push(Hit {
            at: Instant::now(),
            method: req.method().to_string(),
            path: req.path().to_string(),
        });
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (state.latency, state.status)
    }
}

/// Counts a request as in flight for as long as it lives (answered, or dropped mid-wait).
struct InFlight(web::Data<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

async fn handle_request(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let (latency, status) = shared.arrive(&req);
    let _in_flight = InFlight(shared.clone());
    if !latency.is_zero() {
        actix_rt::time::sleep(latency).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(format!("{status}\n"))
}
