//! Actor-level tests: the real actors (heartbeat, judge, controller, notifier) in this process,
//! with a mock Heroku API actor in place of the real one.
//!
//! Most run on paused time (DESIGN §5): `tokio::time::pause()` in an `#[actix_rt::test]` drives
//! the actors' timers, so minutes of heartbeats take milliseconds and the timing is exact. The
//! heartbeat still probes a real fake app on 127.0.0.1, and a paused runtime that waits on a
//! socket jumps to its next timer; so on paused time the app hangs and every probe is judged slow
//! at the max response time, whatever the machine's load. The mock API runs in the test's own
//! system ([`MockApi::start_here`]). What needs a real answer from the app (fast beats, a joined
//! heartbeat path) or another thread (a spawned worker) runs on real time with short intervals.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use heroku_autoscale::actors::messages::InjectPanic;
use heroku_autoscale::backoff::Backoff;
use heroku_autoscale::heroku::ApiError;
use heroku_autoscale::settings::{self, Settings, SettingsSource};
use heroku_autoscale::supervision::fault_injection::{ActorName, PanicSchedule};
use heroku_autoscale::supervision::SupervisionPolicy;
use heroku_autoscale::Autoscaler;
use support::fake_app::FakeApp;
use support::log_capture::CapturedLog;
use support::mock_api::{MockApi, MockState};
use support::wait_until_async;

/// Settings for quick tests: a beat every 0.2 s, slow above 150 ms, fast below 60 ms, three in a
/// row to act, 1 to 2 dynos. On paused time the figures are virtual.
fn quick_settings(heartbeat_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", "test-key"),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat_url),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "150"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "60"),
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

/// The heartbeat interval of [`quick_settings`].
const BEAT: Duration = Duration::from_millis(200);
/// Judged slow: the probe gives up at 150 ms.
const SLOW: Duration = Duration::from_millis(600);
/// An app that never answers: on paused time, every probe is judged slow.
const HANG: Duration = Duration::from_secs(3600);

fn scales(state: &Arc<Mutex<MockState>>) -> Vec<u32> {
    state.lock().unwrap().scales.clone()
}

/// On paused time: an app that hangs, the mock API in this system at `quantity` dynos, and the
/// worker started with `extra` settings. Returns the app (keep it alive), the mock's state, the
/// log and the actors.
fn paused_worker(
    quantity: u32,
    extra: &[(&str, &str)],
    panics: Vec<PanicSchedule>,
) -> (
    FakeApp,
    Arc<Mutex<MockState>>,
    CapturedLog,
    heroku_autoscale::actors::Actors,
) {
    tokio::time::pause();
    let app = FakeApp::start();
    app.set_latency(HANG);
    let (api, state) = MockApi::start_here(quantity, None);
    let log = CapturedLog::default();
    let actors = Autoscaler::new(quick_settings(&app.heartbeat_url(), extra))
        .with_logger(log.logger())
        .with_api(api)
        .with_injected_panics(panics)
        .start();
    (app, state, log, actors)
}

/// The index of the first log line containing `needle`.
fn line_index(log: &CapturedLog, needle: &str) -> Option<usize> {
    log.lines().iter().position(|line| line.contains(needle))
}

#[actix_rt::test]
async fn a_slow_streak_produces_exactly_one_scale_call() {
    let (_app, state, log, _actors) = paused_worker(1, &[], Vec::new());
    assert!(wait_until_async(BEAT * 10, || !scales(&state).is_empty()).await);
    // At the max of 2 the slow beats go on: no further call, a notice instead.
    assert!(wait_until_async(BEAT * 10, || log.count("kind=needs_above_max") == 1).await);
    // Twenty more slow beats (several streaks' worth) change nothing.
    actix_rt::time::sleep(BEAT * 20).await;
    assert_eq!(scales(&state), [2]);
    assert_eq!(log.count("scaled web from=1 to=2 reason=slow_streak"), 1);
    assert_eq!(
        log.count("kind=needs_above_max"),
        1,
        "one notice, not one per beat"
    );
}

#[actix_rt::test]
async fn bounds_are_enforced_at_start_without_any_streak() {
    let (_app, state, log, _actors) = paused_worker(5, &[], Vec::new());
    // Before the first streak of three beats could end.
    assert!(wait_until_async(BEAT * 2, || scales(&state) == [2]).await);
    assert_eq!(log.count("scaled web from=5 to=2 reason=above_max"), 1);
}

#[actix_rt::test]
async fn the_local_formation_is_restarted_after_a_panic_and_keeps_its_count() {
    tokio::time::pause();
    let app = FakeApp::start();
    app.set_latency(HANG);
    let log = CapturedLog::default();
    let settings = quick_settings(&app.heartbeat_url(), &[("AUTOSCALE_MAX_DYNOS", "3")]);
    let actors = Autoscaler::new(settings)
        .with_logger(log.logger())
        .with_local_formation(1)
        .start();
    let formation = actors
        .local_formation
        .clone()
        .expect("local mode runs the in-memory formation");
    assert!(wait_until_async(BEAT * 10, || log.count("scaled web from=1 to=2") == 1).await);
    formation.do_send(InjectPanic);
    assert!(
        wait_until_async(BEAT * 10, || log.count("restarting actor=local_formation")
            == 1)
        .await
    );
    // Still answering, from the count it had: the next step goes from 2 to 3.
    assert!(
        wait_until_async(BEAT * 10, || log.count("scaled web from=2 to=3") == 1).await,
        "{}",
        log.lines().join("\n")
    );
    assert!(formation.connected());
}

#[actix_rt::test]
async fn a_failed_scale_is_retried_and_the_streaks_are_kept() {
    tokio::time::pause();
    let app = FakeApp::start();
    app.set_latency(HANG);
    let (api, state) = MockApi::start_here(1, None);
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
    assert!(wait_until_async(BEAT * 30, || scales(&state).len() >= 2).await);
    assert_eq!(
        log.count("kind=scale_failed"),
        1,
        "one notice while failures last"
    );
    state.lock().unwrap().fail_scales = None;
    assert!(wait_until_async(BEAT * 30, || state.lock().unwrap().quantity == 2).await);
}

#[actix_rt::test]
async fn actors_that_panic_are_restarted_and_scaling_goes_on() {
    let (_app, state, log, actors) = paused_worker(1, &[], Vec::new());
    // Before the first streak could end: every actor crashes at once.
    actors.heartbeat.do_send(InjectPanic);
    actors.judge.do_send(InjectPanic);
    actors.controller.do_send(InjectPanic);
    actors.notifier.do_send(InjectPanic);
    for actor in ["heartbeat", "judge", "controller", "notifier"] {
        let needle = format!("restarting actor={actor}");
        assert!(
            wait_until_async(BEAT * 15, || log.count(&needle) == 1).await,
            "{actor} was not restarted"
        );
    }
    // Every actor is needed for a scale: heartbeat → judge → controller → API.
    assert!(wait_until_async(BEAT * 30, || scales(&state) == [2]).await);
    let scaled = line_index(&log, "scaled web from=1 to=2").expect("the scale is logged");
    for actor in ["heartbeat", "judge", "controller", "notifier"] {
        let restarted = line_index(&log, &format!("restarting actor={actor}"));
        assert!(
            restarted < Some(scaled),
            "{actor} restarted after the scale"
        );
    }
    assert!(actors.heartbeat.connected() && actors.judge.connected());
}

/// `actor` panics every 1.5 s (the test hook behind `HEROKU_AUTOSCALE_INJECT_PANICS`): each
/// panic is logged and the actor restarted; after three, scaling still goes on. The max is 10,
/// and each step adds one dyno (no doubling), so slow beats go on asking for more dynos the
/// whole time.
async fn an_actor_panicking_repeatedly(actor: ActorName) {
    let name = actor.to_string();
    let every = Duration::from_millis(1500);
    let (_app, state, log, _actors) = paused_worker(
        1,
        &[
            ("AUTOSCALE_MAX_DYNOS", "10"),
            ("AUTOSCALE_PROPORTIONAL_SCALE_UP", "false"),
        ],
        vec![PanicSchedule { actor, every }],
    );
    let restarting = format!("restarting actor={name}");
    assert!(
        wait_until_async(every * 4, || log.count(&restarting) >= 3).await,
        "fewer than 3 restarts: {:?}",
        log.lines()
    );
    let panicked = log
        .lines()
        .into_iter()
        .find(|line| line.contains(&format!("actor panicked actor={name}")))
        .expect("the panic is logged");
    assert!(panicked.contains("injected panic"), "{panicked}");
    // A scale after the third restart: scaling goes on while the actor goes on panicking.
    let scales_then = scales(&state).len();
    assert!(
        wait_until_async(BEAT * 15, || scales(&state).len() > scales_then).await,
        "no scale after the restarts: {:?}",
        log.lines()
    );
    let calls = scales(&state);
    assert!(
        calls.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "one dyno at a time: {calls:?}"
    );
    assert_eq!(log.count("too many restarts"), 0);
}

#[actix_rt::test]
async fn the_heartbeat_panicking_repeatedly_is_restarted_and_scaling_goes_on() {
    an_actor_panicking_repeatedly(ActorName::Heartbeat).await;
}

#[actix_rt::test]
async fn the_judge_panicking_repeatedly_is_restarted_and_scaling_goes_on() {
    an_actor_panicking_repeatedly(ActorName::Judge).await;
}

#[actix_rt::test]
async fn the_controller_panicking_repeatedly_is_restarted_and_scaling_goes_on() {
    an_actor_panicking_repeatedly(ActorName::Controller).await;
}

#[actix_rt::test]
async fn the_notifier_panicking_repeatedly_is_restarted_and_scaling_goes_on() {
    an_actor_panicking_repeatedly(ActorName::Notifier).await;
}

#[actix_rt::test]
async fn fast_beats_scale_down_to_the_min_and_stop_there() {
    let app = FakeApp::start();
    let (api, state) = MockApi::start(2, None);
    Autoscaler::new(quick_settings(&app.heartbeat_url(), &[]))
        .with_logger(CapturedLog::default().logger())
        .with_api(api)
        .start();
    assert!(wait_until_async(Duration::from_secs(5), || scales(&state) == [1]).await);
    // A full streak's worth of fast beats at the min asks for nothing more.
    actix_rt::time::sleep(BEAT * 4).await;
    assert_eq!(scales(&state), [1]);
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
    assert!(wait_until_async(Duration::from_secs(3), || app.hits() >= 2).await);
    assert!(app
        .paths()
        .iter()
        .all(|path| path == "/heroku-autoscale/heartbeat/v1"));
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
        wait_until_async(Duration::from_secs(3), || log
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
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(200)),
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
    state.lock().unwrap().scale_delay = Some(Duration::from_millis(800));
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
    // The stop waited for the answer (0.8 s, inside the 3 s grace), so its outcome is known.
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
    // The start-up read is answered at once; the one before the scale takes 0.8 s.
    assert!(support::wait_until(Duration::from_secs(5), || state
        .lock()
        .unwrap()
        .reads
        == 1));
    state.lock().unwrap().read_delay = Some(Duration::from_millis(800));
    app.set_latency(SLOW);
    assert!(
        support::wait_until(Duration::from_secs(10), || state.lock().unwrap().reads == 2),
        "three slow beats start the read before the scale: {:?}",
        log.lines()
    );
    handle.stop();
    handle.join().expect("a requested stop is a clean stop");
    assert_eq!(scales(&state), Vec::<u32>::new(), "{:?}", log.lines());
    // A read is not waited for: abandoning it changes nothing.
    assert_eq!(
        log.count(
            "stopping on stop request; the formation read in flight is abandoned (no scale was \
             in flight)"
        ),
        1,
        "{:?}",
        log.lines()
    );
    assert_eq!(log.count("waiting for the API call in flight"), 0);
}
