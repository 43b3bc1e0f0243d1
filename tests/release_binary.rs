//! The release-profile binary, as it runs on a dyno: its log levels, and its log pipe failing
//! under it. Compile-time log filtering and panics on a failed write differ between the debug
//! and release builds, so the debug binary `cargo test` builds cannot show these.
//!
//! The first test to need it builds `target/release/heroku-autoscale` with the same cargo and
//! target directory as the outer build (once per test process). Cargo locks each profile's
//! directory on its own, so this inner `cargo build --release` does not wait for the outer
//! `cargo test`, which holds `target/debug`. Under `cargo test --release` the outer build has
//! made the release binary already (and holds its directory), so that one is used as it is.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{FakeApp, FakeHeroku, StdoutTo, Stream, WorkerProcess};

const KEY: &str = "release-secret-key-92bd";
const APP: &str = "acme-shop";
/// Time for anything the worker should do within a few heartbeats.
const SOON: Duration = Duration::from_secs(10);
/// How long a clean stop may take (Heroku kills at 30 s; we promise a few seconds).
const STOP: Duration = Duration::from_secs(5);
/// Judged slow: the probe gives up at 250 ms.
const SLOW: Duration = Duration::from_millis(600);

/// The release binary, built on first use; every later call gets the same path (or the same
/// build failure).
fn release_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_release_binary) {
        Ok(path) => path,
        Err(failure) => panic!("{failure}"),
    }
}

fn build_release_binary() -> Result<PathBuf, String> {
    let outer = Path::new(env!("CARGO_BIN_EXE_heroku-autoscale"));
    let profile_dir = outer
        .parent()
        .expect("the binary is in a profile directory");
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        return Ok(outer.to_path_buf());
    }
    let target_dir = profile_dir
        .parent()
        .expect("a profile directory is in a target directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let mut build = Command::new(&cargo);
    build
        .args([
            "build",
            "--release",
            "--bin",
            "heroku-autoscale",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // Cargo gives this test process the package's own variables; build scripts that watch one
    // (ring watches CARGO_MANIFEST_DIR) would otherwise see a change and rebuild, here and again
    // at the next `cargo build --release` from a shell.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_set_by_cargo_for_this_package) {
            build.env_remove(name);
        }
    }
    let output = build
        .output()
        .map_err(|e| format!("could not run {cargo:?} build --release: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "cargo build --release failed ({}):\n{stderr}",
            output.status
        ));
    }
    eprintln!(
        "[release build] {:.1} s\n{stderr}",
        started.elapsed().as_secs_f64()
    );
    let binary = target_dir
        .join("release")
        .join(format!("heroku-autoscale{}", std::env::consts::EXE_SUFFIX));
    Ok(binary)
}

fn is_set_by_cargo_for_this_package(name: &str) -> bool {
    const PREFIXES: [&str; 4] = [
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_BIN_",
        "CARGO_CRATE_",
    ];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name)
}

/// A fake app and API, and the environment that points the worker at them: a beat every 0.3 s,
/// slow above 250 ms, fast below 60 ms, two in a row to act, 1 to 3 dynos, at `level`.
struct Rig {
    app: FakeApp,
    api: FakeHeroku,
}

impl Rig {
    fn new() -> Rig {
        let (app, api) = support::fake_app_and_api(APP, KEY, 1);
        Rig { app, api }
    }

    fn env(&self, level: &str) -> Vec<(String, String)> {
        support::worker_env(&self.app, &self.api, KEY, level)
    }

    /// Starts the release binary with `args` at `level`, its standard output sent to `stdout`.
    fn start(&self, args: &[&str], level: &str, stdout: StdoutTo) -> WorkerProcess {
        let env = self.env(level);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        WorkerProcess::spawn_binary(release_binary(), args, &env, stdout)
    }
}

/// Sends SIGTERM and checks for exit code 0 within [`STOP`]; returns the whole output.
fn sigterm_and_expect_exit_0(mut worker: WorkerProcess) -> String {
    worker.sigterm();
    let status = worker.wait_exit(STOP);
    let output = worker.output();
    assert!(
        status.is_some(),
        "still running {STOP:?} after SIGTERM:\n{output}"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{status:?}:\n{output}"
    );
    assert!(!output.contains(KEY), "the API key leaked:\n{output}");
    output
}

/// With standard output failing under it, the worker still probes, still scales, and still
/// stops on SIGTERM with exit code 0; stderr tells how many log lines were lost.
fn keeps_working_without_its_log(rig: &Rig, worker: WorkerProcess) {
    let hits = rig.app.hits();
    assert!(
        rig.app.wait_for_hits(hits + 4, SOON),
        "the heartbeats stopped:\n{}",
        worker.output()
    );
    rig.app.set_latency(SLOW);
    assert!(
        rig.api.wait_for_quantity(2, SOON),
        "no scale after the log failed:\n{}",
        worker.output()
    );
    let output = sigterm_and_expect_exit_0(worker);
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        output.contains("log lines could not be written to standard output"),
        "{output}"
    );
}

#[test]
fn every_documented_log_level_below_info_writes_a_line_per_heartbeat() {
    for level in ["debug", "trace"] {
        let rig = Rig::new();
        let worker = rig.start(&["run"], level, StdoutTo::Captured);
        assert!(
            worker.wait_for_count("heartbeat beat=", 3, SOON),
            "no heartbeat lines at {level}:\n{}",
            worker.output()
        );
        assert!(
            worker.output().contains("verdict=fast"),
            "{}",
            worker.output()
        );
        sigterm_and_expect_exit_0(worker);
    }
}

#[test]
fn info_level_writes_no_heartbeat_lines() {
    let rig = Rig::new();
    let worker = rig.start(&["run"], "info", StdoutTo::Captured);
    assert!(rig.app.wait_for_hits(3, SOON), "{}", worker.output());
    let output = sigterm_and_expect_exit_0(worker);
    assert!(output.contains("watching app=acme-shop"), "{output}");
    assert!(!output.contains("heartbeat beat="), "{output}");
}

#[test]
fn a_log_pipe_closed_by_its_reader_stops_neither_scaling_nor_sigterm() {
    let rig = Rig::new();
    // `run | head -1`: the first line is read, then the reader is gone.
    let worker = rig.start(&["run"], "debug", StdoutTo::ClosedAfter(1));
    assert!(
        worker
            .wait_for_line("starting heroku-autoscale", SOON)
            .is_some(),
        "{}",
        worker.output()
    );
    keeps_working_without_its_log(&rig, worker);
}

#[test]
fn a_full_disk_under_the_log_stops_neither_scaling_nor_sigterm() {
    let rig = Rig::new();
    let worker = rig.start(&["run"], "debug", StdoutTo::DevFull);
    assert!(rig.app.wait_for_hits(1, SOON), "{}", worker.output());
    keeps_working_without_its_log(&rig, worker);
}

#[test]
fn check_with_a_closed_stdout_still_exits_with_its_result() {
    let rig = Rig::new();
    let mut worker = rig.start(&["check"], "info", StdoutTo::Closed);
    let status = worker.wait_exit(SOON).expect("check ends");
    let stderr = worker.stream_lines(Stream::Stderr).join("\n");
    assert_eq!(status.code(), Some(0), "{status:?}:\n{stderr}");
    // A reader that left on purpose (`check | head`) needs no message.
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn check_with_stdout_on_a_full_disk_says_so_and_still_exits_with_its_result() {
    let rig = Rig::new();
    let mut worker = rig.start(&["check"], "info", StdoutTo::DevFull);
    let status = worker.wait_exit(SOON).expect("check ends");
    let stderr = worker.stream_lines(Stream::Stderr).join("\n");
    assert_eq!(status.code(), Some(0), "{status:?}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("could not be written to standard output"),
        "{stderr}"
    );
}
