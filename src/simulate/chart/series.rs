//! The chart's data made drawable: points off the time axis or not finite dropped, steps turned
//! into corners, heartbeats sorted by verdict, scale calls by direction.

use super::axes::TimeAxis;
use super::{ChartData, PolicySeries};
use crate::judge::Verdict;

/// The corners of a step line: each value holds from its time until the next one's, the last
/// until the end of the run. Steps at a non-finite time are dropped; times are kept on the axis.
pub(super) fn step_corners(steps: &[(f64, u32)], axis: &TimeAxis) -> Vec<(f64, f64)> {
    let steps: Vec<(f64, f64)> = steps
        .iter()
        .filter(|(t, _)| t.is_finite())
        .map(|&(t, count)| (t.clamp(0.0, axis.duration_seconds), f64::from(count)))
        .collect();
    let mut corners = Vec::with_capacity(steps.len() * 2);
    for (i, &(t, value)) in steps.iter().enumerate() {
        let until = steps
            .get(i + 1)
            .map_or(axis.duration_seconds, |next| next.0);
        corners.push((t, value));
        corners.push((until, value));
    }
    corners
}

/// The stretches of a line between non-finite values, so a gap (a minute without requests, say)
/// shows as a gap rather than a straight line across it. Points off the axis are dropped.
pub(super) fn finite_runs(points: &[(f64, f64)], axis: &TimeAxis) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![];
    let mut run = vec![];
    for &(t, value) in points {
        if t.is_finite() && value.is_finite() {
            if axis.contains(t) {
                run.push((t, value));
            }
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The finite heartbeats on the axis with the given verdict.
pub(super) fn heartbeats_judged(
    data: &ChartData,
    axis: &TimeAxis,
    verdict: Verdict,
) -> Vec<(f64, f64)> {
    data.heartbeats
        .iter()
        .filter(|beat| beat.verdict == verdict)
        .map(|beat| (beat.at, beat.response_ms))
        .filter(|&(t, ms)| t.is_finite() && ms.is_finite() && axis.contains(t))
        .collect()
}

/// Which way a scale call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// More dynos than the policy had.
    Up,
    /// Fewer dynos.
    Down,
}

/// The policy's scale calls on the axis: (when, count asked for, which way).
pub(super) fn scale_calls(policy: &PolicySeries, axis: &TimeAxis) -> Vec<(f64, f64, Direction)> {
    policy
        .scale_calls
        .iter()
        .filter(|(t, _)| t.is_finite() && axis.contains(*t))
        .map(|&(t, count)| {
            let direction = match supply_before(policy, t) {
                Some(before) if count < before => Direction::Down,
                _ => Direction::Up,
            };
            (t, f64::from(count), direction)
        })
        .collect()
}

/// The dynos the policy had just before `t` (the supply steps at the call's own time to the
/// count asked for, so the step before it says where it came from).
fn supply_before(policy: &PolicySeries, t: f64) -> Option<u32> {
    policy
        .supply
        .iter()
        .take_while(|(since, _)| *since < t)
        .last()
        .map(|&(_, count)| count)
}

/// The top of the traffic axis: a tenth above the busiest minute, at least 1 req/s.
pub(super) fn traffic_top(data: &ChartData) -> f64 {
    let busiest = data
        .traffic
        .iter()
        .map(|&(_, rate)| rate)
        .filter(|rate| rate.is_finite())
        .fold(0.0, f64::max);
    (busiest * 1.1).max(1.0)
}

/// The H12 timeout: Heroku's router gives up on a request after 30 s, so no response is slower.
const ROUTER_TIMEOUT_MS: f64 = 30_000.0;

/// The top of the latency axis: the router timeout, or higher if a value or setting is.
pub(super) fn latency_top(data: &ChartData) -> f64 {
    let heartbeats = data.heartbeats.iter().map(|beat| beat.response_ms);
    let settings = [data.max_response_ms, data.min_response_ms, data.slo_ms];
    heartbeats
        .chain(data.p95_per_minute.iter().map(|&(_, ms)| ms))
        .chain(settings)
        .filter(|ms| ms.is_finite())
        .fold(ROUTER_TIMEOUT_MS, f64::max)
}

/// The top of the dynos axis: one above the largest count anywhere, so no line runs along the
/// panel's top edge.
pub(super) fn dynos_top(demand: &[(f64, u32)], policies: &[PolicySeries]) -> f64 {
    let policy_counts = policies
        .iter()
        .flat_map(|policy| policy.supply.iter().chain(&policy.scale_calls));
    let largest = demand
        .iter()
        .chain(policy_counts)
        .map(|&(_, count)| count)
        .max()
        .unwrap_or(0);
    f64::from(largest) + 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::chart::Heartbeat;

    fn two_minutes() -> TimeAxis {
        TimeAxis::new(120.0, 0)
    }

    #[test]
    fn step_corners_hold_each_value_until_the_next_and_the_last_until_the_end() {
        let corners = step_corners(&[(0.0, 1), (60.0, 3)], &two_minutes());
        assert_eq!(
            corners,
            [(0.0, 1.0), (60.0, 1.0), (60.0, 3.0), (120.0, 3.0)]
        );
        assert!(step_corners(&[], &two_minutes()).is_empty());
    }

    #[test]
    fn finite_runs_break_at_gaps_and_drop_points_off_the_axis() {
        let points = [
            (0.0, 1.0),
            (30.0, f64::NAN),
            (60.0, 2.0),
            (90.0, 3.0),
            (500.0, 4.0),
        ];
        let runs = finite_runs(&points, &two_minutes());
        assert_eq!(runs, [vec![(0.0, 1.0)], vec![(60.0, 2.0), (90.0, 3.0)]]);
    }

    #[test]
    fn heartbeats_are_drawn_by_the_judges_verdict_not_by_their_time() {
        let beat = |at, response_ms, verdict| Heartbeat {
            at,
            response_ms,
            verdict,
        };
        let data = ChartData {
            max_response_ms: 1000.0,
            min_response_ms: 200.0,
            // A quick error answer (no dyno up) is slow; a timeout at the max is slow too.
            heartbeats: vec![
                beat(0.0, 1.0, Verdict::Slow),
                beat(30.0, 1000.0, Verdict::Slow),
                beat(60.0, 50.0, Verdict::Fast),
            ],
            ..ChartData::default()
        };
        let axis = two_minutes();
        let slow = heartbeats_judged(&data, &axis, Verdict::Slow);
        assert_eq!(slow, [(0.0, 1.0), (30.0, 1000.0)]);
        assert_eq!(
            heartbeats_judged(&data, &axis, Verdict::Fast),
            [(60.0, 50.0)]
        );
        assert!(heartbeats_judged(&data, &axis, Verdict::Neutral).is_empty());
    }

    #[test]
    fn a_scale_call_below_the_supply_before_it_goes_down() {
        let policy = PolicySeries {
            name: "autoscaler".into(),
            supply: vec![(0.0, 2), (30.0, 3), (90.0, 1)],
            scale_calls: vec![(30.0, 3), (90.0, 1)],
        };
        let directions: Vec<_> = scale_calls(&policy, &two_minutes())
            .into_iter()
            .map(|(_, _, direction)| direction)
            .collect();
        assert_eq!(directions, [Direction::Up, Direction::Down]);
    }

    #[test]
    fn axis_tops_leave_room_and_survive_empty_data() {
        let empty = ChartData::default();
        assert_eq!(traffic_top(&empty), 1.0);
        assert_eq!(latency_top(&empty), ROUTER_TIMEOUT_MS);
        assert_eq!(dynos_top(&[], &[]), 1.0);
        let policy = PolicySeries {
            name: "autoscaler".into(),
            supply: vec![(0.0, 2), (60.0, 4)],
            scale_calls: vec![(60.0, 4)],
        };
        assert_eq!(dynos_top(&[(0.0, 6)], std::slice::from_ref(&policy)), 7.0);
        assert_eq!(dynos_top(&[], &[policy]), 5.0);
    }
}
