//! Values as the user gave them, before any check: the middle stage between the merged sources
//! and validated [`Settings`](super::Settings).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::catalogue::SettingInfo;

/// One value as given: always text from the environment; text, a number, a boolean, a table or
/// a list from a TOML file.
///
/// Any shape deserializes, so a value of the wrong type never fails the whole file with a serde
/// error: it reaches its setting's own check, which names the setting and says what is valid.
/// No `Debug`: the value may be a secret.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawValue {
    /// Text, as every environment variable is.
    Text(String),
    /// A TOML integer.
    Whole(i64),
    /// A TOML float.
    Number(f64),
    /// A TOML boolean.
    Flag(bool),
    /// A TOML table, e.g. a schedule `{ "0:00" = 2, "9:00" = 5 }`.
    Table(BTreeMap<String, RawValue>),
    /// A TOML list.
    List(Vec<RawValue>),
}

impl RawValue {
    /// The value as the text the user wrote, trimmed; `None` for a table or a list. Numbers and
    /// booleans become text so that `max_dynos = 3` and `AUTOSCALE_MAX_DYNOS=3` read the same.
    pub(super) fn scalar_text(&self) -> Option<String> {
        match self {
            RawValue::Table(_) | RawValue::List(_) => None,
            scalar => Some(scalar.to_string().trim().to_string()),
        }
    }
}

impl fmt::Display for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawValue::Text(text) => f.write_str(text),
            RawValue::Whole(number) => write!(f, "{number}"),
            RawValue::Number(number) => write!(f, "{number}"),
            RawValue::Flag(flag) => write!(f, "{flag}"),
            RawValue::Table(table) => {
                let entries: Vec<String> = table
                    .iter()
                    .map(|(key, value)| format!("\"{key}\" = {value}"))
                    .collect();
                write!(f, "{{ {} }}", entries.join(", "))
            }
            RawValue::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// One setting's value as given, beside its definition and the name to cite it by.
pub(super) struct Input {
    /// The setting's definition.
    pub(super) setting: &'static SettingInfo,
    /// What the user gave, if anything.
    pub(super) value: Option<RawValue>,
    /// How problems name it: the variable it came from, `key (in file.toml)`, or, when unset, the
    /// variable that would set it.
    pub(super) cited: String,
}
