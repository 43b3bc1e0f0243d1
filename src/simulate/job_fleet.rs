//! The dynos of one worker process type in one policy: a shared first-in-first-out queue of
//! jobs, each serving dyno working `concurrency` of them at once (Sidekiq's threads, Celery's
//! processes).
//!
//! Jobs start in arrival order, each on the slot that frees up first, so the queue is worked
//! lazily: [`JobFleet::advance`] starts every job whose start falls at or before the time
//! asked, and every event of the run calls it first. Boot times are equal, so dynos asked for
//! later come up later, and the serving dynos are the first `serving` of the list, as in the web
//! model. A dyno removed by a scale-down finishes the jobs it holds (Heroku gives it 30 s after
//! SIGTERM; Sidekiq and Celery put back the ones that do not finish), and takes no more.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A job: when it joined the queue and how long it takes to work, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Job {
    /// Seconds from the start.
    pub at: f64,
    /// Working time, seconds.
    pub work: f64,
}

/// A slot of a serving dyno: when it is next free (as bits: times are never negative, so their
/// bits order as the numbers do), and its dyno.
type Slot = Reverse<(u64, usize)>;

/// One policy's dynos of one process type and the queue they share.
#[derive(Debug, Clone)]
pub struct JobFleet {
    concurrency: usize,
    boot_seconds: f64,
    /// When each dyno asked for starts working, in the order Heroku numbers them.
    up_at: Vec<f64>,
    serving: usize,
    slots: BinaryHeap<Slot>,
    waiting: VecDeque<Job>,
}

impl JobFleet {
    /// `count` dynos working from time 0, with nothing queued.
    pub fn new(count: u32, concurrency: u32, boot_seconds: f64) -> Self {
        let mut fleet = JobFleet {
            concurrency: concurrency.max(1) as usize,
            boot_seconds,
            up_at: vec![0.0; count as usize],
            serving: 0,
            slots: BinaryHeap::new(),
            waiting: VecDeque::new(),
        };
        fleet.boot_until(0.0);
        fleet
    }

    /// Dynos asked for, booting included (what Heroku bills and the formation reports).
    pub fn asked(&self) -> u32 {
        self.up_at.len() as u32
    }

    /// A job joins the queue at `job.at`; it starts at once if a slot is free. The jobs it
    /// started, each with its wait in seconds, go to `started`.
    pub fn arrive(&mut self, job: Job, started: &mut impl FnMut(f64)) {
        self.advance(job.at, started);
        self.waiting.push_back(job);
        self.advance(job.at, started);
    }

    /// Starts, in arrival order, every job that a slot takes at or before `now`.
    pub fn advance(&mut self, now: f64, started: &mut impl FnMut(f64)) {
        self.boot_until(now);
        while let (Some(job), Some(Reverse((free_bits, dyno)))) =
            (self.waiting.front(), self.slots.peek())
        {
            let free_at = f64::from_bits(*free_bits);
            if free_at > now {
                break;
            }
            let (job, dyno) = (*job, *dyno);
            let start = free_at.max(job.at);
            self.waiting.pop_front();
            self.slots.pop();
            self.slots
                .push(Reverse(((start + job.work).to_bits(), dyno)));
            started(start - job.at);
        }
    }

    /// Jobs waiting or being worked at `now` (what hirefire-resource's size macros count by
    /// default), after [`JobFleet::advance`] to `now`.
    pub fn jobs_in_queue(&self, now: f64) -> u64 {
        let working = self
            .slots
            .iter()
            .filter(|Reverse((free_bits, _))| f64::from_bits(*free_bits) > now)
            .count();
        (self.waiting.len() + working) as u64
    }

    /// Jobs waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// How long the oldest waiting job has waited at `now`, in seconds (0 with none waiting):
    /// the latency macros' value.
    pub fn latency(&self, now: f64) -> f64 {
        self.waiting.front().map_or(0.0, |job| now - job.at)
    }

    /// The waits so far of the jobs still waiting at the end of the run.
    pub fn still_waiting(&self, end: f64) -> impl Iterator<Item = f64> + '_ {
        self.waiting.iter().map(move |job| end - job.at)
    }

    /// The scale call at `now`: new dynos boot from `now`; removed ones (the newest first)
    /// take no more jobs.
    pub fn scale(&mut self, count: u32, now: f64) {
        let count = count as usize;
        if count >= self.up_at.len() {
            self.up_at.resize(count, now + self.boot_seconds);
        } else {
            self.up_at.truncate(count);
            if self.serving > count {
                self.serving = count;
                self.slots.retain(|Reverse((_, dyno))| *dyno < count);
            }
        }
        self.boot_until(now);
    }

    /// Gives the slots of every dyno up by `now` to the queue, each free from its boot.
    fn boot_until(&mut self, now: f64) {
        while let Some(&up_at) = self.up_at.get(self.serving).filter(|&&at| at <= now) {
            for _ in 0..self.concurrency {
                self.slots.push(Reverse((up_at.to_bits(), self.serving)));
            }
            self.serving += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(at: f64, work: f64) -> Job {
        Job { at, work }
    }

    /// Feeds `jobs` in order; the waits of the jobs started, in start order.
    fn run(fleet: &mut JobFleet, jobs: &[Job], until: f64) -> Vec<f64> {
        let mut waits = Vec::new();
        for &job in jobs {
            fleet.arrive(job, &mut |wait| waits.push(wait));
        }
        fleet.advance(until, &mut |wait| waits.push(wait));
        waits
    }

    #[test]
    fn jobs_share_one_queue_first_in_first_out() {
        // One dyno working 2 at once; three 10 s jobs at 0, one at 1.
        let mut fleet = JobFleet::new(1, 2, 45.0);
        let jobs = [job(0.0, 10.0), job(0.0, 10.0), job(0.0, 4.0), job(1.0, 1.0)];
        let waits = run(&mut fleet, &jobs, 5.0);
        // The first two start at once; the others wait for the slots freed at 10.
        assert_eq!(waits, [0.0, 0.0]);
        assert_eq!(fleet.waiting(), 2);
        assert_eq!(fleet.jobs_in_queue(5.0), 4);
        assert_eq!(fleet.latency(5.0), 5.0);
        let waits = run(&mut fleet, &[], 20.0);
        assert_eq!(waits, [10.0, 9.0]);
        // At 12 the job of 4 s works until 14; by 20 all are done.
        assert_eq!(fleet.jobs_in_queue(20.0), 0);
        assert_eq!(fleet.latency(20.0), 0.0);
    }

    #[test]
    fn a_booting_dyno_takes_jobs_once_up_and_the_earliest_free_slot_wins() {
        let mut fleet = JobFleet::new(1, 1, 45.0);
        // A 100 s job holds the only slot; two more wait.
        let mut waits = run(
            &mut fleet,
            &[job(0.0, 100.0), job(1.0, 5.0), job(2.0, 5.0)],
            10.0,
        );
        fleet.scale(2, 10.0);
        assert_eq!(fleet.asked(), 2);
        waits.extend(run(&mut fleet, &[], 54.9));
        assert_eq!(fleet.waiting(), 2);
        // Up at 55: it takes the first waiting job, then the second when that one ends at 60.
        waits.extend(run(&mut fleet, &[], 61.0));
        assert_eq!(waits, [0.0, 54.0, 58.0]);
    }

    #[test]
    fn with_no_dyno_jobs_wait_and_scaling_from_zero_works_them_off() {
        let mut fleet = JobFleet::new(0, 5, 30.0);
        let waits = run(&mut fleet, &[job(0.0, 1.0), job(10.0, 1.0)], 20.0);
        assert!(waits.is_empty());
        assert_eq!(fleet.jobs_in_queue(20.0), 2);
        assert_eq!(fleet.latency(20.0), 20.0);
        assert_eq!(fleet.still_waiting(25.0).collect::<Vec<_>>(), [25.0, 15.0]);
        fleet.scale(1, 20.0);
        assert_eq!(run(&mut fleet, &[], 50.0), [50.0, 40.0]);
    }

    #[test]
    fn a_removed_dyno_finishes_its_jobs_and_takes_no_more() {
        let mut fleet = JobFleet::new(2, 1, 45.0);
        // Dyno 0 and dyno 1 each take a 10 s job; a third waits.
        run(
            &mut fleet,
            &[job(0.0, 10.0), job(0.0, 10.0), job(0.0, 1.0)],
            0.0,
        );
        fleet.scale(1, 5.0);
        // Its job is no longer counted: only dyno 0's and the waiting one.
        assert_eq!(fleet.jobs_in_queue(5.0), 2);
        // The waiting job starts when dyno 0 frees up, not dyno 1.
        assert_eq!(run(&mut fleet, &[], 20.0), [10.0]);
        // Asked for again, the dyno boots afresh.
        fleet.scale(2, 20.0);
        let waits = run(&mut fleet, &[job(21.0, 100.0), job(22.0, 1.0)], 64.0);
        assert_eq!(waits, [0.0]);
        assert_eq!(run(&mut fleet, &[], 65.0), [43.0]);
    }
}
