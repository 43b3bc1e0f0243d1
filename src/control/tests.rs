use super::*;

const CONFIG: ControllerConfig = ControllerConfig {
    policy: Policy {
        fails_to_scale_up: 3,
        passes_to_scale_down: 5,
        increment: 1,
    },
    formation_refresh: Duration::from_secs(60),
    notice_repeat: Duration::from_secs(3600),
    scale_diff: None,
};

const BOUNDS: Bounds = Bounds { min: 1, max: 3 };

fn judged(verdict: Verdict, slow: u32, fast: u32, epoch: u64) -> Judged {
    Judged {
        verdict,
        streaks: Streaks { slow, fast },
        epoch,
    }
}

fn slow(n: u32) -> Judged {
    judged(Verdict::Slow, n, 0, 0)
}

fn fast(n: u32) -> Judged {
    judged(Verdict::Fast, 0, n, 0)
}

fn neutral() -> Judged {
    judged(Verdict::Neutral, 0, 0, 0)
}

/// A controller that has read `quantity` at `now`.
fn started_at(quantity: u32, now: Instant) -> Controller {
    let mut controller = Controller::new(CONFIG);
    assert_eq!(controller.start(), [Action::ReadFormation]);
    assert_eq!(controller.on_formation(Ok(quantity), BOUNDS, now), []);
    controller
}

#[test]
fn a_slow_streak_re_reads_the_count_then_scales_once() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    assert_eq!(c.on_verdict(slow(1), BOUNDS, now), []);
    assert_eq!(c.on_verdict(slow(2), BOUNDS, now), []);
    assert_eq!(c.on_verdict(slow(3), BOUNDS, now), [Action::ReadFormation]);
    // More verdicts while the read is in flight start nothing new.
    assert_eq!(c.on_verdict(slow(4), BOUNDS, now), []);
    let scale = Action::Scale {
        from: 1,
        to: 2,
        reason: ScaleReason::SlowStreak,
    };
    assert_eq!(c.on_formation(Ok(1), BOUNDS, now), [scale]);
    assert_eq!(c.on_verdict(slow(5), BOUNDS, now), []);
    assert_eq!(c.on_scaled(Ok(2), now), [Action::ResetStreaks { epoch: 1 }]);
    assert_eq!(c.quantity(), Some(2));
    // A verdict sent before the judge saw the reset carries the old epoch: it must not scale.
    assert_eq!(c.on_verdict(slow(6), BOUNDS, now), []);
    // The fresh streak needs the full count again.
    assert_eq!(
        c.on_verdict(judged(Verdict::Slow, 2, 0, 1), BOUNDS, now),
        []
    );
    assert_eq!(
        c.on_verdict(judged(Verdict::Slow, 3, 0, 1), BOUNDS, now),
        [Action::ReadFormation]
    );
}

#[test]
fn the_fresh_count_decides_not_the_cached_one() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    assert_eq!(c.on_verdict(slow(3), BOUNDS, now), [Action::ReadFormation]);
    // Someone scaled to 3 by hand meanwhile: at max, so no scale, a notice instead.
    let actions = c.on_formation(Ok(3), BOUNDS, now);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::NeedsAboveMax { quantity: 3, .. })]
        ),
        "{actions:?}"
    );
}

#[test]
fn a_manual_scale_above_max_is_undone_after_the_refresh_period() {
    let start = Instant::now();
    let mut c = started_at(2, start);
    assert_eq!(
        c.on_verdict(neutral(), BOUNDS, start + Duration::from_secs(30)),
        []
    );
    let later = start + CONFIG.formation_refresh;
    assert_eq!(
        c.on_verdict(neutral(), BOUNDS, later),
        [Action::ReadFormation]
    );
    assert_eq!(
        c.on_formation(Ok(5), BOUNDS, later),
        [Action::Scale {
            from: 5,
            to: 3,
            reason: ScaleReason::AboveMax
        }]
    );
}

#[test]
fn a_schedule_change_applies_at_the_next_verdict() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    let day = Bounds { min: 2, max: 5 };
    assert_eq!(c.on_verdict(neutral(), day, now), [Action::ReadFormation]);
    assert_eq!(
        c.on_formation(Ok(1), day, now),
        [Action::Scale {
            from: 1,
            to: 2,
            reason: ScaleReason::BelowMin
        }]
    );
}

#[test]
fn bounds_are_enforced_right_after_the_first_read() {
    let mut c = Controller::new(CONFIG);
    assert_eq!(c.start(), [Action::ReadFormation]);
    assert_eq!(
        c.on_formation(Ok(7), BOUNDS, Instant::now()),
        [Action::Scale {
            from: 7,
            to: 3,
            reason: ScaleReason::AboveMax
        }]
    );
}

#[test]
fn a_failed_scale_keeps_the_streaks_retries_and_notifies_once() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    c.on_verdict(slow(3), BOUNDS, now);
    c.on_formation(Ok(1), BOUNDS, now);
    let actions = c.on_scaled(Err("HTTP 503".into()), now);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::ScaleFailed { from: 1, to: 2, .. })]
        ),
        "{actions:?}"
    );
    assert_eq!(c.quantity(), None, "the count is unknown after a failure");
    // The next verdict retries: read, then scale again.
    assert_eq!(c.on_verdict(slow(4), BOUNDS, now), [Action::ReadFormation]);
    assert_eq!(c.on_formation(Ok(1), BOUNDS, now).len(), 1);
    assert_eq!(
        c.on_scaled(Err("HTTP 503".into()), now),
        [],
        "notified once"
    );
    c.on_verdict(slow(5), BOUNDS, now);
    c.on_formation(Ok(1), BOUNDS, now);
    assert_eq!(c.on_scaled(Ok(2), now), [Action::ResetStreaks { epoch: 1 }]);
}

#[test]
fn a_failed_read_is_retried_at_the_next_verdict() {
    let now = Instant::now();
    let mut c = Controller::new(CONFIG);
    c.start();
    assert_eq!(c.on_formation(Err(()), BOUNDS, now), []);
    assert!(!c.is_busy());
    assert_eq!(
        c.on_verdict(neutral(), BOUNDS, now),
        [Action::ReadFormation]
    );
}

#[test]
fn needs_above_max_is_sent_when_it_begins_not_every_heartbeat() {
    let now = Instant::now();
    let mut c = started_at(3, now);
    let mut notices = 0;
    for n in 1..=25 {
        let actions = c.on_verdict(slow(n), BOUNDS, now + Duration::from_secs(n.into()));
        notices += actions
            .iter()
            .filter(|a| matches!(a, Action::Notify(Notice::NeedsAboveMax { .. })))
            .count();
        assert!(!actions.contains(&Action::ReadFormation) || n % 60 == 0);
    }
    assert_eq!(notices, 1);
}

#[test]
fn needs_below_min_only_above_one_dyno() {
    let now = Instant::now();
    let high_min = Bounds { min: 2, max: 3 };
    let mut c = Controller::new(CONFIG);
    c.start();
    c.on_formation(Ok(2), high_min, now);
    let actions = c.on_verdict(fast(5), high_min, now);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::NeedsBelowMin { quantity: 2, .. })]
        ),
        "{actions:?}"
    );
    let mut c = started_at(1, now);
    assert_eq!(c.on_verdict(fast(5), BOUNDS, now), []);
}

#[test]
fn a_restart_moves_to_a_new_epoch_and_reads_again() {
    let now = Instant::now();
    let mut c = started_at(2, now);
    assert_eq!(c.restart(), [Action::ResetStreaks { epoch: 1 }]);
    assert_eq!(c.quantity(), None);
    assert_eq!(c.start(), [Action::ReadFormation]);
    // Verdicts from before the reset no longer count.
    assert_eq!(c.on_formation(Ok(2), BOUNDS, now), []);
    assert_eq!(c.on_verdict(slow(3), BOUNDS, now), []);
}

/// A small deterministic generator, so the property test needs no extra crate.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn random_runs_never_leave_the_bounds_nor_overlap_calls() {
    let mut rng = Lcg(42);
    let start = Instant::now();
    let mut c = Controller::new(CONFIG);
    let mut pending = c.start().pop();
    let mut actual = 4_u32; // the real count, which people may also change by hand
    let mut epoch = 0;
    let mut streaks = Streaks::default();
    let mut scales = 0;
    for step in 0..20_000_u64 {
        let now = start + Duration::from_millis(500 * step);
        let bounds = if (step / 500) % 2 == 0 {
            Bounds { min: 1, max: 4 }
        } else {
            Bounds { min: 2, max: 6 }
        };
        if rng.below(200) == 0 {
            actual = rng.below(9) as u32;
        }
        let succeeds = rng.below(5) != 0;
        let actions = match (rng.below(3), pending.take()) {
            (0, Some(Action::ReadFormation)) => {
                c.on_formation(if succeeds { Ok(actual) } else { Err(()) }, bounds, now)
            }
            (0, Some(Action::Scale { to, .. })) if succeeds => {
                actual = to;
                c.on_scaled(Ok(actual), now)
            }
            (0, Some(Action::Scale { .. })) => c.on_scaled(Err("HTTP 500".into()), now),
            (_, still_pending) => {
                pending = still_pending;
                let verdict =
                    [Verdict::Slow, Verdict::Fast, Verdict::Neutral][rng.below(3) as usize];
                streaks.record(verdict);
                c.on_verdict(
                    Judged {
                        verdict,
                        streaks,
                        epoch,
                    },
                    bounds,
                    now,
                )
            }
        };
        for action in actions {
            match action {
                Action::ReadFormation | Action::Scale { .. } => {
                    assert!(pending.is_none(), "step {step}: two calls in flight");
                    if let Action::Scale { from, to, .. } = action {
                        scales += 1;
                        assert!(
                            to >= bounds.min && to <= bounds.max,
                            "step {step}: {from}->{to} outside {bounds}"
                        );
                        assert_ne!(from, to, "step {step}: a scale that changes nothing");
                    }
                    pending = Some(action);
                }
                Action::ResetStreaks { epoch: new } => {
                    epoch = new;
                    streaks = Streaks::default();
                }
                Action::Notify(_) => {}
            }
        }
    }
    assert!(
        scales > 100,
        "the run should scale often, scaled {scales} times"
    );
}

#[test]
fn a_streak_broken_by_one_neutral_beat_at_max_is_not_a_new_notice() {
    let now = Instant::now();
    let mut c = started_at(3, now);
    let mut notices = 0;
    for round in 0..5 {
        for n in 1..=3 {
            let actions = c.on_verdict(slow(n), BOUNDS, now + Duration::from_secs(round));
            notices += actions.len();
        }
        c.on_verdict(neutral(), BOUNDS, now + Duration::from_secs(round));
    }
    assert_eq!(notices, 1);
}

#[test]
fn leaving_the_max_ends_the_condition_so_the_next_overload_is_reported() {
    let now = Instant::now();
    let mut c = started_at(3, now);
    assert_eq!(c.on_verdict(slow(3), BOUNDS, now).len(), 1);
    // The schedule raises the max: the count is no longer at max, the condition ends.
    let wider = Bounds { min: 1, max: 4 };
    c.on_verdict(neutral(), wider, now);
    assert_eq!(c.on_verdict(slow(3), BOUNDS, now).len(), 1);
}

#[test]
fn the_verdict_that_started_a_read_decides_its_answer() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    assert_eq!(c.on_verdict(slow(3), BOUNDS, now), [Action::ReadFormation]);
    // A neutral heartbeat arrives while the read is in flight: the scale still goes out.
    assert_eq!(c.on_verdict(neutral(), BOUNDS, now), []);
    assert_eq!(
        c.on_formation(Ok(1), BOUNDS, now),
        [Action::Scale {
            from: 1,
            to: 2,
            reason: ScaleReason::SlowStreak
        }]
    );
}

#[test]
fn a_refused_key_is_notified_once_until_a_call_succeeds() {
    let now = Instant::now();
    let mut c = Controller::new(CONFIG);
    c.start();
    assert_eq!(c.on_formation(Err(()), BOUNDS, now), []);
    assert_eq!(c.on_api_key_refused("HTTP 401".into(), now).len(), 1);
    assert_eq!(c.on_api_key_refused("HTTP 401".into(), now), []);
    c.on_verdict(neutral(), BOUNDS, now);
    c.on_formation(Ok(2), BOUNDS, now);
    assert_eq!(c.on_api_key_refused("HTTP 401".into(), now).len(), 1);
}

/// Scales from `from` to `to` at `now` through the whole read-then-scale exchange.
fn scale_through(
    c: &mut Controller,
    from: u32,
    to: u32,
    bounds: Bounds,
    now: Instant,
) -> Vec<Action> {
    let epoch = c.epoch;
    let judged = if to > from {
        judged(Verdict::Slow, 3, 0, epoch)
    } else {
        judged(Verdict::Fast, 0, 5, epoch)
    };
    assert_eq!(c.on_verdict(judged, bounds, now), [Action::ReadFormation]);
    assert!(matches!(
        c.on_formation(Ok(from), bounds, now).as_slice(),
        [Action::Scale { .. }]
    ));
    c.on_scaled(Ok(to), now)
}

#[test]
fn a_wide_swing_within_the_period_sends_the_scale_diff_notice_once() {
    let config = ControllerConfig {
        scale_diff: Some(crate::settings::ScaleDiff {
            threshold: 2,
            period: Duration::from_secs(30 * 60),
        }),
        policy: Policy {
            increment: 1,
            ..CONFIG.policy
        },
        ..CONFIG
    };
    let wide = Bounds { min: 1, max: 10 };
    let start = Instant::now();
    let mut c = Controller::new(config);
    c.start();
    c.on_formation(Ok(1), wide, start);
    let diff_notices = |actions: Vec<Action>| {
        actions
            .into_iter()
            .filter(|a| matches!(a, Action::Notify(Notice::ScaleDiff { .. })))
            .count()
    };
    let minute = Duration::from_secs(60);
    assert_eq!(diff_notices(scale_through(&mut c, 1, 2, wide, start)), 0);
    assert_eq!(
        diff_notices(scale_through(&mut c, 2, 3, wide, start + minute)),
        0
    );
    let actions = scale_through(&mut c, 3, 4, wide, start + 2 * minute);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Notify(Notice::ScaleDiff {
                low: 1,
                high: 4,
                threshold: 2,
                ..
            })
        )),
        "{actions:?}"
    );
    assert_eq!(
        diff_notices(scale_through(&mut c, 4, 5, wide, start + 3 * minute)),
        0,
        "once"
    );
    // An hour later the old counts have left the window: small steps are quiet again.
    let later = start + 60 * minute;
    assert_eq!(diff_notices(scale_through(&mut c, 5, 6, wide, later)), 0);
}
