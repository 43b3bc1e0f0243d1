//! The run of the worker process types: the trace's jobs fed to each policy's dynos of each
//! process type, on the same virtual clock as the web run. The `autoscaler` policy runs the
//! production [`Workers`], reading the queues after each heartbeat as the worker does; the
//! API answers at once. The web's dynos and the workers' share nothing, so this run is apart
//! from the web's, and the web's figures are the same with or without jobs.

use std::collections::BTreeMap;

use super::arrivals::Arrivals;
use super::chart::PolicySeries;
use super::demand::erlang_c;
use super::engine::Clock;
use super::job_fleet::{Job, JobFleet};
use super::job_metrics::{JobRecorder, JobResult};
use super::trace::{rate_at, Trace};
use super::{Model, PolicyName, SimulateError, MAX_SIMULATED_DYNOS};
use crate::control::Bounds;
use crate::queue::document::QueueDocument;
use crate::queue::workers::{Workers, WorkersAction};
use crate::settings::processes::{ProcessSettings, QueueMeasure};
use crate::Settings;

/// One worker process type's figures, per policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessJobs {
    /// The process type.
    pub process: String,
    /// How its queue is read.
    pub measure: QueueMeasure,
    /// Each policy's figures, in the order they were run (`seed` scales no worker: it is left
    /// out).
    pub policies: Vec<(PolicyName, JobResult)>,
    /// Each policy's dynos over the run, for the chart.
    pub dynos: Vec<PolicySeries>,
}

impl ProcessJobs {
    /// One policy's figures; the policy must have been one of those run, and not `seed`.
    pub fn figures(&self, policy: PolicyName) -> &JobResult {
        self.policies
            .iter()
            .find_map(|(name, figures)| (*name == policy).then_some(figures))
            .expect("the policy was run")
    }
}

/// The share of jobs the oracle lets wait longer than one mean job time.
const ORACLE_LATE_SHARE: f64 = 0.05;

/// The process types the trace gives jobs for, with their settings; an error for one that the
/// settings do not configure, or whose max the model cannot hold.
pub fn modelled_processes(
    trace: &Trace,
    settings: &Settings,
) -> Result<Vec<ProcessSettings>, SimulateError> {
    trace
        .jobs()
        .iter()
        .map(|stream| {
            settings
                .processes
                .iter()
                .find(|process| process.name == stream.process)
                .cloned()
                .ok_or_else(|| SimulateError::UnconfiguredProcess {
                    process: stream.process.clone(),
                    configured: settings.processes.iter().map(|p| p.name.clone()).collect(),
                })
        })
        .map(|process| {
            let process = process?;
            let most = process.max_dynos.most();
            if most > MAX_SIMULATED_DYNOS {
                return Err(SimulateError::TooManyWorkerDynos {
                    process: process.name,
                    most,
                    limit: MAX_SIMULATED_DYNOS,
                });
            }
            Ok(process)
        })
        .collect()
}

/// Runs `policies` (but `seed`) over the trace's jobs, for `processes`, the trace's process
/// types as [`modelled_processes`] gives them.
pub fn run(
    trace: &Trace,
    processes: &[ProcessSettings],
    model: &Model,
    settings: &Settings,
    policies: &[PolicyName],
) -> Vec<ProcessJobs> {
    if processes.is_empty() {
        return Vec::new();
    }
    let duration = trace.duration_seconds();
    let clock = Clock::new(settings);
    let streams: Vec<Demand> = trace
        .jobs()
        .iter()
        .map(|stream| Demand {
            points: stream.points(),
            job_seconds: model.job_seconds,
            concurrency: model.job_concurrency,
            boot_seconds: model.boot_seconds,
        })
        .collect();
    let names: Vec<PolicyName> = policies
        .iter()
        .copied()
        .filter(|&name| name != PolicyName::Seed)
        .collect();
    let mut runs: Vec<PolicyJobs> = names
        .iter()
        .map(|&name| PolicyJobs::new(name, processes, &streams, model, settings, &clock))
        .collect();
    let mut arrivals: Vec<_> = trace
        .jobs()
        .iter()
        .enumerate()
        .map(|(index, stream)| {
            // Each process type's own stream, apart from the requests'.
            let seed = model.seed ^ 0x6a6f_6273 ^ ((index as u64 + 1) << 32);
            Arrivals::new(stream.points(), model.job_seconds * 1000.0, seed).peekable()
        })
        .collect();
    let interval = settings.heartbeat_interval.as_secs_f64();
    let ticks = names
        .iter()
        .any(|&name| matches!(name, PolicyName::Oracle | PolicyName::FixedMax));
    let (mut tick, mut beat) = (0u64, 0u64);
    // Events in time order: a tick at the start of each second (the baselines), the worker's
    // queue readings (one per heartbeat), the jobs. At the same instant, in that order.
    loop {
        let tick_at = Some(tick as f64)
            .filter(|&at| ticks && at < duration)
            .unwrap_or(f64::INFINITY);
        let beat_at = Some(beat as f64 * interval)
            .filter(|&at| at < duration)
            .unwrap_or(f64::INFINITY);
        let (job_at, process) = arrivals
            .iter_mut()
            .enumerate()
            .filter_map(|(index, stream)| stream.peek().map(|job| (job.at, index)))
            .fold((f64::INFINITY, 0), |earliest, next| {
                if next.0 < earliest.0 {
                    next
                } else {
                    earliest
                }
            });
        let now = tick_at.min(beat_at).min(job_at);
        if now.is_infinite() {
            break;
        }
        if tick_at == now {
            for run in &mut runs {
                run.tick(now, &streams, &clock, settings);
            }
            tick += 1;
        } else if beat_at == now {
            for run in &mut runs {
                run.read_queues(now, &clock, settings);
            }
            beat += 1;
        } else if let Some(request) = arrivals[process].next() {
            let job = Job {
                at: request.at,
                work: request.service,
            };
            for run in &mut runs {
                run.arrive(process, job);
            }
        }
    }
    let mut results: Vec<ProcessJobs> = processes
        .iter()
        .map(|process| ProcessJobs {
            process: process.name.clone(),
            measure: process.measure,
            policies: Vec::new(),
            dynos: Vec::new(),
        })
        .collect();
    for run in runs {
        let name = run.name;
        for (result, (figures, dynos)) in results.iter_mut().zip(run.finish(duration)) {
            result.policies.push((name, figures));
            result.dynos.push(PolicySeries {
                name: name.label().to_string(),
                ..dynos
            });
        }
    }
    results
}

/// A process type's jobs as the oracle sees them: their rate, when it will come.
struct Demand<'a> {
    points: &'a [super::trace::TracePoint],
    job_seconds: f64,
    concurrency: u32,
    boot_seconds: f64,
}

impl Demand<'_> {
    /// The fewest dynos for which, in steady state at the rate at `seconds`, at most 5 % of
    /// jobs wait longer than one mean job time (an M/M/c queue of every dyno's slots).
    fn dynos_at(&self, seconds: f64, most: u32) -> u32 {
        let rate = rate_at(self.points, seconds);
        if rate <= 0.0 {
            return 0;
        }
        let load = rate * self.job_seconds;
        let per_dyno = f64::from(self.concurrency);
        let mut dynos = ((load / per_dyno).floor() as u32).max(1);
        while dynos < most {
            let slots = dynos * self.concurrency;
            // P(wait > t) = C · exp(−(cμ − λ)t); at t = 1/μ, exp(−(c − load)).
            let late = erlang_c(slots, load) * (-(f64::from(slots) - load)).exp();
            if f64::from(slots) > load && late <= ORACLE_LATE_SHARE {
                break;
            }
            dynos += 1;
        }
        dynos.min(most)
    }

    /// The oracle's count at `seconds`: what is needed now or a boot time from now.
    fn ahead(&self, seconds: f64, most: u32) -> u32 {
        self.dynos_at(seconds, most)
            .max(self.dynos_at(seconds + self.boot_seconds, most))
    }
}

/// One process type in one policy.
struct ProcessRun {
    settings: ProcessSettings,
    fleet: JobFleet,
    recorder: JobRecorder,
    /// The count at the start and each scale call, for the chart.
    dynos: PolicySeries,
}

impl ProcessRun {
    fn bounds(&self, clock: &Clock, settings: &Settings, seconds: f64) -> Bounds {
        let time = clock.time_of_day(settings, seconds);
        Bounds {
            min: self.settings.min_dynos.at(time),
            max: self.settings.max_dynos.at(time),
        }
    }

    fn advance(&mut self, now: f64) {
        let recorder = &mut self.recorder;
        self.fleet.advance(now, &mut |wait| recorder.wait(wait));
    }

    fn scale_to(&mut self, to: u32, now: f64) {
        self.advance(now);
        self.recorder.scale_call(now, self.fleet.asked(), to);
        self.fleet.scale(to, now);
        self.dynos.supply.push((now, to));
        self.dynos.scale_calls.push((now, to));
    }
}

/// One policy's process types.
struct PolicyJobs {
    name: PolicyName,
    kinds: Vec<ProcessRun>,
    workers: Option<Workers>,
}

impl PolicyJobs {
    fn new(
        name: PolicyName,
        processes: &[ProcessSettings],
        demand: &[Demand],
        model: &Model,
        settings: &Settings,
        clock: &Clock,
    ) -> Self {
        let time = clock.time_of_day(settings, 0.0);
        let kinds = processes
            .iter()
            .zip(demand)
            .map(|(process, demand)| {
                let (min, max) = (process.min_dynos.at(time), process.max_dynos.at(time));
                let dynos = match name {
                    PolicyName::FixedMax => max,
                    _ => demand.ahead(0.0, max).clamp(min, max),
                };
                ProcessRun {
                    settings: process.clone(),
                    fleet: JobFleet::new(dynos, model.job_concurrency, model.boot_seconds),
                    recorder: JobRecorder::new(dynos),
                    dynos: PolicySeries {
                        supply: vec![(0.0, dynos)],
                        ..PolicySeries::default()
                    },
                }
            })
            .collect();
        let workers = (name == PolicyName::Autoscaler).then(|| Workers::of(settings, processes));
        let mut run = PolicyJobs {
            name,
            kinds,
            workers,
        };
        if let Some(workers) = &mut run.workers {
            let actions = workers.start();
            run.carry_out(actions, 0.0, clock, settings);
        }
        run
    }

    fn arrive(&mut self, process: usize, job: Job) {
        let kind = &mut self.kinds[process];
        let recorder = &mut kind.recorder;
        kind.fleet.arrive(job, &mut |wait| recorder.wait(wait));
        kind.recorder.queue(kind.fleet.waiting());
    }

    /// The baselines' count for this second.
    fn tick(&mut self, now: f64, demand: &[Demand], clock: &Clock, settings: &Settings) {
        for (kind, demand) in self.kinds.iter_mut().zip(demand) {
            let bounds = kind.bounds(clock, settings, now);
            kind.advance(now);
            let target = match self.name {
                PolicyName::FixedMax => bounds.max,
                PolicyName::Oracle => {
                    let wanted = demand.ahead(now, bounds.max);
                    // Never fewer while jobs wait: the rate alone misses a backlog.
                    let keep = if kind.fleet.waiting() > 0 {
                        kind.fleet.asked()
                    } else {
                        0
                    };
                    wanted.max(keep).clamp(bounds.min, bounds.max)
                }
                PolicyName::Autoscaler | PolicyName::Seed => continue,
            };
            if target != kind.fleet.asked() {
                kind.scale_to(target, now);
            }
        }
    }

    /// The worker's reading of the queue document after a heartbeat.
    fn read_queues(&mut self, now: f64, clock: &Clock, settings: &Settings) {
        let Some(workers) = &mut self.workers else {
            return;
        };
        let mut document = QueueDocument::default();
        for kind in &mut self.kinds {
            kind.advance(now);
            let value = match kind.settings.measure {
                QueueMeasure::Size { .. } => kind.fleet.jobs_in_queue(now) as f64,
                QueueMeasure::Latency { .. } => kind.fleet.latency(now),
            };
            document.values.insert(kind.settings.name.clone(), value);
        }
        let time = clock.time_of_day(settings, now);
        let actions = workers.on_reading(Ok(document), time, clock.instant(now));
        self.carry_out(actions, now, clock, settings);
    }

    /// Does what the workers asked; the API answers at once.
    fn carry_out(
        &mut self,
        actions: Vec<WorkersAction>,
        now: f64,
        clock: &Clock,
        settings: &Settings,
    ) {
        let time = clock.time_of_day(settings, now);
        let instant = clock.instant(now);
        let mut actions = std::collections::VecDeque::from(actions);
        while let Some(action) = actions.pop_front() {
            let workers = self
                .workers
                .as_mut()
                .expect("actions come from the workers");
            let answer = match action {
                WorkersAction::ReadFormations => {
                    let counts: BTreeMap<String, u32> = self
                        .kinds
                        .iter()
                        .map(|kind| (kind.settings.name.clone(), kind.fleet.asked()))
                        .collect();
                    workers.on_formations(Ok(counts), time, instant)
                }
                WorkersAction::Scale(changes) => {
                    let mut counts = BTreeMap::new();
                    for change in changes {
                        if let Some(kind) = self
                            .kinds
                            .iter_mut()
                            .find(|k| k.settings.name == change.process)
                        {
                            kind.scale_to(change.to, now);
                            counts.insert(change.process, change.to);
                        }
                    }
                    let workers = self
                        .workers
                        .as_mut()
                        .expect("actions come from the workers");
                    workers.on_scaled(Ok(counts), instant)
                }
                WorkersAction::Notify(notice) => {
                    let process = notice.process();
                    if let Some(kind) = self
                        .kinds
                        .iter_mut()
                        .find(|k| Some(&*k.settings.name) == process)
                    {
                        kind.recorder.notice();
                    }
                    Vec::new()
                }
                WorkersAction::ReadingFailed { .. }
                | WorkersAction::ReadingRecovered { .. }
                | WorkersAction::UnknownNames(_)
                | WorkersAction::NotInFormation(_) => Vec::new(),
            };
            actions.extend(answer);
        }
    }

    fn finish(self, duration: f64) -> Vec<(JobResult, PolicySeries)> {
        self.kinds
            .into_iter()
            .map(|mut kind| {
                kind.advance(duration);
                for wait in kind.fleet.still_waiting(duration) {
                    kind.recorder.wait(wait);
                }
                (kind.recorder.finish(duration), kind.dynos)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{load, Mode, SettingsSource};
    use crate::simulate::trace::TracePoint;

    /// The trace's process types checked, then run, as `simulate::run_policies` does.
    fn run_checked(
        trace: &Trace,
        model: &Model,
        settings: &Settings,
        policies: &[PolicyName],
    ) -> Result<Vec<ProcessJobs>, SimulateError> {
        let processes = modelled_processes(trace, settings)?;
        Ok(run(trace, &processes, model, settings, policies))
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let mut source = SettingsSource::from_vars(vars.iter().copied());
        source.mode = Mode::Simulation;
        load(&source).expect("valid settings").settings
    }

    /// Web traffic of 10 req/s, and `jobs` (minute, jobs per second) for `worker`.
    fn trace(jobs: &[(f64, f64)]) -> Trace {
        let rows = jobs
            .iter()
            .map(|&(minute, _)| TracePoint {
                seconds: minute * 60.0,
                requests_per_second: 10.0,
                service_ms: None,
            })
            .collect();
        let rates: Vec<f64> = jobs.iter().map(|&(_, rate)| rate).collect();
        Trace::from_points("jobs", rows)
            .and_then(|trace| trace.with_jobs("worker", &rates))
            .unwrap()
    }

    fn figures(jobs: &[ProcessJobs], policy: PolicyName) -> &JobResult {
        jobs[0].figures(policy)
    }

    #[test]
    fn the_oracle_runs_enough_slots_for_the_rate_and_none_for_no_jobs() {
        let demand = Demand {
            points: &[
                TracePoint {
                    seconds: 0.0,
                    requests_per_second: 2.0,
                    service_ms: None,
                },
                TracePoint {
                    seconds: 100.0,
                    requests_per_second: 0.0,
                    service_ms: None,
                },
            ],
            job_seconds: 10.0,
            concurrency: 5,
            boot_seconds: 50.0,
        };
        // 2 jobs/s of 10 s: 20 jobs at work on average, 4 dynos' slots, and more to spare.
        let dynos = demand.dynos_at(0.0, 100);
        assert!((5..=6).contains(&dynos), "{dynos}");
        let slots = dynos * 5;
        let late = erlang_c(slots, 20.0) * (-(f64::from(slots) - 20.0)).exp();
        assert!(late <= ORACLE_LATE_SHARE, "{late}");
        let fewer = slots - 5;
        assert!(erlang_c(fewer, 20.0) * (-(f64::from(fewer) - 20.0)).exp() > ORACLE_LATE_SHARE);
        // Capped by the max; nothing for no jobs; a boot time ahead, the rate at 100 s is 0.
        assert_eq!(demand.dynos_at(0.0, 3), 3);
        assert_eq!(demand.dynos_at(100.0, 100), 0);
        assert_eq!(demand.ahead(60.0, 100), demand.dynos_at(60.0, 100));
    }

    #[test]
    fn the_autoscaler_follows_the_queue_up_from_zero_and_back_to_zero_when_idle() {
        // No jobs for 10 minutes, 1 job/s for 20, none for 30.
        let trace = trace(&[
            (0.0, 0.0),
            (10.0, 0.0),
            (10.01, 1.0),
            (30.0, 1.0),
            (30.01, 0.0),
            (60.0, 0.0),
        ]);
        let settings = settings(&[("AUTOSCALE_PROCESSES", "worker: max_dynos=8 jobs_per_dyno=5")]);
        let model = Model::default();
        let jobs = run_checked(&trace, &model, &settings, &PolicyName::ALL).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].process, "worker");
        let labels: Vec<_> = jobs[0].policies.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            labels,
            [
                PolicyName::Autoscaler,
                PolicyName::Oracle,
                PolicyName::FixedMax
            ]
        );
        let autoscaler = figures(&jobs, PolicyName::Autoscaler);
        // About 1200 jobs; each policy sees the same ones.
        assert!((1000..1400).contains(&autoscaler.jobs), "{autoscaler:?}");
        assert_eq!(figures(&jobs, PolicyName::Oracle).jobs, autoscaler.jobs);
        // From 0 to at least the 2 dynos 10 jobs at work need, never above the max, and down
        // again when the jobs stop.
        assert!((2..=8).contains(&autoscaler.max_dynos), "{autoscaler:?}");
        assert!(autoscaler.scale_ups >= 1 && autoscaler.scale_downs >= 1);
        // Jobs wait for the first dyno's boot and the first reading, not for long after.
        assert!(autoscaler.max_wait_s >= 45.0, "{autoscaler:?}");
        assert!(autoscaler.p50_wait_s < 30.0, "{autoscaler:?}");
        // Fixed at the max: 8 dynos for the hour, no waits to speak of.
        let fixed = figures(&jobs, PolicyName::FixedMax);
        assert_eq!((fixed.dyno_hours, fixed.scale_ups), (8.0, 0));
        assert!(fixed.p95_wait_s < 1.0, "{fixed:?}");
        // Far cheaper than the max; 20 minutes of 2-3 dynos plus boots and the idle time.
        assert!(autoscaler.dyno_hours < 2.0, "{autoscaler:?}");
    }

    #[test]
    fn the_autoscaler_ends_at_zero_after_the_idle_time() {
        let trace = trace(&[(0.0, 1.0), (10.0, 1.0), (10.01, 0.0), (40.0, 0.0)]);
        let settings = settings(&[
            ("AUTOSCALE_PROCESSES", "worker: max_dynos=8 jobs_per_dyno=5"),
            ("AUTOSCALE_IDLE_MINUTES_BEFORE_ZERO", "5"),
        ]);
        let only = [PolicyName::Autoscaler];
        let jobs = run_checked(&trace, &Model::default(), &settings, &only).unwrap();
        let autoscaler = figures(&jobs, PolicyName::Autoscaler);
        // Started at the oracle's count for 1 job/s; ends at 0: the 30 quiet minutes cost at
        // most the passes, the idle time and a reading's wait at that count.
        assert!(autoscaler.scale_downs >= 1, "{autoscaler:?}");
        let supply = &jobs[0].dynos[0].supply;
        assert_eq!(
            supply.last().map(|&(_, count)| count),
            Some(0),
            "{supply:?}"
        );
        // It went only after the idle time: the jobs stop at 10 minutes.
        let zero_at = supply.last().map(|&(at, _)| at).unwrap_or_default();
        assert!(zero_at >= 15.0 * 60.0, "{supply:?}");
        let at_start = f64::from(
            Demand {
                points: trace.jobs()[0].points(),
                job_seconds: 10.0,
                concurrency: 5,
                boot_seconds: 45.0,
            }
            .ahead(0.0, 8),
        );
        assert!(
            autoscaler.dyno_hours < at_start * (10.0 + 10.0) / 60.0,
            "{autoscaler:?}"
        );
    }

    #[test]
    fn a_latency_process_is_read_by_the_age_of_its_oldest_job() {
        // 1.5 jobs/s of 10 s: 15 at work, 3 dynos; starting from the min of 1, the queue ages
        // until the latency streak adds dynos.
        let trace = trace(&[(0.0, 0.0), (1.0, 1.5), (40.0, 1.5)]);
        let settings = settings(&[(
            "AUTOSCALE_PROCESSES",
            "worker: min_dynos=1 max_dynos=6 max_latency_in_seconds=20",
        )]);
        let only = [PolicyName::Autoscaler];
        let jobs = run_checked(&trace, &Model::default(), &settings, &only).unwrap();
        let autoscaler = figures(&jobs, PolicyName::Autoscaler);
        assert!(autoscaler.max_dynos >= 3, "{autoscaler:?}");
        assert!(autoscaler.max_wait_s > 20.0, "{autoscaler:?}");
    }

    #[test]
    fn a_process_type_the_settings_do_not_configure_is_refused() {
        let trace = trace(&[(0.0, 1.0), (10.0, 1.0)]);
        let error =
            run_checked(&trace, &Model::default(), &settings(&[]), &PolicyName::ALL).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the trace gives jobs for the process type worker, which the settings do not \
             configure (they configure none): add it to AUTOSCALE_PROCESSES, like \
             AUTOSCALE_PROCESSES=\"worker: max_dynos=10 jobs_per_dyno=50\""
        );
        let settings = settings(&[("AUTOSCALE_PROCESSES", "mailer: max_dynos=2 jobs_per_dyno=5")]);
        let error =
            run_checked(&trace, &Model::default(), &settings, &PolicyName::ALL).unwrap_err();
        assert!(
            error.to_string().contains("(they configure mailer)"),
            "{error}"
        );
    }

    #[test]
    fn a_max_the_model_cannot_hold_is_refused_naming_the_process_type() {
        let trace = trace(&[(0.0, 1.0), (10.0, 1.0)]);
        let settings = settings(&[(
            "AUTOSCALE_PROCESSES",
            "worker: max_dynos=1000000 jobs_per_dyno=10",
        )]);
        let error =
            run_checked(&trace, &Model::default(), &settings, &PolicyName::ALL).unwrap_err();
        assert_eq!(
            error.to_string(),
            "max_dynos of the process type worker in AUTOSCALE_PROCESSES allows 1000000 dynos: \
             simulate models at most 10000; give a max of 10000 or fewer to simulate"
        );
    }
}
