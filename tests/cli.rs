//! The command line's ways to try the worker before trusting it: `run --dry-run`,
//! `run --local-formation N` and `check --online`, with the real binary against the fakes on
//! 127.0.0.1.

mod support;

use std::time::Duration;

use support::{Failure, FakeApp, FakeHeroku, WorkerProcess};

const KEY: &str = "cli-secret-key-41d7";
const APP: &str = "acme-shop";
const SOON: Duration = Duration::from_secs(10);
/// Judged slow: the probe gives up at 250 ms.
const SLOW: Duration = Duration::from_millis(600);

fn fakes(quantity: u32) -> (FakeApp, FakeHeroku) {
    support::fake_app_and_api(APP, KEY, quantity)
}

/// A beat every 0.4 s, slow above 250 ms, fast below 60 ms, two in a row to act, 1 to 3 dynos.
fn env<'a>(app: &'a str, api: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", key),
        ("AUTOSCALE_HEROKU_API_URL", api),
        ("AUTOSCALE_HEARTBEAT_URL", app),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.4"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "250"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "60"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "2"),
        ("AUTOSCALE_MIN_DYNOS", "1"),
        ("AUTOSCALE_MAX_DYNOS", "3"),
    ]
}

fn stop(mut worker: WorkerProcess) -> String {
    worker.sigterm();
    let status = worker.wait_exit(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{}", worker.output());
    worker.output()
}

#[test]
fn a_dry_run_reads_the_formation_and_logs_what_it_would_do_without_scaling() {
    let (app, api) = fakes(1);
    app.set_latency(SLOW);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let worker = WorkerProcess::spawn(&["run", "--dry-run"], &env(&heartbeat, &api_url, KEY));
    assert!(
        worker.wait_for_count("would scale web from=1 to=2 reason=slow_streak", 2, SOON),
        "{}",
        worker.output()
    );
    let output = stop(worker);
    assert!(api.patches().is_empty(), "a dry run sent a PATCH");
    assert_eq!(api.quantity(), 1);
    let reads = api.requests().iter().filter(|r| r.method == "GET").count();
    assert!(
        reads >= 2,
        "the real formation is read before each decision"
    );
    assert!(!output.contains("scaled web"), "{output}");
}

#[test]
fn a_local_formation_scales_in_memory_without_any_heroku_settings() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let heartbeat = app.heartbeat_url();
    let mut env = env(&heartbeat, "", "");
    // No app name, no key, no API URL: nothing but the app on this machine.
    env.retain(|(name, _)| !name.starts_with("AUTOSCALE_HEROKU_"));
    let worker = WorkerProcess::spawn(&["run", "--local-formation", "1"], &env);
    assert!(
        worker
            .wait_for_line("scaled web from=2 to=3 reason=slow_streak", SOON)
            .is_some(),
        "{}",
        worker.output()
    );
    let output = stop(worker);
    assert!(output.contains("local mode: no Heroku API calls; web starts at 1 dynos"));
    assert!(output.contains("scaled web from=1 to=2 reason=slow_streak"));
    assert!(
        !output.contains("heroku api"),
        "local mode made an API call: {output}"
    );
}

#[test]
fn a_local_formation_needs_an_absolute_heartbeat_url() {
    let (status, output) = WorkerProcess::run_to_end(
        &["run", "--local-formation", "2"],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("AUTOSCALE_HEARTBEAT_URL=\"/heroku-autoscale/heartbeat/v1\": must be an absolute URL with --local-formation"),
        "{output}"
    );
}

#[test]
fn check_online_passes_when_the_key_app_and_heartbeat_are_right() {
    let (app, api) = fakes(2);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let (status, output) = WorkerProcess::run_to_end(
        &["check", "--online"],
        &env(&heartbeat, &api_url, KEY),
        SOON,
    );
    assert!(status.success(), "{output}");
    assert!(
        output.contains("ok   heroku api: the key can read app acme-shop"),
        "{output}"
    );
    assert!(
        output.contains(
            "ok   formation: web runs 2 dynos, within the bounds in force now (min=1 max=3)"
        ),
        "{output}"
    );
    assert!(
        output.contains(&format!("ok   heartbeat: {heartbeat} answered 200 in")),
        "{output}"
    );
    assert!(output.contains("online checks passed"), "{output}");
    assert!(
        api.patches().is_empty(),
        "check --online must not change anything"
    );
    assert!(!output.contains(KEY));
}

#[test]
fn check_online_diagnoses_a_refused_key_and_a_failing_heartbeat() {
    let (app, api) = fakes(2);
    app.set_status(503);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let (status, output) = WorkerProcess::run_to_end(
        &["check", "--online"],
        &env(&heartbeat, &api_url, "wrong-key-0000"),
        SOON,
    );
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("FAIL heroku api: the Heroku API refused the key (HTTP 401"),
        "{output}"
    );
    assert!(
        output.contains("check AUTOSCALE_HEROKU_API_KEY"),
        "{output}"
    );
    assert!(
        output.contains("FAIL formation: the Heroku API refused the key"),
        "{output}"
    );
    // Without the app's web URL a relative path could not be resolved; this one is absolute.
    assert!(
        output.contains(&format!("FAIL heartbeat: {heartbeat} answered HTTP 503")),
        "{output}"
    );
    assert!(output.contains("online checks failed"), "{output}");
    assert!(!output.contains("wrong-key-0000"));
}

#[test]
fn check_online_explains_a_relative_heartbeat_path_it_cannot_resolve() {
    let (app, api) = fakes(2);
    api.fail_always(Failure::new(404, "not_found", "Couldn't find that app."));
    let api_url = api.url();
    let mut env = env("", &api_url, KEY);
    env.retain(|(name, _)| *name != "AUTOSCALE_HEARTBEAT_URL");
    let (status, output) = WorkerProcess::run_to_end(&["check", "--online"], &env, SOON);
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("FAIL heroku api: the Heroku API does not know the app"),
        "{output}"
    );
    assert!(
        output.contains("FAIL heartbeat: /heroku-autoscale/heartbeat/v1 is a path, and the app's web URL is unknown"),
        "{output}"
    );
    assert_eq!(app.hits(), 0);
}

#[test]
fn a_bad_panic_hook_value_is_refused_before_start() {
    let (app, api) = fakes(1);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let mut env = env(&heartbeat, &api_url, KEY);
    env.push(("HEROKU_AUTOSCALE_INJECT_PANICS", "judges:1"));
    let (status, output) = WorkerProcess::run_to_end(&["run"], &env, SOON);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("HEROKU_AUTOSCALE_INJECT_PANICS=\"judges:1\": unknown actor"),
        "{output}"
    );
    assert_eq!(app.hits(), 0);
}

// --- Settings messages (issue 12): what the binary prints for refused settings ---------------

#[test]
fn a_misspelt_variables_hint_is_printed_with_the_errors() {
    let (status, output) = WorkerProcess::run_to_end(
        &["check"],
        &[
            ("AUTOSCALE_HEROKU_APP", APP),
            ("AUTOSCALE_HEROKU_API_KEY", KEY),
            ("AUTOSCALE_INCREMENT", "0"),
        ],
        SOON,
    );
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("error: AUTOSCALE_HEROKU_APP_NAME: is required"),
        "{output}"
    );
    assert!(
        output.contains("did you mean AUTOSCALE_HEROKU_APP_NAME (heroku_app_name)?"),
        "{output}"
    );
}

#[test]
fn variables_differing_only_in_case_stop_the_worker() {
    let (status, output) = WorkerProcess::run_to_end(
        &["check"],
        &[
            ("AUTOSCALE_HEROKU_APP_NAME", APP),
            ("AUTOSCALE_HEROKU_API_KEY", KEY),
            ("AUTOSCALE_MAX_DYNOS", "2"),
            ("AUTOSCALE_max_dynos", "9"),
        ],
        SOON,
    );
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("error: AUTOSCALE_MAX_DYNOS and AUTOSCALE_max_dynos: both set max_dynos"),
        "{output}"
    );
}

#[test]
fn only_the_first_worker_dyno_scales_and_another_stands_by_until_sigterm() {
    // One fake API, two copies of the worker: autoscaleworker.1 and .2, each with an app of
    // its own so that each one's heartbeats can be told apart.
    let (first_app, api) = fakes(1);
    let second_app = FakeApp::start();
    first_app.set_latency(SLOW);
    second_app.set_latency(SLOW);
    let api_url = api.url();
    let (first_url, second_url) = (first_app.heartbeat_url(), second_app.heartbeat_url());
    let mut second_env = env(&second_url, &api_url, KEY);
    second_env.push(("DYNO", "autoscaleworker.2"));
    let second = WorkerProcess::spawn(&["run"], &second_env);
    assert!(
        second
            .wait_for_line("standing by: autoscaleworker.2", SOON)
            .is_some(),
        "{}",
        second.output()
    );
    let mut first_env = env(&first_url, &api_url, KEY);
    first_env.push(("DYNO", "autoscaleworker.1"));
    let first = WorkerProcess::spawn(&["run"], &first_env);
    assert!(
        first
            .wait_for_line("scaled web from=1 to=2", SOON)
            .is_some(),
        "{}",
        first.output()
    );
    // The first one acted, with no word about other copies; the second sent nothing at all.
    assert!(
        !first.output().contains("standing by"),
        "{}",
        first.output()
    );
    assert_eq!(second_app.hits(), 0, "the standby sent heartbeats");
    let standby_output = stop(second);
    assert!(
        standby_output.contains("stopping on SIGTERM (stood by)"),
        "{standby_output}"
    );
    stop(first);
    assert_eq!(api.patches().first(), Some(&2));
}

#[test]
fn a_worker_that_cannot_tell_its_dyno_acts_and_says_so() {
    let (app, api) = fakes(1);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let worker = WorkerProcess::spawn(&["run"], &env(&heartbeat, &api_url, KEY));
    assert!(
        worker
            .wait_for_line("DYNO is not set (not on Heroku): acting", SOON)
            .is_some(),
        "{}",
        worker.output()
    );
    stop(worker);
    // With the check off, a second dyno acts too.
    let mut off = env(&heartbeat, &api_url, KEY);
    off.extend([
        ("DYNO", "autoscaleworker.2"),
        ("AUTOSCALE_SINGLE_ACTIVE_WORKER", "false"),
    ]);
    let worker = WorkerProcess::spawn(&["run"], &off);
    assert!(app.wait_for_hits(2, SOON), "{}", worker.output());
    let output = stop(worker);
    assert!(
        output.contains("AUTOSCALE_SINGLE_ACTIVE_WORKER=false"),
        "{output}"
    );
}
