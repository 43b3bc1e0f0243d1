//! Simulation speed and memory: `heroku-autoscale simulate` (the release-profile binary) on a
//! flat trace at 100 requests/s, four policies, for 6 and 24 hours of traffic. The goal: a day
//! (8.6 million requests) in under 10 s on 2 cores, with memory flat in the trace's length
//! (requests are streamed; latencies go into histograms). Then `tune --scenario daily` with
//! `AUTOSCALE_MAX_DYNOS=20`, whose goal is under a minute on 2 cores.
//!
//! Measured per run: the wall time from spawn to exit, and the peak resident set (`ru_maxrss`
//! of the finished child). `BENCH_SIMULATE_RUNS` sets the runs per length (default 3).
//! Run: `cargo bench --bench simulate`

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

const BINARY: &str = env!("CARGO_BIN_EXE_heroku-autoscale");
const RATE: f64 = 100.0;

fn main() {
    let runs: usize = std::env::var("BENCH_SIMULATE_RUNS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut rows = Vec::new();
    for hours in [6u32, 24] {
        let seconds = hours * 3600;
        let trace = dir.path().join(format!("flat-{hours}h.csv"));
        let csv = format!("seconds,requests_per_second\n0,{RATE}\n{seconds},{RATE}\n");
        std::fs::write(&trace, csv).expect("trace written");
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..runs {
            let (wall, peak_kib) = run(&["simulate", "--trace", &trace.display().to_string()], &[]);
            walls.push(wall);
            peaks.push(peak_kib as f64);
        }
        walls.sort_by(f64::total_cmp);
        peaks.sort_by(f64::total_cmp);
        rows.push(format!(
            "| {hours:>2} h | {:>4.1} M | {:>6.2} s | {:>6.2} s | {:>6.0} KiB |",
            RATE * f64::from(seconds) / 1e6,
            walls[walls.len() / 2],
            walls[walls.len() - 1],
            peaks[peaks.len() - 1],
        ));
    }
    println!("simulate, flat {RATE} req/s, 4 policies, {runs} runs per length\n");
    println!("| trace | requests | median wall | max wall | peak RSS |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }

    let mut walls = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let (wall, peak_kib) = run(
            &["tune", "--scenario", "daily"],
            &[("AUTOSCALE_MAX_DYNOS", "20")],
        );
        walls.push(wall);
        peak = peak.max(peak_kib);
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "\ntune --scenario daily (AUTOSCALE_MAX_DYNOS=20), {runs} runs: median wall {:.1} s, max \
         {:.1} s, peak RSS {peak} KiB",
        walls[walls.len() / 2],
        walls[walls.len() - 1],
    );
}

/// One run of the binary with `args` and only `env` set: its wall time in seconds and the
/// child's peak RSS in KiB (the largest of its threads' process, as `wait4` reports it).
// wait4 reaps the child, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str], env: &[(&str, &str)]) -> (f64, i64) {
    let started = Instant::now();
    let child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary runs");
    // wait4 rather than Child::wait: it also gives this child's own peak RSS.
    let mut raw_status = 0;
    // SAFETY: both pointers are to live locals that wait4 only writes.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut raw_status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let status = ExitStatus::from_raw(raw_status);
    assert!(status.success(), "{args:?} failed: {status}");
    (wall, usage.ru_maxrss)
}
