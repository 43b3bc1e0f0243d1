//! Every worker process type together: one [`ProcessRule`] each, one formation read for all,
//! and the changes of a beat sent as one batch. The same invariants as the web controller's:
//! the bounds at once, never negative, the counts re-read before a scale, one call in flight.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::document::{latency_seconds, whole_jobs, QueueDocument};
use super::rules::{ProcessRule, QueueDecision, QueueReason, Rule};
use crate::control::refusal::Refusal;
use crate::control::Bounds;
use crate::heroku::ApiError;
use crate::notify::{Notice, NoticeGate, NoticeKind};
use crate::settings::processes::{ProcessSettings, QueueMeasure};
use crate::settings::schedule::TimeOfDay;

/// One process type's change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The process type.
    pub process: String,
    /// Its count before.
    pub from: u32,
    /// The count asked for.
    pub to: u32,
    /// Why.
    pub reason: QueueReason,
}

/// Something the workers' actor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkersAction {
    /// Read every process type's count, then call [`Workers::on_formations`].
    ReadFormations,
    /// Send these changes as one batch, then call [`Workers::on_scaled`].
    Scale(Vec<Change>),
    /// Send a notice.
    Notify(Notice),
    /// Readings for these process types began failing (logged once per episode).
    ReadingFailed {
        /// The process types the failure concerns.
        processes: Vec<String>,
        /// Why.
        why: String,
    },
    /// A process type's readings work again after `failures` failed ones.
    ReadingRecovered {
        /// The process type.
        process: String,
        /// How many readings failed in the episode.
        failures: u64,
    },
    /// The document names process types that are not configured (once per set of names).
    UnknownNames(Vec<String>),
    /// A configured process type is not in the app's formation (once).
    NotInFormation(String),
}

#[derive(Debug, Clone)]
struct Process {
    settings: ProcessSettings,
    rule: ProcessRule,
    notices: NoticeGate,
    failures: u64,
    missing_reported: bool,
    /// The latest reading for it worked: without one, only the bounds may change its count.
    fresh: bool,
    /// What Heroku refused of it (HTTP 422), as for web.
    refusal: Option<Refusal>,
}

impl Process {
    /// The bounds in force at `time`.
    fn bounds(&self, time: TimeOfDay) -> Bounds {
        Bounds {
            min: self.settings.min_dynos.at(time),
            max: self.settings.max_dynos.at(time),
        }
    }

    /// What its rule calls for at `count`, within a refusal Heroku taught (held by the plan
    /// below the max is no need above it: the refusal's log line said so); on no fresh reading,
    /// only a correction into the bounds, since an error is no evidence.
    fn decision(&self, count: u32, time: TimeOfDay, now: Instant) -> QueueDecision {
        let bounds = self.bounds(time);
        let refusal = self
            .refusal
            .filter(|refusal| refusal.holds(bounds.max, count, now));
        let within_plan = refusal.map_or(bounds, |refusal| refusal.bounds(bounds));
        match self.rule.decide(count, within_plan, now) {
            QueueDecision::Scale { to, .. } if refusal.is_some_and(|r| r.refuses(to)) => {
                QueueDecision::Hold
            }
            QueueDecision::NeedsAboveMax { .. } if within_plan.max < bounds.max => {
                QueueDecision::Hold
            }
            decision @ QueueDecision::Scale {
                reason: QueueReason::BelowMin | QueueReason::AboveMax,
                ..
            } => decision,
            _ if !self.fresh => QueueDecision::Hold,
            decision => decision,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Read,
    /// The changes sent, each with the max in force when it was decided.
    Scale(Vec<(Change, u32)>),
}

/// The worker process types' state.
#[derive(Debug, Clone)]
pub struct Workers {
    /// The rule's parts every process type shares, and the notice period: with each type's
    /// settings, what a restart rebuilds from.
    shared: Rule,
    notice_repeat: Duration,
    plan_limit_memory: Option<Duration>,
    processes: Vec<Process>,
    known: Option<(BTreeMap<String, u32>, Instant)>,
    pending: Option<Pending>,
    refresh: Duration,
    unknown_reported: Vec<String>,
}

impl Workers {
    /// The process types with their rules: passes, fails and increment shared with the web's
    /// settings, the idle time each one's or `idle_before_zero`.
    pub fn new(
        processes: &[ProcessSettings],
        shared: Rule,
        refresh: Duration,
        notice_repeat: Duration,
        plan_limit_memory: Option<Duration>,
    ) -> Self {
        let processes = processes
            .iter()
            .map(|settings| Process {
                rule: ProcessRule::new(Rule {
                    measure: settings.measure,
                    idle_before_zero: settings.idle_before_zero.unwrap_or(shared.idle_before_zero),
                    ..shared
                }),
                settings: settings.clone(),
                notices: NoticeGate::new(notice_repeat),
                failures: 0,
                missing_reported: false,
                fresh: false,
                refusal: None,
            })
            .collect();
        Workers {
            shared,
            notice_repeat,
            plan_limit_memory,
            processes,
            known: None,
            pending: None,
            refresh,
            unknown_reported: Vec::new(),
        }
    }

    /// `processes` with the rule and periods the settings give.
    pub fn of(settings: &crate::Settings, processes: &[ProcessSettings]) -> Self {
        Workers::new(
            processes,
            Rule::shared(settings),
            settings.formation_refresh,
            settings.notify_repeat_after,
            settings.plan_limit_memory,
        )
    }

    /// The same process types with nothing known (after a restart: a batch may have been
    /// applied unseen, so the counts are read again and the evidence starts afresh).
    pub fn restarted(&self) -> Workers {
        let settings: Vec<ProcessSettings> =
            self.processes.iter().map(|p| p.settings.clone()).collect();
        let mut fresh = Workers::new(
            &settings,
            self.shared,
            self.refresh,
            self.notice_repeat,
            self.plan_limit_memory,
        );
        // What Heroku refused outlives a restart, as the web controller's does.
        for (new, old) in fresh.processes.iter_mut().zip(&self.processes) {
            new.refusal = old.refusal;
        }
        fresh
    }

    /// The first actions: read the counts, so the bounds are enforced without waiting.
    pub fn start(&mut self) -> Vec<WorkersAction> {
        self.read()
    }

    /// The count last read or set for `process`, if known.
    pub fn count(&self, process: &str) -> Option<u32> {
        self.known
            .as_ref()
            .and_then(|(counts, _)| counts.get(process).copied())
    }

    /// Whether a call is in flight (a stop waits for a scale).
    pub fn scaling(&self) -> bool {
        matches!(self.pending, Some(Pending::Scale(_)))
    }

    /// One reading of the queue document (or why it failed), at `time` of day in the
    /// schedules' zone.
    pub fn on_reading(
        &mut self,
        reading: Result<QueueDocument, String>,
        time: TimeOfDay,
        now: Instant,
    ) -> Vec<WorkersAction> {
        let mut actions = Vec::new();
        let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Ok(document) = &reading {
            let unknown: Vec<String> = document
                .values
                .keys()
                .chain(document.refused.keys())
                .filter(|name| !self.processes.iter().any(|p| &p.settings.name == *name))
                .cloned()
                .collect();
            if !unknown.is_empty() && unknown != self.unknown_reported {
                actions.push(WorkersAction::UnknownNames(unknown.clone()));
            }
            self.unknown_reported = unknown;
        }
        for process in &mut self.processes {
            let name = &process.settings.name;
            let value = match &reading {
                Ok(document) => match (document.values.get(name), document.refused.get(name)) {
                    (Some(&value), _) => match process.settings.measure {
                        QueueMeasure::Size { .. } => whole_jobs(value),
                        QueueMeasure::Latency { .. } => Ok(latency_seconds(value)),
                    }
                    .map_err(|why| format!("its entry: {why}")),
                    (None, Some(why)) => Err(format!("its entry: {why}")),
                    (None, None) => Err("the document has no entry for it".to_string()),
                },
                Err(why) => Err(why.clone()),
            };
            process.fresh = value.is_ok();
            match value {
                Ok(value) => {
                    if process.failures > 0 {
                        actions.push(WorkersAction::ReadingRecovered {
                            process: name.clone(),
                            failures: std::mem::take(&mut process.failures),
                        });
                    }
                    process.rule.observe(Some(value), now);
                }
                Err(why) => {
                    process.failures += 1;
                    if process.failures == 1 {
                        failed.entry(why).or_default().push(name.clone());
                    }
                    process.rule.observe(None, now);
                }
            }
        }
        actions.extend(
            failed
                .into_iter()
                .map(|(why, processes)| WorkersAction::ReadingFailed { processes, why }),
        );
        if self.pending.is_some() {
            return actions;
        }
        let Some((counts, read_at)) = &self.known else {
            actions.extend(self.read());
            return actions;
        };
        let stale = now.saturating_duration_since(*read_at) >= self.refresh;
        let wants_change = self.processes.iter().any(|process| {
            counts.get(&process.settings.name).is_some_and(|&count| {
                matches!(
                    process.decision(count, time, now),
                    QueueDecision::Scale { .. }
                )
            })
        });
        if stale || wants_change {
            actions.extend(self.read());
            return actions;
        }
        let counts = counts.clone();
        // Nothing to change (else it would have read): only the notices.
        actions.extend(self.decide(&counts, time, now).0);
        actions
    }

    /// The answer to [`WorkersAction::ReadFormations`]: every process type's count.
    pub fn on_formations(
        &mut self,
        result: Result<BTreeMap<String, u32>, ApiError>,
        time: TimeOfDay,
        now: Instant,
    ) -> Vec<WorkersAction> {
        if self.pending != Some(Pending::Read) {
            return Vec::new();
        }
        self.pending = None;
        // A failed read is retried at the next reading.
        let Ok(counts) = result else {
            return Vec::new();
        };
        let (mut actions, changes) = self.decide(&counts, time, now);
        self.known = Some((counts, now));
        if !changes.is_empty() {
            let batch = changes.iter().map(|(change, _)| change.clone()).collect();
            self.pending = Some(Pending::Scale(changes));
            actions.push(WorkersAction::Scale(batch));
        }
        actions
    }

    /// The answer to [`WorkersAction::Scale`]: the counts the API now reports for the process
    /// types changed, or why the batch failed (the counts are then read again next time).
    pub fn on_scaled(
        &mut self,
        result: Result<BTreeMap<String, u32>, ApiError>,
        now: Instant,
    ) -> Vec<WorkersAction> {
        let Some(Pending::Scale(changes)) = self.pending.take() else {
            return Vec::new();
        };
        match result {
            Ok(counts) => {
                if let Some((known, read_at)) = &mut self.known {
                    known.extend(counts);
                    *read_at = now;
                }
                for (change, _) in &changes {
                    if let Some(process) = self.process_mut(&change.process) {
                        process
                            .rule
                            .scaled_for(change.reason, change.from, change.to, now);
                        process.notices.clear(NoticeKind::QueueNeedsAboveMax);
                    }
                }
            }
            Err(error) => {
                self.known = None;
                // A refusal is all or nothing for the batch, but it is about some quantity:
                // each change is not asked for again (a scale-up is capped, as for web), so the
                // others go through in the next batch.
                if matches!(error, ApiError::Unprocessable { .. }) {
                    let memory = self.plan_limit_memory;
                    for (change, max) in &changes {
                        let refusal = Refusal::of(
                            change.from,
                            change.to,
                            error.named_limit(),
                            *max,
                            memory,
                            now,
                        );
                        if let Some(process) = self.process_mut(&change.process) {
                            process.refusal = Some(refusal);
                        }
                    }
                }
            }
        }
        Vec::new()
    }

    /// Each process type's decision at `counts`: the changes to send (each with the max in
    /// force), and the notices; a process type missing from the formation is reported once.
    fn decide(
        &mut self,
        counts: &BTreeMap<String, u32>,
        time: TimeOfDay,
        now: Instant,
    ) -> (Vec<WorkersAction>, Vec<(Change, u32)>) {
        let mut actions = Vec::new();
        let mut changes = Vec::new();
        for process in &mut self.processes {
            let name = process.settings.name.clone();
            let Some(&count) = counts.get(&name) else {
                if !process.missing_reported {
                    process.missing_reported = true;
                    actions.push(WorkersAction::NotInFormation(name));
                }
                continue;
            };
            let bounds = process.bounds(time);
            match process.decision(count, time, now) {
                QueueDecision::Scale { to, reason } => changes.push((
                    Change {
                        process: name,
                        from: count,
                        to,
                        reason,
                    },
                    bounds.max,
                )),
                QueueDecision::NeedsAboveMax { value }
                    if process
                        .notices
                        .should_send(NoticeKind::QueueNeedsAboveMax, now) =>
                {
                    actions.push(WorkersAction::Notify(Notice::QueueNeedsAboveMax {
                        process: name,
                        quantity: count,
                        bounds,
                        value,
                        latency: matches!(process.settings.measure, QueueMeasure::Latency { .. }),
                    }));
                }
                QueueDecision::NeedsAboveMax { .. } => {}
                _ if count < bounds.max => process.notices.clear(NoticeKind::QueueNeedsAboveMax),
                _ => {}
            }
        }
        (actions, changes)
    }

    fn read(&mut self) -> Vec<WorkersAction> {
        self.pending = Some(Pending::Read);
        vec![WorkersAction::ReadFormations]
    }

    fn process_mut(&mut self, name: &str) -> Option<&mut Process> {
        self.processes.iter_mut().find(|p| p.settings.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::processes::QueueMeasure;
    use crate::settings::schedule::DynoLimit;

    const SHARED: Rule = Rule {
        measure: QueueMeasure::Size { jobs_per_dyno: 1 },
        passes: 3,
        fails: 2,
        increment: 1,
        idle_before_zero: Duration::from_secs(300),
        proportional_scale_up: true,
        scale_down_backoff: true,
    };
    const REFRESH: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn process(name: &str, max: u32, measure: QueueMeasure) -> ProcessSettings {
        ProcessSettings {
            name: name.into(),
            min_dynos: DynoLimit::Fixed(0),
            max_dynos: DynoLimit::Fixed(max),
            measure,
            idle_before_zero: None,
        }
    }

    fn workers() -> Workers {
        Workers::new(
            &[
                process("worker", 5, QueueMeasure::Size { jobs_per_dyno: 50 }),
                process("urgent", 3, QueueMeasure::Latency { max_seconds: 30 }),
            ],
            SHARED,
            REFRESH,
            HOUR,
            Some(HOUR),
        )
    }

    fn noon() -> TimeOfDay {
        TimeOfDay::new(12, 0).unwrap()
    }

    fn document(entries: &[(&str, u64)]) -> Result<QueueDocument, String> {
        Ok(QueueDocument {
            values: entries
                .iter()
                .map(|(n, v)| (n.to_string(), *v as f64))
                .collect(),
            refused: BTreeMap::new(),
        })
    }

    fn counts(entries: &[(&str, u32)]) -> Result<BTreeMap<String, u32>, ApiError> {
        Ok(entries.iter().map(|(n, v)| (n.to_string(), *v)).collect())
    }

    /// Workers that have read `known` at `now`.
    fn started(known: &[(&str, u32)], now: Instant) -> Workers {
        let mut w = workers();
        assert_eq!(w.start(), [WorkersAction::ReadFormations]);
        assert_eq!(w.on_formations(counts(known), noon(), now), []);
        w
    }

    fn change(process: &str, from: u32, to: u32, reason: QueueReason) -> Change {
        Change {
            process: process.into(),
            from,
            to,
            reason,
        }
    }

    #[test]
    fn changes_in_one_beat_go_out_as_one_batch_after_a_fresh_read() {
        let now = Instant::now();
        let mut w = started(&[("worker", 1), ("urgent", 0)], now);
        let reading = document(&[("worker", 120), ("urgent", 4)]);
        assert_eq!(
            w.on_reading(reading, noon(), now),
            [WorkersAction::ReadFormations],
            "re-read before a scale"
        );
        // Another reading while the read is in flight starts nothing.
        assert_eq!(
            w.on_reading(document(&[("worker", 120), ("urgent", 4)]), noon(), now),
            []
        );
        let actions = w.on_formations(counts(&[("worker", 1), ("urgent", 0)]), noon(), now);
        let batch = vec![
            change("worker", 1, 3, QueueReason::MoreJobs),
            change("urgent", 0, 1, QueueReason::JobsAtZero),
        ];
        assert_eq!(actions, [WorkersAction::Scale(batch)]);
        assert!(w.scaling());
        assert_eq!(
            w.on_reading(document(&[("worker", 300)]), noon(), now)
                .len(),
            1,
            "only the failure for urgent"
        );
        assert_eq!(
            w.on_scaled(counts(&[("worker", 3), ("urgent", 1)]), now),
            []
        );
        assert!(!w.scaling());
    }

    #[test]
    fn a_count_read_anew_decides_not_the_one_remembered() {
        let now = Instant::now();
        let mut w = started(&[("worker", 1), ("urgent", 1)], now);
        w.on_reading(document(&[("worker", 120), ("urgent", 20)]), noon(), now);
        // Someone scaled the worker to 3 by hand meanwhile: nothing to do.
        assert_eq!(
            w.on_formations(counts(&[("worker", 3), ("urgent", 1)]), noon(), now),
            []
        );
    }

    #[test]
    fn a_failed_reading_is_reported_once_per_episode_and_scales_nothing() {
        let now = Instant::now();
        let mut w = started(&[("worker", 2), ("urgent", 1)], now);
        let failed = w.on_reading(Err("no answer within 1 s".into()), noon(), now);
        assert_eq!(
            failed,
            [WorkersAction::ReadingFailed {
                processes: vec!["worker".into(), "urgent".into()],
                why: "no answer within 1 s".into()
            }]
        );
        for _ in 0..20 {
            assert_eq!(
                w.on_reading(Err("no answer within 1 s".into()), noon(), now),
                []
            );
        }
        let back = w.on_reading(document(&[("worker", 100), ("urgent", 20)]), noon(), now);
        assert!(back.contains(&WorkersAction::ReadingRecovered {
            process: "worker".into(),
            failures: 21
        }));
        // A document without an entry fails that process type alone.
        let mut w = started(&[("worker", 2), ("urgent", 1)], now);
        let actions = w.on_reading(document(&[("worker", 100)]), noon(), now);
        assert_eq!(
            actions,
            [WorkersAction::ReadingFailed {
                processes: vec!["urgent".into()],
                why: "the document has no entry for it".into()
            }]
        );
    }

    #[test]
    fn a_fraction_is_a_latency_in_seconds_but_never_a_number_of_jobs() {
        let now = Instant::now();
        let mut w = started(&[("worker", 1), ("urgent", 1)], now);
        let reading = Ok(QueueDocument {
            values: BTreeMap::from([("worker".into(), 2.5), ("urgent".into(), 30.2)]),
            refused: BTreeMap::new(),
        });
        let actions = w.on_reading(reading, noon(), now);
        assert!(
            matches!(actions.as_slice(), [WorkersAction::ReadingFailed { processes, why }]
                if processes == &["worker"] && why.contains("not a whole number of jobs")),
            "{actions:?}"
        );
        // 30.2 s rounds up to 31, over the max of 30: a second such reading completes the streak.
        let reading = Ok(QueueDocument {
            values: BTreeMap::from([("worker".into(), 50.0), ("urgent".into(), 30.2)]),
            refused: BTreeMap::new(),
        });
        let actions = w.on_reading(reading, noon(), now);
        assert!(
            actions.contains(&WorkersAction::ReadFormations),
            "{actions:?}"
        );
        let actions = w.on_formations(counts(&[("worker", 1), ("urgent", 1)]), noon(), now);
        assert_eq!(
            actions,
            [WorkersAction::Scale(vec![change(
                "urgent",
                1,
                2,
                QueueReason::SlowJobs
            )])]
        );
    }

    #[test]
    fn a_type_whose_latest_reading_failed_is_not_scaled_on_older_evidence() {
        let now = Instant::now();
        let mut w = started(&[("worker", 0), ("urgent", 1)], now);
        let read = w.on_reading(document(&[("worker", 120), ("urgent", 0)]), noon(), now);
        assert_eq!(read, [WorkersAction::ReadFormations]);
        // While the read is in flight, the worker's entry goes missing.
        w.on_reading(document(&[("urgent", 0)]), noon(), now);
        assert_eq!(
            w.on_formations(counts(&[("worker", 0), ("urgent", 1)]), noon(), now),
            [],
            "120 jobs a reading ago are no evidence now"
        );
        // The bounds still act on a type without a fresh reading.
        let day = TimeOfDay::new(12, 0).unwrap();
        let mut w = Workers::new(
            &[ProcessSettings {
                min_dynos: DynoLimit::Fixed(2),
                ..process("worker", 5, QueueMeasure::Size { jobs_per_dyno: 50 })
            }],
            SHARED,
            REFRESH,
            HOUR,
            None,
        );
        w.start();
        let actions = w.on_formations(counts(&[("worker", 0)]), day, now);
        assert_eq!(
            actions,
            [WorkersAction::Scale(vec![change(
                "worker",
                0,
                2,
                QueueReason::BelowMin
            )])]
        );
    }

    #[test]
    fn a_refused_batch_is_not_sent_again_and_the_others_go_through() {
        let now = Instant::now();
        let mut w = started(&[("worker", 1), ("urgent", 1)], now);
        let busy = || document(&[("worker", 200), ("urgent", 40)]);
        w.on_reading(busy(), noon(), now);
        w.on_reading(busy(), noon(), now);
        let first = w.on_formations(counts(&[("worker", 1), ("urgent", 1)]), noon(), now);
        assert_eq!(
            first,
            [WorkersAction::Scale(vec![
                change("worker", 1, 4, QueueReason::MoreJobs),
                change("urgent", 1, 2, QueueReason::SlowJobs),
            ])]
        );
        let refused = ApiError::Unprocessable {
            id: "cannot_run_above_limit".into(),
            message: "Cannot update to more than 2 Standard-1X size dynos per process type.".into(),
        };
        assert_eq!(w.on_scaled(Err(refused), now), []);
        assert_eq!(
            w.on_reading(busy(), noon(), now),
            [WorkersAction::ReadFormations]
        );
        // The worker is capped at the limit named (2), urgent at what runs (the 2 it asked for
        // is the limit, so it says nothing more): the worker's change goes alone, and no
        // needs-above-max notice comes for a type held by the plan.
        let second = w.on_formations(counts(&[("worker", 1), ("urgent", 1)]), noon(), now);
        assert_eq!(
            second,
            [WorkersAction::Scale(vec![change(
                "worker",
                1,
                2,
                QueueReason::MoreJobs
            )])]
        );
        assert_eq!(w.on_scaled(counts(&[("worker", 2)]), now), []);
        // At the cap nothing more is asked, however long the queue.
        for _ in 0..5 {
            let actions = w.on_reading(busy(), noon(), now);
            assert!(
                !actions.iter().any(|a| matches!(a, WorkersAction::Scale(_))),
                "{actions:?}"
            );
            if actions.contains(&WorkersAction::ReadFormations) {
                let more = w.on_formations(counts(&[("worker", 2), ("urgent", 1)]), noon(), now);
                assert_eq!(more, [], "no scale, no notice");
            }
        }
    }

    #[test]
    fn unknown_names_and_missing_process_types_are_reported_once() {
        let now = Instant::now();
        let mut w = workers();
        w.start();
        assert_eq!(
            w.on_formations(counts(&[("worker", 1)]), noon(), now),
            [WorkersAction::NotInFormation("urgent".into())]
        );
        let reading = || document(&[("worker", 0), ("urgent", 0), ("mailer", 3)]);
        assert_eq!(
            w.on_reading(reading(), noon(), now),
            [WorkersAction::UnknownNames(vec!["mailer".into()])]
        );
        assert_eq!(w.on_reading(reading(), noon(), now), []);
    }

    #[test]
    fn a_queue_beyond_the_max_is_noticed_once_per_process_type() {
        let now = Instant::now();
        let mut w = started(&[("worker", 5), ("urgent", 3)], now);
        let busy = || document(&[("worker", 900), ("urgent", 60)]);
        let first = w.on_reading(busy(), noon(), now);
        assert_eq!(first.len(), 1, "{first:?}");
        let WorkersAction::Notify(notice) = &first[0] else {
            panic!("{first:?}")
        };
        assert_eq!(
            notice.queue_headline().as_deref(),
            Some("at max 5 worker dynos and 900 jobs waiting")
        );
        // The latency needs its streak (fails = 2): the second reading adds urgent's notice.
        let second = w.on_reading(busy(), noon(), now);
        assert!(
            matches!(second.as_slice(), [WorkersAction::Notify(Notice::QueueNeedsAboveMax { process, .. })] if process == "urgent"),
            "{second:?}"
        );
        for _ in 0..10 {
            assert_eq!(w.on_reading(busy(), noon(), now), []);
        }
    }

    #[test]
    fn a_failed_batch_leaves_the_counts_to_be_read_again() {
        let now = Instant::now();
        let mut w = started(&[("worker", 1), ("urgent", 1)], now);
        w.on_reading(document(&[("worker", 200), ("urgent", 10)]), noon(), now);
        w.on_formations(counts(&[("worker", 1), ("urgent", 1)]), noon(), now);
        let error = ApiError::Server {
            status: 503,
            id: "unavailable".into(),
            message: String::new(),
        };
        assert_eq!(w.on_scaled(Err(error), now), []);
        assert_eq!(
            w.on_reading(document(&[("worker", 200), ("urgent", 10)]), noon(), now),
            [WorkersAction::ReadFormations]
        );
    }
}
