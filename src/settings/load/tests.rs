use std::io::Write;
use std::time::Duration;

use super::*;

const KEY: &str = "hrku-secret-0123456789";

fn vars(extra: &[(&str, &str)]) -> SettingsSource {
    let mut env = vec![
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", KEY),
        ("PATH", "/usr/bin"),
    ];
    env.extend_from_slice(extra);
    SettingsSource::from_vars(env)
}

fn settings(extra: &[(&str, &str)]) -> Settings {
    match load(&vars(extra)) {
        Ok(loaded) => loaded.settings,
        Err(error) => panic!("expected valid settings, got:\n{error}"),
    }
}

/// The single problem reported, as the line the user sees.
fn refusal(extra: &[(&str, &str)]) -> String {
    let error = load(&vars(extra)).expect_err("expected the settings to be refused");
    assert_eq!(
        error.problems.len(),
        1,
        "expected one problem, got:\n{error}"
    );
    error.to_string()
}

#[test]
fn the_seeds_defaults_apply_when_only_the_required_settings_are_given() {
    let s = settings(&[]);
    assert_eq!(s.heroku_app_name, "acme-shop");
    assert_eq!(s.heroku_api_key.expose(), KEY);
    assert_eq!(s.heroku_api_url.as_str(), "https://api.heroku.com/");
    assert_eq!(s.process_type, "web");
    assert_eq!(s.heartbeat_interval, Duration::from_secs(30));
    assert_eq!(
        s.heartbeat_url,
        HeartbeatUrl::Path("/heroku-autoscale/heartbeat/v1".into())
    );
    assert_eq!(s.max_response_time, Duration::from_millis(1000));
    assert_eq!(s.min_response_time, Duration::from_millis(200));
    assert_eq!(s.number_of_fails_to_scale_up_after, 3);
    assert_eq!(s.number_of_passes_to_scale_down_after, 5);
    assert_eq!(s.max_dynos, DynoLimit::Fixed(3));
    assert_eq!(s.min_dynos, DynoLimit::Fixed(1));
    assert_eq!(s.increment, 1);
    assert_eq!(s.time_zone, chrono_tz::UTC);
    assert_eq!(s.formation_refresh, Duration::from_secs(60));
    assert_eq!(s.log_level, LogLevel::Info);
}

#[test]
fn every_setting_is_read_from_its_environment_variable() {
    let s = settings(&[
        ("AUTOSCALE_HEROKU_API_URL", "http://127.0.0.1:4000"),
        ("AUTOSCALE_PROCESS_TYPE", "api-worker_2"),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.5"),
        ("AUTOSCALE_HEARTBEAT_URL", "https://acme.example.com/health"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "400"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "50"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2"),
        ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "7"),
        ("AUTOSCALE_MAX_DYNOS", "0:00=2,9:00=5,17:00=2"),
        ("AUTOSCALE_MIN_DYNOS", "2"),
        ("AUTOSCALE_INCREMENT", "2"),
        ("AUTOSCALE_TIME_ZONE", "America/Vancouver"),
        ("AUTOSCALE_FORMATION_REFRESH_IN_SECONDS", "5"),
        ("AUTOSCALE_LOG_LEVEL", "DEBUG"),
    ]);
    assert_eq!(s.heroku_api_url.as_str(), "http://127.0.0.1:4000/");
    assert_eq!(s.process_type, "api-worker_2");
    assert_eq!(s.heartbeat_interval, Duration::from_millis(500));
    assert_eq!(
        s.heartbeat_url.to_string(),
        "https://acme.example.com/health"
    );
    assert_eq!(s.max_response_time, Duration::from_millis(400));
    assert_eq!(s.min_response_time, Duration::from_millis(50));
    assert_eq!(s.number_of_fails_to_scale_up_after, 2);
    assert_eq!(s.number_of_passes_to_scale_down_after, 7);
    assert_eq!(s.max_dynos.to_string(), "0:00=2,9:00=5,17:00=2");
    assert_eq!(s.min_dynos, DynoLimit::Fixed(2));
    assert_eq!(s.increment, 2);
    assert_eq!(s.time_zone, chrono_tz::America::Vancouver);
    assert_eq!(s.formation_refresh, Duration::from_secs(5));
    assert_eq!(s.log_level, LogLevel::Debug);
}

#[test]
fn fallbacks_are_read_when_the_autoscale_variables_are_unset() {
    let source = SettingsSource::from_vars([
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("HEROKU_API_KEY", "from-the-cli"),
        ("TIME_ZONE", "Asia/Kolkata"),
    ]);
    let s = load(&source).unwrap().settings;
    assert_eq!(s.heroku_api_key.expose(), "from-the-cli");
    assert_eq!(s.time_zone, chrono_tz::Asia::Kolkata);

    let s = settings(&[
        ("TIME_ZONE", "Asia/Kolkata"),
        ("AUTOSCALE_TIME_ZONE", "UTC"),
    ]);
    assert_eq!(s.time_zone, chrono_tz::UTC, "AUTOSCALE_TIME_ZONE wins");

    let bad = SettingsSource::from_vars([
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", KEY),
        ("TIME_ZONE", "Mars/Olympus"),
    ]);
    let error = load(&bad).unwrap_err().to_string();
    assert!(error.starts_with("TIME_ZONE=\"Mars/Olympus\""), "{error}");
}

#[test]
fn missing_app_name_and_key_are_both_reported() {
    let error = load(&SettingsSource::from_vars([("PATH", "/bin")])).unwrap_err();
    let text = error.to_string();
    assert_eq!(error.problems.len(), 2, "{text}");
    assert!(
        text.contains("AUTOSCALE_HEROKU_APP_NAME: is required"),
        "{text}"
    );
    assert!(
        text.contains("AUTOSCALE_HEROKU_API_KEY: is required"),
        "{text}"
    );
}

#[test]
fn the_refusals_name_the_setting_and_the_value() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("AUTOSCALE_INCREMENT", "zero")],
            "AUTOSCALE_INCREMENT=\"zero\": must be a whole number from 1 to 4294967295",
        ),
        (
            &[("AUTOSCALE_INCREMENT", "0")],
            "AUTOSCALE_INCREMENT=\"0\": must be a whole number from 1 to 4294967295",
        ),
        (
            &[("AUTOSCALE_MAX_DYNOS", "0:00=2,25:00=5")],
            "AUTOSCALE_MAX_DYNOS=\"0:00=2,25:00=5\": time \"25:00\" has hour 25",
        ),
        (
            &[("AUTOSCALE_TIME_ZONE", "Europe/Atlantis")],
            "AUTOSCALE_TIME_ZONE=\"Europe/Atlantis\": is not a known time zone",
        ),
        (
            &[("AUTOSCALE_HEROKU_API_URL", "http://api.heroku.com")],
            "AUTOSCALE_HEROKU_API_URL=\"http://api.heroku.com\": must use https",
        ),
        (
            &[("AUTOSCALE_HEARTBEAT_URL", "ftp://acme.example.com/x")],
            "AUTOSCALE_HEARTBEAT_URL=\"ftp://acme.example.com/x\": must be a path",
        ),
        (
            &[("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "-1")],
            "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS=\"-1\": must be a number of seconds",
        ),
        (
            &[("AUTOSCALE_HEROKU_APP_NAME", "Acme Shop")],
            "AUTOSCALE_HEROKU_APP_NAME=\"Acme Shop\": must be a Heroku app name",
        ),
        (
            &[("AUTOSCALE_LOG_LEVEL", "loud")],
            "AUTOSCALE_LOG_LEVEL=\"loud\": must be one of",
        ),
        (
            &[("AUTOSCALE_PLAN_LIMIT_MEMORY_IN_MINUTES", "1441")],
            "AUTOSCALE_PLAN_LIMIT_MEMORY_IN_MINUTES=\"1441\": must be a number of minutes from 0 \
             (off) to 1440",
        ),
        (
            &[("AUTOSCALE_PLAN_LIMIT_MEMORY_IN_MINUTES", "-5")],
            "AUTOSCALE_PLAN_LIMIT_MEMORY_IN_MINUTES=\"-5\": must be a number of minutes",
        ),
        (
            &[("AUTOSCALE_HOLD_ON_HEARTBEAT_URL_ERRORS", "maybe")],
            "AUTOSCALE_HOLD_ON_HEARTBEAT_URL_ERRORS=\"maybe\":",
        ),
        (
            &[("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2.5")],
            "AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER=\"2.5\": must be a whole number",
        ),
    ];
    for (extra, expected) in cases {
        let line = refusal(extra);
        assert!(line.starts_with(expected), "{line}\n  expected: {expected}");
    }
}

#[test]
fn min_above_max_at_any_time_of_day_is_refused_naming_the_time() {
    let line = refusal(&[
        ("AUTOSCALE_MIN_DYNOS", "0:00=1,8:00=3,18:00=1"),
        ("AUTOSCALE_MAX_DYNOS", "0:00=2,9:00=5,17:00=2"),
        ("AUTOSCALE_TIME_ZONE", "America/Vancouver"),
    ]);
    assert!(
        line.starts_with("AUTOSCALE_MIN_DYNOS=\"0:00=1,8:00=3,18:00=1\": at 8:00 (America/Vancouver) it gives 3, more than AUTOSCALE_MAX_DYNOS gives then (2)"),
        "{line}"
    );
    let line = refusal(&[("AUTOSCALE_MIN_DYNOS", "4")]);
    assert!(line.contains("at 0:00 (UTC) it gives 4"), "{line}");
}

#[test]
fn response_time_limits_must_leave_a_neutral_band_and_fit_the_interval() {
    let line = refusal(&[
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "1000"),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "1000"),
    ]);
    assert!(
        line.starts_with("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS=\"1000\": must be less than AUTOSCALE_MAX_RESPONSE_TIME_IN_MS (1000 ms)"),
        "{line}"
    );
    let line = refusal(&[("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "1")]);
    assert!(
        line.starts_with("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS=\"1\": must be longer than AUTOSCALE_MAX_RESPONSE_TIME_IN_MS (1000 ms)"),
        "{line}"
    );
    // The default interval (30 s) against a longer max response time: the default is named.
    let line = refusal(&[("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "31000")]);
    assert!(
        line.starts_with("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS=\"30\": must be longer"),
        "{line}"
    );
}

#[test]
fn plain_http_is_allowed_to_loopback_hosts_only() {
    for url in [
        "http://127.0.0.1:9000",
        "http://localhost:9000",
        "http://[::1]:9000",
    ] {
        let s = settings(&[("AUTOSCALE_HEROKU_API_URL", url)]);
        assert_eq!(s.heroku_api_url.scheme(), "http");
    }
    for url in [
        "http://10.0.0.1",
        "http://api.example.com",
        "http://127.0.0.1.nip.io",
    ] {
        let line = refusal(&[("AUTOSCALE_HEROKU_API_URL", url)]);
        assert!(line.contains("must use https"), "{line}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let error = load(&SettingsSource::from_vars([
        ("AUTOSCALE_INCREMENT", "zero"),
        ("AUTOSCALE_TIME_ZONE", "Nowhere"),
    ]))
    .unwrap_err();
    assert_eq!(error.problems.len(), 4, "{error}");
}

#[test]
fn the_api_key_never_appears_in_errors_or_debug_output() {
    let error = load(&SettingsSource::from_vars([
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", "has a space"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("AUTOSCALE_HEROKU_API_KEY=\"********\""),
        "{error}"
    );
    assert!(!error.contains("has a space"), "{error}");
    // A key pasted in URL form is masked whole, its user part too.
    let error = refusal(&[(
        "AUTOSCALE_HEROKU_API_KEY",
        "https://hkUSER:hkPW@example.com/é",
    )]);
    assert!(
        !error.contains("hkUSER") && !error.contains("hkPW"),
        "{error}"
    );

    let s = settings(&[]);
    assert!(!format!("{s:?}").contains(KEY));
    let shown: Vec<String> = s.effective_values().into_iter().map(|(_, v)| v).collect();
    assert!(!shown.iter().any(|value| value.contains(KEY)), "{shown:?}");
}

#[test]
fn unknown_variables_are_warned_about_with_the_nearest_name() {
    let loaded = load(&vars(&[("AUTOSCALE_MAX_DYNO", "5")])).unwrap();
    assert_eq!(
        loaded.warnings,
        ["unknown setting AUTOSCALE_MAX_DYNO is ignored; did you mean AUTOSCALE_MAX_DYNOS (max_dynos)?"]
    );
    assert_eq!(loaded.settings.max_dynos, DynoLimit::Fixed(3));
}

/// A settings file holding `text`, removed when dropped.
fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("heroku-autoscale-test-")
        .suffix(".toml")
        .tempfile()
        .expect("create a temporary settings file");
    file.write_all(text.as_bytes()).expect("write the settings");
    file
}

#[test]
fn a_toml_file_takes_the_seeds_schedule_as_written_and_the_environment_wins() {
    let file = toml_file(
        r#"
heroku_app_name = "acme-shop"
heroku_api_key = "from-file"
heartbeat_interval_in_seconds = 2.5
max_dynos = { "0:00" = 2, "9:00" = 5, "17:00" = 2 }
min_dynos = 1
time_zone = "America/Vancouver"
"#,
    );
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let s = load(&source).unwrap().settings;
    assert_eq!(s.max_dynos.to_string(), "0:00=2,9:00=5,17:00=2");
    assert_eq!(s.heartbeat_interval, Duration::from_millis(2500));
    assert_eq!(
        s.heroku_api_key.expose(),
        KEY,
        "the environment wins over the file"
    );
    assert_eq!(s.time_zone, chrono_tz::America::Vancouver);

    // AUTOSCALE_CONFIG names the file when --config is not given.
    let via_env =
        SettingsSource::from_vars([("AUTOSCALE_CONFIG", file.path().display().to_string())]);
    assert_eq!(
        load(&via_env).unwrap().settings.heroku_api_key.expose(),
        "from-file"
    );
}

#[test]
fn a_bad_value_in_the_file_is_named_by_its_key_and_file() {
    let file = toml_file("heroku_app_name = \"acme-shop\"\nincrement = \"zero\"\nmax_dyno = 4\n");
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let path = file.path().display().to_string();
    let error = load(&source).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "increment (in {path})=\"zero\": must be a whole number from 1 to 4294967295\n\
             max_dyno (in {path}): is not a setting and is ignored; did you mean \
             AUTOSCALE_MAX_DYNOS (max_dynos)?"
        )
    );

    let file = toml_file("heroku_app_name = \"acme-shop\"\nmax_dyno = 4\n");
    source.config_file = Some(file.path().to_path_buf());
    let warnings = load(&source).unwrap().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("did you mean AUTOSCALE_MAX_DYNOS"),
        "{warnings:?}"
    );
}

#[test]
fn a_missing_or_broken_file_is_refused() {
    let mut source = vars(&[]);
    source.config_file = Some("/nonexistent/settings.toml".into());
    let error = load(&source).unwrap_err().to_string();
    assert_eq!(
        error,
        "--config=\"/nonexistent/settings.toml\": the settings file could not be read: there \
         is no such file"
    );
    // Named by the variable when the variable gave it.
    let via_env = vars(&[("AUTOSCALE_CONFIG", "/nonexistent/settings.toml")]);
    let error = load(&via_env).unwrap_err().to_string();
    assert!(
        error.starts_with("AUTOSCALE_CONFIG=\"/nonexistent/settings.toml\": "),
        "{error}"
    );
    let broken = toml_file("max_dynos = {");
    source.config_file = Some(broken.path().to_path_buf());
    assert!(load(&source).is_err());
}

#[test]
fn a_broken_file_never_quotes_a_secret() {
    let broken = toml_file("heroku_app_name = \"acme-shop\"\nheroku_api_key = \"SUPERSECRET-123\n");
    let mut source = SettingsSource::from_vars([("PATH", "/bin")]);
    source.config_file = Some(broken.path().to_path_buf());
    let error = load(&source).unwrap_err().to_string();
    assert!(error.contains("line 2"), "{error}");
    assert!(!error.contains("SUPERSECRET"), "{error}");

    let listed =
        toml_file("heroku_app_name = \"acme-shop\"\nheroku_api_key = [\"SUPERSECRET-123\"]\n");
    source.config_file = Some(listed.path().to_path_buf());
    let error = load(&source).unwrap_err().to_string();
    assert!(error.contains("must be a single value"), "{error}");
    assert!(!error.contains("SUPERSECRET"), "{error}");
}

#[test]
fn passwords_in_urls_are_masked_in_the_effective_values() {
    let s = settings(&[
        (
            "AUTOSCALE_HEROKU_API_URL",
            "https://u:pw-123@api.heroku.com",
        ),
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://u:pw-456@acme.example.com/health",
        ),
    ]);
    let shown: Vec<String> = s.effective_values().into_iter().map(|(_, v)| v).collect();
    assert!(
        !shown
            .iter()
            .any(|v| v.contains("pw-123") || v.contains("pw-456")),
        "{shown:?}"
    );
}

#[test]
fn email_settings_are_read_with_their_defaults() {
    let s = settings(&[]);
    assert!(s.admins.is_empty());
    assert_eq!(s.smtp, None);
    assert_eq!(
        s.email_from.to_string(),
        "heroku-autoscale <heroku-autoscale@acme-shop.herokuapp.com>"
    );
    assert_eq!(s.email_subject_prefix, "[heroku-autoscale]");
    assert!(s.notify_if_needs_exceed_max);
    assert!(!s.notify_if_needs_below_min);
    assert!(!s.notify_on_scale_fails);
    assert_eq!(s.notify_scale_diff, None);
    assert_eq!(s.notify_repeat_after, Duration::from_secs(3600));

    let s = settings(&[
        ("AUTOSCALE_ADMINS", "Ops <ops@example.com>, dev@example.com"),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://mailer:pw-123@smtp.example.com:2525",
        ),
        ("AUTOSCALE_EMAIL_FROM", "Autoscaler <scale@acme.example>"),
        ("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "true"),
        ("AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD", "4"),
        (
            "AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES",
            "30",
        ),
        ("AUTOSCALE_NOTIFY_REPEAT_AFTER_IN_MINUTES", "1.5"),
    ]);
    assert_eq!(s.admins.len(), 2);
    let smtp = s.smtp.clone().unwrap();
    assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.com", 2525));
    assert_eq!(s.email_from.email.to_string(), "scale@acme.example");
    assert!(s.notify_on_scale_fails);
    let diff = s.notify_scale_diff.unwrap();
    assert_eq!(
        (diff.threshold, diff.period),
        (4, Duration::from_secs(1800))
    );
    assert_eq!(s.notify_repeat_after, Duration::from_secs(90));
    let shown: Vec<String> = s.effective_values().into_iter().map(|(_, v)| v).collect();
    assert!(!shown.iter().any(|v| v.contains("pw-123")), "{shown:?}");
    assert!(!format!("{s:?}").contains("pw-123"));
}

#[test]
fn email_refusals_name_the_setting() {
    let line = refusal(&[("AUTOSCALE_ADMINS", "ops@example.com")]);
    assert!(
        line.starts_with("AUTOSCALE_ADMINS=\"ops@example.com\": notices would be emailed to these admins, but there is no way to send mail"),
        "{line}"
    );
    let line = refusal(&[
        ("AUTOSCALE_ADMINS", "ops@example.com, nobody"),
        ("AUTOSCALE_SMTP_URL", "smtp://127.0.0.1:2525"),
    ]);
    assert!(
        line.contains("\"nobody\" is not an email address"),
        "{line}"
    );
    let line = refusal(&[("AUTOSCALE_SMTP_URL", "mailto://u:pw-789@smtp.example.com")]);
    assert!(
        line.starts_with(
            "AUTOSCALE_SMTP_URL=\"mailto://u:********@smtp.example.com\": must be smtp://"
        ),
        "{line}"
    );
    assert!(!line.contains("pw-789"));
    let line = refusal(&[("AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD", "5")]);
    assert!(
        line.starts_with("AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD=\"5\": is set but AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES is not"),
        "{line}"
    );
    let line = refusal(&[("AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX", "sometimes")]);
    assert!(line.contains("must be true or false"), "{line}");
    let line = refusal(&[("AUTOSCALE_EMAIL_FROM", "autoscaler")]);
    assert!(line.contains("is not an email address"), "{line}");
}

#[test]
fn a_mail_addon_is_used_when_no_smtp_url_is_set() {
    let s = settings(&[
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        ("SENDGRID_USERNAME", "app123@heroku.com"),
        ("SENDGRID_PASSWORD", "sg-pw"),
    ]);
    assert_eq!(s.smtp.unwrap().host, "smtp.sendgrid.net");
    let s = settings(&[
        ("AUTOSCALE_SMTP_URL", "smtp://127.0.0.1:2525"),
        ("SENDGRID_USERNAME", "app123@heroku.com"),
        ("SENDGRID_PASSWORD", "sg-pw"),
    ]);
    assert_eq!(s.smtp.unwrap().host, "127.0.0.1", "AUTOSCALE_SMTP_URL wins");
}

#[test]
fn local_mode_needs_no_app_or_key_but_an_absolute_heartbeat_url() {
    let mut source = SettingsSource::from_vars([(
        "AUTOSCALE_HEARTBEAT_URL",
        "http://localhost:8000/heroku-autoscale/heartbeat/v1",
    )]);
    assert!(
        load(&source).is_err(),
        "outside local mode both are required"
    );
    source.mode = Mode::LocalFormation;
    let settings = load(&source).expect("local mode").settings;
    assert_eq!(settings.heroku_app_name, LOCAL_APP_NAME);

    let mut relative = SettingsSource::from_vars([("AUTOSCALE_HEROKU_APP_NAME", "acme-shop")]);
    relative.mode = Mode::LocalFormation;
    let error = load(&relative).expect_err("a path has no app to join to");
    assert_eq!(error.problems.len(), 1, "{error}");
    assert!(error.problems[0].to_string().starts_with(
        "AUTOSCALE_HEARTBEAT_URL=\"/heroku-autoscale/heartbeat/v1\": must be an absolute URL"
    ));
}

#[test]
fn toml_numbers_and_booleans_read_like_the_environment_and_wrong_types_are_named() {
    let file = toml_file(
        "heroku_app_name = \"acme-shop\"\nincrement = 2\nnotify_on_scale_fails = true\n\
         notify_repeat_after_in_minutes = 1.5\nmin_dynos = 0\n",
    );
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let s = load(&source).unwrap().settings;
    assert_eq!(s.increment, 2);
    assert!(s.notify_on_scale_fails);
    assert_eq!(s.notify_repeat_after, Duration::from_secs(90));
    assert_eq!(s.min_dynos, DynoLimit::Fixed(0));

    let file = toml_file(
        "heroku_app_name = 12\nincrement = true\nlog_level = 3\n\
         process_type = { web = 1 }\nmin_dynos = [1, 2]\n",
    );
    source.config_file = Some(file.path().to_path_buf());
    let path = file.path().display().to_string();
    let error = load(&source).unwrap_err();
    let lines: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    let expected = [
        "heroku_app_name (in PATH)=\"12\": must be a Heroku app name",
        "process_type (in PATH)=\"{ \"web\" = 1 }\": must be a single value, not a table or a list",
        "min_dynos (in PATH)=\"[1, 2]\": must be a single value, not a table or a list",
        "increment (in PATH)=\"true\": must be a whole number from 1 to 4294967295",
        "log_level (in PATH)=\"3\": must be one of error, warn, info, debug, trace",
    ];
    assert_eq!(lines.len(), expected.len(), "{error}");
    for (line, expected) in lines.iter().zip(expected) {
        let expected = expected.replace("PATH", &path);
        assert!(
            line.starts_with(&expected),
            "{line}\n  expected: {expected}"
        );
    }
}

// --- Issue 12: messages that say what is wrong and what would be valid ---------------------

#[test]
fn hints_for_misspelt_names_are_shown_with_the_errors() {
    let source = SettingsSource::from_vars([
        ("AUTOSCALE_HEROKU_APP", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", KEY),
    ]);
    let error = load(&source).unwrap_err().to_string();
    assert!(
        error.contains("AUTOSCALE_HEROKU_APP_NAME: is required"),
        "{error}"
    );
    assert!(
        error.contains(
            "AUTOSCALE_HEROKU_APP: is not a setting and is ignored; did you mean \
             AUTOSCALE_HEROKU_APP_NAME (heroku_app_name)?"
        ),
        "{error}"
    );
    // A file's misspelt key, beside an unrelated refusal.
    let file = toml_file("heroku_app_name = \"acme-shop\"\nmax_dyno = 4\nincrement = 0\n");
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let error = load(&source).unwrap_err().to_string();
    assert!(
        error.contains("did you mean AUTOSCALE_MAX_DYNOS"),
        "{error}"
    );
}

#[test]
fn variables_that_differ_only_in_case_are_refused_naming_both() {
    let error = load(&vars(&[
        ("AUTOSCALE_MAX_DYNOS", "2"),
        ("AUTOSCALE_max_dynos", "9"),
    ]))
    .expect_err("two values for one setting must not be settled by chance");
    assert_eq!(error.problems.len(), 1, "{error}");
    let line = error.to_string();
    assert!(
        line.starts_with(
            "AUTOSCALE_MAX_DYNOS and AUTOSCALE_max_dynos: both set max_dynos (\"2\" and \"9\")"
        ),
        "{line}"
    );
    // A secret's values are not shown.
    let line = refusal(&[("AUTOSCALE_heroku_api_key", "other-secret-55")]);
    assert!(line.contains("AUTOSCALE_heroku_api_key"), "{line}");
    assert!(
        !line.contains("other-secret-55") && !line.contains(KEY),
        "{line}"
    );
    // Nor are a URL's, which may hold a password.
    let line = refusal(&[
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://u:url-pw-1@acme.example.com/a",
        ),
        (
            "AUTOSCALE_heartbeat_url",
            "https://u:url-pw-2@acme.example.com/b",
        ),
    ]);
    assert!(line.contains("both set heartbeat_url,"), "{line}");
    assert!(!line.contains("url-pw-"), "{line}");
    // One variable in mixed case is no ambiguity.
    assert_eq!(
        settings(&[("AUTOSCALE_Max_Dynos", "4")]).max_dynos,
        DynoLimit::Fixed(4)
    );
}

#[test]
fn whole_numbers_out_of_range_say_the_range() {
    let line = refusal(&[("AUTOSCALE_INCREMENT", "4294967296")]);
    assert_eq!(
        line,
        "AUTOSCALE_INCREMENT=\"4294967296\": must be a whole number from 1 to 4294967295"
    );
    let line = refusal(&[("AUTOSCALE_MAX_DYNOS", "4294967296")]);
    assert!(line.contains("from 0 to 4294967295"), "{line}");
}

#[test]
fn booleans_refused_say_every_spelling_accepted() {
    let line = refusal(&[("AUTOSCALE_NOTIFY_ON_SCALE_FAILS", "maybe")]);
    assert_eq!(
        line,
        "AUTOSCALE_NOTIFY_ON_SCALE_FAILS=\"maybe\": must be true or false (also yes/no, on/off, \
         1/0, in any case)"
    );
}

#[test]
fn a_directory_given_as_the_settings_file_is_called_a_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut source = vars(&[]);
    source.config_file = Some(dir.path().to_path_buf());
    let error = load(&source).unwrap_err().to_string();
    assert!(error.contains("is a directory, not a file"), "{error}");
    assert!(!error.contains("not found"), "{error}");
}

#[test]
fn whole_numbers_with_a_zero_fraction_read_the_same_from_both_sources() {
    let from_env = settings(&[
        ("AUTOSCALE_MAX_DYNOS", "2.0"),
        ("AUTOSCALE_INCREMENT", "2.00"),
    ]);
    assert_eq!(from_env.max_dynos, DynoLimit::Fixed(2));
    assert_eq!(from_env.increment, 2);
    let file = toml_file("heroku_app_name = \"acme-shop\"\nmax_dynos = 2.0\nincrement = 2.0\n");
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let from_file = load(&source).unwrap().settings;
    assert_eq!(from_file.max_dynos, from_env.max_dynos);
    assert_eq!(from_file.increment, from_env.increment);

    // A real fraction is refused from both, naming the setting.
    let line = refusal(&[("AUTOSCALE_INCREMENT", "2.5")]);
    assert!(
        line.starts_with("AUTOSCALE_INCREMENT=\"2.5\": must be a whole number"),
        "{line}"
    );
    let file = toml_file("heroku_app_name = \"acme-shop\"\nincrement = 2.5\n");
    source.config_file = Some(file.path().to_path_buf());
    let line = load(&source).unwrap_err().to_string();
    let path = file.path().display().to_string();
    assert!(
        line.starts_with(&format!(
            "increment (in {path})=\"2.5\": must be a whole number"
        )),
        "{line}"
    );
}

#[test]
fn a_bad_toml_schedule_is_shown_as_the_user_wrote_it() {
    let file = toml_file(
        "heroku_app_name = \"acme-shop\"\n\
         min_dynos = { \"0:00\" = 1, \"9:00\" = 2, \"10:00\" = \"x\" }\n",
    );
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let line = load(&source).unwrap_err().to_string();
    let path = file.path().display().to_string();
    assert!(
        line.starts_with(&format!(
            "min_dynos (in {path})=\"{{ \"0:00\" = 1, \"9:00\" = 2, \"10:00\" = \"x\" }}\": "
        )),
        "{line}"
    );
}

#[test]
fn a_mail_addon_port_that_is_not_a_port_is_refused_naming_the_variable() {
    for port in ["abc", "0", "65536"] {
        let error = load(&vars(&[
            ("AUTOSCALE_ADMINS", "ops@example.com"),
            ("MAILGUN_SMTP_SERVER", "smtp.mailgun.org"),
            ("MAILGUN_SMTP_LOGIN", "postmaster@acme.mailgun.org"),
            ("MAILGUN_SMTP_PASSWORD", "mg-pw-31"),
            ("MAILGUN_SMTP_PORT", port),
        ]))
        .expect_err("a port that is not a number must not become the default port");
        let text = error.to_string();
        assert_eq!(
            text,
            format!(
                "MAILGUN_SMTP_PORT=\"{port}\": must be a port number from 1 to 65535, like 587"
            ),
            "one problem only: the add-on is still a way to send mail"
        );
    }
}

#[test]
fn a_password_without_a_user_is_refused_without_showing_it() {
    let line = refusal(&[(
        "AUTOSCALE_SMTP_URL",
        "smtp://:pw-without-user@smtp.example.com",
    )]);
    assert!(
        line.starts_with(
            "AUTOSCALE_SMTP_URL=\"smtp://:********@smtp.example.com\": has a password but no \
             user name"
        ),
        "{line}"
    );
    assert!(!line.contains("pw-without-user"), "{line}");
}

#[test]
fn notices_repeat_at_most_once_a_minute() {
    for tiny in ["0.0000001", "0.5", "0.99"] {
        let line = refusal(&[("AUTOSCALE_NOTIFY_REPEAT_AFTER_IN_MINUTES", tiny)]);
        assert!(
            line.starts_with(&format!(
                "AUTOSCALE_NOTIFY_REPEAT_AFTER_IN_MINUTES=\"{tiny}\": must be a number of \
                 minutes from 1 to 10080"
            )),
            "{line}"
        );
    }
    let s = settings(&[("AUTOSCALE_NOTIFY_REPEAT_AFTER_IN_MINUTES", "1")]);
    assert_eq!(s.notify_repeat_after, Duration::from_secs(60));
}

#[test]
fn the_example_a_refusal_gives_is_itself_accepted() {
    // With the other settings at their defaults (a max response time of 1000 ms, so the
    // interval must be longer than 1 s).
    for name in [
        "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS",
        "AUTOSCALE_NOTIFY_REPEAT_AFTER_IN_MINUTES",
    ] {
        let line = refusal(&[(name, "-1")]);
        let example = line
            .rsplit_once(", like ")
            .map(|(_, example)| example.trim_end_matches(')'))
            .unwrap_or_else(|| panic!("no example in: {line}"));
        match load(&vars(&[(name, example)])) {
            Ok(_) => {}
            Err(error) => panic!("{line}\nbut its example is refused too:\n{error}"),
        }
    }
}

#[test]
fn the_scale_diff_period_is_any_length_above_0_up_to_a_week() {
    let with_period = |period| {
        vec![
            ("AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD", "2"),
            (
                "AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES",
                period,
            ),
        ]
    };
    for (period, seconds) in [("0.5", 30), ("10080", 604_800)] {
        let diff = settings(&with_period(period)).notify_scale_diff;
        assert_eq!(diff.map(|diff| diff.period.as_secs()), Some(seconds));
    }
    for refused in ["0", "-1", "10081", "NaN", "inf", "soon"] {
        let line = refusal(&with_period(refused));
        assert_eq!(
            line,
            format!(
                "AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES=\"{refused}\": must be \
                 a number of minutes above 0 and at most a week (10080)"
            )
        );
    }
}

const QUEUE_TOKEN: &str = "hf-token-91ac";

#[test]
fn worker_process_types_come_from_toml_tables_or_one_variable() {
    let file = toml_file(&format!(
        r#"
heroku_app_name = "acme-shop"
queue_url = "/hirefire/{QUEUE_TOKEN}/info"
idle_minutes_before_zero = 2.5

[processes.worker]
min_dynos = 0
max_dynos = 5
jobs_per_dyno = 50

[processes.urgentworker]
min_dynos = {{ "0:00" = 0, "8:00" = 1 }}
max_dynos = 3
max_latency_in_seconds = 30
idle_minutes_before_zero = 0
"#
    ));
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", KEY)]);
    source.config_file = Some(file.path().to_path_buf());
    let from_file = load(&source).unwrap().settings;
    assert_eq!(from_file.idle_before_zero, Duration::from_secs(150));
    let names: Vec<&str> = from_file
        .processes
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["urgentworker", "worker"]);
    let from_variable = settings(&[
        (
            "AUTOSCALE_QUEUE_URL",
            &format!("/hirefire/{QUEUE_TOKEN}/info"),
        ),
        (
            "AUTOSCALE_PROCESSES",
            "urgentworker: min_dynos=0:00=0,8:00=1 max_dynos=3 max_latency_in_seconds=30 \
             idle_minutes_before_zero=0; worker: min_dynos=0 max_dynos=5 jobs_per_dyno=50",
        ),
    ]);
    assert_eq!(from_variable.processes, from_file.processes);
    assert_eq!(
        from_variable.idle_before_zero,
        Duration::from_secs(300),
        "the default"
    );
    // The token shows nowhere: not in Debug, not in what `check` prints.
    let shown = format!("{from_variable:?}");
    assert!(!shown.contains(QUEUE_TOKEN), "{shown}");
    for (_, value) in from_variable.effective_values() {
        assert!(!value.contains(QUEUE_TOKEN), "{value}");
    }
    assert_eq!(
        from_variable.queue_url.unwrap().to_string(),
        "/hirefire/********"
    );
}

#[test]
fn worker_process_types_need_the_queue_url_and_name_what_is_wrong() {
    let line = refusal(&[(
        "AUTOSCALE_PROCESSES",
        "worker: max_dynos=5 jobs_per_dyno=50",
    )]);
    assert!(line.contains("AUTOSCALE_QUEUE_URL"), "{line}");
    assert!(
        line.contains("is required to scale worker process types"),
        "{line}"
    );
    let line = refusal(&[
        (
            "AUTOSCALE_QUEUE_URL",
            "https://acme.example.com/hirefire/tok-5/info",
        ),
        (
            "AUTOSCALE_PROCESSES",
            "worker: max_dynos=5 jobs_per_dyno=5 max_latency_in_seconds=5",
        ),
    ]);
    assert!(
        line.contains("AUTOSCALE_PROCESSES=\"worker: max_dynos=5"),
        "{line}"
    );
    assert!(
        line.contains("process \"worker\": give jobs_per_dyno"),
        "{line}"
    );
    let line = refusal(&[
        (
            "AUTOSCALE_QUEUE_URL",
            &format!("ftp://acme.example.com/hirefire/{QUEUE_TOKEN}"),
        ),
        ("AUTOSCALE_PROCESSES", "worker: max_dynos=5 jobs_per_dyno=5"),
    ]);
    assert!(line.contains("AUTOSCALE_QUEUE_URL"), "{line}");
    assert!(
        !line.contains(QUEUE_TOKEN),
        "the refused URL is masked too: {line}"
    );
}

#[test]
fn a_queue_url_shows_no_token_whatever_its_shape() {
    let shown = |url: &str| {
        settings(&[
            ("AUTOSCALE_QUEUE_URL", url),
            (
                "AUTOSCALE_PROCESSES",
                "worker: max_dynos=5 jobs_per_dyno=50",
            ),
        ])
        .queue_url
        .unwrap()
        .to_string()
    };
    assert_eq!(shown("/hirefire/tok-1/info"), "/hirefire/********");
    assert_eq!(shown("/tok-2/info"), "/********");
    assert_eq!(
        shown("https://acme.example.com/queues/tok-3?key=tok-4"),
        "https://acme.example.com/********"
    );
    let line = refusal(&[
        (
            "AUTOSCALE_QUEUE_URL",
            "https://u:pw@acme.example.com/hirefire/tok-5/info",
        ),
        (
            "AUTOSCALE_PROCESSES",
            "worker: max_dynos=5 jobs_per_dyno=50",
        ),
    ]);
    assert!(line.contains("must not carry a user or password"), "{line}");
    for secret in ["tok-5", "pw"] {
        assert!(!line.contains(secret), "{line}");
    }
}
