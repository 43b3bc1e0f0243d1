//! Notices by email, over real SMTP: the real actors (and the real binary) send to an SMTP server
//! the test starts on 127.0.0.1, and the tests read what it received.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use heroku_autoscale::actors::messages::SendNotice;
use heroku_autoscale::actors::NotifierActor;
use heroku_autoscale::backoff::Backoff;
use heroku_autoscale::control::{Bounds, ScaleReason};
use heroku_autoscale::heroku::ApiError;
use heroku_autoscale::notify::{Notice, NoticeContext};
use heroku_autoscale::settings::{self, Settings, SettingsSource};
use heroku_autoscale::Autoscaler;
use support::log_capture::CapturedLog;
use support::mock_api::{MockApi, MockState};
use support::smtp_sink::{AuthPolicy, SmtpSink};
use support::{wait_until_async, FakeApp, FakeHeroku, WorkerProcess};

const API_KEY: &str = "notify-test-key-5b1e";
const SMTP_PASSWORD: &str = "smtp-pw-9d2c";
const ADMINS: &str = "Ops <ops@example.com>, dev@example.com";
/// Judged slow: the probe gives up at 100 ms.
const SLOW: Duration = Duration::from_millis(400);
const SOON: Duration = Duration::from_secs(10);

/// A beat every 0.2 s (slow above 100 ms, fast below 30 ms), 1 to 2 dynos, email to two admins.
fn settings(app: &FakeApp, smtp: &SmtpSink, extra: &[(&str, &str)]) -> Settings {
    let smtp_url = smtp.url_with_credentials("mailer", SMTP_PASSWORD);
    let heartbeat = app.heartbeat_url();
    let mut vars = vec![
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", API_KEY),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat.as_str()),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "100"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "30"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "2"),
        ("AUTOSCALE_MIN_DYNOS", "1"),
        ("AUTOSCALE_MAX_DYNOS", "2"),
        ("AUTOSCALE_ADMINS", ADMINS),
        ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
    ];
    vars.extend_from_slice(extra);
    settings::load(&SettingsSource::from_vars(vars))
        .expect("test settings are valid")
        .settings
}

fn start(settings: Settings, api_quantity: u32) -> (Arc<Mutex<MockState>>, CapturedLog) {
    let (api, state) = MockApi::start(api_quantity, None);
    let log = CapturedLog::default();
    Autoscaler::new(settings)
        .with_logger(log.logger())
        .with_api(api)
        .with_email_retry(Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_millis(400),
        })
        .start();
    (state, log)
}

/// Waits at least `beats` more heartbeats of the app.
async fn beats(app: &FakeApp, beats: usize) {
    let target = app.hits() + beats;
    assert!(wait_until_async(Duration::from_secs(20), || app.hits() >= target).await);
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(API_KEY), "the API key leaked: {text}");
    assert!(
        !text.contains(SMTP_PASSWORD),
        "the SMTP password leaked: {text}"
    );
}

#[actix_rt::test]
async fn needs_above_max_is_emailed_once_for_a_long_overload() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    let (state, log) = start(settings(&app, &smtp, &[]), 2);

    assert!(wait_until_async(SOON, || smtp.messages().len() == 1).await);
    beats(&app, 22).await;
    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        1,
        "one email for 20+ slow heartbeats at max"
    );
    let mail = &messages[0];
    assert_eq!(
        mail.subject().as_deref(),
        Some("[heroku-autoscale] acme-shop: at max 2 web dynos and responses still too slow")
    );
    assert_eq!(mail.to, ["ops@example.com", "dev@example.com"]);
    assert_eq!(mail.from, "heroku-autoscale@acme-shop.herokuapp.com");
    assert_eq!(
        mail.auth.as_ref().map(|(user, _)| user.as_str()),
        Some("mailer")
    );
    let body = mail.body();
    assert!(body.contains("App: acme-shop, process type web"), "{body}");
    assert!(
        body.contains("Dynos now: 2 (min 1, max 2 in force at"),
        "{body}"
    );
    assert!(body.contains("UTC)"), "{body}");
    assert!(body.contains("no answer in"), "{body}");
    assert!(body.contains("raise AUTOSCALE_MAX_DYNOS"), "{body}");
    assert_no_secret(&mail.data);
    // The sink has the message before the worker has read the server's last reply and logged.
    assert!(
        wait_until_async(SOON, || log
            .count("emailed notice kind=needs_above_max to 2 admin(s)")
            == 1)
        .await
    );
    assert_no_secret(&log.lines().join("\n"));
    assert!(state.lock().unwrap().scales.is_empty());
}

#[actix_rt::test]
async fn a_disabled_notice_is_logged_but_not_emailed() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    let extra = [("AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX", "false")];
    let (_, log) = start(settings(&app, &smtp, &extra), 2);
    assert!(wait_until_async(SOON, || log.count("notice kind=needs_above_max") == 1).await);
    beats(&app, 5).await;
    assert_eq!(smtp.messages().len(), 0);
}

#[actix_rt::test]
async fn needs_below_min_is_emailed_when_asked_for() {
    let app = FakeApp::start();
    let smtp = SmtpSink::start();
    let extra = [
        ("AUTOSCALE_NOTIFY_IF_NEEDS_BELOW_MIN", "true"),
        ("AUTOSCALE_MIN_DYNOS", "2"),
        ("AUTOSCALE_MAX_DYNOS", "3"),
    ];
    start(settings(&app, &smtp, &extra), 2);
    assert!(smtp_wait(&smtp, 1).await);
    let subject = smtp.messages()[0].subject();
    assert_eq!(
        subject.as_deref(),
        Some("[heroku-autoscale] acme-shop: at min 2 web dynos and responses fast")
    );
}

async fn smtp_wait(smtp: &SmtpSink, count: usize) -> bool {
    wait_until_async(SOON, || smtp.messages().len() >= count).await
}

#[actix_rt::test]
async fn a_failed_scale_is_emailed_only_when_asked_for() {
    for (flag, expected) in [("true", 1), ("false", 0)] {
        let app = FakeApp::start();
        app.set_latency(SLOW);
        let smtp = SmtpSink::start();
        let extra = [
            ("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", flag),
            ("AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX", "false"),
        ];
        let (api, state) = MockApi::start(1, None);
        state.lock().unwrap().fail_scales = Some(ApiError::Server {
            status: 503,
            id: "unavailable".into(),
            message: "Heroku is having trouble right now.".into(),
        });
        let log = CapturedLog::default();
        Autoscaler::new(settings(&app, &smtp, &extra))
            .with_logger(log.logger())
            .with_api(api)
            .start();
        assert!(wait_until_async(SOON, || state.lock().unwrap().scales.len() >= 3).await);
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        let messages = smtp.messages();
        assert_eq!(messages.len(), expected, "flag {flag}");
        if let Some(mail) = messages.first() {
            assert_eq!(
                mail.subject().as_deref(),
                Some("[heroku-autoscale] acme-shop: scaling web from 1 to 2 failed")
            );
            assert!(
                mail.body().contains("HTTP 503 unavailable"),
                "{}",
                mail.body()
            );
        }
    }
}

#[actix_rt::test]
async fn a_plan_limit_is_emailed_once_and_not_asked_past() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    let (api, state) = MockApi::start(1, None);
    state.lock().unwrap().fail_scales = Some(ApiError::Unprocessable {
        id: "cannot_run_above_limit".into(),
        message: "Cannot update to more than 1 Basic size dynos per process type.".into(),
    });
    let log = CapturedLog::default();
    Autoscaler::new(settings(&app, &smtp, &[]))
        .with_logger(log.logger())
        .with_api(api)
        .start();
    assert!(smtp_wait(&smtp, 1).await);
    beats(&app, 10).await;
    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        1,
        "one email, no needs-above-max at the cap"
    );
    let mail = &messages[0];
    assert_eq!(
        mail.subject().as_deref(),
        Some("[heroku-autoscale] acme-shop: Heroku's plan limit holds web at 1 dynos")
    );
    let body = mail.body();
    assert!(body.contains("asks for at most 1 web dynos"), "{body}");
    assert!(body.contains("set AUTOSCALE_MAX_DYNOS to 1"), "{body}");
    assert_no_secret(&mail.data);
    assert_eq!(state.lock().unwrap().scales, [2], "asked once, then capped");
}

#[actix_rt::test]
async fn a_wrong_heartbeat_url_is_emailed_once_and_holds_the_count() {
    let app = FakeApp::start();
    app.set_status(404);
    let smtp = SmtpSink::start();
    let (state, _log) = start(settings(&app, &smtp, &[]), 1);
    assert!(smtp_wait(&smtp, 1).await);
    beats(&app, 10).await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert_eq!(
        mail.subject().as_deref(),
        Some("[heroku-autoscale] acme-shop: the heartbeat URL answers HTTP 404: web is not scaled on load")
    );
    let body = mail.body();
    assert!(body.contains("HTTP 404 after"), "{body}");
    assert!(body.contains("set AUTOSCALE_HEARTBEAT_URL"), "{body}");
    assert!(state.lock().unwrap().scales.is_empty());
}

#[actix_rt::test]
async fn a_wide_swing_sends_the_scale_diff_notice() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    let extra = [
        ("AUTOSCALE_MAX_DYNOS", "4"),
        ("AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX", "false"),
        ("AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD", "2"),
        (
            "AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES",
            "30",
        ),
    ];
    let (state, _) = start(settings(&app, &smtp, &extra), 1);
    // 1 → 2, then a step that did not help doubles: → 4.
    assert!(wait_until_async(SOON, || state.lock().unwrap().scales == [2, 4]).await);
    assert!(smtp_wait(&smtp, 1).await);
    beats(&app, 3).await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].subject().as_deref(),
        Some("[heroku-autoscale] acme-shop: web dynos ranged from 1 to 4 within 30 minutes")
    );
}

#[actix_rt::test]
async fn a_dead_smtp_server_never_stops_scaling_and_the_email_follows_later() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    smtp.set_down(true);
    let extra = [("AUTOSCALE_MAX_DYNOS", "3")];
    let (state, log) = start(settings(&app, &smtp, &extra), 2);
    // At 2 of 3 the slow streak scales to 3, then the max is reached and a notice is due.
    assert!(wait_until_async(SOON, || state.lock().unwrap().scales == [3]).await);
    assert!(
        wait_until_async(SOON, || log
            .count("email notice kind=needs_above_max failed")
            >= 1)
        .await
    );
    assert_eq!(smtp.messages().len(), 0);
    smtp.set_down(false);
    assert!(
        smtp_wait(&smtp, 1).await,
        "the email is retried once the server is back"
    );
    // The sink has the message before the worker has read the server's last reply and logged.
    assert!(
        wait_until_async(SOON, || log.count("emailed notice kind=needs_above_max")
            == 1)
        .await
    );
    assert_no_secret(&log.lines().join("\n"));
}

#[actix_rt::test]
async fn a_slow_smtp_server_does_not_delay_heartbeats() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    smtp.set_reply_delay(Duration::from_secs(3));
    let (_, log) = start(settings(&app, &smtp, &[]), 2);
    assert!(wait_until_async(SOON, || log.count("notice kind=needs_above_max") == 1).await);
    // While the SMTP exchange crawls, heartbeats keep their pace (0.2 s; 10 within 4 s).
    let hits = app.hits();
    actix_rt::time::sleep(Duration::from_secs(4)).await;
    assert!(
        app.hits() >= hits + 10,
        "{} heartbeats in 4 s",
        app.hits() - hits
    );
}

#[test]
fn the_binary_emails_a_refused_key_and_a_needs_above_max() {
    let app = FakeApp::start();
    app.set_latency(Duration::from_millis(600));
    let smtp = SmtpSink::start();
    let api = FakeHeroku::start("acme-shop", "web", API_KEY, 3, &format!("{}/", app.url()));
    let smtp_url = smtp.url_with_credentials("mailer", SMTP_PASSWORD);
    let heartbeat = app.heartbeat_url();
    let api_url = api.url();
    let env = |key: &'static str| {
        vec![
            ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
            ("AUTOSCALE_HEROKU_API_KEY", key),
            ("AUTOSCALE_HEROKU_API_URL", api_url.as_str()),
            ("AUTOSCALE_HEARTBEAT_URL", heartbeat.as_str()),
            ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.4"),
            ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "250"),
            ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
            ("AUTOSCALE_MAX_DYNOS", "3"),
            ("AUTOSCALE_ADMINS", ADMINS),
            ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
            ("AUTOSCALE_EMAIL_FROM", "Autoscaler <scale@acme.example>"),
        ]
    };

    let mut worker = WorkerProcess::spawn(&["run"], &env(API_KEY));
    assert!(smtp.wait_for_messages(1, Duration::from_secs(15)));
    worker.sigterm();
    assert!(worker
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    let mail = &smtp.messages()[0];
    assert_eq!(
        mail.subject().as_deref(),
        Some("[heroku-autoscale] acme-shop: at max 3 web dynos and responses still too slow")
    );
    assert_eq!(mail.from, "scale@acme.example");
    assert_no_secret(&mail.data);
    assert_no_secret(&worker.output());

    let mut worker = WorkerProcess::spawn(&["run"], &env("revoked-key-000"));
    assert!(smtp.wait_for_messages(2, Duration::from_secs(15)));
    worker.sigterm();
    assert!(worker
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    let mail = &smtp.messages()[1];
    assert_eq!(
        mail.subject().as_deref(),
        Some("[heroku-autoscale] acme-shop: the Heroku API refused the API key")
    );
    assert!(
        mail.body().contains("heroku authorizations:create"),
        "{}",
        mail.body()
    );
    assert!(!mail.data.contains("revoked-key-000"));
}

#[actix_rt::test]
async fn a_stalled_smtp_exchange_times_out_and_the_email_is_retried() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    // The server accepts the connection and then answers nothing for far longer than allowed.
    smtp.set_reply_delay(Duration::from_secs(30));
    let (api, _) = MockApi::start(2, None);
    let log = CapturedLog::default();
    Autoscaler::new(settings(&app, &smtp, &[]))
        .with_logger(log.logger())
        .with_api(api)
        .with_email_retry(Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_millis(400),
        })
        .with_smtp_timeout(Duration::from_millis(300))
        .start();
    let stalled =
        "email notice kind=needs_above_max failed: no answer from the SMTP server within 0.3 s";
    assert!(wait_until_async(SOON, || log.count(stalled) >= 1).await);
    smtp.set_reply_delay(Duration::ZERO);
    assert!(
        smtp_wait(&smtp, 1).await,
        "the email goes out once the server answers"
    );
    assert_eq!(smtp.messages().len(), 1);
}

fn notice_context(quantity: u32) -> NoticeContext {
    NoticeContext {
        quantity: Some(quantity),
        bounds: Bounds { min: 1, max: 2 },
        at: chrono::Utc::now(),
        recent: Vec::new(),
        dry_run: false,
    }
}

fn send_notice(notifier: &Addr<NotifierActor>, notice: Notice) {
    notifier.do_send(SendNotice {
        notice,
        context: notice_context(2),
    });
}

#[actix_rt::test]
async fn a_retry_wait_holds_while_new_notices_arrive_and_they_follow_in_order() {
    const RETRY: Duration = Duration::from_millis(1500);
    let app = FakeApp::start();
    let smtp = SmtpSink::start();
    smtp.reject_with(Some((451, "4.7.1 greylisted, try again later".into())));
    let (api, _) = MockApi::start(1, None);
    let log = CapturedLog::default();
    // A fast app at the min of 1 dyno sends no notice of its own: the test sends them all.
    let extra = [("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "true")];
    let actors = Autoscaler::new(settings(&app, &smtp, &extra))
        .with_logger(log.logger())
        .with_api(api)
        .with_email_retry(Backoff {
            first: RETRY,
            max: RETRY,
        })
        .start();
    let notifier = actors.notifier;
    send_notice(
        &notifier,
        Notice::NeedsAboveMax {
            quantity: 2,
            bounds: Bounds { min: 1, max: 2 },
            slow_streak: 3,
        },
    );
    let failed = "email notice kind=needs_above_max failed";
    assert!(wait_until_async(SOON, || log.count(failed) == 1).await);
    let refused_at = tokio::time::Instant::now();
    assert_eq!(smtp.connections(), 1);
    assert!(
        log.count("retrying in 1.5 s") == 1,
        "{}",
        log.lines().join("\n")
    );

    // The server would accept now, so an attempt brought forward would show as an early second
    // connection. Two notices arrive while the retry waits; neither may bring it forward.
    smtp.reject_with(None);
    send_notice(
        &notifier,
        Notice::ApiKeyRefused {
            error: ApiError::Unauthorized {
                status: 401,
                id: "unauthorized".into(),
                message: "Invalid credentials provided.".into(),
            },
        },
    );
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    send_notice(
        &notifier,
        Notice::ScaleFailed {
            from: 1,
            to: 2,
            reason: ScaleReason::SlowStreak,
            error: ApiError::Unprocessable {
                id: "cannot_run_above_limit".into(),
                message: "Cannot run more than 2 Standard-1X dynos.".into(),
            },
        },
    );
    assert!(wait_until_async(SOON, || smtp.connections() >= 2).await);
    let retried_after = refused_at.elapsed();
    // The refusal was seen after it happened, so the retry may come a little under 1.5 s later;
    // a load-slowed machine only makes it later.
    assert!(
        retried_after >= RETRY - Duration::from_millis(300),
        "the server was tried again {retried_after:?} after refusing, before the {RETRY:?} \
         retry wait:\n{}",
        log.lines().join("\n")
    );

    assert!(smtp_wait(&smtp, 3).await, "{}", log.lines().join("\n"));
    let subjects: Vec<String> = smtp
        .messages()
        .iter()
        .map(|mail| mail.subject().unwrap_or_default())
        .collect();
    assert_eq!(
        subjects,
        [
            "[heroku-autoscale] acme-shop: at max 2 web dynos and responses still too slow",
            "[heroku-autoscale] acme-shop: the Heroku API refused the API key",
            "[heroku-autoscale] acme-shop: scaling web from 1 to 2 failed",
        ],
        "the waiting email first, then the new ones in the order they came"
    );
    // One refused attempt, then one connection per email: nothing was tried in between.
    assert_eq!(smtp.connections(), 4);
    assert_eq!(log.count(failed), 1);
}

#[actix_rt::test]
async fn a_server_that_offers_no_login_gets_a_message_that_says_what_to_change() {
    let app = FakeApp::start();
    app.set_latency(SLOW);
    let smtp = SmtpSink::start();
    smtp.set_auth_policy(AuthPolicy::Disabled);
    let (_, log) = start(settings(&app, &smtp, &[]), 2);
    let failed = "email notice kind=needs_above_max failed: ";
    assert!(wait_until_async(SOON, || log.count(failed) >= 1).await);
    let lines = log.lines().join("\n");
    assert!(
        lines.contains(
            "the SMTP server offers no login (AUTH PLAIN or LOGIN) on this connection; remove \
             the user and password from AUTOSCALE_SMTP_URL, or use smtps:// or a port that \
             offers STARTTLS"
        ),
        "{lines}"
    );
    assert!(!lines.contains("internal client error"), "{lines}");
    assert_no_secret(&lines);
    assert_eq!(smtp.messages().len(), 0);
}

/// Runs `check --online` against the fake API, the fake app and `smtp`, with email configured.
fn check_online_with_email(smtp: &SmtpSink) -> (std::process::ExitStatus, String) {
    let (app, api) = support::fake_app_and_api("acme-shop", API_KEY, 2);
    let smtp_url = smtp.url_with_credentials("mailer", SMTP_PASSWORD);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let env = [
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", API_KEY),
        ("AUTOSCALE_HEROKU_API_URL", api_url.as_str()),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat.as_str()),
        ("AUTOSCALE_MAX_DYNOS", "3"),
        ("AUTOSCALE_ADMINS", ADMINS),
        ("AUTOSCALE_SMTP_URL", smtp_url.as_str()),
    ];
    let (status, output) = WorkerProcess::run_to_end(&["check", "--online"], &env, SOON);
    assert_no_secret(&output);
    assert!(output.contains("ok   heroku api:"), "{output}");
    assert!(output.contains("ok   heartbeat:"), "{output}");
    (status, output)
}

#[test]
fn check_online_logs_in_to_the_smtp_server_without_sending_mail() {
    let smtp = SmtpSink::start();
    smtp.require_auth("mailer", SMTP_PASSWORD);
    let (status, output) = check_online_with_email(&smtp);
    assert!(status.success(), "{output}");
    let expected = format!(
        "ok   smtp: smtp://mailer:********@127.0.0.1:{} accepted the login of mailer (no mail \
         sent)",
        smtp.port()
    );
    assert!(output.contains(&expected), "{output}");
    assert!(output.contains("online checks passed"), "{output}");
    let commands = smtp.commands();
    assert!(
        commands.iter().any(|c| c.starts_with("AUTH ")),
        "{commands:?}"
    );
    assert!(
        !commands.iter().any(|c| c.starts_with("MAIL ")),
        "{commands:?}"
    );
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
    assert!(smtp.messages().is_empty());
}

#[test]
fn check_online_explains_a_refused_smtp_login_and_a_server_without_login() {
    let smtp = SmtpSink::start();
    smtp.require_auth("mailer", "not-the-configured-password");
    let (status, output) = check_online_with_email(&smtp);
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("FAIL smtp: smtp://mailer:********@"),
        "{output}"
    );
    assert!(
        output.contains(
            "the SMTP server refused the user and password; check them in AUTOSCALE_SMTP_URL"
        ),
        "{output}"
    );
    assert!(output.contains("online checks failed"), "{output}");

    smtp.set_auth_policy(AuthPolicy::Disabled);
    let (status, output) = check_online_with_email(&smtp);
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains(
            "FAIL smtp: smtp://mailer:********@127.0.0.1:PORT: the SMTP server offers no login \
             (AUTH PLAIN or LOGIN) on this connection; remove the user and password from \
             AUTOSCALE_SMTP_URL, or use smtps:// or a port that offers STARTTLS"
                .replace("PORT", &smtp.port().to_string())
                .as_str()
        ),
        "{output}"
    );
    assert!(smtp.messages().is_empty());
}
