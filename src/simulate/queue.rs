//! The dynos of one policy: each serves `concurrency` requests at once, first come first
//! served; the router picks a serving dyno uniformly at random.
//!
//! Requests reach a dyno in arrival order, so each one's start is known when it arrives (the
//! earliest a server frees up): no event queue is needed. Boot times are equal, so dynos asked
//! for later come up later, and the serving dynos are always the first `serving` of the list.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::heroku::DynoStates;

/// The router gives up on a request that has waited this long (an H12).
pub const ROUTER_TIMEOUT_SECONDS: f64 = 30.0;

/// How one request went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Answered after this many seconds (wait plus service).
    Answered(f64),
    /// No answer within 30 s (an H12): waited that long in the queue, or still being served.
    TimedOut,
    /// No dyno was serving (Heroku's H14).
    NoDyno,
}

/// One dyno: when each of its servers that has worked is next free, the earliest first (a
/// server that never worked is free, so a quiet dyno holds no entries). Times are never
/// negative, so their bits order as the numbers do.
#[derive(Debug, Clone)]
struct Dyno {
    up_at: f64,
    free_at: BinaryHeap<Reverse<u64>>,
}

impl Dyno {
    fn new(up_at: f64) -> Self {
        Dyno {
            up_at,
            free_at: BinaryHeap::new(),
        }
    }

    /// Serves a request that arrives once the dyno is up.
    fn serve(&mut self, arrival: f64, service: f64, concurrency: usize) -> Outcome {
        let start = if self.free_at.len() < concurrency {
            // A server that never worked takes it at once.
            self.free_at.push(Reverse((arrival + service).to_bits()));
            arrival
        } else {
            let mut earliest = self
                .free_at
                .peek_mut()
                .expect("a dyno has at least one server");
            let start = f64::from_bits(earliest.0).max(arrival);
            if start - arrival >= ROUTER_TIMEOUT_SECONDS {
                // The router dropped it before a server took it: no work done.
                return Outcome::TimedOut;
            }
            *earliest = Reverse((start + service).to_bits());
            start
        };
        let latency = start + service - arrival;
        if latency > ROUTER_TIMEOUT_SECONDS {
            Outcome::TimedOut
        } else {
            Outcome::Answered(latency)
        }
    }
}

/// A policy's dynos, in the order Heroku numbers them (scaling down removes the last).
#[derive(Debug, Clone)]
pub struct Fleet {
    concurrency: usize,
    boot_seconds: f64,
    dynos: Vec<Dyno>,
    serving: usize,
}

impl Fleet {
    /// `count` dynos serving from time 0.
    pub fn new(count: u32, concurrency: u32, boot_seconds: f64) -> Self {
        let concurrency = concurrency.max(1) as usize;
        Fleet {
            concurrency,
            boot_seconds,
            dynos: vec![Dyno::new(0.0); count as usize],
            serving: count as usize,
        }
    }

    /// Dynos asked for, booting included (what Heroku bills and the formation reports).
    pub fn asked(&self) -> u32 {
        self.dynos.len() as u32
    }

    /// Dynos taking requests.
    pub fn serving(&self) -> u32 {
        self.serving as u32
    }

    /// What the API's dyno list would say: serving dynos are `up`, the others `starting`
    /// (the model has no crashes).
    pub fn states(&self) -> DynoStates {
        DynoStates {
            starting: self.asked() - self.serving(),
            up: self.serving(),
            crashed: 0,
        }
    }

    /// When the next booting dyno starts serving, if one is booting.
    pub fn next_up_at(&self) -> Option<f64> {
        self.dynos.get(self.serving).map(|dyno| dyno.up_at)
    }

    /// Counts the booted dynos serving at `now`; true if any started.
    pub fn boot_until(&mut self, now: f64) -> bool {
        let before = self.serving;
        while self.next_up_at().is_some_and(|up_at| up_at <= now) {
            self.serving += 1;
        }
        self.serving != before
    }

    /// The scale call: new dynos boot from `now`; removed ones (the newest first) take no new
    /// requests and finish what they hold unseen, since their answers are already counted.
    pub fn scale(&mut self, count: u32, now: f64) {
        let count = count as usize;
        if count > self.dynos.len() {
            let new = Dyno::new(now + self.boot_seconds);
            self.dynos.resize(count, new);
        } else {
            self.dynos.truncate(count);
        }
        self.serving = self.serving.min(count);
    }

    /// Routes a request arriving at `arrival` to the serving dyno `pick` (uniform in [0, 1))
    /// chooses.
    pub fn route(&mut self, arrival: f64, service: f64, pick: f64) -> Outcome {
        if self.serving == 0 {
            return Outcome::NoDyno;
        }
        let index = ((pick * self.serving as f64) as usize).min(self.serving - 1);
        self.dynos[index].serve(arrival, service, self.concurrency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_dyno_queues_first_come_first_served() {
        let mut fleet = Fleet::new(1, 2, 45.0);
        assert_eq!(fleet.route(0.0, 1.0, 0.5), Outcome::Answered(1.0));
        assert_eq!(fleet.route(0.0, 2.0, 0.5), Outcome::Answered(2.0));
        // Both servers busy: waits for the first to free up at 1.0.
        assert_eq!(fleet.route(0.5, 1.0, 0.5), Outcome::Answered(1.5));
        // The next free server is the second one, at 2.0.
        assert_eq!(fleet.route(0.5, 0.25, 0.5), Outcome::Answered(1.75));
    }

    #[test]
    fn a_request_waiting_30_seconds_is_an_h12_and_takes_no_server() {
        let mut fleet = Fleet::new(1, 1, 45.0);
        assert_eq!(fleet.route(0.0, 40.0, 0.0), Outcome::TimedOut);
        // Waits 39.5 s: dropped by the router, so the server is free again at 40.
        assert_eq!(fleet.route(0.5, 1.0, 0.0), Outcome::TimedOut);
        assert_eq!(fleet.route(40.0, 1.0, 0.0), Outcome::Answered(1.0));
        // 29 s of wait and 2 s of service: served, but the router answered H12 at 30 s.
        let mut fleet = Fleet::new(1, 1, 45.0);
        fleet.route(0.0, 29.0, 0.0);
        assert_eq!(fleet.route(0.0, 2.0, 0.0), Outcome::TimedOut);
    }

    #[test]
    fn a_dyno_serves_after_its_boot_time() {
        let mut fleet = Fleet::new(0, 4, 45.0);
        assert_eq!(fleet.route(0.0, 0.1, 0.5), Outcome::NoDyno);
        fleet.scale(2, 10.0);
        assert_eq!((fleet.asked(), fleet.serving()), (2, 0));
        assert_eq!(fleet.next_up_at(), Some(55.0));
        assert!(!fleet.boot_until(54.9));
        assert!(fleet.boot_until(55.0));
        assert_eq!((fleet.asked(), fleet.serving()), (2, 2));
        assert_eq!(fleet.route(55.0, 0.5, 0.99), Outcome::Answered(0.5));
    }

    #[test]
    fn a_removed_dyno_takes_no_new_requests_and_a_new_one_starts_afresh() {
        let mut fleet = Fleet::new(2, 1, 45.0);
        // The second dyno (pick ≥ 0.5) starts a long request, then is removed.
        assert_eq!(fleet.route(0.0, 10.0, 0.9), Outcome::Answered(10.0));
        fleet.scale(1, 1.0);
        assert_eq!((fleet.asked(), fleet.serving()), (1, 1));
        // Every pick now lands on the first dyno, which is idle.
        assert_eq!(fleet.route(2.0, 1.0, 0.9), Outcome::Answered(1.0));
        // A dyno asked for again boots afresh: it does not inherit the removed one's queue.
        fleet.scale(2, 3.0);
        fleet.boot_until(48.0);
        assert_eq!(fleet.route(48.0, 1.0, 0.9), Outcome::Answered(1.0));
    }

    #[test]
    fn scaling_down_while_booting_removes_the_booting_dynos_first() {
        let mut fleet = Fleet::new(1, 1, 45.0);
        fleet.scale(3, 0.0);
        fleet.scale(2, 10.0);
        assert_eq!((fleet.asked(), fleet.serving()), (2, 1));
        fleet.boot_until(45.0);
        assert_eq!(fleet.serving(), 2);
    }
}
