//! `check --online` and the heartbeat probe it shares with the worker (issue 12): a heartbeat
//! URL's password stays masked, a hung API costs one timeout rather than one per request, and
//! redirects the probe cannot follow are named for what they are.

mod support;

use std::time::Duration;

use heroku_autoscale::heartbeat::probe::{client, probe};
use heroku_autoscale::heroku::API_TIMEOUT;
use heroku_autoscale::judge::ProbeOutcome;
use heroku_autoscale::online_check::check_online;
use heroku_autoscale::settings::{self, Settings, SettingsSource};
use support::{FakeApp, FakeHeroku};

const APP: &str = "acme-shop";
const KEY: &str = "online-check-key-8e2a";

fn settings(api_url: &str, heartbeat_url: &str) -> Settings {
    let vars = [
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", KEY),
        ("AUTOSCALE_HEROKU_API_URL", api_url),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat_url),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "200"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "50"),
    ];
    settings::load(&SettingsSource::from_vars(vars))
        .expect("valid settings")
        .settings
}

async fn check_lines(settings: &Settings) -> String {
    let lines: Vec<String> = check_online(settings)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    lines.join("\n")
}

#[actix_rt::test]
async fn check_online_masks_the_heartbeat_urls_password() {
    heroku_autoscale::install_crypto_provider();
    let (app, api) = support::fake_app_and_api(APP, KEY, 1);
    let heartbeat = app
        .heartbeat_url()
        .replace("http://", "http://user:hbSECRETpw@");
    let text = check_lines(&settings(&api.url(), &heartbeat)).await;
    assert!(
        text.contains("ok   heartbeat: http://user:********@127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains("hbSECRETpw"), "{text}");

    // Failing lines quote the URL too.
    app.set_status(503);
    let text = check_lines(&settings(&api.url(), &heartbeat)).await;
    assert!(
        text.contains("FAIL heartbeat: http://user:********@"),
        "{text}"
    );
    assert!(!text.contains("hbSECRETpw"), "{text}");
}

#[actix_rt::test]
async fn check_online_waits_for_a_hung_api_once_not_once_per_request() {
    heroku_autoscale::install_crypto_provider();
    let app = FakeApp::start();
    let api = FakeHeroku::start(APP, "web", KEY, 1, &format!("{}/", app.url()));
    api.set_delay(Duration::from_secs(3600));
    let settings = settings(&api.url(), &app.heartbeat_url());
    // On tokio's paused clock: the timeouts pass in virtual time, and the elapsed time is exact.
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let text = check_lines(&settings).await;
    let took = started.elapsed();
    // One API timeout, plus the heartbeat's 200 ms at most (it may time out on this clock too).
    let bound = API_TIMEOUT + Duration::from_millis(500);
    assert!(took <= bound, "check --online took {took:?}:\n{text}");
    assert!(
        text.contains("FAIL heroku api: the Heroku API did not answer within 10 s"),
        "{text}"
    );
    assert!(
        text.contains("FAIL formation: not asked: the Heroku API did not answer within 10 s"),
        "{text}"
    );
    // The formation was not asked for once the API had used up the wait. (Whether the first
    // request itself got there before the timeout on this clock is left open.)
    std::thread::sleep(Duration::from_millis(200));
    let formation_reads = api
        .requests()
        .iter()
        .filter(|request| request.path.contains("/formation"))
        .count();
    assert_eq!(formation_reads, 0, "{:?}", api.requests());
}

// ---------------------------------------------------------------------------------------------
// Redirects the probe cannot follow

async fn probe_outcome(url: &str) -> ProbeOutcome {
    heroku_autoscale::install_crypto_provider();
    let url = url::Url::parse(url).expect("a URL");
    probe(client(), url, Duration::from_secs(5)).await.outcome
}

#[actix_rt::test]
async fn a_redirect_loop_is_called_a_redirect_loop() {
    let app = FakeApp::start();
    app.redirect("/a", "/b");
    app.redirect("/b", "/a");
    let outcome = probe_outcome(&format!("{}/a", app.url())).await;
    match &outcome {
        ProbeOutcome::Failed(error) => {
            assert!(error.contains("redirect loop"), "{error}");
            assert!(error.contains("/a"), "{error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_redirect_to_another_scheme_is_called_unsupported() {
    let app = FakeApp::start();
    app.redirect("/up", "ftp://127.0.0.1/up");
    let outcome = probe_outcome(&format!("{}/up", app.url())).await;
    match &outcome {
        ProbeOutcome::Failed(error) => {
            assert!(error.contains("unsupported scheme ftp"), "{error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[actix_rt::test]
async fn redirects_are_still_followed_to_the_answer() {
    let app = FakeApp::start();
    app.redirect("/old", "/new");
    app.redirect("/new", &format!("{}/newest", app.url()));
    let outcome = probe_outcome(&format!("{}/old", app.url())).await;
    assert_eq!(outcome, ProbeOutcome::Status(200));
    assert_eq!(app.paths(), ["/old", "/new", "/newest"]);
}

#[actix_rt::test]
async fn endless_redirects_to_new_places_give_up_after_ten() {
    let app = FakeApp::start();
    for hop in 0..20 {
        app.redirect(&format!("/{hop}"), &format!("/{}", hop + 1));
    }
    let outcome = probe_outcome(&format!("{}/0", app.url())).await;
    match &outcome {
        ProbeOutcome::Failed(error) => assert!(error.contains("too many redirects"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(app.hits(), 11, "{:?}", app.paths());
}

// ---------------------------------------------------------------------------------------------
// A user and password in the heartbeat URL (as curl sends them)

/// `Basic base64(user:password)`, as the fake app compares it.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[actix_rt::test]
async fn a_heartbeat_urls_user_and_password_are_sent_as_basic_auth() {
    let app = FakeApp::start();
    app.require_basic_auth(Some(("hb user", "p@ss:w/rd#?é")));
    app.redirect("/old", "/new");
    // Percent-encoded in the URL, sent decoded; a relative redirect keeps them.
    let url = app
        .url()
        .replace("http://", "http://hb%20user:p%40ss%3Aw%2Frd%23%3F%C3%A9@");
    let outcome = probe_outcome(&format!("{url}/old")).await;
    assert_eq!(
        outcome,
        ProbeOutcome::Status(200),
        "{:?}",
        app.authorizations()
    );
    let sent = Some(basic("hb user", "p@ss:w/rd#?é"));
    assert_eq!(app.authorizations(), [sent.clone(), sent]);
    assert_eq!(app.paths(), ["/old", "/new"]);

    // A user alone is sent with an empty password, as curl does; no user, no header.
    app.require_basic_auth(None);
    let token = app.url().replace("http://", "http://TOKEN@");
    assert_eq!(
        probe_outcome(&format!("{token}/up")).await,
        ProbeOutcome::Status(200)
    );
    assert_eq!(app.authorizations()[2], Some(basic("TOKEN", "")));
    probe_outcome(&format!("{}/up", app.url())).await;
    assert_eq!(app.authorizations()[3], None);
}

#[actix_rt::test]
async fn credentials_are_never_sent_to_a_redirect_on_another_host() {
    let app = FakeApp::start();
    let elsewhere = FakeApp::start();
    app.redirect("/up", &format!("{}/landed", elsewhere.url()));
    let url = app.url().replace("http://", "http://user:hbSECRETpw@");
    let outcome = probe_outcome(&format!("{url}/up")).await;
    assert_eq!(outcome, ProbeOutcome::Status(200));
    assert_eq!(app.authorizations(), [Some(basic("user", "hbSECRETpw"))]);
    // Another port of the same address is another origin: nothing sent there.
    assert_eq!(elsewhere.paths(), ["/landed"]);
    assert_eq!(elsewhere.authorizations(), [None]);
}

#[actix_rt::test]
async fn credentials_go_on_to_an_absolute_redirect_to_the_same_scheme_host_and_port() {
    // Rails and many frameworks write every Location absolute, even to the same app.
    let app = FakeApp::start();
    app.require_basic_auth(Some(("user", "hbSECRETpw")));
    app.redirect("/hb", &format!("{}/hb/", app.url()));
    // Scheme-relative, to the same host and port.
    app.redirect("/hb/", &format!("{}/hb/v1", app.url().replace("http:", "")));
    let url = app.url().replace("http://", "http://user:hbSECRETpw@");
    let outcome = probe_outcome(&format!("{url}/hb")).await;
    assert_eq!(
        outcome,
        ProbeOutcome::Status(200),
        "{:?}",
        app.authorizations()
    );
    let sent = Some(basic("user", "hbSECRETpw"));
    assert_eq!(app.paths(), ["/hb", "/hb/", "/hb/v1"]);
    assert_eq!(app.authorizations(), [sent.clone(), sent.clone(), sent]);
}

#[actix_rt::test]
async fn a_redirect_with_its_own_user_and_password_sends_those() {
    let app = FakeApp::start();
    let other = app.url().replace("http://", "http://other:otherpw@");
    app.redirect("/hb", &format!("{other}/landed"));
    let url = app.url().replace("http://", "http://user:hbSECRETpw@");
    assert_eq!(
        probe_outcome(&format!("{url}/hb")).await,
        ProbeOutcome::Status(200)
    );
    assert_eq!(
        app.authorizations(),
        [
            Some(basic("user", "hbSECRETpw")),
            Some(basic("other", "otherpw"))
        ]
    );
}

#[actix_rt::test]
async fn check_online_reads_the_queue_once_and_shows_each_worker_type() {
    heroku_autoscale::install_crypto_provider();
    let (app, api) = support::fake_app_and_api(APP, KEY, 1);
    api.set_process_quantity("worker", 2);
    app.set_queue(&[("worker", 120), ("urgentworker", 7), ("mailer", 1)]);
    let (api_url, heartbeat, queue) = (api.url(), app.heartbeat_url(), app.queue_url());
    let vars = [
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", KEY),
        ("AUTOSCALE_HEROKU_API_URL", api_url.as_str()),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat.as_str()),
        ("AUTOSCALE_QUEUE_URL", queue.as_str()),
        (
            "AUTOSCALE_PROCESSES",
            "worker: max_dynos=5 jobs_per_dyno=50; urgentworker: max_dynos=2 max_latency_in_seconds=30",
        ),
    ];
    let settings = settings::load(&SettingsSource::from_vars(vars))
        .expect("valid settings")
        .settings;
    let text = check_lines(&settings).await;
    assert!(text.contains("ok   queue: http://127.0.0.1:"), "{text}");
    assert!(
        text.contains("/hirefire/******** answered: mailer=1 urgentworker=7 worker=120"),
        "{text}"
    );
    assert!(
        text.contains("ok   queue: worker: 120 jobs waiting, wants 3 dynos (worker: min_dynos=0 max_dynos=5 jobs_per_dyno=50); runs 2"),
        "{text}"
    );
    assert!(
        text.contains("FAIL queue: urgentworker: the oldest job waited 7 s (within 30 s;"),
        "{text}"
    );
    assert!(text.contains("not in the app's formation"), "{text}");
    assert!(
        text.contains("the document also names mailer: not in AUTOSCALE_PROCESSES"),
        "{text}"
    );
    assert!(!text.contains(support::fake_app::QUEUE_TOKEN), "{text}");
    assert_eq!(app.queue_hits(), 1, "read once");
}
