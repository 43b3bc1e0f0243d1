//! The run: one stream of requests fed to every policy, each with its own dynos, on a virtual
//! clock. The worker policies run the production [`Controller`] and judge; the API answers at
//! once with the model's formation.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use super::arrivals::{Arrivals, Request};
use super::chart::{ChartData, Heartbeat, PolicySeries, WorkerSeries};
use super::demand_curve::{Capacities, DemandCurve, Lookahead};
use super::job_run::{self, ProcessJobs};
use super::metrics::{Latencies, PolicyResult, Recorder};
use super::queue::{Fleet, Outcome};
use super::trace::Trace;
use super::{Model, PolicyName, SimulateError, MAX_SIMULATED_DYNOS};
use crate::control::{Action, Bounds, Controller, ControllerConfig};
use crate::judge::{classify, Limits, ProbeOutcome, Sample, Verdict};
use crate::settings::TimeOfDay;
use crate::Settings;

/// A heartbeat's own service time: the endpoint does next to nothing.
const HEARTBEAT_SERVICE_SECONDS: f64 = 0.005;

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
    /// Each policy's figures, in the order they were asked for.
    pub policies: Vec<(PolicyName, PolicyResult)>,
    /// The chart's data.
    pub chart: ChartData,
    /// Each worker process type the trace gives jobs for, in the trace's order.
    pub jobs: Vec<ProcessJobs>,
}

impl RunResult {
    /// One policy's figures; the policy must have been one of those run.
    pub fn figures(&self, policy: PolicyName) -> &PolicyResult {
        self.policies
            .iter()
            .find_map(|(name, figures)| (*name == policy).then_some(figures))
            .expect("the policy was run")
    }
}

/// Runs every policy over `trace`.
pub fn run(trace: &Trace, model: &Model, settings: &Settings) -> Result<RunResult, SimulateError> {
    run_policies(trace, model, settings, &PolicyName::ALL)
}

/// Runs `policies` over `trace`: the same requests as [`run`] gives them, for less work (`tune`
/// runs the autoscaler alone for each candidate).
pub fn run_policies(
    trace: &Trace,
    model: &Model,
    settings: &Settings,
    policies: &[PolicyName],
) -> Result<RunResult, SimulateError> {
    let most = settings.max_dynos.most();
    if most > MAX_SIMULATED_DYNOS {
        return Err(SimulateError::TooManyDynos {
            most,
            limit: MAX_SIMULATED_DYNOS,
        });
    }
    // Checked before the web's run, so a bad process type costs no simulation.
    let processes = job_run::modelled_processes(trace, settings)?;
    let duration = trace.duration_seconds();
    let capacities = Capacities::of(trace, model)?;
    let curve = DemandCurve::new(trace, model, capacities);
    let mut demand = Lookahead::new(curve, model.boot_seconds).peekable();
    let start = *demand.peek().expect("a trace lasts a second or more");
    let mut run = Run::start(model, settings, policies, start, duration);
    let mut requests = Arrivals::new(trace.points(), model.service_ms, model.seed).peekable();
    let mut beat_picks = fastrand::Rng::with_seed(model.seed ^ 0x6865_6172_7462_6561);
    let interval = settings.heartbeat_interval.as_secs_f64();
    let (mut tick, mut beat) = (0u64, 0u64);
    // Events in time order: a tick at the start of each second of the run (the demand), the
    // worker's heartbeats, the requests. At the same instant, in that order.
    loop {
        let tick_at = demand.peek().map_or(f64::INFINITY, |_| tick as f64);
        let beat_at = Some(beat as f64 * interval)
            .filter(|&at| at < duration)
            .unwrap_or(f64::INFINITY);
        let request_at = requests.peek().map_or(f64::INFINITY, |request| request.at);
        let now = tick_at.min(beat_at).min(request_at);
        if now.is_infinite() {
            break;
        }
        if tick_at == now {
            let (demand_now, ahead) = demand.next().expect("peeked");
            run.tick(now, demand_now, ahead);
            tick += 1;
        } else if beat_at == now {
            run.beat(now, beat_picks.f64());
            beat += 1;
        } else if let Some(request) = requests.next() {
            run.request(request);
        }
    }
    let mut result = run.finish(duration, model);
    result.jobs = job_run::run(trace, &processes, model, settings, policies);
    result.chart.workers = result
        .jobs
        .iter()
        .map(|process| WorkerSeries {
            process: process.process.clone(),
            policies: process.dynos.clone(),
        })
        .collect();
    Ok(result)
}

/// The policies during a run, and what the table and the chart need of it.
struct Run<'a> {
    settings: &'a Settings,
    clock: Clock,
    start_dynos: u32,
    policies: Vec<PolicyRun>,
    minutes: MinuteStats,
    heartbeats: HeartbeatLog,
    demand_steps: Vec<(f64, u32)>,
    demand_changes: u64,
}

impl<'a> Run<'a> {
    /// Every policy at time 0 with its dynos serving; the workers have read the formation.
    fn start(
        model: &Model,
        settings: &'a Settings,
        names: &[PolicyName],
        (demand, ahead): (u32, u32),
        duration: f64,
    ) -> Self {
        let clock = Clock::new(settings);
        let bounds = clock.bounds(settings, 0.0);
        let start_dynos = model.start_dynos.unwrap_or_else(|| within(demand, bounds));
        let mut policies: Vec<PolicyRun> = names
            .iter()
            .map(|&name| {
                let dynos = match name {
                    PolicyName::Autoscaler | PolicyName::Seed => start_dynos,
                    PolicyName::Oracle => within(ahead, bounds),
                    PolicyName::FixedMax => bounds.max,
                };
                PolicyRun::new(name, dynos, demand, model, settings)
            })
            .collect();
        for policy in &mut policies {
            if let Some(worker) = &mut policy.worker {
                let actions = worker.controller.start();
                policy.carry_out(actions, 0.0, bounds, &clock);
            }
        }
        let beats = duration / settings.heartbeat_interval.as_secs_f64();
        Run {
            settings,
            clock,
            start_dynos,
            policies,
            minutes: MinuteStats::default(),
            heartbeats: HeartbeatLog::new(beats.ceil() as u64),
            demand_steps: vec![(0.0, demand)],
            demand_changes: 0,
        }
    }

    /// A new second: its demand, and the baselines' scale calls.
    fn tick(&mut self, now: f64, demand: u32, ahead: u32) {
        if self
            .demand_steps
            .last()
            .is_some_and(|&(_, last)| last != demand)
        {
            self.demand_changes += 1;
            self.demand_steps.push((now, demand));
        }
        let bounds = self.clock.bounds(self.settings, now);
        for policy in &mut self.policies {
            policy.advance(now, self.settings, &self.clock);
            policy.recorder.demand(now, demand);
            let target = match policy.name {
                PolicyName::Oracle => within(ahead, bounds),
                PolicyName::FixedMax => bounds.max,
                PolicyName::Autoscaler | PolicyName::Seed => continue,
            };
            if target != policy.fleet.asked() {
                policy.scale_to(target, now);
            }
        }
    }

    /// The workers' heartbeat, routed with the same `pick` in each.
    fn beat(&mut self, now: f64, pick: f64) {
        for policy in &mut self.policies {
            policy.advance(now, self.settings, &self.clock);
            let heartbeat = policy.heartbeat(now, pick);
            if let (PolicyName::Autoscaler, Some(heartbeat)) = (policy.name, heartbeat) {
                self.heartbeats.record(heartbeat);
            }
        }
    }

    fn request(&mut self, request: Request) {
        self.minutes.arrival(request.at);
        for policy in &mut self.policies {
            policy.advance(request.at, self.settings, &self.clock);
            let outcome = policy.serve(request);
            if policy.name == PolicyName::Autoscaler {
                self.minutes.autoscaler_outcome(outcome);
            }
        }
    }

    fn finish(mut self, duration: f64, model: &Model) -> RunResult {
        for policy in &mut self.policies {
            policy.advance(duration, self.settings, &self.clock);
        }
        self.minutes.finish(duration);
        let settings = self.settings;
        let chart = ChartData {
            duration_seconds: duration,
            start_minute_of_day: 0,
            traffic: self.minutes.traffic,
            heartbeats: self.heartbeats.finish(),
            p95_per_minute: self.minutes.p95,
            max_response_ms: settings.max_response_time.as_secs_f64() * 1000.0,
            min_response_ms: settings.min_response_time.as_secs_f64() * 1000.0,
            slo_ms: model.slo_ms,
            demand: self.demand_steps,
            policies: self.policies.iter().map(PolicyRun::series).collect(),
            ..ChartData::default()
        };
        let demand_changes = self.demand_changes;
        let policies = self
            .policies
            .into_iter()
            .map(|policy| {
                let figures = policy.recorder.finish(duration, demand_changes);
                (policy.name, figures)
            })
            .collect();
        RunResult {
            start_dynos: self.start_dynos,
            policies,
            chart,
            jobs: Vec::new(),
        }
    }
}

/// `count` brought within the bounds.
fn within(count: u32, bounds: Bounds) -> u32 {
    count.clamp(bounds.min, bounds.max)
}

/// The virtual clock: seconds from the start, as the instants the controller counts in and as
/// the wall-clock times its schedules are read at.
pub(super) struct Clock {
    base: Instant,
    start: DateTime<Utc>,
}

impl Clock {
    pub(super) fn new(settings: &Settings) -> Self {
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

    pub(super) fn instant(&self, seconds: f64) -> Instant {
        self.base + Duration::from_secs_f64(seconds)
    }

    fn at(&self, seconds: f64) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
    }

    fn bounds(&self, settings: &Settings, seconds: f64) -> Bounds {
        settings.bounds_at(self.at(seconds))
    }

    /// The time of day at `seconds` in the settings' zone, as the schedules read it.
    pub(super) fn time_of_day(&self, settings: &Settings, seconds: f64) -> TimeOfDay {
        TimeOfDay::at(self.at(seconds), settings.time_zone)
    }
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
    start_dynos: u32,
    calls: Vec<(f64, u32)>,
}

impl PolicyRun {
    fn new(name: PolicyName, dynos: u32, demand: u32, model: &Model, settings: &Settings) -> Self {
        let worker = match name {
            PolicyName::Autoscaler | PolicyName::Seed => Some(Worker {
                controller: Controller::new(controller_config(name, settings)),
                limits: Limits {
                    // The model's app always answers 2xx; the seed's rule anyway.
                    hold_on_url_errors: name != PolicyName::Seed
                        && settings.hold_on_heartbeat_url_errors,
                    ..Limits::of(settings)
                },
                verdict_due: None,
            }),
            PolicyName::Oracle | PolicyName::FixedMax => None,
        };
        PolicyRun {
            name,
            fleet: Fleet::new(dynos, model.concurrency, model.boot_seconds),
            recorder: Recorder::new(model.slo_ms / 1000.0, dynos, demand),
            worker,
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
                Action::ReadDynos => {
                    let states = self.fleet.states();
                    worker.controller.on_dynos(Ok(states), clock.instant(now))
                }
                Action::Notify(_) => {
                    self.recorder.notice();
                    Vec::new()
                }
                Action::BootEnded(_) => Vec::new(),
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
    fn heartbeat(&mut self, now: f64, pick: f64) -> Option<Heartbeat> {
        let worker = self.worker.as_mut()?;
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
        Some(Heartbeat {
            at: now,
            response_ms: seconds * 1000.0,
            verdict,
        })
    }

    /// The chart's view: the count asked for (it changes only with a call) and the calls.
    fn series(&self) -> PolicySeries {
        PolicySeries {
            name: self.name.label().to_string(),
            supply: std::iter::once((0.0, self.start_dynos))
                .chain(self.calls.iter().copied())
                .collect(),
            scale_calls: self.calls.clone(),
        }
    }

    fn serve(&mut self, request: Request) -> Outcome {
        let outcome = self.fleet.route(request.at, request.service, request.pick);
        self.recorder.request(outcome);
        outcome
    }
}

/// The controller's rules for a worker policy. `seed` is the seed's rule as written: every
/// behaviour added to the controller since is switched off here for `seed`.
fn controller_config(name: PolicyName, settings: &Settings) -> ControllerConfig {
    let config = ControllerConfig::of(settings, false);
    match name {
        PolicyName::Seed => ControllerConfig {
            boot_timeout: None,
            proportional_scale_up: false,
            scale_down_backoff: false,
            plan_limit_memory: None,
            ..config
        },
        _ => config,
    }
}

/// The chart draws at most this many heartbeats: about a dot per pixel of a day's axis.
const MOST_CHARTED_HEARTBEATS: u64 = 2880;

/// The autoscaler's heartbeats for the chart, in memory that does not grow with the run: past
/// [`MOST_CHARTED_HEARTBEATS`], one per group of consecutive beats, the slowest (a slow beat is
/// the one worth seeing).
struct HeartbeatLog {
    group: u64,
    in_group: u64,
    slowest: Option<Heartbeat>,
    kept: Vec<Heartbeat>,
}

impl HeartbeatLog {
    fn new(beats: u64) -> Self {
        HeartbeatLog {
            group: beats.div_ceil(MOST_CHARTED_HEARTBEATS).max(1),
            in_group: 0,
            slowest: None,
            kept: Vec::new(),
        }
    }

    fn record(&mut self, beat: Heartbeat) {
        let rank = |beat: &Heartbeat| match beat.verdict {
            Verdict::Fast => 0,
            Verdict::Neutral | Verdict::BadUrl(_) => 1,
            Verdict::Slow => 2,
        };
        let slower =
            |kept: &Heartbeat| (rank(&beat), beat.response_ms) > (rank(kept), kept.response_ms);
        if self.slowest.as_ref().is_none_or(slower) {
            self.slowest = Some(beat);
        }
        self.in_group += 1;
        if self.in_group == self.group {
            self.kept.extend(self.slowest.take());
            self.in_group = 0;
        }
    }

    fn finish(mut self) -> Vec<Heartbeat> {
        self.kept.extend(self.slowest.take());
        self.kept
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_charts_a_bounded_number_of_heartbeats_keeping_the_slow_ones() {
        let beats = 10 * MOST_CHARTED_HEARTBEATS;
        let mut log = HeartbeatLog::new(beats);
        for index in 0..beats {
            let slow = index == 12_345;
            log.record(Heartbeat {
                at: index as f64,
                response_ms: if slow { 1000.0 } else { 5.0 },
                verdict: if slow { Verdict::Slow } else { Verdict::Fast },
            });
        }
        let kept = log.finish();
        assert_eq!(kept.len() as u64, MOST_CHARTED_HEARTBEATS);
        assert!(kept.iter().any(|beat| beat.at == 12_345.0));
        // A short run keeps every beat.
        let mut log = HeartbeatLog::new(3);
        for at in [0.0, 30.0, 60.0] {
            log.record(Heartbeat {
                at,
                response_ms: 5.0,
                verdict: Verdict::Fast,
            });
        }
        assert_eq!(log.finish().len(), 3);
    }
}
