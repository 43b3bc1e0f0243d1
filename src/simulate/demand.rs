//! The demand d(t): the fewest dynos for which, in steady state at the arrival rate, at most
//! 5 % of requests are slower than the SLO. With random routing, n dynos are n independent
//! M/M/c queues at rate λ/n (c = concurrency), so the question is how much one dyno carries.

/// The share of requests allowed over the SLO in the demand's definition.
pub const ALLOWED_SLOW_SHARE: f64 = 0.05;

/// Erlang C: the probability that a request waits in an M/M/c queue with offered load
/// `load` = λ/μ (in erlangs); 1 when the queue is unstable.
pub fn erlang_c(servers: u32, load: f64) -> f64 {
    let servers_f = f64::from(servers);
    if load >= servers_f {
        return 1.0;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=servers {
        b = load * b / (f64::from(k) + load * b);
    }
    let utilisation = load / servers_f;
    b / (1.0 - utilisation * (1.0 - b))
}

/// The mean wait in queue of an M/M/c queue, in seconds (infinite when unstable).
pub fn mean_wait(servers: u32, arrivals_per_second: f64, service_seconds: f64) -> f64 {
    let load = arrivals_per_second * service_seconds;
    let spare = f64::from(servers) / service_seconds - arrivals_per_second;
    if spare <= 0.0 {
        return f64::INFINITY;
    }
    erlang_c(servers, load) / spare
}

/// P(response time > `limit_seconds`) in an M/M/c queue: the wait (0, or exponential at rate
/// cμ − λ with the Erlang C probability) plus an exponential service time.
pub fn share_slower_than(
    servers: u32,
    arrivals_per_second: f64,
    service_seconds: f64,
    limit_seconds: f64,
) -> f64 {
    let mu = 1.0 / service_seconds;
    let alpha = f64::from(servers) * mu - arrivals_per_second;
    if alpha <= 0.0 {
        return 1.0;
    }
    let waits = erlang_c(servers, arrivals_per_second * service_seconds);
    let t = limit_seconds;
    let service_only = (-mu * t).exp();
    // The sum of two exponentials at rates α and μ exceeds t with this probability.
    let wait_and_service = if ((alpha - mu) / mu).abs() < 1e-9 {
        (1.0 + mu * t) * service_only
    } else {
        (alpha * service_only - mu * (-alpha * t).exp()) / (alpha - mu)
    };
    ((1.0 - waits) * service_only + waits * wait_and_service).clamp(0.0, 1.0)
}

/// What one dyno carries within the SLO, for one mean service time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DynoCapacity {
    /// The highest arrival rate at one dyno with at most 5 % of requests over the SLO.
    pub requests_per_second: f64,
}

impl DynoCapacity {
    /// The capacity, or `None` when even an idle dyno is too slow for the SLO (an SLO shorter
    /// than about three mean service times).
    pub fn new(concurrency: u32, service_ms: f64, slo_ms: f64) -> Option<Self> {
        let service = service_ms / 1000.0;
        let slo = slo_ms / 1000.0;
        let over = |rate: f64| share_slower_than(concurrency, rate, service, slo);
        if over(0.0) > ALLOWED_SLOW_SHARE {
            return None;
        }
        // The share over the SLO grows with the rate: bisect up to the queue's limit cμ. Forty
        // halvings leave 2⁻⁴⁰ of it, far finer than a dyno's worth.
        let (mut low, mut high) = (0.0, f64::from(concurrency) / service);
        for _ in 0..40 {
            let middle = (low + high) / 2.0;
            if over(middle) <= ALLOWED_SLOW_SHARE {
                low = middle;
            } else {
                high = middle;
            }
        }
        Some(DynoCapacity {
            requests_per_second: low,
        })
    }

    /// The demand at `rate`: the fewest dynos that carry it (0 for no traffic).
    pub fn dynos_for(self, rate: f64) -> u32 {
        if rate <= 0.0 {
            return 0;
        }
        let dynos = (rate / self.requests_per_second).ceil();
        if dynos >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            dynos as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1e-12)
    }

    #[test]
    fn erlang_c_matches_known_values() {
        // One server: the probability of waiting is the utilisation.
        assert!(close(erlang_c(1, 0.5), 0.5, 1e-12));
        assert!(close(erlang_c(1, 0.8), 0.8, 1e-12));
        // Two servers at load 1: C = 1/3 (from the textbook formula).
        assert!(close(erlang_c(2, 1.0), 1.0 / 3.0, 1e-12));
        assert_eq!(erlang_c(4, 4.0), 1.0);
    }

    #[test]
    fn one_server_has_the_mm1_tail() {
        // M/M/1: the response time is exponential at rate μ − λ.
        let (rate, service, t): (f64, f64, f64) = (6.0, 0.1, 0.5);
        let expected = (-(10.0 - rate) * t).exp();
        assert!(close(
            share_slower_than(1, rate, service, t),
            expected,
            1e-9
        ));
    }

    #[test]
    fn the_tail_is_continuous_where_both_rates_are_equal() {
        // Two servers, μ = 10, λ = 10: α = cμ − λ = μ, the special case.
        let equal = share_slower_than(2, 10.0, 0.1, 0.3);
        let near = share_slower_than(2, 10.0 + 1e-6, 0.1, 0.3);
        assert!(close(equal, near, 1e-5), "{equal} vs {near}");
    }

    #[test]
    fn a_dyno_at_the_defaults_carries_about_36_requests_per_second() {
        let capacity = DynoCapacity::new(4, 100.0, 1000.0).expect("an SLO a dyno can meet");
        assert!(
            (34.0..38.0).contains(&capacity.requests_per_second),
            "{capacity:?}"
        );
        let at_capacity = share_slower_than(4, capacity.requests_per_second, 0.1, 1.0);
        assert!(close(at_capacity, ALLOWED_SLOW_SHARE, 1e-6));
        assert_eq!(capacity.dynos_for(0.0), 0);
        assert_eq!(capacity.dynos_for(1.0), 1);
        assert_eq!(capacity.dynos_for(capacity.requests_per_second * 3.0), 3);
        assert_eq!(capacity.dynos_for(capacity.requests_per_second * 3.01), 4);
    }

    #[test]
    fn an_slo_shorter_than_the_service_times_has_no_capacity() {
        assert_eq!(DynoCapacity::new(4, 100.0, 200.0), None);
    }
}
