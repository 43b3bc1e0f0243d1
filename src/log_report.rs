//! `heroku-autoscale report`: what the worker really did, read back from its own log.
//!
//! The log comes as `heroku logs` prints it (`2026-11-29T10:00:00.000000+00:00
//! app[autoscaleworker.1]: Nov 29 10:00:00.000 INFO ...`), through a log drain (`<190>1
//! 2026-11-29T10:00:00.000000+00:00 host app autoscaleworker.1 - Nov 29 ...`), or as the worker
//! prints it locally (`Nov 29 10:00:00.000 INFO ...`, which has no year: the year is the one
//! that puts it within the last year). Heartbeats come from the metrics lines
//! (`AUTOSCALE_LOG_METRICS`), scale calls from `scaled` lines, notices from `notice` lines,
//! restarts from `starting` lines. A line it cannot read is counted and skipped.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

use crate::judge::Verdict;
use crate::l2met::{Kind, Line};
use crate::simulate::chart::{ChartData, Heartbeat, PolicySeries, WorkerSeries};

/// Levels as the log writes them.
const LEVELS: [&str; 6] = ["CRIT", "ERRO", "WARN", "INFO", "DEBG", "TRCE"];

/// One line of the log: when, and the message after the level.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine<'a> {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The level (`INFO`, ...).
    pub level: &'a str,
    /// The message, with the `, actor: NAME` suffix if the line has one.
    pub message: &'a str,
}

/// Reads a line in any of the three forms; `None` for a line of another kind. The worker's own
/// stamp and level (`Nov 29 10:00:00.000 INFO`) must be there in every form, so another app's
/// line with a level in it is not taken for the worker's. `now` dates the local form, which has
/// no year; Heroku's timestamp, when there is one, is the time.
pub fn parse_log_line(line: &str, now: DateTime<Utc>) -> Option<LogLine<'_>> {
    let (level_at, level, stamp) = LEVELS
        .iter()
        .filter_map(|level| {
            let index = line.find(&format!(" {level} "))?;
            Some((index, *level, local_time(&line[..index], now)?))
        })
        .min_by_key(|(index, _, _)| *index)?;
    let message = &line[level_at + level.len() + 2..];
    let at = line[..level_at]
        .split_whitespace()
        .find_map(|token| DateTime::parse_from_rfc3339(token).ok())
        .map_or(stamp, |at| at.with_timezone(&Utc));
    Some(LogLine { at, level, message })
}

/// The value of `key=value` among the words of `text`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace()
        .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
}

/// `Nov 29 10:00:00.000` at the end of `text`, in the year that puts it at or before `now`
/// (within a day's slack for clocks apart).
fn local_time(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let [.., month, day, time] = tokens.as_slice() else {
        return None;
    };
    let at = |year: i32| {
        NaiveDateTime::parse_from_str(
            &format!("{year} {month} {day} {time}"),
            "%Y %b %d %H:%M:%S%.f",
        )
        .ok()
        .map(|naive| naive.and_utc())
    };
    // February 29th exists only in some years: then it is last year's (or the one before).
    match at(now.year()) {
        Some(this_year) if this_year <= now + chrono::Duration::days(1) => Some(this_year),
        _ => (1..=4).find_map(|back| at(now.year() - back)),
    }
}

/// Everything the report draws and sums up.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The first and last time any line was written.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The web's heartbeats: when, latency in ms, verdict.
    pub heartbeats: Vec<(DateTime<Utc>, f64, Verdict)>,
    /// Dynos per process type over time, as the metrics lines sample them.
    pub dynos: BTreeMap<String, Vec<(DateTime<Utc>, u32)>>,
    /// Each scale call Heroku accepted: when, process type, from, to.
    pub scales: Vec<(DateTime<Utc>, String, u32, u32)>,
    /// Each notice: when and its kind.
    pub notices: Vec<(DateTime<Utc>, String)>,
    /// Each start of the worker after the first line.
    pub restarts: Vec<DateTime<Utc>>,
    /// The web's process type, as the `starting` line names it.
    pub web_process: Option<String>,
    /// The heartbeat interval and the limits, as the last `starting` line gives them.
    pub interval_seconds: Option<f64>,
    /// The max response time in ms.
    pub max_response_ms: Option<f64>,
    /// The min response time in ms.
    pub min_response_ms: Option<f64>,
    /// Lines of the worker's that were read.
    pub lines: u64,
    /// Lines that were not the worker's, or could not be read.
    pub skipped: u64,
}

impl Record {
    /// Reads one line of the log.
    pub fn add_line(&mut self, text: &str, now: DateTime<Utc>) {
        let Some(line) = parse_log_line(text, now) else {
            self.skipped += 1;
            return;
        };
        self.lines += 1;
        self.span = Some(match self.span {
            None => (line.at, line.at),
            Some((first, last)) => (first.min(line.at), last.max(line.at)),
        });
        let message = line.message;
        if let Some(rest) = message.strip_prefix("starting heroku-autoscale ") {
            self.started(line.at, rest);
        } else if let Some(metrics) = message
            .starts_with("source=")
            .then(|| Line::parse(message))
            .flatten()
        {
            self.metrics(line.at, &metrics);
        } else if let Some(rest) = message.strip_prefix("scaled ") {
            self.scaled(line.at, rest, None);
        } else if let Some((rest, reported)) = message
            .strip_prefix("scale ")
            .and_then(|rest| rest.split_once(": Heroku reports quantity="))
        {
            // A call Heroku accepted with another count: that count is what it made.
            let quantity = reported
                .split_whitespace()
                .next()
                .and_then(|q| q.parse().ok());
            self.scaled(line.at, rest, quantity);
        } else if let Some(rest) = message.strip_prefix("notice kind=") {
            let kind = rest.split_whitespace().next().unwrap_or_default();
            self.notices.push((line.at, kind.to_string()));
        }
    }

    fn started(&mut self, at: DateTime<Utc>, fields: &str) {
        // A start after an earlier one, or after the worker was seen at work, is a restart;
        // the warnings a start begins with are not work.
        if self.interval_seconds.is_some() || !self.heartbeats.is_empty() || !self.scales.is_empty()
        {
            self.restarts.push(at);
        }
        let number = |key: &str| field(fields, key).and_then(|text| text.parse::<f64>().ok());
        self.web_process = field(fields, "process")
            .map(str::to_string)
            .or(self.web_process.take());
        self.interval_seconds = number("interval_s").or(self.interval_seconds);
        self.max_response_ms = number("max_response_ms").or(self.max_response_ms);
        self.min_response_ms = number("min_response_ms").or(self.min_response_ms);
    }

    fn metrics(&mut self, at: DateTime<Utc>, line: &Line) {
        let Some((_, process)) = line.source.rsplit_once('.') else {
            return;
        };
        let value = |name: &str| {
            line.metrics
                .iter()
                .find_map(|metric| (metric.name == name).then_some(metric.value))
        };
        if let Some(latency) = value("autoscale.heartbeat.latency") {
            let verdict = line
                .metrics
                .iter()
                .filter(|metric| metric.kind == Kind::Count)
                .find_map(|metric| match metric.name.as_str() {
                    "autoscale.heartbeat.slow" => Some(Verdict::Slow),
                    "autoscale.heartbeat.fast" => Some(Verdict::Fast),
                    "autoscale.heartbeat.neutral" => Some(Verdict::Neutral),
                    "autoscale.heartbeat.bad_url" => Some(Verdict::BadUrl(0)),
                    _ => None,
                })
                .unwrap_or(Verdict::Neutral);
            self.heartbeats.push((at, latency, verdict));
        }
        if let Some(dynos) = value(&format!("autoscale.{process}.dynos")) {
            let samples = self.dynos.entry(process.to_string()).or_default();
            if samples.last().map(|&(_, last)| last) != Some(dynos as u32) {
                samples.push((at, dynos as u32));
            }
        }
    }

    /// A `scaled PROCESS from=A to=B ...` line, or a call Heroku answered with `quantity`.
    fn scaled(&mut self, at: DateTime<Utc>, rest: &str, quantity: Option<u32>) {
        let Some(process) = rest.split_whitespace().next() else {
            return;
        };
        let number = |key: &str| {
            field(rest, key).and_then(|text| text.trim_end_matches(',').parse::<u32>().ok())
        };
        if let (Some(from), Some(to)) = (number("from"), quantity.or(number("to"))) {
            self.scales.push((at, process.to_string(), from, to));
        }
    }

    /// Every process type the log shows dynos or scale calls of, by name.
    fn processes(&self) -> Vec<String> {
        let scaled = self.scales.iter().map(|(_, process, _, _)| process);
        let names: std::collections::BTreeSet<&String> = self.dynos.keys().chain(scaled).collect();
        names.into_iter().cloned().collect()
    }

    /// Stretches longer than three heartbeat intervals (at least a minute) without a
    /// heartbeat: the worker was down, or its log was lost.
    pub fn gaps(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let interval = self.interval_seconds.unwrap_or(30.0);
        let longest = chrono::Duration::milliseconds((interval * 3000.0).max(60_000.0) as i64);
        let mut times: Vec<DateTime<Utc>> = self.heartbeats.iter().map(|beat| beat.0).collect();
        times.sort();
        times
            .windows(2)
            .filter(|pair| pair[1] - pair[0] > longest)
            .map(|pair| (pair[0], pair[1]))
            .collect()
    }

    /// The short summary `report` prints.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let Some((first, last)) = self.span else {
            return "no line of the worker's log could be read".to_string();
        };
        let hours = (last - first).num_seconds() as f64 / 3600.0;
        let _ = writeln!(
            out,
            "covered:   {} to {} ({hours:.2} h)",
            first.format("%Y-%m-%dT%H:%M:%SZ"),
            last.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let slow = self
            .heartbeats
            .iter()
            .filter(|beat| beat.2 == Verdict::Slow)
            .count();
        let share = if self.heartbeats.is_empty() {
            0.0
        } else {
            100.0 * slow as f64 / self.heartbeats.len() as f64
        };
        let _ = writeln!(
            out,
            "heartbeats: {} ({slow} slow, {share:.1} %)",
            self.heartbeats.len()
        );
        for process in &self.processes() {
            let calls: Vec<_> = self.scales.iter().filter(|s| &s.1 == process).collect();
            let ups = calls.iter().filter(|s| s.3 > s.2).count();
            let counts = self
                .dynos
                .get(process)
                .into_iter()
                .flatten()
                .map(|&(_, count)| count)
                .chain(calls.iter().flat_map(|s| [s.2, s.3]));
            let (low, high) = counts.fold((u32::MAX, 0), |(low, high), count| {
                (low.min(count), high.max(count))
            });
            let range = match (low, high) {
                (low, high) if low == high => format!("dynos {low}"),
                (low, high) if low < high => format!("dynos {low}-{high}"),
                _ => "dynos unknown".to_string(),
            };
            let _ = writeln!(
                out,
                "{process}: {} scale calls ({ups} up, {} down), {range}",
                calls.len(),
                calls.len() - ups
            );
        }
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, kind) in &self.notices {
            *kinds.entry(kind).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "notices:   {}{}",
            self.notices.len(),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            }
        );
        let gaps = self.gaps();
        let down: i64 = gaps
            .iter()
            .map(|(from, to)| (*to - *from).num_seconds())
            .sum();
        let _ = writeln!(
            out,
            "restarts:  {}; gaps without heartbeats: {} ({down} s)",
            self.restarts.len(),
            gaps.len()
        );
        let _ = write!(
            out,
            "lines:     {} read, {} skipped (not the worker's, or unreadable)",
            self.lines, self.skipped
        );
        out
    }

    /// The chart: the heartbeats with the limits, the dynos of each process type with its
    /// scale calls, the notices and the gaps; `None` with no line read.
    pub fn chart(&self, title: &str) -> Option<ChartData> {
        let (first, last) = self.span?;
        let seconds = |at: DateTime<Utc>| (at - first).num_milliseconds() as f64 / 1000.0;
        let web = self
            .web_process
            .clone()
            .unwrap_or_else(|| "web".to_string());
        let series = |process: &str| {
            let mut supply: Vec<(f64, u32)> = Vec::new();
            let mut calls: Vec<(f64, u32)> = Vec::new();
            let mut steps: Vec<(DateTime<Utc>, u32)> =
                self.dynos.get(process).cloned().unwrap_or_default();
            for (at, name, _, to) in &self.scales {
                if name == process {
                    steps.push((*at, *to));
                    calls.push((seconds(*at), *to));
                }
            }
            steps.sort_by_key(|step| step.0);
            for (at, count) in steps {
                if supply.last().map(|step| step.1) != Some(count) {
                    supply.push((seconds(at), count));
                }
            }
            PolicySeries {
                name: "dynos".to_string(),
                supply,
                scale_calls: calls,
            }
        };
        let mut processes = self.processes();
        processes.retain(|process| process != &web);
        let minute = first.time();
        Some(ChartData {
            title: title.to_string(),
            subtitle: format!(
                "{} heartbeats · {} scale calls · {} notices · {} restarts",
                self.heartbeats.len(),
                self.scales.len(),
                self.notices.len(),
                self.restarts.len()
            ),
            duration_seconds: seconds(last).max(1.0),
            start_minute_of_day: minute.hour() * 60 + minute.minute(),
            heartbeats: self
                .heartbeats
                .iter()
                .map(|&(at, response_ms, verdict)| Heartbeat {
                    at: seconds(at),
                    response_ms,
                    verdict,
                })
                .collect(),
            max_response_ms: self.max_response_ms.unwrap_or(f64::NAN),
            min_response_ms: self.min_response_ms.unwrap_or(f64::NAN),
            slo_ms: f64::NAN,
            latency_caption: Some("heartbeat latency".to_string()),
            dynos_caption: Some(format!("{web} dynos")),
            policies: vec![series(&web)],
            workers: processes
                .iter()
                .map(|process| WorkerSeries {
                    process: process.clone(),
                    policies: vec![series(process)],
                })
                .collect(),
            notices: self
                .notices
                .iter()
                .map(|(at, kind)| (seconds(*at), kind.clone()))
                .collect(),
            gaps: self
                .gaps()
                .into_iter()
                .map(|(from, to)| (seconds(from), seconds(to)))
                .collect(),
            ..ChartData::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const NOW: &str = "2026-11-30T12:00:00Z";

    #[test]
    fn the_three_forms_of_a_line_are_read() {
        let now = at(NOW);
        let heroku =
            "2026-11-29T10:00:00.250000+00:00 app[autoscaleworker.1]: Nov 29 10:00:00.249 \
                      INFO scaled web from=2 to=3 reason=slow_streak, actor: controller";
        let line = parse_log_line(heroku, now).unwrap();
        assert_eq!(line.at, at("2026-11-29T10:00:00.25Z"));
        assert_eq!(line.level, "INFO");
        assert_eq!(
            line.message,
            "scaled web from=2 to=3 reason=slow_streak, actor: controller"
        );
        let drain = "<190>1 2026-11-29T10:00:00.5+00:00 host app autoscaleworker.1 - Nov 29 \
                     10:00:00.499 WARN notice kind=needs_above_max app=a: at max";
        let line = parse_log_line(drain, now).unwrap();
        assert_eq!(
            (line.at, line.level),
            (at("2026-11-29T10:00:00.5Z"), "WARN")
        );
        let local = "Nov 29 10:00:01.125 INFO source=a.web measure#autoscale.heartbeat.latency=5ms";
        let line = parse_log_line(local, now).unwrap();
        assert_eq!(line.at, at("2026-11-29T10:00:01.125Z"));
        for other in [
            "",
            "2026-11-29T10:00:00+00:00 heroku[router]: at=info method=GET service=3ms",
            "thread 'main' panicked",
        ] {
            assert_eq!(parse_log_line(other, now), None, "{other}");
        }
    }

    #[test]
    fn a_local_line_from_december_read_in_january_is_last_year() {
        let january = at("2027-01-02T00:00:00Z");
        let line = parse_log_line("Dec 31 23:59:00.000 INFO hello", january).unwrap();
        assert_eq!(line.at, at("2026-12-31T23:59:00Z"));
        // February 29th, read in a year without one: the last leap year's.
        let line = parse_log_line("Feb 29 12:00:00.000 INFO hello", january).unwrap();
        assert_eq!(line.at, at("2024-02-29T12:00:00Z"));
    }

    #[test]
    fn another_apps_lines_with_a_level_in_them_are_not_the_workers() {
        let now = at(NOW);
        for rails in [
            "2026-11-29T10:00:00+00:00 app[web.1]: I, [2026-11-29T10:00:00 #4]  INFO -- : Started GET",
            "2026-11-29T10:00:00+00:00 app[web.1]: [INFO] INFO something",
            "2026-11-29T10:00:00+00:00 app[web.1]: 10:00:00 INFO celery ready",
        ] {
            assert_eq!(parse_log_line(rails, now), None, "{rails}");
        }
    }

    #[test]
    fn warnings_before_the_first_start_are_no_restart_and_a_reported_quantity_counts() {
        let now = at(NOW);
        let mut record = Record::default();
        for line in [
            "Nov 29 10:00:00.000 WARN unknown setting AUTOSCALE_MAX_DYNO (did you mean AUTOSCALE_MAX_DYNOS?)",
            "Nov 29 10:00:00.001 INFO starting heroku-autoscale version=0.1.0 app=a process=web \
             interval_s=30 max_response_ms=1000 min_response_ms=200 url=https://a/h",
            "Nov 29 10:00:31.000 WARN scale web from=2 to=3 reason=slow_streak: Heroku reports \
             quantity=4 instead, actor: controller",
        ] {
            record.add_line(line, now);
        }
        assert!(record.restarts.is_empty());
        assert_eq!(
            record.scales,
            [(at("2026-11-29T10:00:31Z"), "web".to_string(), 2, 4)]
        );
        // A start with no start before it, but after work seen, is a restart.
        let mut record = Record::default();
        record.add_line(
            "Nov 29 10:00:00.000 INFO source=a.web measure#autoscale.heartbeat.latency=5ms \
             count#autoscale.heartbeat.fast=1",
            now,
        );
        record.add_line(
            "Nov 29 10:05:00.000 INFO starting heroku-autoscale interval_s=30",
            now,
        );
        assert_eq!(record.restarts, [at("2026-11-29T10:05:00Z")]);
    }

    /// A run: a start, slow heartbeats, a scale, a notice, a gap, a restart.
    fn record() -> Record {
        let now = at(NOW);
        let mut record = Record::default();
        let lines = [
            "Nov 29 10:00:00.000 INFO starting heroku-autoscale version=0.1.0 app=a process=web \
             interval_s=30 max_response_ms=1000 min_response_ms=200 url=https://a/h",
            "Nov 29 10:00:00.100 INFO watching app=a process=web quantity=2 min=1 max=3, actor: controller",
            "Nov 29 10:00:30.000 INFO source=a.web measure#autoscale.heartbeat.latency=1001ms \
             count#autoscale.heartbeat.slow=1 sample#autoscale.web.dynos=2",
            "Nov 29 10:01:00.000 INFO source=a.web measure#autoscale.heartbeat.latency=1001ms \
             count#autoscale.heartbeat.slow=1 sample#autoscale.web.dynos=2",
            "Nov 29 10:01:00.500 INFO scaled web from=2 to=3 reason=slow_streak, actor: controller",
            "Nov 29 10:01:30.000 INFO source=a.web measure#autoscale.heartbeat.latency=12ms \
             count#autoscale.heartbeat.fast=1 sample#autoscale.web.dynos=3 count#autoscale.web.scale_up=1",
            "Nov 29 10:01:31.000 INFO source=a.worker sample#autoscale.worker.jobs=120 \
             sample#autoscale.worker.dynos=4",
            "Nov 29 10:02:00.000 WARN notice kind=needs_above_max app=a: at max 3 web dynos, actor: notifier",
            "garbage that is not a log line",
            "Nov 29 10:10:00.000 INFO starting heroku-autoscale version=0.1.0 app=a process=web \
             interval_s=30 max_response_ms=1000 min_response_ms=200 url=https://a/h",
            "Nov 29 10:10:30.000 INFO source=a.web measure#autoscale.heartbeat.latency=9ms \
             count#autoscale.heartbeat.fast=1 sample#autoscale.web.dynos=3",
        ];
        for line in lines {
            record.add_line(line, now);
        }
        record
    }

    #[test]
    fn a_log_gives_heartbeats_scales_notices_gaps_and_restarts() {
        let record = record();
        assert_eq!(record.lines, 10);
        assert_eq!(record.skipped, 1);
        assert_eq!(record.heartbeats.len(), 4);
        assert_eq!(record.heartbeats[0].2, Verdict::Slow);
        assert_eq!(
            record.heartbeats[2],
            (at("2026-11-29T10:01:30Z"), 12.0, Verdict::Fast)
        );
        assert_eq!(
            record.scales,
            [(at("2026-11-29T10:01:00.5Z"), "web".to_string(), 2, 3)]
        );
        assert_eq!(record.notices.len(), 1);
        assert_eq!(record.restarts, [at("2026-11-29T10:10:00Z")]);
        assert_eq!(record.dynos["worker"], [(at("2026-11-29T10:01:31Z"), 4)]);
        assert_eq!(record.max_response_ms, Some(1000.0));
        // From the 10:01:30 beat to the 10:10:30 one: longer than three intervals.
        assert_eq!(
            record.gaps(),
            [(at("2026-11-29T10:01:30Z"), at("2026-11-29T10:10:30Z"))]
        );
        let summary = record.summary();
        for expected in [
            "covered:   2026-11-29T10:00:00Z to 2026-11-29T10:10:30Z (0.17 h)",
            "heartbeats: 4 (2 slow, 50.0 %)",
            "web: 1 scale calls (1 up, 0 down), dynos 2-3",
            "worker: 0 scale calls (0 up, 0 down), dynos 4\n",
            "notices:   1 (needs_above_max 1)",
            "restarts:  1; gaps without heartbeats: 1 (540 s)",
            "lines:     10 read, 1 skipped",
        ] {
            assert!(summary.contains(expected), "{expected:?} in\n{summary}");
        }
    }

    #[test]
    fn the_chart_has_the_web_and_each_worker_type_and_renders() {
        let chart = record().chart("worker.log").unwrap();
        assert_eq!(chart.heartbeats.len(), 4);
        assert_eq!(chart.max_response_ms, 1000.0);
        assert!(chart.slo_ms.is_nan() && chart.traffic.is_empty());
        assert_eq!(chart.policies[0].scale_calls, [(60.5, 3)]);
        assert_eq!(chart.policies[0].supply, [(30.0, 2), (60.5, 3)]);
        assert_eq!(chart.workers.len(), 1);
        assert_eq!(chart.workers[0].process, "worker");
        assert_eq!(chart.gaps, [(90.0, 630.0)]);
        assert_eq!(chart.notices, [(120.0, "needs_above_max".to_string())]);
        assert_eq!(chart.start_minute_of_day, 600);
        let svg = crate::simulate::chart::render_svg(&chart).unwrap();
        for text in [
            "heartbeat latency",
            "web dynos",
            "worker dynos",
            "no heartbeats",
            "notice",
        ] {
            assert!(svg.contains(&format!(">\n{text}\n</text>")), "{text}");
        }
        assert!(!svg.contains("p95 per minute") && !svg.contains(">\ntraffic\n<"));
        assert!(Record::default().chart("x").is_none());
    }
}
