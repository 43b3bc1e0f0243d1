//! Every setting the worker reads, defined once: its name, default, one line on what it does,
//! whether it is secret, and how `check` prints its effective value.
//!
//! The `settings!` table below is the single source for the struct the merged sources are
//! deserialized into, for start-up warnings about unknown names, for the output of
//! `heroku-autoscale check`, and for the test that keeps `settings/default.toml` and
//! `docs/settings.md` in step with the code. The compiler keeps the rest in step: a table entry
//! must say how `check` prints the setting, and validation must read every entry's input.
//!
//! Adding a setting: an entry here; then the compiler asks for a line in `validate.rs` that reads
//! it into a [`Settings`] field; then tests ask for its row in `docs/settings.md`, its line in
//! `settings/default.toml` (and README.md, app.json) and a sample in this file's test of `check`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::raw::{Input, RawValue};
use super::Settings;
use crate::secret::redacted;

/// One setting as users write it.
#[derive(Debug, Clone, Copy)]
pub struct SettingInfo {
    /// The name in a TOML file; the environment variable is `AUTOSCALE_` + this in upper case.
    pub key: &'static str,
    /// The default as the user would write it; `None` when the setting is required or is off
    /// (or derived from other settings) unless set.
    pub default: Option<&'static str>,
    /// Whether the worker refuses to start without it.
    pub required: bool,
    /// Whether the value is secret (masked wherever it is shown).
    pub secret: bool,
    /// What the setting does, in one line.
    pub summary: &'static str,
    /// The effective value as `check` prints it, masked when secret.
    show: fn(&Settings) -> String,
}

impl SettingInfo {
    /// The environment variable that sets it, e.g. `AUTOSCALE_MAX_DYNOS`.
    pub fn env_name(&self) -> String {
        format!("AUTOSCALE_{}", self.key.to_ascii_uppercase())
    }

    /// Its effective value in `settings` as `check` prints it (secrets masked).
    pub fn shown(&self, settings: &Settings) -> String {
        (self.show)(settings)
    }

    /// The same setting, masked wherever it is shown.
    const fn secret(self) -> Self {
        SettingInfo {
            secret: true,
            ..self
        }
    }
}

/// A setting with a default, written as the user would write it.
const fn defaulted(
    default: &'static str,
    summary: &'static str,
    show: fn(&Settings) -> String,
) -> SettingInfo {
    SettingInfo {
        // Filled in by `settings!` from the entry's name.
        key: "",
        default: Some(default),
        required: false,
        secret: false,
        summary,
        show,
    }
}

/// A setting that is off, or derived from other settings, unless set.
const fn optional(summary: &'static str, show: fn(&Settings) -> String) -> SettingInfo {
    SettingInfo {
        default: None,
        ..defaulted("", summary, show)
    }
}

/// A setting the worker cannot start without.
const fn required(summary: &'static str, show: fn(&Settings) -> String) -> SettingInfo {
    SettingInfo {
        required: true,
        ..optional(summary, show)
    }
}

/// From `key: definition,` entries: [`SETTINGS`], the raw struct the merged sources are
/// deserialized into (one field per entry, so a setting outside the table cannot be read), and
/// `Inputs`, each raw value beside its definition.
macro_rules! settings {
    ($($key:ident: $definition:expr,)*) => {
        /// Each setting's definition as a constant of its own, so that each input can point at
        /// its definition without a lookup by string.
        #[allow(non_upper_case_globals)]
        mod definition {
            use super::*;
            $(pub(in crate::settings) const $key: SettingInfo =
                SettingInfo { key: stringify!($key), ..$definition };)*
        }

        /// All settings, in the order `check` prints them.
        pub const SETTINGS: &[SettingInfo] = &[$(definition::$key),*];

        /// The merged sources as given, one field per setting.
        #[derive(Deserialize)]
        pub(super) struct RawSettings {
            $($key: Option<RawValue>,)*
            /// Names that are no setting (from a file: unknown variables never get this far).
            #[serde(flatten)]
            unknown: BTreeMap<String, RawValue>,
        }

        /// Every setting's input. Validation must read each field: one left unread is a
        /// compile error, so no setting in the table is silently ignored.
        #[deny(dead_code)]
        pub(super) struct Inputs {
            $(pub(super) $key: Input,)*
        }

        impl RawSettings {
            /// Pairs each value with its definition and the name `cite` gives it (told whether
            /// the user gave a value); also returns the unknown names and their values.
            pub(super) fn into_inputs(
                self,
                cite: impl Fn(&SettingInfo, bool) -> String,
            ) -> (Inputs, BTreeMap<String, RawValue>) {
                let inputs = Inputs {
                    $($key: Input {
                        setting: &definition::$key,
                        cited: cite(&definition::$key, self.$key.is_some()),
                        value: self.$key,
                    },)*
                };
                (inputs, self.unknown)
            }
        }
    };
}

settings! {
    heroku_app_name: required(
        "Name (or id) of the Heroku app to scale. Required.",
        |s| s.heroku_app_name.clone(),
    ),
    heroku_api_key: required(
        "Heroku API key or OAuth token (HEROKU_API_KEY is read when this is unset). Required.",
        |s| s.heroku_api_key.to_string(),
    )
    .secret(),
    heroku_api_url: defaulted(
        "https://api.heroku.com",
        "Base URL of the Heroku Platform API; plain http only to a loopback host.",
        |s| redacted(&s.heroku_api_url),
    ),
    process_type: defaulted(
        "web",
        "Process type whose dynos are scaled.",
        |s| s.process_type.clone(),
    ),
    heartbeat_interval_in_seconds: defaulted(
        "30",
        "Seconds between heartbeats (decimals allowed); must be longer than the max response time.",
        |s| seconds(s.heartbeat_interval),
    ),
    heartbeat_url: defaulted(
        "/heroku-autoscale/heartbeat/v1",
        "URL to probe: absolute http(s)://, or a path joined to the app's web_url.",
        |s| s.heartbeat_url.to_string(),
    ),
    max_response_time_in_ms: defaulted(
        "1000",
        "A heartbeat slower than this (or failing) counts as a fail.",
        |s| s.max_response_time.as_millis().to_string(),
    ),
    min_response_time_in_ms: defaulted(
        "200",
        "A heartbeat faster than this counts as a pass.",
        |s| s.min_response_time.as_millis().to_string(),
    ),
    number_of_fails_to_scale_up_after: defaulted(
        "3",
        "Consecutive fails before dynos are added.",
        |s| s.number_of_fails_to_scale_up_after.to_string(),
    ),
    number_of_passes_to_scale_down_after: defaulted(
        "5",
        "Consecutive passes before dynos are removed.",
        |s| s.number_of_passes_to_scale_down_after.to_string(),
    ),
    max_dynos: defaulted(
        "3",
        "Most dynos: a number, or a schedule like 0:00=2,9:00=5,17:00=2.",
        |s| s.max_dynos.to_string(),
    ),
    min_dynos: defaulted(
        "1",
        "Fewest dynos: a number, or a schedule like 0:00=1,8:00=3,18:00=1.",
        |s| s.min_dynos.to_string(),
    ),
    increment: defaulted(
        "1",
        "Dynos added or removed in one step.",
        |s| s.increment.to_string(),
    ),
    time_zone: defaulted(
        "UTC",
        "IANA time zone of the schedules (TIME_ZONE is read when this is unset).",
        |s| s.time_zone.name().to_string(),
    ),
    formation_refresh_in_seconds: defaulted(
        "60",
        "Seconds after which the dyno count is re-read from the API, at the next heartbeat.",
        |s| seconds(s.formation_refresh),
    ),
    boot_timeout_in_seconds: defaulted(
        "120",
        "After a scale-up, heartbeats count again once the new dynos serve or after this many seconds; 0: at once.",
        |s| s.boot_timeout.map_or_else(|| "0".into(), seconds),
    ),
    proportional_scale_up: defaulted(
        "true",
        "Double the step after each scale-up that did not help, up to doubling the dynos.",
        |s| s.proportional_scale_up.to_string(),
    ),
    scale_down_backoff: defaulted(
        "true",
        "Put a scale-down on trial for 10 minutes; undo one the heartbeats refute and make the next wait longer (for 4 hours).",
        |s| s.scale_down_backoff.to_string(),
    ),
    plan_limit_memory_in_minutes: defaulted(
        "60",
        "After Heroku refuses a scale-up (422, the plan's limit), ask for no more dynos for this long; 0: only the refused count, for a minute.",
        |s| s.plan_limit_memory.map_or_else(|| "0".into(), minutes),
    ),
    hold_on_heartbeat_url_errors: defaulted(
        "true",
        "A heartbeat answered 401, 403, 404 or 410 holds the dyno count and sends a notice (a wrong URL is not load).",
        |s| s.hold_on_heartbeat_url_errors.to_string(),
    ),
    queue_url: optional(
        "The job-queue document (hirefire-resource's format): an absolute URL, or a path on the app's web URL; its token is masked.",
        |s| s.queue_url.as_ref().map_or_else(|| "(none)".into(), ToString::to_string),
    )
    .secret(),
    processes: optional(
        "Worker process types scaled from the queue, like worker: max_dynos=5 jobs_per_dyno=50 (TOML: [processes.worker] tables).",
        |s| {
            if s.processes.is_empty() {
                return "(none)".into();
            }
            let shown: Vec<String> = s.processes.iter().map(ToString::to_string).collect();
            shown.join("; ")
        },
    ),
    idle_minutes_before_zero: defaulted(
        "5",
        "Minutes a worker process type's queue must stay empty before its last dyno goes (decimals allowed); doubled for the type, up to 16 times, each time jobs come back sooner than that.",
        |s| minutes(s.idle_before_zero),
    ),
    single_active_worker: defaulted(
        "true",
        "On Heroku only the first dyno of the worker's process type (DYNO=NAME.1) acts; others stand by.",
        |s| s.single_active_worker.to_string(),
    ),
    log_metrics: defaulted(
        "true",
        "One l2met metrics line per heartbeat and process type (source=APP.web measure#autoscale.heartbeat.latency=123ms ...), for log-based metrics add-ons and `report`.",
        |s| s.log_metrics.to_string(),
    ),
    log_level: defaulted(
        "info",
        "Log level: error, warn, info, debug or trace.",
        |s| s.log_level.to_string(),
    ),
    admins: optional(
        "Comma-separated addresses that receive notices by email; unset: notices go to the log only.",
        show_admins,
    ),
    smtp_url: optional(
        "smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; unset: a mail \
         add-on's variables, if any.",
        |s| s.smtp.as_ref().map_or_else(|| "(none)".into(), ToString::to_string),
    )
    .secret(),
    email_from: optional(
        "Sender of notice emails; unset: heroku-autoscale <heroku-autoscale@APP.herokuapp.com>.",
        |s| s.email_from.to_string(),
    ),
    email_subject_prefix: defaulted(
        "[heroku-autoscale]",
        "Put before every email subject, followed by a space.",
        |s| s.email_subject_prefix.clone(),
    ),
    notify_if_needs_exceed_max: defaulted(
        "true",
        "Email when at the max and responses are still slow.",
        |s| s.notify_if_needs_exceed_max.to_string(),
    ),
    notify_if_needs_below_min: defaulted(
        "false",
        "Email when at the min (above 1 dyno) and responses are fast.",
        |s| s.notify_if_needs_below_min.to_string(),
    ),
    notify_on_scale_fails: defaulted(
        "false",
        "Email when a scale call fails.",
        |s| s.notify_on_scale_fails.to_string(),
    ),
    notify_if_scale_diff_exceeds_threshold: optional(
        "Email when the dyno count ranges over more than this many dynos within the period.",
        |s| s.notify_scale_diff.map_or_else(off, |diff| diff.threshold.to_string()),
    ),
    notify_if_scale_diff_exceeds_period_in_minutes: optional(
        "The period for the threshold above; set both or neither.",
        |s| s.notify_scale_diff.map_or_else(off, |diff| minutes(diff.period)),
    ),
    notify_repeat_after_in_minutes: defaulted(
        "60",
        "While a condition lasts, its notice is repeated at most this often (1 minute or more).",
        |s| minutes(s.notify_repeat_after),
    ),
}

fn seconds(duration: Duration) -> String {
    duration.as_secs_f64().to_string()
}

fn minutes(duration: Duration) -> String {
    (duration.as_secs_f64() / 60.0).to_string()
}

fn off() -> String {
    "(off)".into()
}

fn show_admins(settings: &Settings) -> String {
    if settings.admins.is_empty() {
        return "(none: notices go to the log only)".into();
    }
    let admins: Vec<String> = settings.admins.iter().map(ToString::to_string).collect();
    admins.join(", ")
}

/// The known setting whose name is closest to an unknown one, if any is close enough to be a
/// typo, or the one setting whose name starts with it (`heroku_app` for `heroku_app_name`).
pub fn nearest(unknown_key: &str) -> Option<&'static SettingInfo> {
    SETTINGS
        .iter()
        .map(|setting| (strsim::levenshtein(unknown_key, setting.key), setting))
        .filter(|(distance, _)| *distance <= 3 + unknown_key.len() / 6)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, setting)| setting)
        .or_else(|| only_one_starting_with(unknown_key))
}

/// A name cut short at a word boundary points at a setting only when it is the only one that
/// starts so: `heroku` could be any of three.
fn only_one_starting_with(unknown_key: &str) -> Option<&'static SettingInfo> {
    let prefix = format!("{unknown_key}_");
    let mut candidates = SETTINGS
        .iter()
        .filter(|setting| setting.key.starts_with(&prefix));
    match (candidates.next(), candidates.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// The setting `key` names, if any.
pub fn find(key: &str) -> Option<&'static SettingInfo> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{load, SettingsSource};

    /// Every setting with a value other than the base's, and how `check` must print it.
    const SAMPLES: &[(&str, &str, &str)] = &[
        ("heroku_app_name", "acme-store", "acme-store"),
        ("heroku_api_key", "another-key-987", "********"),
        (
            "heroku_api_url",
            "http://127.0.0.1:4000",
            "http://127.0.0.1:4000/",
        ),
        ("process_type", "api-worker_2", "api-worker_2"),
        ("heartbeat_interval_in_seconds", "2.5", "2.5"),
        (
            "heartbeat_url",
            "https://u:pw-456@acme.example.com/health",
            "https://u:********@acme.example.com/health",
        ),
        ("max_response_time_in_ms", "800", "800"),
        ("min_response_time_in_ms", "150", "150"),
        ("number_of_fails_to_scale_up_after", "2", "2"),
        ("number_of_passes_to_scale_down_after", "7", "7"),
        (
            "max_dynos",
            "0:00=2,9:00=5,17:00=2",
            "0:00=2,9:00=5,17:00=2",
        ),
        ("min_dynos", "0:00=0,8:00=1", "0:00=0,8:00=1"),
        ("increment", "2", "2"),
        ("time_zone", "America/Vancouver", "America/Vancouver"),
        ("formation_refresh_in_seconds", "45", "45"),
        ("boot_timeout_in_seconds", "0", "0"),
        ("proportional_scale_up", "off", "false"),
        ("scale_down_backoff", "false", "false"),
        ("plan_limit_memory_in_minutes", "0", "0"),
        ("hold_on_heartbeat_url_errors", "off", "false"),
        (
            "queue_url",
            "https://acme.example.com/hirefire/hf-secret-77/info",
            "https://acme.example.com/hirefire/********",
        ),
        (
            "processes",
            "worker: max_dynos=5 jobs_per_dyno=50",
            "worker: min_dynos=0 max_dynos=5 jobs_per_dyno=50",
        ),
        ("idle_minutes_before_zero", "0.5", "0.5"),
        ("single_active_worker", "no", "false"),
        ("log_metrics", "off", "false"),
        ("log_level", "DEBUG", "debug"),
        (
            "admins",
            "Ops <ops@example.com>, dev@example.com",
            "Ops <ops@example.com>, dev@example.com",
        ),
        (
            "smtp_url",
            "smtp://mailer:pw-123@smtp.example.com:2525",
            "smtp://mailer:********@smtp.example.com:2525",
        ),
        (
            "email_from",
            "Autoscaler <scale@acme.example>",
            "Autoscaler <scale@acme.example>",
        ),
        ("email_subject_prefix", "[acme]", "[acme]"),
        ("notify_if_needs_exceed_max", "no", "false"),
        ("notify_if_needs_below_min", "yes", "true"),
        ("notify_on_scale_fails", "on", "true"),
        ("notify_if_scale_diff_exceeds_threshold", "6", "6"),
        ("notify_if_scale_diff_exceeds_period_in_minutes", "45", "45"),
        ("notify_repeat_after_in_minutes", "1.5", "1.5"),
    ];

    /// `check`'s lines for the required settings, a scale-diff notice and an SMTP server (the
    /// scale-diff settings, and admins, are refused alone) and `extra`.
    fn printed(extra: Option<(String, &str)>) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AUTOSCALE_HEROKU_APP_NAME".to_string(), "acme-shop"),
            (
                "AUTOSCALE_HEROKU_API_KEY".to_string(),
                "hrku-secret-0123456789",
            ),
            ("AUTOSCALE_SMTP_URL".to_string(), "smtp://127.0.0.1:2525"),
            // Worker process types need it; alone it is read by nothing.
            (
                "AUTOSCALE_QUEUE_URL".to_string(),
                "/hirefire/hf-secret-42/info",
            ),
            (
                "AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD".to_string(),
                "4",
            ),
            (
                "AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES".to_string(),
                "30",
            ),
        ];
        env.extend(extra);
        let settings = match load(&SettingsSource::from_vars(env)) {
            Ok(loaded) => loaded.settings,
            Err(error) => panic!("expected valid settings, got:\n{error}"),
        };
        settings
            .effective_values()
            .into_iter()
            .map(|(setting, value)| (setting.key, value))
            .collect()
    }

    #[test]
    fn check_prints_every_setting_each_with_its_own_value() {
        let keys: Vec<&str> = SETTINGS.iter().map(|setting| setting.key).collect();
        let sampled: Vec<&str> = SAMPLES.iter().map(|(key, _, _)| *key).collect();
        assert_eq!(
            sampled, keys,
            "SAMPLES needs one row per setting, in table order"
        );

        let base = printed(None);
        let printed_keys: Vec<&str> = base.iter().map(|(key, _)| *key).collect();
        assert_eq!(
            printed_keys, keys,
            "check prints each setting once, in table order"
        );
        for (key, value) in &base {
            assert!(!value.is_empty(), "check prints nothing for {key}");
        }
        // One setting changed at a time: its own line shows the new value, so no line prints
        // another setting's field.
        for (index, (key, given, expected)) in SAMPLES.iter().enumerate() {
            let lines = printed(Some((SETTINGS[index].env_name(), given)));
            assert_eq!(lines[index].1, *expected, "check's line for {key}");
            if !SETTINGS[index].secret {
                assert_ne!(
                    base[index].1, *expected,
                    "the sample for {key} is the base value"
                );
            }
        }
    }

    #[test]
    fn env_names_use_the_seed_prefix() {
        assert_eq!(definition::max_dynos.env_name(), "AUTOSCALE_MAX_DYNOS");
    }

    #[test]
    fn typos_find_the_setting_meant() {
        assert_eq!(nearest("max_dyno").unwrap().key, "max_dynos");
        assert_eq!(
            nearest("heartbeat_interval_in_secs").unwrap().key,
            "heartbeat_interval_in_seconds"
        );
        assert!(nearest("something_else_entirely").is_none());
        // Cut short at a word boundary: a guess only when one setting starts so.
        assert_eq!(nearest("heroku_app").unwrap().key, "heroku_app_name");
        assert!(nearest("heroku").is_none());
        assert!(nearest("notify").is_none());
    }
}
