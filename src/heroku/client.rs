//! The Platform API calls the worker makes, over awc.

use std::collections::BTreeMap;
use std::time::Duration;

use awc::http::{header, Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::ApiError;
use crate::secret::{masked_echoes, Secret};

/// Heroku's API version header; without it the API answers with an error.
const ACCEPT: &str = "application/vnd.heroku+json; version=3";
/// App and formation objects are a few kilobytes; anything far larger is not what we asked for.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// A dyno list holds about 1 KB per dyno, of every process type: room for a thousand.
const MAX_DYNO_LIST_BYTES: usize = 1024 * 1024;
/// Error messages are kept to a readable length in logs and emails.
const MAX_MESSAGE_CHARS: usize = 300;
/// Used when a 429 carries no `Retry-After`: the budget refills by about 75 requests a minute.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// A `Retry-After` beyond this is not believed: the worker asks again after this long.
const LONGEST_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);

/// The parts of an app object the worker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// The app's name.
    pub name: String,
    /// Where the app serves web traffic; `None` for apps without a web URL.
    pub web_url: Option<Url>,
}

/// The parts of a formation object the worker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    /// The process type, e.g. `web`.
    pub process_type: String,
    /// How many dynos of it run.
    pub quantity: u32,
}

/// How the process type's dynos stand, from `GET /apps/{app}/dynos`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DynoStates {
    /// Booting: not serving yet.
    pub starting: u32,
    /// Serving.
    pub up: u32,
    /// Crashed (Heroku restarts them later).
    pub crashed: u32,
}

#[derive(Deserialize)]
struct DynoBody {
    #[serde(rename = "type")]
    process_type: String,
    state: String,
}

#[derive(Deserialize)]
struct AppBody {
    name: String,
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct FormationBody {
    #[serde(rename = "type")]
    process_type: String,
    quantity: i64,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
}

/// A client for one app and process type. Cheap to clone; not `Send` (awc is single-threaded),
/// so it is built on the thread that uses it.
#[derive(Clone)]
pub struct HerokuClient {
    http: awc::Client,
    base: Url,
    app: String,
    process_type: String,
    key: Secret,
    timeout: Duration,
}

impl std::fmt::Debug for HerokuClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HerokuClient")
            .field("base", &self.base.as_str())
            .field("app", &self.app)
            .field("process_type", &self.process_type)
            .field("key", &self.key)
            .finish()
    }
}

impl HerokuClient {
    /// A client for `app`'s `process_type` at `base`, giving up on any request after `timeout`.
    pub fn new(
        base: Url,
        app: impl Into<String>,
        process_type: impl Into<String>,
        key: Secret,
        timeout: Duration,
    ) -> Self {
        let http = awc::Client::builder()
            .connector(awc::Connector::new().timeout(timeout))
            .add_default_header((header::USER_AGENT, crate::USER_AGENT))
            .disable_redirects()
            .disable_timeout()
            .finish();
        HerokuClient {
            http,
            base,
            app: app.into(),
            process_type: process_type.into(),
            key,
            timeout,
        }
    }

    /// `GET /apps/{app}`.
    pub async fn app(&self) -> Result<AppInfo, ApiError> {
        let url = self.url(&["apps", &self.app]);
        let body: AppBody = self.call(Method::GET, url, None).await?;
        let web_url = match body.web_url {
            Some(text) => Some(Url::parse(&text).map_err(|error| {
                self.unusable(format!(
                    "web_url \"{}\" is not a URL: {error}",
                    short(&text)
                ))
            })?),
            None => None,
        };
        Ok(AppInfo {
            name: body.name,
            web_url,
        })
    }

    /// `GET /apps/{app}/formation/{type}`.
    pub async fn formation(&self) -> Result<Formation, ApiError> {
        let url = self.formation_url();
        let body: FormationBody = self.call(Method::GET, url, None).await?;
        self.our_formation(body)
    }

    /// `PATCH /apps/{app}/formation/{type}` with `{"quantity": N}`; returns the formation the
    /// API reports afterwards (which is the truth, even if it differs from what was asked).
    pub async fn scale(&self, quantity: u32) -> Result<Formation, ApiError> {
        let url = self.formation_url();
        let request = serde_json::json!({ "quantity": quantity });
        let body: FormationBody = self.call(Method::PATCH, url, Some(request)).await?;
        self.our_formation(body)
    }

    /// `GET /apps/{app}/formation`: every process type's dyno count.
    pub async fn formations(&self) -> Result<BTreeMap<String, u32>, ApiError> {
        let url = self.url(&["apps", &self.app, "formation"]);
        let list: Vec<FormationBody> = self
            .call_limited(Method::GET, url, None, MAX_DYNO_LIST_BYTES)
            .await?;
        counts(list)
    }

    /// `PATCH /apps/{app}/formation` with `{"updates": [{"type": ..., "quantity": ...}]}`: the
    /// counts of several process types in one call. Returns the counts the API reports for
    /// them, each of which must be in the answer.
    pub async fn scale_batch(
        &self,
        updates: &[(String, u32)],
    ) -> Result<BTreeMap<String, u32>, ApiError> {
        let url = self.url(&["apps", &self.app, "formation"]);
        let updates: Vec<serde_json::Value> = updates
            .iter()
            .map(|(process_type, quantity)| {
                serde_json::json!({ "type": process_type, "quantity": quantity })
            })
            .collect();
        let request = serde_json::json!({ "updates": updates });
        let answer = self
            .call_limited(Method::PATCH, url, Some(request), MAX_DYNO_LIST_BYTES)
            .await;
        // A process type gone from the formation (a deploy between the read and the batch) is
        // not the app or the key missing: it must not hold every request back for minutes.
        let list: Vec<FormationBody> = answer.map_err(|error| match error {
            ApiError::NotFound { id, message } => self.unusable(format!(
                "a process type in the batch is not in the app's formation (HTTP 404 {id}: \
                 {message}); the counts are read again"
            )),
            other => other,
        })?;
        let reported = counts(list)?;
        if let Some(missing) = updates
            .iter()
            .filter_map(|update| update["type"].as_str())
            .find(|process_type| !reported.contains_key(*process_type))
        {
            return Err(self.unusable(format!(
                "the answer has no formation for process type \"{missing}\""
            )));
        }
        Ok(reported)
    }

    /// `GET /apps/{app}/dynos`, counted by state for our process type (`down` and `idle`
    /// dynos serve nothing and are not counted).
    pub async fn dynos(&self) -> Result<DynoStates, ApiError> {
        let url = self.url(&["apps", &self.app, "dynos"]);
        let list: Vec<DynoBody> = self
            .call_limited(Method::GET, url, None, MAX_DYNO_LIST_BYTES)
            .await?;
        Ok(count_states(&list, &self.process_type))
    }

    /// The formation in an answer, if it is the one asked about: a count for another process
    /// type would be scaled as if it were ours.
    fn our_formation(&self, body: FormationBody) -> Result<Formation, ApiError> {
        if body.process_type != self.process_type {
            return Err(self.unusable(format!(
                "the answer is about process type \"{}\", not \"{}\"",
                short(&body.process_type),
                self.process_type
            )));
        }
        formation(body)
    }

    /// A 2xx answer that cannot be used; what it quotes of the answer is cleaned as an error
    /// body's text is.
    fn unusable(&self, text: String) -> ApiError {
        ApiError::BadResponse(text).scrubbed(self.key.expose())
    }

    fn formation_url(&self) -> Url {
        self.url(&["apps", &self.app, "formation", &self.process_type])
    }

    /// The base URL with `segments` appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        url: Url,
        json: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        self.call_limited(method, url, json, MAX_BODY_BYTES).await
    }

    async fn call_limited<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        url: Url,
        json: Option<serde_json::Value>,
        most_bytes: usize,
    ) -> Result<T, ApiError> {
        let exchange = async {
            let request = self
                .http
                .request(method, url.as_str())
                .insert_header((header::ACCEPT, ACCEPT))
                .insert_header((
                    header::AUTHORIZATION,
                    format!("Bearer {}", self.key.expose()),
                ));
            let sent = match json {
                Some(json) => request.send_json(&json).await,
                None => request.send().await,
            };
            let mut response = sent.map_err(|error| ApiError::Network(error.to_string()))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response
                .body()
                .limit(most_bytes)
                .await
                .map_err(|error| ApiError::Network(format!("reading the answer: {error}")))?;
            Ok::<_, ApiError>((status, retry_after, body))
        };
        let (status, retry_after, body) = actix_rt::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ApiError::Timeout(self.timeout))??;
        // A proxy or server that echoes the request back (headers and all) in its answer must
        // not carry the key on into an error message, a log line or an email.
        let body = masked_echoes(&body, self.key.expose());
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|error| {
                self.unusable(format!(
                    "HTTP {} with a body that is not the expected JSON ({error})",
                    status.as_u16()
                ))
            });
        }
        // Masked again after decoding: an echo in a form `mask` does not know must not come
        // out of the JSON decoding as the key itself. Control characters are escaped there too.
        Err(error_from(status, retry_after, &body).scrubbed(self.key.expose()))
    }
}

fn count_states(list: &[DynoBody], process_type: &str) -> DynoStates {
    let mut states = DynoStates::default();
    for dyno in list.iter().filter(|dyno| dyno.process_type == process_type) {
        match dyno.state.as_str() {
            "starting" => states.starting += 1,
            "up" => states.up += 1,
            "crashed" => states.crashed += 1,
            _ => {}
        }
    }
    states
}

/// Each process type's count in a formation list.
fn counts(list: Vec<FormationBody>) -> Result<BTreeMap<String, u32>, ApiError> {
    list.into_iter()
        .map(|body| formation(body).map(|f| (f.process_type, f.quantity)))
        .collect()
}

fn formation(body: FormationBody) -> Result<Formation, ApiError> {
    let quantity = u32::try_from(body.quantity).map_err(|_| {
        ApiError::BadResponse(format!("quantity {} is not a dyno count", body.quantity))
    })?;
    Ok(Formation {
        process_type: body.process_type,
        quantity,
    })
}

/// Maps an error status and Heroku's `{id, message}` body (if it is one) to an [`ApiError`].
fn error_from(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    let ErrorBody { id, message } = serde_json::from_slice(body).unwrap_or_default();
    let message = if message.is_empty() {
        short(&String::from_utf8_lossy(body))
    } else {
        short(&message)
    };
    let id = short(&id);
    match status.as_u16() {
        401 | 403 => ApiError::Unauthorized {
            status: status.as_u16(),
            id,
            message,
        },
        404 => ApiError::NotFound { id, message },
        422 => ApiError::Unprocessable { id, message },
        429 => ApiError::RateLimited {
            message,
            retry_after: retry_after
                .unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
                .min(LONGEST_RATE_LIMIT_WAIT),
        },
        500..=599 => ApiError::Server {
            status: status.as_u16(),
            id,
            message,
        },
        other => ApiError::Unexpected {
            status: other,
            id,
            message,
        },
    }
}

/// One line of at most [`MAX_MESSAGE_CHARS`] characters.
fn short(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_MESSAGE_CHARS {
        line
    } else {
        let cut: String = line.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heroku_error_bodies_become_typed_errors() {
        let body = br#"{"id":"cannot_run_above_limit","message":"Cannot run more than 10 Standard-1X dynos."}"#;
        assert_eq!(
            error_from(StatusCode::UNPROCESSABLE_ENTITY, None, body),
            ApiError::Unprocessable {
                id: "cannot_run_above_limit".into(),
                message: "Cannot run more than 10 Standard-1X dynos.".into()
            }
        );
        let limited = error_from(StatusCode::TOO_MANY_REQUESTS, None, b"{}");
        assert!(
            matches!(limited, ApiError::RateLimited { retry_after, .. } if retry_after == DEFAULT_RATE_LIMIT_WAIT)
        );
        let forbidden = error_from(StatusCode::FORBIDDEN, None, b"<html>nope</html>");
        assert!(
            matches!(forbidden, ApiError::Unauthorized { status: 403, ref message, .. } if message == "<html>nope</html>")
        );
        let absurd = error_from(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(u64::MAX)),
            b"{}",
        );
        assert!(
            matches!(absurd, ApiError::RateLimited { retry_after, .. } if retry_after == LONGEST_RATE_LIMIT_WAIT)
        );
        assert!(matches!(
            error_from(StatusCode::BAD_GATEWAY, None, b""),
            ApiError::Server { status: 502, .. }
        ));
    }

    #[test]
    fn dynos_are_counted_by_state_for_our_process_type_only() {
        let list: Vec<DynoBody> = serde_json::from_str(
            r#"[
                {"name": "web.1", "type": "web", "state": "up", "size": "standard-1X"},
                {"name": "web.2", "type": "web", "state": "starting"},
                {"name": "web.3", "type": "web", "state": "starting"},
                {"name": "web.4", "type": "web", "state": "crashed"},
                {"name": "web.5", "type": "web", "state": "down"},
                {"name": "worker.1", "type": "worker", "state": "up"},
                {"name": "run.1234", "type": "run", "state": "up"}
            ]"#,
        )
        .unwrap();
        assert_eq!(
            count_states(&list, "web"),
            DynoStates {
                starting: 2,
                up: 1,
                crashed: 1
            }
        );
        assert_eq!(count_states(&list, "worker").up, 1);
        assert_eq!(count_states(&[], "web"), DynoStates::default());
    }

    #[test]
    fn a_negative_quantity_is_refused() {
        let body = FormationBody {
            process_type: "web".into(),
            quantity: -1,
        };
        assert!(matches!(formation(body), Err(ApiError::BadResponse(_))));
    }

    #[test]
    fn a_key_echoed_in_an_answer_is_masked() {
        let body = br#"{"id":"bad_gateway","message":"sent Authorization: Bearer k3y, k3y"}"#;
        let masked = masked_echoes(body, "k3y");
        assert_eq!(
            error_from(StatusCode::BAD_GATEWAY, None, &masked).to_string(),
            "the Heroku API failed (HTTP 502 bad_gateway: sent Authorization: Bearer ********, \
             ********)"
        );
        assert_eq!(masked_echoes(b"no secret here", "k3y"), b"no secret here");
        assert_eq!(masked_echoes(b"k3yk3y", "k3y"), b"****************");
        assert_eq!(masked_echoes(b"abc", ""), b"abc");
    }

    #[test]
    fn a_key_echoed_json_escaped_is_masked_before_and_after_decoding() {
        let key = "hk/secret/7Qx2";
        let body = br#"{"id":"bad_gateway","message":"Bearer hk\/secret\/7Qx2, \u0068\u006B/secret/7Qx2"}"#;
        let error =
            error_from(StatusCode::BAD_GATEWAY, None, &masked_echoes(body, key)).scrubbed(key);
        assert_eq!(
            error.to_string(),
            "the Heroku API failed (HTTP 502 bad_gateway: Bearer ********, ********)"
        );
        // Decoding alone would give the key back: the scrub after it catches that too.
        let decoded = error_from(StatusCode::BAD_GATEWAY, None, body).scrubbed(key);
        assert!(!decoded.to_string().contains(key), "{decoded}");
    }

    #[test]
    fn long_messages_are_shortened_to_one_line() {
        let long = "x\n".repeat(1000);
        let message = short(&long);
        assert!(!message.contains('\n'));
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
