//! settings/default.toml, settings/example.toml, docs/settings.md, the README's settings tables and
//! app.json must say what the code does.

use std::path::PathBuf;

use heroku_autoscale::settings::{self, SettingsSource, SETTINGS};

fn repo_file(path: &str) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    (path, text)
}

fn required_only() -> SettingsSource {
    SettingsSource::from_vars([
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", "test-key"),
    ])
}

#[test]
fn default_toml_lists_every_setting_with_the_codes_default() {
    let (_, text) = repo_file("settings/default.toml");
    for setting in SETTINGS {
        let expected = match setting.default {
            None => format!("# {} = ", setting.key),
            Some(default) if default.parse::<f64>().is_ok() || default.parse::<bool>().is_ok() => {
                format!("\n{} = {default}\n", setting.key)
            }
            Some(default) => format!("\n{} = \"{default}\"\n", setting.key),
        };
        assert!(
            text.contains(&expected),
            "settings/default.toml lacks {expected:?}"
        );
    }
}

#[test]
fn default_toml_loads_to_the_same_settings_as_no_file() {
    let (path, _) = repo_file("settings/default.toml");
    let mut with_file = required_only();
    with_file.config_file = Some(path);
    let from_file = settings::load(&with_file)
        .expect("default.toml is valid")
        .settings;
    let built_in = settings::load(&required_only()).unwrap().settings;
    let values = |s: &heroku_autoscale::Settings| -> Vec<String> {
        s.effective_values().into_iter().map(|(_, v)| v).collect()
    };
    assert_eq!(values(&from_file), values(&built_in));
}

#[test]
fn example_toml_is_valid_and_keeps_the_seeds_schedule() {
    let (path, _) = repo_file("settings/example.toml");
    let mut source = SettingsSource::from_vars([("AUTOSCALE_HEROKU_API_KEY", "test-key")]);
    source.config_file = Some(path);
    let loaded = settings::load(&source).expect("example.toml is valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.settings.max_dynos.to_string(),
        "0:00=2,9:00=5,17:00=2"
    );
}

#[test]
fn docs_settings_md_has_every_setting_with_its_default() {
    let (_, text) = repo_file("docs/settings.md");
    for setting in SETTINGS {
        let row = format!("| `{}` | `{}` |", setting.env_name(), setting.key);
        let row_line = text
            .lines()
            .find(|line| line.starts_with(&row))
            .unwrap_or_else(|| panic!("docs/settings.md has no table row {row}"));
        match setting.default {
            Some(default) => assert!(
                row_line.contains(&format!("`{default}`")),
                "docs/settings.md gives another default for {}: {row_line}",
                setting.key
            ),
            None if setting.required => assert!(row_line.contains("required"), "{row_line}"),
            None => assert!(row_line.contains("unset"), "{row_line}"),
        }
        let name = format!("`{}`", setting.env_name());
        assert!(
            text.lines()
                .any(|line| line.starts_with("###") && line.contains(&name)),
            "docs/settings.md has no section for {}",
            setting.env_name()
        );
    }
}

#[test]
fn readme_tables_have_every_setting_with_its_default() {
    let (_, text) = repo_file("README.md");
    for setting in SETTINGS {
        let row = format!("| `{}` |", setting.env_name());
        let row_line = text
            .lines()
            .find(|line| line.starts_with(&row))
            .unwrap_or_else(|| panic!("README.md has no settings table row {row}"));
        let default_cell = row_line.split('|').nth(2).unwrap_or_default();
        match setting.default {
            Some(default) => assert!(
                default_cell.contains(&format!("`{default}`")),
                "README.md gives another default for {}: {row_line}",
                setting.key
            ),
            None if setting.required => assert!(default_cell.contains("required"), "{row_line}"),
            // Off, or derived from other settings: the row says how, in words.
            None => {}
        }
    }
}

/// Settings left out of app.json on purpose, with the reason.
const NOT_IN_APP_JSON: &[(&str, &str)] = &[(
    "heroku_api_url",
    "for tests only; the deploy button should not invite changing it",
)];

fn app_json() -> serde_json::Value {
    let (path, text) = repo_file("app.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?} is not JSON: {e}"))
}

#[test]
fn app_json_env_matches_the_catalogue() {
    let app = app_json();
    let env = app["env"].as_object().expect("app.json has an env object");
    for setting in SETTINGS {
        let name = setting.env_name();
        let skipped = NOT_IN_APP_JSON.iter().any(|(key, _)| *key == setting.key);
        let Some(entry) = env.get(&name) else {
            assert!(skipped, "app.json env lacks {name}");
            continue;
        };
        assert!(
            !skipped,
            "{name} is in app.json and also listed as left out"
        );
        assert_eq!(
            entry["required"].as_bool(),
            Some(setting.required),
            "app.json {name}: required"
        );
        assert_eq!(
            entry["value"].as_str(),
            setting.default,
            "app.json {name}: the value must be the code's default (none when it has none)"
        );
        let description = entry["description"].as_str().unwrap_or_default();
        assert!(
            !description.is_empty(),
            "app.json {name} has no description"
        );
    }
    for name in env.keys() {
        assert!(
            SETTINGS.iter().any(|setting| setting.env_name() == *name),
            "app.json sets {name}, which is not a setting"
        );
    }
}

#[test]
fn app_json_defaults_load_as_valid_settings() {
    // What the deploy button sets when the user fills in only the required fields.
    let app = app_json();
    let mut vars: Vec<(String, String)> = app["env"]
        .as_object()
        .expect("app.json has an env object")
        .iter()
        .filter_map(|(name, entry)| Some((name.clone(), entry["value"].as_str()?.to_string())))
        .collect();
    vars.push(("AUTOSCALE_HEROKU_APP_NAME".into(), "acme-shop".into()));
    vars.push(("AUTOSCALE_HEROKU_API_KEY".into(), "test-key".into()));
    let loaded =
        settings::load(&SettingsSource::from_vars(vars)).expect("app.json values are valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn app_json_runs_one_worker_from_the_procfile() {
    let app = app_json();
    let (_, procfile) = repo_file("Procfile");
    let formation = app["formation"]
        .as_object()
        .expect("app.json has a formation");
    assert_eq!(formation.len(), 1, "only the worker runs: {formation:?}");
    assert_eq!(formation["autoscaleworker"]["quantity"].as_u64(), Some(1));
    assert!(
        procfile
            .lines()
            .any(|line| line.starts_with("autoscaleworker: ./target/release/heroku-autoscale run")),
        "Procfile lacks the autoscaleworker line app.json starts: {procfile}"
    );
    assert_eq!(app["buildpacks"][0]["url"].as_str(), Some("emk/rust"));
}

/// The `--help` text of the binary for a subcommand (`None`: the top level).
fn help_of(subcommand: Option<&str>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_heroku-autoscale"));
    command.args(subcommand).arg("--help");
    let output = command.output().expect("heroku-autoscale runs");
    assert!(output.status.success(), "{command:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every `heroku-autoscale ... --flag` written in the README and docs (subcommand `run`,
/// `check`, `simulate`, `tune` or none), so that a renamed or removed flag cannot linger in the documentation.
fn documented_flags() -> Vec<(String, Option<&'static str>, String)> {
    let files = [
        "README.md",
        "docs/deploy.md",
        "docs/settings.md",
        "docs/tuning.md",
        "docs/architecture.md",
        "docs/notifications.md",
        "docs/simulation.md",
        "docs/workers.md",
    ];
    let mut found = Vec::new();
    for file in files {
        let (_, text) = repo_file(file);
        for line in text.lines() {
            for (start, _) in line.match_indices("heroku-autoscale ") {
                let rest = &line[start + "heroku-autoscale ".len()..];
                let end = rest
                    .find(['`', '|', ';', '#', ')', '"'])
                    .unwrap_or(rest.len());
                let words: Vec<&str> = rest[..end].split_whitespace().collect();
                let subcommand = words.iter().find_map(|word| {
                    ["run", "check", "simulate", "tune"]
                        .into_iter()
                        .find(|name| name == word)
                });
                for word in words {
                    let flag = word.trim_end_matches([',', '.', ':']);
                    if flag.starts_with("--") && flag.len() > 2 {
                        found.push((file.to_string(), subcommand, flag.to_string()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn flags_in_the_docs_exist_in_the_command() {
    let helps = [
        None,
        Some("run"),
        Some("check"),
        Some("simulate"),
        Some("tune"),
    ]
    .map(|sub| (sub, help_of(sub)));
    let found = documented_flags();
    // The scan must see the modes the docs are about, or it is not scanning anything.
    for expected in [
        "--dry-run",
        "--local-formation",
        "--online",
        "--scenario",
        "--svg",
        "--max-violation-pct",
    ] {
        assert!(
            found.iter().any(|(_, _, flag)| flag == expected),
            "no documented use of {expected} found"
        );
    }
    for (file, subcommand, flag) in found {
        // `--version` lives only at the top level; `--config` and `--help` everywhere.
        let help = &helps
            .iter()
            .find(|(sub, _)| *sub == subcommand)
            .expect("a help text per subcommand")
            .1;
        let known = help
            .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
            .any(|word| word == flag || word.starts_with(&format!("{flag}<")));
        assert!(
            known,
            "{file}: `heroku-autoscale {} {flag}` is not in its --help:\n{help}",
            subcommand.unwrap_or("")
        );
    }
}

/// The code spans of `text` (between backticks).
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Each example in a span must load: a bare number is a heartbeat interval given alone, and
/// `AUTOSCALE_A=1 AUTOSCALE_B=2` is a set of variables given together.
fn assert_interval_examples_load(place: &str, text: &str) -> usize {
    let mut examples = 0;
    for span in code_spans(text) {
        let vars: Vec<(String, String)> = if span.parse::<f64>().is_ok() {
            vec![(
                "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS".into(),
                span.to_string(),
            )]
        } else if span.starts_with("AUTOSCALE_") && span.contains('=') {
            span.split_whitespace()
                .filter_map(|pair| pair.split_once('='))
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        } else {
            continue;
        };
        let mut source = required_only();
        source.env.extend(vars);
        if let Err(error) = settings::load(&source) {
            panic!("{place} offers `{span}` as valid, but it is refused:\n{error}");
        }
        examples += 1;
    }
    examples
}

#[test]
fn the_heartbeat_intervals_the_docs_offer_are_valid() {
    let (_, readme) = repo_file("README.md");
    let row = readme
        .lines()
        .find(|line| line.starts_with("| `AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS` |"))
        .expect("README.md has a row for the heartbeat interval");
    let (_, doc) = repo_file("docs/settings.md");
    let section = doc
        .split("\n### ")
        .find(|section| section.starts_with("`AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS`"))
        .expect("docs/settings.md has a section for the heartbeat interval");
    // What follows "Refused:" is examples of what is not valid.
    let offered = section.split("Refused:").next().unwrap_or_default();
    let decimals = |text: &str| code_spans(text).iter().any(|span| span.contains('.'));
    assert!(
        decimals(row) && decimals(offered),
        "both show a decimal interval"
    );
    assert!(assert_interval_examples_load("README.md", row) >= 2);
    assert!(assert_interval_examples_load("docs/settings.md", offered) >= 1);
}
