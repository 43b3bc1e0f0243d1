//! One scale call at a time, with the real Heroku API actor in this process against the fake API
//! on 127.0.0.1 (real time: the calls cross a real socket). A hung PATCH is given up after the
//! API timeout and never doubled; a controller restarted while its PATCH is in flight waits for
//! that call instead of reporting a failure.

mod support;

use std::time::Duration;

use heroku_autoscale::actors::messages::InjectPanic;
use heroku_autoscale::actors::Actors;
use heroku_autoscale::settings::{self, SettingsSource};
use heroku_autoscale::Autoscaler;
use support::fake_app::FakeApp;
use support::fake_heroku::FakeHeroku;
use support::log_capture::CapturedLog;
use support::wait_until_async;

const API_KEY: &str = "api-calls-test-key";
/// Judged slow: the probe gives up at 150 ms.
const SLOW: Duration = Duration::from_millis(600);
const SOON: Duration = Duration::from_secs(8);

/// A slow app, the fake API at 1 dyno whose PATCH answers take `patch_delay`, and the worker
/// (a beat every 0.2 s, two slow beats to scale up, 1 to 3 dynos) with `extra` settings.
fn start(
    patch_delay: Duration,
    extra: &[(&str, &str)],
    api_timeout: Duration,
) -> (FakeApp, FakeHeroku, CapturedLog, Actors) {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let api = FakeHeroku::start("acme-shop", "web", API_KEY, 1, &format!("{}/", app.url()));
    api.set_patch_delay(patch_delay);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let mut vars = vec![
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", API_KEY),
        ("AUTOSCALE_HEROKU_API_URL", api_url.as_str()),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat.as_str()),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "150"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "50"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_MIN_DYNOS", "1"),
        ("AUTOSCALE_MAX_DYNOS", "3"),
    ];
    vars.extend_from_slice(extra);
    let settings = settings::load(&SettingsSource::from_vars(vars))
        .expect("test settings are valid")
        .settings;
    let log = CapturedLog::default();
    let actors = Autoscaler::new(settings)
        .with_logger(log.logger())
        .with_api_timeout(api_timeout)
        .start();
    (app, api, log, actors)
}

#[actix_rt::test]
async fn a_controller_restarted_mid_scale_waits_for_the_call_in_flight_instead_of_failing() {
    // Long enough for the restarted controller to build a new streak and decide meanwhile.
    let delay = Duration::from_secs(3);
    let scale_fails = [("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "true")];
    let (_app, api, log, actors) = start(delay, &scale_fails, Duration::from_secs(10));

    assert!(wait_until_async(SOON, || api.patches_in_flight() == 1).await);
    actors.controller.do_send(InjectPanic);
    let busy = "waited for a scale call from before a restart";
    assert!(
        wait_until_async(SOON, || log.count(busy) == 1).await,
        "the restarted controller's scale never met the call in flight:\n{}",
        log.lines().join("\n")
    );
    // Decided again on what the first call left (2), after a fresh streak: one more dyno.
    let second_step = "scaled web from=2 to=3";
    assert!(wait_until_async(SOON, || log.count(second_step) == 1).await);
    assert_eq!(api.patches_applied(), [2, 3]);
    let lines = log.lines();
    let position = |needle: &str| lines.iter().position(|line| line.contains(needle));
    let (waited, scaled) = (position(busy), position(second_step));
    let slow_beats_between = lines[waited.unwrap()..scaled.unwrap()]
        .iter()
        .filter(|line| line.contains("verdict=slow"))
        .count();
    assert!(slow_beats_between >= 2, "{}", lines.join("\n"));
    assert_eq!(api.max_concurrent_patches(), 1);
    for line in log.lines() {
        assert!(
            !line.contains("failed") && !line.contains("kind=scale_failed"),
            "busy is not a failure: {line}"
        );
    }
}

#[actix_rt::test]
async fn a_hung_scale_call_times_out_and_is_never_doubled() {
    let hang = Duration::from_secs(3600);
    let timeout = Duration::from_secs(2);
    let (app, api, log, _actors) = start(hang, &[], timeout);
    assert!(wait_until_async(SOON, || api.patches_in_flight() == 1).await);
    // While the PATCH hangs, heartbeats go on and nothing else is asked of the API.
    let (requests, beats) = (api.requests().len(), app.hits());
    actix_rt::time::sleep(Duration::from_millis(800)).await;
    assert!(app.hits() >= beats + 2, "heartbeats stopped");
    assert_eq!(api.requests().len(), requests);
    assert_eq!(api.patches_in_flight(), 1);
    // The API client gives up at the timeout, then asks again once the API answers.
    let gave_up = "scale formation failed: the Heroku API did not answer within 2 s";
    assert!(
        wait_until_async(SOON, || log.count(gave_up) == 1).await,
        "{}",
        log.lines().join("\n")
    );
    api.set_patch_delay(Duration::ZERO);
    assert!(wait_until_async(SOON, || api.quantity() == 2).await);
    assert_eq!(api.max_concurrent_patches(), 1);
    assert_eq!(api.patches_applied(), [2]);
}

#[actix_rt::test]
async fn slow_beats_wait_for_the_new_dynos_to_serve_before_the_next_scale_up() {
    let boot = Duration::from_millis(1500);
    let (app, api, log, _actors) = start(Duration::ZERO, &[], Duration::from_secs(10));
    api.set_boot_time(boot);
    // The app stays slow: without the wait, two slow beats (0.4 s) would add the next dyno.
    assert!(wait_until_async(SOON, || api.patches_applied() == [2]).await);
    let first = std::time::Instant::now();
    let serving = "dynos serving web quantity=2";
    assert!(
        wait_until_async(Duration::from_secs(20), || log.count(serving) == 1).await,
        "{}",
        log.lines().join("\n")
    );
    assert!(wait_until_async(SOON, || api.patches_applied() == [2, 3]).await);
    assert!(
        first.elapsed() >= boot,
        "scaled again {:?} after the first scale, before the dyno booted",
        first.elapsed()
    );
    // The list was read while the dyno booted and once it served, and no more often than
    // every 10 s: two reads for one boot.
    assert_eq!(api.dyno_list_reads(), 2, "{}", log.lines().join("\n"));
    assert!(app.hits() > 10);
    assert_eq!(api.max_concurrent_patches(), 1);
}

#[actix_rt::test]
async fn without_the_boot_wait_slow_beats_scale_again_while_the_dyno_boots() {
    let boot = Duration::from_secs(3600);
    let off = [("AUTOSCALE_BOOT_TIMEOUT_IN_SECONDS", "0")];
    let (_app, api, log, _actors) = start(Duration::ZERO, &off, Duration::from_secs(10));
    api.set_boot_time(boot);
    assert!(
        wait_until_async(SOON, || api.patches_applied() == [2, 3]).await,
        "{}",
        log.lines().join("\n")
    );
    assert_eq!(api.dyno_list_reads(), 0);
}
