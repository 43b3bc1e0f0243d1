//! `FakeHeroku`: a fake Heroku Platform API (v3) on 127.0.0.1 that speaks the real wire format
//! for the endpoints the worker uses, records what it receives, and fails on demand.
//!
//! The app has one main process type (given to `start`, steered with `set_quantity`) and any
//! number of others (`set_process_quantity`, e.g. the `worker` types scaled by queue length).
//!
//! Endpoints (names or ids are accepted as identities, like the real API):
//! - `GET /apps/{app}` → 200, the app object (`id`, `name`, `web_url`, `stack`, ...).
//! - `GET /apps/{app}/formation` → 200, an array of formation objects: the main type first, then
//!   the others by name.
//! - `GET /apps/{app}/formation/{type}` → 200, the formation object.
//! - `PATCH /apps/{app}/formation/{type}` with `{"quantity": N}` → sets N, 200 with the formation.
//! - `PATCH /apps/{app}/formation` with `{"updates": [{"type": T, "quantity": N}, ...]}` (the
//!   batch update; `quantity` optional) → sets them all or none, 200 with the array of the
//!   formations named, in the order given.
//! - `GET /apps/{app}/dynos` → 200, one dyno object per dyno of the main type, `starting` for
//!   `set_boot_time` after the PATCH that added it, then `up`; then one `up` dyno per unit of each
//!   other type's quantity (`worker.1`, ...). While no other type was set, a `worker.1` that is
//!   always up stands in for them (it has no formation).
//!
//! Every request is checked, in this order:
//! 1. `Authorization: Bearer <api_key>`, else 401 `unauthorized`.
//! 2. `Accept: application/vnd.heroku+json; version=3`, else **406** `not_acceptable`: Heroku's
//!    published error table lists `406 Not Acceptable / not_acceptable` for a missing or wrong
//!    version in `Accept` (the fake is strict: a missing `Accept` header is rejected too).
//! 3. Injected failures (`fail_next`, `fail_always`, `fail_patches_*`; a batch update is a PATCH
//!    like any other), in the order added.
//! 4. Routing: unknown app → 404 "Couldn't find that app.", unknown process type (in the path, or
//!    any of a batch's) → 404 "Couldn't find that formation.", unknown endpoint → 404; a PATCH
//!    body that is not a JSON object with an integer `quantity` ≥ 0, or a batch body that is not
//!    `{"updates": [...]}` with a string `type` and an optional such `quantity` in each update →
//!    422 `invalid_params`; above the limit set with `set_quantity_limit` (any update of a batch)
//!    → 422 `cannot_run_above_limit`. A batch is checked whole before any of it is applied.
//!
//! Every response is `Content-Type: application/json` with an `{id, message}` body on errors
//! (or an injected failure's raw body, `Failure::with_raw_body`),
//! and carries `RateLimit-Remaining` (4500 unless changed) and a `Request-Id`; except that a 200
//! answer can be spoiled on demand (`corrupt_next`, `corrupt_always`: not JSON, JSON of the wrong
//! shape, a negative quantity, a body without end), and a PATCH of the main type (single or in a
//! batch) can be made to set another quantity than it asked for (`set_patch_quantity_override`).
//!
//! What is recorded, and when: a request is recorded in `requests()` the moment it arrives, before
//! any delay or check, so a test sees a request that is still hanging. Likewise `patches()` holds
//! the quantity of *every* single PATCH (not to another process type) whose body carries a valid
//! quantity, whatever the answer (401, 406, 404, injected failure, or still delayed), and
//! `batch_patches()` every batch update with a valid body, as sent; `patches_applied()` holds only
//! the quantities that a single PATCH answered 200 actually set. `set_quantity` and
//! `set_process_quantity` (someone running `heroku ps:scale` by hand) appear in none of them.
//! `patches_in_flight()` and `max_concurrent_patches()` count single and batch PATCHes alike.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::BackgroundServer;

/// The `Accept` value the real API requires.
pub const HEROKU_ACCEPT: &str = "application/vnd.heroku+json; version=3";
/// `RateLimit-Remaining` sent on every answer unless changed with `set_rate_limit_remaining`.
pub const DEFAULT_RATE_LIMIT_REMAINING: u32 = 4500;

/// An error answer to inject: status, the `{id, message}` body, and extra headers (which replace
/// the default ones of the same name, e.g. `RateLimit-Remaining`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub id: String,
    pub message: String,
    pub headers: Vec<(String, String)>,
    /// Sent as the body as it is, in place of the `{id, message}` JSON (see `with_raw_body`).
    pub raw_body: Option<String>,
}

impl Failure {
    /// Any error answer. Panics at once on a status outside 400..=599 (a test-setup mistake).
    pub fn new(status: u16, id: &str, message: &str) -> Failure {
        assert!(
            (400..=599).contains(&status),
            "Failure status must be 400..=599, got {status}"
        );
        Failure {
            status,
            id: id.to_string(),
            message: message.to_string(),
            headers: Vec::new(),
            raw_body: None,
        }
    }

    /// Answers with `body` byte for byte instead of the `{id, message}` JSON: for bodies that
    /// serde_json would never write, such as `\/` or `\u0068` escapes, or raw control bytes.
    pub fn with_raw_body(mut self, body: &str) -> Failure {
        self.raw_body = Some(body.to_string());
        self
    }

    /// Adds a response header. Panics at once on a name or value HTTP cannot carry.
    pub fn with_header(mut self, name: &str, value: &str) -> Failure {
        HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("bad header name {name:?} in Failure: {e}"));
        HeaderValue::from_str(value)
            .unwrap_or_else(|e| panic!("bad header value {value:?} in Failure: {e}"));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// 500 `internal_server_error`.
    pub fn server_error() -> Failure {
        Failure::new(
            500,
            "internal_server_error",
            "Internal server error.\nPlease try again or contact support if the problem persists.",
        )
    }

    /// 503 `service_unavailable`.
    pub fn service_unavailable() -> Failure {
        Failure::new(
            503,
            "service_unavailable",
            "API is temporarily unavailable.\nPlease try again later.",
        )
    }

    /// 401 `unauthorized`, the same answer as for a wrong key (e.g. a key revoked mid-run).
    pub fn unauthorized() -> Failure {
        Failure::new(401, "unauthorized", "Invalid credentials provided.")
    }

    /// 403 `forbidden`: the key is valid but has no access to the app.
    pub fn forbidden() -> Failure {
        Failure::new(403, "forbidden", "You do not have access to the app.")
    }

    /// 429 `rate_limit` with `RateLimit-Remaining: 0`.
    pub fn rate_limited() -> Failure {
        Failure::new(
            429,
            "rate_limit",
            "Your account reached the API rate limit\nPlease wait a few minutes before making new requests",
        )
        .with_header("RateLimit-Remaining", "0")
    }

    /// 422 `cannot_run_above_limit`, what a PATCH above the account's dyno limit gets.
    pub fn cannot_run_above_limit() -> Failure {
        Failure::above_limit(10)
    }

    /// The same, naming `limit` as Heroku's message does.
    pub fn above_limit(limit: u32) -> Failure {
        Failure::new(
            422,
            "cannot_run_above_limit",
            &format!("Cannot update to more than {limit} Standard-1X size dynos per process type."),
        )
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The path only, e.g. `/apps/example/formation/web`.
    pub path: String,
    /// The query string without `?`, empty when there is none.
    pub query: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    /// The body as text (lossy UTF-8); empty for a GET.
    pub body: String,
    /// When the request arrived.
    pub at: Instant,
}

/// The fake API. Dropping it stops the server.
pub struct FakeHeroku {
    shared: Arc<Shared>,
    server: BackgroundServer,
}

impl FakeHeroku {
    /// Starts the fake for one app with one process type; returns once it is listening.
    ///
    /// `web_url` is what `GET /apps/{app}` reports; the real API gives it with a trailing slash
    /// (`https://example.herokuapp.com/`), so pass `format!("{}/", fake_app.url())` to be faithful.
    pub fn start(
        app_name: &str,
        process_type: &str,
        api_key: &str,
        initial_quantity: u32,
        web_url: &str,
    ) -> FakeHeroku {
        let shared = Arc::new(Shared::new(
            app_name,
            process_type,
            api_key,
            initial_quantity,
            web_url,
        ));
        let data = web::Data::from(shared.clone());
        let server = BackgroundServer::start("fake Heroku API", 1, move |cfg| {
            cfg.app_data(data.clone())
                .default_service(web::to(handle_request));
        });
        FakeHeroku { shared, server }
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn app_name(&self) -> String {
        self.shared.fixed.app_name.clone()
    }

    /// The app's uuid-looking `id`, also accepted in place of the name in paths.
    pub fn app_id(&self) -> String {
        self.shared.fixed.app_id.clone()
    }

    pub fn process_type(&self) -> String {
        self.shared.fixed.process_type.clone()
    }

    pub fn api_key(&self) -> String {
        self.shared.fixed.api_key.clone()
    }

    /// The formation's current quantity.
    pub fn quantity(&self) -> u32 {
        self.shared.lock().quantity
    }

    /// Changes the quantity as a person running `heroku ps:scale` would: not recorded as a PATCH.
    pub fn set_quantity(&self, quantity: u32) {
        let mut state = self.shared.lock();
        state.quantity = quantity;
        state.dynos_up_at.resize(quantity as usize, Instant::now());
        state.formation_updated_at = rfc3339_now();
    }

    /// Sets the quantity of `process_type`, adding it to the app's formation if it is new; for the
    /// main type this is `set_quantity`. Like `set_quantity`, not recorded as a PATCH.
    pub fn set_process_quantity(&self, process_type: &str, quantity: u32) {
        if process_type == self.shared.fixed.process_type {
            self.set_quantity(quantity);
            return;
        }
        let mut state = self.shared.lock();
        state.other_formations.insert(
            process_type.to_string(),
            OtherFormation {
                quantity,
                updated_at: rfc3339_now(),
            },
        );
    }

    /// The quantity of any process type, the main one included; `None` for a type the app lacks.
    pub fn process_quantity(&self, process_type: &str) -> Option<u32> {
        let state = self.shared.lock();
        if process_type == self.shared.fixed.process_type {
            return Some(state.quantity);
        }
        state
            .other_formations
            .get(process_type)
            .map(|formation| formation.quantity)
    }

    /// Dynos added by a PATCH from now on report `starting` for this long, then `up`.
    pub fn set_boot_time(&self, boot_time: Duration) {
        self.shared.lock().boot_time = boot_time;
    }

    /// How many `GET /apps/{app}/dynos` requests arrived.
    pub fn dyno_list_reads(&self) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.method == "GET" && request.path.ends_with("/dynos"))
            .count()
    }

    /// The quantity of every PATCH received with a valid body, in arrival order, whatever it was
    /// answered (including injected failures, 401s, and requests still delayed).
    pub fn patches(&self) -> Vec<u32> {
        self.shared.lock().patches_received.clone()
    }

    /// The quantities set by PATCHes answered 200, in order.
    pub fn patches_applied(&self) -> Vec<u32> {
        self.shared.lock().patches_applied.clone()
    }

    /// Every batch update (`PATCH /apps/{app}/formation`) received with a valid body, in arrival
    /// order, whatever it was answered: each as the `(type, quantity)` of its updates, types as
    /// sent (name or id), updates without a quantity left out.
    pub fn batch_patches(&self) -> Vec<Vec<(String, u32)>> {
        self.shared.lock().batches_received.clone()
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The largest number of PATCH requests ever in flight at once (arrived, not yet answered
    /// nor abandoned). A worker that keeps at most one scale call in flight keeps this at ≤ 1.
    pub fn max_concurrent_patches(&self) -> usize {
        self.shared.lock().max_concurrent_patches
    }

    /// PATCH requests in flight right now.
    pub fn patches_in_flight(&self) -> usize {
        self.shared.lock().patches_in_flight
    }

    /// The next `count` requests (any method) that pass the key and Accept checks get `failure`.
    pub fn fail_next(&self, count: usize, failure: Failure) {
        self.add_rule(Scope::AllRequests, Some(count), failure);
    }

    /// Every request that passes the key and Accept checks gets `failure`, until `clear_failures`.
    pub fn fail_always(&self, failure: Failure) {
        self.add_rule(Scope::AllRequests, None, failure);
    }

    /// Like `fail_next`, for PATCH requests only; GETs keep working.
    pub fn fail_patches_next(&self, count: usize, failure: Failure) {
        self.add_rule(Scope::PatchesOnly, Some(count), failure);
    }

    /// Like `fail_always`, for PATCH requests only; GETs keep working.
    pub fn fail_patches_always(&self, failure: Failure) {
        self.add_rule(Scope::PatchesOnly, None, failure);
    }

    /// Removes every injected failure (and corruption).
    pub fn clear_failures(&self) {
        let mut state = self.shared.lock();
        state.rules.clear();
        state.corruptions.clear();
    }

    /// The next `count` answers that would be 200 (any method) are spoiled with `corruption`.
    /// The request itself is carried out first: a PATCH is applied, only its answer is spoiled.
    pub fn corrupt_next(&self, count: usize, corruption: Corruption) {
        if count > 0 {
            self.shared
                .lock()
                .corruptions
                .push((Some(count), corruption));
        }
    }

    /// Every answer that would be 200 is spoiled with `corruption`, until `clear_failures`.
    pub fn corrupt_always(&self, corruption: Corruption) {
        self.shared.lock().corruptions.push((None, corruption));
    }

    /// `Some(q)`: a PATCH that would succeed sets the formation to `q` instead of what it asked
    /// for, and answers with `q` (as if Heroku or another client changed it at the same moment).
    /// `patches()` still shows what was asked; `patches_applied()` shows `q`. `None`: normal.
    pub fn set_patch_quantity_override(&self, quantity: Option<u32>) {
        self.shared.lock().patch_quantity_override = quantity;
    }

    /// Delays every answer by `delay` (`Duration::ZERO` to stop). A long delay simulates a hung
    /// API. Checks and the PATCH itself happen after the delay, so a PATCH abandoned by its
    /// client during the delay is never applied (but is in `patches()`).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// An extra delay for PATCH requests only, added to `set_delay`'s.
    pub fn set_patch_delay(&self, delay: Duration) {
        self.shared.lock().patch_delay = delay;
    }

    /// The `RateLimit-Remaining` value of normal answers.
    pub fn set_rate_limit_remaining(&self, remaining: u32) {
        self.shared.lock().rate_limit_remaining = remaining;
    }

    /// A PATCH above `limit` gets 422 `cannot_run_above_limit`, like an account's dyno limit.
    /// `None` (the default) lifts the limit.
    pub fn set_quantity_limit(&self, limit: Option<u32>) {
        self.shared.lock().quantity_limit = limit;
    }

    /// Blocks until the quantity is `quantity`; false if `timeout` passed first.
    pub fn wait_for_quantity(&self, quantity: u32, timeout: Duration) -> bool {
        super::wait_until(timeout, || self.quantity() == quantity)
    }

    /// Blocks until `process_type` runs `quantity` dynos; false if `timeout` passed first.
    pub fn wait_for_process_quantity(
        &self,
        process_type: &str,
        quantity: u32,
        timeout: Duration,
    ) -> bool {
        super::wait_until(timeout, || {
            self.process_quantity(process_type) == Some(quantity)
        })
    }

    /// Blocks until at least `count` PATCHes were received; false if `timeout` passed first.
    pub fn wait_for_patches(&self, count: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, || self.patches().len() >= count)
    }

    fn add_rule(&self, scope: Scope, remaining: Option<usize>, failure: Failure) {
        // `Failure`'s fields are public, so check here too, in the test's thread, for a clear panic.
        assert!(
            (400..=599).contains(&failure.status),
            "Failure status must be 400..=599, got {}",
            failure.status
        );
        if remaining == Some(0) {
            return;
        }
        self.shared.lock().rules.push(FailureRule {
            scope,
            remaining,
            failure,
        });
    }
}

/// How a 200 answer is spoiled on its way back; see [`FakeHeroku::corrupt_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// A `text/html` page instead of JSON, as a proxy in the way might send.
    NotJson,
    /// JSON, but not the object asked for: no `type`, `quantity` a string.
    WrongShape,
    /// The object asked for, with `"quantity": -1` (in a list, the first object).
    NegativeQuantity,
    /// A formation of this other process type, with 9 dynos, instead of the one asked for (in a
    /// list, instead of the first one).
    OtherProcessType(&'static str),
    /// JSON that never ends: streamed until the client hangs up.
    EndlessBody,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    AllRequests,
    PatchesOnly,
}

#[derive(Debug)]
struct FailureRule {
    scope: Scope,
    /// `None`: until cleared.
    remaining: Option<usize>,
    failure: Failure,
}

/// What never changes after start.
struct Fixed {
    app_name: String,
    app_id: String,
    process_type: String,
    formation_id: String,
    api_key: String,
    web_url: String,
    created_at: String,
}

/// What tests observe and steer.
struct State {
    quantity: u32,
    quantity_limit: Option<u32>,
    app_updated_at: String,
    formation_updated_at: String,
    patches_received: Vec<u32>,
    patches_applied: Vec<u32>,
    requests: Vec<RecordedRequest>,
    patches_in_flight: usize,
    max_concurrent_patches: usize,
    rules: Vec<FailureRule>,
    delay: Duration,
    patch_delay: Duration,
    rate_limit_remaining: u32,
    requests_answered: u64,
    /// `None` count: until cleared.
    corruptions: Vec<(Option<usize>, Corruption)>,
    patch_quantity_override: Option<u32>,
    /// When each dyno of the process type serves, in dyno number order.
    dynos_up_at: Vec<Instant>,
    boot_time: Duration,
    /// The process types other than the main one, by name (so listed in name order).
    other_formations: BTreeMap<String, OtherFormation>,
    batches_received: Vec<Vec<(String, u32)>>,
}

/// A process type other than the main one. Its dynos are always up: nothing waits for them.
struct OtherFormation {
    quantity: u32,
    updated_at: String,
}

/// One update of a batch as sent: the type's name or formation id, and the quantity if any.
struct Update {
    process_type: String,
    quantity: Option<u32>,
}

struct Shared {
    fixed: Fixed,
    state: Mutex<State>,
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
    /// Sent instead of `body` when set.
    raw_body: Option<String>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body,
            headers: Vec::new(),
            raw_body: None,
        }
    }

    fn error(status: u16, id: &str, message: &str) -> Reply {
        Reply {
            status,
            body: json!({ "id": id, "message": message }),
            headers: Vec::new(),
            raw_body: None,
        }
    }

    fn from_failure(failure: &Failure) -> Reply {
        Reply {
            headers: failure.headers.clone(),
            raw_body: failure.raw_body.clone(),
            ..Reply::error(failure.status, &failure.id, &failure.message)
        }
    }
}

impl Shared {
    fn new(
        app_name: &str,
        process_type: &str,
        api_key: &str,
        quantity: u32,
        web_url: &str,
    ) -> Shared {
        let now = rfc3339_now();
        Shared {
            fixed: Fixed {
                app_name: app_name.to_string(),
                app_id: uuid_like(&["app", app_name]),
                process_type: process_type.to_string(),
                formation_id: uuid_like(&["formation", app_name, process_type]),
                api_key: api_key.to_string(),
                web_url: web_url.to_string(),
                created_at: "2024-01-15T09:30:00Z".to_string(),
            },
            state: Mutex::new(State {
                quantity,
                quantity_limit: None,
                app_updated_at: now.clone(),
                formation_updated_at: now,
                patches_received: Vec::new(),
                patches_applied: Vec::new(),
                requests: Vec::new(),
                patches_in_flight: 0,
                max_concurrent_patches: 0,
                rules: Vec::new(),
                delay: Duration::ZERO,
                patch_delay: Duration::ZERO,
                rate_limit_remaining: DEFAULT_RATE_LIMIT_REMAINING,
                requests_answered: 0,
                corruptions: Vec::new(),
                patch_quantity_override: None,
                dynos_up_at: vec![Instant::now(); quantity as usize],
                boot_time: Duration::ZERO,
                other_formations: BTreeMap::new(),
                batches_received: Vec::new(),
            }),
        }
    }

    /// A panicking test thread must not make every later call panic too: ignore poisoning.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an arriving request; returns how long to wait before answering it.
    fn record_arrival(&self, request: RecordedRequest) -> Duration {
        let mut state = self.lock();
        let is_patch = request.method == "PATCH";
        let body = request.body.as_bytes();
        let segments: Vec<&str> = request.path.split('/').skip(1).collect();
        match segments.as_slice() {
            _ if !is_patch => {}
            ["apps", _, "formation"] => {
                if let Ok(updates) = parse_updates(body) {
                    let batch = updates
                        .into_iter()
                        .filter_map(|update| Some((update.process_type, update.quantity?)))
                        .collect();
                    state.batches_received.push(batch);
                }
            }
            // `patches()` is about the main type: keep another type's PATCHes out of it.
            ["apps", _, "formation", process_type]
                if self
                    .resolve_type(&state, process_type)
                    .is_some_and(|name| name != self.fixed.process_type) => {}
            _ => {
                if let Ok(quantity) = parse_quantity(body) {
                    state.patches_received.push(quantity);
                }
            }
        }
        state.requests.push(request);
        if is_patch {
            state.delay + state.patch_delay
        } else {
            state.delay
        }
    }

    /// The answer to a request, once its delay has passed.
    fn answer(&self, req: &HttpRequest, body: &[u8]) -> Reply {
        let is_patch = req.method() == Method::PATCH;
        self.check_credentials(req)
            .or_else(|| check_accept(req))
            .or_else(|| self.take_injected_failure(is_patch))
            .unwrap_or_else(|| self.route(req.method(), req.path(), body))
    }

    fn check_credentials(&self, req: &HttpRequest) -> Option<Reply> {
        let expected = format!("Bearer {}", self.fixed.api_key);
        match header(req, "authorization") {
            Some(given) if given == expected => None,
            _ => Some(Reply::from_failure(&Failure::unauthorized())),
        }
    }

    /// Uses up one matching injected failure, if any.
    fn take_injected_failure(&self, is_patch: bool) -> Option<Reply> {
        let mut state = self.lock();
        let index = state
            .rules
            .iter()
            .position(|rule| rule.scope == Scope::AllRequests || is_patch)?;
        let rule = &mut state.rules[index];
        let reply = Reply::from_failure(&rule.failure);
        if let Some(remaining) = rule.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                state.rules.remove(index);
            }
        }
        Some(reply)
    }

    fn route(&self, method: &Method, path: &str, body: &[u8]) -> Reply {
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        match segments.as_slice() {
            ["apps", app] if method == Method::GET => self.get_app(app),
            ["apps", app, "formation"] if method == Method::GET => self.list_formations(app),
            ["apps", app, "formation"] if method == Method::PATCH => self.batch_update(app, body),
            ["apps", app, "formation", process_type] if method == Method::GET => {
                self.get_formation(app, process_type)
            }
            ["apps", app, "dynos"] if method == Method::GET => self.list_dynos(app),
            ["apps", app, "formation", process_type] if method == Method::PATCH => {
                self.patch_formation(app, process_type, body)
            }
            _ => Reply::error(
                404,
                "not_found",
                "The requested API endpoint was not found. Are you using the right HTTP verb \
                 (i.e. `GET` vs. `POST`), and did you specify your intended version with the \
                 `Accept` header?",
            ),
        }
    }

    fn is_app(&self, identity: &str) -> bool {
        identity == self.fixed.app_name || identity == self.fixed.app_id
    }

    fn get_app(&self, app: &str) -> Reply {
        if !self.is_app(app) {
            return app_not_found();
        }
        Reply::ok(self.app_json(&self.lock()))
    }

    /// The name of the process type whose name or formation id is `identity`, if the app has it.
    fn resolve_type(&self, state: &State, identity: &str) -> Option<String> {
        let fixed = &self.fixed;
        if identity == fixed.process_type || identity == fixed.formation_id {
            return Some(fixed.process_type.clone());
        }
        state
            .other_formations
            .keys()
            .find(|name| *name == identity || self.formation_id(name) == identity)
            .cloned()
    }

    fn formation_id(&self, process_type: &str) -> String {
        uuid_like(&["formation", &self.fixed.app_name, process_type])
    }

    fn list_formations(&self, app: &str) -> Reply {
        if !self.is_app(app) {
            return app_not_found();
        }
        let state = self.lock();
        let main = self.formation_of(&state, &self.fixed.process_type);
        let others = state
            .other_formations
            .keys()
            .map(|name| self.formation_of(&state, name));
        Reply::ok(std::iter::once(main).chain(others).collect())
    }

    fn get_formation(&self, app: &str, identity: &str) -> Reply {
        if !self.is_app(app) {
            return app_not_found();
        }
        let state = self.lock();
        match self.resolve_type(&state, identity) {
            Some(name) => Reply::ok(self.formation_of(&state, &name)),
            None => formation_not_found(),
        }
    }

    fn patch_formation(&self, app: &str, identity: &str, body: &[u8]) -> Reply {
        if !self.is_app(app) {
            return app_not_found();
        }
        let Some(name) = self.resolve_type(&self.lock(), identity) else {
            return formation_not_found();
        };
        let quantity = match parse_quantity(body) {
            Ok(quantity) => quantity,
            Err(message) => return Reply::error(422, "invalid_params", &message),
        };
        let mut state = self.lock();
        if let Some(limit) = state.quantity_limit.filter(|limit| quantity > *limit) {
            return Reply::from_failure(&Failure::above_limit(limit));
        }
        let quantity = self.scale(&mut state, &name, quantity);
        if name == self.fixed.process_type {
            state.patches_applied.push(quantity);
        }
        Reply::ok(self.formation_of(&state, &name))
    }

    /// The batch update: every update is checked (body, types, limit) before any is applied, so
    /// a refused batch changes nothing.
    fn batch_update(&self, app: &str, body: &[u8]) -> Reply {
        if !self.is_app(app) {
            return app_not_found();
        }
        let updates = match parse_updates(body) {
            Ok(updates) => updates,
            Err(message) => return Reply::error(422, "invalid_params", &message),
        };
        let mut state = self.lock();
        let mut resolved = Vec::with_capacity(updates.len());
        for update in updates {
            match self.resolve_type(&state, &update.process_type) {
                Some(name) => resolved.push((name, update.quantity)),
                None => return formation_not_found(),
            }
        }
        if let Some(limit) = state.quantity_limit {
            if resolved
                .iter()
                .any(|(_, quantity)| quantity.is_some_and(|q| q > limit))
            {
                return Reply::from_failure(&Failure::above_limit(limit));
            }
        }
        for (name, quantity) in &resolved {
            if let Some(quantity) = quantity {
                self.scale(&mut state, name, *quantity);
            }
        }
        let formations = resolved
            .iter()
            .map(|(name, _)| self.formation_of(&state, name))
            .collect();
        Reply::ok(formations)
    }

    /// Sets a process type's quantity as a successful PATCH does; returns the quantity set (for
    /// the main type, `set_patch_quantity_override` has the last word).
    fn scale(&self, state: &mut State, name: &str, quantity: u32) -> u32 {
        if name != self.fixed.process_type {
            let formation = state
                .other_formations
                .get_mut(name)
                .expect("scale is given a resolved type");
            formation.quantity = quantity;
            formation.updated_at = rfc3339_now();
            return quantity;
        }
        let quantity = state.patch_quantity_override.unwrap_or(quantity);
        let up_at = Instant::now() + state.boot_time;
        state.dynos_up_at.resize(quantity as usize, up_at);
        state.quantity = quantity;
        state.formation_updated_at = rfc3339_now();
        quantity
    }

    fn list_dynos(&self, app: &str) -> Reply {
        if !self.is_app(app) {
            return app_not_found();
        }
        let state = self.lock();
        let now = Instant::now();
        let fixed = &self.fixed;
        let dyno = |name: String, process_type: &str, state: &str| {
            json!({
                "attach_url": null,
                "command": command_of(fixed, process_type),
                "created_at": fixed.created_at,
                "id": uuid_like(&["dyno", &name]),
                "name": name,
                "release": { "id": uuid_like(&["release"]), "version": 42 },
                "app": { "id": fixed.app_id, "name": fixed.app_name },
                "size": "standard-1X",
                "state": state,
                "type": process_type,
                "updated_at": fixed.created_at,
            })
        };
        let mut list: Vec<Value> = state
            .dynos_up_at
            .iter()
            .enumerate()
            .map(|(index, up_at)| {
                let dyno_state = if *up_at <= now { "up" } else { "starting" };
                let name = format!("{}.{}", fixed.process_type, index + 1);
                dyno(name, &fixed.process_type, dyno_state)
            })
            .collect();
        for (process_type, formation) in &state.other_formations {
            list.extend(
                (1..=formation.quantity)
                    .map(|number| dyno(format!("{process_type}.{number}"), process_type, "up")),
            );
        }
        // Kept so that the worker is always shown a dyno of a type it must not count, even in
        // tests that never set one.
        if state.other_formations.is_empty() {
            list.push(dyno("worker.1".into(), "worker", "up"));
        }
        Reply::ok(Value::Array(list))
    }

    /// The app object, with the fields of the schema's `app` definition.
    fn app_json(&self, state: &State) -> Value {
        let fixed = &self.fixed;
        json!({
            "acm": false,
            "archived_at": null,
            "buildpack_provided_description": "Ruby/Rack",
            "build_stack": { "id": uuid_like(&["stack"]), "name": "heroku-24" },
            "created_at": fixed.created_at,
            "generation": { "id": uuid_like(&["generation"]), "name": "cedar" },
            "git_url": format!("https://git.heroku.com/{}.git", fixed.app_name),
            "id": fixed.app_id,
            "internal_routing": null,
            "maintenance": false,
            "name": fixed.app_name,
            "owner": { "email": "owner@example.com", "id": uuid_like(&["owner"]) },
            "organization": null,
            "team": null,
            "region": { "id": uuid_like(&["region"]), "name": "us" },
            "released_at": fixed.created_at,
            "repo_size": null,
            "slug_size": 45_678_912,
            "space": null,
            "stack": { "id": uuid_like(&["stack"]), "name": "heroku-24" },
            "updated_at": state.app_updated_at,
            "web_url": fixed.web_url,
        })
    }

    /// The formation object of the process type named `name` (which the app has).
    fn formation_of(&self, state: &State, name: &str) -> Value {
        if name == self.fixed.process_type {
            return self.formation_json(name, state.quantity, &state.formation_updated_at);
        }
        let formation = &state.other_formations[name];
        self.formation_json(name, formation.quantity, &formation.updated_at)
    }

    /// A formation object, with the fields of the schema's `formation` definition.
    fn formation_json(&self, process_type: &str, quantity: u32, updated_at: &str) -> Value {
        let fixed = &self.fixed;
        json!({
            "app": { "id": fixed.app_id, "name": fixed.app_name },
            "command": command_of(fixed, process_type),
            "created_at": fixed.created_at,
            "dyno_size": { "id": uuid_like(&["dyno-size", "standard-1X"]), "name": "standard-1X" },
            "id": self.formation_id(process_type),
            "quantity": quantity,
            "size": "standard-1X",
            "type": process_type,
            "updated_at": updated_at,
        })
    }

    fn to_response(&self, reply: Reply) -> HttpResponse {
        let (remaining, request_number) = {
            let mut state = self.lock();
            state.requests_answered += 1;
            (state.rate_limit_remaining, state.requests_answered)
        };
        let status =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        response
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("RateLimit-Remaining", remaining.to_string()))
            .insert_header((
                "Request-Id",
                uuid_like(&["request", &request_number.to_string()]),
            ));
        // Inserted last so that, e.g., a failure's `RateLimit-Remaining: 0` wins.
        for (name, value) in reply.headers {
            response.insert_header((name, value));
        }
        match reply.raw_body {
            Some(raw) => response.body(raw),
            None => response.body(reply.body.to_string()),
        }
    }
}

fn app_not_found() -> Reply {
    Reply::error(404, "not_found", "Couldn't find that app.")
}

fn formation_not_found() -> Reply {
    Reply::error(404, "not_found", "Couldn't find that formation.")
}

/// The Procfile command of a process type: a web server for the main type, not for the others.
fn command_of(fixed: &Fixed, process_type: &str) -> String {
    if process_type == fixed.process_type {
        "bundle exec puma -C config/puma.rb".to_string()
    } else {
        format!("bin/{process_type}")
    }
}

/// The only handler: every path and method comes here, so every request is recorded and checked.
async fn handle_request(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let delay = shared.record_arrival(recorded(&req, &body));
    // Held across the delay; dropped when answered or when the client goes away mid-delay.
    let _in_flight = (req.method() == Method::PATCH).then(|| PatchInFlight::enter(&shared));
    if !delay.is_zero() {
        actix_rt::time::sleep(delay).await;
    }
    let reply = shared.answer(&req, &body);
    if reply.status == 200 {
        if let Some(corruption) = shared.take_corruption() {
            return corrupted(reply, corruption);
        }
    }
    shared.to_response(reply)
}

impl Shared {
    /// Uses up one injected corruption, if any.
    fn take_corruption(&self) -> Option<Corruption> {
        let mut state = self.lock();
        let (remaining, corruption) = state.corruptions.first_mut()?;
        let corruption = *corruption;
        if let Some(remaining) = remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                state.corruptions.remove(0);
            }
        }
        Some(corruption)
    }
}

/// A 200 answer spoiled as `corruption` says.
fn corrupted(reply: Reply, corruption: Corruption) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    match corruption {
        Corruption::NotJson => response
            .content_type("text/html; charset=utf-8")
            .body("<html><body><h1>Bad Gateway</h1>upstream answered nonsense</body></html>"),
        Corruption::WrongShape => response
            .content_type("application/json")
            .body(r#"{"formation":[],"quantity":"two","message":null}"#),
        Corruption::NegativeQuantity => {
            let mut body = reply.body;
            if let Some(object) = object_to_spoil(&mut body) {
                object.insert("quantity".into(), json!(-1));
            }
            response
                .content_type("application/json")
                .body(body.to_string())
        }
        Corruption::OtherProcessType(process_type) => {
            let mut body = reply.body;
            if let Some(object) = object_to_spoil(&mut body) {
                object.insert("type".into(), json!(process_type));
                object.insert("quantity".into(), json!(9));
            }
            response
                .content_type("application/json")
                .body(body.to_string())
        }
        Corruption::EndlessBody => {
            static PADDING: [u8; 16 * 1024] = [b' '; 16 * 1024];
            let opening = futures_util::stream::once(async {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(
                    b"{\"quantity\": 1, \"padding\": \"",
                ))
            });
            let padding = futures_util::stream::repeat_with(|| {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(&PADDING))
            });
            response
                .content_type("application/json")
                .streaming(futures_util::StreamExt::chain(opening, padding))
        }
    }
}

/// The answer's object, or a list answer's first object: where a field is spoiled.
fn object_to_spoil(body: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    match body {
        Value::Array(items) => items.first_mut()?.as_object_mut(),
        object => object.as_object_mut(),
    }
}

/// Counts a PATCH as in flight for as long as it lives.
struct PatchInFlight(web::Data<Shared>);

impl PatchInFlight {
    fn enter(shared: &web::Data<Shared>) -> PatchInFlight {
        let mut state = shared.lock();
        state.patches_in_flight += 1;
        state.max_concurrent_patches = state.max_concurrent_patches.max(state.patches_in_flight);
        PatchInFlight(shared.clone())
    }
}

impl Drop for PatchInFlight {
    fn drop(&mut self) {
        self.0.lock().patches_in_flight -= 1;
    }
}

fn recorded(req: &HttpRequest, body: &[u8]) -> RecordedRequest {
    RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        authorization: header(req, "authorization"),
        accept: header(req, "accept"),
        user_agent: header(req, "user-agent"),
        content_type: header(req, "content-type"),
        body: String::from_utf8_lossy(body).into_owned(),
        at: Instant::now(),
    }
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// 406 unless one of the `Accept` media ranges is `application/vnd.heroku+json` with
/// `version=3` (spaces and case of the media type do not matter).
fn check_accept(req: &HttpRequest) -> Option<Reply> {
    let accepted = header(req, "accept").is_some_and(|accept| {
        accept.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default();
            media_type.eq_ignore_ascii_case("application/vnd.heroku+json")
                && parts.any(|param| param.replace(' ', "") == "version=3")
        })
    });
    (!accepted).then(|| {
        Reply::error(
            406,
            "not_acceptable",
            &format!("Please specify a version along with Heroku's API MIME type. For example, `Accept: {HEROKU_ACCEPT}`."),
        )
    })
}

/// The quantity in a PATCH body, or the `invalid_params` message.
fn parse_quantity(body: &[u8]) -> Result<u32, String> {
    let object = body_object(body)?;
    let quantity = object
        .get("quantity")
        .ok_or_else(|| "Invalid params: quantity is required.".to_string())?;
    quantity_of(quantity)
}

/// The updates in a batch update body, or the `invalid_params` message.
fn parse_updates(body: &[u8]) -> Result<Vec<Update>, String> {
    let object = body_object(body)?;
    let updates = object
        .get("updates")
        .ok_or_else(|| "Invalid params: updates is required.".to_string())?
        .as_array()
        .ok_or_else(|| "Invalid params: updates must be an array.".to_string())?;
    updates
        .iter()
        .map(|update| {
            let update = update.as_object().ok_or_else(|| {
                format!("Invalid params: each update must be an object, got {update}.")
            })?;
            let process_type = match update.get("type") {
                Some(Value::String(process_type)) => process_type.clone(),
                Some(other) => {
                    return Err(format!(
                        "Invalid params: type must be a string, got {other}."
                    ))
                }
                None => return Err("Invalid params: type is required in each update.".into()),
            };
            let quantity = update.get("quantity").map(quantity_of).transpose()?;
            Ok(Update {
                process_type,
                quantity,
            })
        })
        .collect()
}

fn body_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("Invalid params: request body must be a JSON object.".to_string()),
        Err(e) => Err(format!(
            "Invalid params: request body is not valid JSON ({e})."
        )),
    }
}

fn quantity_of(quantity: &Value) -> Result<u32, String> {
    quantity
        .as_u64()
        .and_then(|q| u32::try_from(q).ok())
        .ok_or_else(|| {
            format!("Invalid params: quantity must be a non-negative integer, got {quantity}.")
        })
}

/// A stable, uuid-shaped id derived from `parts` (the same parts give the same id).
fn uuid_like(parts: &[&str]) -> String {
    let hash = |salt: u8| {
        let mut hasher = DefaultHasher::new();
        salt.hash(&mut hasher);
        parts.hash(&mut hasher);
        hasher.finish()
    };
    let (high, low) = (hash(1), hash(2));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff,
    )
}

/// Now as `2024-01-15T09:30:00Z`, the API's timestamp format.
fn rfc3339_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
