//! The job-queue document apps serve in hirefire-resource's format:
//! `[{"name": "worker", "value": 12}, {"name": "urgentworker", "value": 0}]`, where older
//! versions say `quantity` instead of `value`.
//!
//! A document that cannot be read at all fails every process type; an entry that cannot be
//! read fails only its own. A value is a number from 0: the libraries' latency macros answer
//! fractional seconds (`1.23`), so fractions are kept here, and a queue *size* that is not a
//! whole number is refused by the process type that reads it as one.

use std::collections::BTreeMap;

use serde_json::Value;

/// The most bytes read of a document: a few hundred process types fit in a tenth of it.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Above this a value is taken for a bug in the app, not a queue: a billion jobs, or 30 years.
pub const MAX_VALUE: f64 = 1e9;

/// What a document said, entry by entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueDocument {
    /// The value of each entry that could be read, by process type.
    pub values: BTreeMap<String, f64>,
    /// Entries that could not be read, by process type, with why.
    pub refused: BTreeMap<String, String>,
}

/// Reads a document; `Err` says why none of it can be used.
pub fn parse(body: &[u8]) -> Result<QueueDocument, String> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the document is larger than {} KiB",
            MAX_DOCUMENT_BYTES / 1024
        ));
    }
    let json: Value = serde_json::from_slice(body).map_err(|error| {
        format!("the document is not JSON ({error}); expected [{{\"name\": \"worker\", \"value\": 12}}]")
    })?;
    let Value::Array(entries) = json else {
        return Err(
            "the document is not a JSON array; expected [{\"name\": \"worker\", \"value\": 12}]"
                .into(),
        );
    };
    let mut document = QueueDocument::default();
    for entry in &entries {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            return Err(format!(
                "an entry has no \"name\" string: {}",
                crate::secret::printable(&short(&entry.to_string()))
            ));
        };
        let name = crate::secret::printable(name);
        if document.values.contains_key(&name) || document.refused.contains_key(&name) {
            document.values.remove(&name);
            document
                .refused
                .insert(name, "it is named twice in the document".into());
            continue;
        }
        match value(entry) {
            Ok(value) => document.values.insert(name, value).map(|_| ()),
            Err(why) => document.refused.insert(name, why).map(|_| ()),
        };
    }
    Ok(document)
}

/// An entry's `value` (or `quantity`): a number from 0 to [`MAX_VALUE`].
fn value(entry: &Value) -> Result<f64, String> {
    let given = entry
        .get("value")
        .or_else(|| entry.get("quantity"))
        .ok_or("it has no \"value\" (or \"quantity\")")?;
    match given.as_f64() {
        Some(value) if (0.0..=MAX_VALUE).contains(&value) => Ok(value),
        Some(value) if value > MAX_VALUE => Err(format!(
            "its value {value} is beyond any real queue (at most {MAX_VALUE})"
        )),
        _ => Err(format!(
            "its value {} is not a number from 0",
            short(&given.to_string())
        )),
    }
}

/// A value as a whole number of jobs, if it is one.
pub fn whole_jobs(value: f64) -> Result<u64, String> {
    if value.fract() == 0.0 {
        Ok(value as u64)
    } else {
        Err(format!(
            "its value {value} is not a whole number of jobs (a queue size; for a latency in \
             seconds give max_latency_in_seconds instead of jobs_per_dyno)"
        ))
    }
}

/// A latency in whole seconds, rounded up: 0.2 s waited is a job waiting.
pub fn latency_seconds(value: f64) -> u64 {
    value.ceil() as u64
}

fn short(text: &str) -> String {
    const MOST: usize = 80;
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_keys_are_read() {
        let document =
            parse(br#"[{"name": "worker", "value": 12}, {"name": "urgentworker", "quantity": 0}]"#)
                .unwrap();
        assert_eq!(
            document.values,
            BTreeMap::from([("worker".into(), 12.0), ("urgentworker".into(), 0.0)])
        );
        let latency = parse(br#"[{"name": "worker", "value": 1.23}]"#).unwrap();
        assert_eq!(
            latency.values["worker"], 1.23,
            "the libraries' latencies are fractional"
        );
        assert!(document.refused.is_empty());
        assert_eq!(parse(b"[]").unwrap(), QueueDocument::default());
    }

    #[test]
    fn a_bad_entry_fails_only_its_process_type() {
        let document = parse(
            br#"[{"name": "a", "value": -1}, {"name": "b", "value": -0.5}, {"name": "c", "value": "7"},
                 {"name": "d", "value": 1000000001}, {"name": "e"}, {"name": "ok", "value": 3},
                 {"name": "twice", "value": 1}, {"name": "twice", "value": 2}]"#,
        )
        .unwrap();
        assert_eq!(document.values, BTreeMap::from([("ok".into(), 3.0)]));
        let why = |name: &str| document.refused[name].clone();
        assert!(
            why("a").contains("-1 is not a number from 0"),
            "{}",
            why("a")
        );
        assert!(why("b").contains("-0.5 is not a number from 0"));
        assert!(why("c").contains("\"7\" is not a number from 0"));
        assert!(why("d").contains("beyond any real queue"));
        assert!(why("e").contains("no \"value\""));
        assert!(why("twice").contains("named twice"));
    }

    #[test]
    fn a_size_must_be_whole_and_a_latency_rounds_up() {
        assert_eq!(whole_jobs(12.0), Ok(12));
        assert!(whole_jobs(2.5)
            .unwrap_err()
            .contains("not a whole number of jobs"));
        assert_eq!(latency_seconds(0.0), 0);
        assert_eq!(latency_seconds(0.2), 1);
        assert_eq!(latency_seconds(30.0), 30);
    }

    #[test]
    fn a_document_that_cannot_be_read_says_why() {
        let cases: [(&[u8], &str); 4] = [
            (b"<html>oops</html>", "not JSON"),
            (br#"{"worker": 3}"#, "not a JSON array"),
            (br#"[{"value": 3}]"#, "no \"name\""),
            (&[b' '; MAX_DOCUMENT_BYTES + 1], "larger than 64 KiB"),
        ];
        for (body, expected) in cases {
            let error = parse(body).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
