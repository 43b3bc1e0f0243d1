//! `heroku-autoscale simulate`: a discrete-event model of a Heroku app, run against the
//! production decision code on a virtual clock (DESIGN §7, docs/simulation.md).
//!
//! Traffic comes from a [`trace::Trace`] (a CSV file or a built-in [`scenarios`] entry). Every
//! policy sees the same arrivals and service times; each routes them to its own dynos.

pub mod chart;
pub mod scenarios;
pub mod trace;

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
        }
    }
}
