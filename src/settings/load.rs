//! Reading the settings in stages: the sources (defaults, a TOML file, the environment) are
//! merged by the config crate and deserialized into raw values, which [`validate`] turns into
//! [`Settings`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};

use super::catalogue::{self, RawSettings, SettingInfo};
use super::email::smtp_url_from_addons;
use super::validate::validate;
#[cfg(test)]
use super::{validate::LOCAL_APP_NAME, DynoLimit, HeartbeatUrl, LogLevel};
use super::{Problem, Settings, SettingsError};

const ENV_PREFIX: &str = "AUTOSCALE_";
const CONFIG_FILE_VARIABLE: &str = "AUTOSCALE_CONFIG";
/// Fallbacks read when the `AUTOSCALE_` variable is not set: (setting key, variable).
const ENV_FALLBACKS: &[(&str, &str)] = &[
    ("time_zone", "TIME_ZONE"),
    ("heroku_api_key", "HEROKU_API_KEY"),
];

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
    let env = settings_from_env(&source.env, &mut warnings);
    let config_file = source
        .config_file
        .clone()
        .or_else(|| source.env.get(CONFIG_FILE_VARIABLE).map(PathBuf::from))
        .filter(|path| !path.as_os_str().is_empty());
    let raw = merged(config_file.as_deref(), env.values).map_err(|error| SettingsError {
        problems: vec![Problem {
            setting: CONFIG_FILE_VARIABLE.into(),
            value: config_file.as_ref().map(|path| path.display().to_string()),
            message: format!(
                "the settings file could not be read: {}",
                without_source_lines(&error.to_string())
            ),
        }],
    })?;

    let file_name = config_file.map(|path| path.display().to_string());
    let cite = |setting: &SettingInfo, given: bool| match env.names.get(setting.key) {
        Some(variable) => variable.clone(),
        None => match (&file_name, given) {
            (Some(file), true) => format!("{} (in {file})", setting.key),
            _ => setting.env_name(),
        },
    };
    let (inputs, unknown) = raw.into_inputs(cite);
    // Unknown variables were dropped (with a warning) before merging: these are the file's.
    for key in unknown.keys() {
        let file = file_name.as_deref().unwrap_or("the settings file");
        warnings.push(unknown_setting_warning(&format!("{key} in {file}"), key));
    }
    let settings = validate(inputs, source.local).map_err(|problems| SettingsError { problems })?;
    Ok(Loaded { settings, warnings })
}

/// The file (if any) under the environment, later wins, deserialized into one field per setting.
fn merged(
    file: Option<&Path>,
    env: config::Map<String, String>,
) -> Result<RawSettings, config::ConfigError> {
    let mut builder = Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml));
    }
    builder
        .add_source(
            Environment::with_prefix("AUTOSCALE")
                .prefix_separator("_")
                .source(Some(env)),
        )
        .build()?
        .try_deserialize()
}

/// The settings found in the environment.
struct EnvSettings {
    /// The `AUTOSCALE_*` variables (and fallbacks) as the config crate expects them.
    values: config::Map<String, String>,
    /// For each setting key given, the variable it came from (so problems can name it).
    names: HashMap<String, String>,
}

/// Reads the `AUTOSCALE_*` variables, warning about unknown ones, then the fallbacks
/// (`TIME_ZONE`, `HEROKU_API_KEY`, a mail add-on's variables) for settings still unset.
fn settings_from_env(env: &HashMap<String, String>, warnings: &mut Vec<String>) -> EnvSettings {
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
        if !catalogue::is_known(&key) {
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
    EnvSettings { values, names }
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

#[cfg(test)]
mod tests;
