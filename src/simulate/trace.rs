//! Traffic traces: `seconds,requests_per_second[,service_ms]` rows, linear between rows.

use std::fmt;

/// One row of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracePoint {
    /// Seconds from the start of the run; the first row is at 0, later rows strictly later.
    pub seconds: f64,
    /// The arrival rate at this instant; the rate is linear between rows.
    pub requests_per_second: f64,
    /// The mean service time from this row on; `None` keeps the one before (at first: the
    /// model's `--service-ms`).
    pub service_ms: Option<f64>,
}

/// A validated trace: at least two rows, the first at 0, times strictly increasing, rates and
/// service times finite and not negative (service times above 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Where it came from, for titles and errors: a file path or `scenario NAME`.
    pub name: String,
    points: Vec<TracePoint>,
}

/// Why a trace was refused: where (`line` is 1-based in the file; `None` for the whole file)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The file (or scenario) name.
    pub source: String,
    /// The line, when one line is at fault.
    pub line: Option<usize>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for TraceError {}

