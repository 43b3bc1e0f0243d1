//! Worker process types scaled from the app's job queue, end to end: the real binary, the fake
//! app serving a hirefire-resource document, and the fake Heroku API answering the formation
//! list and the batch update as Heroku does (it refuses a body the schema does not allow).

mod support;

use std::time::Duration;

use support::fake_app::{QueueBody, QUEUE_TOKEN};
use support::{FakeApp, FakeHeroku, WorkerProcess};

const KEY: &str = "workers-secret-key-41d2";
const APP: &str = "acme-shop";
const SOON: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(5);
/// Judged slow: the probe gives up at 250 ms.
const SLOW: Duration = Duration::from_millis(600);

struct Rig {
    app: FakeApp,
    api: FakeHeroku,
}

impl Rig {
    /// Web at 1 dyno, and the given worker process types.
    fn new(workers: &[(&str, u32)]) -> Rig {
        let (app, api) = support::fake_app_and_api(APP, KEY, 1);
        for (process, quantity) in workers {
            api.set_process_quantity(process, *quantity);
        }
        Rig { app, api }
    }

    /// The worker with the queue read from its path on the app's web URL.
    fn run(&self, processes: &str, overrides: &[(&str, &str)]) -> WorkerProcess {
        let mut env = support::worker_env(&self.app, &self.api, KEY, "debug");
        env.push(("AUTOSCALE_QUEUE_URL".into(), FakeApp::queue_path()));
        env.push(("AUTOSCALE_PROCESSES".into(), processes.into()));
        env.push(("AUTOSCALE_FORMATION_REFRESH_IN_SECONDS".into(), "1".into()));
        WorkerProcess::run_with(&env, overrides)
    }
}

fn expect_line(worker: &WorkerProcess, needle: &str) -> String {
    worker
        .wait_for_line(needle, SOON)
        .unwrap_or_else(|| panic!("no line with {needle:?}; output:\n{}", worker.output()))
}

fn stop_cleanly(worker: WorkerProcess) -> String {
    let output = worker.stop_cleanly(STOP, KEY);
    assert!(
        !output.contains(QUEUE_TOKEN),
        "the queue token leaked:\n{output}"
    );
    output
}

#[test]
fn web_and_two_worker_types_are_scaled_in_one_run_the_workers_in_one_batch() {
    let rig = Rig::new(&[("worker", 0), ("mailer", 0)]);
    rig.app.set_latency(SLOW);
    rig.app.set_queue(&[("worker", 120), ("mailer", 25)]);
    let worker = rig.run(
        "worker: max_dynos=5 jobs_per_dyno=50; mailer: max_dynos=3 jobs_per_dyno=10",
        &[],
    );
    assert!(
        rig.api.wait_for_process_quantity("worker", 3, SOON),
        "{}",
        worker.output()
    );
    assert_eq!(rig.api.process_quantity("mailer"), Some(3));
    // The web process, scaled from the heartbeat as before, in the same run.
    assert!(rig.api.wait_for_quantity(2, SOON), "{}", worker.output());
    expect_line(&worker, "scaled worker from=0 to=3 reason=jobs_at_zero");
    expect_line(&worker, "scaled mailer from=0 to=3 reason=jobs_at_zero");
    expect_line(&worker, "scaled web from=1 to=2 reason=slow_streak");
    // Both worker types in one call, in the order configured.
    let batches = rig.api.batch_patches();
    assert_eq!(
        batches.first().cloned(),
        Some(vec![("worker".to_string(), 3), ("mailer".to_string(), 3)]),
        "{batches:?}"
    );
    let watching = expect_line(&worker, "watching queue /hirefire/********");
    assert!(watching.contains("worker quantity=0"), "{watching}");
    // The queue was read at the path joined to the app's web URL, token and all.
    assert!(rig
        .app
        .queue_paths()
        .iter()
        .all(|path| path == &FakeApp::queue_path()));
    // Held steady: the same queue asks for nothing more.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        rig.api.batch_patches().len(),
        1,
        "{:?}",
        rig.api.batch_patches()
    );
    let output = stop_cleanly(worker);
    // WORKERS_PRINT_LOG=1 shows the run's log: how the closing note got its sample.
    if std::env::var_os("WORKERS_PRINT_LOG").is_some() {
        eprintln!("{output}");
    }
}

#[test]
fn an_empty_queue_takes_the_workers_to_zero_after_the_idle_time_and_jobs_bring_one_back() {
    let rig = Rig::new(&[("worker", 2)]);
    rig.app.set_queue(&[("worker", 0)]);
    // Idle for 1.2 s before zero.
    let worker = rig.run(
        "worker: max_dynos=5 jobs_per_dyno=50 idle_minutes_before_zero=0.02",
        &[],
    );
    assert!(
        rig.api.wait_for_process_quantity("worker", 0, SOON),
        "{}",
        worker.output()
    );
    expect_line(&worker, "reason=idle");
    rig.app.set_queue(&[("worker", 30)]);
    assert!(
        rig.api.wait_for_process_quantity("worker", 1, SOON),
        "{}",
        worker.output()
    );
    expect_line(&worker, "scaled worker from=0 to=1 reason=jobs_at_zero");
    let counts: Vec<u32> = rig
        .api
        .batch_patches()
        .iter()
        .flat_map(|batch| batch.iter().map(|(_, quantity)| *quantity))
        .collect();
    assert!(
        counts.windows(2).all(|pair| pair[0] != pair[1]),
        "{counts:?}"
    );
    assert_eq!(counts.last(), Some(&1), "{counts:?}");
    assert!(counts.contains(&0), "{counts:?}");
    stop_cleanly(worker);
}

#[test]
fn failed_readings_scale_nothing_and_are_logged_once_per_episode() {
    let rig = Rig::new(&[("worker", 3)]);
    rig.app.set_queue_body(QueueBody::Status(500));
    let worker = rig.run(
        "worker: max_dynos=5 jobs_per_dyno=50 idle_minutes_before_zero=0",
        &[],
    );
    // The reason is the first failure's: a 500, or a timeout on a machine slow enough to miss
    // the 0.27 s a reading gets at this interval.
    let line = expect_line(&worker, "queue reading failed for worker: ");
    assert!(
        line.contains("AUTOSCALE_QUEUE_URL=/hirefire/********"),
        "{line}"
    );
    // Readings fail every way a document can; none is an empty queue.
    for body in [
        QueueBody::NotJson,
        QueueBody::Huge,
        QueueBody::Json("[{\"name\": \"worker\", \"value\": -4}]".into()),
    ] {
        rig.app.set_queue_body(body);
        let hits = rig.app.queue_hits();
        assert!(support::wait_until(SOON, || rig.app.queue_hits() >= hits + 3));
    }
    assert_eq!(rig.api.batch_patches(), Vec::<Vec<(String, u32)>>::new());
    assert_eq!(rig.api.process_quantity("worker"), Some(3));
    assert_eq!(
        worker.count_lines("queue reading failed"),
        1,
        "{}",
        worker.output()
    );
    // A document in the older format works, and ends the episode.
    rig.app
        .set_queue_body(QueueBody::LegacyQuantity(vec![("worker".into(), 240)]));
    assert!(
        rig.api.wait_for_process_quantity("worker", 5, SOON),
        "{}",
        worker.output()
    );
    expect_line(&worker, "queue reading works again for worker after");
    stop_cleanly(worker);
}

#[test]
fn names_not_configured_and_types_missing_from_the_formation_are_reported_once() {
    let rig = Rig::new(&[("worker", 1)]);
    rig.app.set_queue(&[("worker", 10), ("mailer", 3)]);
    let worker = rig.run(
        "worker: max_dynos=5 jobs_per_dyno=50; urgentworker: max_dynos=2 jobs_per_dyno=5",
        &[],
    );
    expect_line(
        &worker,
        "names process types that are not configured: mailer",
    );
    expect_line(
        &worker,
        "process type urgentworker is not in the app's formation",
    );
    expect_line(&worker, "queue reading failed for urgentworker: ");
    let hits = rig.app.queue_hits();
    assert!(support::wait_until(SOON, || rig.app.queue_hits() >= hits + 4));
    let output = stop_cleanly(worker);
    assert_eq!(
        output.matches("not configured: mailer").count(),
        1,
        "{output}"
    );
    assert_eq!(
        output
            .matches("urgentworker is not in the app's formation")
            .count(),
        1
    );
}

/// The l2met lines of `output` about `source`, read back.
fn metrics_lines(output: &str, source: &str) -> Vec<heroku_autoscale::l2met::Line> {
    output
        .lines()
        .filter_map(heroku_autoscale::l2met::Line::parse)
        .filter(|line| line.source == source)
        .collect()
}

fn value(line: &heroku_autoscale::l2met::Line, name: &str) -> Option<f64> {
    line.metrics
        .iter()
        .find_map(|metric| (metric.name == name).then_some(metric.value))
}

#[test]
fn each_heartbeat_and_reading_writes_one_l2met_line_per_process_type_and_counts_the_scales() {
    let rig = Rig::new(&[("worker", 0)]);
    rig.app.set_latency(SLOW);
    rig.app.set_queue(&[("worker", 120)]);
    let worker = rig.run("worker: max_dynos=5 jobs_per_dyno=50", &[]);
    // At the max of 3 nothing more is scaled; a few beats later every call has been counted.
    assert!(rig.api.wait_for_quantity(3, SOON), "{}", worker.output());
    assert!(rig.api.wait_for_process_quantity("worker", 3, SOON));
    std::thread::sleep(Duration::from_millis(900));
    let output = stop_cleanly(worker);
    let beats = output
        .lines()
        .filter(|line| line.contains("DEBG heartbeat beat="))
        .count();
    let web = metrics_lines(&output, "acme-shop.web");
    // One line per heartbeat, the latency as a measure in ms, the verdict counted.
    assert_eq!(web.len(), beats, "{output}");
    for line in &web {
        let latency = line
            .metrics
            .iter()
            .find(|metric| metric.name == "autoscale.heartbeat.latency")
            .unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(latency.unit, "ms");
        assert!(latency.value >= 250.0, "{line:?}");
        assert_eq!(
            value(line, "autoscale.heartbeat.slow"),
            Some(1.0),
            "{line:?}"
        );
    }
    // The scale to 2 is counted once, in the line after it, and the dynos follow.
    let ups: f64 = web
        .iter()
        .filter_map(|line| value(line, "autoscale.web.scale_up"))
        .sum();
    let web_calls = rig.api.patches().len() as f64;
    assert_eq!(ups, web_calls, "{output}");
    assert_eq!(web_calls, 2.0, "{:?}", rig.api.patches());
    assert!(web
        .iter()
        .any(|line| value(line, "autoscale.web.dynos") == Some(2.0)));
    assert_eq!(
        web.last()
            .and_then(|line| value(line, "autoscale.web.dynos")),
        Some(3.0)
    );
    // The worker type: one line per reading, its jobs and its dynos, the batch counted.
    let queue = metrics_lines(&output, "acme-shop.worker");
    assert!(queue.len() >= 3, "{output}");
    assert!(queue
        .iter()
        .all(|line| value(line, "autoscale.worker.jobs") == Some(120.0)));
    let worker_ups: f64 = queue
        .iter()
        .filter_map(|line| value(line, "autoscale.worker.scale_up"))
        .sum();
    assert_eq!(worker_ups, 1.0, "{output}");
    assert_eq!(
        queue
            .last()
            .and_then(|line| value(line, "autoscale.worker.dynos")),
        Some(3.0)
    );
    // The line carries nothing after the metrics (no `, actor: ...` glued to a value).
    let raw = output
        .lines()
        .find(|line| line.contains("source=acme-shop.web"))
        .expect("a metrics line");
    assert!(!raw.contains("actor:"), "{raw}");

    // Off: not one line.
    let rig = Rig::new(&[("worker", 0)]);
    rig.app.set_queue(&[("worker", 0)]);
    let worker = rig.run(
        "worker: max_dynos=5 jobs_per_dyno=50",
        &[("AUTOSCALE_LOG_METRICS", "false")],
    );
    expect_line(&worker, "watching queue");
    std::thread::sleep(Duration::from_millis(900));
    let output = stop_cleanly(worker);
    assert!(!output.contains("source="), "{output}");
}
