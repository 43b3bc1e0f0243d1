//! Beat timing: when each heartbeat reaches the app, compared with the schedule start + k·I.
//! Each probe takes a fixed share of the interval (the app answers after `BENCH_BEAT_LATENCY_MS`,
//! default 80 ms, of a 200 ms interval), so a schedule that counted from the end of each probe
//! would drift by that much per beat: 80 s over 1,000 beats.
//!
//! `BENCH_BEATS` beats (default 1000, 200 s). Run: `cargo bench --bench beat_timing`

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::time::Duration;

use common::{knob, max, mean, min, percentile, print_table, Rig};

const INTERVAL: Duration = Duration::from_millis(200);

fn main() {
    let beats: usize = knob("BENCH_BEATS", 1000);
    let latency = Duration::from_millis(knob("BENCH_BEAT_LATENCY_MS", 80));
    let rig = Rig::new(1);
    rig.app.set_latency(latency);
    let worker = rig.run(&[
        ("AUTOSCALE_HEARTBEAT_URL", rig.app.heartbeat_url()),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.2".into()),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "150".into()),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "20".into()),
    ]);
    let limit = INTERVAL * beats as u32 + Duration::from_secs(30);
    assert!(
        rig.app.wait_for_hits(beats, limit),
        "fewer than {beats} beats; worker output:\n{}",
        worker.output()
    );
    drop(worker);
    let times = &rig.app.hit_times()[..beats];

    // Offset of beat k from start + k·I, start being the first beat's arrival, in ms.
    let offsets: Vec<f64> = times
        .iter()
        .enumerate()
        .map(|(k, at)| {
            let elapsed = at.duration_since(times[0]).as_secs_f64();
            (elapsed - k as f64 * INTERVAL.as_secs_f64()) * 1000.0
        })
        .collect();
    let late: Vec<f64> = offsets[1..].to_vec();
    let absolute: Vec<f64> = late.iter().map(|offset| offset.abs()).collect();
    // Least-squares slope of offset over k: the drift per beat, in µs.
    let n = offsets.len() as f64;
    let k_mean = (n - 1.0) / 2.0;
    let o_mean = mean(&offsets);
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (k, offset) in offsets.iter().enumerate() {
        covariance += (k as f64 - k_mean) * (offset - o_mean);
        variance += (k as f64 - k_mean).powi(2);
    }
    let slope_us = covariance / variance * 1000.0;
    let last_tenth = &late[late.len() - late.len() / 10..];
    let first_tenth = &late[..late.len() / 10];

    println!();
    print_table(
        &["figure", "measured"],
        &[
            vec!["beats".into(), beats.to_string()],
            vec![
                "interval; probe time".into(),
                format!("{} ms; {} ms", INTERVAL.as_millis(), latency.as_millis()),
            ],
            vec![
                "offset from start + k·I, median".into(),
                format!("{:+.2} ms", percentile(&late, 50.0)),
            ],
            vec![
                "offset, min / max".into(),
                format!("{:+.2} ms / {:+.2} ms", min(&late), max(&late)),
            ],
            vec![
                "size of the offset, p99 / max".into(),
                format!(
                    "{:.2} ms / {:.2} ms",
                    percentile(&absolute, 99.0),
                    max(&absolute)
                ),
            ],
            vec![
                "mean offset, first / last 10 % of beats".into(),
                format!("{:+.2} ms / {:+.2} ms", mean(first_tenth), mean(last_tenth)),
            ],
            vec![
                "offset of the last beat".into(),
                format!("{:+.2} ms", offsets[beats - 1]),
            ],
            vec![
                "drift (least-squares slope)".into(),
                format!(
                    "{slope_us:+.3} µs per beat ({:+.2} ms over {beats} beats)",
                    slope_us * (beats - 1) as f64 / 1000.0
                ),
            ],
        ],
    );
}
