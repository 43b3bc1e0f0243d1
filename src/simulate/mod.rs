//! `heroku-autoscale simulate`: a discrete-event model of a Heroku app, run against the
//! production decision code on a virtual clock (DESIGN §7, docs/simulation.md).
//!
//! Traffic comes from a [`trace::Trace`] (a CSV file or a built-in [`scenarios`] entry). Every
//! policy sees the same arrivals and service times; each routes them to its own dynos.

mod arrivals;
pub mod chart;
pub mod demand;
mod demand_curve;
mod engine;
mod job_fleet;
pub mod job_metrics;
mod job_run;
pub mod metrics;
mod queue;
pub mod report;
pub mod scenarios;
pub mod trace;
pub mod tune;

/// The model's knobs (the `simulate` flags other than the traffic and the outputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Mean service time of a request, where the trace gives none.
    pub service_ms: f64,
    /// Requests one dyno serves at once.
    pub concurrency: u32,
    /// From the scale call to the dyno serving.
    pub boot_seconds: f64,
    /// A request slower than this (or failed) is an SLO violation.
    pub slo_ms: f64,
    /// Dynos at time 0; `None`: the demand at time 0 within the bounds.
    pub start_dynos: Option<u32>,
    /// Seeds the random arrivals, service times and routing.
    pub seed: u64,
    /// Mean time one job takes, seconds.
    pub job_seconds: f64,
    /// Jobs one worker dyno works at once.
    pub job_concurrency: u32,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            service_ms: 100.0,
            concurrency: 4,
            boot_seconds: 45.0,
            slo_ms: 1000.0,
            start_dynos: None,
            seed: 1,
            job_seconds: 10.0,
            job_concurrency: 5,
        }
    }
}

pub use engine::{run, run_policies, RunResult};
pub use job_run::ProcessJobs;

/// The policies compared in every run, on the same requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyName {
    /// The production rule with the given settings.
    Autoscaler,
    /// The seed's rule as written, with the same settings: the baseline for changes.
    Seed,
    /// Runs exactly the demand, each dyno started a boot time before it is needed.
    Oracle,
    /// The max dynos all the time.
    FixedMax,
}

impl PolicyName {
    /// Every policy, in the order of the table.
    pub const ALL: [PolicyName; 4] = [
        PolicyName::Autoscaler,
        PolicyName::Seed,
        PolicyName::Oracle,
        PolicyName::FixedMax,
    ];

    /// The name in the table and the JSON.
    pub fn label(self) -> &'static str {
        match self {
            PolicyName::Autoscaler => "autoscaler",
            PolicyName::Seed => "seed",
            PolicyName::Oracle => "oracle",
            PolicyName::FixedMax => "fixed-max",
        }
    }
}

/// The most dynos a simulation models: each is a queue in memory (Heroku's own default limit
/// is 100 per process type).
pub const MAX_SIMULATED_DYNOS: u32 = 10_000;

/// Why a simulation cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulateError {
    /// Even an idle dyno answers too many requests slower than the SLO.
    #[error(
        "an SLO of {slo_ms} ms is out of reach at the mean service time of {service_ms} ms in \
         force from {at_seconds} s into the trace: even an idle dyno answers more than 5 % of \
         requests slower; the SLO must be at least about three mean service times"
    )]
    SloOutOfReach {
        /// The SLO asked for.
        slo_ms: f64,
        /// The mean service time in force.
        service_ms: f64,
        /// When it comes into force.
        at_seconds: f64,
    },
    /// A worker process type's max allows more dynos than the model holds.
    #[error(
        "max_dynos of the process type {process} in AUTOSCALE_PROCESSES allows {most} dynos: \
         simulate models at most {limit}; give a max of {limit} or fewer to simulate"
    )]
    TooManyWorkerDynos {
        /// The process type.
        process: String,
        /// The largest max in its settings.
        most: u32,
        /// [`MAX_SIMULATED_DYNOS`].
        limit: u32,
    },
    /// The trace gives jobs for a process type the settings do not configure.
    #[error(
        "the trace gives jobs for the process type {process}, which the settings do not \
         configure ({}): add it to AUTOSCALE_PROCESSES, like \
         AUTOSCALE_PROCESSES=\"{process}: max_dynos=10 jobs_per_dyno=50\"",
        configured_list(configured)
    )]
    UnconfiguredProcess {
        /// The process type in the trace.
        process: String,
        /// The process types the settings configure.
        configured: Vec<String>,
    },
    /// The max dynos setting allows more dynos than the model holds.
    #[error(
        "AUTOSCALE_MAX_DYNOS allows {most} dynos: simulate models at most {limit}; give a max \
         of {limit} or fewer to simulate"
    )]
    TooManyDynos {
        /// The largest max in the settings.
        most: u32,
        /// [`MAX_SIMULATED_DYNOS`].
        limit: u32,
    },
}

fn configured_list(configured: &[String]) -> String {
    if configured.is_empty() {
        "they configure none".to_string()
    } else {
        format!("they configure {}", configured.join(", "))
    }
}

#[cfg(test)]
mod tests;
