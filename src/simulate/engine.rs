//! The run: one stream of requests fed to every policy, each with its own dynos, on a virtual
//! clock. The worker policies run the production [`Controller`] and judge; the API answers at
//! once with the model's formation.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use super::arrivals::{Arrivals, Request};
use super::chart::{ChartData, Heartbeat, PolicySeries};
use super::demand::DynoCapacity;
use super::metrics::{Latencies, PolicyResult, Recorder};
use super::queue::{Fleet, Outcome};
use super::trace::Trace;
use super::{Model, PolicyName, SimulateError};
use crate::control::{Action, Bounds, Controller, ControllerConfig};
use crate::judge::{classify, Limits, ProbeOutcome, Sample, Verdict};
use crate::Settings;

/// A heartbeat's own service time: the endpoint does next to nothing.
pub const HEARTBEAT_SERVICE_SECONDS: f64 = 0.005;

/// How long the router takes to answer "no dyno" (H14) to the heartbeat.
const NO_DYNO_ANSWER_SECONDS: f64 = 0.001;

/// Time 0 of every run: midnight on a Monday in January (no DST change near it), in the
/// settings' time zone, so that schedules apply as they would on a weekday.
const START_DATE: (i32, u32, u32) = (2026, 1, 5);

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Dynos the worker policies started with.
    pub start_dynos: u32,
    /// Each policy's figures, in [`PolicyName::ALL`] order.
    pub policies: Vec<(PolicyName, PolicyResult)>,
    /// The chart's data.
    pub chart: ChartData,
}

/// Runs every policy over `trace`.
pub fn run(trace: &Trace, model: &Model, settings: &Settings) -> Result<RunResult, SimulateError> {
    let duration = trace.duration_seconds();
    let clock = Clock::new(settings);
    let demand = demand_per_second(trace, model)?;
    let oracle = oracle_targets(&demand, model.boot_seconds);
    let bounds_at_start = clock.bounds(settings, 0.0);
    let start_dynos = model
        .start_dynos
        .unwrap_or_else(|| demand[0].clamp(bounds_at_start.min, bounds_at_start.max));
    let mut policies: Vec<PolicyRun> = PolicyName::ALL
        .iter()
        .map(|&name| {
            let dynos = match name {
                PolicyName::Autoscaler | PolicyName::Seed => start_dynos,
                PolicyName::Oracle => oracle[0].clamp(bounds_at_start.min, bounds_at_start.max),
                PolicyName::FixedMax => bounds_at_start.max,
            };
            PolicyRun::new(name, dynos, demand[0], model, settings)
        })
        .collect();
    for policy in &mut policies {
        if let Some(worker) = &mut policy.worker {
            let actions = worker.controller.start();
            policy.carry_out(actions, 0.0, bounds_at_start, &clock);
        }
    }

    let mut minutes = MinuteStats::default();
    let mut demand_steps = vec![(0.0, demand[0])];
    let mut demand_changes = 0;
    let mut requests = Arrivals::new(trace.points(), model.service_ms, model.seed).peekable();
    let mut beat_picks = fastrand::Rng::with_seed(model.seed ^ 0x6865_6172_7462_6561);
    let last_tick = demand.len() - 1;
    let (mut tick, mut beat) = (0usize, 0u64);
    let interval = settings.heartbeat_interval.as_secs_f64();
    loop {
        let tick_at = if tick <= last_tick {
            tick as f64
        } else {
            f64::INFINITY
        };
        let beat_at = beat as f64 * interval;
        let beat_at = if beat_at < duration {
            beat_at
        } else {
            f64::INFINITY
        };
        let request_at = requests.peek().map_or(f64::INFINITY, |request| request.at);
        let now = tick_at.min(beat_at).min(request_at);
        if now.is_infinite() {
            break;
        }
        if tick_at == now {
            if tick > 0 && demand[tick] != demand[tick - 1] {
                demand_changes += 1;
                demand_steps.push((now, demand[tick]));
            }
            let bounds = clock.bounds(settings, now);
            for policy in &mut policies {
                policy.advance(now, settings, &clock);
                policy.recorder.demand(now, demand[tick]);
                let target = match policy.name {
                    PolicyName::Oracle => oracle[tick].clamp(bounds.min, bounds.max),
                    PolicyName::FixedMax => bounds.max,
                    PolicyName::Autoscaler | PolicyName::Seed => continue,
                };
                if target != policy.fleet.asked() {
                    policy.scale_to(target, now);
                }
            }
            tick += 1;
        } else if beat_at == now {
            let pick = beat_picks.f64();
            for policy in &mut policies {
                policy.advance(now, settings, &clock);
                policy.heartbeat(now, pick);
            }
            beat += 1;
        } else if let Some(request) = requests.next() {
            minutes.arrival(request.at);
            for policy in &mut policies {
                policy.advance(request.at, settings, &clock);
                let outcome = policy.serve(request);
                if policy.name == PolicyName::Autoscaler {
                    minutes.autoscaler_outcome(outcome);
                }
            }
        }
    }
    for policy in &mut policies {
        policy.advance(duration, settings, &clock);
    }
    minutes.finish(duration);

    let chart = ChartData {
        duration_seconds: duration,
        start_minute_of_day: 0,
        traffic: minutes.traffic,
        heartbeats: policies[0].heartbeats.clone(),
        p95_per_minute: minutes.p95,
        max_response_ms: settings.max_response_time.as_secs_f64() * 1000.0,
        min_response_ms: settings.min_response_time.as_secs_f64() * 1000.0,
        slo_ms: model.slo_ms,
        demand: demand_steps,
        policies: policies
            .iter()
            .map(|policy| PolicySeries {
                name: policy.name.label().to_string(),
                // The count asked for changes only with a call.
                supply: std::iter::once((0.0, policy.start_dynos))
                    .chain(policy.calls.iter().copied())
                    .collect(),
                scale_calls: policy.calls.clone(),
            })
            .collect(),
        ..ChartData::default()
    };
    let policies = policies
        .into_iter()
        .map(|policy| {
            (
                policy.name,
                policy.recorder.finish(duration, demand_changes),
            )
        })
        .collect();
    Ok(RunResult {
        start_dynos,
        policies,
        chart,
    })
}

/// The virtual clock: seconds from the start, as the instants the controller counts in and as
/// the wall-clock times its schedules are read at.
struct Clock {
    base: Instant,
    start: DateTime<Utc>,
}

impl Clock {
    fn new(settings: &Settings) -> Self {
        let (year, month, day) = START_DATE;
        let start = settings
            .time_zone
            .with_ymd_and_hms(year, month, day, 0, 0, 0)
            .earliest()
            .map(|local| local.with_timezone(&Utc))
            // Every zone has that midnight; were one to skip it, midnight UTC keeps runs alike.
            .unwrap_or_else(|| {
                Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
                    .single()
                    .expect("a valid date in UTC")
            });
        Clock {
            base: Instant::now(),
            start,
        }
    }

    fn instant(&self, seconds: f64) -> Instant {
        self.base + Duration::from_secs_f64(seconds)
    }

    fn bounds(&self, settings: &Settings, seconds: f64) -> Bounds {
        let offset = chrono::Duration::milliseconds((seconds * 1000.0) as i64);
        settings.bounds_at(self.start + offset)
    }
}

/// d(t) at every whole second of the run, from the rate and service time in force then.
fn demand_per_second(trace: &Trace, model: &Model) -> Result<Vec<u32>, SimulateError> {
    let mut capacities: Vec<(f64, DynoCapacity)> = Vec::new();
    let seconds = trace.duration_seconds().floor() as usize;
    (0..=seconds)
        .map(|second| {
            let at = second as f64;
            let service_ms = trace.service_ms_at(at, model.service_ms);
            let capacity = match capacities.iter().find(|(ms, _)| *ms == service_ms) {
                Some((_, capacity)) => *capacity,
                None => {
                    let capacity = DynoCapacity::new(model.concurrency, service_ms, model.slo_ms)
                        .ok_or(SimulateError::SloOutOfReach {
                        slo_ms: model.slo_ms,
                        service_ms,
                        at_seconds: second as u64,
                    })?;
                    capacities.push((service_ms, capacity));
                    capacity
                }
            };
            Ok(capacity.dynos_for(trace.rate_at(at)))
        })
        .collect()
}

/// What the oracle asks for at each second: every dyno needed within the next boot time, so
/// that each one serves from the moment it is needed.
fn oracle_targets(demand: &[u32], boot_seconds: f64) -> Vec<u32> {
    let window = boot_seconds.ceil() as usize;
    let mut targets = vec![0; demand.len()];
    // A sliding maximum over [second, second + window], from the end backwards.
    let mut candidates: VecDeque<usize> = VecDeque::new();
    for second in (0..demand.len()).rev() {
        while candidates
            .back()
            .is_some_and(|&later| demand[later] <= demand[second])
        {
            candidates.pop_back();
        }
        candidates.push_back(second);
        while candidates
            .front()
            .is_some_and(|&latest| latest > second + window)
        {
            candidates.pop_front();
        }
        targets[second] = demand[*candidates.front().expect("just pushed")];
    }
    targets
}

/// The worker inside a policy: the production judge and controller.
struct Worker {
    controller: Controller,
    limits: Limits,
    verdict_due: Option<(f64, Verdict)>,
}

/// One policy's state during the run.
struct PolicyRun {
    name: PolicyName,
    fleet: Fleet,
    recorder: Recorder,
    worker: Option<Worker>,
    heartbeats: Vec<Heartbeat>,
    start_dynos: u32,
    calls: Vec<(f64, u32)>,
}

impl PolicyRun {
    fn new(name: PolicyName, dynos: u32, demand: u32, model: &Model, settings: &Settings) -> Self {
        let worker = match name {
            PolicyName::Autoscaler | PolicyName::Seed => Some(Worker {
                controller: Controller::new(controller_config(name, settings)),
                limits: Limits::of(settings),
                verdict_due: None,
            }),
            PolicyName::Oracle | PolicyName::FixedMax => None,
        };
        PolicyRun {
            name,
            fleet: Fleet::new(dynos, model.concurrency, model.boot_seconds),
            recorder: Recorder::new(model.slo_ms / 1000.0, dynos, demand),
            worker,
            heartbeats: Vec::new(),
            start_dynos: dynos,
            calls: Vec::new(),
        }
    }

    /// Brings the policy up to `now`: dynos that finished booting, verdicts that arrived.
    fn advance(&mut self, now: f64, settings: &Settings, clock: &Clock) {
        loop {
            let booted = self.fleet.next_up_at().filter(|&at| at <= now);
            let verdict = self
                .worker
                .as_ref()
                .and_then(|worker| worker.verdict_due)
                .filter(|(at, _)| *at <= now);
            match (booted, verdict) {
                (Some(up_at), verdict) if verdict.is_none_or(|(at, _)| up_at <= at) => {
                    self.fleet.boot_until(up_at);
                    self.recorder
                        .supply(up_at, self.fleet.serving(), self.fleet.asked());
                }
                (_, Some((at, verdict))) => {
                    let worker = self.worker.as_mut().expect("a verdict has a worker");
                    worker.verdict_due = None;
                    let bounds = clock.bounds(settings, at);
                    let actions = worker
                        .controller
                        .on_verdict(verdict, bounds, clock.instant(at));
                    self.carry_out(actions, at, bounds, clock);
                }
                _ => return,
            }
        }
    }

    /// Does what the controller asked; the API answers at once.
    fn carry_out(&mut self, actions: Vec<Action>, now: f64, bounds: Bounds, clock: &Clock) {
        let mut actions = VecDeque::from(actions);
        while let Some(action) = actions.pop_front() {
            let worker = self.worker.as_mut().expect("actions come from a worker");
            let answer = match action {
                Action::ReadFormation => {
                    let quantity = self.fleet.asked();
                    worker
                        .controller
                        .on_formation(Ok(quantity), bounds, clock.instant(now))
                }
                Action::Scale { to, .. } => {
                    self.scale_to(to, now);
                    let worker = self.worker.as_mut().expect("actions come from a worker");
                    worker.controller.on_scaled(Ok(to), clock.instant(now))
                }
                Action::Notify(_) => {
                    self.recorder.notice();
                    Vec::new()
                }
            };
            actions.extend(answer);
        }
    }

    fn scale_to(&mut self, to: u32, now: f64) {
        self.recorder.scale_call(self.fleet.asked(), to);
        self.fleet.scale(to, now);
        self.fleet.boot_until(now);
        self.recorder
            .supply(now, self.fleet.serving(), self.fleet.asked());
        self.calls.push((now, to));
    }

    /// The worker's heartbeat: a request like any other, judged when its answer comes.
    fn heartbeat(&mut self, now: f64, pick: f64) {
        let Some(worker) = &mut self.worker else {
            return;
        };
        let deadline = worker.limits.max_response_time.as_secs_f64();
        let (seconds, outcome) = match self.fleet.route(now, HEARTBEAT_SERVICE_SECONDS, pick) {
            Outcome::Answered(seconds) if seconds <= deadline => {
                (seconds, ProbeOutcome::Status(200))
            }
            Outcome::Answered(_) | Outcome::TimedOut => (deadline, ProbeOutcome::TimedOut),
            Outcome::NoDyno => (NO_DYNO_ANSWER_SECONDS, ProbeOutcome::Status(503)),
        };
        let sample = Sample {
            latency: Duration::from_secs_f64(seconds),
            outcome,
        };
        let verdict = classify(&sample, worker.limits);
        worker.verdict_due = Some((now + seconds, verdict));
        self.heartbeats.push(Heartbeat {
            at: now,
            response_ms: seconds * 1000.0,
            verdict,
        });
    }

    fn serve(&mut self, request: Request) -> Outcome {
        let outcome = self.fleet.route(request.at, request.service, request.pick);
        self.recorder.request(outcome);
        outcome
    }
}

/// The controller's rules for a worker policy. `seed` is the seed's rule as written: when a
/// later change adds behaviour to the controller, it is switched off here for `seed`. Today the
/// two are the same.
fn controller_config(_name: PolicyName, settings: &Settings) -> ControllerConfig {
    ControllerConfig::of(settings, false)
}

/// Per-minute traffic and the autoscaler's p95, for the chart.
#[derive(Default)]
struct MinuteStats {
    minute: u64,
    arrivals: u64,
    latencies: Latencies,
    traffic: Vec<(f64, f64)>,
    p95: Vec<(f64, f64)>,
}

impl MinuteStats {
    fn arrival(&mut self, at: f64) {
        self.flush_before(at);
        self.arrivals += 1;
    }

    /// Closes every minute that ended before `at`, quiet ones included.
    fn flush_before(&mut self, at: f64) {
        let minute = (at / 60.0) as u64;
        while minute > self.minute {
            self.flush(60.0);
            self.minute += 1;
        }
    }

    /// Closes the minutes up to the end of the run, the last one perhaps shorter.
    fn finish(&mut self, duration: f64) {
        self.flush_before(duration);
        let left = duration - self.minute as f64 * 60.0;
        if left > 0.0 {
            self.flush(left);
        }
    }

    fn autoscaler_outcome(&mut self, outcome: Outcome) {
        self.latencies.record(outcome);
    }

    fn flush(&mut self, seconds: f64) {
        let start = self.minute as f64 * 60.0;
        self.traffic.push((start, self.arrivals as f64 / seconds));
        if !self.latencies.is_empty() {
            self.p95.push((start, self.latencies.quantile_ms(0.95)));
        }
        self.arrivals = 0;
        self.latencies.clear();
    }
}
