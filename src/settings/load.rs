//! Reading the settings in stages: the sources (defaults, a TOML file, the environment) are
//! merged by the config crate and deserialized into raw values, which [`validate`] turns into
//! [`Settings`].

use std::collections::{BTreeMap, HashMap};
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
/// How problems with a file given on the command line name it.
const CONFIG_FILE_FLAG: &str = "--config";
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
    /// What the settings are for: which of them are required depends on it.
    pub mode: Mode,
}

/// What the settings are loaded for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Scaling a Heroku app: the app name and the API key are required.
    #[default]
    Heroku,
    /// `run --local-formation`: there is no Heroku app behind the worker, so the app name and
    /// the API key may be left out, and the heartbeat URL must be absolute.
    LocalFormation,
    /// `simulate`: no app, no key and no network; the heartbeat and queue URLs are not used.
    Simulation,
}

impl SettingsSource {
    /// The current process's environment, plus an optional TOML file.
    pub fn from_process(config_file: Option<PathBuf>) -> Self {
        SettingsSource {
            config_file,
            env: std::env::vars().collect(),
            mode: Mode::Heroku,
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
            mode: Mode::Heroku,
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
    let env = settings_from_env(&source.env);
    let config_file = config_file(source);
    let raw = read_sources(config_file.as_ref(), env.values).map_err(|problem| SettingsError {
        problems: vec![problem],
    })?;

    let file_name = config_file.map(|(path, _)| path.display().to_string());
    let cite = |setting: &SettingInfo, given: bool| match env.names.get(setting.key) {
        Some(variable) => variable.clone(),
        None => match (&file_name, given) {
            (Some(file), true) => format!("{} (in {file})", setting.key),
            _ => setting.env_name(),
        },
    };
    let (inputs, unknown_in_file) = raw.into_inputs(cite);
    let mut unknown = env.unknown;
    // Unknown variables were dropped before merging: these are the file's.
    let file = file_name.as_deref().unwrap_or("the settings file");
    unknown.extend(
        unknown_in_file
            .keys()
            .map(|key| UnknownName::new(format!("{key} (in {file})"), key)),
    );
    let mut problems = env.problems;
    match validate(inputs, source.mode) {
        Ok(settings) if problems.is_empty() => Ok(Loaded {
            settings,
            warnings: unknown.iter().map(UnknownName::warning).collect(),
        }),
        validated => {
            problems.extend(validated.err().unwrap_or_default());
            // A misspelt name is often why a setting is missing or refused: keep its hint.
            problems.extend(unknown.iter().map(UnknownName::hint));
            Err(SettingsError { problems })
        }
    }
}

/// The settings file, if one is given, and how problems name it: `--config` or the variable.
fn config_file(source: &SettingsSource) -> Option<(PathBuf, &'static str)> {
    let (path, cited) = match &source.config_file {
        Some(path) => (path.clone(), CONFIG_FILE_FLAG),
        None => (
            PathBuf::from(source.env.get(CONFIG_FILE_VARIABLE)?),
            CONFIG_FILE_VARIABLE,
        ),
    };
    (!path.as_os_str().is_empty()).then_some((path, cited))
}

/// The file (if any) and the environment, merged; a file that cannot be read is the problem.
fn read_sources(
    file: Option<&(PathBuf, &'static str)>,
    env: config::Map<String, String>,
) -> Result<RawSettings, Problem> {
    let path = file.map(|(path, _)| path.as_path());
    path.map_or(Ok(()), not_a_settings_file)
        .and_then(|()| merged(path, env).map_err(|error| without_source_lines(&error.to_string())))
        .map_err(|reason| Problem {
            setting: file.map_or(CONFIG_FILE_VARIABLE, |(_, cited)| cited).into(),
            value: path.map(|path| path.display().to_string()),
            message: format!("the settings file could not be read: {reason}"),
        })
}

/// Why `path` cannot be read as a settings file, if it cannot. The config crate calls a
/// directory "not found", which sends the user looking for a file that is there.
fn not_a_settings_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Err(
            "it is a directory, not a file: give the path of a TOML file, like \
             settings/example.toml"
                .into(),
        ),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err("there is no such file".into())
        }
        Err(error) => Err(error.to_string()),
    }
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
    /// Variables that are no setting.
    unknown: Vec<UnknownName>,
    /// Variables that cannot be used whatever the other settings are.
    problems: Vec<Problem>,
}

/// Reads the `AUTOSCALE_*` variables, noting unknown ones, then the fallbacks (`TIME_ZONE`,
/// `HEROKU_API_KEY`, a mail add-on's variables) for settings still unset.
fn settings_from_env(env: &HashMap<String, String>) -> EnvSettings {
    let mut found = EnvSettings {
        values: config::Map::new(),
        names: HashMap::new(),
        unknown: Vec::new(),
        problems: Vec::new(),
    };
    for (setting, variables) in autoscale_variables(env, &mut found.unknown) {
        if variables.len() > 1 {
            found.problems.push(case_ambiguity(setting, &variables));
        }
        // With an ambiguity refused above, this only decides which value the checks between
        // settings see, and always the same one: the upper-case name, which sorts first.
        let (name, value) = variables[0];
        found.values.insert(name.clone(), value.clone());
        found.names.insert(setting.key.to_string(), name.clone());
    }
    for (key, fallback) in ENV_FALLBACKS {
        let value = env.get(*fallback).filter(|value| !value.trim().is_empty());
        if let (false, Some(value)) = (found.names.contains_key(*key), value) {
            found.values.insert(
                format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                value.clone(),
            );
            found.names.insert(key.to_string(), fallback.to_string());
        }
    }
    if !found.names.contains_key("smtp_url") {
        if let Some(addon) = smtp_url_from_addons(env) {
            found.values.insert("AUTOSCALE_SMTP_URL".into(), addon.url);
            found.names.insert("smtp_url".into(), addon.source.into());
            found.problems.extend(addon.problem);
        }
    }
    found
}

/// The non-empty `AUTOSCALE_*` variables of known settings, grouped by setting (names that
/// differ only in case set the same one), each group sorted by name; unknown names go to
/// `unknown`.
fn autoscale_variables<'a>(
    env: &'a HashMap<String, String>,
    unknown: &mut Vec<UnknownName>,
) -> Vec<Variables<'a>> {
    let mut variables: Vec<(&String, &String)> = env.iter().collect();
    variables.sort();
    let mut by_key: BTreeMap<&'static str, Variables<'a>> = BTreeMap::new();
    for (name, value) in variables {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_FILE_VARIABLE || value.trim().is_empty() {
            continue;
        }
        let key = key.to_ascii_lowercase();
        match catalogue::find(&key) {
            Some(setting) => {
                let (_, group) = by_key.entry(setting.key).or_insert((setting, Vec::new()));
                group.push((name, value));
            }
            None => unknown.push(UnknownName::new(name.clone(), &key)),
        }
    }
    by_key.into_values().collect()
}

/// A setting and the variables that set it, as (name, value) pairs.
type Variables<'a> = (&'static SettingInfo, Vec<(&'a String, &'a String)>);

/// The problem with several variables for one setting (`AUTOSCALE_MAX_DYNOS` and
/// `AUTOSCALE_max_dynos`): the environment has no order, so which one won was chance.
fn case_ambiguity(setting: &SettingInfo, variables: &[(&String, &String)]) -> Problem {
    let names: Vec<&str> = variables.iter().map(|(name, _)| name.as_str()).collect();
    // A secret, or a URL that may hold a password, is named but not shown.
    let values = if setting.secret || setting.key.ends_with("_url") {
        String::new()
    } else {
        let values: Vec<String> = variables
            .iter()
            .map(|(_, value)| format!("\"{value}\""))
            .collect();
        format!(" ({})", values.join(" and "))
    };
    Problem {
        setting: names.join(" and "),
        value: None,
        message: format!(
            "both set {}{values}, and names that differ only in case are one setting: keep \
             one, spelt {}",
            setting.key,
            setting.env_name()
        ),
    }
}

/// A variable or file key that is no setting, and the setting it probably meant.
struct UnknownName {
    /// How to cite it: the variable, or `key (in file.toml)`.
    name: String,
    /// The known setting with the nearest name, if one is near enough to be meant.
    nearest: Option<&'static SettingInfo>,
}

impl UnknownName {
    fn new(name: String, key: &str) -> Self {
        UnknownName {
            name,
            nearest: catalogue::nearest(key),
        }
    }

    /// The guess at what was meant, if any: ` did you mean AUTOSCALE_X (x)?`.
    fn guess(&self) -> String {
        self.nearest.map_or_else(String::new, |known| {
            format!("; did you mean {} ({})?", known.env_name(), known.key)
        })
    }

    /// Logged at start when the settings are valid.
    fn warning(&self) -> String {
        format!("unknown setting {} is ignored{}", self.name, self.guess())
    }

    /// Listed with the problems when they are not: the misspelling may be their cause.
    fn hint(&self) -> Problem {
        Problem {
            setting: self.name.clone(),
            value: None,
            message: format!("is not a setting and is ignored{}", self.guess()),
        }
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
