//! `WorkerProcess`: runs the real `heroku-autoscale` binary and captures what it prints.
//!
//! The child gets a clean environment (only `PATH` and `HOME` are passed on, plus what the test
//! gives), so a developer's own `AUTOSCALE_*` or `HEROKU_API_KEY` never leaks into a test.
//! stdout and stderr are read line by line into one list, each line tagged with its stream, and
//! echoed to the test's stderr as `[worker] ...` (seen with `--nocapture`, or
//! when a test fails). Order within a stream is exact; between the two streams it is only the
//! order in which the reader threads got the lines, so do not assert on it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test, built by cargo for integration tests.
const BINARY: &str = env!("CARGO_BIN_EXE_heroku-autoscale");

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// After the child exits, how long to wait for the readers to collect its last lines.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A process's resident memory, see [`WorkerProcess::memory_kib`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryKib {
    /// The most it has ever held (`VmHWM`).
    pub peak: u64,
    /// What it holds now (`VmRSS`).
    pub now: u64,
}

/// Where the worker's standard output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutTo {
    /// A pipe read to its end.
    Captured,
    /// A pipe whose reader closes after this many lines: later writes fail with EPIPE.
    ClosedAfter(usize),
    /// A pipe whose reader closed before the worker started: every write fails with EPIPE.
    Closed,
    /// `/dev/full`: every write fails with ENOSPC.
    DevFull,
}

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A running (or finished) worker. Dropping it kills the worker if it still runs.
pub struct WorkerProcess {
    child: Child,
    captured: Arc<Captured>,
    exit: Option<ExitStatus>,
}

impl WorkerProcess {
    /// Starts the binary with `args` (e.g. `["run"]`) and only `env` plus `PATH` and `HOME`.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> WorkerProcess {
        WorkerProcess::spawn_binary(Path::new(BINARY), args, env, StdoutTo::Captured)
    }

    /// Like [`WorkerProcess::spawn`], for another build of the binary (the release one, say)
    /// and with standard output sent where `stdout` says.
    pub fn spawn_binary(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stdout: StdoutTo,
    ) -> WorkerProcess {
        let mut command = Command::new(binary);
        command.args(args).env_clear();
        for inherited in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(inherited) {
                command.env(inherited, value);
            }
        }
        command
            .envs(env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
            .stdin(Stdio::null())
            .stdout(stdout_for(stdout))
            .stderr(Stdio::piped());
        // Every worker starts with SIGHUP at its default action, whatever the test run inherited:
        // under `nohup` (or a CI runner that ignores SIGHUP) the worker would rightly leave it
        // ignored, and the SIGHUP tests would test the wrong thing.
        // SAFETY: `signal` is async-signal-safe, as code between fork and exec must be.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));

        let captured = Arc::new(Captured::default());
        let stderr = child.stderr.take().expect("child stderr is piped");
        // The readers end by themselves at end of stream, i.e. when the child exits.
        let limit = match stdout {
            StdoutTo::ClosedAfter(lines) => Some(lines),
            _ => None,
        };
        match child.stdout.take() {
            Some(out) => {
                let _: JoinHandle<()> = spawn_reader(out, Stream::Stdout, limit, captured.clone());
            }
            // Nothing to read: the stream has ended as far as the waits are concerned.
            None => captured.end_stream(),
        }
        let _: JoinHandle<()> = spawn_reader(stderr, Stream::Stderr, None, captured.clone());
        WorkerProcess {
            child,
            captured,
            exit: None,
        }
    }

    /// Starts `heroku-autoscale run` with `base`, each of `overrides` replacing (or adding) the
    /// variable of that name.
    pub fn run_with(base: &[(String, String)], overrides: &[(&str, &str)]) -> WorkerProcess {
        let mut env: Vec<(&str, &str)> = base
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !overrides.iter().any(|(name, _)| name == k))
            .collect();
        env.extend_from_slice(overrides);
        WorkerProcess::spawn(&["run"], &env)
    }

    /// Runs the binary to its end (for `check` and start-up errors): its exit status and
    /// everything it printed. Panics, showing the output, if it runs longer than `timeout`.
    pub fn run_to_end(
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> (ExitStatus, String) {
        let mut worker = WorkerProcess::spawn(args, env);
        match worker.wait_exit(timeout) {
            Some(status) => (status, worker.output()),
            None => panic!(
                "heroku-autoscale {args:?} still ran after {timeout:?}; its output:\n{}",
                worker.output()
            ),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The worker's memory from `/proc/PID/status`: peak resident set (`VmHWM`) and resident
    /// set now (`VmRSS`), in KiB. `None` once it has exited or where `/proc` is missing.
    pub fn memory_kib(&self) -> Option<MemoryKib> {
        if self.exit.is_some() {
            return None;
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(MemoryKib {
            peak: field("VmHWM:")?,
            now: field("VmRSS:")?,
        })
    }

    /// Waits for a line containing `needle` (looking at every line since the start) and returns
    /// the first such line; `None` after `timeout`, or as soon as the worker has exited and its
    /// output is fully read without one.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        self.captured.wait_for(timeout, |output| {
            output
                .lines
                .iter()
                .find(|(_, line)| line.contains(needle))
                .map(|(_, line)| line.clone())
        })
    }

    /// Waits until at least `count` lines contain `needle`; false after `timeout`, or once the
    /// worker's output has ended with fewer.
    pub fn wait_for_count(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        self.captured
            .wait_for(timeout, |output| {
                (count_matching(&output.lines, needle) >= count).then_some(())
            })
            .is_some()
    }

    /// How many lines so far contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        count_matching(&self.captured.lock().lines, needle)
    }

    /// Every line so far, stdout and stderr interleaved in arrival order.
    pub fn lines(&self) -> Vec<String> {
        self.captured
            .lock()
            .lines
            .iter()
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// Every line so far with the stream it came from.
    pub fn tagged_lines(&self) -> Vec<(Stream, String)> {
        self.captured.lock().lines.clone()
    }

    /// The lines of one stream only.
    pub fn stream_lines(&self, stream: Stream) -> Vec<String> {
        self.captured
            .lock()
            .lines
            .iter()
            .filter(|(from, _)| *from == stream)
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// Every line so far, joined with newlines (for assertion messages).
    pub fn output(&self) -> String {
        self.lines().join("\n")
    }

    /// Sends signal number `sig` with the `kill` command. Does nothing once the worker's exit has
    /// been collected (its pid could belong to another process by then).
    pub fn signal(&self, sig: i32) {
        if self.exit.is_some() {
            return;
        }
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(&pid)
            .status();
        match sent {
            Ok(status) if status.success() => {}
            // An already-exited child makes `kill` fail: not worth a panic.
            Ok(status) => eprintln!("[worker] kill -{sig} {pid} exited with {status}"),
            Err(e) => panic!("could not run `kill -{sig} {pid}`: {e}"),
        }
    }

    pub fn sigterm(&self) {
        self.signal(SIGTERM);
    }

    pub fn sigint(&self) {
        self.signal(SIGINT);
    }

    /// Waits for the worker to exit; `None` if it still runs after `timeout`. Once it returns a
    /// status, the output is complete (both streams read to the end).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_collect_exit() {
                self.captured.wait_for(DRAIN_TIMEOUT, |_| None::<()>);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and checks the orderly stop: exit 0 within `timeout`, the `stopping on
    /// SIGTERM` line, and `key` never printed. Returns the whole output.
    pub fn stop_cleanly(mut self, timeout: Duration, key: &str) -> String {
        self.sigterm();
        let status = self.wait_exit(timeout).unwrap_or_else(|| {
            panic!(
                "still running {timeout:?} after SIGTERM:\n{}",
                self.output()
            )
        });
        let output = self.output();
        assert!(status.success(), "exit status {status:?}:\n{output}");
        assert!(output.contains("stopping on SIGTERM"), "{output}");
        assert!(!output.contains(key), "the API key leaked:\n{output}");
        output
    }

    /// Whether the worker still runs (collects its exit status if it has ended).
    pub fn is_running(&mut self) -> bool {
        self.try_collect_exit().is_none()
    }

    fn try_collect_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("could not check the worker's status: {e}"));
        }
        self.exit
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.is_running() {
            // SIGKILL, then reap it so no zombie outlives the test.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Lines read so far, and how many of the two streams have ended.
#[derive(Default)]
struct Output {
    lines: Vec<(Stream, String)>,
    streams_ended: usize,
}

#[derive(Default)]
struct Captured {
    output: Mutex<Output>,
    /// Notified on every new line and at the end of each stream.
    changed: Condvar,
}

impl Captured {
    /// A panicking test thread must not make every later call panic too: ignore poisoning.
    fn lock(&self) -> MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `found` gives something, both streams have ended, or `timeout` passes.
    fn wait_for<T>(&self, timeout: Duration, found: impl Fn(&Output) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut output = self.lock();
        loop {
            if let Some(result) = found(&output) {
                return Some(result);
            }
            let now = Instant::now();
            if output.streams_ended == 2 || now >= deadline {
                return None;
            }
            output = self
                .changed
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn push(&self, stream: Stream, line: String) {
        self.lock().lines.push((stream, line));
        self.changed.notify_all();
    }

    fn end_stream(&self) {
        self.lock().streams_ended += 1;
        self.changed.notify_all();
    }
}

fn stdout_for(stdout: StdoutTo) -> Stdio {
    match stdout {
        StdoutTo::Captured | StdoutTo::ClosedAfter(_) => Stdio::piped(),
        StdoutTo::Closed => {
            let (reader, writer) = std::io::pipe().expect("a pipe for the worker's stdout");
            drop(reader);
            Stdio::from(writer)
        }
        StdoutTo::DevFull => {
            let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
            Stdio::from(full.expect("/dev/full can be opened for writing"))
        }
    }
}

/// Reads `source` line by line into `captured`; after `limit` lines, if given, stops reading
/// and closes it.
fn spawn_reader(
    source: impl Read + Send + 'static,
    stream: Stream,
    limit: Option<usize>,
    captured: Arc<Captured>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut buffer = Vec::new();
        let mut lines = 0;
        while limit.is_none_or(|limit| lines < limit) {
            lines += 1;
            buffer.clear();
            // Bytes, not `lines()`: one invalid UTF-8 byte must not end the capture.
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buffer)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    eprintln!("[worker] {line}");
                    captured.push(stream, line);
                }
            }
        }
        // Closes the read end when the limit ended the loop.
        drop(reader);
        captured.end_stream();
    })
}

fn count_matching(lines: &[(Stream, String)], needle: &str) -> usize {
    lines
        .iter()
        .filter(|(_, line)| line.contains(needle))
        .count()
}
