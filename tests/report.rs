//! `heroku-autoscale report` on a real run: the worker runs against the fake Heroku API and the
//! fake app, its log is handed to `report` (as printed, and as `heroku logs` prefixes it), and
//! the report finds every scale call the fake API received.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{FakeApp, FakeHeroku, WorkerProcess};

const BINARY: &str = env!("CARGO_BIN_EXE_heroku-autoscale");
const KEY: &str = "report-secret-key-88b1";
const SOON: Duration = Duration::from_secs(10);

/// A run that scales the web up on slow heartbeats and down again on fast ones, and a worker
/// type up from zero: its log, and the calls the fake API received (web targets, batches).
fn a_real_run() -> (String, Vec<u32>, usize) {
    let (app, api): (FakeApp, FakeHeroku) = support::fake_app_and_api("acme-shop", KEY, 1);
    api.set_process_quantity("worker", 0);
    app.set_queue(&[("worker", 120)]);
    app.set_latency(Duration::from_millis(600));
    let mut env = support::worker_env(&app, &api, KEY, "info");
    env.push(("AUTOSCALE_QUEUE_URL".into(), FakeApp::queue_path()));
    env.push((
        "AUTOSCALE_PROCESSES".into(),
        "worker: max_dynos=5 jobs_per_dyno=50".into(),
    ));
    let worker = WorkerProcess::run_with(&env, &[]);
    assert!(api.wait_for_quantity(3, SOON), "{}", worker.output());
    app.set_latency(Duration::ZERO);
    assert!(api.wait_for_quantity(2, SOON), "{}", worker.output());
    // A few more beats, so the last call is counted in a metrics line too.
    std::thread::sleep(Duration::from_millis(900));
    let output = worker.stop_cleanly(Duration::from_secs(5), KEY);
    (output, api.patches(), api.batch_patches().len())
}

fn report(log: &str, dir: &std::path::Path, name: &str) -> (Option<i32>, String, String) {
    let path = dir.join(name);
    std::fs::write(&path, log).expect("log written");
    let svg = dir.join(format!("{name}.svg"));
    let output = Command::new(BINARY)
        .args(["report", &path.display().to_string(), "--svg"])
        .arg(&svg)
        .env_clear()
        .output()
        .expect("report runs");
    let chart = std::fs::read_to_string(&svg).unwrap_or_default();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        chart,
    )
}

/// `summary`'s line for `process`: (calls, ups, downs).
fn calls(summary: &str, process: &str) -> (usize, usize, usize) {
    let line = summary
        .lines()
        .find(|line| line.starts_with(&format!("{process}: ")))
        .unwrap_or_else(|| panic!("no line for {process}:\n{summary}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

#[test]
fn report_finds_every_scale_call_of_a_real_run_in_both_log_forms() {
    let (log, web_patches, batches) = a_real_run();
    let dir = tempfile::tempdir().expect("temp dir");
    // As `heroku logs` shows it: each line behind Heroku's timestamp and dyno.
    let heroku: String = log
        .lines()
        .enumerate()
        .map(|(index, line)| {
            format!(
                "2026-11-29T10:{:02}:{:02}.000000+00:00 app[autoscaleworker.1]: {line}\n",
                index / 60,
                index % 60
            )
        })
        .collect();
    let beats = log
        .lines()
        .filter(|line| line.contains("source=acme-shop.web"))
        .count();
    for (name, text) in [("worker.log", log.clone()), ("heroku.log", heroku)] {
        let (code, summary, chart) = report(&text, dir.path(), name);
        assert_eq!(code, Some(0), "{name}: {summary}");
        let ups = web_patches
            .windows(2)
            .filter(|pair| pair[1] > pair[0])
            .count()
            + 1;
        assert_eq!(
            calls(&summary, "web"),
            (web_patches.len(), ups, web_patches.len() - ups),
            "{name}: {web_patches:?}\n{summary}"
        );
        assert_eq!(
            calls(&summary, "worker"),
            (batches, batches, 0),
            "{summary}"
        );
        assert!(
            summary.contains(&format!("heartbeats: {beats} (")),
            "{name}: {beats} beats\n{summary}"
        );
        assert!(summary.contains("restarts:  0;"), "{summary}");
        for text in ["heartbeat latency", "web dynos", "worker dynos"] {
            assert!(
                chart.contains(&format!(">\n{text}\n</text>")),
                "{name}: {text}"
            );
        }
    }
    // REPORT_PRINT=1 also makes a longer run and keeps its chart and summary: how
    // docs/report-real-run.svg was made.
    if std::env::var_os("REPORT_PRINT").is_some() {
        let log = a_longer_run();
        let (_, summary, chart) = report(&log, dir.path(), "worker.log");
        eprintln!("{summary}");
        std::fs::write("/tmp/report-real-run.svg", chart).expect("chart kept");
        std::fs::write("/tmp/report-real-run.log", log).expect("log kept");
    }
}

/// About 100 s: two slow spells and two quiet ones for the web; the worker type's queue full,
/// empty long enough to reach zero, then full again.
fn a_longer_run() -> String {
    let (app, api): (FakeApp, FakeHeroku) = support::fake_app_and_api("acme-shop", KEY, 1);
    api.set_process_quantity("worker", 0);
    app.set_queue(&[("worker", 120)]);
    let mut env = support::worker_env(&app, &api, KEY, "info");
    env.push(("AUTOSCALE_QUEUE_URL".into(), FakeApp::queue_path()));
    env.push((
        "AUTOSCALE_PROCESSES".into(),
        "worker: max_dynos=5 jobs_per_dyno=50".into(),
    ));
    env.push(("AUTOSCALE_IDLE_MINUTES_BEFORE_ZERO".into(), "0.2".into()));
    let worker = WorkerProcess::run_with(&env, &[]);
    let phase = |latency_ms: u64, seconds: u64| {
        app.set_latency(Duration::from_millis(latency_ms));
        std::thread::sleep(Duration::from_secs(seconds));
    };
    phase(600, 15);
    app.set_queue(&[("worker", 0)]);
    phase(0, 35);
    phase(600, 15);
    app.set_queue(&[("worker", 60)]);
    phase(0, 35);
    worker.stop_cleanly(Duration::from_secs(5), KEY)
}

#[test]
fn a_log_that_is_not_the_workers_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, summary, _) = report("hello\nworld\n", dir.path(), "other.log");
    assert_eq!(code, Some(2), "{summary}");
}
