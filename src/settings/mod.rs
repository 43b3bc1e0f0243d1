//! The worker's settings: where they come from, how they are checked, what they mean.
//!
//! Sources, later wins: built-in defaults, a TOML file (`--config FILE` or `AUTOSCALE_CONFIG`),
//! then `AUTOSCALE_*` environment variables. Every value is validated before anything starts; each
//! problem becomes one line naming the setting, the value (secrets masked) and what is valid.
//!
//! In stages, each in its own file: `catalogue` defines every setting once (name, default,
//! summary, secret or not, how `check` prints it); `load` merges the sources with the config crate
//! and deserializes them into the catalogue's raw struct (`raw`: values as given, any TOML type);
//! `validate` turns those into [`Settings`], collecting every problem.

mod catalogue;
mod email;
mod load;
pub mod processes;
mod raw;
pub mod schedule;
mod validate;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use url::Url;

pub use catalogue::{SettingInfo, SETTINGS};
pub use email::{ScaleDiff, SmtpSecurity, SmtpSettings};
pub use load::{load, Loaded, Mode, SettingsSource};
pub use schedule::{DynoLimit, TimeOfDay};

use crate::control::Bounds;
use crate::secret::{redacted, Secret, UrlWithSecrets};

/// Validated settings; every field has passed the checks in [`load()`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Heroku app to scale (name or id).
    pub heroku_app_name: String,
    /// The API key, sent only in the `Authorization` header.
    pub heroku_api_key: Secret,
    /// The Platform API's base URL, `https://api.heroku.com` unless testing.
    pub heroku_api_url: UrlWithSecrets,
    /// The process type whose dynos are scaled, usually `web`.
    pub process_type: String,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// What the heartbeat probes.
    pub heartbeat_url: HeartbeatUrl,
    /// Slower than this is a fail (and the probe gives up waiting at this point).
    pub max_response_time: Duration,
    /// Faster than this is a pass.
    pub min_response_time: Duration,
    /// Consecutive fails before scaling up.
    pub number_of_fails_to_scale_up_after: u32,
    /// Consecutive passes before scaling down.
    pub number_of_passes_to_scale_down_after: u32,
    /// Most dynos, by time of day.
    pub max_dynos: DynoLimit,
    /// Fewest dynos, by time of day.
    pub min_dynos: DynoLimit,
    /// Dynos added or removed per step.
    pub increment: u32,
    /// The zone the schedules are written in.
    pub time_zone: Tz,
    /// Longest time the known dyno count is trusted before it is read again.
    pub formation_refresh: Duration,
    /// How long to wait for new dynos to serve before heartbeats count again; `None`: no wait.
    pub boot_timeout: Option<Duration>,
    /// Double the scale-up step after each one that did not help.
    pub proportional_scale_up: bool,
    /// Double the passes a scale-down needs after each recent flap.
    pub scale_down_backoff: bool,
    /// How long a plan limit Heroku taught (a refused scale-up) caps the count; `None`: only
    /// the refused count is held back, for a minute.
    pub plan_limit_memory: Option<Duration>,
    /// A heartbeat answered 401, 403, 404 or 410 holds the count instead of counting as slow.
    pub hold_on_heartbeat_url_errors: bool,
    /// Where the job-queue document is read, if worker process types are scaled.
    pub queue_url: Option<QueueUrl>,
    /// The worker process types scaled from the queue.
    pub processes: Vec<processes::ProcessSettings>,
    /// How long a queue must stay empty before a process type's last dyno goes.
    pub idle_before_zero: Duration,
    /// Only the first dyno of the worker's process type acts (two copies must not both scale).
    pub single_active_worker: bool,
    /// One l2met metrics line per heartbeat and process type.
    pub log_metrics: bool,
    /// The most detailed log level printed.
    pub log_level: LogLevel,
    /// Who receives notices by email; empty: notices go to the log only.
    pub admins: Vec<Mailbox>,
    /// The SMTP server, if mail can be sent.
    pub smtp: Option<SmtpSettings>,
    /// The sender of notice emails.
    pub email_from: Mailbox,
    /// Put before every email subject.
    pub email_subject_prefix: String,
    /// Email the *needs above max* notice.
    pub notify_if_needs_exceed_max: bool,
    /// Email the *needs below min* notice.
    pub notify_if_needs_below_min: bool,
    /// Email the *scale failed* notice.
    pub notify_on_scale_fails: bool,
    /// The *scale diff* notice, when configured.
    pub notify_scale_diff: Option<ScaleDiff>,
    /// How soon a notice about a lasting condition is repeated.
    pub notify_repeat_after: Duration,
}

impl Settings {
    /// The min and max dynos in force at `now`.
    pub fn bounds_at(&self, now: DateTime<Utc>) -> Bounds {
        let time = TimeOfDay::at(now, self.time_zone);
        Bounds {
            min: self.min_dynos.at(time),
            max: self.max_dynos.at(time),
        }
    }

    /// Every setting with its effective value, secrets masked, in catalogue order (for `check`).
    pub fn effective_values(&self) -> Vec<(&'static SettingInfo, String)> {
        SETTINGS
            .iter()
            .map(|setting| (setting, setting.shown(self)))
            .collect()
    }
}

/// Where the heartbeat goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatUrl {
    /// An `http(s)://` URL used as it is.
    Absolute(UrlWithSecrets),
    /// A path (starting with `/`) joined to the app's `web_url` from the Heroku API.
    Path(String),
}

impl HeartbeatUrl {
    /// The URL to probe, given the app's `web_url` (used only for a path).
    pub fn resolve(&self, web_url: &Url) -> Result<Url, url::ParseError> {
        match self {
            HeartbeatUrl::Absolute(url) => Ok(url.0.clone()),
            HeartbeatUrl::Path(path) => web_url.join(path),
        }
    }
}

impl fmt::Display for HeartbeatUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeartbeatUrl::Absolute(url) => f.write_str(&redacted(url)),
            HeartbeatUrl::Path(path) => f.write_str(path),
        }
    }
}

/// Where the job-queue document is read: like the heartbeat URL, an absolute URL or a path on
/// the app's web URL. The path usually holds a token (hirefire-resource's
/// `/hirefire/<TOKEN>/info`), so it shows masked after its first segment.
#[derive(Clone, PartialEq, Eq)]
pub struct QueueUrl(HeartbeatUrl);

impl QueueUrl {
    /// A queue URL, absolute or a path.
    pub fn new(url: HeartbeatUrl) -> Self {
        QueueUrl(url)
    }

    /// Where it is (the token included: never to be shown).
    pub fn url(&self) -> &HeartbeatUrl {
        &self.0
    }

    /// What of a URL's path is secret: all of it, but hirefire-resource's `/hirefire/` (whose
    /// next segment is the token), which is worth showing.
    pub fn secret_part(path: &str) -> &str {
        let rest = path.trim_start_matches('/');
        rest.strip_prefix("hirefire/").unwrap_or(rest)
    }

    /// `url` with its path masked as [`QueueUrl::masked_path`] does, for logs and errors.
    pub fn masked(url: &Url) -> String {
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        if !url.username().is_empty() {
            let _ = shown.set_username("********");
        }
        shown.set_query(None);
        shown.set_path(&Self::masked_path(url.path()));
        shown.to_string()
    }

    /// `path` with its [`QueueUrl::secret_part`] masked.
    fn masked_path(path: &str) -> String {
        let secret = Self::secret_part(path);
        if secret.is_empty() {
            return path.to_string();
        }
        format!("{}********", &path[..path.len() - secret.len()])
    }
}

impl fmt::Display for QueueUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            HeartbeatUrl::Absolute(url) => f.write_str(&QueueUrl::masked(&url.0)),
            HeartbeatUrl::Path(path) => f.write_str(&QueueUrl::masked_path(path)),
        }
    }
}

/// No secret in `Debug` either.
impl fmt::Debug for QueueUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueUrl({self})")
    }
}

/// How much the worker logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Plus one line per decision (the default).
    Info,
    /// Plus one line per heartbeat.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The slog level with the same meaning.
    pub fn to_slog(self) -> slog::Level {
        match self {
            LogLevel::Error => slog::Level::Error,
            LogLevel::Warn => slog::Level::Warning,
            LogLevel::Info => slog::Level::Info,
            LogLevel::Debug => slog::Level::Debug,
            LogLevel::Trace => slog::Level::Trace,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Some(LogLevel::Error),
            "warn" | "warning" => Some(LogLevel::Warn),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            "trace" => Some(LogLevel::Trace),
            _ => None,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        };
        f.write_str(name)
    }
}

/// One thing wrong with the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the value came from and under which name, e.g. `AUTOSCALE_INCREMENT` or
    /// `increment (in settings/prod.toml)`.
    pub setting: String,
    /// The offending value as written (masked for secrets), if there was one.
    pub value: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}=\"{}\": {}", self.setting, value, self.message),
            None => write!(f, "{}: {}", self.setting, self.message),
        }
    }
}

/// The settings could not be used; holds every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError {
    /// The problems, one per bad setting.
    pub problems: Vec<Problem>,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(Problem::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}
