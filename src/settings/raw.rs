//! Values as the user gave them, before any check: the middle stage between the merged sources
//! and validated [`Settings`](super::Settings).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::catalogue::SettingInfo;
use super::schedule::TimeOfDay;

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

    /// The value in TOML syntax, as it sits inside a table or a list: text quoted.
    fn toml(&self) -> String {
        match self {
            RawValue::Text(text) => format!("{text:?}"),
            other => other.to_string(),
        }
    }
}

/// Shows a value as the user wrote it: text as it is, anything else in TOML syntax. A float
/// keeps its point (`2.0`, not `2`), and a schedule's entries come in time order: the config
/// crate keeps neither the file's order nor its spacing, so this is as close as it gets.
impl fmt::Display for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawValue::Text(text) => f.write_str(text),
            RawValue::Whole(number) => write!(f, "{number}"),
            // Debug, unlike Display, writes `2.0` for 2.0, as TOML does.
            RawValue::Number(number) => write!(f, "{number:?}"),
            RawValue::Flag(flag) => write!(f, "{flag}"),
            RawValue::Table(table) => {
                let mut entries: Vec<(&String, &RawValue)> = table.iter().collect();
                entries.sort_by_key(|(key, _)| (TimeOfDay::parse(key).ok(), key.as_str()));
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(key, value)| format!("{key:?} = {}", value.toml()))
                    .collect();
                write!(f, "{{ {} }}", entries.join(", "))
            }
            RawValue::List(items) => {
                let items: Vec<String> = items.iter().map(RawValue::toml).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// `text` as a whole number, by the one rule both sources follow: digits, optionally with a
/// fraction of zeros. TOML has floats, and `max_dynos = 2.0` is plainly 2; the same text in a
/// variable must read the same, so `AUTOSCALE_MAX_DYNOS=2.0` is 2 as well. `None` for anything
/// else, including numbers above `u32::MAX`.
pub(super) fn whole_number(text: &str) -> Option<u32> {
    let digits = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        Some(_) => return None,
        None => text,
    };
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| digits.parse().ok()).flatten()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_have_a_fraction_of_zeros_only() {
        assert_eq!(whole_number("2"), Some(2));
        assert_eq!(whole_number("2.0"), Some(2));
        assert_eq!(whole_number("2.000"), Some(2));
        assert_eq!(whole_number("4294967295"), Some(u32::MAX));
        for refused in [
            "2.5",
            "2.",
            ".0",
            "-1",
            "+1",
            "1e3",
            "4294967296",
            "",
            " 2",
            "two",
        ] {
            assert_eq!(whole_number(refused), None, "{refused:?}");
        }
    }
}
