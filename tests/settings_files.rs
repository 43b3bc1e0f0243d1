//! settings/default.toml, settings/example.toml and docs/settings.md must say what the code does.

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
