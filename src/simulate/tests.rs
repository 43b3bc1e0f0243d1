//! The model against closed forms, and the whole run against what the decision code predicts.

use std::time::Duration;

use super::arrivals::Arrivals;
use super::demand::mean_wait;
use super::queue::{Fleet, Outcome};
use super::report::{self, Report};
use super::trace::{Trace, TracePoint};
use super::*;
use crate::settings::{load, DynoLimit, Mode, SettingsSource};
use crate::Settings;

fn steady(rate: f64, seconds: f64) -> Vec<TracePoint> {
    let point = |seconds| TracePoint {
        seconds,
        requests_per_second: rate,
        service_ms: None,
    };
    vec![point(0.0), point(seconds)]
}

/// The mean time in queue over a steady run of `requests` arrivals spread over `dynos`.
fn measured_mean_wait(dynos: u32, concurrency: u32, rate: f64, requests: f64) -> f64 {
    let points = steady(rate, requests / rate);
    let mut fleet = Fleet::new(dynos, concurrency, 0.0);
    let (mut waited, mut served) = (0.0, 0u64);
    for request in Arrivals::new(&points, 100.0, 1) {
        if let Outcome::Answered(latency) = fleet.route(request.at, request.service, request.pick) {
            waited += latency - request.service;
            served += 1;
        }
    }
    waited / served as f64
}

fn assert_within_3_percent(measured: f64, formula: f64, case: &str) {
    let error = (measured - formula).abs() / formula;
    assert!(
        error <= 0.03,
        "{case}: measured mean wait {measured:.5} s, formula {formula:.5} s ({:.1} % off)",
        error * 100.0
    );
}

#[test]
fn one_dyno_serving_one_at_a_time_is_an_mm1_queue() {
    for utilisation in [0.5, 0.8] {
        let rate = utilisation * 10.0;
        let measured = measured_mean_wait(1, 1, rate, 2_000_000.0);
        let formula = mean_wait(1, rate, 0.1);
        assert_within_3_percent(measured, formula, &format!("M/M/1 at {utilisation}"));
    }
}

#[test]
fn one_dyno_serving_five_at_once_is_an_mmc_queue_with_erlang_c_waits() {
    for utilisation in [0.5, 0.8] {
        let rate = utilisation * 50.0;
        let measured = measured_mean_wait(1, 5, rate, 2_000_000.0);
        let formula = mean_wait(5, rate, 0.1);
        assert_within_3_percent(measured, formula, &format!("M/M/5 at {utilisation}"));
    }
}

#[test]
fn dynos_behind_random_routing_are_independent_queues_at_their_share_of_the_rate() {
    // Three dynos at 0.8: each an M/M/4 queue at a third of the rate.
    let rate = 3.0 * 0.8 * 40.0;
    let measured = measured_mean_wait(3, 4, rate, 3_000_000.0);
    let formula = mean_wait(4, rate / 3.0, 0.1);
    assert_within_3_percent(measured, formula, "3 × M/M/4 at 0.8");
}

fn settings(vars: &[(&str, &str)]) -> Settings {
    let mut source = SettingsSource::from_vars(vars.iter().copied());
    source.mode = Mode::Simulation;
    load(&source).expect("valid settings").settings
}

fn scale_calls(result: &RunResult, policy: PolicyName) -> Vec<(f64, u32)> {
    result
        .chart
        .policies
        .iter()
        .find(|series| series.name == policy.label())
        .expect("every policy has a series")
        .scale_calls
        .clone()
}

#[test]
fn the_simulated_worker_scales_as_the_controller_rules_say() {
    // Far more traffic than 5 dynos carry: every heartbeat times out at the max response time.
    // For `seed`, each streak of `fails` slow beats adds one dyno, and the streak starts afresh.
    let trace = Trace::from_points("overload", steady(2000.0, 600.0)).expect("valid");
    let model = Model {
        start_dynos: Some(1),
        ..Model::default()
    };
    for fails in [3u32, 2] {
        let fails_text = fails.to_string();
        let settings = settings(&[
            ("AUTOSCALE_MAX_DYNOS", "5"),
            (
                "AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER",
                fails_text.as_str(),
            ),
        ]);
        let result = run(&trace, &model, &settings).expect("runs");
        let interval = settings.heartbeat_interval.as_secs_f64();
        let timeout = settings.max_response_time.as_secs_f64();
        // The first beat, at 0, finds the dyno idle (fast); every later one times out. So the
        // k-th scale comes with the timeout of beat k·fails (counting from 0), to 1 + k dynos.
        let expected: Vec<(f64, u32)> = (1..=4)
            .map(|k| ((k * fails) as f64 * interval + timeout, 1 + k))
            .filter(|(at, _)| *at < 600.0)
            .collect();
        assert_eq!(
            scale_calls(&result, PolicyName::Seed),
            expected,
            "fails={fails}"
        );
        // `autoscaler` makes the same first step. Then beats count again only once the dyno
        // list shows the new dynos up (45 s boot: the first beat after the scale finds them
        // starting, the second finds them up and counts as the first of `fails`), and each
        // step that did not help doubles the next, at most doubling the count: 1 → 2 → 4 → 5.
        let first = expected[0].0;
        let step = (fails + 1) as f64 * interval;
        let autoscaler = [(first, 2), (first + step, 4), (first + 2.0 * step, 5)];
        assert_eq!(
            scale_calls(&result, PolicyName::Autoscaler),
            autoscaler,
            "fails={fails}"
        );
    }
}

#[test]
fn the_simulated_worker_scales_down_by_the_increment_after_the_passes() {
    // No traffic: every heartbeat is fast (its own 5 ms). From 5 dynos, each streak of
    // `passes` fast beats removes `increment` dynos, down to the min.
    let trace = Trace::from_points("idle", steady(0.0, 600.0)).expect("valid");
    let model = Model {
        start_dynos: Some(5),
        ..Model::default()
    };
    for (passes, increment, expected) in [
        ("5", "2", vec![(120.005, 3), (270.005, 1)]),
        (
            "3",
            "1",
            vec![(60.005, 4), (150.005, 3), (240.005, 2), (330.005, 1)],
        ),
    ] {
        let settings = settings(&[
            ("AUTOSCALE_MAX_DYNOS", "5"),
            ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", passes),
            ("AUTOSCALE_INCREMENT", increment),
        ]);
        let result = run(&trace, &model, &settings).expect("runs");
        let calls = scale_calls(&result, PolicyName::Autoscaler);
        let close = calls.len() == expected.len()
            && calls
                .iter()
                .zip(&expected)
                .all(|(call, want)| (call.0 - want.0).abs() < 1e-6 && call.1 == want.1);
        assert!(close, "passes={passes} increment={increment}: {calls:?}");
    }
}

#[test]
fn the_oracle_asks_for_each_dyno_a_boot_time_before_it_is_needed() {
    // 30 req/s (1 dyno), then 100 req/s (3 dynos) from 600 s.
    let point = |seconds, rate| TracePoint {
        seconds,
        requests_per_second: rate,
        service_ms: None,
    };
    let trace = Trace::from_points(
        "step",
        vec![
            point(0.0, 30.0),
            point(599.0, 30.0),
            point(600.0, 100.0),
            point(1200.0, 100.0),
        ],
    )
    .expect("valid");
    let settings = settings(&[("AUTOSCALE_MAX_DYNOS", "10")]);
    let result = run(&trace, &Model::default(), &settings).expect("runs");
    // Within the second from 599 s the rate rises to 3 dynos' worth, so that second's demand
    // is 3: both dynos are asked for at once, a boot time before it.
    let calls = scale_calls(&result, PolicyName::Oracle);
    assert_eq!(calls, [(554.0, 3)]);
    let oracle = &result.policies[2].1;
    assert_eq!((oracle.theta_u, oracle.tau_u), (0.0, 0.0));
    // Fixed-max runs 10 dynos throughout and never calls.
    let fixed = &result.policies[3].1;
    assert_eq!(
        (fixed.max_dynos, fixed.scale_ups, fixed.dyno_hours),
        (10, 0, 3.333)
    );
}

#[test]
fn the_same_seed_gives_the_same_json_and_another_seed_does_not() {
    let trace = scenarios::find("spike").expect("built in").trace();
    let settings = settings(&[("AUTOSCALE_MAX_DYNOS", "20")]);
    let json = |seed| {
        let model = Model {
            seed,
            ..Model::default()
        };
        let result = run(&trace, &model, &settings).expect("runs");
        Report::new(&trace, &model, &settings, &result).to_json()
    };
    let first = json(1);
    assert_eq!(first, json(1));
    assert_ne!(first, json(2));
    // The policies in the table's order.
    let at = |policy: PolicyName| first.find(&format!("\"{}\": {{", policy.label()));
    let places: Vec<Option<usize>> = PolicyName::ALL.into_iter().map(at).collect();
    assert!(places.iter().all(Option::is_some), "{places:?}");
    assert!(
        places.windows(2).all(|pair| pair[0] < pair[1]),
        "{places:?}"
    );
    let document: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    for section in ["trace", "model", "settings"] {
        assert!(document[section].is_object(), "{section}");
    }
    for policy in PolicyName::ALL {
        let figures = &document["policies"][policy.label()];
        for field in [
            "requests",
            "slo_violation_pct",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "h12",
            "dyno_hours",
            "scale_ups",
            "scale_downs",
            "max_dynos",
            "theta_u",
            "theta_o",
            "tau_u",
            "tau_o",
            "jitter_per_hour",
        ] {
            assert!(figures[field].is_number(), "{} {field}", policy.label());
        }
    }
}

#[test]
fn schedules_are_read_in_the_time_zone_on_the_virtual_clock() {
    // No traffic; the minimum steps to 3 at 1:00 in New York: the worker corrects at its first
    // heartbeat after, which is the one at 1:00 exactly.
    let trace = Trace::from_points("idle", steady(0.0, 7200.0)).expect("valid");
    let settings = settings(&[
        ("AUTOSCALE_TIME_ZONE", "America/New_York"),
        ("AUTOSCALE_MIN_DYNOS", "0:00=1,1:00=3"),
        ("AUTOSCALE_MAX_DYNOS", "5"),
    ]);
    assert!(matches!(settings.min_dynos, DynoLimit::Schedule(_)));
    let result = run(&trace, &Model::default(), &settings).expect("runs");
    let calls = scale_calls(&result, PolicyName::Autoscaler);
    let beat = Duration::from_millis(5).as_secs_f64();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!((calls[0].0 - (3600.0 + beat)).abs() < 0.01, "{calls:?}");
    assert_eq!(calls[0].1, 3);
}

#[test]
fn the_settings_line_shows_fixed_bounds_as_a_range_and_schedules_in_full() {
    let fixed = settings(&[("AUTOSCALE_MAX_DYNOS", "7"), ("AUTOSCALE_MIN_DYNOS", "2")]);
    assert!(report::settings_line(&fixed).ends_with("increment 1 · dynos 2–7"));
    let scheduled = settings(&[
        ("AUTOSCALE_MIN_DYNOS", "0:00=1,9:00=3"),
        ("AUTOSCALE_MAX_DYNOS", "5"),
    ]);
    assert!(report::settings_line(&scheduled)
        .ends_with("increment 1 · min dynos 0:00=1,9:00=3 · max dynos 5"));
}

#[test]
fn a_policy_run_alone_sees_the_same_requests_as_in_the_full_run() {
    let trace = scenarios::find("spike").expect("built in").trace();
    let settings = settings(&[("AUTOSCALE_MAX_DYNOS", "20")]);
    let model = Model::default();
    let all = run(&trace, &model, &settings).expect("runs");
    let alone = run_policies(&trace, &model, &settings, &[PolicyName::Autoscaler]).expect("runs");
    assert_eq!(alone.policies.len(), 1);
    assert_eq!(
        alone.figures(PolicyName::Autoscaler),
        all.figures(PolicyName::Autoscaler)
    );
}

#[test]
fn jobs_change_nothing_of_the_web_and_come_out_per_process_type_in_the_json() {
    let with_jobs = scenarios::find("jobs-burst").expect("built in").trace();
    let without_jobs = with_jobs.without_jobs();
    let settings = settings(&[(
        "AUTOSCALE_PROCESSES",
        "worker: max_dynos=10 jobs_per_dyno=10",
    )]);
    let model = Model::default();
    let web_only = run(&without_jobs, &model, &settings).expect("runs");
    let both = run(&with_jobs, &model, &settings).expect("runs");
    assert!(web_only.jobs.is_empty());
    assert_eq!(both.policies, web_only.policies);
    let [worker] = both.jobs.as_slice() else {
        panic!("one process type: {:?}", both.jobs);
    };
    assert_eq!(worker.process, "worker");
    // The autoscaler never exceeds the max, and the max is what fixed-max runs throughout.
    let autoscaler = worker.figures(PolicyName::Autoscaler);
    assert!(autoscaler.max_dynos <= 10 && autoscaler.scale_ups > 0);
    assert_eq!(worker.figures(PolicyName::FixedMax).dyno_hours, 20.0);

    let json = Report::new(&with_jobs, &model, &settings, &both).to_json();
    let document: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(document["model"]["job_seconds"], 10.0);
    assert_eq!(document["model"]["job_concurrency"], 5);
    let figures = &document["processes"]["worker"];
    let labels = ["autoscaler", "oracle", "fixed-max"];
    let places: Vec<usize> = labels
        .iter()
        .map(|label| json.rfind(&format!("\"{label}\": {{")).expect("a policy"))
        .collect();
    assert!(
        places.windows(2).all(|pair| pair[0] < pair[1]),
        "{places:?}"
    );
    assert!(figures["seed"].is_null());
    for label in labels {
        for field in [
            "jobs",
            "p50_wait_s",
            "p95_wait_s",
            "max_wait_s",
            "most_waiting",
            "dyno_hours",
            "scale_ups",
            "scale_downs",
            "max_dynos",
            "notices",
        ] {
            assert!(figures[label][field].is_number(), "{label} {field}");
        }
    }
    assert_eq!(figures["autoscaler"]["jobs"], autoscaler.jobs);
    // The table has the process type's own rows.
    let table = report::table(&with_jobs, &model, &settings, &both);
    assert!(
        table.contains("worker: jobs_per_dyno 10 · jobs of 10 s on average, 5 at once per dyno"),
        "{table}"
    );
}
