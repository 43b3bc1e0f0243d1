//! Every setting the worker reads: its name, default and one line on what it does.
//!
//! This table is the single source for start-up warnings about unknown variables, for the output
//! of `heroku-autoscale check`, and for the test that keeps `settings/default.toml` and
//! `docs/settings.md` in step with the code.

/// One setting as users write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

impl SettingInfo {
    /// The environment variable that sets it, e.g. `AUTOSCALE_MAX_DYNOS`.
    pub fn env_name(&self) -> String {
        format!("AUTOSCALE_{}", self.key.to_ascii_uppercase())
    }
}

const fn setting(
    key: &'static str,
    default: Option<&'static str>,
    summary: &'static str,
) -> SettingInfo {
    SettingInfo {
        key,
        default,
        required: false,
        secret: false,
        summary,
    }
}

/// All settings, in the order `check` prints them.
pub const SETTINGS: &[SettingInfo] = &[
    SettingInfo {
        required: true,
        ..setting(
            "heroku_app_name",
            None,
            "Name (or id) of the Heroku app to scale. Required.",
        )
    },
    SettingInfo {
        key: "heroku_api_key",
        default: None,
        required: true,
        secret: true,
        summary:
            "Heroku API key or OAuth token (HEROKU_API_KEY is read when this is unset). Required.",
    },
    setting(
        "heroku_api_url",
        Some("https://api.heroku.com"),
        "Base URL of the Heroku Platform API; plain http only to a loopback host.",
    ),
    setting(
        "process_type",
        Some("web"),
        "Process type whose dynos are scaled.",
    ),
    setting(
        "heartbeat_interval_in_seconds",
        Some("30"),
        "Seconds between heartbeats (decimals allowed); must be longer than the max response time.",
    ),
    setting(
        "heartbeat_url",
        Some("/heroku-autoscale/heartbeat/v1"),
        "URL to probe: absolute http(s)://, or a path joined to the app's web_url.",
    ),
    setting(
        "max_response_time_in_ms",
        Some("1000"),
        "A heartbeat slower than this (or failing) counts as a fail.",
    ),
    setting(
        "min_response_time_in_ms",
        Some("200"),
        "A heartbeat faster than this counts as a pass.",
    ),
    setting(
        "number_of_fails_to_scale_up_after",
        Some("3"),
        "Consecutive fails before dynos are added.",
    ),
    setting(
        "number_of_passes_to_scale_down_after",
        Some("5"),
        "Consecutive passes before dynos are removed.",
    ),
    setting(
        "max_dynos",
        Some("3"),
        "Most dynos: a number, or a schedule like 0:00=2,9:00=5,17:00=2.",
    ),
    setting(
        "min_dynos",
        Some("1"),
        "Fewest dynos: a number, or a schedule like 0:00=1,8:00=3,18:00=1.",
    ),
    setting(
        "increment",
        Some("1"),
        "Dynos added or removed in one step.",
    ),
    setting(
        "time_zone",
        Some("UTC"),
        "IANA time zone of the schedules (TIME_ZONE is read when this is unset).",
    ),
    setting(
        "formation_refresh_in_seconds",
        Some("60"),
        "Seconds after which the dyno count is re-read from the API, at the next heartbeat.",
    ),
    setting(
        "log_level",
        Some("info"),
        "Log level: error, warn, info, debug or trace.",
    ),
    setting(
        "admins",
        None,
        "Comma-separated addresses that receive notices by email; unset: notices go to the log only.",
    ),
    SettingInfo {
        secret: true,
        ..setting(
            "smtp_url",
            None,
            "smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; unset: a mail \
             add-on's variables, if any.",
        )
    },
    setting(
        "email_from",
        None,
        "Sender of notice emails; unset: heroku-autoscale <heroku-autoscale@APP.herokuapp.com>.",
    ),
    setting(
        "email_subject_prefix",
        Some("[heroku-autoscale]"),
        "Put before every email subject, followed by a space.",
    ),
    setting(
        "notify_if_needs_exceed_max",
        Some("true"),
        "Email when at the max and responses are still slow.",
    ),
    setting(
        "notify_if_needs_below_min",
        Some("false"),
        "Email when at the min (above 1 dyno) and responses are fast.",
    ),
    setting(
        "notify_on_scale_fails",
        Some("false"),
        "Email when a scale call fails.",
    ),
    setting(
        "notify_if_scale_diff_exceeds_threshold",
        None,
        "Email when the dyno count ranges over more than this many dynos within the period.",
    ),
    setting(
        "notify_if_scale_diff_exceeds_period_in_minutes",
        None,
        "The period for the threshold above; set both or neither.",
    ),
    setting(
        "notify_repeat_after_in_minutes",
        Some("60"),
        "While a condition lasts, its notice is repeated at most this often.",
    ),
];

/// The setting with this TOML key.
pub fn find(key: &str) -> Option<&'static SettingInfo> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

/// The known setting whose name is closest to an unknown one, if any is close enough to be a typo.
pub fn nearest(unknown_key: &str) -> Option<&'static SettingInfo> {
    SETTINGS
        .iter()
        .map(|setting| (strsim::levenshtein(unknown_key, setting.key), setting))
        .filter(|(distance, _)| *distance <= 3 + unknown_key.len() / 6)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, setting)| setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_use_the_seed_prefix() {
        assert_eq!(find("max_dynos").unwrap().env_name(), "AUTOSCALE_MAX_DYNOS");
    }

    #[test]
    fn typos_find_the_setting_meant() {
        assert_eq!(nearest("max_dyno").unwrap().key, "max_dynos");
        assert_eq!(
            nearest("heartbeat_interval_in_secs").unwrap().key,
            "heartbeat_interval_in_seconds"
        );
        assert_eq!(nearest("something_else_entirely"), None);
    }

    #[test]
    fn keys_are_unique() {
        for (index, setting) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[index + 1..]
                    .iter()
                    .all(|other| other.key != setting.key),
                "{} listed twice",
                setting.key
            );
        }
    }
}
