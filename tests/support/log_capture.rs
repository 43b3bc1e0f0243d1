//! A slog logger that keeps every line in memory, for tests that read what the worker logged.

use std::sync::{Arc, Mutex};

use slog::{Drain, Logger, OwnedKVList, Record, KV};

#[derive(Clone, Default)]
pub struct CapturedLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl CapturedLog {
    pub fn logger(&self) -> Logger {
        Logger::root(Capture(self.lines.clone()).fuse(), slog::o!())
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }
}

struct Capture(Arc<Mutex<Vec<String>>>);

impl Drain for Capture {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        let mut line = format!("{} {}", record.level().as_short_str(), record.msg());
        let mut fields = Fields(String::new());
        let _ = values.serialize(record, &mut fields);
        let _ = record.kv().serialize(record, &mut fields);
        line.push_str(&fields.0);
        eprintln!("[log] {line}");
        self.0.lock().unwrap().push(line);
        Ok(())
    }
}

struct Fields(String);

impl slog::Serializer for Fields {
    fn emit_arguments(&mut self, key: slog::Key, value: &std::fmt::Arguments) -> slog::Result {
        self.0.push_str(&format!(" {key}={value}"));
        Ok(())
    }
}
