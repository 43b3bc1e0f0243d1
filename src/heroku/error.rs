//! What can go wrong talking to the Heroku API, and what the operator should do about it.

use std::time::Duration;

use crate::backoff::Backoff;

/// A failed API call. Messages come from Heroku's `{id, message}` error bodies or from the
/// network layer; the client passes the texts from an answer through [`ApiError::scrubbed`],
/// so none of them contain the API key or a control character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401 or 403: the key is wrong, revoked, or lacks access to the app.
    #[error("the Heroku API refused the key (HTTP {status} {id}: {message})")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Heroku's error id, e.g. `unauthorized`.
        id: String,
        /// Heroku's message.
        message: String,
    },
    /// 404: the app or the process type does not exist (or the key cannot see it).
    #[error("the Heroku API does not know the app or process type (HTTP 404 {id}: {message})")]
    NotFound {
        /// Heroku's error id.
        id: String,
        /// Heroku's message.
        message: String,
    },
    /// 422: the request was understood and refused, e.g. `cannot_run_above_limit`.
    #[error("the Heroku API refused the change (HTTP 422 {id}: {message})")]
    Unprocessable {
        /// Heroku's error id.
        id: String,
        /// Heroku's message.
        message: String,
    },
    /// 429: the account's request budget is spent.
    #[error("the Heroku API rate limit is reached (HTTP 429: {message})")]
    RateLimited {
        /// Heroku's message.
        message: String,
        /// How long to wait before the next request.
        retry_after: Duration,
    },
    /// 5xx: Heroku's side failed.
    #[error("the Heroku API failed (HTTP {status} {id}: {message})")]
    Server {
        /// The status.
        status: u16,
        /// Heroku's error id, if any.
        id: String,
        /// Heroku's message, if any.
        message: String,
    },
    /// Another status the worker does not expect.
    #[error("the Heroku API answered HTTP {status} ({id}: {message})")]
    Unexpected {
        /// The status.
        status: u16,
        /// Heroku's error id, if any.
        id: String,
        /// Heroku's message, if any.
        message: String,
    },
    /// No complete answer in time.
    #[error("the Heroku API did not answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// Connecting, TLS or the transfer failed.
    #[error("could not reach the Heroku API: {0}")]
    Network(String),
    /// A 2xx answer that is not the JSON the schema promises.
    #[error("the Heroku API's answer could not be used: {0}")]
    BadResponse(String),
    /// Not sent at all: the client is waiting after an earlier error.
    #[error("not sent, waiting {} s more after: {cause}", .remaining.as_millis().div_ceil(1000))]
    Deferred {
        /// Time left to wait.
        remaining: Duration,
        /// The error that started the wait.
        cause: Box<ApiError>,
    },
    /// Not sent: another scale call (one a restarted controller lost track of) was in flight.
    /// Answered once that call has ended, so the controller reads what it left and decides
    /// again; it is not a failure.
    #[error("not sent: another scale call was in flight")]
    Busy,
    /// The API actor could not take the request (it was restarting or stopped).
    #[error("the Heroku API client is not available ({0})")]
    Unavailable(String),
}

impl ApiError {
    /// Whether the API refused the key, directly or as the cause of a deferred request.
    pub fn is_key_refused(&self) -> bool {
        match self {
            ApiError::Unauthorized { .. } => true,
            ApiError::Deferred { cause, .. } => cause.is_key_refused(),
            _ => false,
        }
    }

    /// The same error with `key` masked in every text it carries, in any form an answer may
    /// echo it (plain, JSON-escaped, percent-encoded), and control characters escaped: for
    /// errors built from what the other end sent, which go on to log lines and emails.
    pub fn scrubbed(mut self, key: &str) -> ApiError {
        for text in self.texts_mut() {
            *text = crate::secret::scrubbed(text, key);
        }
        self
    }

    /// Every text the error carries from the other end.
    fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            ApiError::Unauthorized { id, message, .. }
            | ApiError::NotFound { id, message }
            | ApiError::Unprocessable { id, message }
            | ApiError::Server { id, message, .. }
            | ApiError::Unexpected { id, message, .. } => vec![id, message],
            ApiError::RateLimited { message, .. } => vec![message],
            ApiError::Network(text) | ApiError::BadResponse(text) | ApiError::Unavailable(text) => {
                vec![text]
            }
            ApiError::Deferred { cause, .. } => cause.texts_mut(),
            ApiError::Timeout(_) | ApiError::Busy => Vec::new(),
        }
    }

    /// The dyno limit a 422 names, as Heroku words it: "Cannot update to more than 10
    /// Standard-1X size dynos per process type." or "Cannot run more than 2 Free size dynos."
    pub fn named_limit(&self) -> Option<u32> {
        let ApiError::Unprocessable { message, .. } = self else {
            return None;
        };
        let (_, after) = message.split_once("more than ")?;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }

    /// Whether this is a request held back by the client itself (nothing was sent).
    pub fn is_deferred(&self) -> bool {
        matches!(self, ApiError::Deferred { .. })
    }

    /// What the operator should do, in a few words, for the log line.
    pub fn advice(&self) -> &'static str {
        match self {
            ApiError::Unauthorized { .. } => {
                "check AUTOSCALE_HEROKU_API_KEY: create a token with `heroku authorizations:create` \
                 and make sure it can manage the app"
            }
            ApiError::NotFound { .. } => {
                "check AUTOSCALE_HEROKU_APP_NAME and AUTOSCALE_PROCESS_TYPE against `heroku ps`"
            }
            ApiError::Unprocessable { .. } => {
                "Heroku refused this quantity; check the plan's dyno limits or lower \
                 AUTOSCALE_MAX_DYNOS"
            }
            ApiError::RateLimited { .. } => {
                "another client shares this account's API budget; the worker waits and retries"
            }
            ApiError::Deferred { cause, .. } => cause.advice(),
            _ => "the worker retries automatically",
        }
    }

    /// How long to hold every request back after this error, given how many failed in a row.
    /// Key, app and rate-limit problems are retried slowly so a bad key never hammers the API;
    /// passing faults (5xx, network) are retried soon, backing off if they go on. A refused
    /// quantity (422) holds nothing back: it says nothing about other requests, and the
    /// controller remembers not to ask for it again (`control::refusal`).
    pub fn backoff(&self, failures_in_a_row: u32) -> Duration {
        let doubling = |first: u64, cap: u64| {
            Backoff::new(Duration::from_secs(first), Duration::from_secs(cap))
                .after(failures_in_a_row)
        };
        match self {
            ApiError::Unauthorized { .. } | ApiError::NotFound { .. } => doubling(60, 900),
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            ApiError::Unprocessable { .. }
            | ApiError::Deferred { .. }
            | ApiError::Busy
            | ApiError::Unavailable(_) => Duration::ZERO,
            _ => doubling(1, 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unauthorized() -> ApiError {
        ApiError::Unauthorized {
            status: 401,
            id: "unauthorized".into(),
            message: "Invalid credentials provided.".into(),
        }
    }

    #[test]
    fn a_bad_key_is_retried_slowly_and_ever_more_slowly() {
        assert_eq!(unauthorized().backoff(1), Duration::from_secs(60));
        assert_eq!(unauthorized().backoff(2), Duration::from_secs(120));
        assert_eq!(unauthorized().backoff(50), Duration::from_secs(900));
    }

    #[test]
    fn passing_faults_are_retried_soon() {
        let error = ApiError::Server {
            status: 503,
            id: String::new(),
            message: String::new(),
        };
        assert_eq!(error.backoff(1), Duration::from_secs(1));
        assert_eq!(error.backoff(3), Duration::from_secs(4));
        assert_eq!(error.backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn scrubbing_masks_the_key_after_decoding_and_escapes_control_characters() {
        let echoed = ApiError::Server {
            status: 502,
            id: "bad\u{1b}[2Jgateway".into(),
            message: "Bearer hk/secret/7Qx2 \u{1b}[31mred".into(),
        };
        assert_eq!(
            echoed.scrubbed("hk/secret/7Qx2").to_string(),
            r"the Heroku API failed (HTTP 502 bad\u{1b}[2Jgateway: Bearer ******** \u{1b}[31mred)"
        );
        let deferred = ApiError::Deferred {
            remaining: Duration::from_secs(1),
            cause: Box::new(unauthorized()),
        };
        assert_eq!(
            deferred.clone().scrubbed("Invalid"),
            ApiError::Deferred {
                remaining: Duration::from_secs(1),
                cause: Box::new(ApiError::Unauthorized {
                    status: 401,
                    id: "unauthorized".into(),
                    message: "******** credentials provided.".into(),
                }),
            }
        );
    }

    #[test]
    fn the_limit_a_refusal_names_is_read_from_either_wording() {
        let refusal = |message: &str| ApiError::Unprocessable {
            id: "cannot_run_above_limit".into(),
            message: message.into(),
        };
        let per_type = "Cannot update to more than 10 Standard-1X size dynos per process type.";
        assert_eq!(refusal(per_type).named_limit(), Some(10));
        let free = "Cannot run more than 2 Free size dynos.";
        assert_eq!(refusal(free).named_limit(), Some(2));
        assert_eq!(refusal("Formation changes are locked.").named_limit(), None);
        assert_eq!(refusal("more than many dynos").named_limit(), None);
        assert_eq!(unauthorized().named_limit(), None);
    }

    #[test]
    fn messages_say_what_happened() {
        assert_eq!(
            unauthorized().to_string(),
            "the Heroku API refused the key (HTTP 401 unauthorized: Invalid credentials provided.)"
        );
        assert!(unauthorized().advice().contains("AUTOSCALE_HEROKU_API_KEY"));
    }
}
