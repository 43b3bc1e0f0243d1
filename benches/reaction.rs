//! Reaction time: from the first slow (or fast) heartbeat reaching the app to the scale PATCH
//! reaching the Heroku API, with the real release binary against the fakes on 127.0.0.1.
//!
//! The floor for scaling up is (N−1)·I + M: the N-th slow beat starts (N−1)·I after the first
//! and cannot be judged before its max response time M has passed. For scaling down it is
//! (P−1)·I plus the P-th probe's own time (under a millisecond here, so the floor is taken as
//! (P−1)·I and the probe's time counts in the overhead). Goal: within 5 % + 10 ms of the floor.
//!
//! Two configurations, each alternating scale-ups (1 → 2 dynos) and scale-downs (2 → 1):
//! - I = 0.2 s, M = 100 ms, N = 3, P = 5; `BENCH_REACTION_TRIALS` cycles (default 20);
//! - the defaults, I = 30 s, M = 1000 ms, N = 3, P = 5, in real time (no fake clock):
//!   `BENCH_REACTION_LONG_TRIALS` cycles (default 1, about 4 minutes; 0 skips it).
//!
//! Run: `cargo bench --bench reaction`

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, Instant};

use common::{knob, max, min, ms, percentile, print_table, Rig};

/// The app's answer for a slow beat: far beyond M, so each slow probe times out at exactly M.
const HANG: Duration = Duration::from_secs(3600);

struct Config {
    name: &'static str,
    interval: Duration,
    max_response: Duration,
    min_response: Duration,
    fails: u32,
    passes: u32,
    trials: usize,
}

impl Config {
    fn floor_up(&self) -> Duration {
        self.interval * (self.fails - 1) + self.max_response
    }

    fn floor_down(&self) -> Duration {
        self.interval * (self.passes - 1)
    }

    fn settings(&self, app: &support::FakeApp) -> Vec<(&'static str, String)> {
        vec![
            ("AUTOSCALE_HEARTBEAT_URL", app.heartbeat_url()),
            (
                "AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS",
                self.interval.as_secs_f64().to_string(),
            ),
            (
                "AUTOSCALE_MAX_RESPONSE_TIME_IN_MS",
                self.max_response.as_millis().to_string(),
            ),
            (
                "AUTOSCALE_MIN_RESPONSE_TIME_IN_MS",
                self.min_response.as_millis().to_string(),
            ),
            (
                "AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER",
                self.fails.to_string(),
            ),
            (
                "AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER",
                self.passes.to_string(),
            ),
            ("AUTOSCALE_MIN_DYNOS", "1".into()),
            ("AUTOSCALE_MAX_DYNOS", "2".into()),
        ]
    }
}

/// Reaction times of one configuration, scale-ups and scale-downs.
struct Measured {
    up: Vec<Duration>,
    down: Vec<Duration>,
}

fn main() {
    let short = Config {
        name: "I=0.2s M=100ms N=3 P=5",
        interval: Duration::from_millis(200),
        max_response: Duration::from_millis(100),
        min_response: Duration::from_millis(50),
        fails: 3,
        passes: 5,
        trials: knob("BENCH_REACTION_TRIALS", 20),
    };
    let long = Config {
        name: "I=30s M=1000ms N=3 P=5",
        interval: Duration::from_secs(30),
        max_response: Duration::from_millis(1000),
        min_response: Duration::from_millis(200),
        fails: 3,
        passes: 5,
        trials: knob("BENCH_REACTION_LONG_TRIALS", 1),
    };
    let mut rows = Vec::new();
    for config in [short, long] {
        if config.trials == 0 {
            eprintln!("skipping {} (0 trials)", config.name);
            continue;
        }
        eprintln!("measuring {} ({} cycles)", config.name, config.trials);
        let measured = measure(&config);
        rows.push(row(&config, "scale up", config.floor_up(), &measured.up));
        rows.push(row(
            &config,
            "scale down",
            config.floor_down(),
            &measured.down,
        ));
    }
    println!();
    print_table(
        &[
            "configuration",
            "direction",
            "floor ms",
            "goal ms",
            "min ms",
            "median ms",
            "max ms",
            "over floor (max) ms",
            "trials",
            "goal met",
        ],
        &rows,
    );
}

fn row(config: &Config, direction: &str, floor: Duration, measured: &[Duration]) -> Vec<String> {
    let floor = ms(floor);
    let goal = floor * 1.05 + 10.0;
    let values: Vec<f64> = measured.iter().map(|d| ms(*d)).collect();
    vec![
        config.name.to_string(),
        direction.to_string(),
        format!("{floor:.0}"),
        format!("{goal:.0}"),
        format!("{:.1}", min(&values)),
        format!("{:.1}", percentile(&values, 50.0)),
        format!("{:.1}", max(&values)),
        format!("{:+.1}", max(&values) - floor),
        values.len().to_string(),
        if max(&values) <= goal { "yes" } else { "no" }.to_string(),
    ]
}

fn measure(config: &Config) -> Measured {
    let rig = Rig::new(1);
    // Fast beats at the minimum: nothing to do until the first slow beat.
    rig.app.set_latency(Duration::ZERO);
    let worker = rig.run(&config.settings(&rig.app));
    let beat_wait = config.interval * 3 + Duration::from_secs(5);
    assert!(
        rig.app.wait_for_hits(2, beat_wait),
        "no heartbeats; worker output:\n{}",
        worker.output()
    );
    let mut measured = Measured {
        up: Vec::new(),
        down: Vec::new(),
    };
    let mut quantity = 1;
    while measured.down.len() < config.trials {
        let (latency, floor) = if quantity == 1 {
            (HANG, config.floor_up())
        } else {
            (Duration::ZERO, config.floor_down())
        };
        let Some(first) = switch_after_next_beat(&rig, latency, beat_wait) else {
            eprintln!("  a beat arrived while switching the latency; trial repeated");
            continue;
        };
        let patches = rig.patch_times().len();
        let limit = floor + config.interval * 2 + Duration::from_secs(10);
        assert!(
            rig.api.wait_for_patches(patches + 1, limit),
            "no scale call within {limit:?}; worker output:\n{}",
            worker.output()
        );
        let patched_at = rig.patch_times()[patches];
        let reaction = patched_at.duration_since(first);
        let to = *rig.api.patches().last().expect("a PATCH");
        assert_eq!(to, 3 - quantity, "scaled {quantity} → {to}");
        eprintln!(
            "  {quantity} → {to}: {:.1} ms (floor {:.0} ms)",
            ms(reaction),
            ms(floor)
        );
        if quantity == 1 {
            measured.up.push(reaction);
        } else {
            measured.down.push(reaction);
        }
        quantity = to;
    }
    measured
}

/// Waits for the next heartbeat to arrive, then sets the app's latency so that the beat after it
/// is the first with the new latency; returns when that beat arrived. `None` when another beat
/// slipped in while switching (then which beat is first is not known exactly).
fn switch_after_next_beat(rig: &Rig, latency: Duration, limit: Duration) -> Option<Instant> {
    let seen = rig.app.hits();
    assert!(
        rig.app.wait_for_hits(seen + 1, limit),
        "the heartbeats stopped"
    );
    let before = rig.app.hits();
    // The fake reads the latency under the same lock that records a hit: every hit counted
    // before this call got the old latency; if the count did not move meanwhile, hit number
    // `before` is the first with the new one.
    rig.app.set_latency(latency);
    if rig.app.hits() != before {
        return None;
    }
    assert!(
        rig.app.wait_for_hits(before + 1, limit),
        "the heartbeats stopped"
    );
    Some(rig.app.hit_times()[before])
}
