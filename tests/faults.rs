//! Fault injection: the real binary against the fakes, one test per fault the worker must
//! survive (issue 4). Each test shows that the worker keeps running (or exits as designed),
//! never sends a PATCH outside [min, max], never has two PATCHes in flight, does not hammer the
//! API after an error, and logs a line that says what is wrong.
//!
//! Intervals are short (a beat every 0.2 s, judged slow at 150 ms) and every wait is generous,
//! because the machine running the suite is small and shared. What is the worker's own decision
//! or timing rather than the wire (each actor's restart after repeated panics, say) is tested
//! in-process on paused time in tests/actors.rs.

mod support;

use std::time::{Duration, Instant};

use support::fake_app::AppBody;
use support::fake_heroku::Corruption;
use support::raw_tcp::{RawMode, RawTcp};
use support::{Failure, FakeApp, FakeHeroku, SmtpSink, WorkerProcess};

const KEY: &str = "faults-key-Q7xv3Lr9w2";
const APP: &str = "acme-shop";
const MIN: u32 = 1;
const MAX: u32 = 3;
/// Time for anything the worker should do within a few heartbeats.
const SOON: Duration = Duration::from_secs(10);
/// How long a clean stop may take (Heroku kills at 30 s; we promise a few seconds).
const STOP: Duration = Duration::from_secs(5);
/// The heartbeat interval.
const BEAT: Duration = Duration::from_millis(200);
/// Judged slow: the probe gives up at 150 ms.
const SLOW: Duration = Duration::from_millis(600);
/// An app that never answers.
const HANG: Duration = Duration::from_secs(3600);
/// The window over which API requests are counted after an error that must be backed off for
/// a minute: at least seven heartbeats.
const WINDOW: Duration = Duration::from_millis(1500);

/// The fake app and API, and the environment that points the real binary at them: a beat every
/// 0.2 s, slow above 150 ms, fast below 50 ms, two in a row to act, 1 to 3 dynos.
struct Rig {
    app: FakeApp,
    api: FakeHeroku,
    key: &'static str,
}

impl Rig {
    fn new(quantity: u32) -> Rig {
        Rig::with_key(quantity, KEY)
    }

    fn with_key(quantity: u32, key: &'static str) -> Rig {
        let (app, api) = support::fake_app_and_api(APP, key, quantity);
        Rig { app, api, key }
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("AUTOSCALE_HEROKU_APP_NAME", APP.to_string()),
            ("AUTOSCALE_HEROKU_API_KEY", self.key.to_string()),
            ("AUTOSCALE_HEROKU_API_URL", self.api.url()),
            ("AUTOSCALE_HEARTBEAT_URL", self.app.heartbeat_url()),
            ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2".into()),
            ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "150".into()),
            ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "50".into()),
            ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2".into()),
            ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "2".into()),
            ("AUTOSCALE_MIN_DYNOS", MIN.to_string()),
            ("AUTOSCALE_MAX_DYNOS", MAX.to_string()),
            ("AUTOSCALE_FORMATION_REFRESH_IN_SECONDS", "1".into()),
            ("AUTOSCALE_LOG_LEVEL", "debug".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn run(&self, overrides: &[(&str, &str)]) -> WorkerProcess {
        WorkerProcess::run_with(&self.env(), overrides)
    }

    /// What must hold whatever the fault: every PATCH within [MIN, MAX] with a valid body,
    /// never two at once.
    fn assert_scaling_invariants(&self) {
        let requests = self.api.requests();
        let patch_requests = requests.iter().filter(|r| r.method == "PATCH").count();
        let patches = self.api.patches();
        assert_eq!(
            patch_requests,
            patches.len(),
            "every PATCH carries a valid quantity"
        );
        assert!(
            patches.iter().all(|q| (MIN..=MAX).contains(q)),
            "a PATCH outside [{MIN}, {MAX}]: {patches:?}"
        );
        assert!(
            self.api.max_concurrent_patches() <= 1,
            "two PATCHes in flight"
        );
    }

    /// API requests that arrived at or after `since`.
    fn requests_since(&self, since: Instant) -> usize {
        self.api.requests().iter().filter(|r| r.at >= since).count()
    }

    /// When the first request at or after `since` arrived (the one a fault set then answered).
    fn first_request_since(&self, since: Instant) -> Option<Instant> {
        support::wait_until(SOON, || self.requests_since(since) > 0);
        self.api
            .requests()
            .iter()
            .map(|r| r.at)
            .find(|at| *at >= since)
    }
}

/// Waits for a line containing `needle`, or fails showing the output.
fn expect_line(worker: &WorkerProcess, needle: &str, timeout: Duration) -> String {
    worker
        .wait_for_line(needle, timeout)
        .unwrap_or_else(|| panic!("no line with {needle:?}; output:\n{}", worker.output()))
}

/// The wait a failure line announces: `N` in "next request in N s".
fn announced_wait(line: &str) -> u64 {
    line.split("next request in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no wait announced: {line}"))
}

/// The worker is alive, and heartbeats go on at their pace (at least `beats` in `over`).
fn assert_still_beating(worker: &mut WorkerProcess, app_hits: impl Fn() -> usize, beats: usize) {
    let before = app_hits();
    let over = BEAT * beats as u32 + Duration::from_millis(1500);
    assert!(
        support::wait_until(over, || app_hits() >= before + beats),
        "heartbeats stopped: {} in {over:?}",
        app_hits() - before
    );
    assert!(
        worker.is_running(),
        "the worker exited:\n{}",
        worker.output()
    );
}

/// Stops the worker with SIGTERM; it must exit 0 within a few seconds, never having printed
/// the key. Returns its output.
fn stop_cleanly(worker: WorkerProcess) -> String {
    worker.stop_cleanly(STOP, KEY)
}

/// The first two API requests failed (a 5xx or an unusable answer): the second came after the
/// 1 s backoff, the third after 2 s, not one per heartbeat.
fn assert_backs_off_1_then_2_seconds(rig: &Rig) {
    let requests = rig.api.requests();
    assert!(requests.len() >= 3, "{requests:?}");
    let (first_gap, second_gap) = (
        requests[1].at - requests[0].at,
        requests[2].at - requests[1].at,
    );
    assert!(
        first_gap >= Duration::from_millis(950) && second_gap >= Duration::from_millis(1950),
        "retried after {first_gap:?}, then {second_gap:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The app

#[test]
fn an_app_that_hangs_is_judged_slow_and_hung_requests_never_pile_up() {
    let rig = Rig::new(1);
    rig.app.set_latency(HANG);
    let worker = rig.run(&[]);
    expect_line(&worker, "status=timeout verdict=slow", SOON);
    assert!(rig.api.wait_for_quantity(MAX, SOON), "{}", worker.output());
    expect_line(&worker, "notice kind=needs_above_max", SOON);
    // Each probe is abandoned at 150 ms, before the next starts: the app never has a pile of
    // hung requests from the worker.
    assert!(rig.app.max_in_flight() <= 2, "{}", rig.app.max_in_flight());
    // Once the app answers again, the worker scales back down.
    rig.app.set_latency(Duration::ZERO);
    assert!(rig.api.wait_for_quantity(MIN, SOON), "{}", worker.output());
    assert_eq!(rig.api.patches(), [2, 3, 2, 1]);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn connection_resets_closes_and_garbage_are_judged_slow_and_survived() {
    let rig = Rig::new(1);
    let raw = RawTcp::start(RawMode::Reset);
    let url = format!("{}/heartbeat", raw.url());
    let mut worker = rig.run(&[("AUTOSCALE_HEARTBEAT_URL", url.as_str())]);
    let line = expect_line(&worker, "status=error", SOON);
    assert!(line.contains("verdict=slow"), "{line}");
    assert!(line.to_lowercase().contains("reset"), "{line}");
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());

    for mode in [RawMode::CloseWithoutAnswer, RawMode::Garbage] {
        raw.set_mode(mode);
        let errors = worker.count_lines("status=error");
        assert!(worker.wait_for_count("status=error", errors + 3, SOON));
        assert_still_beating(&mut worker, || raw.connections(), 3);
    }
    raw.set_mode(RawMode::Ok);
    assert!(rig.api.wait_for_quantity(MIN, SOON), "{}", worker.output());
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn server_errors_from_the_app_scale_up_and_recovery_scales_down() {
    let rig = Rig::new(1);
    rig.app.set_status(500);
    let worker = rig.run(&[]);
    expect_line(&worker, "status=500 verdict=slow", SOON);
    assert!(rig.api.wait_for_quantity(2, SOON));
    rig.app.set_status(503);
    expect_line(&worker, "status=503 verdict=slow", SOON);
    assert!(rig.api.wait_for_quantity(3, SOON));
    rig.app.set_status(200);
    assert!(rig.api.wait_for_quantity(1, SOON));
    assert_eq!(rig.api.patches(), [2, 3, 2, 1]);
    // One warning for the whole episode of errors (500 then 503), one line when it ends.
    let output = worker.output();
    assert_eq!(
        output
            .matches("heartbeat failed: the app answered HTTP 500")
            .count(),
        1,
        "{output}"
    );
    assert_eq!(output.matches("heartbeat failed:").count(), 1, "{output}");
    assert!(output.contains("heartbeat answers again after"), "{output}");
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_heartbeat_url_answering_404_holds_the_count_with_one_loud_notice_while_5xx_still_scales() {
    let rig = Rig::new(2);
    rig.app.set_status(404);
    let mut worker = rig.run(&[]);
    expect_line(&worker, "status=404 verdict=bad_url", SOON);
    let line = expect_line(&worker, "heartbeat failed: the app answered HTTP 404", SOON);
    assert!(line.contains("ERRO"), "{line}");
    assert!(line.contains("holding the dyno count"), "{line}");
    let notice = expect_line(&worker, "notice kind=heartbeat_url_refused", SOON);
    assert!(
        notice.contains("AUTOSCALE_HEARTBEAT_URL is wrong"),
        "{notice}"
    );
    // Many beats later: no scale, no second notice.
    assert_still_beating(&mut worker, || rig.app.hits(), 8);
    assert_eq!(rig.api.patches(), [] as [u32; 0], "{}", worker.output());
    // A server error is load (or a crash more dynos may absorb): slow, as the seed says.
    rig.app.set_status(503);
    assert!(rig.api.wait_for_quantity(3, SOON), "{}", worker.output());
    let output = stop_cleanly(worker);
    assert_eq!(
        output.matches("notice kind=heartbeat_url_refused").count(),
        1
    );
    rig.assert_scaling_invariants();
}

#[test]
fn with_the_hold_off_a_404_counts_as_slow_as_the_seed_did() {
    let rig = Rig::new(2);
    rig.app.set_status(404);
    let worker = rig.run(&[("AUTOSCALE_HOLD_ON_HEARTBEAT_URL_ERRORS", "false")]);
    expect_line(&worker, "status=404 verdict=slow", SOON);
    assert!(rig.api.wait_for_quantity(3, SOON), "{}", worker.output());
    let output = stop_cleanly(worker);
    assert!(!output.contains("heartbeat_url_refused"), "{output}");
    rig.assert_scaling_invariants();
}

#[test]
fn an_app_slow_then_fast_is_scaled_up_then_down_exactly_once_each_step() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(MAX, SOON));
    // Further slow beats at the max ask for nothing more.
    assert!(worker.wait_for_count("verdict=slow", 8, SOON));
    rig.app.set_latency(Duration::ZERO);
    assert!(rig.api.wait_for_quantity(MIN, SOON));
    assert!(worker.wait_for_count("verdict=fast", 8, SOON));
    assert_eq!(rig.api.patches(), [2, 3, 2, 1]);
    assert_eq!(rig.api.patches_applied(), [2, 3, 2, 1]);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn huge_and_endless_bodies_are_read_only_up_to_the_cap() {
    let rig = Rig::new(3);
    rig.app.set_body(AppBody::Huge(200 << 20));
    let mut worker = rig.run(&[]);
    // A fast answer with a 200 MiB body is a fast answer: the probe reads 64 KiB, not the rest.
    expect_line(&worker, "status=200 verdict=fast", SOON);
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    rig.app.set_body(AppBody::Endless);
    assert!(rig.api.wait_for_quantity(1, SOON), "{}", worker.output());
    assert_still_beating(&mut worker, || rig.app.hits(), 8);
    // The app produced at most a few MiB per request (64 KiB read, plus what the sockets
    // buffer), not the 200 MiB or the endless stream.
    let per_request = rig.app.body_bytes_sent() / rig.app.hits().max(1) as u64;
    assert!(per_request < 16 << 20, "{per_request} bytes per heartbeat");
    let memory = worker.memory_kib().expect("the worker's memory");
    eprintln!("body bytes produced per heartbeat: {per_request}; worker memory: {memory:?} KiB");
    assert!(memory.peak < 100 * 1024, "{memory:?}");
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_heartbeat_host_that_does_not_resolve_is_judged_slow_and_survived() {
    let rig = Rig::new(1);
    // RFC 6761: `.invalid` never resolves.
    let mut worker = rig.run(&[(
        "AUTOSCALE_HEARTBEAT_URL",
        "http://heartbeat.autoscale-test.invalid/health",
    )]);
    // Resolvers differ: an error ("failed to lookup address") or no answer at all in time.
    let line = expect_line(&worker, "verdict=slow", SOON);
    assert!(
        line.contains("status=error") || line.contains("status=timeout"),
        "{line}"
    );
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    assert!(worker.wait_for_count("verdict=slow", 8, SOON));
    assert!(worker.is_running());
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_tls_failure_is_judged_slow_and_survived() {
    let rig = Rig::new(1);
    // https:// to a port that speaks plain HTTP: the handshake fails.
    let url = rig.app.heartbeat_url().replace("http://", "https://");
    let mut worker = rig.run(&[("AUTOSCALE_HEARTBEAT_URL", url.as_str())]);
    let line = expect_line(&worker, "status=error", SOON);
    assert!(line.contains("verdict=slow"), "{line}");
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    assert!(worker.wait_for_count("status=error", 8, SOON));
    let output = worker.output();
    assert_eq!(
        output.matches("WARN heartbeat failed:").count(),
        1,
        "{output}"
    );
    assert!(output.contains("check AUTOSCALE_HEARTBEAT_URL"), "{output}");
    assert!(worker.is_running());
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

// ---------------------------------------------------------------------------------------------
// The Heroku API

/// The key stops working mid-run (`failure` is a 401 or 403): one loud line with what to do,
/// one notice, and no more than one request in the window, while heartbeats go on.
fn a_key_refused_mid_run(failure: Failure, expected: &str) {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let mut worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    let since = Instant::now();
    rig.api.fail_always(failure);
    let refused_at = rig
        .first_request_since(since)
        .expect("a request after the revocation");
    let line = expect_line(&worker, expected, SOON);
    assert!(line.contains("ERRO"), "{line}");
    assert!(line.contains("check AUTOSCALE_HEROKU_API_KEY"), "{line}");
    assert!((55..=60).contains(&announced_wait(&line)), "{line}");
    // Heartbeats go on within the window.
    assert_still_beating(&mut worker, || rig.app.hits(), 3);
    std::thread::sleep(WINDOW.saturating_sub(refused_at.elapsed()));
    let requests = rig.requests_since(refused_at);
    assert!(
        requests <= 1,
        "{requests} requests within {WINDOW:?} of a refused key"
    );
    assert_eq!(worker.count_lines("notice kind=api_key_refused"), 1);
    assert_eq!(rig.api.quantity(), 2);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_key_revoked_mid_run_401_backs_off_and_says_so() {
    a_key_refused_mid_run(
        Failure::unauthorized(),
        "the Heroku API refused the key (HTTP 401 unauthorized: Invalid credentials provided.)",
    );
}

#[test]
fn a_key_without_access_mid_run_403_backs_off_and_says_so() {
    a_key_refused_mid_run(
        Failure::forbidden(),
        "the Heroku API refused the key (HTTP 403 forbidden",
    );
}

#[test]
fn an_unknown_app_404_backs_off_and_names_the_settings_to_check() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let mut worker = rig.run(&[("AUTOSCALE_HEROKU_APP_NAME", "acme-shop-typo")]);
    let line = expect_line(
        &worker,
        "the Heroku API does not know the app or process type (HTTP 404 not_found: Couldn't find that app.)",
        SOON,
    );
    assert!(line.contains("ERRO"), "{line}");
    assert!(line.contains("check AUTOSCALE_HEROKU_APP_NAME"), "{line}");
    let first = rig.api.requests()[0].at;
    // Heartbeats go on within the window.
    assert_still_beating(&mut worker, || rig.app.hits(), 3);
    std::thread::sleep(WINDOW.saturating_sub(first.elapsed()));
    assert_eq!(rig.api.requests().len(), 1, "{:?}", rig.api.requests());
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_plan_limit_422_caps_the_count_with_one_notice_while_reads_go_on() {
    let rig = Rig::new(1);
    rig.api.set_quantity_limit(Some(2));
    rig.app.set_latency(SLOW);
    let mut worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(2, SOON));
    let line = expect_line(
        &worker,
        "the Heroku API refused the change (HTTP 422 cannot_run_above_limit",
        SOON,
    );
    assert!(line.contains("lower AUTOSCALE_MAX_DYNOS"), "{line}");
    assert!(line.contains("other requests go on"), "{line}");
    let notice = expect_line(&worker, "notice kind=plan_limit", SOON);
    assert!(
        notice.contains("asks for at most 2 web dynos for 60 minute(s)"),
        "{notice}"
    );
    let refused_at = rig
        .api
        .requests()
        .iter()
        .rev()
        .find(|r| r.method == "PATCH")
        .map(|r| r.at)
        .expect("the refused PATCH");
    // Heartbeats go on, slow, for seven beats and more.
    assert_still_beating(&mut worker, || rig.app.hits(), 3);
    std::thread::sleep(WINDOW.saturating_sub(refused_at.elapsed()));
    assert_eq!(
        rig.api.patches(),
        [2, 3],
        "the refused quantity is not asked again"
    );
    let reads = rig
        .api
        .requests()
        .iter()
        .filter(|r| r.at > refused_at && r.method == "GET")
        .count();
    assert!(reads >= 1, "reads go on: {:?}", rig.api.requests());
    assert_eq!(worker.output().matches("notice kind=plan_limit").count(), 1);
    assert_eq!(rig.api.quantity(), 2);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_rate_limit_429_mid_run_stops_requests_for_its_wait() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let mut worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(2, SOON));
    let since = Instant::now();
    // No Retry-After: the worker waits a minute, as the budget refills by ~75 a minute.
    rig.api.fail_always(Failure::rate_limited());
    let limited_at = rig
        .first_request_since(since)
        .expect("a rate-limited request");
    let line = expect_line(
        &worker,
        "the Heroku API rate limit is reached (HTTP 429",
        SOON,
    );
    assert!((55..=60).contains(&announced_wait(&line)), "{line}");
    // Heartbeats go on within the window.
    assert_still_beating(&mut worker, || rig.app.hits(), 3);
    std::thread::sleep(WINDOW.saturating_sub(limited_at.elapsed()));
    let requests = rig.requests_since(limited_at);
    assert!(
        requests <= 1,
        "{requests} requests within {WINDOW:?} of a 429"
    );
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_rate_limit_with_retry_after_is_waited_out_then_scaling_resumes() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api
        .fail_next(1, Failure::rate_limited().with_header("Retry-After", "2"));
    let worker = rig.run(&[]);
    let line = expect_line(&worker, "rate limit is reached (HTTP 429", SOON);
    assert!((1..=2).contains(&announced_wait(&line)), "{line}");
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    let requests = rig.api.requests();
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn api_server_errors_500_and_503_back_off_then_scaling_resumes() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.fail_next(1, Failure::server_error());
    rig.api.fail_next(1, Failure::service_unavailable());
    let worker = rig.run(&[]);
    let line = expect_line(
        &worker,
        "the Heroku API failed (HTTP 500 internal_server_error",
        SOON,
    );
    assert!(line.contains("the worker retries automatically"), "{line}");
    expect_line(
        &worker,
        "the Heroku API failed (HTTP 503 service_unavailable",
        SOON,
    );
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    assert_backs_off_1_then_2_seconds(&rig);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn an_answer_that_is_not_json_is_reported_and_backed_off() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.corrupt_next(2, Corruption::NotJson);
    let worker = rig.run(&[]);
    expect_line(
        &worker,
        "the Heroku API's answer could not be used: HTTP 200 with a body that is not the expected JSON",
        SOON,
    );
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    assert_backs_off_1_then_2_seconds(&rig);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn json_of_the_wrong_shape_or_a_negative_quantity_is_refused() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.corrupt_next(1, Corruption::WrongShape);
    rig.api.corrupt_next(1, Corruption::NegativeQuantity);
    let worker = rig.run(&[]);
    expect_line(&worker, "body that is not the expected JSON", SOON);
    expect_line(&worker, "quantity -1 is not a dyno count", SOON);
    assert!(
        rig.api.wait_for_quantity(2, Duration::from_secs(20)),
        "{}",
        worker.output()
    );
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn a_quantity_other_than_asked_is_believed_and_brought_back_within_bounds() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    // Asked for 2, Heroku reports 5 (someone else scaled at the same moment, say).
    rig.api.set_patch_quantity_override(Some(5));
    let worker = rig.run(&[]);
    // One honest line: what was asked and what Heroku reports, not "scaled ... to=5".
    expect_line(
        &worker,
        "scale web from=1 to=2 reason=slow_streak: Heroku reports quantity=5 instead",
        SOON,
    );
    assert!(
        !worker.output().contains("scaled web from=1"),
        "{}",
        worker.output()
    );
    rig.api.set_patch_quantity_override(None);
    expect_line(&worker, "scaled web from=5 to=3 reason=above_max", SOON);
    assert_eq!(rig.api.patches(), [2, 3]);
    assert_eq!(rig.api.quantity(), 3);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn an_api_that_keeps_reporting_a_count_above_max_is_not_patched_every_beat() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    // Every scale call is answered (and applied) as 9 dynos, above the max of 3.
    rig.api.set_patch_quantity_override(Some(9));
    let smtp = SmtpSink::start();
    let smtp_url = smtp.url_with_credentials("mailer", "smtp-pw-faults");
    let worker = rig.run(&[
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
    ]);
    expect_line(&worker, "Heroku reports quantity=9 instead", SOON);
    let notice = expect_line(&worker, "notice kind=correction_undone", SOON);
    assert!(
        notice.contains("keeps going back to 9 dynos after being scaled to 3"),
        "{notice}"
    );
    // Always emailed: the bounds are not being held.
    expect_line(&worker, "emailed notice kind=correction_undone", SOON);
    let subjects: Vec<String> = smtp.messages().iter().filter_map(|m| m.subject()).collect();
    assert_eq!(
        subjects,
        ["[heroku-autoscale] acme-shop: web keeps going back to 9 dynos after being scaled to 3"]
    );
    // Two dozen beats and three formation refreshes later: the slow-streak step and one
    // correction, then a wait of a minute before the next; not a PATCH per beat.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(rig.api.patches(), [2, 3], "{}", worker.output());
    stop_cleanly(worker);
}

#[test]
fn an_answer_about_another_process_type_is_not_taken_as_ours() {
    let rig = Rig::new(1);
    // A type with a terminal escape in it, too: it must reach the log escaped.
    rig.api
        .corrupt_next(1, Corruption::OtherProcessType("worker\u{1b}[31m"));
    let worker = rig.run(&[]);
    expect_line(
        &worker,
        "the answer is about process type \"worker\\u{1b}[31m\", not \"web\"",
        SOON,
    );
    expect_line(&worker, "watching app=", SOON);
    let output = worker.output();
    assert!(!output.contains("process=worker"), "{output}");
    assert!(!output.contains("quantity=9"), "{output}");
    assert!(!output.contains('\u{1b}'), "{output}");
    stop_cleanly(worker);
}

#[test]
fn an_endless_api_answer_is_cut_off_at_the_cap() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.corrupt_next(1, Corruption::EndlessBody);
    let mut worker = rig.run(&[]);
    expect_line(&worker, "reading the answer", SOON);
    assert!(
        rig.api.wait_for_quantity(2, Duration::from_secs(20)),
        "{}",
        worker.output()
    );
    let memory = worker.memory_kib().expect("the worker's memory");
    assert!(memory.peak < 100 * 1024, "{memory:?}");
    assert_still_beating(&mut worker, || rig.app.hits(), 3);
    rig.assert_scaling_invariants();
    stop_cleanly(worker);
}

#[test]
fn an_api_error_that_echoes_the_key_does_not_leak_it() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    // A proxy in the way that repeats the request's headers in its error page.
    let echo = format!("bad gateway; request was: Authorization: Bearer {KEY}");
    rig.api
        .fail_next(1, Failure::new(502, "bad_gateway", &echo));
    let worker = rig.run(&[]);
    let line = expect_line(&worker, "HTTP 502 bad_gateway", SOON);
    assert!(line.contains("Authorization: Bearer ********"), "{line}");
    assert!(rig.api.wait_for_quantity(2, SOON));
    stop_cleanly(worker);
}

// ---------------------------------------------------------------------------------------------
// The SMTP server (down and slow are in tests/notifications.rs)

#[test]
fn an_smtp_server_that_rejects_is_logged_retried_slowly_and_never_stops_scaling() {
    let rig = Rig::new(2);
    rig.app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    smtp.reject_with(Some((550, "5.1.1 mailbox unavailable".into())));
    let smtp_url = smtp.url_with_credentials("mailer", "smtp-pw-faults");
    let mut worker = rig.run(&[
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
    ]);
    assert!(rig.api.wait_for_quantity(MAX, SOON));
    let line = expect_line(&worker, "email notice kind=needs_above_max failed", SOON);
    assert!(line.contains("550"), "{line}");
    assert!(line.contains("retrying in 30 s"), "{line}");
    // Not retried at heartbeat rate: one connection for the one email in the window.
    let connections = smtp.connections();
    assert_still_beating(&mut worker, || rig.app.hits(), 5);
    assert_eq!(smtp.connections(), connections);
    assert!(smtp.messages().is_empty());
    rig.assert_scaling_invariants();
    let output = stop_cleanly(worker);
    assert!(!output.contains("smtp-pw-faults"));
}

// ---------------------------------------------------------------------------------------------
// Actor panics, through the binary's test hook

/// `actor` panics every 0.8 s: each panic is logged and the actor restarted; after three,
/// scaling still works. Through the binary for the one actor the in-process tests cannot run
/// on paused time (the real API actor talks HTTP); the others are in tests/actors.rs.
fn an_actor_panicking_repeatedly(actor: &str) {
    let rig = Rig::new(1);
    let schedule = format!("{actor}:0.8");
    let worker = rig.run(&[("HEROKU_AUTOSCALE_INJECT_PANICS", schedule.as_str())]);
    expect_line(
        &worker,
        "test hook HEROKU_AUTOSCALE_INJECT_PANICS is set",
        SOON,
    );
    let restarting = format!("restarting actor={actor}");
    assert!(
        worker.wait_for_count(&restarting, 3, SOON),
        "fewer than 3 restarts:\n{}",
        worker.output()
    );
    let panicked = expect_line(&worker, &format!("actor panicked actor={actor}"), SOON);
    assert!(panicked.contains("injected panic"), "{panicked}");
    // Scaling still works while the actor goes on panicking.
    rig.app.set_latency(SLOW);
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    rig.assert_scaling_invariants();
    let output = stop_cleanly(worker);
    assert!(!output.contains("too many restarts"), "{output}");
}

#[test]
fn the_api_client_panicking_repeatedly_is_restarted_and_scaling_goes_on() {
    an_actor_panicking_repeatedly("heroku_api");
}

#[test]
fn a_burst_of_panics_beyond_the_restart_limit_ends_the_process_non_zero() {
    let rig = Rig::new(1);
    let every_actor = "heartbeat:0.1,judge:0.1,controller:0.1,heroku_api:0.1,notifier:0.1";
    let mut worker = rig.run(&[("HEROKU_AUTOSCALE_INJECT_PANICS", every_actor)]);
    let status = worker
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running:\n{}", worker.output()));
    let output = worker.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("too many restarts: 11 within 60 s (limit 10)"),
        "{output}"
    );
    assert!(
        output.contains("stopping with exit code 1 so the platform restarts the dyno"),
        "{output}"
    );
    assert!(!output.contains(KEY));
    rig.assert_scaling_invariants();
}

// ---------------------------------------------------------------------------------------------
// SIGTERM

#[test]
fn sigterm_at_any_moment_exits_0_within_a_few_seconds() {
    // Moments after start-up (the first log line, logged once the signal handlers are in place)
    // from "still starting" to "mid-scale with an email on its way"; fixed, so a failure can be
    // run again as it was.
    let moments_ms = [0, 5, 20, 40, 150, 420, 700, 1100, 1600, 2300];
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.set_patch_delay(Duration::from_millis(700));
    let smtp = SmtpSink::start();
    smtp.set_reply_delay(Duration::from_secs(2));
    let smtp_url = smtp.url();
    let extra = [
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
        ("AUTOSCALE_MAX_DYNOS", "2"),
    ];
    std::thread::scope(|scope| {
        for ms in moments_ms {
            let (rig, extra) = (&rig, &extra);
            scope.spawn(move || {
                let mut worker = rig.run(extra);
                expect_line(&worker, "starting heroku-autoscale", SOON);
                std::thread::sleep(Duration::from_millis(ms));
                worker.sigterm();
                let status = worker.wait_exit(STOP).unwrap_or_else(|| {
                    panic!("SIGTERM at {ms} ms: still running:\n{}", worker.output())
                });
                assert!(
                    status.success(),
                    "SIGTERM at {ms} ms: {status:?}\n{}",
                    worker.output()
                );
                assert!(!worker.output().contains(KEY));
            });
        }
    });
    // Several workers share one fake here, so only the bounds can be checked, not concurrency.
    let patches = rig.api.patches();
    assert!(patches.iter().all(|q| (1..=2).contains(q)), "{patches:?}");
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn secrets_never_reach_any_output_of_a_full_fault_run() {
    const API_KEY: &str = "sk-FULLRUN-apikey-6c1f0e";
    const SMTP_PASSWORD: &str = "pw-FULLRUN-smtp-0b7d";
    let rig = Rig::with_key(1, API_KEY);
    rig.app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    smtp.require_auth("mailer", SMTP_PASSWORD);
    let smtp_url = smtp.url_with_credentials("mailer", SMTP_PASSWORD);
    let mut worker = rig.run(&[
        ("AUTOSCALE_ADMINS", "Ops <ops@example.com>"),
        ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
        ("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "true"),
        ("HEROKU_AUTOSCALE_INJECT_PANICS", "judge:2.5,heroku_api:3"),
    ]);
    // Overload at the max: one email.
    assert!(rig.api.wait_for_quantity(MAX, SOON), "{}", worker.output());
    assert!(smtp.wait_for_messages(1, SOON), "{}", worker.output());
    // Scaling down fails with an answer that echoes the key, and one that is not JSON: logged
    // and emailed (scale_failed).
    let echo = format!("upstream said: Authorization: Bearer {API_KEY}");
    rig.api.corrupt_next(1, Corruption::NotJson);
    rig.api
        .fail_patches_always(Failure::new(500, "internal_server_error", &echo));
    rig.app.set_latency(Duration::ZERO);
    assert!(smtp.wait_for_messages(2, SOON), "{}", worker.output());
    // The key is revoked: logged and emailed (api_key_refused).
    rig.api.clear_failures();
    rig.api.fail_always(Failure::unauthorized());
    expect_line(
        &worker,
        "the Heroku API refused the key",
        Duration::from_secs(20),
    );
    assert!(smtp.wait_for_messages(3, SOON), "{}", worker.output());
    assert!(
        worker.count_lines("actor panicked") >= 2,
        "{}",
        worker.output()
    );
    worker.sigterm();
    assert!(worker
        .wait_exit(STOP)
        .is_some_and(|status| status.success()));

    let mut everything = worker.output();
    for mail in smtp.messages() {
        // Raw, and decoded: a base64 or quoted-printable body would hide a secret from a grep.
        everything.push_str(&mail.data);
        everything.push_str(&mail.subject().unwrap_or_default());
        everything.push_str(&mail.body());
    }
    let subjects: Vec<String> = smtp.messages().iter().filter_map(|m| m.subject()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("failed")) && subjects.iter().any(|s| s.contains("key")),
        "{subjects:?}"
    );
    assert!(
        everything.contains("Bearer ********"),
        "the echo was masked, not dropped"
    );
    for secret in [API_KEY, SMTP_PASSWORD] {
        let base64 = base64(secret);
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
        assert!(!everything.contains(&base64), "{secret} leaked in base64");
    }
}

/// Standard base64 without padding: finds a secret encoded from a 3-byte boundary (such as
/// the start of a line or a credential) in an email.
fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(text)
}
