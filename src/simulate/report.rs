//! What `simulate` prints and writes: the table on stdout and the `--json` document.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::{json, Value};

use super::chart::ChartData;
use super::engine::RunResult;
use super::job_metrics::JobResult;
use super::metrics::PolicyResult;
use super::trace::Trace;
use super::ProcessJobs;
use super::{Model, PolicyName};
use crate::settings::processes::QueueMeasure;
use crate::settings::DynoLimit;
use crate::Settings;

/// The `--json` document: the same seed gives the same bytes.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    trace: Value,
    model: Value,
    settings: Value,
    policies: Policies<'a>,
    /// Each worker process type the trace gives jobs for: its policies' figures.
    processes: BTreeMap<&'a str, JobPolicies<'a>>,
}

/// A worker process type's policies in the table's order (`seed` scales no worker dynos).
#[derive(Debug, Serialize)]
struct JobPolicies<'a> {
    autoscaler: &'a JobResult,
    oracle: &'a JobResult,
    #[serde(rename = "fixed-max")]
    fixed_max: &'a JobResult,
}

/// The policies in the table's order (a JSON map would sort them by name).
#[derive(Debug, Serialize)]
struct Policies<'a> {
    autoscaler: &'a PolicyResult,
    seed: &'a PolicyResult,
    oracle: &'a PolicyResult,
    #[serde(rename = "fixed-max")]
    fixed_max: &'a PolicyResult,
}

impl<'a> Report<'a> {
    /// The document for one run.
    pub fn new(trace: &Trace, model: &Model, settings: &Settings, result: &'a RunResult) -> Self {
        let policies = Policies {
            autoscaler: result.figures(PolicyName::Autoscaler),
            seed: result.figures(PolicyName::Seed),
            oracle: result.figures(PolicyName::Oracle),
            fixed_max: result.figures(PolicyName::FixedMax),
        };
        Report {
            trace: json!({
                "name": trace.name,
                "duration_seconds": trace.duration_seconds(),
                "rows": trace.points().len(),
            }),
            model: json!({
                "service_ms": model.service_ms,
                "concurrency": model.concurrency,
                "boot_seconds": model.boot_seconds,
                "slo_ms": model.slo_ms,
                "start_dynos": result.start_dynos,
                "seed": model.seed,
                "job_seconds": model.job_seconds,
                "job_concurrency": model.job_concurrency,
            }),
            settings: settings_that_matter(settings),
            policies,
            processes: result
                .jobs
                .iter()
                .map(|process| {
                    let figures = JobPolicies {
                        autoscaler: process.figures(PolicyName::Autoscaler),
                        oracle: process.figures(PolicyName::Oracle),
                        fixed_max: process.figures(PolicyName::FixedMax),
                    };
                    (process.process.as_str(), figures)
                })
                .collect(),
        }
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a JSON value serializes");
        text.push('\n');
        text
    }
}

fn settings_that_matter(settings: &Settings) -> Value {
    let limit = |limit: &DynoLimit| match limit {
        DynoLimit::Fixed(count) => json!(count),
        schedule => json!(schedule.to_string()),
    };
    json!({
        "heartbeat_interval_in_seconds": settings.heartbeat_interval.as_secs_f64(),
        "max_response_time_in_ms": millis(settings.max_response_time),
        "min_response_time_in_ms": millis(settings.min_response_time),
        "number_of_fails_to_scale_up_after": settings.number_of_fails_to_scale_up_after,
        "number_of_passes_to_scale_down_after": settings.number_of_passes_to_scale_down_after,
        "increment": settings.increment,
        "min_dynos": limit(&settings.min_dynos),
        "max_dynos": limit(&settings.max_dynos),
        "time_zone": settings.time_zone.name(),
        "formation_refresh_in_seconds": settings.formation_refresh.as_secs_f64(),
        "notify_repeat_after_in_minutes": settings.notify_repeat_after.as_secs_f64() / 60.0,
    })
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The one-line summary of the settings that matter, for the table and the chart.
pub fn settings_line(settings: &Settings) -> String {
    let bounds = match (&settings.min_dynos, &settings.max_dynos) {
        (DynoLimit::Fixed(min), DynoLimit::Fixed(max)) => format!("dynos {min}–{max}"),
        (min, max) => format!("min dynos {min} · max dynos {max}"),
    };
    format!(
        "interval {} s · slow > {} ms · fast < {} ms · up after {} · down after {} · \
         increment {} · {bounds}",
        settings.heartbeat_interval.as_secs_f64(),
        millis(settings.max_response_time),
        millis(settings.min_response_time),
        settings.number_of_fails_to_scale_up_after,
        settings.number_of_passes_to_scale_down_after,
        settings.increment,
    )
}

/// The model in one line.
pub fn model_line(model: &Model, start_dynos: u32) -> String {
    format!(
        "service {} ms · concurrency {} · boot {} s · SLO {} ms · start dynos {} · seed {}",
        model.service_ms,
        model.concurrency,
        model.boot_seconds,
        model.slo_ms,
        start_dynos,
        model.seed
    )
}

/// The chart's data with its title (the trace and the model) and subtitle (the settings).
pub fn chart(trace: &Trace, model: &Model, settings: &Settings, result: &RunResult) -> ChartData {
    ChartData {
        title: format!(
            "{}: service {} ms, {} at once, boot {} s, SLO {} ms",
            trace.name, model.service_ms, model.concurrency, model.boot_seconds, model.slo_ms
        ),
        subtitle: settings_line(settings),
        ..result.chart.clone()
    }
}

/// The table `simulate` prints.
pub fn table(trace: &Trace, model: &Model, settings: &Settings, result: &RunResult) -> String {
    let mut out = String::new();
    let hours = trace.duration_seconds() / 3600.0;
    let _ = writeln!(out, "simulate: {} ({hours:.2} h)", trace.name);
    let _ = writeln!(out, "model:    {}", model_line(model, result.start_dynos));
    let _ = writeln!(out, "settings: {}", settings_line(settings));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8} {:>5} {:>5} {:>4} {:>6} {:>6} {:>6} {:>6} {:>8}",
        "policy", "requests", "slow%", "p50ms", "p95ms", "p99ms", "H12", "dyno-h", "ups",
        "downs", "max", "θU", "θO", "τU%", "τO%", "jitter/h"
    );
    for (name, figures) in &result.policies {
        let _ = writeln!(out, "{}", row(*name, figures));
    }
    let _ = writeln!(
        out,
        "\nslow%: requests slower than the SLO or failed · θU/θO: dynos missing/surplus on \
         average · τU/τO: share of time under/over the demand · see docs/simulation.md"
    );
    for process in &result.jobs {
        jobs_table(&mut out, process, model);
    }
    out
}

/// One worker process type's table: its jobs' waits and its dynos, per policy.
fn jobs_table(out: &mut String, process: &ProcessJobs, model: &Model) {
    let measure = match process.measure {
        QueueMeasure::Size { jobs_per_dyno } => format!("jobs_per_dyno {jobs_per_dyno}"),
        QueueMeasure::Latency { max_seconds } => format!("max_latency_in_seconds {max_seconds}"),
    };
    let _ = writeln!(
        out,
        "\n{}: {measure} · jobs of {} s on average, {} at once per dyno",
        process.process, model.job_seconds, model.job_concurrency
    );
    let _ = writeln!(
        out,
        "{:<10} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>5} {:>5} {:>4}",
        "policy",
        "jobs",
        "p50wait",
        "p95wait",
        "maxwait",
        "waiting",
        "dyno-h",
        "ups",
        "downs",
        "max"
    );
    for (name, f) in &process.policies {
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>8.1}s {:>8.1}s {:>8.1}s {:>8} {:>8.2} {:>5} {:>5} {:>4}",
            name.label(),
            f.jobs,
            f.p50_wait_s,
            f.p95_wait_s,
            f.max_wait_s,
            f.most_waiting,
            f.dyno_hours,
            f.scale_ups,
            f.scale_downs,
            f.max_dynos
        );
    }
    let _ = writeln!(
        out,
        "\nwait: from joining the queue to a dyno starting the job · waiting: the most jobs \
         waiting at once · seed scales no worker dynos"
    );
}

fn row(name: PolicyName, f: &PolicyResult) -> String {
    format!(
        "{:<10} {:>10} {:>7.2} {:>7.0} {:>7.0} {:>7.0} {:>6} {:>8.2} {:>5} {:>5} {:>4} {:>6.2} {:>6.2} {:>6.1} {:>6.1} {:>8.2}",
        name.label(),
        f.requests,
        f.slo_violation_pct,
        f.p50_ms,
        f.p95_ms,
        f.p99_ms,
        f.h12,
        f.dyno_hours,
        f.scale_ups,
        f.scale_downs,
        f.max_dynos,
        f.theta_u,
        f.theta_o,
        f.tau_u * 100.0,
        f.tau_o * 100.0,
        f.jitter_per_hour
    )
}
