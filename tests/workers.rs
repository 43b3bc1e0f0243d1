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
