//! Poisson arrivals at a rate that is linear between a trace's rows, with exponential service
//! times at the mean in force: one stream of requests that every policy is fed.

use fastrand::Rng;

use super::trace::TracePoint;

/// One request: when it arrives and how long it takes to serve, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Seconds from the start.
    pub at: f64,
    /// Service time, seconds.
    pub service: f64,
    /// Uniform in [0, 1): which serving dyno the router picks (the same draw for every policy).
    pub pick: f64,
}

/// A stretch between two trace rows.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    end: f64,
    rate_at_start: f64,
    slope: f64,
    service_seconds: f64,
}

/// The request stream of a trace, exact for a piecewise-linear rate: each gap is found by
/// inverting the integrated rate (one random draw per arrival, no thinning).
pub struct Arrivals {
    segments: Vec<Segment>,
    segment: usize,
    now: f64,
    gaps: Rng,
    services: Rng,
    picks: Rng,
}

/// A unit exponential draw.
pub fn exponential(rng: &mut Rng) -> f64 {
    // f64() is in [0, 1): 1 − u is in (0, 1], so the logarithm is finite.
    -(1.0 - rng.f64()).ln()
}

impl Arrivals {
    /// The arrivals of `points` (a validated trace), seeded by `seed`.
    pub fn new(points: &[TracePoint], default_service_ms: f64, seed: u64) -> Self {
        let mut service_ms = default_service_ms;
        let segments = points
            .windows(2)
            .map(|pair| {
                let (from, to) = (pair[0], pair[1]);
                service_ms = from.service_ms.unwrap_or(service_ms);
                Segment {
                    start: from.seconds,
                    end: to.seconds,
                    rate_at_start: from.requests_per_second,
                    slope: (to.requests_per_second - from.requests_per_second)
                        / (to.seconds - from.seconds),
                    service_seconds: service_ms / 1000.0,
                }
            })
            .collect();
        // Separate streams, so the arrival times do not depend on how service is drawn.
        let mut seeds = Rng::with_seed(seed);
        Arrivals {
            segments,
            segment: 0,
            now: 0.0,
            gaps: Rng::with_seed(seeds.u64(..)),
            services: Rng::with_seed(seeds.u64(..)),
            picks: Rng::with_seed(seeds.u64(..)),
        }
    }
}

impl Iterator for Arrivals {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        // The integrated rate from now to the arrival is a unit exponential.
        let mut area = exponential(&mut self.gaps);
        loop {
            let segment = *self.segments.get(self.segment)?;
            let rate = segment.rate_at_start + segment.slope * (self.now - segment.start);
            let left = segment.end - self.now;
            let area_left = rate * left + segment.slope * left * left / 2.0;
            if area <= area_left {
                // Solves rate·s + slope·s²/2 = area in the form that is stable for any slope.
                let root = (rate * rate + 2.0 * segment.slope * area).max(0.0).sqrt();
                let gap = if rate + root > 0.0 {
                    2.0 * area / (rate + root)
                } else {
                    0.0
                };
                self.now = (self.now + gap).min(segment.end);
                let service = exponential(&mut self.services) * segment.service_seconds;
                return Some(Request {
                    at: self.now,
                    service,
                    pick: self.picks.f64(),
                });
            }
            area -= area_left;
            self.now = segment.end;
            self.segment += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(seconds: f64, rate: f64) -> TracePoint {
        TracePoint {
            seconds,
            requests_per_second: rate,
            service_ms: None,
        }
    }

    #[test]
    fn a_steady_rate_gives_that_many_arrivals() {
        let points = [point(0.0, 50.0), point(2000.0, 50.0)];
        let count = Arrivals::new(&points, 100.0, 7).count() as f64;
        // 100 000 expected; a Poisson count's standard deviation is about 316.
        assert!((count - 100_000.0).abs() < 1500.0, "{count}");
    }

    #[test]
    fn a_linear_ramp_gives_its_integral_in_each_half() {
        // 0 → 100 req/s over 1000 s: 12 500 arrivals in the first half, 37 500 in the second.
        let points = [point(0.0, 0.0), point(1000.0, 100.0)];
        let (first, second): (Vec<Request>, Vec<Request>) =
            Arrivals::new(&points, 100.0, 3).partition(|request| request.at < 500.0);
        assert!(
            (first.len() as f64 - 12_500.0).abs() < 600.0,
            "{}",
            first.len()
        );
        assert!(
            (second.len() as f64 - 37_500.0).abs() < 1000.0,
            "{}",
            second.len()
        );
        assert!(second.iter().all(|request| request.at <= 1000.0));
    }

    #[test]
    fn service_times_follow_the_mean_in_force() {
        let mut slow = point(100.0, 100.0);
        slow.service_ms = Some(300.0);
        let points = [point(0.0, 100.0), slow, point(200.0, 100.0)];
        let mean = |requests: Vec<Request>| {
            requests.iter().map(|request| request.service).sum::<f64>() / requests.len() as f64
        };
        let (early, late): (Vec<Request>, Vec<Request>) =
            Arrivals::new(&points, 100.0, 5).partition(|request| request.at < 100.0);
        assert!((mean(early) - 0.1).abs() < 0.005);
        assert!((mean(late) - 0.3).abs() < 0.015);
    }

    #[test]
    fn the_same_seed_gives_the_same_requests() {
        let points = [point(0.0, 10.0), point(100.0, 30.0)];
        let first: Vec<Request> = Arrivals::new(&points, 100.0, 9).collect();
        let again: Vec<Request> = Arrivals::new(&points, 100.0, 9).collect();
        let other: Vec<Request> = Arrivals::new(&points, 100.0, 10).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn no_traffic_gives_no_arrivals() {
        let points = [point(0.0, 0.0), point(1000.0, 0.0)];
        assert_eq!(Arrivals::new(&points, 100.0, 1).count(), 0);
    }
}
