//! `FakeApp`: the user's app, whose heartbeat answers with the latency and status the test sets,
//! and which serves a HireFire-style job-queue document.
//!
//! Paths under `/hirefire/` are the queue document (see below). Every other path and method is
//! the heartbeat and answers the same way (except paths given to `redirect`, and requests
//! without the basic auth `require_basic_auth` asks for), so a test using the default relative heartbeat
//! path and one using an absolute URL both work; `paths()` shows what was asked.
//!
//! Latency and status are read when a request arrives: changing them affects later requests,
//! not one already waiting. The wait is an async sleep, so a hung request (say a latency of an
//! hour) never holds up the ones after it, and dropping the `FakeApp` cuts it off at once.
//!
//! The queue document is served at `queue_path()` (`/hirefire/<QUEUE_TOKEN>/info`, any method)
//! as `set_queue`/`set_queue_body` say, `[]` until then; another token gets 404. Like HireFire's
//! middleware, which answers before the app's own stack, it ignores the heartbeat's latency,
//! status, body, redirects and basic auth; and queue requests are not heartbeat hits: they show
//! in `queue_hits()`/`queue_paths()`, never in `hits()`/`paths()`/`in_flight()`. The document is
//! read when a request arrives, as the heartbeat's settings are.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::BackgroundServer;

/// The worker's default heartbeat path.
pub const HEARTBEAT_PATH: &str = "/heroku-autoscale/heartbeat/v1";

/// The HireFire token in the queue document's path.
pub const QUEUE_TOKEN: &str = "hf-token-5f2a9c";

/// The size of a `QueueBody::Huge` document.
pub const HUGE_QUEUE_BYTES: usize = 10 << 20;

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

    /// The base URL plus `queue_path()`.
    pub fn queue_url(&self) -> String {
        format!("{}{}", self.url(), FakeApp::queue_path())
    }

    /// The queue document's path, `/hirefire/<QUEUE_TOKEN>/info`.
    pub fn queue_path() -> String {
        format!("/hirefire/{QUEUE_TOKEN}/info")
    }

    /// Later queue requests get `[{"name": .., "value": ..}, ...]`, one object per entry in this
    /// order (the current HireFire format), at once.
    pub fn set_queue(&self, entries: &[(&str, i64)]) {
        let document: Vec<_> = entries
            .iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        self.set_queue_body(QueueBody::Json(
            serde_json::Value::from(document).to_string(),
        ));
    }

    /// What later queue requests get. `Slow` keeps the current document and delays it; any
    /// other body replaces the document and the delay. Panics at once on a `Status` HTTP cannot
    /// carry.
    pub fn set_queue_body(&self, body: QueueBody) {
        if let QueueBody::Status(status) = body {
            StatusCode::from_u16(status).unwrap_or_else(|e| {
                panic!("FakeApp::set_queue_body(QueueBody::Status({status})): {e}")
            });
        }
        let mut state = self.shared.lock();
        match body {
            QueueBody::Slow(delay) => state.queue_delay = delay,
            document => {
                state.queue_document = document;
                state.queue_delay = Duration::ZERO;
            }
        }
    }

    /// Queue requests received so far (any token), answered or not.
    pub fn queue_hits(&self) -> usize {
        self.shared.lock().queue_paths.len()
    }

    /// The path of each queue request, in order (without the query string).
    pub fn queue_paths(&self) -> Vec<String> {
        self.shared.lock().queue_paths.clone()
    }

    /// Queue document bytes handed to the server for sending so far; with `Huge`, as
    /// `body_bytes_sent` does for the heartbeat, this shows how much a client read before it hung
    /// up.
    pub fn queue_bytes_sent(&self) -> u64 {
        self.shared.lock().queue_bytes_sent
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

    /// Heartbeat requests (every request but the queue document's) received so far, answered or
    /// not.
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

/// What the queue document answers, see [`FakeApp::set_queue_body`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueBody {
    /// This text exactly, as `application/json`.
    Json(String),
    /// The older HireFire format, `[{"name": .., "quantity": ..}, ...]`.
    LegacyQuantity(Vec<(String, i64)>),
    /// This status with a short text body, e.g. `503 Service Unavailable`.
    Status(u16),
    /// A JSON array of `{"name":"worker","value":1}` objects, `HUGE_QUEUE_BYTES` long in all
    /// (valid to its last byte), streamed in chunks without a `Content-Length`.
    Huge,
    /// The current document, answered after this delay.
    Slow(Duration),
    /// `text/html` `<html>oops</html>`, as an error page in the way would be.
    NotJson,
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
    /// Never `Slow`: that is `queue_delay`.
    queue_document: QueueBody,
    queue_delay: Duration,
    queue_paths: Vec<String>,
    queue_bytes_sent: u64,
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
            queue_document: QueueBody::Json("[]".to_string()),
            queue_delay: Duration::ZERO,
            queue_paths: Vec::new(),
            queue_bytes_sent: 0,
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
    if req.path().starts_with("/hirefire/") {
        return answer_queue(&req, shared).await;
    }
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

/// A request for the queue document: recorded apart from the heartbeat's.
async fn answer_queue(req: &HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let (document, delay) = {
        let mut state = shared.lock();
        state.queue_paths.push(req.path().to_string());
        (state.queue_document.clone(), state.queue_delay)
    };
    if req.path() != FakeApp::queue_path() {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("404 Not Found\n");
    }
    if !delay.is_zero() {
        actix_rt::time::sleep(delay).await;
    }
    let json = |body: String| {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(body)
    };
    match document {
        QueueBody::Json(body) => json(body),
        QueueBody::LegacyQuantity(entries) => {
            let document: Vec<_> = entries
                .iter()
                .map(|(name, quantity)| serde_json::json!({ "name": name, "quantity": quantity }))
                .collect();
            json(serde_json::Value::from(document).to_string())
        }
        QueueBody::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!("{status}\n"))
        }
        QueueBody::NotJson => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<html>oops</html>"),
        QueueBody::Huge => HttpResponse::Ok()
            .content_type("application/json")
            .streaming(huge_queue_chunks(shared)),
        QueueBody::Slow(_) => unreachable!("a Slow queue body is kept as queue_delay"),
    }
}

/// The `Huge` document in chunks, each counted in `queue_bytes_sent` as it is produced.
fn huge_queue_chunks(
    shared: web::Data<Shared>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    static DOCUMENT: OnceLock<web::Bytes> = OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        let entry = r#"{"name":"worker","value":1}"#;
        let mut text = String::with_capacity(HUGE_QUEUE_BYTES);
        text.push('[');
        text.push_str(entry);
        // Room is left for the comma before each entry and the closing bracket.
        while text.len() + 1 + entry.len() < HUGE_QUEUE_BYTES {
            text.push(',');
            text.push_str(entry);
        }
        // Whitespace is valid JSON: it makes the size exact.
        text.push_str(&" ".repeat(HUGE_QUEUE_BYTES - 1 - text.len()));
        text.push(']');
        web::Bytes::from(text)
    });
    futures_util::stream::unfold(0usize, move |sent| {
        let shared = shared.clone();
        async move {
            let end = (sent + CHUNK.len()).min(document.len());
            if end == sent {
                return None;
            }
            shared.lock().queue_bytes_sent += (end - sent) as u64;
            Some((Ok(document.slice(sent..end)), end))
        }
    })
}
