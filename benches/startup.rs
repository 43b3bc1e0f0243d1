//! From process start to the first heartbeat: the real release binary is spawned and the clock
//! stops when the fake app receives its first heartbeat. The heartbeat URL is the default
//! relative path, so the worker must load its settings and read the app's `web_url` from the
//! (fake) Heroku API before it can send the beat; it also reads the formation at start.
//! Goal: under 50 ms.
//!
//! `BENCH_STARTUP_TRIALS` starts (default 30). Run: `cargo bench --bench startup`

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, Instant};

use common::{knob, max, ms, percentile, print_table, Rig};

fn main() {
    let trials: usize = knob("BENCH_STARTUP_TRIALS", 30);
    let rig = Rig::new(1);
    let settings = [("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "30".to_string())];
    let (mut to_app_read, mut to_beat) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let hits = rig.app.hits();
        let requests = rig.api.requests().len();
        let started = Instant::now();
        let worker = rig.run(&settings);
        assert!(
            rig.app.wait_for_hits(hits + 1, Duration::from_secs(10)),
            "no heartbeat; worker output:\n{}",
            worker.output()
        );
        let beat = rig.app.hit_times()[hits];
        let app_read = rig.api.requests()[requests..]
            .iter()
            .find(|request| request.method == "GET" && !request.path.contains("/formation"))
            .map(|request| request.at)
            .expect("the worker read the app before its first heartbeat");
        to_app_read.push(ms(app_read.duration_since(started)));
        to_beat.push(ms(beat.duration_since(started)));
        eprintln!(
            "  start {trial}: app read at {:.1} ms, first heartbeat at {:.1} ms",
            to_app_read[trial], to_beat[trial]
        );
        // Dropping the worker kills it (SIGKILL) and reaps it.
        drop(worker);
    }
    println!();
    let row = |name: &str, values: &[f64]| {
        vec![
            name.to_string(),
            format!("{:.1}", percentile(values, 50.0)),
            format!("{:.1}", percentile(values, 90.0)),
            format!("{:.1}", max(values)),
        ]
    };
    print_table(
        &["from process start to", "median ms", "p90 ms", "max ms"],
        &[
            row("GET /apps/{app} at the API", &to_app_read),
            row("first heartbeat at the app", &to_beat),
        ],
    );
    println!(
        "\n{trials} starts; goal: first heartbeat under 50 ms: {}",
        if max(&to_beat) < 50.0 {
            "met (every start)"
        } else if percentile(&to_beat, 50.0) < 50.0 {
            "met by the median, not by every start"
        } else {
            "missed"
        }
    );
}
