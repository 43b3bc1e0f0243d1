//! End to end: the real binary against a fake Heroku API and a fake app, both real HTTP servers
//! on 127.0.0.1. Short intervals keep the suite quick; every wait has a generous bound because
//! CI machines are slow and shared.

mod support;

use std::time::Duration;

use support::{Failure, FakeApp, FakeHeroku, WorkerProcess};

const KEY: &str = "e2e-secret-key-7f3a9c";
const APP: &str = "acme-shop";
/// Time for anything the worker should do within a few heartbeats.
const SOON: Duration = Duration::from_secs(10);
/// How long a clean stop may take (Heroku kills at 30 s; we promise a few seconds).
const STOP: Duration = Duration::from_secs(5);

/// Judged slow: the probe gives up at 250 ms.
const SLOW: Duration = Duration::from_millis(600);
/// Judged neutral: between 60 and 250 ms.
const NEUTRAL: Duration = Duration::from_millis(150);
/// Three heartbeats: more than a streak, so a further scale would have been asked for by then.
const THREE_BEATS: Duration = Duration::from_millis(900);

/// A fake app and API, and the environment that points the worker at them: a beat every
/// 0.3 s, slow above 250 ms, fast below 60 ms, two in a row to act, 1 to 3 dynos. The bands are
/// wide so that a loaded CI machine does not move a sample into the next one.
struct Rig {
    app: FakeApp,
    api: FakeHeroku,
}

impl Rig {
    fn new(initial_quantity: u32) -> Rig {
        let (app, api) = support::fake_app_and_api(APP, KEY, initial_quantity);
        Rig { app, api }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = support::worker_env(&self.app, &self.api, KEY, "debug");
        env.push(("AUTOSCALE_FORMATION_REFRESH_IN_SECONDS".into(), "1".into()));
        env
    }

    fn run(&self, overrides: &[(&str, &str)]) -> WorkerProcess {
        WorkerProcess::run_with(&self.env(), overrides)
    }
}

/// Stops the worker with SIGTERM and checks it exits 0 promptly without ever printing the key.
fn stop_cleanly(worker: WorkerProcess) -> String {
    worker.stop_cleanly(STOP, KEY)
}

#[test]
fn slow_responses_scale_up_to_the_max_and_no_further() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(3, SOON), "never reached 3 dynos");
    assert!(worker
        .wait_for_line("scaled web from=1 to=2 reason=slow_streak", SOON)
        .is_some());
    assert!(worker
        .wait_for_line("scaled web from=2 to=3 reason=slow_streak", SOON)
        .is_some());
    assert!(worker
        .wait_for_line("notice kind=needs_above_max", SOON)
        .is_some());
    std::thread::sleep(THREE_BEATS);
    assert_eq!(rig.api.patches_applied(), [2, 3]);
    assert_eq!(rig.api.max_concurrent_patches(), 1);
    let output = stop_cleanly(worker);
    assert!(
        output.contains("verdict=slow"),
        "debug lines show each heartbeat"
    );
}

#[test]
fn fast_responses_scale_down_to_the_min_and_no_further() {
    let rig = Rig::new(3);
    let worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(1, SOON), "never reached 1 dyno");
    std::thread::sleep(THREE_BEATS);
    assert_eq!(rig.api.patches_applied(), [2, 1]);
    assert!(worker
        .output()
        .contains("scaled web from=2 to=1 reason=fast_streak"));
    stop_cleanly(worker);
}

#[test]
fn responses_in_the_neutral_band_hold_the_dyno_count() {
    let rig = Rig::new(2);
    rig.app.set_latency(NEUTRAL);
    let worker = rig.run(&[]);
    assert!(worker.wait_for_count("verdict=neutral", 6, SOON));
    assert_eq!(rig.api.patches(), Vec::<u32>::new());
    assert_eq!(rig.api.quantity(), 2);
    stop_cleanly(worker);
}

#[test]
fn error_statuses_count_as_slow() {
    let rig = Rig::new(1);
    rig.app.set_status(503);
    let worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(2, SOON));
    assert!(worker.output().contains("status=503 verdict=slow"));
    stop_cleanly(worker);
}

#[test]
fn a_hung_app_is_judged_slow_at_the_max_response_time() {
    let rig = Rig::new(1);
    rig.app.set_latency(Duration::from_secs(3600));
    let worker = rig.run(&[]);
    let line = worker
        .wait_for_line("status=timeout verdict=slow", SOON)
        .expect("a timed-out heartbeat");
    // Judged at 250 ms, not after a long timeout; loose bound for a loaded machine.
    let latency: u64 = line
        .split("latency_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|ms| ms.parse().ok())
        .expect("the line gives the latency");
    assert!((250..1500).contains(&latency), "{line}");
    assert!(rig.api.wait_for_quantity(2, SOON));
    stop_cleanly(worker);
}

#[test]
fn api_server_errors_are_survived_and_scaling_resumes() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.fail_patches_next(2, Failure::server_error());
    let worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(2, Duration::from_secs(20)));
    let attempts = rig.api.patches();
    assert!(
        attempts.len() >= 3 && attempts[..3] == [2, 2, 2],
        "{attempts:?}"
    );
    let output = worker.output();
    assert!(
        output.contains("the Heroku API failed (HTTP 500"),
        "{output}"
    );
    assert_eq!(worker.count_lines("notice kind=scale_failed"), 1);
    assert_eq!(rig.api.max_concurrent_patches(), 1);
    stop_cleanly(worker);
}

#[test]
fn a_refused_key_is_reported_loudly_retried_slowly_and_survived() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let worker = rig.run(&[("AUTOSCALE_HEROKU_API_KEY", "revoked-key-000")]);
    assert!(worker
        .wait_for_line(
            "the Heroku API refused the key (HTTP 401 unauthorized",
            SOON
        )
        .is_some());
    // Slow heartbeats keep coming, the API is not asked again at heartbeat rate.
    assert!(worker.wait_for_count("verdict=slow", 6, SOON));
    let mut worker = worker;
    assert!(worker.is_running());
    assert!(rig.api.requests().len() <= 2, "{:?}", rig.api.requests());
    assert!(worker.output().contains("AUTOSCALE_HEROKU_API_KEY"));
    assert!(!worker.output().contains("revoked-key-000"));
    assert_eq!(worker.count_lines("notice kind=api_key_refused"), 1);
    stop_cleanly(worker);
}

#[test]
fn a_manual_scale_above_the_max_is_undone() {
    let rig = Rig::new(2);
    rig.app.set_latency(NEUTRAL);
    let worker = rig.run(&[]);
    assert!(worker
        .wait_for_line("watching app=acme-shop", SOON)
        .is_some());
    rig.api.set_quantity(6); // someone ran `heroku ps:scale web=6`
    assert!(rig.api.wait_for_quantity(3, SOON));
    assert!(worker
        .wait_for_line("scaled web from=6 to=3 reason=above_max", SOON)
        .is_some());
    stop_cleanly(worker);
}

#[test]
fn a_heartbeat_path_is_joined_to_the_apps_web_url() {
    let rig = Rig::new(1);
    let worker = rig.run(&[("AUTOSCALE_HEARTBEAT_URL", "/health/deep")]);
    assert!(rig.app.wait_for_hits(2, SOON));
    assert!(rig.app.paths().iter().all(|path| path == "/health/deep"));
    stop_cleanly(worker);
}

#[test]
fn requests_speak_the_platform_api_wire_format() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    let worker = rig.run(&[]);
    assert!(rig.api.wait_for_quantity(2, SOON));
    stop_cleanly(worker);
    let requests = rig.api.requests();
    let patch = requests
        .iter()
        .find(|r| r.method == "PATCH")
        .expect("a PATCH was sent");
    assert_eq!(patch.path, "/apps/acme-shop/formation/web");
    assert_eq!(patch.body, r#"{"quantity":2}"#);
    for request in &requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(
            request.accept.as_deref(),
            Some("application/vnd.heroku+json; version=3")
        );
        assert!(request
            .user_agent
            .as_deref()
            .is_some_and(|agent| agent.starts_with("heroku-autoscale/")));
    }
}

#[test]
fn sigint_stops_the_worker_cleanly_too() {
    let rig = Rig::new(1);
    let mut worker = rig.run(&[]);
    assert!(rig.app.wait_for_hits(1, SOON));
    worker.sigint();
    let status = worker.wait_exit(STOP).expect("exits promptly on SIGINT");
    assert!(status.success(), "{status:?}");
    assert!(worker.output().contains("stopping on SIGINT"));
}

#[test]
fn bad_settings_are_refused_before_any_network_call() {
    let rig = Rig::new(1);
    let mut worker = rig.run(&[
        ("AUTOSCALE_INCREMENT", "zero"),
        ("AUTOSCALE_MAX_DYNOS", "0:00=2,25:00=3"),
    ]);
    let status = worker.wait_exit(STOP).expect("refuses at once");
    assert_eq!(status.code(), Some(2));
    let output = worker.output();
    assert!(
        output.contains("error: AUTOSCALE_INCREMENT=\"zero\""),
        "{output}"
    );
    assert!(
        output.contains("error: AUTOSCALE_MAX_DYNOS=\"0:00=2,25:00=3\""),
        "{output}"
    );
    assert!(rig.api.requests().is_empty());
    assert_eq!(rig.app.hits(), 0);
}

#[test]
fn check_prints_the_effective_settings_with_the_key_masked() {
    let rig = Rig::new(1);
    let env = rig.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, output) = WorkerProcess::run_to_end(&["check"], &env, STOP);
    assert!(status.success(), "{output}");
    assert!(output.contains("AUTOSCALE_HEROKU_API_KEY"), "{output}");
    assert!(output.contains("********"), "{output}");
    assert!(output.contains("AUTOSCALE_MAX_DYNOS"), "{output}");
    assert!(!output.contains(KEY));
    assert!(rig.api.requests().is_empty(), "check makes no network call");

    let (status, output) = WorkerProcess::run_to_end(&["check"], &[], STOP);
    assert_eq!(status.code(), Some(2));
    assert!(
        output.contains("AUTOSCALE_HEROKU_APP_NAME: is required"),
        "{output}"
    );
}

#[test]
fn a_rate_limit_is_waited_out_even_with_an_absurd_retry_after() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api
        .fail_always(Failure::rate_limited().with_header("Retry-After", "18446744073709551615"));
    let mut worker = rig.run(&[]);
    assert!(worker
        .wait_for_line("the Heroku API rate limit is reached (HTTP 429", SOON)
        .is_some());
    assert!(worker.wait_for_count("verdict=slow", 5, SOON));
    assert!(worker.is_running());
    assert!(!worker.output().contains("died"), "{}", worker.output());
    assert_eq!(
        rig.api.requests().len(),
        1,
        "one request, then the worker waits"
    );
    stop_cleanly(worker);
}

#[test]
fn sigterm_mid_scale_lets_the_call_finish_and_logs_its_outcome() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.set_patch_delay(Duration::from_millis(1200));
    let mut worker = rig.run(&[]);
    assert!(support::wait_until(SOON, || rig.api.patches_in_flight() == 1));
    let signalled = std::time::Instant::now();
    worker.sigterm();
    let status = worker.wait_exit(STOP).expect("exits within a few seconds");
    assert!(status.success(), "{status:?}");
    assert!(signalled.elapsed() < STOP);
    let output = worker.output();
    assert!(
        output.contains("SIGTERM: waiting for the API call in flight"),
        "{output}"
    );
    let scaled = output
        .find("scaled web from=1 to=2")
        .expect("the outcome is logged");
    assert!(scaled < output.find("stopping on SIGTERM").expect("then it stops"));
    assert_eq!(rig.api.patches_applied(), [2]);
}

#[test]
fn sigterm_does_not_wait_long_for_a_hung_scale_call_and_leaves_nothing_half_done() {
    let rig = Rig::new(1);
    rig.app.set_latency(SLOW);
    rig.api.set_patch_delay(Duration::from_secs(30));
    let mut worker = rig.run(&[]);
    assert!(support::wait_until(SOON, || rig.api.patches_in_flight() == 1));
    worker.sigterm();
    let status = worker.wait_exit(STOP).expect("exits within a few seconds");
    assert!(status.success(), "{status:?}");
    let output = worker.output();
    assert!(
        output.contains("stopping on SIGTERM with an API call still unanswered after 3 s"),
        "{output}"
    );
    assert!(!output.contains(KEY));
    // The abandoned PATCH was never applied: the formation is what it was.
    assert!(support::wait_until(SOON, || rig.api.patches_in_flight() == 0));
    assert!(rig.api.patches_applied().is_empty());
    assert_eq!(rig.api.quantity(), 1);
}

#[test]
fn sigterm_during_a_hung_start_up_read_stops_at_once_and_says_what_it_abandoned() {
    let rig = Rig::new(1);
    // The controller's first read of the formation stays unanswered; nothing is being scaled.
    rig.api.set_delay(Duration::from_secs(30));
    let mut worker = rig.run(&[]);
    assert!(support::wait_until(SOON, || rig
        .api
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/formation/web"))));
    worker.sigterm();
    let status = worker.wait_exit(STOP).expect("exits within a few seconds");
    assert!(status.success(), "{status:?}");
    let output = worker.output();
    assert!(
        output.contains(
            "stopping on SIGTERM; the formation read in flight is abandoned (no scale was in \
             flight)"
        ),
        "{output}"
    );
    assert!(!output.contains("may or may not"), "{output}");
    assert!(!output.contains("waiting for the API call"), "{output}");
}

/// `nohup heroku-autoscale run &` must outlive the terminal: a SIGHUP the worker was started
/// ignoring stays ignored (installing a handler would undo what nohup asked for).
#[test]
fn sighup_is_left_ignored_when_the_worker_starts_with_it_ignored() {
    use support::worker_process::{StdoutTo, SIGHUP};
    let rig = Rig::new(1);
    let env = rig.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // What nohup does, minus its output redirection: ignore SIGHUP, then exec the worker
    // (same pid, so the signal goes to the worker itself).
    let binary = env!("CARGO_BIN_EXE_heroku-autoscale");
    let worker = WorkerProcess::spawn_binary(
        std::path::Path::new("/bin/sh"),
        &["-c", r#"trap "" HUP; exec "$0" "$@""#, binary, "run"],
        &env,
        StdoutTo::Captured,
    );
    assert!(rig.app.wait_for_hits(1, SOON), "{}", worker.output());
    worker.signal(SIGHUP);
    let hits = rig.app.hits();
    assert!(
        rig.app.wait_for_hits(hits + 3, SOON),
        "stopped heartbeating after SIGHUP:\n{}",
        worker.output()
    );
    let output = stop_cleanly(worker);
    assert!(!output.contains("stopping on SIGHUP"), "{output}");
    assert!(
        output.contains("SIGHUP is ignored (started under nohup): stop with SIGTERM or SIGINT"),
        "{output}"
    );
}

#[test]
fn sighup_stops_the_worker_cleanly_like_sigterm() {
    let rig = Rig::new(1);
    let mut worker = rig.run(&[]);
    assert!(rig.app.wait_for_hits(1, SOON));
    worker.signal(support::worker_process::SIGHUP);
    let status = worker.wait_exit(STOP).expect("exits promptly on SIGHUP");
    assert_eq!(status.code(), Some(0), "{status:?}:\n{}", worker.output());
    assert!(
        worker.output().contains("stopping on SIGHUP"),
        "{}",
        worker.output()
    );
}
