//! `FakeApp`: the user's app, whose heartbeat answers with the latency and status the test sets.
//!
//! Every path and method answers the same way (except paths given to `redirect`, and requests
//! without the basic auth `require_basic_auth` asks for), so a test using the default relative heartbeat
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

    /// Later requests for `path` are answered `302 Found` with `Location: location` (any text,
    /// relative or absolute), at once; other paths answer as usual. For redirect loops and
    /// redirects the probe must refuse.
    pub fn redirect(&self, path: &str, location: &str) {
        let mut state = self.lock_redirects();
        state.retain(|(from, _)| from != path);
        state.push((path.to_string(), location.to_string()));
    }

    fn lock_redirects(&self) -> MutexGuard<'_, Vec<(String, String)>> {
        self.shared
            .redirects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

    /// The `Authorization` header of each request, in order (`None` where there was none).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared
            .lock()
            .hits
            .iter()
            .map(|hit| hit.authorization.clone())
            .collect()
    }

    /// Later requests without HTTP basic auth for exactly `user` and `password` are answered
    /// `401 Unauthorized` (with a `WWW-Authenticate` challenge), at once, as an app behind basic
    /// auth would, before any redirect. `None` lets every request in again (the default).
    pub fn require_basic_auth(&self, credentials: Option<(&str, &str)>) {
        use base64::Engine;
        self.shared.lock().required_authorization = credentials.map(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        });
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

    /// The body of later answers: a short text (the default), `Huge(n)` bytes, or `Endless`.
    pub fn set_body(&self, body: AppBody) {
        self.shared.lock().body = body;
    }

    /// Body bytes handed to the server for sending so far, over all requests. With a `Huge` or
    /// `Endless` body the server only produces more as the client reads (or the socket buffers
    /// take it), so this shows how much a client read before it hung up.
    pub fn body_bytes_sent(&self) -> u64 {
        self.shared.lock().body_bytes_sent
    }
}

/// What the app's answers carry, see [`FakeApp::set_body`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppBody {
    /// The status as text, e.g. `200 OK` (the default).
    Short,
    /// This many bytes, streamed in chunks without a `Content-Length`.
    Huge(u64),
    /// Bytes without end, streamed in chunks until the client goes away.
    Endless,
}

/// The chunk a `Huge` or `Endless` body is made of.
const CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];

struct Hit {
    at: Instant,
    method: String,
    path: String,
    authorization: Option<String>,
}

struct State {
    latency: Duration,
    status: u16,
    hits: Vec<Hit>,
    in_flight: usize,
    max_in_flight: usize,
    body: AppBody,
    body_bytes_sent: u64,
    /// The `Authorization` a request must carry, see `FakeApp::require_basic_auth`.
    required_authorization: Option<String>,
}

impl Default for State {
    fn default() -> State {
        State {
            latency: Duration::ZERO,
            status: 200,
            hits: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
            body: AppBody::Short,
            body_bytes_sent: 0,
            required_authorization: None,
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// (path, Location) pairs set with `FakeApp::redirect`.
    redirects: Mutex<Vec<(String, String)>>,
}

impl Shared {
    /// A panicking test thread must not make every later call panic too: ignore poisoning.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an arriving request; returns its latency and status, and whether it lacks the
    /// required basic auth.
    fn arrive(&self, req: &HttpRequest) -> (Duration, u16, bool) {
        let mut state = self.lock();
        let authorization = req
            .headers()
            .get("authorization")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let refused = state
            .required_authorization
            .as_ref()
            .is_some_and(|required| authorization.as_ref() != Some(required));
        state.hits.push(Hit {
            at: Instant::now(),
            method: req.method().to_string(),
            path: req.path().to_string(),
            authorization,
        });
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (state.latency, state.status, refused)
    }
}

impl Shared {
    fn redirect_for(&self, path: &str) -> Option<String> {
        let redirects = self
            .redirects
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        redirects
            .iter()
            .find(|(from, _)| from == path)
            .map(|(_, location)| location.clone())
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
    let (latency, status, refused) = shared.arrive(&req);
    if refused {
        shared.lock().in_flight -= 1;
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Basic realm=\"app\""))
            .body("401 Unauthorized\n");
    }
    if let Some(location) = shared.redirect_for(req.path()) {
        shared.lock().in_flight -= 1;
        return HttpResponse::Found()
            .insert_header(("Location", location))
            .body("302 Found\n");
    }
    let _in_flight = InFlight(shared.clone());
    if !latency.is_zero() {
        actix_rt::time::sleep(latency).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type("text/plain; charset=utf-8");
    let body = shared.lock().body;
    let limit = match body {
        AppBody::Short => return response.body(format!("{status}\n")),
        AppBody::Huge(bytes) => Some(bytes),
        AppBody::Endless => None,
    };
    // Each chunk is counted as it is produced, i.e. as the client (or the socket) takes it.
    let chunks = futures_util::stream::unfold(0u64, move |produced| {
        let shared = shared.clone();
        async move {
            let left = limit.map_or(CHUNK.len() as u64, |limit| limit.saturating_sub(produced));
            let size = left.min(CHUNK.len() as u64) as usize;
            if size == 0 {
                return None;
            }
            shared.lock().body_bytes_sent += size as u64;
            let chunk = web::Bytes::from_static(&CHUNK[..size]);
            Some((Ok::<_, actix_web::Error>(chunk), produced + size as u64))
        }
    });
    response.streaming(chunks)
}
