//! Self-test of the fakes in tests/support, over real HTTP: a tiny hand-written HTTP/1.1 client
//! on `std::net::TcpStream` checks the wire format (status, headers, JSON bodies), the recorded
//! requests, fault injection, delays and the concurrency counter.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake_heroku::HEROKU_ACCEPT;
use support::{Failure, FakeApp, FakeHeroku};

const KEY: &str = "test-api-key-0123";
const TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request per connection (`Connection: close`).

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

fn connect(base_url: &str) -> TcpStream {
    let authority = base_url
        .strip_prefix("http://")
        .expect("fakes serve plain http");
    let stream = TcpStream::connect(authority).expect("connect to fake");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn write_request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
}

fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (k, v) = line.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let response = Response {
        status,
        headers,
        body: body.to_string(),
    };
    assert_ne!(
        response.header("transfer-encoding"),
        Some("chunked"),
        "the client does not decode chunked bodies"
    );
    if let Some(length) = response.header("content-length") {
        assert_eq!(length.parse::<usize>().unwrap(), response.body.len());
    }
    response
}

fn request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = connect(base_url);
    write_request(&mut stream, method, path, headers, body);
    read_response(&mut stream)
}

/// A request as the worker makes it: right key, right Accept.
fn heroku(fake: &FakeHeroku, method: &str, path: &str, body: &str) -> Response {
    let auth = format!("Bearer {KEY}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Accept", HEROKU_ACCEPT),
        ("User-Agent", "heroku-autoscale/0.1.0"),
        ("Content-Type", "application/json"),
    ];
    request(&fake.url(), method, path, &headers, body)
}

fn get(fake: &FakeHeroku, path: &str) -> Response {
    heroku(fake, "GET", path, "")
}

fn patch(fake: &FakeHeroku, quantity_json: &str) -> Response {
    heroku(fake, "PATCH", "/apps/my-app/formation/web", quantity_json)
}

fn start_fake(quantity: u32) -> FakeHeroku {
    FakeHeroku::start("my-app", "web", KEY, quantity, "http://127.0.0.1:9/")
}

fn assert_error(response: &Response, status: u16, id: &str) -> String {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["id"], id, "{body}");
    body["message"].as_str().expect("message").to_string()
}

fn is_uuid_shaped(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_timestamp(value: &Value) -> bool {
    let s = value.as_str().unwrap_or_default();
    s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.starts_with("20")
}

// ---------------------------------------------------------------------------------------------
// FakeHeroku

#[test]
fn get_app_answers_the_app_object() {
    let fake = start_fake(2);
    let response = get(&fake, "/apps/my-app");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("ratelimit-remaining"), Some("4500"));
    assert!(is_uuid_shaped(response.header("request-id").unwrap()));
    let app = response.json();
    assert_eq!(app["name"], "my-app");
    assert_eq!(app["web_url"], "http://127.0.0.1:9/");
    assert!(is_uuid_shaped(app["id"].as_str().unwrap()));
    assert_eq!(app["id"], fake.app_id());
    assert!(is_timestamp(&app["created_at"]) && is_timestamp(&app["updated_at"]));
    assert_eq!(app["stack"]["name"], "heroku-24");
    assert_eq!(app["region"]["name"], "us");
    assert_eq!(app["maintenance"], false);
    // The id works as the identity too, like the real API.
    let by_id = get(&fake, &format!("/apps/{}", fake.app_id()));
    assert_eq!(by_id.json()["name"], "my-app");
}

#[test]
fn get_formation_answers_the_formation_object() {
    let fake = start_fake(2);
    let response = get(&fake, "/apps/my-app/formation/web");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let formation = response.json();
    assert_eq!(formation["quantity"], 2);
    assert_eq!(formation["type"], "web");
    assert_eq!(formation["size"], "standard-1X");
    assert_eq!(formation["app"]["name"], "my-app");
    assert_eq!(formation["app"]["id"], fake.app_id());
    assert!(formation["command"].is_string());
    assert!(is_uuid_shaped(formation["id"].as_str().unwrap()));
    assert!(is_timestamp(&formation["updated_at"]));
    let request_ids: Vec<String> = (0..2)
        .map(|_| {
            get(&fake, "/apps/my-app/formation/web")
                .header("request-id")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_ne!(request_ids[0], request_ids[1], "Request-Id is per request");
}

#[test]
fn patch_sets_the_quantity_and_is_recorded() {
    let fake = start_fake(2);
    let response = patch(&fake, r#"{"quantity":3}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["quantity"], 3);
    assert_eq!(response.json()["type"], "web");
    assert_eq!(fake.quantity(), 3);
    assert_eq!(
        get(&fake, "/apps/my-app/formation/web").json()["quantity"],
        3
    );
    assert_eq!(fake.patches(), vec![3]);
    assert_eq!(fake.patches_applied(), vec![3]);
    assert_eq!(fake.max_concurrent_patches(), 1);

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, "PATCH");
    assert_eq!(first.path, "/apps/my-app/formation/web");
    assert_eq!(first.body, r#"{"quantity":3}"#);
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer test-api-key-0123")
    );
    assert_eq!(first.accept.as_deref(), Some(HEROKU_ACCEPT));
    assert_eq!(first.user_agent.as_deref(), Some("heroku-autoscale/0.1.0"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    assert!(first.at <= requests[1].at);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].body, "");

    // Scaling to zero is valid.
    assert_eq!(patch(&fake, r#"{ "quantity" : 0 }"#).status, 200);
    assert_eq!(fake.quantity(), 0);
}

#[test]
fn wrong_or_missing_key_is_401_and_changes_nothing() {
    let fake = start_fake(2);
    let wrong = request(
        &fake.url(),
        "PATCH",
        "/apps/my-app/formation/web",
        &[("Authorization", "Bearer nope"), ("Accept", HEROKU_ACCEPT)],
        r#"{"quantity":5}"#,
    );
    let message = assert_error(&wrong, 401, "unauthorized");
    assert_eq!(message, "Invalid credentials provided.");
    assert_eq!(wrong.header("ratelimit-remaining"), Some("4500"));
    let missing = request(
        &fake.url(),
        "GET",
        "/apps/my-app",
        &[("Accept", HEROKU_ACCEPT)],
        "",
    );
    assert_error(&missing, 401, "unauthorized");
    assert_eq!(fake.quantity(), 2);
    assert_eq!(
        fake.patches(),
        vec![5],
        "a rejected PATCH still counts as received"
    );
    assert!(fake.patches_applied().is_empty());
    assert_eq!(fake.requests()[1].authorization, None);
}

#[test]
fn accept_header_must_ask_for_version_3() {
    let fake = start_fake(2);
    let auth = format!("Bearer {KEY}");
    let with_accept = |accept: Option<&str>| {
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(accept.map(|a| ("Accept", a)));
        request(&fake.url(), "GET", "/apps/my-app", &headers, "")
    };
    for bad in [
        None,
        Some("application/json"),
        Some("application/vnd.heroku+json; version=2"),
    ] {
        let message = assert_error(&with_accept(bad), 406, "not_acceptable");
        assert!(message.contains(HEROKU_ACCEPT), "{message}");
    }
    for good in [
        HEROKU_ACCEPT,
        "application/vnd.heroku+json;version=3",
        "application/json, application/vnd.heroku+json; version=3",
    ] {
        assert_eq!(with_accept(Some(good)).status, 200, "Accept: {good}");
    }
}

#[test]
fn unknown_app_formation_or_endpoint_is_404() {
    let fake = start_fake(2);
    let message = assert_error(&get(&fake, "/apps/other-app"), 404, "not_found");
    assert_eq!(message, "Couldn't find that app.");
    let message = assert_error(
        &get(&fake, "/apps/other-app/formation/web"),
        404,
        "not_found",
    );
    assert_eq!(message, "Couldn't find that app.");
    let message = assert_error(
        &get(&fake, "/apps/my-app/formation/worker"),
        404,
        "not_found",
    );
    assert_eq!(message, "Couldn't find that formation.");
    let response = heroku(
        &fake,
        "PATCH",
        "/apps/my-app/formation/worker",
        r#"{"quantity":1}"#,
    );
    assert_error(&response, 404, "not_found");
    assert_error(&get(&fake, "/account"), 404, "not_found");
    assert_eq!(fake.quantity(), 2);
    assert!(fake.patches_applied().is_empty());
}

#[test]
fn invalid_patch_body_is_422() {
    let fake = start_fake(2);
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"quantity":-1}"#,
        r#"{"quantity":"3"}"#,
        r#"{"quantity":1.5}"#,
        r#"{"quantity":null}"#,
        r#"{"quantity":99999999999}"#,
    ] {
        let message = assert_error(&patch(&fake, body), 422, "invalid_params");
        assert!(!message.is_empty(), "body {body:?}");
    }
    assert_eq!(fake.quantity(), 2);
    assert!(
        fake.patches().is_empty(),
        "only valid quantities are recorded"
    );
}

#[test]
fn set_quantity_is_seen_but_is_not_a_patch() {
    let fake = start_fake(2);
    fake.set_quantity(7);
    assert_eq!(fake.quantity(), 7);
    assert_eq!(
        get(&fake, "/apps/my-app/formation/web").json()["quantity"],
        7
    );
    assert!(fake.patches().is_empty());
}

#[test]
fn fail_next_fails_that_many_requests_then_recovers() {
    let fake = start_fake(2);
    fake.fail_next(2, Failure::server_error());
    assert_error(&get(&fake, "/apps/my-app"), 500, "internal_server_error");
    assert_error(
        &patch(&fake, r#"{"quantity":4}"#),
        500,
        "internal_server_error",
    );
    assert_eq!(get(&fake, "/apps/my-app").status, 200);
    assert_eq!(
        fake.patches(),
        vec![4],
        "a PATCH answered with a failure is in patches()"
    );
    assert!(fake.patches_applied().is_empty());
    assert_eq!(fake.quantity(), 2);
}

#[test]
fn failures_apply_in_the_order_added_and_clear() {
    let fake = start_fake(2);
    fake.fail_next(1, Failure::unauthorized());
    fake.fail_always(Failure::service_unavailable());
    assert_error(&get(&fake, "/apps/my-app"), 401, "unauthorized");
    assert_error(&get(&fake, "/apps/my-app"), 503, "service_unavailable");
    assert_error(&get(&fake, "/apps/my-app"), 503, "service_unavailable");
    fake.clear_failures();
    assert_eq!(get(&fake, "/apps/my-app").status, 200);
    // A request with a wrong key is answered 401 without using up an injected failure.
    fake.fail_next(1, Failure::forbidden());
    let bad_key = request(
        &fake.url(),
        "GET",
        "/apps/my-app",
        &[("Accept", HEROKU_ACCEPT)],
        "",
    );
    assert_error(&bad_key, 401, "unauthorized");
    assert_error(&get(&fake, "/apps/my-app"), 403, "forbidden");
}

#[test]
fn patch_only_failures_leave_gets_working() {
    let fake = start_fake(2);
    fake.fail_patches_always(Failure::rate_limited());
    assert_eq!(get(&fake, "/apps/my-app/formation/web").status, 200);
    let limited = patch(&fake, r#"{"quantity":3}"#);
    let message = assert_error(&limited, 429, "rate_limit");
    assert!(message.starts_with("Your account reached the API rate limit"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        limited
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("ratelimit-remaining"))
            .count(),
        1,
        "the failure's header replaces the default one"
    );
    fake.clear_failures();
    fake.fail_patches_next(1, Failure::cannot_run_above_limit());
    let message = assert_error(
        &patch(&fake, r#"{"quantity":3}"#),
        422,
        "cannot_run_above_limit",
    );
    assert!(message.contains("Cannot update to more than"), "{message}");
    assert_eq!(patch(&fake, r#"{"quantity":3}"#).status, 200);
    assert_eq!(fake.patches(), vec![3, 3, 3]);
    assert_eq!(fake.patches_applied(), vec![3]);
}

#[test]
fn quantity_limit_and_rate_limit_header_are_settable() {
    let fake = start_fake(2);
    fake.set_quantity_limit(Some(4));
    let message = assert_error(
        &patch(&fake, r#"{"quantity":5}"#),
        422,
        "cannot_run_above_limit",
    );
    assert!(message.contains("more than 4 "), "{message}");
    assert_eq!(patch(&fake, r#"{"quantity":4}"#).status, 200);
    fake.set_rate_limit_remaining(12);
    assert_eq!(
        get(&fake, "/apps/my-app").header("ratelimit-remaining"),
        Some("12")
    );
}

#[test]
fn set_delay_delays_answers_but_records_arrival_at_once() {
    let fake = start_fake(2);
    fake.set_delay(Duration::from_millis(600));
    std::thread::scope(|scope| {
        let started = Instant::now();
        let slow = scope.spawn(|| get(&fake, "/apps/my-app"));
        assert!(support::wait_until(TIMEOUT, || fake.requests().len() == 1));
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "recorded before answered"
        );
        assert_eq!(slow.join().unwrap().status, 200);
        assert!(started.elapsed() >= Duration::from_millis(600));
    });
    fake.set_delay(Duration::ZERO);
    fake.set_patch_delay(Duration::from_millis(600));
    let started = Instant::now();
    get(&fake, "/apps/my-app");
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "patch delay spares GETs"
    );
    patch(&fake, r#"{"quantity":1}"#);
    assert!(started.elapsed() >= Duration::from_millis(600));
}

#[test]
fn concurrent_patches_are_counted() {
    let fake = start_fake(2);
    fake.set_patch_delay(Duration::from_secs(1));
    std::thread::scope(|scope| {
        let calls: Vec<_> = (3..6)
            .map(|q| {
                let fake = &fake;
                scope.spawn(move || patch(fake, &format!(r#"{{"quantity":{q}}}"#)))
            })
            .collect();
        assert!(support::wait_until(TIMEOUT, || fake.patches_in_flight() == 3));
        for call in calls {
            assert_eq!(call.join().unwrap().status, 200);
        }
    });
    assert_eq!(fake.max_concurrent_patches(), 3);
    assert_eq!(fake.patches_in_flight(), 0);
    let mut patched = fake.patches();
    patched.sort();
    assert_eq!(patched, vec![3, 4, 5]);

    let sequential = start_fake(2);
    sequential.set_patch_delay(Duration::from_millis(50));
    for q in 3..6 {
        patch(&sequential, &format!(r#"{{"quantity":{q}}}"#));
    }
    assert_eq!(sequential.max_concurrent_patches(), 1);
    assert_eq!(sequential.patches(), vec![3, 4, 5]);
    assert_eq!(sequential.quantity(), 5);
}

#[test]
fn a_patch_abandoned_during_the_delay_is_not_applied() {
    let fake = start_fake(2);
    fake.set_delay(Duration::from_millis(1500));
    let mut stream = connect(&fake.url());
    write_request(
        &mut stream,
        "PATCH",
        "/apps/my-app/formation/web",
        &[
            ("Authorization", &format!("Bearer {KEY}")),
            ("Accept", HEROKU_ACCEPT),
        ],
        r#"{"quantity":9}"#,
    );
    assert!(support::wait_until(TIMEOUT, || fake.patches_in_flight() == 1));
    drop(stream); // the client times out and goes away
    assert!(
        support::wait_until(Duration::from_secs(1), || fake.patches_in_flight() == 0),
        "the server noticed the client left"
    );
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(fake.patches(), vec![9]);
    assert!(fake.patches_applied().is_empty());
    assert_eq!(fake.quantity(), 2);
}

#[test]
fn wait_helpers_see_changes() {
    let fake = start_fake(2);
    assert!(!fake.wait_for_quantity(3, Duration::from_millis(50)));
    patch(&fake, r#"{"quantity":3}"#);
    assert!(fake.wait_for_quantity(3, TIMEOUT));
    assert!(fake.wait_for_patches(1, TIMEOUT));
    assert!(!fake.wait_for_patches(2, Duration::from_millis(50)));
}

#[test]
fn dropping_the_fake_stops_it_even_with_a_hung_request() {
    let fake = start_fake(2);
    let url = fake.url();
    fake.set_delay(Duration::from_secs(3600));
    let mut hung = connect(&url);
    write_request(&mut hung, "GET", "/apps/my-app", &[], "");
    assert!(support::wait_until(TIMEOUT, || fake.requests().len() == 1));
    let started = Instant::now();
    drop(fake);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        started.elapsed()
    );
    let authority = url.strip_prefix("http://").unwrap();
    assert!(
        TcpStream::connect(authority).is_err(),
        "still listening after drop"
    );
}

#[actix_rt::test]
async fn fakes_work_inside_an_actix_runtime() {
    let fake = start_fake(2);
    let app = FakeApp::start();
    // The fakes live on their own threads, so even a blocking client does not stall them.
    assert_eq!(get(&fake, "/apps/my-app").status, 200);
    assert_eq!(
        request(
            &app.url(),
            "GET",
            support::fake_app::HEARTBEAT_PATH,
            &[],
            ""
        )
        .status,
        200
    );
    patch(&fake, r#"{"quantity":4}"#);
    assert!(support::wait_until_async(TIMEOUT, || fake.quantity() == 4).await);
}

// ---------------------------------------------------------------------------------------------
// FakeHeroku: several process types, the formation list and the batch update

fn batch(fake: &FakeHeroku, body: &str) -> Response {
    heroku(fake, "PATCH", "/apps/my-app/formation", body)
}

fn list_formations(fake: &FakeHeroku) -> Vec<Value> {
    let response = get(fake, "/apps/my-app/formation");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json().as_array().expect("an array").clone()
}

/// `(type, quantity)` of each formation object.
fn types_and_quantities(formations: &[Value]) -> Vec<(String, u64)> {
    formations
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap().to_string(),
                f["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(batch: &[(&str, u32)]) -> Vec<(String, u32)> {
    batch.iter().map(|(t, q)| (t.to_string(), *q)).collect()
}

fn dyno_names(fake: &FakeHeroku) -> Vec<String> {
    let response = get(fake, "/apps/my-app/dynos");
    assert_eq!(response.status, 200, "{}", response.body);
    let dynos = response.json();
    dynos
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let name = d["name"].as_str().unwrap();
            assert!(name.starts_with(&format!("{}.", d["type"].as_str().unwrap())));
            name.to_string()
        })
        .collect()
}

#[test]
fn formation_list_has_the_main_type_first_then_the_others_by_name() {
    let fake = start_fake(2);
    let alone = list_formations(&fake);
    assert_eq!(types_and_quantities(&alone), [("web".to_string(), 2)]);
    assert_eq!(alone[0], get(&fake, "/apps/my-app/formation/web").json());

    fake.set_process_quantity("worker", 3);
    fake.set_process_quantity("clock", 1);
    let list = list_formations(&fake);
    assert_eq!(
        types_and_quantities(&list),
        [
            ("web".to_string(), 2),
            ("clock".to_string(), 1),
            ("worker".to_string(), 3)
        ]
    );
    // Each element is the very object the single GET answers, for the main type and the others.
    for formation in &list {
        let kind = formation["type"].as_str().unwrap();
        let single = get(&fake, &format!("/apps/my-app/formation/{kind}"));
        assert_eq!(single.status, 200, "{}", single.body);
        assert_eq!(&single.json(), formation);
        assert_eq!(formation["app"]["id"], fake.app_id());
        assert_eq!(formation["size"], "standard-1X");
        assert!(formation["command"].is_string());
        assert!(is_timestamp(&formation["updated_at"]));
        assert!(is_uuid_shaped(formation["id"].as_str().unwrap()));
        // The formation id is an identity too.
        let by_id = get(
            &fake,
            &format!(
                "/apps/my-app/formation/{}",
                formation["id"].as_str().unwrap()
            ),
        );
        assert_eq!(by_id.json()["type"], kind);
    }
    let mut ids: Vec<&str> = list.iter().map(|f| f["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one id per type");
    assert_ne!(list[0]["command"], list[2]["command"]);
    assert_error(&get(&fake, "/apps/other-app/formation"), 404, "not_found");

    assert_eq!(fake.process_quantity("web"), Some(2));
    assert_eq!(fake.process_quantity("worker"), Some(3));
    assert_eq!(fake.process_quantity("urgent"), None);
    // The main type through set_process_quantity is set_quantity: not a PATCH either.
    fake.set_process_quantity("web", 5);
    assert_eq!(fake.quantity(), 5);
    assert_eq!(list_formations(&fake)[0]["quantity"], 5);
    assert!(fake.patches().is_empty() && fake.batch_patches().is_empty());
    assert!(fake.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn the_dyno_list_follows_every_process_type() {
    let fake = start_fake(2);
    // Until another type is set, a lone worker.1 stands in for them.
    assert_eq!(dyno_names(&fake), ["web.1", "web.2", "worker.1"]);
    fake.set_process_quantity("worker", 2);
    fake.set_process_quantity("clock", 1);
    assert_eq!(
        dyno_names(&fake),
        ["web.1", "web.2", "clock.1", "worker.1", "worker.2"]
    );
    fake.set_process_quantity("worker", 0);
    fake.set_process_quantity("clock", 0);
    assert_eq!(dyno_names(&fake), ["web.1", "web.2"]);

    // Main-type dynos a batch adds boot like those a single PATCH adds; the others are up at once.
    fake.set_boot_time(Duration::from_secs(3600));
    let response = batch(
        &fake,
        r#"{"updates":[{"type":"web","quantity":3},{"type":"worker","quantity":1}]}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let dynos = get(&fake, "/apps/my-app/dynos").json();
    let states: Vec<(&str, &str)> = dynos
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("web.1", "up"),
            ("web.2", "up"),
            ("web.3", "starting"),
            ("worker.1", "up")
        ]
    );
}

#[test]
fn a_batch_patch_applies_every_update_and_answers_them_in_order() {
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    fake.set_process_quantity("clock", 1);
    let worker_id = list_formations(&fake)[2]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = format!(
        r#"{{"updates":[{{"type":"{worker_id}","quantity":4}},{{"type":"web","quantity":3}},{{"type":"clock"}}]}}"#
    );
    let response = batch(&fake, &body);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let answered = response.json().as_array().unwrap().clone();
    assert_eq!(
        types_and_quantities(&answered),
        [
            ("worker".to_string(), 4),
            ("web".to_string(), 3),
            ("clock".to_string(), 1)
        ],
        "only the types named, in the order given, as they are now"
    );
    assert_eq!(answered[0]["id"], worker_id);
    assert_eq!(fake.process_quantity("worker"), Some(4));
    assert_eq!(fake.quantity(), 3);
    assert_eq!(fake.process_quantity("clock"), Some(1));
    assert_eq!(
        types_and_quantities(&list_formations(&fake)),
        [
            ("web".to_string(), 3),
            ("clock".to_string(), 1),
            ("worker".to_string(), 4)
        ]
    );
    // Types as sent; the update without a quantity left out.
    assert_eq!(
        fake.batch_patches(),
        [pairs(&[(worker_id.as_str(), 4), ("web", 3)])]
    );
    // patches() and patches_applied() stay about single PATCHes.
    assert!(fake.patches().is_empty());
    assert!(fake.patches_applied().is_empty());
    assert_eq!(fake.max_concurrent_patches(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "a list, the batch, a list");
    assert_eq!(requests[1].method, "PATCH");
    assert_eq!(requests[1].path, "/apps/my-app/formation");
    assert_eq!(requests[1].body, body);

    // The app's id works in the path; an empty batch changes nothing and is recorded as it came.
    let by_app_id = heroku(
        &fake,
        "PATCH",
        &format!("/apps/{}/formation", fake.app_id()),
        r#"{"updates":[{"type":"clock","quantity":0}]}"#,
    );
    assert_eq!(by_app_id.status, 200, "{}", by_app_id.body);
    assert_eq!(fake.process_quantity("clock"), Some(0));
    let empty = batch(&fake, r#"{"updates":[]}"#);
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.json(), serde_json::json!([]));
    assert_eq!(fake.batch_patches().len(), 3);
    assert_eq!(fake.batch_patches()[2], []);
    assert!(!fake.wait_for_process_quantity("worker", 5, Duration::from_millis(50)));
    assert!(fake.wait_for_process_quantity("worker", 4, TIMEOUT));
}

#[test]
fn a_single_patch_scales_another_type_without_counting_as_a_main_type_patch() {
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    let response = heroku(
        &fake,
        "PATCH",
        "/apps/my-app/formation/worker",
        r#"{"quantity":3}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["type"], "worker");
    assert_eq!(response.json()["quantity"], 3);
    assert_eq!(fake.process_quantity("worker"), Some(3));
    assert_eq!(fake.quantity(), 2);
    assert!(fake.patches().is_empty());
    assert!(fake.patches_applied().is_empty());
    assert_eq!(patch(&fake, r#"{"quantity":1}"#).status, 200);
    assert_eq!(fake.patches(), [1]);
    assert_eq!(fake.patches_applied(), [1]);
}

#[test]
fn a_batch_with_an_unknown_type_or_app_is_404_and_applies_nothing() {
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    let message = assert_error(
        &batch(
            &fake,
            r#"{"updates":[{"type":"web","quantity":3},{"type":"worker","quantity":5},{"type":"urgent","quantity":1}]}"#,
        ),
        404,
        "not_found",
    );
    assert_eq!(message, "Couldn't find that formation.");
    assert_eq!(fake.quantity(), 2);
    assert_eq!(fake.process_quantity("worker"), Some(1));
    assert_eq!(fake.process_quantity("urgent"), None);
    // Received all the same.
    assert_eq!(
        fake.batch_patches(),
        [pairs(&[("web", 3), ("worker", 5), ("urgent", 1)])]
    );

    let message = assert_error(
        &heroku(
            &fake,
            "PATCH",
            "/apps/other-app/formation",
            r#"{"updates":[{"type":"worker","quantity":5}]}"#,
        ),
        404,
        "not_found",
    );
    assert_eq!(message, "Couldn't find that app.");
    assert_eq!(fake.process_quantity("worker"), Some(1));
}

#[test]
fn invalid_batch_bodies_are_422_and_apply_nothing() {
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    for body in [
        "",
        "not json",
        r#"[{"type":"worker","quantity":2}]"#,
        "{}",
        r#"{"quantity":2}"#,
        r#"{"updates":{"type":"worker","quantity":2}}"#,
        r#"{"updates":"worker"}"#,
        r#"{"updates":null}"#,
        r#"{"updates":["worker"]}"#,
        r#"{"updates":[{"quantity":2}]}"#,
        r#"{"updates":[{"type":7,"quantity":2}]}"#,
        r#"{"updates":[{"type":"worker","quantity":-1}]}"#,
        r#"{"updates":[{"type":"worker","quantity":1.5}]}"#,
        r#"{"updates":[{"type":"worker","quantity":"2"}]}"#,
        r#"{"updates":[{"type":"worker","quantity":null}]}"#,
        r#"{"updates":[{"type":"worker","quantity":99999999999}]}"#,
        // One bad update spoils the whole batch.
        r#"{"updates":[{"type":"web","quantity":3},{"type":"worker","quantity":-2}]}"#,
    ] {
        let message = assert_error(&batch(&fake, body), 422, "invalid_params");
        assert!(
            message.starts_with("Invalid params: "),
            "body {body:?}: {message}"
        );
    }
    assert_eq!(fake.quantity(), 2);
    assert_eq!(fake.process_quantity("worker"), Some(1));
    assert!(
        fake.batch_patches().is_empty(),
        "only valid batches are recorded"
    );
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
}

#[test]
fn the_quantity_limit_applies_to_every_update_of_a_batch() {
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    fake.set_quantity_limit(Some(4));
    let message = assert_error(
        &batch(
            &fake,
            r#"{"updates":[{"type":"worker","quantity":2},{"type":"web","quantity":5}]}"#,
        ),
        422,
        "cannot_run_above_limit",
    );
    assert!(message.contains("more than 4 "), "{message}");
    assert_eq!(fake.process_quantity("worker"), Some(1), "nothing applied");
    assert_eq!(fake.quantity(), 2);
    let response = batch(
        &fake,
        r#"{"updates":[{"type":"worker","quantity":4},{"type":"web","quantity":4}]}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(fake.process_quantity("worker"), Some(4));
    assert_eq!(fake.quantity(), 4);
    assert_eq!(fake.batch_patches().len(), 2);
}

#[test]
fn failures_override_and_corruptions_apply_to_batches_and_lists() {
    use support::fake_heroku::Corruption;
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    let body = r#"{"updates":[{"type":"worker","quantity":3},{"type":"web","quantity":3}]}"#;
    fake.fail_patches_next(1, Failure::service_unavailable());
    assert_error(&batch(&fake, body), 503, "service_unavailable");
    assert_eq!(fake.process_quantity("worker"), Some(1));
    assert_eq!(fake.quantity(), 2);
    // PATCH-only failures leave the list readable; GET failures hit it.
    fake.fail_patches_next(1, Failure::service_unavailable());
    assert_eq!(list_formations(&fake).len(), 2);
    assert_error(&batch(&fake, body), 503, "service_unavailable");
    fake.fail_next(1, Failure::server_error());
    assert_error(
        &get(&fake, "/apps/my-app/formation"),
        500,
        "internal_server_error",
    );
    assert_eq!(
        fake.batch_patches().len(),
        2,
        "refused batches are received"
    );

    // The override is about the main type: the other keeps what it was asked.
    fake.set_patch_quantity_override(Some(5));
    let answered = batch(&fake, body).json();
    assert_eq!(
        types_and_quantities(answered.as_array().unwrap()),
        [("worker".to_string(), 3), ("web".to_string(), 5)]
    );
    assert_eq!(fake.quantity(), 5);
    fake.set_patch_quantity_override(None);

    fake.corrupt_next(1, Corruption::NegativeQuantity);
    let spoiled = get(&fake, "/apps/my-app/formation").json();
    assert_eq!(spoiled[0]["quantity"], -1);
    assert_eq!(spoiled[1]["quantity"], 3);
    fake.corrupt_next(1, Corruption::OtherProcessType("urgent"));
    let spoiled = batch(&fake, r#"{"updates":[{"type":"web","quantity":1}]}"#).json();
    assert_eq!(spoiled[0]["type"], "urgent");
    assert_eq!(spoiled[0]["quantity"], 9);
    assert_eq!(fake.quantity(), 1, "the batch itself was applied");
    fake.corrupt_next(1, Corruption::NegativeQuantity);
    assert_eq!(get(&fake, "/apps/my-app/dynos").status, 200);
    assert_eq!(
        get(&fake, "/apps/my-app").status,
        200,
        "the fake still serves"
    );
}

#[test]
fn batches_wait_out_the_patch_delay_and_count_as_one_patch_in_flight() {
    let fake = start_fake(2);
    fake.set_process_quantity("worker", 1);
    fake.set_patch_delay(Duration::from_millis(3000));
    let started = Instant::now();
    assert_eq!(list_formations(&fake).len(), 2);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the patch delay spares GETs"
    );
    std::thread::scope(|scope| {
        let calls: Vec<_> = (2..4)
            .map(|q| {
                let fake = &fake;
                scope.spawn(move || {
                    batch(
                        fake,
                        &format!(
                            r#"{{"updates":[{{"type":"worker","quantity":{q}}},{{"type":"web","quantity":{q}}}]}}"#
                        ),
                    )
                })
            })
            .collect();
        assert!(support::wait_until(TIMEOUT, || fake.patches_in_flight() == 2));
        assert_eq!(fake.batch_patches().len(), 2, "recorded on arrival");
        assert_eq!(
            fake.process_quantity("worker"),
            Some(1),
            "applied after the delay"
        );
        for call in calls {
            assert_eq!(call.join().unwrap().status, 200);
        }
    });
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(fake.max_concurrent_patches(), 2);
    assert_eq!(fake.patches_in_flight(), 0);
    let mut batches = fake.batch_patches();
    batches.sort();
    assert_eq!(
        batches,
        [
            pairs(&[("worker", 2), ("web", 2)]),
            pairs(&[("worker", 3), ("web", 3)])
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// FakeApp

#[test]
fn fake_app_answers_every_path_and_records_hits() {
    let app = FakeApp::start();
    assert!(app.heartbeat_url().starts_with(&app.url()));
    assert!(app
        .heartbeat_url()
        .ends_with("/heroku-autoscale/heartbeat/v1"));
    let before = Instant::now();
    let response = request(&app.url(), "GET", "/heroku-autoscale/heartbeat/v1", &[], "");
    assert_eq!(response.status, 200);
    assert_eq!(
        request(&app.url(), "GET", "/custom/path?x=1", &[], "").status,
        200
    );
    assert_eq!(request(&app.url(), "POST", "/", &[], "x").status, 200);
    assert_eq!(app.hits(), 3);
    assert_eq!(
        app.paths(),
        vec!["/heroku-autoscale/heartbeat/v1", "/custom/path", "/"]
    );
    assert_eq!(app.methods(), vec!["GET", "GET", "POST"]);
    let times = app.hit_times();
    assert!(before <= times[0] && times[0] <= times[1] && times[1] <= times[2]);
    assert!(app.wait_for_hits(3, TIMEOUT));
    assert!(!app.wait_for_hits(4, Duration::from_millis(50)));
}

#[test]
fn fake_app_status_and_latency_are_controlled() {
    let app = FakeApp::start();
    app.set_status(503);
    assert_eq!(request(&app.url(), "GET", "/", &[], "").status, 503);
    app.set_status(200);
    app.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(request(&app.url(), "GET", "/", &[], "").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_hung_heartbeat_does_not_block_later_ones() {
    let app = FakeApp::start();
    app.set_latency(Duration::from_secs(3600));
    let mut hung = connect(&app.url());
    write_request(&mut hung, "GET", "/heroku-autoscale/heartbeat/v1", &[], "");
    assert!(app.wait_for_hits(1, TIMEOUT));
    hung.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        hung.read(&mut [0; 16]).is_err(),
        "the hung request got no answer"
    );

    app.set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(request(&app.url(), "GET", "/", &[], "").status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(app.in_flight(), 1, "the hung one still waits");
    assert_eq!(app.max_in_flight(), 2);
    assert_eq!(app.hits(), 2);

    let started = Instant::now();
    drop(app);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Faults for tests/faults.rs and tests/soak.rs: spoiled API answers, huge and endless bodies,
// raw TCP misbehaviour.

/// Sends a request and reads at most `limit` bytes of the raw answer (head and body), for
/// answers the minimal client cannot read to the end (chunked, endless, not HTTP).
fn raw_exchange(base_url: &str, method: &str, path: &str, body: &str, limit: usize) -> Vec<u8> {
    let mut stream = connect(base_url);
    let auth = format!("Bearer {KEY}");
    let headers = [("Authorization", auth.as_str()), ("Accept", HEROKU_ACCEPT)];
    write_request(&mut stream, method, path, &headers, body);
    let mut raw = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    while raw.len() < limit {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => raw.extend_from_slice(&buffer[..read]),
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    raw
}

#[test]
fn corruptions_spoil_the_answer_after_the_request_is_carried_out() {
    use support::fake_heroku::Corruption;
    let fake = start_fake(2);
    fake.corrupt_next(1, Corruption::NotJson);
    let response = patch(&fake, r#"{"quantity":3}"#);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(serde_json::from_str::<Value>(&response.body).is_err());
    assert_eq!(fake.quantity(), 3, "the PATCH itself was applied");
    assert_eq!(fake.patches_applied(), vec![3]);
    assert_eq!(
        get(&fake, "/apps/my-app/formation/web").json()["quantity"],
        3
    );

    fake.corrupt_next(1, Corruption::WrongShape);
    let shape = get(&fake, "/apps/my-app/formation/web").json();
    assert_eq!(shape["quantity"], "two");
    assert!(shape.get("type").is_none());

    fake.corrupt_next(1, Corruption::NegativeQuantity);
    let negative = get(&fake, "/apps/my-app/formation/web").json();
    assert_eq!(negative["quantity"], -1);
    assert_eq!(negative["type"], "web");

    // Errors are not spoiled; a spoiling waits for the next 200.
    fake.fail_next(1, Failure::server_error());
    fake.corrupt_always(Corruption::NotJson);
    assert_error(&get(&fake, "/apps/my-app"), 500, "internal_server_error");
    for _ in 0..2 {
        assert_eq!(
            get(&fake, "/apps/my-app").header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }
    fake.clear_failures();
    assert_eq!(get(&fake, "/apps/my-app").json()["name"], "my-app");
}

#[test]
fn an_endless_api_body_goes_on_until_the_client_hangs_up() {
    use support::fake_heroku::Corruption;
    let fake = start_fake(2);
    fake.corrupt_next(1, Corruption::EndlessBody);
    let raw = raw_exchange(
        &fake.url(),
        "GET",
        "/apps/my-app/formation/web",
        "",
        1 << 20,
    );
    assert!(raw.len() >= 1 << 20, "{} bytes", raw.len());
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{}", &text[..80]);
    assert!(text.contains(r#"{"quantity": 1, "padding": ""#));
    // The fake goes on serving others meanwhile, and normally again.
    assert_eq!(
        get(&fake, "/apps/my-app/formation/web").json()["quantity"],
        2
    );
}

#[test]
fn a_patch_can_be_made_to_set_another_quantity() {
    let fake = start_fake(2);
    fake.set_patch_quantity_override(Some(5));
    let response = patch(&fake, r#"{"quantity":3}"#);
    assert_eq!(response.json()["quantity"], 5);
    assert_eq!(fake.patches(), vec![3]);
    assert_eq!(fake.patches_applied(), vec![5]);
    assert_eq!(fake.quantity(), 5);
    fake.set_patch_quantity_override(None);
    assert_eq!(patch(&fake, r#"{"quantity":1}"#).json()["quantity"], 1);
}

#[test]
fn fake_app_bodies_can_be_huge_or_endless_and_are_counted_as_read() {
    use support::fake_app::AppBody;
    let app = FakeApp::start();
    app.set_body(AppBody::Huge(100_000));
    let raw = raw_exchange(&app.url(), "GET", "/", "", usize::MAX);
    assert!(raw.len() > 100_000, "{} bytes", raw.len());
    assert!(String::from_utf8_lossy(&raw[..20]).starts_with("HTTP/1.1 200 OK"));
    assert_eq!(app.body_bytes_sent(), 100_000);

    app.set_body(AppBody::Endless);
    let raw = raw_exchange(&app.url(), "GET", "/", "", 2 << 20);
    assert!(raw.len() >= 2 << 20);
    // The client hung up: the app stops producing soon after (only socket buffers' worth more).
    std::thread::sleep(Duration::from_millis(500));
    let after_hang_up = app.body_bytes_sent();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app.body_bytes_sent(), after_hang_up);
    assert!(after_hang_up < 100_000 + (64 << 20), "{after_hang_up}");

    app.set_body(AppBody::Short);
    assert_eq!(request(&app.url(), "GET", "/", &[], "").body, "200 OK\n");
}

#[test]
fn raw_tcp_resets_closes_garbles_or_answers() {
    use std::io::ErrorKind;
    use support::raw_tcp::{RawMode, RawTcp};
    let server = RawTcp::start(RawMode::Reset);
    let exchange = |server: &RawTcp| {
        let mut stream = connect(&server.url());
        write_request(&mut stream, "GET", "/", &[], "");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map(|_| raw)
    };
    let reset = exchange(&server).expect_err("a reset is an error");
    assert_eq!(reset.kind(), ErrorKind::ConnectionReset, "{reset}");

    server.set_mode(RawMode::CloseWithoutAnswer);
    assert_eq!(exchange(&server).expect("a clean close"), b"");

    server.set_mode(RawMode::Garbage);
    let garbage = exchange(&server).expect("garbage, then a clean close");
    assert!(!garbage.is_empty() && !garbage.starts_with(b"HTTP/"));

    server.set_mode(RawMode::Ok);
    let ok = exchange(&server).expect("an answer");
    assert!(ok.starts_with(b"HTTP/1.1 200 OK\r\n"), "{ok:?}");
    assert!(ok.ends_with(b"\r\n\r\nok\n"));
    assert_eq!(server.connections(), 4);
}

// ---------------------------------------------------------------------------------------------
// FakeApp: the HireFire queue document

fn get_queue(app: &FakeApp) -> Response {
    request(&app.url(), "GET", &FakeApp::queue_path(), &[], "")
}

/// The body of a raw `Transfer-Encoding: chunked` answer.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut rest = &raw[head_end..];
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
}

#[test]
fn the_queue_document_comes_in_both_formats() {
    use support::fake_app::{QueueBody, QUEUE_TOKEN};
    let app = FakeApp::start();
    assert_eq!(
        FakeApp::queue_path(),
        format!("/hirefire/{QUEUE_TOKEN}/info")
    );
    assert_eq!(
        app.queue_url(),
        format!("{}/hirefire/hf-token-5f2a9c/info", app.url())
    );

    let empty = get_queue(&app);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.header("content-type"), Some("application/json"));
    assert_eq!(empty.body, "[]");

    app.set_queue(&[("worker", 12), ("urgent_worker", 0)]);
    let current = get_queue(&app);
    assert_eq!(current.status, 200);
    assert_eq!(current.header("content-type"), Some("application/json"));
    assert_eq!(
        current.json(),
        serde_json::json!([
            { "name": "worker", "value": 12 },
            { "name": "urgent_worker", "value": 0 }
        ])
    );

    app.set_queue_body(QueueBody::LegacyQuantity(vec![
        ("worker".into(), 7),
        ("mailer".into(), -1),
    ]));
    let legacy = get_queue(&app);
    assert_eq!(legacy.header("content-type"), Some("application/json"));
    assert_eq!(
        legacy.json(),
        serde_json::json!([
            { "name": "worker", "quantity": 7 },
            { "name": "mailer", "quantity": -1 }
        ])
    );

    let exact = r#"[ {"name":"worker","value":3, "extra":true} ]"#;
    app.set_queue_body(QueueBody::Json(exact.into()));
    let text = get_queue(&app);
    assert_eq!(text.body, exact);
    assert_eq!(text.header("content-type"), Some("application/json"));
    assert_eq!(app.queue_hits(), 4);
}

#[test]
fn the_queue_document_can_fail_in_every_way() {
    use support::fake_app::{QueueBody, HUGE_QUEUE_BYTES};
    let app = FakeApp::start();
    app.set_queue_body(QueueBody::Status(503));
    let unavailable = get_queue(&app);
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.body, "503 Service Unavailable\n");

    app.set_queue_body(QueueBody::NotJson);
    let html = get_queue(&app);
    assert_eq!(html.status, 200);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(html.body, "<html>oops</html>");

    app.set_queue_body(QueueBody::Huge);
    let raw = raw_exchange(&app.url(), "GET", &FakeApp::queue_path(), "", usize::MAX);
    assert!(String::from_utf8_lossy(&raw[..20]).starts_with("HTTP/1.1 200 OK"));
    assert!(String::from_utf8_lossy(&raw[..200])
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let huge = dechunk(&raw);
    assert_eq!(huge.len(), HUGE_QUEUE_BYTES);
    assert_eq!(HUGE_QUEUE_BYTES, 10 << 20);
    let document: Value = serde_json::from_slice(&huge).expect("valid JSON to the end");
    let entries = document.as_array().unwrap();
    assert!(entries.len() > 300_000, "{} entries", entries.len());
    assert_eq!(
        entries[0],
        serde_json::json!({ "name": "worker", "value": 1 })
    );
    assert_eq!(app.queue_bytes_sent(), HUGE_QUEUE_BYTES as u64);

    // Slow keeps the document it delays; setting another one ends the delay.
    app.set_queue(&[("worker", 3)]);
    app.set_queue_body(QueueBody::Slow(Duration::from_millis(2000)));
    let started = Instant::now();
    let slow = get_queue(&app);
    assert!(started.elapsed() >= Duration::from_millis(2000));
    assert_eq!(
        slow.json(),
        serde_json::json!([{ "name": "worker", "value": 3 }])
    );
    app.set_queue(&[("worker", 4)]);
    let started = Instant::now();
    assert_eq!(get_queue(&app).json()[0]["value"], 4);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(app.hits(), 0);
}

#[test]
fn the_queue_token_matters_and_queue_requests_are_not_heartbeats() {
    let app = FakeApp::start();
    app.set_queue(&[("worker", 2)]);
    // The heartbeat's settings do not reach the queue document.
    app.set_status(503);
    app.set_latency(Duration::from_millis(2000));
    app.require_basic_auth(Some(("user", "secret")));
    app.redirect(&FakeApp::queue_path(), "/elsewhere");
    let started = Instant::now();
    let queue = get_queue(&app);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(queue.status, 200);
    assert_eq!(queue.json()[0]["value"], 2);

    let wrong = request(&app.url(), "GET", "/hirefire/not-the-token/info", &[], "");
    assert_eq!(wrong.status, 404);
    assert!(!wrong.body.contains("worker"), "{}", wrong.body);
    let wrong_end = request(
        &app.url(),
        "GET",
        "/hirefire/hf-token-5f2a9c/other?x=1",
        &[],
        "",
    );
    assert_eq!(wrong_end.status, 404);

    assert_eq!(app.hits(), 0);
    assert!(app.paths().is_empty());
    assert_eq!(app.queue_hits(), 3);
    assert_eq!(
        app.queue_paths(),
        [
            FakeApp::queue_path(),
            "/hirefire/not-the-token/info".to_string(),
            "/hirefire/hf-token-5f2a9c/other".to_string()
        ]
    );

    app.require_basic_auth(None);
    app.set_latency(Duration::ZERO);
    let beat = request(
        &app.url(),
        "GET",
        support::fake_app::HEARTBEAT_PATH,
        &[],
        "",
    );
    assert_eq!(beat.status, 503);
    assert_eq!(app.hits(), 1);
    assert_eq!(app.paths(), [support::fake_app::HEARTBEAT_PATH]);
    assert_eq!(app.queue_hits(), 3);
}
