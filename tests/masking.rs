//! Secrets and foreign text on their way out (issue 12): a user that is a token, URL passwords
//! in settings errors, an API key echoed JSON-escaped in an error body, and control characters
//! from the API or the SMTP server. Each test looks at what a person would see: `check`'s
//! output, settings errors, `Debug`, log lines and emails.

mod support;

use std::time::Duration;

use heroku_autoscale::online_check::check_online;
use heroku_autoscale::settings::{self, Settings, SettingsSource};
use heroku_autoscale::Autoscaler;
use support::log_capture::CapturedLog;
use support::{wait_until_async, Failure, FakeApp, FakeHeroku, SmtpSink, WorkerProcess};

const APP: &str = "acme-shop";
const SOON: Duration = Duration::from_secs(10);
/// Postmark's add-on gives one token, used as both SMTP user and password.
const POSTMARK_TOKEN: &str = "pmSECRET-4f1c-token";

fn load(vars: &[(&str, &str)]) -> Result<Settings, String> {
    settings::load(&SettingsSource::from_vars(vars.iter().copied()))
        .map(|loaded| loaded.settings)
        .map_err(|error| error.to_string())
}

/// Any C0 or C1 control character other than the line breaks and tabs an email body is made of.
fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

// ---------------------------------------------------------------------------------------------
// 1. A user that is a token

#[test]
fn check_masks_a_postmark_token_used_as_the_smtp_user() {
    let env = [
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "check-key-1"),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("POSTMARK_SMTP_SERVER", "smtp.postmarkapp.com"),
        ("POSTMARK_API_TOKEN", POSTMARK_TOKEN),
    ];
    let (status, output) = WorkerProcess::run_to_end(&["check"], &env, SOON);
    assert!(status.success(), "{output}");
    assert!(!output.contains("pmSECRET"), "{output}");
    assert!(
        output.contains("smtp://********:********@smtp.postmarkapp.com:587"),
        "{output}"
    );
}

#[test]
fn debug_output_of_the_settings_masks_a_token_user() {
    let settings = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "debug-key-1"),
        ("POSTMARK_SMTP_SERVER", "smtp.postmarkapp.com"),
        ("POSTMARK_API_TOKEN", POSTMARK_TOKEN),
    ])
    .expect("valid settings");
    let shown = format!("{settings:?}");
    assert!(!shown.contains("pmSECRET"), "{shown}");
    let smtp = settings.smtp.as_ref().expect("the add-on's SMTP server");
    assert!(!format!("{smtp:?} {smtp}").contains("pmSECRET"));
    // Still the token where it has to be sent.
    let (user, password) = smtp.credentials.as_ref().expect("a login");
    assert_eq!(
        (user.as_str(), password.expose()),
        (POSTMARK_TOKEN, POSTMARK_TOKEN)
    );
}

#[test]
fn debug_output_of_the_settings_masks_url_passwords() {
    let settings = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "debug-key-1"),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "https://proxy:apiPWSECRET@api.example.com",
        ),
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://probe:hbPWSECRET@acme.example.com/heartbeat",
        ),
    ])
    .expect("valid settings");
    let shown = format!("{settings:?}");
    assert!(!shown.contains("apiPWSECRET"), "{shown}");
    assert!(!shown.contains("hbPWSECRET"), "{shown}");
    assert!(
        shown.contains("https://proxy:********@api.example.com/"),
        "{shown}"
    );
}

#[actix_rt::test]
async fn check_online_masks_a_token_user_in_the_login_line() {
    heroku_autoscale::install_crypto_provider();
    let (app, api) = support::fake_app_and_api(APP, "online-key-1", 1);
    let smtp = SmtpSink::start();
    smtp.require_auth(POSTMARK_TOKEN, POSTMARK_TOKEN);
    let smtp_url = smtp.url_with_credentials(POSTMARK_TOKEN, POSTMARK_TOKEN);
    let (heartbeat, api_url) = (app.heartbeat_url(), api.url());
    let settings = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "online-key-1"),
        ("AUTOSCALE_HEROKU_API_URL", &api_url),
        ("AUTOSCALE_HEARTBEAT_URL", &heartbeat),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("AUTOSCALE_SMTP_URL", &smtp_url),
    ])
    .expect("valid settings");
    let lines: Vec<String> = check_online(&settings)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let text = lines.join("\n");
    assert!(
        text.contains("ok   smtp: smtp://********:********@"),
        "{text}"
    );
    assert!(text.contains("accepted the login of ********"), "{text}");
    assert!(!text.contains("pmSECRET"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 3. Settings errors that quote a URL

#[test]
fn a_refused_url_setting_is_quoted_with_its_password_masked() {
    let error = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "errors-key-1"),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "http://user:apiPWSECRET@example.com",
        ),
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "ftp://hb:hbPWSECRET@example.com/up",
        ),
    ])
    .expect_err("plain http to a remote API and an ftp heartbeat are refused");
    assert!(!error.contains("PWSECRET"), "{error}");
    assert!(
        error.contains(
            "AUTOSCALE_HEROKU_API_URL=\"http://user:********@example.com\": must use https"
        ),
        "{error}"
    );
    assert!(
        error.contains("AUTOSCALE_HEARTBEAT_URL=\"ftp://hb:********@example.com/up\""),
        "{error}"
    );
}

#[test]
fn a_url_too_broken_to_parse_still_has_its_password_masked() {
    // A space in the host: not a URL at all, but plainly meant as one, password and all.
    let error = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "errors-key-2"),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "https://user:apiPWSECRET@exa mple.com",
        ),
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://hbTOKENSECRET@exa mple.com/up",
        ),
    ])
    .expect_err("a host with a space is refused");
    assert!(!error.contains("SECRET"), "{error}");
    assert!(
        error.contains("\"https://user:********@exa mple.com\""),
        "{error}"
    );
    assert!(
        error.contains("\"https://********@exa mple.com/up\""),
        "{error}"
    );
}

/// Passwords with an unencoded `#` or `?`: the URL standard ends the host part there, so the
/// text is not a URL (`user:pa` is a host and a bad port), or is one with another host and the
/// rest in a query or fragment. Either way nothing between `://` and the last `@` is shown.
const CUT_SHORT: [(&str, &str, &str); 3] = [
    (
        "AUTOSCALE_HEARTBEAT_URL",
        "https://hb:hbpw#hb1secret@app.example.com/hb",
        "https://hb:********@app.example.com/hb",
    ),
    (
        "AUTOSCALE_HEROKU_API_URL",
        "https://api:apipw?api1secret@api.example.com",
        "https://api:********@api.example.com",
    ),
    (
        "AUTOSCALE_SMTP_URL",
        "smtp://mailer:smpw#sm?1secret@smtp.example.com:587",
        "smtp://mailer:********@smtp.example.com:587",
    ),
];

/// The same with `?` and `#` swapped, and a token user that leaves a URL that parses.
const CUT_SHORT_TOO: [(&str, &str, &str); 3] = [
    (
        "AUTOSCALE_HEARTBEAT_URL",
        "https://hbtoken#hb2secret@app.example.com/hb",
        "https://********@app.example.com/hb",
    ),
    (
        "AUTOSCALE_HEROKU_API_URL",
        "https://api:apipw#api2secret@api.example.com",
        "https://api:********@api.example.com",
    ),
    (
        "AUTOSCALE_SMTP_URL",
        "smtp://mailer:smpw?sm2secret@smtp.example.com:587",
        "smtp://mailer:********@smtp.example.com:587",
    ),
];

fn with_base<'a>(urls: &[(&'a str, &'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "errors-key-3"),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
    ];
    vars.extend(urls.iter().map(|(name, value, _)| (*name, *value)));
    vars
}

#[test]
fn a_url_password_with_a_hash_or_question_mark_is_masked_in_settings_errors() {
    for urls in [CUT_SHORT, CUT_SHORT_TOO] {
        let error = load(&with_base(&urls)).expect_err("credentials cut short are refused");
        // Host names are shown lower-cased: compare that way.
        assert!(!error.to_lowercase().contains("secret"), "{error}");
        for (name, _, shown) in urls {
            assert!(
                error.contains(&format!("{name}=\"{shown}\"")),
                "{name}: {error}"
            );
        }
    }
}

#[test]
fn check_never_prints_a_url_password_with_a_hash_or_question_mark() {
    for urls in [CUT_SHORT, CUT_SHORT_TOO] {
        let env = with_base(&urls);
        let (status, output) = WorkerProcess::run_to_end(&["check"], &env, SOON);
        assert_eq!(status.code(), Some(2), "refused:\n{output}");
        assert!(!output.to_lowercase().contains("secret"), "{output}");
        for (name, _, shown) in urls {
            assert!(output.contains(shown), "{name}: {output}");
        }
    }
    // Written percent-encoded, they are valid, and `check` masks them.
    let encoded = [
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://hb:hbpw%23hb3secret@app.example.com/hb?x=1#top",
            "https://hb:********@app.example.com/hb?x=1#top",
        ),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "https://api:apipw%3Fapi3secret@api.example.com",
            "https://api:********@api.example.com/",
        ),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://mailer:smpw%23sm%3F3secret@smtp.example.com:587",
            "smtp://mailer:********@smtp.example.com:587",
        ),
    ];
    let (status, output) = WorkerProcess::run_to_end(&["check"], &with_base(&encoded), SOON);
    assert!(status.success(), "{output}");
    assert!(!output.to_lowercase().contains("secret"), "{output}");
    for (name, _, shown) in encoded {
        assert!(output.contains(shown), "{name}: {output}");
    }
}

/// A token user with an empty password (`TOKEN:@host`) is a user standing alone: masked.
#[test]
fn a_token_user_with_an_empty_password_is_masked_in_settings_errors() {
    let error = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "errors-key-4"),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "http://hkTOKENSECRET:@example.com",
        ),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://pmTOKENSECRET:@smtp.example.com",
        ),
    ])
    .expect_err("plain http to a remote API and an SMTP user without a password are refused");
    assert!(!error.contains("SECRET"), "{error}");
    assert!(
        error.contains("AUTOSCALE_HEROKU_API_URL=\"http://********:@example.com\": must use https"),
        "{error}"
    );
    assert!(
        error.contains("AUTOSCALE_SMTP_URL=\"smtp://********:@smtp.example.com\": has a user name"),
        "{error}"
    );
}

/// A space in a password: the URL is refused (or is no URL) and quoted, password masked whole.
#[test]
fn a_url_password_with_a_space_is_masked_in_settings_errors() {
    let error = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "errors-key-5"),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "http://user:my apisecret@example.com",
        ),
        ("AUTOSCALE_HEARTBEAT_URL", "ftp://user:my hbsecret@host/hb"),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://user:my smsecret@exa mple.com:587",
        ),
    ])
    .expect_err("an http API, an ftp heartbeat and a host with a space are refused");
    assert!(!error.contains("secret"), "{error}");
    for (name, shown) in [
        (
            "AUTOSCALE_HEROKU_API_URL",
            "http://user:********@example.com",
        ),
        ("AUTOSCALE_HEARTBEAT_URL", "ftp://user:********@host/hb"),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://user:********@exa mple.com:587",
        ),
    ] {
        assert!(
            error.contains(&format!("{name}=\"{shown}\"")),
            "{name}: {error}"
        );
    }
}

/// A `?` or `#` in a token or password followed by a `/`: the URL parses, to the host before the
/// `?`, with the rest a query. Refused, and never shown, by `check` either.
#[test]
fn check_refuses_a_url_whose_credentials_end_in_a_query_and_never_shows_them() {
    let urls = [
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://hbtok?en5secret/x@app.example.com/hb",
            "https://********@app.example.com/hb",
        ),
        (
            "AUTOSCALE_HEROKU_API_URL",
            "https://user:43210?/x@api.example.com",
            "https://user:********@api.example.com",
        ),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://smtok#en5secret/x@smtp.example.com:587",
            "smtp://********@smtp.example.com:587",
        ),
    ];
    let (status, output) = WorkerProcess::run_to_end(&["check"], &with_base(&urls), SOON);
    assert_eq!(status.code(), Some(2), "refused:\n{output}");
    for secret in ["secret", "43210", "hbtok", "smtok"] {
        assert!(
            !output.to_lowercase().contains(secret),
            "{secret}: {output}"
        );
    }
    for (name, _, shown) in urls {
        assert!(
            output.contains(&format!("{name}=\"{shown}\"")),
            "{name}: {output}"
        );
    }
    assert!(output.contains("%3F and %23"), "{output}");

    // A query without a `/` before it, with an @ in it, is refused too, with what to write.
    let error = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "errors-key-6"),
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://app.example.com?next=ops@example.com",
        ),
    ])
    .expect_err("a ? before the first / and an @ after it is refused");
    assert!(error.contains("https://app.example.com/?next="), "{error}");

    // Valid URLs with an @ after a `/`, or brackets and a port, pass.
    for heartbeat in [
        "https://app.example.com/hb?next=a@b",
        "https://user@app.example.com/",
        "https://[::1]:8080/hb",
        "/hb?x=1",
    ] {
        load(&[
            ("AUTOSCALE_HEROKU_APP_NAME", APP),
            ("AUTOSCALE_HEROKU_API_KEY", "errors-key-7"),
            ("AUTOSCALE_HEARTBEAT_URL", heartbeat),
        ])
        .unwrap_or_else(|error| panic!("{heartbeat}: {error}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 4 and 5. API error bodies: the key JSON-escaped, control characters

/// The key has a `/` so that it can be echoed as `\/`, as JSON encoders that escape solidus do.
const ESCAPED_KEY: &str = "hk/secret/7Qx2";

/// A slow app, the fake API at 1 dyno whose scale calls fail with `failures` in turn, an SMTP
/// server, and the worker in this process emailing *scale failed* notices.
fn scale_failing_worker(failures: &[Failure]) -> (FakeApp, FakeHeroku, SmtpSink, CapturedLog) {
    let app = FakeApp::start();
    app.set_latency(Duration::from_millis(400));
    let api = FakeHeroku::start(APP, "web", ESCAPED_KEY, 1, &format!("{}/", app.url()));
    for failure in failures {
        api.fail_patches_next(1, failure.clone());
    }
    let smtp = SmtpSink::start();
    let (heartbeat, api_url, smtp_url) = (app.heartbeat_url(), api.url(), smtp.url());
    let settings = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", ESCAPED_KEY),
        ("AUTOSCALE_HEROKU_API_URL", &api_url),
        ("AUTOSCALE_HEARTBEAT_URL", &heartbeat),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "100"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "30"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_MAX_DYNOS", "3"),
        ("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "true"),
        ("AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX", "false"),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("AUTOSCALE_SMTP_URL", &smtp_url),
    ])
    .expect("valid settings");
    let log = CapturedLog::default();
    Autoscaler::new(settings).with_logger(log.logger()).start();
    (app, api, smtp, log)
}

#[actix_rt::test]
async fn a_key_echoed_json_escaped_in_an_api_error_reaches_no_log_line_and_no_email() {
    let heroku_shape = Failure::new(502, "bad_gateway", "unused").with_raw_body(
        r#"{"id":"bad_gateway","message":"request was: Authorization: Bearer hk\/secret\/7Qx2 (again: \u0068\u006B\/secret\/7Qx2)"}"#,
    );
    // Not Heroku's {id, message}: the body itself becomes the message.
    let other_shape = Failure::new(502, "unused", "unused")
        .with_raw_body(r#"{"error":{"echo":"Bearer \u0068k\/secret\/7Qx2"}}"#);
    let (_app, api, smtp, log) = scale_failing_worker(&[heroku_shape, other_shape]);

    let failed = "heroku api scale formation failed";
    assert!(
        wait_until_async(Duration::from_secs(20), || log.count(failed) >= 2).await,
        "{}",
        log.lines().join("\n")
    );
    assert!(smtp.wait_for_messages(1, SOON), "no scale-failed email");
    assert!(wait_until_async(SOON, || api.quantity() == 2).await);

    let lines = log.lines().join("\n");
    let email = smtp.messages()[0].body();
    for text in [&lines, &email] {
        for leak in [
            ESCAPED_KEY,
            r"hk\/secret",
            r"\u0068",
            r"\u006B",
            "secret/7Qx2",
        ] {
            assert!(!text.contains(leak), "{leak} leaked:\n{text}");
        }
    }
    assert!(
        lines.contains("Authorization: Bearer ******** (again: ********)"),
        "the echo is masked, not dropped:\n{lines}"
    );
    assert!(email.contains("Bearer ********"), "{email}");
}

#[actix_rt::test]
async fn control_characters_in_api_error_bodies_reach_no_log_line_and_no_email() {
    let escaped = Failure::new(502, "unused", "unused").with_raw_body(
        r#"{"id":"bad\u001b[2Jgateway","message":"\u001b[31mred\u001b[0m, a bell\u0007, a CSI\u009b6n, a DEL\u007f"}"#,
    );
    let raw = Failure::new(503, "unused", "unused")
        .with_raw_body("<html>\x1b]0;title\x07 upstream \x1b[1mdown\x1b[0m</html>");
    let (_app, api, smtp, log) = scale_failing_worker(&[escaped, raw]);

    let failed = "heroku api scale formation failed";
    assert!(
        wait_until_async(Duration::from_secs(20), || log.count(failed) >= 2).await,
        "{}",
        log.lines().join("\n")
    );
    assert!(smtp.wait_for_messages(1, SOON), "no scale-failed email");
    assert!(wait_until_async(SOON, || api.quantity() == 2).await);
    for line in log.lines() {
        assert!(!has_control(&line), "a control character in: {line:?}");
    }
    let email = smtp.messages()[0].body();
    assert!(!has_control(&email), "a control character in: {email:?}");
    // Shown escaped, so an operator can see that something odd was sent.
    assert!(
        log.count(r"\u{1b}[31mred\u{1b}[0m") >= 1,
        "{:?}",
        log.lines()
    );
}

#[actix_rt::test]
async fn control_characters_in_an_smtp_reply_reach_no_log_line() {
    let app = FakeApp::start();
    app.set_latency(Duration::from_millis(400));
    let smtp = SmtpSink::start();
    smtp.reject_with(Some((
        550,
        "5.1.1 \x1b[31mno such\x1b[0m mailbox\x07".into(),
    )));
    let (heartbeat, smtp_url) = (app.heartbeat_url(), smtp.url());
    let settings = load(&[
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", "smtp-controls-key"),
        ("AUTOSCALE_HEARTBEAT_URL", &heartbeat),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "100"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "30"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_MAX_DYNOS", "1"),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("AUTOSCALE_SMTP_URL", &smtp_url),
    ])
    .expect("valid settings");
    let (api, _) = support::mock_api::MockApi::start(1, None);
    let log = CapturedLog::default();
    Autoscaler::new(settings)
        .with_logger(log.logger())
        .with_api(api)
        .start();
    let failed = "email notice kind=needs_above_max failed";
    assert!(
        wait_until_async(SOON, || log.count(failed) >= 1).await,
        "{}",
        log.lines().join("\n")
    );
    let line = log
        .lines()
        .into_iter()
        .find(|line| line.contains(failed))
        .expect("the failure line");
    assert!(line.contains("no such"), "{line}");
    assert!(!has_control(&line), "a control character in: {line:?}");
}
