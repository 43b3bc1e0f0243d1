//! The log: one plain line per event on standard output (Heroku's log stream), and what
//! standard output refused. A closed pipe or a full disk must never stop the scaling or the
//! signal handling, so a refused line is dropped and counted instead of failing the drain.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use slog::{o, Drain, Logger};

use crate::settings::LogLevel;

/// A logger that writes one plain line per event to standard output (Heroku's log stream). A
/// line that standard output refuses (its reader has gone, its disk is full) is dropped and
/// counted ([`stdout_loss`]): logging must never stop the scaling or the signal handling.
pub fn logger(level: LogLevel) -> Logger {
    let decorator = slog_term::PlainSyncDecorator::new(LogStdout);
    let drain = slog_term::FullFormat::new(decorator).build();
    // Only a formatting error can reach this far, and it costs its line only.
    let drain = slog::LevelFilter::new(drain, level.to_slog()).ignore_res();
    Logger::root(drain, o!())
}

/// What standard output refused since the process started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdoutLoss {
    /// How many lines were dropped.
    pub lines: u64,
    /// The first refusal, as the OS put it (`Broken pipe (os error 32)`).
    pub first_error: String,
    /// Whether that was a pipe whose reader had gone, as `| head` does on purpose.
    pub broken_pipe: bool,
}

/// Standard output is one per process, so its losses are counted once per process as well.
static STDOUT_LINES_LOST: AtomicU64 = AtomicU64::new(0);
static STDOUT_FIRST_ERROR: OnceLock<io::Error> = OnceLock::new();

/// The lines standard output has refused so far, if any.
pub fn stdout_loss() -> Option<StdoutLoss> {
    let error = STDOUT_FIRST_ERROR.get()?;
    Some(StdoutLoss {
        lines: STDOUT_LINES_LOST.load(Ordering::Relaxed),
        first_error: error.to_string(),
        broken_pipe: error.kind() == io::ErrorKind::BrokenPipe,
    })
}

/// Writes `line` (with its newline) to standard output; a refused line is dropped and counted.
/// Returns the error if it is the first refusal.
pub fn write_stdout_line(line: &[u8]) -> Option<&'static io::Error> {
    let mut stdout = io::stdout().lock();
    let error = stdout.write_all(line).and_then(|()| stdout.flush()).err()?;
    STDOUT_LINES_LOST.fetch_add(1, Ordering::Relaxed);
    let mut first = false;
    let recorded = STDOUT_FIRST_ERROR.get_or_init(|| {
        first = true;
        error
    });
    first.then_some(recorded)
}

/// The logger's standard output: each write is one whole line (slog_term writes a record in
/// one call). It never fails, so the drain never panics.
struct LogStdout;

impl Write for LogStdout {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if let Some(error) = write_stdout_line(line) {
            // Once, on the stream most likely still read; nothing to do if it fails as well.
            let _ = writeln!(
                io::stderr(),
                "heroku-autoscale: standard output refused a log line ({error}); log lines that \
                 cannot be written are dropped and counted; scaling and signal handling go on"
            );
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
