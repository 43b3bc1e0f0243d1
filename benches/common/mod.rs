//! Shared by the benchmarks: knobs read from the environment, a rig of fakes on 127.0.0.1 with the
//! environment that points the real binary at them, small statistics, and /proc readers.
//!
//! Each bench is its own crate and uses only part of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

use crate::support::{FakeApp, FakeHeroku, WorkerProcess};

pub const APP: &str = "acme-shop";
pub const KEY: &str = "bench-secret-key-5d1e";

/// A knob: the environment variable `name` parsed as `T`, or `default` when unset.
/// A value that does not parse stops the bench with a message (a typo must not pass silently).
pub fn knob<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a valid value")),
        Err(_) => default,
    }
}

/// A fake app and a fake Heroku API for `acme-shop` (process type `web`) on 127.0.0.1.
pub struct Rig {
    pub app: FakeApp,
    pub api: FakeHeroku,
}

impl Rig {
    pub fn new(initial_quantity: u32) -> Rig {
        let (app, api) = crate::support::fake_app_and_api(APP, KEY, initial_quantity);
        Rig { app, api }
    }

    /// Starts the real release-profile binary (`run`) against the fakes; `settings` are the
    /// `AUTOSCALE_*` variables besides the app name, key and API URL.
    pub fn run(&self, settings: &[(&str, String)]) -> WorkerProcess {
        let api_url = self.api.url();
        let mut env: Vec<(&str, &str)> = vec![
            ("AUTOSCALE_HEROKU_APP_NAME", APP),
            ("AUTOSCALE_HEROKU_API_KEY", KEY),
            ("AUTOSCALE_HEROKU_API_URL", &api_url),
        ];
        env.extend(settings.iter().map(|(k, v)| (*k, v.as_str())));
        WorkerProcess::spawn(&["run"], &env)
    }

    /// When each PATCH reached the fake API, in order.
    pub fn patch_times(&self) -> Vec<std::time::Instant> {
        self.api
            .requests()
            .into_iter()
            .filter(|request| request.method == "PATCH")
            .map(|request| request.at)
            .collect()
    }
}

/// Milliseconds, for printing.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The `p`-th percentile (0..=100, nearest rank) of `values`; `values` need not be sorted.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    assert!(!values.is_empty(), "percentile of nothing");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

pub fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Prints a table: a header row, then rows, columns padded to their widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.iter().map(|cell| cell.to_string()).collect());
    line(widths.iter().map(|width| "-".repeat(*width)).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Reads from /proc what a process has cost so far.
pub mod proc {
    use std::fs;

    /// Resident memory of a process, in KiB (from `/proc/PID/status`).
    pub struct Memory {
        /// `VmHWM`: the peak resident set.
        pub peak: u64,
        /// `VmRSS`: the resident set now.
        pub now: u64,
        /// `RssAnon`: heap, stacks and other private memory, now.
        pub anon: u64,
        /// `RssFile`: pages of mapped files (the binary, libc), now.
        pub file: u64,
    }

    pub fn memory_kib(pid: u32) -> Memory {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        };
        Memory {
            peak: field("VmHWM:"),
            now: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }

    /// The ids of the process's threads.
    fn tasks(pid: u32) -> Vec<String> {
        fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap_or_else(|e| panic!("reading /proc/{pid}/task: {e}"))
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    }

    pub fn thread_count(pid: u32) -> usize {
        tasks(pid).len()
    }

    /// CPU time of all threads, in nanoseconds (the scheduler's own account, `schedstat`,
    /// which is exact where `utime`/`stime` count 10 ms ticks), and how many times they were
    /// switched in (each wake-up from a sleep is one).
    pub fn cpu_ns_and_switches(pid: u32) -> (u64, u64) {
        let (mut ns, mut switches) = (0, 0);
        for task in tasks(pid) {
            // A thread may end between the listing and the read: skip it.
            if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/task/{task}/schedstat")) {
                let mut fields = stat
                    .split_whitespace()
                    .map(|f| f.parse::<u64>().unwrap_or(0));
                ns += fields.next().unwrap_or(0);
                // Fields: time on CPU, time waiting to run, number of times run.
                switches += fields.nth(1).unwrap_or(0);
            }
        }
        (ns, switches)
    }

    /// `utime + stime` of the whole process, in milliseconds (from clock ticks).
    pub fn utime_stime_ms(pid: u32) -> f64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_else(|e| panic!("reading /proc/{pid}/stat: {e}"));
        // The command name may hold spaces: fields are counted after its closing parenthesis.
        let after = &stat[stat.rfind(')').expect("a /proc stat line") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // After the name, utime and stime are the 12th and 13th fields (14 and 15 overall).
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 * 1000.0 / clock_ticks_per_second()
    }

    fn clock_ticks_per_second() -> f64 {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    }
}
