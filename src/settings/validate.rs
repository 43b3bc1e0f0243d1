//! The last stage: raw values become [`Settings`]. Each value is parsed by its setting's rules,
//! then the settings are checked against each other; every problem is collected, so the user
//! sees them all at once.

use std::time::Duration;

use chrono_tz::Tz;
use url::{Host, Url};

use super::catalogue::Inputs;
use super::email::{
    default_sender, parse_admins, parse_bool, parse_mailbox, parse_smtp_url, ScaleDiff,
};
use super::load::Mode;
use super::processes::{parse_idle_minutes, parse_processes, ProcessSettings};
use super::raw::{whole_number, Input, RawValue};
use super::schedule::{first_conflict, DynoLimit};
use super::{HeartbeatUrl, LogLevel, Problem, QueueUrl, Settings};
use crate::secret::{Secret, UrlWithSecrets};

/// The app name used with `--local-formation` when none is set.
pub(super) const LOCAL_APP_NAME: &str = "local";
/// The API key used with `--local-formation` when none is set: never sent anywhere, since the
/// local formation makes no API calls.
const LOCAL_API_KEY: &str = "local-mode-no-key";
/// A heartbeat interval longer than a day is surely a mistake (a unit mix-up).
const LONGEST_INTERVAL_SECONDS: f64 = 86_400.0;

/// Far beyond any dyno boot (Heroku's own boot timeout goes up to 180 s).
const LONGEST_BOOT_TIMEOUT_SECONDS: f64 = 3_600.0;
/// A day: a plan limit is not believed longer without a new refusal.
const LONGEST_PLAN_LIMIT_MEMORY_MINUTES: f64 = 1_440.0;
/// The longest period in minutes a notice setting takes; longer is surely a unit mix-up.
const WEEK_IN_MINUTES: f64 = 10_080.0;
/// The shortest repeat of a notice, in minutes.
const SHORTEST_REPEAT_IN_MINUTES: f64 = 1.0;

/// Validated settings from the inputs, or every problem found. Without a Heroku app behind
/// the worker (`mode`), the app name and key may be left out.
pub(super) fn validate(given: Inputs, mode: Mode) -> Result<Settings, Vec<Problem>> {
    let mut validator = Validator {
        mode,
        problems: Vec::new(),
    };
    match validator.settings(&given) {
        Some(settings) if validator.problems.is_empty() => Ok(settings),
        _ => Err(validator.problems),
    }
}

/// Records a [`Problem`] for each bad value; its methods answer `None` for a value that is
/// missing or refused, so that every setting is still checked.
struct Validator {
    mode: Mode,
    problems: Vec<Problem>,
}

impl Validator {
    fn settings(&mut self, given: &Inputs) -> Option<Settings> {
        let no_app = self.mode != Mode::Heroku;
        let local_app = no_app.then_some(LOCAL_APP_NAME);
        let local_key = no_app.then_some(LOCAL_API_KEY);
        let heroku_app_name = self.read(&given.heroku_app_name, local_app, parse_app_name);
        let heroku_api_key = self.read(&given.heroku_api_key, local_key, parse_api_key);
        let heroku_api_url = self.parse(&given.heroku_api_url, parse_api_url);
        let process_type = self.parse(&given.process_type, parse_process_type);
        let heartbeat_interval = self.parse(&given.heartbeat_interval_in_seconds, parse_seconds);
        let heartbeat_url = self.heartbeat_url(&given.heartbeat_url);
        let max_response_time = self.parse(&given.max_response_time_in_ms, |text| {
            parse_whole(text, 1).map(|ms| Duration::from_millis(ms.into()))
        });
        let min_response_time = self.parse(&given.min_response_time_in_ms, |text| {
            parse_whole(text, 0).map(|ms| Duration::from_millis(ms.into()))
        });
        let fails = self.parse(&given.number_of_fails_to_scale_up_after, at_least_1);
        let passes = self.parse(&given.number_of_passes_to_scale_down_after, at_least_1);
        let max_dynos = self.dyno_limit(&given.max_dynos);
        let min_dynos = self.dyno_limit(&given.min_dynos);
        let increment = self.parse(&given.increment, at_least_1);
        let time_zone = self.parse(&given.time_zone, parse_time_zone);
        let formation_refresh = self.parse(&given.formation_refresh_in_seconds, parse_seconds);
        let log_level = self.parse(&given.log_level, parse_log_level);
        let admins = self.optional(&given.admins, parse_admins);
        let smtp = self.optional(&given.smtp_url, parse_smtp_url);
        let email_from = self.optional(&given.email_from, parse_mailbox);
        let email_subject_prefix =
            self.parse(&given.email_subject_prefix, |text| Ok(text.to_string()));
        let notify_max = self.parse(&given.notify_if_needs_exceed_max, parse_bool);
        let notify_min = self.parse(&given.notify_if_needs_below_min, parse_bool);
        let notify_fails = self.parse(&given.notify_on_scale_fails, parse_bool);
        let single_active_worker = self.parse(&given.single_active_worker, parse_bool);
        let log_metrics = self.parse(&given.log_metrics, parse_bool);
        let boot_timeout = self.parse(&given.boot_timeout_in_seconds, parse_boot_timeout);
        let proportional_scale_up = self.parse(&given.proportional_scale_up, parse_bool);
        let scale_down_backoff = self.parse(&given.scale_down_backoff, parse_bool);
        let plan_limit_memory =
            self.parse(&given.plan_limit_memory_in_minutes, parse_plan_limit_memory);
        let hold_on_heartbeat_url_errors =
            self.parse(&given.hold_on_heartbeat_url_errors, parse_bool);
        let queue_url = self.optional(&given.queue_url, parse_queue_url);
        let processes = self.processes(&given.processes, process_type.as_deref());
        let idle_before_zero = self.parse(&given.idle_minutes_before_zero, parse_idle_minutes);
        match (&queue_url, &processes) {
            // The simulator reads its own model's queues.
            (Some(None), Some(processes))
                if !processes.is_empty() && self.mode != Mode::Simulation =>
            {
                self.problem_with(
                    &given.queue_url,
                    "is required to scale worker process types (AUTOSCALE_PROCESSES): the URL of \
                 the app's queue document, like /hirefire/<HIREFIRE_TOKEN>/info"
                        .into(),
                )
            }
            (Some(Some(url)), _)
                if self.mode == Mode::LocalFormation
                    && matches!(url.url(), HeartbeatUrl::Path(_)) =>
            {
                self.problem_with(
                    &given.queue_url,
                    "must be an absolute URL with --local-formation (there is no Heroku app to \
                     take the web URL from)"
                        .into(),
                )
            }
            _ => {}
        }
        let notify_scale_diff = self.scale_diff(given);
        let notify_repeat_after = self.parse(&given.notify_repeat_after_in_minutes, |text| {
            parse_minutes(text, SHORTEST_REPEAT_IN_MINUTES)
        });

        if let (Some(Some(admins)), Some(None)) = (&admins, &smtp) {
            if !admins.is_empty() {
                self.problem_with(
                    &given.admins,
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
                    given.max_response_time_in_ms.cited,
                    max.as_millis()
                );
                self.problem_with(&given.min_response_time_in_ms, message);
            }
        }
        if let (Some(interval), Some(max)) = (heartbeat_interval, max_response_time) {
            if interval <= max {
                let message = format!(
                    "must be longer than {} ({} ms), since each heartbeat may wait that long for \
                     its answer",
                    given.max_response_time_in_ms.cited,
                    max.as_millis()
                );
                self.problem_with(&given.heartbeat_interval_in_seconds, message);
            }
        }
        if let (Some(min), Some(max), Some(zone)) = (&min_dynos, &max_dynos, time_zone) {
            if let Some((time, min_then, max_then)) = first_conflict(min, max) {
                let message = format!(
                    "at {time} ({zone}) it gives {min_then}, more than {} gives then \
                     ({max_then}); the minimum must never exceed the maximum",
                    given.max_dynos.cited
                );
                self.problem_with(&given.min_dynos, message);
            }
        }

        let app_for_sender = heroku_app_name.clone();
        Some(Settings {
            heroku_app_name: heroku_app_name?,
            heroku_api_key: heroku_api_key?,
            heroku_api_url: UrlWithSecrets(heroku_api_url?),
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
            boot_timeout: boot_timeout?,
            proportional_scale_up: proportional_scale_up?,
            scale_down_backoff: scale_down_backoff?,
            plan_limit_memory: plan_limit_memory?,
            hold_on_heartbeat_url_errors: hold_on_heartbeat_url_errors?,
            queue_url: queue_url?,
            processes: processes?,
            idle_before_zero: idle_before_zero?,
            single_active_worker: single_active_worker?,
            log_metrics: log_metrics?,
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

    /// The worker process types; each problem names the process type and the key.
    fn processes(&mut self, input: &Input, web: Option<&str>) -> Option<Vec<ProcessSettings>> {
        let Some(value) = &input.value else {
            return Some(Vec::new());
        };
        match parse_processes(value, web.unwrap_or("web")) {
            Ok(processes) => Some(processes),
            Err(problems) => {
                for problem in problems {
                    self.problem_with(input, problem);
                }
                None
            }
        }
    }

    /// With `--local-formation` there is no Heroku app whose web URL a path could be joined to.
    fn heartbeat_url(&mut self, input: &Input) -> Option<HeartbeatUrl> {
        let url = self.parse(input, parse_heartbeat_url)?;
        match url {
            HeartbeatUrl::Path(path) if self.mode == Mode::LocalFormation => {
                self.problems.push(Problem {
                    setting: input.cited.clone(),
                    value: Some(path),
                    message: "must be an absolute URL with --local-formation (there is no \
                              Heroku app to take the web URL from), e.g. \
                              http://localhost:8000/heroku-autoscale/heartbeat/v1"
                        .into(),
                });
                None
            }
            url => Some(url),
        }
    }

    /// The scale-diff notice needs both of its settings; one without the other is a mistake.
    fn scale_diff(&mut self, given: &Inputs) -> Option<Option<ScaleDiff>> {
        let threshold_input = &given.notify_if_scale_diff_exceeds_threshold;
        let period_input = &given.notify_if_scale_diff_exceeds_period_in_minutes;
        let threshold = self.optional(threshold_input, at_least_1);
        let period = self.optional(period_input, |text| parse_minutes(text, 0.0));
        let (unset, set) = match (threshold?, period?) {
            (Some(threshold), Some(period)) => return Some(Some(ScaleDiff { threshold, period })),
            (None, None) => return Some(None),
            (Some(_), None) => (period_input, threshold_input),
            (None, Some(_)) => (threshold_input, period_input),
        };
        let message = format!("is set but {} is not: set both, or neither", unset.cited);
        self.problem_with(set, message);
        None
    }

    /// A setting that may be left unset: `Some(None)` when unset, `None` when it is refused.
    fn optional<T>(
        &mut self,
        input: &Input,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match input.value {
            None => Some(None),
            Some(_) => self.parse(input, parse).map(Some),
        }
    }

    fn parse<T>(
        &mut self,
        input: &Input,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.read(input, None, parse)
    }

    /// Parses the user's value, or else the default, or else `fallback`, as if the user had
    /// written it; a required setting with none of these is a problem.
    fn read<T>(
        &mut self,
        input: &Input,
        fallback: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.value_or_default(input, fallback)?;
        let text = self.scalar_text(input, &value)?;
        parse(&text)
            .map_err(|message| self.refuse(input, &text, message))
            .ok()
    }

    /// A number of dynos, or a schedule as a string (environment) or a table (TOML).
    fn dyno_limit(&mut self, input: &Input) -> Option<DynoLimit> {
        let value = self.value_or_default(input, None)?;
        let (text, parsed) = match &value {
            RawValue::Table(table) => {
                let entries = table
                    .iter()
                    .map(|(time, count)| (time.clone(), count.to_string()))
                    .collect();
                (value.to_string(), DynoLimit::from_entries(entries))
            }
            _ => {
                let text = self.scalar_text(input, &value)?;
                let parsed = DynoLimit::parse(&text);
                (text, parsed)
            }
        };
        let expected = "expected a number of dynos like 3, or a schedule like \
                        0:00=2,9:00=5,17:00=2 (in TOML: { \"0:00\" = 2, \"9:00\" = 5 })";
        parsed
            .map_err(|reason| self.refuse(input, &text, format!("{reason}; {expected}")))
            .ok()
    }

    fn value_or_default(&mut self, input: &Input, fallback: Option<&str>) -> Option<RawValue> {
        let setting = input.setting;
        if let Some(value) = &input.value {
            return Some(value.clone());
        }
        if let Some(default) = setting.default.or(fallback) {
            return Some(RawValue::Text(default.into()));
        }
        if setting.required {
            self.problems.push(Problem {
                setting: input.cited.clone(),
                value: None,
                message: format!(
                    "is required: {}",
                    setting.summary.trim_end_matches(" Required.")
                ),
            });
        }
        None
    }

    /// The value as text; a table or a list is refused, since every setting but the dyno limits
    /// takes a single value.
    fn scalar_text(&mut self, input: &Input, value: &RawValue) -> Option<String> {
        let text = value.scalar_text();
        if text.is_none() {
            let message = "must be a single value, not a table or a list".to_string();
            self.refuse(input, &value.to_string(), message);
        }
        text
    }

    /// Records that `text`, given for `input`, was refused (masked if the setting is secret).
    fn refuse(&mut self, input: &Input, text: &str, message: String) {
        self.problems.push(Problem {
            setting: input.cited.clone(),
            value: Some(shown(input, text)),
            message,
        });
    }

    /// A problem with a value that parsed but does not fit with others: cites the value given,
    /// or the default that was used.
    fn problem_with(&mut self, input: &Input, message: String) {
        let value = match &input.value {
            Some(value) => Some(value.to_string()),
            None => input.setting.default.map(String::from),
        };
        self.problems.push(Problem {
            setting: input.cited.clone(),
            value: value.map(|text| shown(input, &text)),
            message,
        });
    }
}

/// `text` as a problem may show it: any URL in it with its password (and a token user) masked,
/// even one too broken to parse; a secret masked whole unless it is a URL setting with such
/// credentials (a key pasted in URL form must not show its user part).
fn shown(input: &Input, text: &str) -> String {
    // The queue URL's secret is its path, which masking credentials would leave in view.
    if input.setting.key == "queue_url" {
        return Secret::new(text).to_string();
    }
    let redacted = crate::secret::redacted_value(text);
    let url_credentials = input.setting.key.ends_with("_url") && redacted != text;
    if input.setting.secret && !url_credentials {
        return Secret::new(text).to_string();
    }
    redacted
}

/// The key travels in an HTTP header: printable ASCII without spaces.
fn parse_api_key(text: &str) -> Result<Secret, String> {
    let header_safe = text.chars().all(|c| c.is_ascii_graphic());
    if text.is_empty() || !header_safe {
        return Err("must be an API key or token: printable characters without spaces".into());
    }
    Ok(Secret::new(text))
}

fn at_least_1(text: &str) -> Result<u32, String> {
    parse_whole(text, 1)
}

fn parse_whole(text: &str, least: u32) -> Result<u32, String> {
    match whole_number(text) {
        Some(number) if number >= least => Ok(number),
        _ => Err(format!(
            "must be a whole number from {least} to {}",
            u32::MAX
        )),
    }
}

/// A number of minutes up to a week, decimals allowed: above 0 for a `floor` of 0 (the
/// scale-diff period), else from `floor` on (the notice repeat: at least a minute, since anything
/// shorter would email about as often as the heartbeat beats, which the repeat exists to prevent).
fn parse_minutes(text: &str, floor: f64) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(minutes) if minutes > 0.0 && minutes >= floor && minutes <= WEEK_IN_MINUTES => {
            Ok(Duration::from_secs_f64(minutes * 60.0))
        }
        _ if floor > 0.0 => Err(format!(
            "must be a number of minutes from {floor} to {WEEK_IN_MINUTES} (a week), decimals \
             allowed, like 1.5"
        )),
        _ => Err(format!(
            "must be a number of minutes above 0 and at most a week ({WEEK_IN_MINUTES})"
        )),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= LONGEST_INTERVAL_SECONDS => {
            Ok(Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "must be a number of seconds above 0 and at most {LONGEST_INTERVAL_SECONDS} \
             (decimals allowed, like 1.5)"
        )),
    }
}

/// 0 turns the wait off.
fn parse_boot_timeout(text: &str) -> Result<Option<Duration>, String> {
    match text.parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(seconds) if seconds > 0.0 && seconds <= LONGEST_BOOT_TIMEOUT_SECONDS => {
            Ok(Some(Duration::from_secs_f64(seconds)))
        }
        _ => Err(format!(
            "must be a number of seconds from 0 (no wait) to {LONGEST_BOOT_TIMEOUT_SECONDS}, \
             decimals allowed, like 90"
        )),
    }
}

/// 0 turns the memory off.
fn parse_plan_limit_memory(text: &str) -> Result<Option<Duration>, String> {
    match text.parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(minutes) if minutes > 0.0 && minutes <= LONGEST_PLAN_LIMIT_MEMORY_MINUTES => {
            Ok(Some(Duration::from_secs_f64(minutes * 60.0)))
        }
        _ => Err(format!(
            "must be a number of minutes from 0 (off) to {LONGEST_PLAN_LIMIT_MEMORY_MINUTES}, \
             decimals allowed, like 30"
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

/// A URL whose user or password has an unencoded `?` or `#` means another host than the one
/// written after the `@` (or is no URL at all): refused with what to write instead
/// ([`crate::secret::userinfo_cut_short`]).
pub(crate) fn refuse_userinfo_cut_short(text: &str) -> Result<(), String> {
    match crate::secret::userinfo_cut_short(text) {
        true => Err(
            "has a ? or # before its first / and an @ after it: the ? or # ends the host part \
             there. In a user or password write them as %3F and %23; a query or fragment goes \
             after a /, like https://app.example.com/?next=..."
                .into(),
        ),
        false => Ok(()),
    }
}

/// The API key travels in a header, so plain http is allowed only where it cannot leave the host.
fn parse_api_url(text: &str) -> Result<Url, String> {
    refuse_userinfo_cut_short(text)?;
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
    refuse_userinfo_cut_short(text)?;
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(HeartbeatUrl::Absolute(UrlWithSecrets(url)))
        }
        _ => Err(
            "must be a path starting with / (joined to the app's web_url) or an absolute \
             http:// or https:// URL"
                .into(),
        ),
    }
}

/// Like the heartbeat URL, but without a user or password: the document is read without them,
/// and the token belongs in the path.
fn parse_queue_url(text: &str) -> Result<QueueUrl, String> {
    let url = parse_heartbeat_url(text)?;
    if let HeartbeatUrl::Absolute(absolute) = &url {
        if !absolute.0.username().is_empty() || absolute.0.password().is_some() {
            return Err(
                "must not carry a user or password: the document is read without them; put \
                 the token in the path, like /hirefire/<HIREFIRE_TOKEN>/info"
                    .into(),
            );
        }
    }
    Ok(QueueUrl::new(url))
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
