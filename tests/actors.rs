//! Actor-level tests: the real actors (heartbeat, judge, controller, notifier) against a real
//! fake app on 127.0.0.1, with a mock Heroku API actor in place of the real one.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use heroku_autoscale::actors::messages::InjectPanic;
use heroku_autoscale::backoff::Backoff;
use heroku_autoscale::heroku::ApiError;
use heroku_autoscale::settings::{self, Settings, SettingsSource};
use heroku_autoscale::supervision::SupervisionPolicy;
use heroku_autoscale::Autoscaler;
use support::fake_app::FakeApp;
use support::log_capture::CapturedLog;
use support::mock_api::{MockApi, MockState};

/// Settings for quick tests: a beat every 0.4 s, slow above 300 ms, fast below 100 ms. The bands
/// are wide so a loaded CI machine does not push a sample into the next one.
fn quick_settings(heartbeat_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", "test-key"),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat_url),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.4"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "300"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "100"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "3"),
        ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "3"),
        ("AUTOSCALE_MIN_DYNOS", "1"),
        ("AUTOSCALE_MAX_DYNOS", "2"),
    ];
    vars.extend_from_slice(extra);
    settings::load(&SettingsSource::from_vars(vars))
        .expect("test settings are valid")
        .settings
}

/// Judged slow: the probe gives up at 300 ms.
const SLOW: Duration = Duration::from_millis(600);
/// Judged neutral: between 100 and 300 ms.
const NEUTRAL: Duration = Duration::from_millis(200);

/// Waits (without blocking the actors) until `condition` holds, up to `limit`.
async fn eventually(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = actix_rt::time::Instant::now() + limit;
    while actix_rt::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

fn scales(state: &Arc<Mutex<MockState>>) -> Vec<u32> {
    state.lock().unwrap().scales.clone()
}

#[actix_rt::test]
async fn a_slow_streak_produces_exactly_one_scale_call() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let (api, state) = MockApi::start(1, None);
    let log = CapturedLog::default();
    Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(log.logger())
        .with_api(api)
        .start();

    assert!(eventually(Duration::from_secs(5), || !scales(&state).is_empty()).await);
    // At the max of 2 the slow beats go on: no further call, a notice instead.
    assert!(
        eventually(Duration::from_secs(5), || log.count("kind=needs_above_max")
            == 1)
        .await
    );
    actix_rt::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(scales(&state), [2]);
    assert_eq!(log.count("scaled web from=1 to=2 reason=slow_streak"), 1);
    assert_eq!(
        log.count("kind=needs_above_max"),
        1,
        "one notice, not one per beat"
    );
}

#[actix_rt::test]
async fn fast_beats_scale_down_to_the_min_and_stop_there() {
    let app = FakeApp::start();
    let (api, state) = MockApi::start(2, None);
    Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(CapturedLog::default().logger())
        .with_api(api)
        .start();
    assert!(eventually(Duration::from_secs(5), || scales(&state) == [1]).await);
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(scales(&state), [1]);
}

#[actix_rt::test]
async fn bounds_are_enforced_at_start_without_any_streak() {
    let app = FakeApp::start();
    app.set_latency(NEUTRAL); // neutral
    let (api, state) = MockApi::start(5, None);
    Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(CapturedLog::default().logger())
        .with_api(api)
        .start();
    assert!(eventually(Duration::from_secs(3), || scales(&state) == [2]).await);
}

#[actix_rt::test]
async fn a_relative_heartbeat_path_is_joined_to_the_apps_web_url() {
    let app = FakeApp::start();
    let web_url = format!("{}/", app.url());
    let (api, _) = MockApi::start(1, Some(&web_url));
    Autoscaler::new(quick_settings("/heroku-autoscale/heartbeat/v1", &[]))
        .with_logger(CapturedLog::default().logger())
        .with_api(api)
        .start();
    assert!(eventually(Duration::from_secs(3), || app.hits() >= 2).await);
    assert!(app
        .paths()
        .iter()
        .all(|path| path == "/heroku-autoscale/heartbeat/v1"));
}

#[actix_rt::test]
async fn a_failed_scale_is_retried_and_the_streaks_are_kept() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let (api, state) = MockApi::start(1, None);
    state.lock().unwrap().fail_scales = Some(ApiError::Server {
        status: 503,
        id: "unavailable".into(),
        message: "try later".into(),
    });
    let log = CapturedLog::default();
    Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(log.logger())
        .with_api(api)
        .start();
    assert!(eventually(Duration::from_secs(5), || scales(&state).len() >= 2).await);
    assert_eq!(
        log.count("kind=scale_failed"),
        1,
        "one notice while failures last"
    );
    state.lock().unwrap().fail_scales = None;
    assert!(
        eventually(Duration::from_secs(5), || state.lock().unwrap().quantity
            == 2)
        .await
    );
}

#[actix_rt::test]
async fn actors_that_panic_are_restarted_and_scaling_goes_on() {
    let app = FakeApp::start();
    app.set_latency(NEUTRAL); // neutral while the actors are crashed
    let (api, state) = MockApi::start(1, None);
    let log = CapturedLog::default();
    let actors = Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(log.logger())
        .with_api(api)
        .start();
    actix_rt::time::sleep(Duration::from_millis(300)).await;

    actors.heartbeat.do_send(InjectPanic);
    actors.judge.do_send(InjectPanic);
    actors.controller.do_send(InjectPanic);
    actors.notifier.do_send(InjectPanic);
    for actor in ["heartbeat", "judge", "controller", "notifier"] {
        let needle = format!("restarting actor={actor}");
        assert!(
            eventually(Duration::from_secs(3), || log.count(&needle) == 1).await,
            "{actor} was not restarted"
        );
    }

    // Every actor is needed for a scale: heartbeat → judge → controller → API.
    assert_eq!(
        scales(&state),
        Vec::<u32>::new(),
        "nothing scaled before the test asks"
    );
    let beats_before = app.hits();
    app.set_latency(SLOW);
    assert!(eventually(Duration::from_secs(5), || scales(&state) == [2]).await);
    assert!(app.hits() > beats_before);
    assert!(actors.heartbeat.connected() && actors.judge.connected());
}

#[actix_rt::test]
async fn the_real_api_actor_is_restarted_after_a_panic() {
    let app = FakeApp::start();
    let log = CapturedLog::default();
    // The real API actor, pointed at a closed loopback port: only its restart is under test.
    let settings = quick_settings(
        &app.heartbeat_url(),
        &[("AUTOSCALE_HEROKU_API_URL", "http://127.0.0.1:9")],
    );
    let actors = Autoscaler::new(settings).with_logger(log.logger()).start();
    let api = actors.heroku_api.expect("the real API actor runs");
    api.do_send(InjectPanic);
    assert!(
        eventually(Duration::from_secs(3), || log
            .count("restarting actor=heroku_api")
            == 1)
        .await
    );
    assert!(api.connected());
}

#[test]
fn a_burst_of_failures_beyond_the_limit_ends_the_system_with_code_1() {
    let app = FakeApp::start();
    let (api, _) = MockApi::start(1, None);
    let log = CapturedLog::default();
    let policy = SupervisionPolicy {
        max_restarts: 2,
        period: Duration::from_secs(60),
        backoff: Backoff::new(Duration::from_millis(10), NEUTRAL),
    };
    let system = System::new();
    let settings = quick_settings(&app.heartbeat_url(), &[]);
    system.block_on(async {
        let actors = Autoscaler::new(settings)
            .with_logger(log.logger())
            .with_api(api)
            .with_supervision(policy)
            .start();
        for _ in 0..3 {
            actors.judge.do_send(InjectPanic);
        }
    });
    let started = std::time::Instant::now();
    let code = system.run_with_code().expect("the system ran");
    assert_eq!(code, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(log.count("too many restarts: 3 within 60 s (limit 2)"), 1);
}

#[test]
fn a_spawned_worker_stops_on_request() {
    let app = FakeApp::start();
    let (api, _) = MockApi::start(1, None);
    let handle = Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(CapturedLog::default().logger())
        .with_api(api)
        .spawn()
        .expect("worker thread starts");
    assert!(
        support::wait_until(Duration::from_secs(5), || app.hits() >= 2),
        "the spawned worker sends heartbeats"
    );
    assert!(!handle.is_finished());
    let asked = std::time::Instant::now();
    handle.stop();
    handle.join().expect("a requested stop is a clean stop");
    assert!(asked.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_spawned_worker_asked_to_stop_mid_scale_waits_for_the_answer() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let (api, state) = MockApi::start(1, None);
    state.lock().unwrap().scale_delay = Some(Duration::from_millis(1500));
    let log = CapturedLog::default();
    let handle = Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(log.logger())
        .with_api(api)
        .spawn()
        .expect("worker thread starts");
    assert!(
        support::wait_until(Duration::from_secs(10), || scales(&state) == [2]),
        "three slow beats send the scale call: {:?}",
        log.lines()
    );
    handle.stop();
    handle.stop(); // a second call changes nothing
    handle.join().expect("a requested stop is a clean stop");
    // The stop waited for the answer (1.5 s, inside the 3 s grace), so its outcome is known.
    assert_eq!(
        log.count("stop request: waiting for the API call in flight"),
        1
    );
    assert_eq!(log.count("scaled web from=1 to=2"), 1, "{:?}", log.lines());
    assert_eq!(log.count("stopping on stop request"), 1);
    assert_eq!(scales(&state), [2], "no call after the stop began");
}

#[test]
fn a_stop_during_the_read_before_a_scale_sends_no_scale_call() {
    let app = FakeApp::start();
    let (api, state) = MockApi::start(1, None);
    let log = CapturedLog::default();
    let handle = Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(log.logger())
        .with_api(api)
        .spawn()
        .expect("worker thread starts");
    // The start-up read is answered at once; the one before the scale takes 1.5 s.
    assert!(support::wait_until(Duration::from_secs(5), || state
        .lock()
        .unwrap()
        .reads
        == 1));
    state.lock().unwrap().read_delay = Some(Duration::from_millis(1500));
    app.set_latency(SLOW);
    assert!(
        support::wait_until(Duration::from_secs(10), || state.lock().unwrap().reads == 2),
        "three slow beats start the read before the scale: {:?}",
        log.lines()
    );
    handle.stop();
    handle.join().expect("a requested stop is a clean stop");
    assert_eq!(scales(&state), Vec::<u32>::new(), "{:?}", log.lines());
    assert_eq!(
        log.count("not scaling web from=1 to=2 reason=slow_streak: stopping"),
        1,
        "{:?}",
        log.lines()
    );
    assert_eq!(log.count("stopping on stop request"), 1);
}
