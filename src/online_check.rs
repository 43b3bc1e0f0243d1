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
use crate::queue::document::whole_jobs;
use crate::secret::{printable, redacted};
use crate::settings::processes::QueueMeasure;
use crate::settings::{HeartbeatUrl, QueueUrl, Settings, SmtpSettings};

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
    if let (Some(queue_url), false) = (&settings.queue_url, settings.processes.is_empty()) {
        lines.extend(check_queue(settings, queue_url, web_url.as_ref(), &client).await);
    }
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

/// Reads the queue document and every formation once; one line for the document, one per
/// process type (its value, the count it would want, the count running), and one for names
/// the document has that are not configured.
async fn check_queue(
    settings: &Settings,
    queue_url: &QueueUrl,
    web_url: Option<&Url>,
    client: &HerokuClient,
) -> Vec<CheckLine> {
    const WHAT: &str = "queue";
    let url = match (queue_url.url(), web_url) {
        (HeartbeatUrl::Absolute(url), _) => url.0.clone(),
        (HeartbeatUrl::Path(path), Some(web_url)) => match web_url.join(path) {
            Ok(url) => url,
            Err(error) => {
                return vec![line(
                    false,
                    WHAT,
                    format!("cannot join {queue_url}: {error}"),
                )]
            }
        },
        (HeartbeatUrl::Path(_), None) => {
            return vec![line(
                false,
                WHAT,
                format!(
                    "{queue_url} is a path, and the app's web URL is unknown (see above); set \
                     AUTOSCALE_QUEUE_URL to an absolute URL or fix the API access"
                ),
            )]
        }
    };
    let shown = QueueUrl::masked(&url);
    let body =
        crate::heartbeat::queue::read(crate::heartbeat::probe::client(), url, API_TIMEOUT).await;
    let document = match body.and_then(|body| crate::queue::document::parse(&body)) {
        Ok(document) => document,
        Err(why) => {
            return vec![line(
                false,
                WHAT,
                format!("{shown}: {why}; check AUTOSCALE_QUEUE_URL and that the app serves it"),
            )]
        }
    };
    let values: Vec<String> = document
        .values
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let mut lines = vec![line(
        true,
        WHAT,
        format!(
            "{shown} answered: {}",
            if values.is_empty() {
                "no entries".into()
            } else {
                values.join(" ")
            }
        ),
    )];
    let counts = retry_network_once(|| client.formations()).await;
    let time = crate::settings::schedule::TimeOfDay::at(chrono::Utc::now(), settings.time_zone);
    for process in &settings.processes {
        let name = &process.name;
        let bounds = (process.min_dynos.at(time), process.max_dynos.at(time));
        let running = match &counts {
            Ok(counts) => counts.get(name).copied(),
            Err(_) => None,
        };
        let value = match (document.values.get(name), document.refused.get(name)) {
            (Some(value), _) => *value,
            (None, Some(why)) => {
                lines.push(line(
                    false,
                    WHAT,
                    format!("{name}: its entry cannot be used: {why}"),
                ));
                continue;
            }
            (None, None) => {
                lines.push(line(
                    false,
                    WHAT,
                    format!(
                        "{name}: the document has no entry for it; the app's queue library must \
                         report it under this process type's name"
                    ),
                ));
                continue;
            }
        };
        let reading = match process.measure {
            QueueMeasure::Size { jobs_per_dyno } => match whole_jobs(value) {
                Ok(jobs) => {
                    let wanted = crate::queue::rules::dynos_for(jobs, jobs_per_dyno);
                    let wanted = wanted.clamp(u64::from(bounds.0), u64::from(bounds.1));
                    format!("{jobs} jobs waiting, wants {wanted} dynos ({process})")
                }
                Err(why) => {
                    lines.push(line(false, WHAT, format!("{name}: {why}")));
                    continue;
                }
            },
            QueueMeasure::Latency { max_seconds } => {
                let over = value > f64::from(max_seconds);
                let side = if over { "over" } else { "within" };
                format!("the oldest job waited {value} s ({side} {max_seconds} s; {process})")
            }
        };
        match (&counts, running) {
            (_, Some(running)) => lines.push(line(
                true,
                WHAT,
                format!("{name}: {reading}; runs {running}"),
            )),
            (Ok(_), None) => lines.push(line(
                false,
                WHAT,
                format!(
                    "{name}: {reading}; not in the app's formation, so it is not scaled: check \
                     AUTOSCALE_PROCESSES against `heroku ps`"
                ),
            )),
            (Err(error), None) => lines.push(api_failure(WHAT, error)),
        }
    }
    let unknown: Vec<&str> = document
        .values
        .keys()
        .chain(document.refused.keys())
        .filter(|name| !settings.processes.iter().any(|p| &p.name == *name))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        lines.push(line(
            true,
            WHAT,
            format!(
                "the document also names {}: not in AUTOSCALE_PROCESSES, so not scaled",
                unknown.join(", ")
            ),
        ));
    }
    lines
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
