//! Where the ticks go and how they read: wall-clock hh:mm on the time axis, decades on the
//! latency axis, whole dynos on the dynos axis.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;

/// Minutes between time ticks, from the finest to the coarsest; [`TimeAxis::new`] takes the
/// finest that leaves at most [`MAX_TIME_TICKS`] ticks. Each divides an hour or a day, so ticks
/// fall on round wall-clock times (a 2 h run: every 15 min; a day: every 2 h).
const TICK_MINUTES: [u32; 11] = [1, 2, 5, 15, 30, 60, 120, 240, 360, 720, 1440];

/// More labels than this crowd a 900 px axis.
const MAX_TIME_TICKS: f64 = 12.0;

const MINUTES_PER_DAY: u32 = 24 * 60;

/// The time axis: seconds from the start of the run, labelled with the wall-clock time.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TimeAxis {
    /// Length of the run in seconds (the axis ends there).
    pub duration_seconds: f64,
    /// Wall-clock minute of the day at time 0.
    start_minute_of_day: u32,
    /// Seconds from the start at which a labelled tick stands.
    pub ticks: Vec<f64>,
}

impl TimeAxis {
    /// An axis over `[0, duration_seconds]`; `duration_seconds` must be finite and above 0.
    pub fn new(duration_seconds: f64, start_minute_of_day: u32) -> Self {
        let start_minute_of_day = start_minute_of_day % MINUTES_PER_DAY;
        let spacing = tick_spacing_seconds(duration_seconds);
        TimeAxis {
            duration_seconds,
            start_minute_of_day,
            ticks: wall_clock_ticks(duration_seconds, start_minute_of_day, spacing),
        }
    }

    /// `hh:mm` of the wall clock `seconds` into the run.
    pub fn label(&self, seconds: f64) -> String {
        let minutes_in = (seconds / 60.0).round() as i64;
        let minute_of_day = (i64::from(self.start_minute_of_day) + minutes_in)
            .rem_euclid(i64::from(MINUTES_PER_DAY));
        format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
    }

    /// Whether `seconds` lies on the axis (plotters would pin a point off it to the panel's
    /// edge, where it would look like data).
    pub fn contains(&self, seconds: f64) -> bool {
        (0.0..=self.duration_seconds).contains(&seconds)
    }
}

/// The time axis as plotters' x coordinate: linear over the run, ticks on round wall-clock
/// times (plotters' own `f64` axis would put them on round numbers of seconds), hh:mm labels.
impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, seconds: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range()).map(seconds, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        labelled_ticks_only(&self.ticks, hint)
    }

    fn range(&self) -> Range<f64> {
        0.0..self.duration_seconds
    }
}

impl ValueFormatter<f64> for TimeAxis {
    fn format_ext(&self, seconds: &f64) -> String {
        self.label(*seconds)
    }
}

/// Plotters asks an axis once for its labelled (bold) ticks and once for light grid lines; the
/// time and dynos axes have no light lines.
fn labelled_ticks_only<Hint: KeyPointHint>(ticks: &[f64], hint: Hint) -> Vec<f64> {
    if hint.weight().allow_light_points() {
        vec![]
    } else {
        ticks.to_vec()
    }
}

/// The dynos axis: linear from 0 to `top`, labelled at whole numbers of dynos.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CountAxis {
    top: f64,
    ticks: Vec<f64>,
}

impl CountAxis {
    /// An axis from 0 to `top` (finite, above 0).
    pub fn new(top: f64) -> Self {
        CountAxis {
            top,
            ticks: whole_number_ticks(top),
        }
    }
}

impl Ranged for CountAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, count: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range()).map(count, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        labelled_ticks_only(&self.ticks, hint)
    }

    fn range(&self) -> Range<f64> {
        0.0..self.top
    }
}

impl ValueFormatter<f64> for CountAxis {
    fn format_ext(&self, count: &f64) -> String {
        plain_number(*count)
    }
}

fn tick_spacing_seconds(duration_seconds: f64) -> f64 {
    let duration_minutes = duration_seconds / 60.0;
    let minutes = TICK_MINUTES
        .into_iter()
        .map(f64::from)
        .find(|&minutes| duration_minutes / minutes <= MAX_TIME_TICKS)
        // Runs of weeks: whole days, still few enough ticks to label.
        .unwrap_or_else(|| {
            let days = (duration_minutes / MAX_TIME_TICKS / f64::from(MINUTES_PER_DAY)).ceil();
            days * f64::from(MINUTES_PER_DAY)
        });
    minutes * 60.0
}

/// Ticks at the multiples of `spacing` on the wall clock (not from the start of the run), so a
/// run starting at 09:07 is labelled 09:15, 09:30, … rather than 09:07, 09:22, ….
fn wall_clock_ticks(duration_seconds: f64, start_minute_of_day: u32, spacing: f64) -> Vec<f64> {
    let start_wall_clock = f64::from(start_minute_of_day) * 60.0;
    let first = (start_wall_clock / spacing).ceil() * spacing - start_wall_clock;
    (0..)
        .map(|i| first + f64::from(i) * spacing)
        .take_while(|&t| t <= duration_seconds)
        .collect()
}

/// Bold ticks of the logarithmic latency axis: the decades from 1 ms up to `top_ms`.
pub(super) fn decade_ticks(top_ms: f64) -> Vec<f64> {
    (0..)
        .map(|exponent| 10f64.powi(exponent))
        .take_while(|&tick| tick <= top_ms)
        .collect()
}

/// Light grid lines between the decades: 2× and 5× each one, for reading values off a log axis.
pub(super) fn between_decade_ticks(top_ms: f64) -> Vec<f64> {
    decade_ticks(top_ms)
        .into_iter()
        .flat_map(|decade| [2.0 * decade, 5.0 * decade])
        .filter(|&tick| tick <= top_ms)
        .collect()
}

/// Whole-dyno ticks from 0 to `top`, with a round step that leaves at most 10 of them.
fn whole_number_ticks(top: f64) -> Vec<f64> {
    let step = round_step(top);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|&tick| tick <= top)
        .collect()
}

/// The smallest of 1, 2, 5, 10, 20, 50, … that fits `top` in 10 steps; `top` is finite.
fn round_step(top: f64) -> f64 {
    let mut magnitude = 1.0;
    loop {
        for mantissa in [1.0, 2.0, 5.0] {
            let step = mantissa * magnitude;
            if top / step <= 10.0 {
                return step;
            }
        }
        magnitude *= 10.0;
    }
}

/// A tick value without float noise: `250`, `0.5`, `12.25`.
pub(super) fn plain_number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    // `-0` reads oddly at the foot of an axis.
    format!("{}", rounded + 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &TimeAxis) -> Vec<String> {
        axis.ticks.iter().map(|&t| axis.label(t)).collect()
    }

    #[test]
    fn a_two_hour_run_has_a_tick_every_quarter_hour() {
        let axis = TimeAxis::new(2.0 * 3600.0, 9 * 60);
        assert_eq!(
            labels(&axis),
            ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00"]
        );
    }

    #[test]
    fn a_day_has_a_tick_every_two_hours_and_wraps_at_midnight() {
        let axis = TimeAxis::new(24.0 * 3600.0, 23 * 60);
        let labels = labels(&axis);
        assert_eq!(labels.len(), 12);
        assert_eq!(labels[0], "00:00");
        assert_eq!(labels[11], "22:00");
    }

    #[test]
    fn ticks_fall_on_round_wall_clock_times() {
        let axis = TimeAxis::new(3600.0, 9 * 60 + 7);
        assert_eq!(labels(&axis)[0], "09:10");
        assert_eq!(axis.ticks[0], 3.0 * 60.0);
    }

    #[test]
    fn a_long_run_keeps_to_a_dozen_ticks_or_so() {
        let a_year = 365.0 * 24.0 * 3600.0;
        assert!(TimeAxis::new(a_year, 0).ticks.len() <= 13);
    }

    #[test]
    fn whole_number_ticks_keep_to_ten_or_fewer() {
        assert_eq!(whole_number_ticks(4.0), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(whole_number_ticks(21.0), [0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(whole_number_ticks(101.0).len(), 6);
    }

    #[test]
    fn decades_reach_the_top_of_the_latency_axis() {
        assert_eq!(decade_ticks(30_000.0), [1.0, 10.0, 100.0, 1000.0, 10_000.0]);
        assert_eq!(between_decade_ticks(30_000.0).last(), Some(&20_000.0));
    }

    #[test]
    fn plain_numbers_drop_float_noise() {
        assert_eq!(plain_number(0.30000000000000004), "0.3");
        assert_eq!(plain_number(250.0), "250");
        assert_eq!(plain_number(-0.0), "0");
    }
}
