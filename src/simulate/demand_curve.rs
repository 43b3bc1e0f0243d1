//! The demand second by second, streamed so that memory stays flat in the trace's length: d(s)
//! for each whole second s of the run, and the oracle's look-ahead, the largest demand within
//! the next boot time.

use std::collections::{HashMap, VecDeque};

use super::demand::DynoCapacity;
use super::trace::{Trace, TracePoint};
use super::{Model, SimulateError};

/// What one dyno carries for each mean service time the run uses, looked up by the service time
/// to three significant digits (the precision of the latency histograms): a trace with a new
/// service time every second then needs at most a few thousand capacities, not one a second.
#[derive(Debug, Clone)]
pub struct Capacities {
    by_service_ms: HashMap<u64, DynoCapacity>,
}

/// The lookup key: the service time to three significant digits.
fn key(service_ms: f64) -> u64 {
    let digits = service_ms.log10().floor() as i32;
    let scale = 10f64.powi(2 - digits);
    ((service_ms * scale).round() / scale).to_bits()
}

impl Capacities {
    /// Every service time in force during the trace, worked out once; an error if the SLO is
    /// out of reach for one of them. The last row's service time applies to no request.
    pub fn of(trace: &Trace, model: &Model) -> Result<Self, SimulateError> {
        let points = trace.points();
        let first = points[0].service_ms.unwrap_or(model.service_ms);
        let later = points[1..points.len() - 1]
            .iter()
            .filter_map(|point| point.service_ms.map(|ms| (ms, point.seconds)));
        let mut by_service_ms = HashMap::new();
        for (service_ms, from) in std::iter::once((first, 0.0)).chain(later) {
            let rounded = f64::from_bits(key(service_ms));
            if by_service_ms.contains_key(&key(service_ms)) {
                continue;
            }
            let capacity = DynoCapacity::new(model.concurrency, rounded, model.slo_ms).ok_or(
                SimulateError::SloOutOfReach {
                    slo_ms: model.slo_ms,
                    service_ms,
                    at_seconds: from,
                },
            )?;
            by_service_ms.insert(key(service_ms), capacity);
        }
        Ok(Capacities { by_service_ms })
    }

    fn dynos_for(&self, rate: f64, service_ms: f64) -> u32 {
        self.by_service_ms
            .get(&key(service_ms))
            .map_or(u32::MAX, |capacity| capacity.dynos_for(rate))
    }
}

/// d(s) for s = 0, 1, 2, …: the demand for the highest rate and the longest service time in
/// force at any moment of [s, s + 1] (a peak between whole seconds still counts).
pub struct DemandCurve<'a> {
    trace: &'a Trace,
    points: &'a [TracePoint],
    capacities: Capacities,
    /// The last row at or before the current second.
    row: usize,
    /// The service time in force at that row.
    service_ms: f64,
    second: u64,
    seconds: u64,
}

impl<'a> DemandCurve<'a> {
    /// The curve of `trace`, one value per started second of it.
    pub fn new(trace: &'a Trace, model: &Model, capacities: Capacities) -> Self {
        let points = trace.points();
        DemandCurve {
            trace,
            points,
            capacities,
            row: 0,
            service_ms: points[0].service_ms.unwrap_or(model.service_ms),
            second: 0,
            seconds: trace.duration_seconds().ceil() as u64,
        }
    }
}

impl Iterator for DemandCurve<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.second >= self.seconds {
            return None;
        }
        let start = self.second as f64;
        let end = (start + 1.0).min(self.points[self.points.len() - 1].seconds);
        let mut rate = self.trace.rate_at(start);
        let mut service_ms = self.service_ms;
        // Rows within the second: their rates (the rate's corners) count, and so do service
        // times that start before its end (one starting at the end is the next second's).
        while self.row + 1 < self.points.len() && self.points[self.row + 1].seconds <= end {
            self.row += 1;
            let point = self.points[self.row];
            rate = rate.max(point.requests_per_second);
            if let Some(ms) = point.service_ms {
                self.service_ms = ms;
                if point.seconds < end {
                    service_ms = service_ms.max(ms);
                }
            }
        }
        rate = rate.max(self.trace.rate_at(end));
        self.second += 1;
        Some(self.capacities.dynos_for(rate, service_ms))
    }
}

/// The demand now and the largest demand within the next `window` seconds (the oracle's target:
/// a dyno needed within a boot time must be asked for now), by a sliding maximum.
pub struct Lookahead<Curve> {
    curve: Curve,
    window: u64,
    /// The demands of the seconds from the current one to the window's end.
    buffered: VecDeque<u32>,
    /// (second, demand) with the demands falling from front to back: the front is the maximum.
    maxima: VecDeque<(u64, u32)>,
    next_buffered: u64,
    current: u64,
}

impl<Curve: Iterator<Item = u32>> Lookahead<Curve> {
    /// Looks `window_seconds` ahead (rounded up to whole seconds) along `curve`.
    pub fn new(curve: Curve, window_seconds: f64) -> Self {
        let mut lookahead = Lookahead {
            curve,
            window: window_seconds.ceil() as u64,
            buffered: VecDeque::new(),
            maxima: VecDeque::new(),
            next_buffered: 0,
            current: 0,
        };
        for _ in 0..=lookahead.window {
            lookahead.buffer_one();
        }
        lookahead
    }

    fn buffer_one(&mut self) {
        let Some(demand) = self.curve.next() else {
            return;
        };
        let second = self.next_buffered;
        while self
            .maxima
            .back()
            .is_some_and(|&(_, later)| later <= demand)
        {
            self.maxima.pop_back();
        }
        self.maxima.push_back((second, demand));
        self.buffered.push_back(demand);
        self.next_buffered += 1;
    }
}

impl<Curve: Iterator<Item = u32>> Iterator for Lookahead<Curve> {
    /// (d(s), the largest d over [s, s + window]).
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        let demand = self.buffered.pop_front()?;
        let ahead = self.maxima.front().map_or(demand, |&(_, most)| most);
        self.current += 1;
        while self
            .maxima
            .front()
            .is_some_and(|&(second, _)| second < self.current)
        {
            self.maxima.pop_front();
        }
        self.buffer_one();
        Some((demand, ahead))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(rows: &[(f64, f64, Option<f64>)]) -> Trace {
        let points = rows
            .iter()
            .map(|&(seconds, requests_per_second, service_ms)| TracePoint {
                seconds,
                requests_per_second,
                service_ms,
            })
            .collect();
        Trace::from_points("test", points).expect("valid")
    }

    fn curve(trace: &Trace) -> Vec<u32> {
        let model = Model::default();
        let capacities = Capacities::of(trace, &model).expect("reachable");
        DemandCurve::new(trace, &model, capacities).collect()
    }

    #[test]
    fn each_second_asks_for_its_highest_rate() {
        // One dyno carries about 36.8 requests/s at the defaults.
        let ramp = trace(&[(0.0, 0.0, None), (4.0, 147.0, None)]);
        // Seconds 0..4 end at 36.75, 73.5, 110.25 and 147 requests/s.
        assert_eq!(curve(&ramp), [1, 2, 3, 4]);
        // A rise half a second in counts for the whole second.
        let step = trace(&[
            (0.0, 0.0, None),
            (2.0, 0.0, None),
            (2.5, 50.0, None),
            (4.0, 50.0, None),
        ]);
        assert_eq!(curve(&step), [0, 0, 2, 2]);
    }

    #[test]
    fn a_slower_service_time_raises_the_demand_from_its_row() {
        let slow = trace(&[
            (0.0, 60.0, None),
            (2.0, 60.0, Some(200.0)),
            (4.0, 60.0, None),
        ]);
        let demand = curve(&slow);
        // The slower service starts with second 2, not in the second that ends there.
        assert_eq!(demand[..2], [2, 2]);
        assert!(demand[2] > 2 && demand[3] == demand[2]);
        // Starting within a second, it counts for that second.
        let slow = trace(&[
            (0.0, 60.0, None),
            (1.5, 60.0, Some(200.0)),
            (4.0, 60.0, None),
        ]);
        assert!(curve(&slow)[1] > 2);
    }

    #[test]
    fn an_slo_out_of_reach_is_found_before_the_run() {
        let slow = trace(&[
            (0.0, 1.0, None),
            (60.5, 1.0, Some(900.0)),
            (120.0, 1.0, None),
        ]);
        let error = Capacities::of(&slow, &Model::default()).expect_err("900 ms, SLO 1 s");
        assert_eq!(
            error,
            SimulateError::SloOutOfReach {
                slo_ms: 1000.0,
                service_ms: 900.0,
                at_seconds: 60.5
            }
        );
    }

    #[test]
    fn only_service_times_in_force_are_checked() {
        // The first row's own service time replaces the default; the last row's applies to no
        // request. Neither the default 100 ms nor the last 900 ms is in reach of a 200 ms SLO.
        let model = Model {
            slo_ms: 200.0,
            ..Model::default()
        };
        let quick = trace(&[(0.0, 1.0, Some(50.0)), (600.0, 1.0, Some(900.0))]);
        assert!(Capacities::of(&quick, &model).is_ok());
    }

    #[test]
    fn service_times_are_looked_up_to_three_significant_digits() {
        assert_eq!(key(100.04), key(100.0));
        assert_ne!(key(100.6), key(100.0));
        assert_eq!(key(0.0012344), key(0.00123));
        assert_eq!(key(123_456.0), key(123_000.0));
    }

    #[test]
    fn the_lookahead_is_the_largest_demand_within_the_window() {
        let demands = [1, 1, 1, 1, 1, 3, 1, 2, 1, 1];
        let ahead: Vec<(u32, u32)> = Lookahead::new(demands.into_iter(), 2.0).collect();
        let (now, most): (Vec<u32>, Vec<u32>) = ahead.into_iter().unzip();
        assert_eq!(now, demands);
        assert_eq!(most, [1, 1, 1, 3, 3, 3, 2, 2, 1, 1]);
        // A window of half a second looks one whole second ahead.
        let most: Vec<u32> = Lookahead::new(demands.into_iter(), 0.5)
            .map(|(_, most)| most)
            .collect();
        assert_eq!(most, [1, 1, 1, 1, 3, 3, 2, 2, 1, 1]);
    }
}
