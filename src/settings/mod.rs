//! The worker's settings: where they come from, how they are checked, what they mean.
//!
//! Sources, later wins: built-in defaults, a TOML file (`--config FILE` or `AUTOSCALE_CONFIG`),
//! then `AUTOSCALE_*` environment variables. Every value is validated before anything starts; each
//! problem becomes one line naming the setting, the value (secrets masked) and what is valid.

mod catalogue;
mod email;
mod load;
mod schedule;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use url::Url;

pub use catalogue::{SettingInfo, SETTINGS};
pub use email::{ScaleDiff, SmtpSecurity, SmtpSettings};
pub use load::{load, Loaded, SettingsSource};
pub use schedule::{DynoLimit, TimeOfDay};

use crate::control::Bounds;
use crate::secret::{redacted, Secret};

/// Validated settings; every field has passed the checks in [`load()`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Heroku app to scale (name or id).
    pub heroku_app_name: String,
    /// The API key, sent only in the `Authorization` header.
    pub heroku_api_key: Secret,
    /// The Platform API's base URL, `https://api.heroku.com` unless testing.
    pub heroku_api_url: Url,
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
            .map(|setting| (setting, self.display_value(setting.key)))
            .collect()
    }

    fn display_value(&self, key: &str) -> String {
        match key {
            "heroku_app_name" => self.heroku_app_name.clone(),
            "heroku_api_key" => self.heroku_api_key.to_string(),
            "heroku_api_url" => redacted(&self.heroku_api_url),
            "process_type" => self.process_type.clone(),
            "heartbeat_interval_in_seconds" => self.heartbeat_interval.as_secs_f64().to_string(),
            "heartbeat_url" => self.heartbeat_url.to_string(),
            "max_response_time_in_ms" => self.max_response_time.as_millis().to_string(),
            "min_response_time_in_ms" => self.min_response_time.as_millis().to_string(),
            "number_of_fails_to_scale_up_after" => {
                self.number_of_fails_to_scale_up_after.to_string()
            }
            "number_of_passes_to_scale_down_after" => {
                self.number_of_passes_to_scale_down_after.to_string()
            }
            "max_dynos" => self.max_dynos.to_string(),
            "min_dynos" => self.min_dynos.to_string(),
            "increment" => self.increment.to_string(),
            "time_zone" => self.time_zone.name().to_string(),
            "formation_refresh_in_seconds" => self.formation_refresh.as_secs_f64().to_string(),
            "log_level" => self.log_level.to_string(),
            "admins" if self.admins.is_empty() => "(none: notices go to the log only)".into(),
            "admins" => self
                .admins
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            "smtp_url" => self
                .smtp
                .as_ref()
                .map_or_else(|| "(none)".into(), ToString::to_string),
            "email_from" => self.email_from.to_string(),
            "email_subject_prefix" => self.email_subject_prefix.clone(),
            "notify_if_needs_exceed_max" => self.notify_if_needs_exceed_max.to_string(),
            "notify_if_needs_below_min" => self.notify_if_needs_below_min.to_string(),
            "notify_on_scale_fails" => self.notify_on_scale_fails.to_string(),
            "notify_if_scale_diff_exceeds_threshold" => self
                .notify_scale_diff
                .map_or_else(|| "(off)".into(), |diff| diff.threshold.to_string()),
            "notify_if_scale_diff_exceeds_period_in_minutes" => self.notify_scale_diff.map_or_else(
                || "(off)".into(),
                |diff| (diff.period.as_secs_f64() / 60.0).to_string(),
            ),
            "notify_repeat_after_in_minutes" => {
                (self.notify_repeat_after.as_secs_f64() / 60.0).to_string()
            }
            _ => String::new(),
        }
    }
}

/// Where the heartbeat goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatUrl {
    /// An `http(s)://` URL used as it is.
    Absolute(Url),
    /// A path (starting with `/`) joined to the app's `web_url` from the Heroku API.
    Path(String),
}

impl HeartbeatUrl {
    /// The URL to probe, given the app's `web_url` (used only for a path).
    pub fn resolve(&self, web_url: &Url) -> Result<Url, url::ParseError> {
        match self {
            HeartbeatUrl::Absolute(url) => Ok(url.clone()),
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
