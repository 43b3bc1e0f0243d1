//! The `simulate --svg` chart: traffic, latency and dynos on one time axis.
//!
//! [`render_svg`] draws [`ChartData`] with plotters' SVG backend. Plotters is built without its
//! font features, so nothing here reads a font file: text goes into the SVG as `<text>` in the
//! generic `sans-serif` family and the viewer lays it out.

mod axes;
mod legend;
mod panels;
mod series;
mod style;

use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::{IntoDrawingArea, SVGBackend};

use crate::judge::Verdict;

/// Everything the chart draws; times are seconds from the start of the run.
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    /// The title's first line, e.g. `scenario spike: service 100 ms, 4 at once, boot 45 s, SLO
    /// 1000 ms`.
    pub title: String,
    /// The settings that matter, one line, e.g.
    /// `interval 30 s · slow > 1000 ms · fast < 200 ms · up after 3 · down after 5 · increment 1
    /// · dynos 1–20`.
    pub subtitle: String,
    /// Length of the run.
    pub duration_seconds: f64,
    /// Wall-clock minute of the day (in the settings' time zone) at time 0, for hh:mm labels.
    pub start_minute_of_day: u32,
    /// Arrival rate per minute: (start of the minute, requests/s).
    pub traffic: Vec<(f64, f64)>,
    /// Each heartbeat the `autoscaler` policy's worker saw.
    pub heartbeats: Vec<Heartbeat>,
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
    /// Each worker process type with jobs: a panel of its own below the web's.
    pub workers: Vec<WorkerSeries>,
    /// Notices sent: when, and their kind (drawn on the latency panel).
    pub notices: Vec<(f64, String)>,
    /// Stretches without heartbeats (a real run's worker down): from, to.
    pub gaps: Vec<(f64, f64)>,
    /// The latency panel's caption; `None`: the simulation's.
    pub latency_caption: Option<String>,
    /// The web's dynos panel's caption; `None`: `dynos`.
    pub dynos_caption: Option<String>,
}

/// A worker process type's dynos, per policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerSeries {
    /// The process type.
    pub process: String,
    /// One entry per policy that scales it, in the order of its table.
    pub policies: Vec<PolicySeries>,
}

/// One heartbeat as the worker saw and judged it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heartbeat {
    /// When it was sent.
    pub at: f64,
    /// Its response time in ms; a timeout is drawn at the max response time.
    pub response_ms: f64,
    /// The judge's verdict (an error answer is slow however quick it was).
    pub verdict: Verdict,
}

/// One policy's dynos.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySeries {
    /// `autoscaler`, `seed`, `oracle` or `fixed-max`.
    pub name: String,
    /// Dynos asked for (billed, booting included) as steps: each holds until the next.
    pub supply: Vec<(f64, u32)>,
    /// Each scale call: (when, the count asked for).
    pub scale_calls: Vec<(f64, u32)>,
}

/// Why the chart could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChartError {
    /// The run has no length to draw a time axis over.
    #[error("cannot chart a run of {0} s: the duration must be finite and above 0")]
    Duration(f64),
    /// Plotters refused (with a string backend this means a bug in the chart, not bad data).
    #[error("drawing the chart failed: {0}")]
    Drawing(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(error: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Drawing(error.to_string())
    }
}

/// The chart as a complete SVG document: the title and subtitle, then three panels on one
/// wall-clock time axis: traffic (requests/s); latency (the autoscaler policy's heartbeats by
/// verdict, its p95 per minute, the min and max response times and the SLO, on a log scale);
/// dynos (the demand shaded, each policy's supply as steps, its scale calls marked); then a
/// dynos panel per worker process type.
///
/// Empty series draw empty panels; points that are not finite or lie outside the run are left
/// out.
pub fn render_svg(data: &ChartData) -> Result<String, ChartError> {
    if !(data.duration_seconds.is_finite() && data.duration_seconds > 0.0) {
        return Err(ChartError::Duration(data.duration_seconds));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, panels::size(data)).into_drawing_area();
        panels::draw_chart(&root, data)?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY_NAMES: [&str; 4] = ["autoscaler", "seed", "oracle", "fixed-max"];

    /// A run of `minutes` from 09:00: a traffic bump in the middle with a wobble every ten
    /// minutes or so, heartbeats every 30 s, the autoscaler following the demand 3 min late.
    fn run(minutes: u32) -> ChartData {
        let minute_starts = || (0..minutes).map(|m| f64::from(m) * 60.0);
        let rate = |t: f64| {
            let middle = f64::from(minutes) * 30.0;
            let bump = (-((t - middle) / (f64::from(minutes) * 10.0)).powi(2)).exp();
            25.0 + 60.0 * bump + 6.0 * (t / 100.0).sin()
        };
        let demand_at = |t: f64| (rate(t) / 15.0).ceil() as u32;
        let heartbeat = |t: f64| 40.0 * (rate(t) / 20.0).powi(3);
        let demand: Vec<(f64, u32)> = minute_starts().map(|t| (t, demand_at(t))).collect();
        let late = |shift: f64| -> Vec<(f64, u32)> {
            demand
                .iter()
                .map(|&(t, count)| (t + shift, count))
                .collect()
        };
        // A policy calls only when its count changes.
        let changes = |steps: &[(f64, u32)]| -> Vec<(f64, u32)> {
            steps
                .windows(2)
                .filter(|pair| pair[0].1 != pair[1].1)
                .map(|pair| pair[1])
                .collect()
        };
        let policy = |name: &str| {
            let supply = match name {
                "autoscaler" | "seed" => late(180.0),
                "oracle" => demand.clone(),
                _ => vec![(0.0, 6)],
            };
            PolicySeries {
                name: name.to_string(),
                scale_calls: changes(&supply),
                supply,
            }
        };
        let policies = POLICY_NAMES.into_iter().map(policy).collect();
        ChartData {
            title: "simulate: scenario spike".to_string(),
            subtitle: "interval 30 s · slow > 1000 ms · fast < 200 ms · up after 3 · down after 5 · dynos 1–20".to_string(),
            duration_seconds: f64::from(minutes) * 60.0,
            start_minute_of_day: 9 * 60,
            traffic: minute_starts().map(|t| (t, rate(t))).collect(),
            heartbeats: (0..minutes * 2)
                .map(|i| f64::from(i) * 30.0)
                .map(|t| {
                    let response_ms = heartbeat(t);
                    let verdict = if response_ms >= 1000.0 {
                        Verdict::Slow
                    } else if response_ms < 200.0 {
                        Verdict::Fast
                    } else {
                        Verdict::Neutral
                    };
                    Heartbeat {
                        at: t,
                        response_ms,
                        verdict,
                    }
                })
                .collect(),
            p95_per_minute: minute_starts().map(|t| (t, 1.5 * heartbeat(t))).collect(),
            max_response_ms: 1000.0,
            min_response_ms: 200.0,
            slo_ms: 1000.0,
            demand,
            policies,
            ..ChartData::default()
        }
    }

    fn render(data: &ChartData) -> String {
        render_svg(data).expect("the chart renders")
    }

    /// Whether the SVG has a `<text>` element saying exactly `text` (the backend escapes it and
    /// puts it on a line of its own).
    fn has_text(svg: &str, text: &str) -> bool {
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        svg.contains(&format!(">\n{escaped}\n</text>"))
    }

    #[test]
    fn each_worker_process_type_gets_a_dynos_panel_below_the_web() {
        let web_only = render(&run(120));
        let mut data = run(120);
        data.workers = ["worker", "mailer"]
            .into_iter()
            .map(|process| WorkerSeries {
                process: process.to_string(),
                policies: vec![PolicySeries {
                    name: "autoscaler".into(),
                    supply: vec![(0.0, 0), (600.0, 4)],
                    scale_calls: vec![(600.0, 4)],
                }],
            })
            .collect();
        let svg = render(&data);
        assert!(has_text(&svg, "worker dynos") && has_text(&svg, "mailer dynos"));
        assert!(!has_text(&web_only, "worker dynos"));
        // Taller by a panel each; the time axis is described once, under the last panel.
        let height = |svg: &str| {
            let start = svg.find("height=\"").expect("a height") + 8;
            svg[start..]
                .split('"')
                .next()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        };
        assert_eq!(height(&svg), height(&web_only) + 2 * 220);
        assert_eq!(svg.matches("time (hh:mm)").count(), 1);
    }

    #[test]
    fn the_chart_is_one_svg_document() {
        let svg = render(&run(120));
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    #[test]
    fn the_chart_has_the_title_the_settings_and_every_policy_in_a_legend() {
        let data = run(120);
        let svg = render(&data);
        assert!(has_text(&svg, &data.title));
        assert!(has_text(&svg, &data.subtitle));
        for name in POLICY_NAMES {
            assert!(has_text(&svg, name), "no legend entry for {name}");
        }
        for entry in [
            "demand",
            "p95 per minute",
            "SLO 1000 ms",
            "max response time 1000 ms",
        ] {
            assert!(has_text(&svg, entry), "no legend entry {entry:?}");
        }
    }

    #[test]
    fn the_axes_say_their_units() {
        let svg = render(&run(120));
        for unit in ["requests/s", "ms (log)", "dynos", "time (hh:mm)"] {
            assert!(has_text(&svg, unit), "no axis description {unit:?}");
        }
    }

    #[test]
    fn the_time_axis_reads_the_wall_clock() {
        let svg = render(&run(120));
        for label in ["09:00", "09:15", "10:00", "11:00"] {
            assert!(has_text(&svg, label), "no tick {label}");
        }
    }

    #[test]
    fn empty_series_draw_empty_panels() {
        let mut data = run(120);
        data.traffic.clear();
        data.heartbeats.clear();
        data.p95_per_minute.clear();
        data.demand.clear();
        data.policies[1].supply.clear();
        data.policies[2].scale_calls.clear();
        let svg = render(&data);
        assert!(has_text(&svg, "seed"));
        assert!(render(&ChartData {
            duration_seconds: 60.0,
            ..ChartData::default()
        })
        .ends_with("</svg>\n"));
    }

    #[test]
    fn values_that_are_not_finite_are_left_out() {
        let mut data = run(120);
        data.traffic[3].1 = f64::NAN;
        data.heartbeats[4].at = f64::INFINITY;
        data.p95_per_minute[5].1 = f64::NEG_INFINITY;
        data.demand[6].0 = f64::NAN;
        data.slo_ms = f64::NAN;
        let svg = render(&data);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(
            !svg.contains("SLO"),
            "no line, so no legend entry, for a missing SLO"
        );
    }

    #[test]
    fn a_run_without_length_is_refused() {
        for duration_seconds in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let data = ChartData {
                duration_seconds,
                ..run(10)
            };
            assert!(matches!(render_svg(&data), Err(ChartError::Duration(_))));
        }
    }

    #[test]
    fn a_day_of_data_stays_a_reasonable_size() {
        let svg = render(&run(24 * 60));
        assert!(svg.len() < 3_000_000, "{} bytes", svg.len());
        // From 09:00 every 2 h: 09:00 is not on an even hour, so the first tick is 10:00.
        assert!(has_text(&svg, "10:00") && !has_text(&svg, "11:00"));
    }
}
