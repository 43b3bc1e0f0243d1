//! The demand second by second, streamed so that memory stays flat in the trace's length: d(s)
//! for each whole second s of the run, and the oracle's look-ahead, the largest demand within
//! the next boot time.

use std::collections::{HashMap, VecDeque};

use super::demand::DynoCapacity;
use super::trace::{Trace, TracePoint};
use super::{Model, SimulateError};

/// What one dyno carries for each mean service time the run uses.
#[derive(Debug, Clone)]
pub struct Capacities {
    by_service_ms: HashMap<u64, DynoCapacity>,
}

impl Capacities {
    /// Every service time of the trace (and the model's default), worked out once; an error if
    /// the SLO is out of reach for one of them.
    pub fn of(trace: &Trace, model: &Model) -> Result<Self, SimulateError> {
        let mut by_service_ms = HashMap::new();
        let mut in_force = (model.service_ms, 0.0);
        let rows = trace.points().iter();
        let services = std::iter::once(in_force).chain(rows.filter_map(|point| {
            point.service_ms.map(|ms| {
                in_force = (ms, point.seconds);
                in_force
            })
        }));
        for (service_ms, from) in services {
            if by_service_ms.contains_key(&service_ms.to_bits()) {
                continue;
            }
            let capacity = DynoCapacity::new(model.concurrency, service_ms, model.slo_ms).ok_or(
                SimulateError::SloOutOfReach {
                    slo_ms: model.slo_ms,
                    service_ms,
                    at_seconds: from as u64,
                },
            )?;
            by_service_ms.insert(service_ms.to_bits(), capacity);
        }
        Ok(Capacities { by_service_ms })
    }

    fn dynos_for(&self, rate: f64, service_ms: f64) -> u32 {
        self.by_service_ms
            .get(&service_ms.to_bits())
            .map_or(u32::MAX, |capacity| capacity.dynos_for(rate))
    }
}

/// d(s) for s = 0, 1, 2, …: the demand for the highest rate and the longest service time in
/// force at any moment of [s, s + 1] (a peak between whole seconds still counts).
pub struct DemandCurve<'a> {
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
            points,
            capacities,
            row: 0,
            service_ms: points[0].service_ms.unwrap_or(model.service_ms),
            second: 0,
            seconds: trace.duration_seconds().ceil() as u64,
        }
    }

    fn rate_at(&self, row: usize, at: f64) -> f64 {
        let from = self.points[row];
        let Some(to) = self.points.get(row + 1) else {
            return from.requests_per_second;
        };
        let share = (at - from.seconds) / (to.seconds - from.seconds);
        from.requests_per_second + share * (to.requests_per_second - from.requests_per_second)
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
        let mut rate = self.rate_at(self.row, start);
        let mut service_ms = self.service_ms;
        // Rows within the second: their rates (the rate's corners) and service times count.
        while self.row + 1 < self.points.len() && self.points[self.row + 1].seconds <= end {
            self.row += 1;
            let point = self.points[self.row];
            rate = rate.max(point.requests_per_second);
            if let Some(ms) = point.service_ms {
                self.service_ms = ms;
                service_ms = service_ms.max(ms);
            }
        }
        rate = rate.max(self.rate_at(self.row, end));
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
        assert_eq!(demand[0], 2);
        // The second ending at 2.0 s already has the slower service in force at its end.
        assert!(demand[1] > 2 && demand[2] == demand[1] && demand[3] == demand[1]);
    }

    #[test]
    fn an_slo_out_of_reach_is_found_before_the_run() {
        let slow = trace(&[
            (0.0, 1.0, None),
            (60.0, 1.0, Some(900.0)),
            (120.0, 1.0, None),
        ]);
        let error = Capacities::of(&slow, &Model::default()).expect_err("900 ms, SLO 1 s");
        assert_eq!(
            error,
            SimulateError::SloOutOfReach {
                slo_ms: 1000.0,
                service_ms: 900.0,
                at_seconds: 60
            }
        );
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
