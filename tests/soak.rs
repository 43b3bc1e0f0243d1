//! Soak: the real binary through many heartbeats at a short interval against the fakes, with
//! faults injected at random — seeded, so a run can be repeated — and the figures reported.
//!
//! The default is a short run for the quick suite (200 heartbeats, about 10 s, each fault held
//! for about half a second). The full run (from 2000 heartbeats on, each fault held for about a
//! second, and every actor made to panic now and then):
//!
//!     SOAK_HEARTBEATS=10000 cargo test --test soak -- --nocapture
//!
//! `SOAK_SEED` picks another sequence of faults (default 1). The figures are printed at the end
//! (`--nocapture` shows them on success too).
//!
//! What must hold however the faults fall: the worker never exits by itself, never sends a
//! PATCH outside [min, max] (nor one without a valid quantity), never has two PATCHes in flight,
//! stops with exit code 0 on SIGTERM, and its memory does not grow beyond noise.

mod support;

use std::time::{Duration, Instant};

use support::fake_app::AppBody;
use support::fake_heroku::Corruption;
use support::worker_process::MemoryKib;
use support::{Failure, FakeApp, FakeHeroku, WorkerProcess};

const KEY: &str = "soak-key-3e8d1a";
const APP: &str = "acme-shop";
const MIN: u32 = 1;
const MAX: u32 = 4;
/// A beat every 50 ms; slow above 40 ms (the interval must exceed the max response time).
const INTERVAL: Duration = Duration::from_millis(50);
const DEFAULT_HEARTBEATS: usize = 200;
/// From this many heartbeats on, the long run's panic schedule and fault lengths.
const LONG_RUN: usize = 2000;

/// Each actor panics at most twice in any 60 s (periods above 30 s), so the five together stay
/// within the restart limit of 10 a minute however the panics line up.
const PANICS_LONG: &str = "heartbeat:31,judge:33,controller:37,heroku_api:41,notifier:43";
/// For the short run (about 10 s): 4 panics, and at most 10 even if a loaded machine made the
/// run last twice as long.
const PANICS_SHORT: &str = "judge:4,heroku_api:6,controller:9";

/// The fault sequence: seeded, so a run can be repeated.
struct Rng(fastrand::Rng);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(self.0.u64(from..=to))
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Puts the app and the API back to normal at the end of a phase. Failures not used up are
/// dropped too: while the worker backs off, they would pile up and every request would meet
/// one, which tests the backoff (tests/faults.rs does) but nothing else.
fn calm(app: &FakeApp, api: &FakeHeroku, rng: &mut Rng) {
    // Fast, neutral or slow: the worker has something to scale for between faults.
    app.set_latency(
        [
            Duration::ZERO,
            Duration::from_millis(20),
            Duration::from_millis(80),
        ][rng.below(3) as usize],
    );
    app.set_status(200);
    app.set_body(AppBody::Short);
    api.set_delay(Duration::ZERO);
    api.set_patch_delay(Duration::ZERO);
    api.set_patch_quantity_override(None);
    api.clear_failures();
}

/// Injects one fault, picked at random; returns its name for the tally.
fn inject(app: &FakeApp, api: &FakeHeroku, rng: &mut Rng) -> &'static str {
    match rng.below(30) {
        0 => {
            app.set_latency(Duration::from_secs(3600));
            "app hangs"
        }
        1 => {
            app.set_status(500);
            "app 500"
        }
        2 => {
            app.set_status(503);
            "app 503"
        }
        3 | 4 => {
            app.set_status(404);
            "app 404"
        }
        5 => {
            app.set_body(AppBody::Endless);
            "app endless body"
        }
        6 | 7 => {
            api.fail_next(1 + rng.below(3) as usize, Failure::server_error());
            "api 500"
        }
        8 => {
            api.fail_next(1 + rng.below(3) as usize, Failure::service_unavailable());
            "api 503"
        }
        9 => {
            api.fail_next(1, Failure::rate_limited().with_header("Retry-After", "1"));
            "api 429"
        }
        10 => match rng.below(20) {
            // Rare on purpose: after a 401 the worker waits a minute before asking again, and
            // after a 422 on a scale-up it asks for no more dynos for an hour.
            0 => {
                api.fail_next(1, Failure::unauthorized());
                "api 401"
            }
            1 => {
                api.fail_patches_next(1, Failure::cannot_run_above_limit());
                "api 422"
            }
            _ => {
                api.fail_next(1, Failure::new(502, "bad_gateway", "Bad gateway."));
                "api 502"
            }
        },
        11 => {
            api.corrupt_next(1, Corruption::NotJson);
            "api not json"
        }
        12 => {
            api.corrupt_next(1, Corruption::WrongShape);
            "api wrong shape"
        }
        13 => {
            api.corrupt_next(1, Corruption::NegativeQuantity);
            "api negative quantity"
        }
        14 => {
            api.corrupt_next(1, Corruption::EndlessBody);
            "api endless body"
        }
        15 => {
            api.set_patch_delay(rng.millis(100, 2000));
            "api slow patch"
        }
        16 => {
            // Longer than the client's 10 s timeout only now and then.
            let hang = if rng.below(5) == 0 {
                Duration::from_secs(12)
            } else {
                rng.millis(200, 3000)
            };
            api.set_delay(hang);
            "api hangs"
        }
        17 => {
            api.set_quantity(rng.below(8) as u32);
            "manual scale"
        }
        18 => {
            api.set_patch_quantity_override(Some(rng.below(8) as u32));
            "api other quantity"
        }
        19..=23 => {
            app.set_latency(Duration::from_millis(80));
            "app slow"
        }
        24..=27 => {
            app.set_latency(Duration::ZERO);
            "app fast"
        }
        _ => {
            app.set_latency(Duration::from_millis(20));
            "app neutral"
        }
    }
}

#[test]
fn soak_with_random_faults() {
    let heartbeats = env_number("SOAK_HEARTBEATS", DEFAULT_HEARTBEATS as u64) as usize;
    let seed = env_number("SOAK_SEED", 1);
    let long_run = heartbeats >= LONG_RUN;
    let panics = if long_run { PANICS_LONG } else { PANICS_SHORT };
    // How long a fault is held, then the calm after it (ms).
    let (fault_ms, calm_ms) = if long_run {
        ((200, 1500), (0, 500))
    } else {
        ((100, 700), (0, 250))
    };
    let mut rng = Rng::new(seed);

    let (app, api) = support::fake_app_and_api(APP, KEY, 2);
    let interval = format!("{}", INTERVAL.as_secs_f64());
    let heartbeat_url = app.heartbeat_url();
    let api_url = api.url();
    let (min, max) = (MIN.to_string(), MAX.to_string());
    let env = [
        ("AUTOSCALE_HEROKU_APP_NAME", APP),
        ("AUTOSCALE_HEROKU_API_KEY", KEY),
        ("AUTOSCALE_HEROKU_API_URL", api_url.as_str()),
        ("AUTOSCALE_HEARTBEAT_URL", heartbeat_url.as_str()),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", interval.as_str()),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "40"),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "10"),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "3"),
        ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "5"),
        ("AUTOSCALE_MIN_DYNOS", min.as_str()),
        ("AUTOSCALE_MAX_DYNOS", max.as_str()),
        ("AUTOSCALE_FORMATION_REFRESH_IN_SECONDS", "1"),
        ("AUTOSCALE_LOG_LEVEL", "info"),
        ("HEROKU_AUTOSCALE_INJECT_PANICS", panics),
    ];
    let started = Instant::now();
    let mut worker = WorkerProcess::spawn(&["run"], &env);
    // Fixed-rate heartbeats finish on time; the slack is for a loaded machine.
    let deadline = started + INTERVAL * heartbeats as u32 * 3 + Duration::from_secs(60);

    let mut faults = 0usize;
    let mut tally: Vec<(&'static str, usize)> = Vec::new();
    let mut early: Option<MemoryKib> = None;
    while app.hits() < heartbeats {
        assert!(
            worker.is_running(),
            "the worker exited after {} heartbeats:\n{}",
            app.hits(),
            worker.output()
        );
        assert!(
            Instant::now() < deadline,
            "only {} of {heartbeats} heartbeats by the deadline",
            app.hits()
        );
        if early.is_none() && app.hits() >= heartbeats / 10 {
            early = worker.memory_kib();
        }
        let fault = inject(&app, &api, &mut rng);
        faults += 1;
        match tally.iter_mut().find(|(name, _)| *name == fault) {
            Some((_, count)) => *count += 1,
            None => tally.push((fault, 1)),
        }
        std::thread::sleep(rng.millis(fault_ms.0, fault_ms.1));
        calm(&app, &api, &mut rng);
        std::thread::sleep(rng.millis(calm_ms.0, calm_ms.1));
    }
    let end = worker.memory_kib();
    let elapsed = started.elapsed();
    worker.sigterm();
    let status = worker.wait_exit(Duration::from_secs(5));

    let patches = api.patches();
    let patch_requests = api
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    let out_of_bounds = patches.iter().filter(|q| !(MIN..=MAX).contains(q)).count()
        + (patch_requests - patches.len());
    let restarts = worker.count_lines("restarting actor=");
    let panicked = worker.count_lines("actor panicked");
    tally.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    let report = format!(
        "soak: seed={seed} interval_ms={} heartbeats={} in {:.1} s\n\
         soak: faults injected={faults} ({})\n\
         soak: actor panics={panicked} restarts={restarts} (hook {panics})\n\
         soak: scale calls={} applied={} out_of_bounds={out_of_bounds} max_concurrent={}\n\
         soak: api requests={} api failures logged={}\n\
         soak: memory early (at {} heartbeats) {:?} KiB, end {:?} KiB\n\
         soak: exit on SIGTERM {:?}",
        INTERVAL.as_millis(),
        app.hits(),
        elapsed.as_secs_f64(),
        tally
            .iter()
            .map(|(name, count)| format!("{name}: {count}"))
            .collect::<Vec<_>>()
            .join(", "),
        patches.len(),
        api.patches_applied().len(),
        api.max_concurrent_patches(),
        api.requests().len(),
        worker.count_lines("heroku api "),
        heartbeats / 10,
        early,
        end,
        status,
    );
    println!("{report}");

    assert!(
        status.is_some_and(|status| status.success()),
        "{report}\n{}",
        worker.output()
    );
    assert_eq!(out_of_bounds, 0, "{report}\n{patches:?}");
    assert!(api.max_concurrent_patches() <= 1, "{report}");
    assert!(!patches.is_empty(), "nothing was ever scaled:\n{report}");
    assert!(panicked >= 1 && restarts >= panicked, "{report}");
    assert!(!worker.output().contains(KEY));
    let (early, end) = (early.expect("early memory"), end.expect("end memory"));
    // Noise, not growth: allocator arenas settle within a few MiB.
    assert!(
        end.now <= early.now + early.now / 2 + 8 * 1024,
        "resident memory grew: {report}"
    );
    assert!(
        end.peak <= early.peak + early.peak / 2 + 8 * 1024,
        "peak memory grew: {report}"
    );
}
