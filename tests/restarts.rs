//! Restarts in the middle of things: a controller restarted while its scale call is in flight,
//! and the in-memory formation of `run --local-formation` restarted after a panic. The real
//! actors, in-process, against the fakes on 127.0.0.1.

mod support;

use std::time::Duration;

use heroku_autoscale::actors::messages::InjectPanic;
use heroku_autoscale::settings::{self, Settings, SettingsSource};
use heroku_autoscale::Autoscaler;
use support::fake_app::FakeApp;
use support::fake_heroku::FakeHeroku;
use support::log_capture::CapturedLog;
use support::wait_until_async;

const API_KEY: &str = "restart-test-key";
/// Judged slow: the probe gives up at 300 ms.
const SLOW: Duration = Duration::from_millis(600);

/// A beat every 0.4 s, slow above 300 ms, two slow beats to scale up, 1 to 3 dynos.
fn settings(app: &FakeApp, extra: &[(&str, &str)], local: bool) -> Settings {
    let heartbeat = app.heartbeat_url();
    let mut vars = vec![
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat.as_str()),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.4"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "300"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "100"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_MIN_DYNOS", "1"),
        ("AUTOSCALE_MAX_DYNOS", "3"),
    ];
    vars.extend_from_slice(extra);
    let mut source = SettingsSource::from_vars(vars);
    source.local = local;
    settings::load(&source)
        .expect("test settings are valid")
        .settings
}

#[actix_rt::test]
async fn a_controller_restarted_mid_scale_waits_for_the_call_in_flight_instead_of_failing() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let api = FakeHeroku::start("acme-shop", "web", API_KEY, 1, &format!("{}/", app.url()));
    // Long enough for the restarted controller to build a new streak and decide meanwhile.
    api.set_patch_delay(Duration::from_secs(3));
    let api_url = api.url();
    let settings = settings(
        &app,
        &[
            ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
            ("AUTOSCALE_HEROKU_API_KEY", API_KEY),
            ("AUTOSCALE_HEROKU_API_URL", api_url.as_str()),
            ("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "true"),
        ],
        false,
    );
    let log = CapturedLog::default();
    let actors = Autoscaler::new(settings).with_logger(log.logger()).start();

    assert!(wait_until_async(Duration::from_secs(5), || api.patches_in_flight() == 1).await);
    actors.controller.do_send(InjectPanic);
    let busy = "waited for a scale call from before a restart";
    assert!(
        wait_until_async(Duration::from_secs(8), || log.count(busy) == 1).await,
        "the restarted controller's scale never met the call in flight:\n{}",
        log.lines().join("\n")
    );
    // Decided again on what the first call left (2): one more dyno, as the streak asks.
    assert!(wait_until_async(Duration::from_secs(8), || api.quantity() == 3).await);
    assert_eq!(api.patches_applied(), [2, 3]);
    assert_eq!(api.max_concurrent_patches(), 1);
    for line in log.lines() {
        assert!(
            !line.contains("failed") && !line.contains("kind=scale_failed"),
            "busy is not a failure: {line}"
        );
    }
}

#[actix_rt::test]
async fn the_local_formation_is_restarted_after_a_panic_and_keeps_its_count() {
    let app = FakeApp::start();
    let log = CapturedLog::default();
    let actors = Autoscaler::new(settings(&app, &[], true))
        .with_logger(log.logger())
        .with_local_formation(1)
        .start();
    let formation = actors
        .local_formation
        .clone()
        .expect("local mode runs the in-memory formation");

    app.set_latency(SLOW);
    assert!(
        wait_until_async(Duration::from_secs(5), || log
            .count("scaled web from=1 to=2")
            == 1)
        .await
    );
    formation.do_send(InjectPanic);
    assert!(
        wait_until_async(Duration::from_secs(3), || log
            .count("restarting actor=local_formation")
            == 1)
        .await
    );
    // Still answering, from the count it had: the next step goes from 2 to 3.
    assert!(
        wait_until_async(Duration::from_secs(5), || log
            .count("scaled web from=2 to=3")
            == 1)
        .await,
        "{}",
        log.lines().join("\n")
    );
    assert!(formation.connected());
}
