//! The `simulate --svg` chart: traffic, latency and dynos on one time axis.

/// Everything the chart draws; times are seconds from the start of the run.
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    /// The title's first line, e.g. `simulate: scenario spike`.
    pub title: String,
    /// The settings that matter, one line, e.g.
    /// `interval 30 s · slow > 1000 ms · fast < 200 ms · up after 3 · down after 5 · dynos 1–20`.
    pub subtitle: String,
    /// Length of the run.
    pub duration_seconds: f64,
    /// Wall-clock minute of the day (in the settings' time zone) at time 0, for hh:mm labels.
    pub start_minute_of_day: u32,
    /// Arrival rate per minute: (start of the minute, requests/s).
    pub traffic: Vec<(f64, f64)>,
    /// Each heartbeat the `autoscaler` policy's worker saw: (sent at, response time in ms; a
    /// timeout is drawn at the max response time).
    pub heartbeats: Vec<(f64, f64)>,
    /// The `autoscaler` policy's p95 request latency per minute: (start of the minute, ms).
    pub p95_per_minute: Vec<(f64, f64)>,
    /// The max response time setting (heartbeats slower are slow).
    pub max_response_ms: f64,
    /// The min response time setting (heartbeats faster are fast).
    pub min_response_ms: f64,
    /// The SLO.
    pub slo_ms: f64,
    /// The demand d(t) as steps: each value holds from its time until the next.
    pub demand: Vec<(f64, u32)>,
    /// One entry per policy, in the order of the table.
    pub policies: Vec<PolicySeries>,
}

/// One policy's dynos.
#[derive(Debug, Clone, Default)]
pub struct PolicySeries {
    /// `autoscaler`, `seed`, `oracle` or `fixed-max`.
    pub name: String,
    /// Dynos asked for (billed, booting included) as steps: each holds until the next.
    pub supply: Vec<(f64, u32)>,
    /// Each scale call: (when, the count asked for).
    pub scale_calls: Vec<(f64, u32)>,
}
