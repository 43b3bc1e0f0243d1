//! Metrics as log lines in the l2met convention, which Heroku's log-reading metrics add-ons
//! chart with no code: `source=acme-shop.web measure#autoscale.heartbeat.latency=123ms
//! sample#autoscale.web.dynos=3 count#autoscale.web.scale_up=1`. `measure#` is a duration
//! with its unit, `sample#` a level, `count#` events since the line before.

use std::fmt;

/// What kind of metric a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A duration or size, aggregated as a distribution (`measure#`).
    Measure,
    /// A level at this moment (`sample#`).
    Sample,
    /// Events since the line before (`count#`).
    Count,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Measure => "measure#",
            Kind::Sample => "sample#",
            Kind::Count => "count#",
        }
    }
}

/// One metric: its kind, its name (`autoscale.web.dynos`), its value and unit (`ms`, `s` or
/// none).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Measure, sample or count.
    pub kind: Kind,
    /// The dotted name.
    pub name: String,
    /// The number.
    pub value: f64,
    /// The unit written after the number, if any.
    pub unit: &'static str,
}

/// One line: the source (`APP.PROCESS`) and its metrics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    /// The app and process type the metrics are about.
    pub source: String,
    /// In the order they were added.
    pub metrics: Vec<Metric>,
}

impl Line {
    /// A line about `app`'s `process` type.
    pub fn new(app: &str, process: &str) -> Self {
        Line {
            source: format!("{app}.{process}"),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric; a value that is not finite is left out (it would not parse).
    pub fn add(&mut self, kind: Kind, name: impl Into<String>, value: f64, unit: &'static str) {
        if value.is_finite() {
            self.metrics.push(Metric {
                kind,
                name: name.into(),
                value,
                unit,
            });
        }
    }

    /// Reads a line back (the log line may carry a timestamp, a level or a Heroku prefix
    /// around it): `None` without a `source=` and a metric.
    pub fn parse(text: &str) -> Option<Line> {
        let mut line = Line::default();
        for token in text.split_whitespace() {
            if let Some(source) = token.strip_prefix("source=") {
                line.source = source.to_string();
                continue;
            }
            let Some((kind, rest)) = [Kind::Measure, Kind::Sample, Kind::Count]
                .into_iter()
                .find_map(|kind| token.strip_prefix(kind.prefix()).map(|rest| (kind, rest)))
            else {
                continue;
            };
            let Some((name, value)) = rest.split_once('=') else {
                continue;
            };
            // A logger with fields of its own ends the line `value, key: ...`.
            let value = value.trim_end_matches(',');
            let split = value
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(value.len());
            let unit = match &value[split..] {
                "" => "",
                "ms" => "ms",
                "s" => "s",
                _ => continue,
            };
            if let Ok(number) = value[..split].parse::<f64>() {
                line.add(kind, name, number, unit);
            }
        }
        (!line.source.is_empty() && !line.metrics.is_empty()).then_some(line)
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source={}", self.source)?;
        for metric in &self.metrics {
            write!(
                f,
                " {}{}={}{}",
                metric.kind.prefix(),
                metric.name,
                metric.value,
                metric.unit
            )?;
        }
        Ok(())
    }
}

/// Scale calls made since the last line, for the `count#` metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScaleCounts {
    /// Calls that added dynos.
    pub up: u32,
    /// Calls that removed dynos.
    pub down: u32,
}

impl ScaleCounts {
    /// Counts a call from `from` to `to` dynos.
    pub fn record(&mut self, from: u32, to: u32) {
        if to > from {
            self.up += 1;
        } else if to < from {
            self.down += 1;
        }
    }
}

/// The web's line for one heartbeat: its latency in ms, its verdict counted, the dynos if
/// known, and the scale calls since the line before.
pub fn heartbeat_line(
    app: &str,
    process: &str,
    latency_ms: f64,
    verdict: &str,
    dynos: Option<u32>,
    scales: ScaleCounts,
) -> Line {
    let mut line = Line::new(app, process);
    // A tenth of a millisecond is finer than a probe can tell apart.
    let latency_ms = (latency_ms * 10.0).round() / 10.0;
    line.add(
        Kind::Measure,
        "autoscale.heartbeat.latency",
        latency_ms,
        "ms",
    );
    line.add(
        Kind::Count,
        format!("autoscale.heartbeat.{verdict}"),
        1.0,
        "",
    );
    add_dynos_and_scales(&mut line, process, dynos, scales);
    line
}

/// A worker process type's line for one queue reading: its jobs (a size) or the age of its
/// oldest job (a latency), if read, its dynos if known, and the scale calls since the last.
pub fn queue_line(
    app: &str,
    process: &str,
    reading: Option<QueueValue>,
    dynos: Option<u32>,
    scales: ScaleCounts,
) -> Line {
    let mut line = Line::new(app, process);
    match reading {
        Some(QueueValue::Jobs(jobs)) => {
            line.add(Kind::Sample, format!("autoscale.{process}.jobs"), jobs, "")
        }
        Some(QueueValue::LatencySeconds(seconds)) => line.add(
            Kind::Sample,
            format!("autoscale.{process}.latency"),
            seconds,
            "s",
        ),
        None => line.add(
            Kind::Count,
            format!("autoscale.{process}.reading_failed"),
            1.0,
            "",
        ),
    }
    add_dynos_and_scales(&mut line, process, dynos, scales);
    line
}

/// What a queue reading said of one process type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueValue {
    /// Jobs waiting and being worked.
    Jobs(f64),
    /// Seconds the oldest job has waited.
    LatencySeconds(f64),
}

fn add_dynos_and_scales(line: &mut Line, process: &str, dynos: Option<u32>, scales: ScaleCounts) {
    if let Some(dynos) = dynos {
        line.add(
            Kind::Sample,
            format!("autoscale.{process}.dynos"),
            f64::from(dynos),
            "",
        );
    }
    for (count, name) in [(scales.up, "scale_up"), (scales.down, "scale_down")] {
        if count > 0 {
            line.add(
                Kind::Count,
                format!("autoscale.{process}.{name}"),
                f64::from(count),
                "",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_written_as_l2met_and_read_back() {
        let mut line = Line::new("acme-shop", "web");
        line.add(Kind::Measure, "autoscale.heartbeat.latency", 123.0, "ms");
        line.add(Kind::Sample, "autoscale.web.dynos", 3.0, "");
        line.add(Kind::Count, "autoscale.web.scale_up", 1.0, "");
        line.add(Kind::Sample, "autoscale.web.nothing", f64::NAN, "");
        let text = line.to_string();
        assert_eq!(
            text,
            "source=acme-shop.web measure#autoscale.heartbeat.latency=123ms \
             sample#autoscale.web.dynos=3 count#autoscale.web.scale_up=1"
        );
        // As Heroku shows it, with its prefix and the log's own level.
        let logged = format!(
            "2026-11-29T10:00:00.000000+00:00 app[autoscaleworker.1]: Nov 29 10:00:00.000 INFO \
             {text}"
        );
        assert_eq!(Line::parse(&logged), Some(line));
    }

    #[test]
    fn the_heartbeat_and_queue_lines_name_their_metrics_by_process_type() {
        let mut scales = ScaleCounts::default();
        scales.record(2, 3);
        scales.record(3, 3);
        assert_eq!(
            heartbeat_line("acme-shop", "web", 1001.0, "slow", Some(3), scales).to_string(),
            "source=acme-shop.web measure#autoscale.heartbeat.latency=1001ms \
             count#autoscale.heartbeat.slow=1 sample#autoscale.web.dynos=3 \
             count#autoscale.web.scale_up=1"
        );
        assert_eq!(
            heartbeat_line("a", "web", 5.5, "fast", None, ScaleCounts::default()).to_string(),
            "source=a.web measure#autoscale.heartbeat.latency=5.5ms count#autoscale.heartbeat.fast=1"
        );
        let down = ScaleCounts { up: 0, down: 2 };
        assert_eq!(
            queue_line("a", "worker", Some(QueueValue::Jobs(120.0)), Some(3), down).to_string(),
            "source=a.worker sample#autoscale.worker.jobs=120 sample#autoscale.worker.dynos=3 \
             count#autoscale.worker.scale_down=2"
        );
        assert_eq!(
            queue_line(
                "a",
                "urgent",
                Some(QueueValue::LatencySeconds(1.5)),
                None,
                down
            )
            .metrics[0]
                .unit,
            "s"
        );
        assert_eq!(
            queue_line("a", "worker", None, Some(0), ScaleCounts::default()).to_string(),
            "source=a.worker count#autoscale.worker.reading_failed=1 sample#autoscale.worker.dynos=0"
        );
    }

    #[test]
    fn fractions_and_seconds_read_back_and_other_text_is_no_line() {
        let line = Line::parse("source=a.worker sample#autoscale.worker.latency=1.5s").unwrap();
        assert_eq!(line.metrics[0].value, 1.5);
        assert_eq!(line.metrics[0].unit, "s");
        assert_eq!(
            Line::parse("INFO scaled web from=1 to=2 reason=slow_streak"),
            None
        );
        assert_eq!(Line::parse("source=a.web"), None);
        // A logger's own fields after the last value leave it readable.
        let line = Line::parse("source=a.web sample#autoscale.web.dynos=3, service: x").unwrap();
        assert_eq!(line.metrics[0].value, 3.0);
        // A value that is not a number, or an unknown unit, is skipped.
        let line = Line::parse("source=a.web sample#x=many sample#y=3kg count#z=2").unwrap();
        assert_eq!(line.metrics.len(), 1);
        assert_eq!(line.metrics[0].name, "z");
    }
}
