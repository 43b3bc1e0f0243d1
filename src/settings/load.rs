//! Reading the settings from defaults, a TOML file and the environment, and validating them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use config::{Config, Environment, File, FileFormat, Source, Value, ValueKind};
use url::{Host, Url};

use super::catalogue;
use super::email::{
    default_sender, parse_admins, parse_bool, parse_mailbox, parse_smtp_url, smtp_url_from_addons,
    ScaleDiff,
};
use super::schedule::{first_conflict, DynoLimit};
use super::{HeartbeatUrl, LogLevel, Problem, Settings, SettingsError};
use crate::secret::Secret;

const ENV_PREFIX: &str = "AUTOSCALE_";
const CONFIG_FILE_VARIABLE: &str = "AUTOSCALE_CONFIG";
/// Fallbacks read when the `AUTOSCALE_` variable is not set: (setting key, variable).
const ENV_FALLBACKS: &[(&str, &str)] = &[
    ("time_zone", "TIME_ZONE"),
    ("heroku_api_key", "HEROKU_API_KEY"),
];
/// A heartbeat interval longer than a day is surely a mistake (a unit mix-up).
const LONGEST_INTERVAL_SECONDS: f64 = 86_400.0;

/// Where settings are read from: a process's environment and an optional TOML file.
///
/// Tests build one from a plain map, so they never touch the process environment.
#[derive(Debug, Clone, Default)]
pub struct SettingsSource {
    /// A TOML file given on the command line; `AUTOSCALE_CONFIG` is used when this is `None`.
    pub config_file: Option<PathBuf>,
    /// Environment variables.
    pub env: HashMap<String, String>,
    /// For `run --local-formation`: there is no Heroku app behind the worker, so the app name
    /// and the API key may be left out, and the heartbeat URL must be absolute.
    pub local: bool,
}

impl SettingsSource {
    /// The current process's environment, plus an optional TOML file.
    pub fn from_process(config_file: Option<PathBuf>) -> Self {
        SettingsSource {
            config_file,
            env: std::env::vars().collect(),
            local: false,
        }
    }

    /// Settings from the given variables only (no file unless `AUTOSCALE_CONFIG` names one).
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        SettingsSource {
            config_file: None,
            env: vars
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
            local: false,
        }
    }
}

/// The app name used with `--local-formation` when none is set.
pub const LOCAL_APP_NAME: &str = "local";

/// Settings that passed validation, with warnings worth logging once at start.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// Things that are not errors but look like mistakes (an unknown variable, say).
    pub warnings: Vec<String>,
}

/// Reads and validates the settings; on failure, returns every problem found.
pub fn load(source: &SettingsSource) -> Result<Loaded, SettingsError> {
    let mut warnings = Vec::new();
    let (env_values, env_names) = settings_from_env(&source.env, &mut warnings);
    let config_file = source
        .config_file
        .clone()
        .or_else(|| source.env.get(CONFIG_FILE_VARIABLE).map(PathBuf::from))
        .filter(|path| !path.as_os_str().is_empty());

    let mut builder = Config::builder();
    if let Some(path) = &config_file {
        builder = builder.add_source(File::from(path.clone()).format(FileFormat::Toml));
    }
    builder = builder.add_source(
        Environment::with_prefix("AUTOSCALE")
            .prefix_separator("_")
            .source(Some(env_values)),
    );
    let values = builder
        .build()
        .and_then(|config| config.collect())
        .map_err(|error| SettingsError {
            problems: vec![Problem {
                setting: "AUTOSCALE_CONFIG".into(),
                value: config_file.as_ref().map(|path| path.display().to_string()),
                message: format!(
                    "the settings file could not be read: {}",
                    without_source_lines(&error.to_string())
                ),
            }],
        })?;

    let file_name = config_file.map(|path| path.display().to_string());
    for key in values.keys() {
        if catalogue::find(key).is_none() && !env_names.contains_key(key) {
            let file = file_name.as_deref().unwrap_or("the settings file");
            warnings.push(unknown_setting_warning(&format!("{key} in {file}"), key));
        }
    }

    let mut reader = Reader {
        values,
        env_names,
        file_name,
        local: source.local,
        problems: Vec::new(),
    };
    let settings = reader.settings();
    match settings {
        Some(settings) if reader.problems.is_empty() => Ok(Loaded { settings, warnings }),
        _ => Err(SettingsError {
            problems: reader.problems,
        }),
    }
}

/// The `AUTOSCALE_*` variables (and fallbacks) as the config crate expects them, and for each
/// setting key the variable it came from (so errors can name it).
fn settings_from_env(
    env: &HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> (config::Map<String, String>, HashMap<String, String>) {
    let mut values = config::Map::new();
    let mut names = HashMap::new();
    let mut variables: Vec<(&String, &String)> = env.iter().collect();
    variables.sort();
    for (name, value) in variables {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_FILE_VARIABLE || value.trim().is_empty() {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if catalogue::find(&key).is_none() {
            warnings.push(unknown_setting_warning(name, &key));
            continue;
        }
        values.insert(name.clone(), value.clone());
        names.insert(key, name.clone());
    }
    for (key, fallback) in ENV_FALLBACKS {
        let value = env.get(*fallback).filter(|value| !value.trim().is_empty());
        if let (false, Some(value)) = (names.contains_key(*key), value) {
            values.insert(
                format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                value.clone(),
            );
            names.insert(key.to_string(), fallback.to_string());
        }
    }
    if !names.contains_key("smtp_url") {
        if let Some((url, source)) = smtp_url_from_addons(env) {
            values.insert("AUTOSCALE_SMTP_URL".into(), url);
            names.insert("smtp_url".into(), source.into());
        }
    }
    (values, names)
}

fn unknown_setting_warning(name: &str, key: &str) -> String {
    match catalogue::nearest(key) {
        Some(known) => format!(
            "unknown setting {name} is ignored; did you mean {} ({})?",
            known.env_name(),
            known.key
        ),
        None => format!("unknown setting {name} is ignored"),
    }
}

/// Turns raw values into typed settings, recording a [`Problem`] for each bad one.
struct Reader {
    values: config::Map<String, Value>,
    env_names: HashMap<String, String>,
    file_name: Option<String>,
    local: bool,
    problems: Vec<Problem>,
}

/// A raw value and the name to cite it by.
struct Raw {
    name: String,
    value: Value,
}

impl Reader {
    fn settings(&mut self) -> Option<Settings> {
        let heroku_app_name = self.parse("heroku_app_name", parse_app_name);
        let heroku_api_key = self.secret("heroku_api_key");
        let heroku_api_url = self.parse("heroku_api_url", parse_api_url);
        let process_type = self.parse("process_type", parse_process_type);
        let heartbeat_interval = self.parse("heartbeat_interval_in_seconds", parse_seconds);
        let mut heartbeat_url = self.parse("heartbeat_url", parse_heartbeat_url);
        if let (true, Some(HeartbeatUrl::Path(path))) = (self.local, &heartbeat_url) {
            self.problems.push(Problem {
                setting: self.name_of("heartbeat_url"),
                value: Some(path.clone()),
                message: "must be an absolute URL with --local-formation (there is no Heroku \
                          app to take the web URL from), e.g. \
                          http://localhost:8000/heroku-autoscale/heartbeat/v1"
                    .into(),
            });
            heartbeat_url = None;
        }
        let max_response_time = self.parse("max_response_time_in_ms", |text| {
            parse_whole(text, 1).map(|ms| Duration::from_millis(ms.into()))
        });
        let min_response_time = self.parse("min_response_time_in_ms", |text| {
            parse_whole(text, 0).map(|ms| Duration::from_millis(ms.into()))
        });
        let fails = self.parse("number_of_fails_to_scale_up_after", |t| parse_whole(t, 1));
        let passes = self.parse("number_of_passes_to_scale_down_after", |t| {
            parse_whole(t, 1)
        });
        let max_dynos = self.dyno_limit("max_dynos");
        let min_dynos = self.dyno_limit("min_dynos");
        let increment = self.parse("increment", |text| parse_whole(text, 1));
        let time_zone = self.parse("time_zone", parse_time_zone);
        let formation_refresh = self.parse("formation_refresh_in_seconds", parse_seconds);
        let log_level = self.parse("log_level", parse_log_level);
        let admins = self.optional("admins", parse_admins);
        let smtp = self.optional("smtp_url", parse_smtp_url);
        let email_from = self.optional("email_from", parse_mailbox);
        let email_subject_prefix = self.parse("email_subject_prefix", |text| Ok(text.to_string()));
        let notify_max = self.parse("notify_if_needs_exceed_max", parse_bool);
        let notify_min = self.parse("notify_if_needs_below_min", parse_bool);
        let notify_fails = self.parse("notify_on_scale_fails", parse_bool);
        let diff_threshold = self.optional("notify_if_scale_diff_exceeds_threshold", |t| {
            parse_whole(t, 1)
        });
        let diff_period = self.optional(
            "notify_if_scale_diff_exceeds_period_in_minutes",
            parse_minutes,
        );
        let notify_repeat_after = self.parse("notify_repeat_after_in_minutes", parse_minutes);
        let notify_scale_diff = self.scale_diff(diff_threshold, diff_period);
        if let (Some(Some(admins)), Some(None)) = (&admins, &smtp) {
            if !admins.is_empty() {
                self.problem_with(
                    "admins",
                    "notices would be emailed to these admins, but there is no way to send \
                     mail: set AUTOSCALE_SMTP_URL (or add a Mailgun, SendGrid or Postmark \
                     add-on), or unset AUTOSCALE_ADMINS to keep notices in the log"
                        .into(),
                );
            }
        }

        if let (Some(min), Some(max)) = (min_response_time, max_response_time) {
            if min >= max {
                let message = format!(
                    "must be less than {} ({} ms): a response cannot be both fast and slow",
                    self.name_of("max_response_time_in_ms"),
                    max.as_millis()
                );
                self.problem_with("min_response_time_in_ms", message);
            }
        }
        if let (Some(interval), Some(max)) = (heartbeat_interval, max_response_time) {
            if interval <= max {
                let message = format!(
                    "must be longer than {} ({} ms), since each heartbeat may wait that long for \
                     its answer",
                    self.name_of("max_response_time_in_ms"),
                    max.as_millis()
                );
                self.problem_with("heartbeat_interval_in_seconds", message);
            }
        }
        if let (Some(min), Some(max), Some(zone)) = (&min_dynos, &max_dynos, time_zone) {
            if let Some((time, min_then, max_then)) = first_conflict(min, max) {
                let message = format!(
                    "at {time} ({zone}) it gives {min_then}, more than {} gives then \
                     ({max_then}); the minimum must never exceed the maximum",
                    self.name_of("max_dynos")
                );
                self.problem_with("min_dynos", message);
            }
        }

        let app_for_sender = heroku_app_name.clone();
        Some(Settings {
            heroku_app_name: heroku_app_name?,
            heroku_api_key: heroku_api_key?,
            heroku_api_url: heroku_api_url?,
            process_type: process_type?,
            heartbeat_interval: heartbeat_interval?,
            heartbeat_url: heartbeat_url?,
            max_response_time: max_response_time?,
            min_response_time: min_response_time?,
            number_of_fails_to_scale_up_after: fails?,
            number_of_passes_to_scale_down_after: passes?,
            max_dynos: max_dynos?,
            min_dynos: min_dynos?,
            increment: increment?,
            time_zone: time_zone?,
            formation_refresh: formation_refresh?,
            log_level: log_level?,
            admins: admins?.unwrap_or_default(),
            smtp: smtp?,
            email_from: match email_from? {
                Some(sender) => sender,
                None => default_sender(&app_for_sender?),
            },
            email_subject_prefix: email_subject_prefix?,
            notify_if_needs_exceed_max: notify_max?,
            notify_if_needs_below_min: notify_min?,
            notify_on_scale_fails: notify_fails?,
            notify_scale_diff: notify_scale_diff?,
            notify_repeat_after: notify_repeat_after?,
        })
    }

    /// The scale-diff notice needs both of its settings; one without the other is a mistake.
    fn scale_diff(
        &mut self,
        threshold: Option<Option<u32>>,
        period: Option<Option<Duration>>,
    ) -> Option<Option<ScaleDiff>> {
        let threshold_key = "notify_if_scale_diff_exceeds_threshold";
        let period_key = "notify_if_scale_diff_exceeds_period_in_minutes";
        match (threshold?, period?) {
            (Some(threshold), Some(period)) => Some(Some(ScaleDiff { threshold, period })),
            (None, None) => Some(None),
            (Some(_), None) => {
                let message = format!(
                    "is set but {} is not: set both, or neither",
                    self.name_of(period_key)
                );
                self.problem_with(threshold_key, message);
                None
            }
            (None, Some(_)) => {
                let message = format!(
                    "is set but {} is not: set both, or neither",
                    self.name_of(threshold_key)
                );
                self.problem_with(period_key, message);
                None
            }
        }
    }

    /// A setting that may be left unset: `Some(None)` when unset, `None` when it is invalid.
    fn optional<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        if !self.values.contains_key(key) {
            return Some(None);
        }
        let secret = catalogue::find(key).is_some_and(|setting| setting.secret);
        let raw = self.raw(key)?;
        let text = self.scalar(&raw, secret)?;
        match parse(&text) {
            Ok(value) => Some(Some(value)),
            Err(message) => {
                let shown = if secret { masked(&text) } else { text };
                self.problems.push(Problem {
                    setting: raw.name,
                    value: Some(shown),
                    message,
                });
                None
            }
        }
    }

    /// How to cite a setting: the variable it came from, the file key, or the variable to set.
    fn name_of(&self, key: &str) -> String {
        if let Some(variable) = self.env_names.get(key) {
            return variable.clone();
        }
        match (&self.file_name, self.values.contains_key(key)) {
            (Some(file), true) => format!("{key} (in {file})"),
            _ => format!("AUTOSCALE_{}", key.to_ascii_uppercase()),
        }
    }

    /// The user's value, or the default as if the user had written it.
    fn raw(&mut self, key: &'static str) -> Option<Raw> {
        let name = self.name_of(key);
        if let Some(value) = self.values.get(key) {
            return Some(Raw {
                name,
                value: value.clone(),
            });
        }
        let setting = catalogue::find(key)?;
        let local_default = match key {
            _ if !self.local => None,
            "heroku_app_name" => Some(LOCAL_APP_NAME),
            // Never sent anywhere: the local formation makes no API calls.
            "heroku_api_key" => Some("local-mode-no-key"),
            _ => None,
        };
        match setting.default.or(local_default) {
            Some(default) => Some(Raw {
                name,
                value: Value::new(None, ValueKind::String(default.into())),
            }),
            None if !setting.required => None,
            None => {
                self.problems.push(Problem {
                    setting: name,
                    value: None,
                    message: format!(
                        "is required: {}",
                        setting.summary.trim_end_matches(" Required.")
                    ),
                });
                None
            }
        }
    }

    fn parse<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(key)?;
        let text = self.scalar_text(&raw)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.problems.push(Problem {
                    setting: raw.name,
                    value: Some(text),
                    message,
                });
                None
            }
        }
    }

    fn secret(&mut self, key: &'static str) -> Option<Secret> {
        let raw = self.raw(key)?;
        let text = self.scalar(&raw, true)?;
        let text = text.trim();
        let header_safe = text.chars().all(|c| c.is_ascii_graphic());
        if text.is_empty() || !header_safe {
            self.problems.push(Problem {
                setting: raw.name,
                value: Some(Secret::new(text).to_string()),
                message: "must be an API key or token: printable characters without spaces".into(),
            });
            return None;
        }
        Some(Secret::new(text))
    }

    /// A number of dynos, or a schedule as a string (environment) or a table (TOML).
    fn dyno_limit(&mut self, key: &'static str) -> Option<DynoLimit> {
        let raw = self.raw(key)?;
        let (shown, parsed) = match raw.value.kind.clone() {
            ValueKind::Table(table) => {
                let mut entries = Vec::with_capacity(table.len());
                for (time, count) in table {
                    entries.push((time, count.to_string()));
                }
                let shown = entries
                    .iter()
                    .map(|(time, count)| format!("\"{time}\" = {count}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (format!("{{ {shown} }}"), DynoLimit::from_entries(entries))
            }
            _ => {
                let text = self.scalar_text(&raw)?;
                let parsed = DynoLimit::parse(&text);
                (text, parsed)
            }
        };
        match parsed {
            Ok(limit) => Some(limit),
            Err(reason) => {
                self.problems.push(Problem {
                    setting: raw.name,
                    value: Some(shown),
                    message: format!(
                        "{reason}; expected a number of dynos like 3, or a schedule like \
                         0:00=2,9:00=5,17:00=2 (in TOML: {{ \"0:00\" = 2, \"9:00\" = 5 }})"
                    ),
                });
                None
            }
        }
    }

    fn scalar_text(&mut self, raw: &Raw) -> Option<String> {
        self.scalar(raw, false)
    }

    /// The value as text; `secret` masks it in the problem reported for a table or list.
    fn scalar(&mut self, raw: &Raw, secret: bool) -> Option<String> {
        match &raw.value.kind {
            ValueKind::Table(_) | ValueKind::Array(_) => {
                let shown = raw.value.to_string();
                self.problems.push(Problem {
                    setting: raw.name.clone(),
                    value: Some(if secret {
                        Secret::new(shown).to_string()
                    } else {
                        shown
                    }),
                    message: "must be a single value, not a table or a list".into(),
                });
                None
            }
            _ => Some(raw.value.to_string().trim().to_string()),
        }
    }

    fn problem_with(&mut self, key: &'static str, message: String) {
        let value = self.values.get(key).map(Value::to_string).or_else(|| {
            catalogue::find(key)
                .and_then(|setting| setting.default)
                .map(String::from)
        });
        self.problems.push(Problem {
            setting: self.name_of(key),
            value,
            message,
        });
    }
}

/// A TOML error without the lines that quote the file: the quoted line may hold a secret.
fn without_source_lines(error: &str) -> String {
    let quotes_source = |line: &str| {
        let line = line.trim_start();
        line.starts_with('|')
            || line
                .split_once(" |")
                .is_some_and(|(n, _)| n.trim().parse::<u32>().is_ok())
    };
    error
        .lines()
        .filter(|line| !line.trim().is_empty() && !quotes_source(line))
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_whole(text: &str, least: u32) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(number) if number >= least => Ok(number),
        _ => Err(format!("must be a whole number, {least} or more")),
    }
}

/// A secret value for display: a URL with its password masked, anything else masked whole.
fn masked(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) if url.password().is_some() => crate::secret::redacted(&url),
        _ => Secret::new(text).to_string(),
    }
}

fn parse_minutes(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(minutes) if minutes > 0.0 && minutes <= 7.0 * 24.0 * 60.0 => {
            Ok(Duration::from_secs_f64(minutes * 60.0))
        }
        _ => Err("must be a number of minutes above 0 and at most a week (10080)".into()),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= LONGEST_INTERVAL_SECONDS => {
            Ok(Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "must be a number of seconds above 0 and at most {LONGEST_INTERVAL_SECONDS} \
             (decimals allowed, like 0.5)"
        )),
    }
}

/// Heroku app names are `^[a-z][a-z0-9-]{1,28}[a-z0-9]$`; an app's UUID also identifies it.
fn parse_app_name(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let is_name = (3..=30).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if is_name || is_uuid(text) {
        Ok(text.to_string())
    } else {
        Err(
            "must be a Heroku app name (3 to 30 lower-case letters, digits and dashes, \
             starting with a letter) or an app id"
                .into(),
        )
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Process types are `^[-\w]{1,128}$` in the Platform API schema.
fn parse_process_type(text: &str) -> Result<String, String> {
    let valid = (1..=128).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(text.to_string())
    } else {
        Err("must be a process type from the Procfile, like web (letters, digits, _ and -)".into())
    }
}

/// The API key travels in a header, so plain http is allowed only where it cannot leave the host.
fn parse_api_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("is not a URL ({error})"))?;
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(
            "must use https: the API key would cross the network unencrypted (plain http is \
             allowed only to 127.0.0.1, ::1 or localhost, for tests)"
                .into(),
        ),
        _ => Err("must be an https:// URL like https://api.heroku.com".into()),
    }
}

fn parse_heartbeat_url(text: &str) -> Result<HeartbeatUrl, String> {
    if text.starts_with('/') && !text.starts_with("//") {
        return Ok(HeartbeatUrl::Path(text.to_string()));
    }
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(HeartbeatUrl::Absolute(url))
        }
        _ => Err(
            "must be a path starting with / (joined to the app's web_url) or an absolute \
             http:// or https:// URL"
                .into(),
        ),
    }
}

fn parse_time_zone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>().map_err(|_| {
        "is not a known time zone; use an IANA name like UTC, Europe/London or America/Vancouver"
            .into()
    })
}

fn parse_log_level(text: &str) -> Result<LogLevel, String> {
    LogLevel::parse(text).ok_or_else(|| "must be one of error, warn, info, debug, trace".into())
}

#[cfg(test)]
mod tests;
