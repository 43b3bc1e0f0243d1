//! `heroku-autoscale check --online`: one read-only pass over everything the worker will touch
//! (the app and the formation through the API, the heartbeat URL, and the SMTP server when
//! notices are emailed), so that a wrong key, app name, URL or mail login shows up before
//! deploying rather than in the worker's log afterwards.

use std::fmt;
use std::future::Future;

use actix_rt::time::Instant;
use url::Url;

use crate::heroku::API_TIMEOUT;
use crate::heroku::{ApiError, Formation, HerokuClient};
use crate::judge::{classify, Limits, ProbeOutcome, Verdict};
use crate::notify::actor::SMTP_TIMEOUT;
use crate::notify::smtp::try_login;
use crate::secret::{printable, redacted};
use crate::settings::{HeartbeatUrl, Settings, SmtpSettings};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Whether this part is ready for the worker.
    pub ok: bool,
    /// What was checked, e.g. `heroku api`.
    pub what: &'static str,
    /// What was found and, when not ok, what to do.
    pub detail: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{mark} {}: {}", self.what, self.detail)
    }
}

fn line(ok: bool, what: &'static str, detail: String) -> CheckLine {
    CheckLine { ok, what, detail }
}

fn api_failure(what: &'static str, error: &ApiError) -> CheckLine {
    line(false, what, format!("{error}; {}", error.advice()))
}

/// Reads the app and its formation once, probes the heartbeat once and, when notices are
/// emailed, logs in to the SMTP server. Sends nothing that changes anything, and no mail. Must
/// run inside an actix system (awc).
pub async fn check_online(settings: &Settings) -> Vec<CheckLine> {
    let client = HerokuClient::new(
        settings.heroku_api_url.0.clone(),
        settings.heroku_app_name.clone(),
        settings.process_type.clone(),
        settings.heroku_api_key.clone(),
        API_TIMEOUT,
    );
    let (mut lines, web_url) = check_api(&client, settings).await;
    lines.push(check_heartbeat(settings, web_url.as_ref()).await);
    if let (Some(smtp), false) = (&settings.smtp, settings.admins.is_empty()) {
        lines.push(check_smtp(smtp).await);
    }
    lines
}

/// Reads the app, then the formation, all within one [`API_TIMEOUT`]: an API that does not
/// answer costs one wait, not one per request (nor one per retry).
async fn check_api(client: &HerokuClient, settings: &Settings) -> (Vec<CheckLine>, Option<Url>) {
    let deadline = Instant::now() + API_TIMEOUT;
    let mut lines = Vec::new();
    let app = before(deadline, retry_network_once(|| client.app())).await;
    let web_url = match app {
        Ok(app) => {
            let shown = app
                .web_url
                .as_ref()
                .map_or_else(|| "none".to_string(), redacted);
            lines.push(line(
                true,
                "heroku api",
                format!(
                    "the key can read app {} (web URL {shown})",
                    printable(&app.name)
                ),
            ));
            app.web_url
        }
        Err(error @ ApiError::Timeout(_)) => {
            lines.push(api_failure("heroku api", &error));
            let skipped = format!("not asked: {error} (see above)");
            lines.push(line(false, "formation", skipped));
            return (lines, None);
        }
        Err(error) => {
            lines.push(api_failure("heroku api", &error));
            None
        }
    };
    let formation = before(deadline, retry_network_once(|| client.formation())).await;
    lines.push(formation_line(settings, formation));
    (lines, web_url)
}

/// `read`'s answer, or a timeout at `deadline`.
async fn before<T>(
    deadline: Instant,
    read: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let left = deadline.saturating_duration_since(Instant::now());
    actix_rt::time::timeout(left, read)
        .await
        .unwrap_or(Err(ApiError::Timeout(API_TIMEOUT)))
}

fn formation_line(settings: &Settings, formation: Result<Formation, ApiError>) -> CheckLine {
    let process = &settings.process_type;
    let bounds = settings.bounds_at(chrono::Utc::now());
    match formation {
        Ok(formation) if (bounds.min..=bounds.max).contains(&formation.quantity) => line(
            true,
            "formation",
            format!(
                "{process} runs {} dynos, within the bounds in force now ({bounds})",
                formation.quantity
            ),
        ),
        Ok(formation) => line(
            true,
            "formation",
            format!(
                "{process} runs {} dynos, outside the bounds in force now ({bounds}): the \
                 worker will scale it into them at start",
                formation.quantity
            ),
        ),
        Err(error) => api_failure("formation", &error),
    }
}

/// Reads once more after a network failure: a pooled connection the server has just closed
/// fails the next request without saying anything about the key, the app or the network.
async fn retry_network_once<T, F, Fut>(read: F) -> Result<T, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    match read().await {
        Err(ApiError::Network(_)) => read().await,
        answer => answer,
    }
}

async fn check_heartbeat(settings: &Settings, web_url: Option<&Url>) -> CheckLine {
    const WHAT: &str = "heartbeat";
    let url = match (&settings.heartbeat_url, web_url) {
        (HeartbeatUrl::Absolute(url), _) => url.0.clone(),
        (HeartbeatUrl::Path(_), Some(web_url)) => match settings.heartbeat_url.resolve(web_url) {
            Ok(url) => url,
            Err(error) => {
                return line(
                    false,
                    WHAT,
                    format!("cannot join the path to {}: {error}", redacted(web_url)),
                )
            }
        },
        (HeartbeatUrl::Path(path), None) => {
            return line(
                false,
                WHAT,
                format!(
                    "{path} is a path, and the app's web URL is unknown (see above); set \
                     AUTOSCALE_HEARTBEAT_URL to an absolute URL or fix the API access"
                ),
            )
        }
    };
    let limits = Limits::of(settings);
    let sample = crate::heartbeat::probe::probe(
        crate::heartbeat::probe::client(),
        url.clone(),
        limits.max_response_time,
    )
    .await;
    let millis = sample.latency.as_millis();
    let verdict = classify(&sample, limits);
    // The URL may carry a password (basic auth to the app): every line shows it masked.
    let url = redacted(&url);
    match &sample.outcome {
        ProbeOutcome::Status(status) if (200..300).contains(status) => {
            let meaning = match verdict {
                Verdict::Fast => "fast: counts towards scaling down",
                // A 2xx is never a bad URL.
                Verdict::Neutral | Verdict::BadUrl(_) => "between the limits: holds the count",
                Verdict::Slow => "slow: counts towards scaling up",
            };
            line(
                true,
                WHAT,
                format!("{url} answered {status} in {millis} ms ({meaning})"),
            )
        }
        ProbeOutcome::Status(status) => {
            let meaning = match verdict {
                Verdict::BadUrl(_) => "the worker would hold the dyno count and send a notice",
                _ => "the worker would count it as slow and scale up",
            };
            line(
                false,
                WHAT,
                format!(
                    "{url} answered HTTP {status} in {millis} ms ({meaning}): check \
                     AUTOSCALE_HEARTBEAT_URL and that the app serves that path"
                ),
            )
        }
        ProbeOutcome::TimedOut => line(
            false,
            WHAT,
            format!(
                "{url} gave no answer within AUTOSCALE_MAX_RESPONSE_TIME_IN_MS ({} ms); the \
                 worker would count every heartbeat as slow",
                limits.max_response_time.as_millis()
            ),
        ),
        ProbeOutcome::Failed(error) => line(
            false,
            WHAT,
            format!("{url} could not be reached: {error}; check AUTOSCALE_HEARTBEAT_URL"),
        ),
    }
}

async fn check_smtp(smtp: &SmtpSettings) -> CheckLine {
    const WHAT: &str = "smtp";
    match (try_login(smtp, SMTP_TIMEOUT).await, smtp.user_shown()) {
        (Ok(()), Some(user)) => line(
            true,
            WHAT,
            format!("{smtp} accepted the login of {user} (no mail sent)"),
        ),
        (Ok(()), None) => line(
            true,
            WHAT,
            format!("{smtp} answered; no login configured (no mail sent)"),
        ),
        (Err(failure), _) => line(false, WHAT, format!("{smtp}: {failure}")),
    }
}
