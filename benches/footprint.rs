//! Footprint: what the worker costs while it runs, from /proc, with the real release binary
//! beating once a second (I = 1 s) against the fakes on 127.0.0.1, at the default log level.
//! The app answers at once, at the minimum of 1 dyno: the steady state of a quiet app (max
//! response time 500 ms, since it must be below the interval).
//!
//! - peak RSS (`VmHWM`) over the whole run; goal under 10 MB;
//! - CPU time per heartbeat, all threads, from the scheduler's `schedstat` (nanoseconds) counted
//!   after a warm-up of 5 beats, and from `utime + stime` over the whole run; goal under 0.5 ms;
//! - between heartbeats: the CPU time used and the times a thread was switched in, in a window
//!   from 250 ms after each beat reached the app (the beat's own work is over by then) to 50 ms
//!   before the next; goal: none (no busy polling).
//!
//! `BENCH_FOOTPRINT_SECONDS` sets the run's length (default 600, the figure in the docs);
//! `BENCH_FOOTPRINT_INTERVAL_S` the interval (default 1; the window then ends 50 ms before the
//! next beat); `BENCH_FOOTPRINT_FORMATION_REFRESH_S` the formation refresh (default: the worker's
//! own default, 60 s), to tell the cost of the periodic formation read from the heartbeat's.
//! Run: `cargo bench --bench footprint`

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, Instant};

use common::{knob, percentile, print_table, proc, Rig};

const WARM_UP_BEATS: usize = 5;
const WINDOW_START: Duration = Duration::from_millis(250);
/// How long before the next beat the window ends.
const WINDOW_END_BEFORE_NEXT: Duration = Duration::from_millis(50);

fn main() {
    let seconds: u64 = knob("BENCH_FOOTPRINT_SECONDS", 600);
    let interval = Duration::from_secs_f64(knob("BENCH_FOOTPRINT_INTERVAL_S", 1.0));
    let window_end = interval - WINDOW_END_BEFORE_NEXT;
    assert!(
        window_end > WINDOW_START,
        "the interval is too short for the window"
    );
    // Must be below the interval; the default of 1000 ms is not at I = 1 s.
    let max_response = Duration::from_millis(500).min(interval / 2);
    let rig = Rig::new(1);
    let mut settings = vec![];
    if let Ok(refresh) = std::env::var("BENCH_FOOTPRINT_FORMATION_REFRESH_S") {
        settings.push(("AUTOSCALE_FORMATION_REFRESH_IN_SECONDS", refresh));
    }
    settings.extend([
        ("AUTOSCALE_HEARTBEAT_URL", rig.app.heartbeat_url()),
        (
            "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS",
            interval.as_secs_f64().to_string(),
        ),
        (
            "AUTOSCALE_MAX_RESPONSE_TIME_IN_MS",
            max_response.as_millis().to_string(),
        ),
    ]);
    let worker = rig.run(&settings);
    let pid = worker.pid();
    let beat_wait = interval + Duration::from_secs(5);
    assert!(
        rig.app
            .wait_for_hits(WARM_UP_BEATS, interval * WARM_UP_BEATS as u32 + beat_wait),
        "no heartbeats; worker output:\n{}",
        worker.output()
    );
    let started = Instant::now();
    let beats_at_start = rig.app.hits();
    let (cpu_at_start, _) = proc::cpu_ns_and_switches(pid);

    // Between beats: CPU and switch-ins inside each window, summed.
    let (mut windows, mut quiet_windows) = (0u64, 0u64);
    let (mut window_ns, mut window_switches) = (0u64, 0u64);
    // Around each beat: CPU from the end of the previous window to the start of this one. The
    // median is robust to the odd beat that ran on a cold or contended machine.
    let mut around_beat_ns: Vec<u64> = Vec::new();
    let mut previous_window_end: Option<u64> = None;
    let mut seen = beats_at_start;
    while started.elapsed() < Duration::from_secs(seconds) {
        if !rig.app.wait_for_hits(seen + 1, beat_wait) {
            panic!(
                "the heartbeats stopped; worker output:\n{}",
                worker.output()
            );
        }
        seen = rig.app.hits();
        let beat = rig.app.hit_times()[seen - 1];
        sleep_until(beat + WINDOW_START);
        let (ns_a, sw_a) = proc::cpu_ns_and_switches(pid);
        if let Some(previous) = previous_window_end.take() {
            around_beat_ns.push(ns_a - previous);
        }
        sleep_until(beat + window_end);
        let (ns_b, sw_b) = proc::cpu_ns_and_switches(pid);
        // A beat that arrived meanwhile would spoil the window: only count clean ones.
        if rig.app.hits() == seen {
            windows += 1;
            window_ns += ns_b - ns_a;
            window_switches += sw_b - sw_a;
            quiet_windows += u64::from(sw_b == sw_a);
            previous_window_end = Some(ns_b);
        }
    }
    let beats = rig.app.hits() - beats_at_start;
    let (cpu_at_end, _) = proc::cpu_ns_and_switches(pid);
    let memory = proc::memory_kib(pid);
    let ticks_ms = proc::utime_stime_ms(pid);
    let total_beats = rig.app.hits();
    let threads = proc::thread_count(pid);
    let api_requests = rig.api.requests().len();
    drop(worker);

    let per_beat_us = (cpu_at_end - cpu_at_start) as f64 / beats as f64 / 1000.0;
    let mut around_us: Vec<f64> = around_beat_ns
        .iter()
        .map(|ns| *ns as f64 / 1000.0)
        .collect();
    if around_us.is_empty() {
        around_us.push(f64::NAN); // a run too short for two clean windows
    }
    let window_ms = (window_end - WINDOW_START).as_millis();
    println!();
    print_table(
        &["figure", "measured"],
        &[
            vec![
                "run".into(),
                format!(
                    "{:.0} s at I = {} s, {total_beats} heartbeats, {api_requests} API requests",
                    started.elapsed().as_secs_f64()
                        + interval.as_secs_f64() * WARM_UP_BEATS as f64,
                    interval.as_secs_f64()
                ),
            ],
            vec![
                "peak RSS (VmHWM)".into(),
                format!("{} KiB ({:.2} MiB)", memory.peak, memory.peak as f64 / 1024.0),
            ],
            vec![
                "RSS at the end (VmRSS)".into(),
                format!(
                    "{} KiB: {} KiB private (RssAnon), {} KiB mapped files (RssFile)",
                    memory.now, memory.anon, memory.file
                ),
            ],
            vec!["threads".into(), threads.to_string()],
            vec![
                "CPU per heartbeat (schedstat)".into(),
                format!("{per_beat_us:.0} µs over {beats} beats after warm-up"),
            ],
            vec![
                "CPU around each beat (schedstat)".into(),
                format!(
                    "median {:.0} µs, max {:.0} µs over {} beats ({} ms before to {} ms after \
                     each beat; a formation read counts where it falls)",
                    percentile(&around_us, 50.0),
                    percentile(&around_us, 100.0),
                    around_us.len(),
                    WINDOW_END_BEFORE_NEXT.as_millis(),
                    WINDOW_START.as_millis()
                ),
            ],
            vec![
                "CPU per heartbeat (utime+stime)".into(),
                format!(
                    "{:.0} µs ({ticks_ms:.0} ms in 10 ms ticks over {total_beats} beats, start-up included)",
                    ticks_ms * 1000.0 / total_beats as f64
                ),
            ],
            vec![
                format!("between beats ({window_ms} ms windows)"),
                format!(
                    "{windows} windows: {quiet_windows} without any wake-up; {window_switches} \
                     wake-ups, {:.1} µs CPU in all",
                    window_ns as f64 / 1000.0
                ),
            ],
            vec![
                "between beats, per second".into(),
                format!(
                    "{:.2} wake-ups/s, {:.2} µs CPU/s",
                    window_switches as f64 * 1000.0 / (windows as f64 * window_ms as f64),
                    window_ns as f64 / (windows as f64 * window_ms as f64)
                ),
            ],
        ],
    );
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}
