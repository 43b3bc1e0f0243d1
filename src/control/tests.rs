use super::*;
use crate::heroku::DynoStates;

const CONFIG: ControllerConfig = ControllerConfig {
    policy: Policy {
        fails_to_scale_up: 3,
        passes_to_scale_down: 5,
        up_by: 1,
        down_by: 1,
    },
    formation_refresh: Duration::from_secs(60),
    notice_repeat: Duration::from_secs(3600),
    scale_diff: None,
    dry_run: false,
    boot_timeout: None,
    proportional_scale_up: false,
    scale_down_backoff: false,
    plan_limit_memory: Some(Duration::from_secs(3600)),
};

/// The defaults since issue 14: the seed's rule plus the boot wait, proportional steps up and
/// scale-downs on trial.
const EXPERT: ControllerConfig = ControllerConfig {
    boot_timeout: Some(Duration::from_secs(120)),
    proportional_scale_up: true,
    scale_down_backoff: true,
    ..CONFIG
};

const BOUNDS: Bounds = Bounds { min: 1, max: 3 };

use Verdict::{Fast, Neutral, Slow};

/// Feeds `n` verdicts alike and returns every action they brought.
fn feed(c: &mut Controller, verdict: Verdict, n: u32, bounds: Bounds, now: Instant) -> Vec<Action> {
    (0..n)
        .flat_map(|_| c.on_verdict(verdict, bounds, now))
        .collect()
}

fn unavailable() -> ApiError {
    ApiError::Server {
        status: 503,
        id: "unavailable".into(),
        message: "Service Unavailable".into(),
    }
}

fn key_refused() -> ApiError {
    ApiError::Unauthorized {
        status: 401,
        id: "unauthorized".into(),
        message: "Invalid credentials provided.".into(),
    }
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
    assert_eq!(feed(&mut c, Slow, 2, BOUNDS, now), []);
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), [Action::ReadFormation]);
    // More verdicts while the read is in flight start nothing new.
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), []);
    let scale = Action::Scale {
        from: 1,
        to: 2,
        reason: ScaleReason::SlowStreak,
    };
    assert_eq!(c.on_formation(Ok(1), BOUNDS, now), [scale]);
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), []);
    assert_eq!(c.on_scaled(Ok(2), now), []);
    assert_eq!(c.quantity(), Some(2));
    assert_eq!(
        c.streaks(),
        Streaks::default(),
        "a scale starts the streaks afresh"
    );
    // The fresh streak needs the full count again: slow beats from before the scale, counted
    // while it was in flight, do not bring the next step forward.
    assert_eq!(feed(&mut c, Slow, 2, BOUNDS, now), []);
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), [Action::ReadFormation]);
}

#[test]
fn the_fresh_count_decides_not_the_cached_one() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    assert_eq!(feed(&mut c, Slow, 3, BOUNDS, now), [Action::ReadFormation]);
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
        c.on_verdict(Neutral, BOUNDS, start + Duration::from_secs(30)),
        []
    );
    let later = start + CONFIG.formation_refresh;
    assert_eq!(
        c.on_verdict(Neutral, BOUNDS, later),
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
    assert_eq!(c.on_verdict(Neutral, day, now), [Action::ReadFormation]);
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
    feed(&mut c, Slow, 3, BOUNDS, now);
    c.on_formation(Ok(1), BOUNDS, now);
    let actions = c.on_scaled(Err(unavailable()), now);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::ScaleFailed { from: 1, to: 2, error, .. })] if *error == unavailable()
        ),
        "{actions:?}"
    );
    assert_eq!(c.quantity(), None, "the count is unknown after a failure");
    // The next verdict retries: read, then scale again.
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), [Action::ReadFormation]);
    assert_eq!(c.on_formation(Ok(1), BOUNDS, now).len(), 1);
    assert_eq!(c.on_scaled(Err(unavailable()), now), [], "notified once");
    c.on_verdict(Slow, BOUNDS, now);
    c.on_formation(Ok(1), BOUNDS, now);
    assert_eq!(c.on_scaled(Ok(2), now), []);
    assert_eq!(c.quantity(), Some(2));
}

#[test]
fn a_busy_api_is_waited_for_then_the_count_is_read_afresh_without_a_notice() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    feed(&mut c, Slow, 3, BOUNDS, now);
    c.on_formation(Ok(1), BOUNDS, now);
    // Another scale call (from before a restart) was in flight and has ended: not a failure.
    assert_eq!(
        c.on_scaled(Err(ApiError::Busy), now),
        [Action::ReadFormation]
    );
    // It had scaled to 2 already. Like a scale of ours, it starts the streaks afresh: the slow
    // beats counted while it was in flight came before its dyno was serving.
    assert_eq!(c.on_formation(Ok(2), BOUNDS, now), []);
    assert_eq!(c.quantity(), Some(2));
    assert_eq!(feed(&mut c, Slow, 2, BOUNDS, now), []);
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), [Action::ReadFormation]);
}

#[test]
fn a_failed_read_is_retried_at_the_next_verdict() {
    let now = Instant::now();
    let mut c = Controller::new(CONFIG);
    c.start();
    assert_eq!(c.on_formation(Err(unavailable()), BOUNDS, now), []);
    assert_eq!(c.call_in_flight(), None);
    assert_eq!(c.on_verdict(Neutral, BOUNDS, now), [Action::ReadFormation]);
}

#[test]
fn needs_above_max_is_sent_when_it_begins_not_every_heartbeat() {
    let now = Instant::now();
    let mut c = started_at(3, now);
    let mut notices = 0;
    for n in 1..=25_u64 {
        let actions = c.on_verdict(Slow, BOUNDS, now + Duration::from_secs(n));
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
    let actions = feed(&mut c, Fast, 5, high_min, now);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::NeedsBelowMin { quantity: 2, .. })]
        ),
        "{actions:?}"
    );
    let mut c = started_at(1, now);
    assert_eq!(feed(&mut c, Fast, 5, BOUNDS, now), []);
}

#[test]
fn a_restart_forgets_the_count_and_the_streaks_and_reads_again() {
    let now = Instant::now();
    let mut c = started_at(2, now);
    feed(&mut c, Slow, 2, BOUNDS, now);
    c.restart();
    assert_eq!(c.quantity(), None);
    assert_eq!(c.streaks(), Streaks::default());
    assert_eq!(c.start(), [Action::ReadFormation]);
    assert_eq!(c.on_formation(Ok(2), BOUNDS, now), []);
    // A scale may have completed unseen: the streak starts over.
    assert_eq!(c.on_verdict(Slow, BOUNDS, now), []);
}

#[test]
fn random_runs_never_leave_the_bounds_nor_overlap_calls() {
    random_run(CONFIG);
    random_run(EXPERT);
}

fn random_run(config: ControllerConfig) {
    let mut rng = fastrand::Rng::with_seed(42);
    let start = Instant::now();
    let mut c = Controller::new(config);
    let mut pending = c.start().pop();
    let mut actual = 4_u32; // the real count, which people may also change by hand
    let mut scales = 0;
    for step in 0..20_000_u64 {
        let now = start + Duration::from_millis(500 * step);
        let bounds = if (step / 500) % 2 == 0 {
            Bounds { min: 1, max: 4 }
        } else {
            Bounds { min: 2, max: 6 }
        };
        if rng.u64(..200) == 0 {
            actual = rng.u64(..9) as u32;
        }
        let succeeds = rng.u64(..5) != 0;
        let actions = match (rng.u64(..3), pending.take()) {
            (0, Some(Action::ReadFormation)) => {
                let read = if succeeds {
                    Ok(actual)
                } else {
                    Err(unavailable())
                };
                c.on_formation(read, bounds, now)
            }
            (0, Some(Action::Scale { to, .. })) if succeeds => {
                actual = to;
                c.on_scaled(Ok(actual), now)
            }
            (0, Some(Action::Scale { .. })) => {
                let error = if rng.bool() {
                    refused_above(rng.u32(..8))
                } else {
                    unavailable()
                };
                c.on_scaled(Err(error), now)
            }
            (0, Some(Action::ReadDynos)) => {
                let up = rng.u32(..=actual);
                let states = DynoStates {
                    starting: actual - up,
                    up,
                    crashed: u32::from(rng.u64(..10) == 0),
                };
                c.on_dynos(Ok(states), now)
            }
            (_, still_pending) => {
                pending = still_pending;
                let verdict = [Slow, Fast, Neutral][rng.u64(..3) as usize];
                c.on_verdict(verdict, bounds, now)
            }
        };
        for action in actions {
            match action {
                Action::ReadFormation | Action::ReadDynos | Action::Scale { .. } => {
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
                Action::Notify(_) | Action::BootEnded(_) => {}
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
        notices += feed(&mut c, Slow, 3, BOUNDS, now + Duration::from_secs(round)).len();
        c.on_verdict(Neutral, BOUNDS, now + Duration::from_secs(round));
    }
    assert_eq!(notices, 1);
}

#[test]
fn leaving_the_max_ends_the_condition_so_the_next_overload_is_reported() {
    let now = Instant::now();
    let mut c = started_at(3, now);
    assert_eq!(feed(&mut c, Slow, 3, BOUNDS, now).len(), 1);
    // The schedule raises the max: the count is no longer at max, the condition ends.
    let wider = Bounds { min: 1, max: 4 };
    c.on_verdict(Neutral, wider, now);
    assert_eq!(feed(&mut c, Slow, 3, BOUNDS, now).len(), 1);
}

#[test]
fn the_verdict_that_started_a_read_decides_its_answer() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    assert_eq!(feed(&mut c, Slow, 3, BOUNDS, now), [Action::ReadFormation]);
    // A neutral heartbeat arrives while the read is in flight: the scale still goes out.
    assert_eq!(c.on_verdict(Neutral, BOUNDS, now), []);
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
fn a_streak_that_grows_during_a_refresh_read_decides_its_answer() {
    let start = Instant::now();
    let mut c = started_at(1, start);
    let later = start + CONFIG.formation_refresh;
    // The count is due for a refresh at the first slow beat; two more arrive during the read.
    assert_eq!(c.on_verdict(Slow, BOUNDS, later), [Action::ReadFormation]);
    assert_eq!(feed(&mut c, Slow, 2, BOUNDS, later), []);
    assert_eq!(
        c.on_formation(Ok(1), BOUNDS, later),
        [Action::Scale {
            from: 1,
            to: 2,
            reason: ScaleReason::SlowStreak
        }]
    );
}

#[test]
fn a_streak_the_other_way_during_a_read_decides_its_answer() {
    let now = Instant::now();
    let mut c = started_at(2, now);
    assert_eq!(feed(&mut c, Slow, 3, BOUNDS, now), [Action::ReadFormation]);
    // Five fast beats while the read hangs: newer evidence than the slow streak that began it.
    feed(&mut c, Fast, 5, BOUNDS, now);
    assert_eq!(
        c.on_formation(Ok(2), BOUNDS, now),
        [Action::Scale {
            from: 2,
            to: 1,
            reason: ScaleReason::FastStreak
        }]
    );
}

#[test]
fn a_notice_decided_on_a_reads_streaks_reports_those_streaks() {
    let now = Instant::now();
    let mut c = started_at(1, now);
    assert_eq!(feed(&mut c, Slow, 3, BOUNDS, now), [Action::ReadFormation]);
    c.on_verdict(Neutral, BOUNDS, now);
    // Someone scaled to the max meanwhile; the notice tells of the streak that was decided on.
    let actions = c.on_formation(Ok(3), BOUNDS, now);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::NeedsAboveMax { slow_streak: 3, .. })]
        ),
        "{actions:?}"
    );
}

#[test]
fn a_refused_key_is_notified_once_until_a_call_succeeds() {
    let now = Instant::now();
    let mut c = Controller::new(CONFIG);
    let refused = |actions: Vec<Action>| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Notify(Notice::ApiKeyRefused { .. })))
            .count()
    };
    c.start();
    assert_eq!(refused(c.on_formation(Err(key_refused()), BOUNDS, now)), 1);
    c.on_verdict(Neutral, BOUNDS, now);
    assert_eq!(refused(c.on_formation(Err(key_refused()), BOUNDS, now)), 0);
    c.on_verdict(Neutral, BOUNDS, now);
    c.on_formation(Ok(2), BOUNDS, now);
    // A refused scale call says so too, beside the scale-failed notice.
    feed(&mut c, Slow, 3, BOUNDS, now);
    c.on_formation(Ok(2), BOUNDS, now);
    assert_eq!(refused(c.on_scaled(Err(key_refused()), now)), 1);
}

/// Scales from `from` to `to` at `now` through the whole read-then-scale exchange.
fn scale_through(
    c: &mut Controller,
    from: u32,
    to: u32,
    bounds: Bounds,
    now: Instant,
) -> Vec<Action> {
    let (verdict, streak) = if to > from { (Slow, 3) } else { (Fast, 5) };
    assert_eq!(
        feed(c, verdict, streak, bounds, now),
        [Action::ReadFormation]
    );
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

/// What an API that disagrees with the worker did to it over a run.
#[derive(Debug, Default)]
struct Run {
    /// Seconds into the run of each scale call, with the count asked for.
    scales: Vec<(u64, u32)>,
    /// Seconds into the run of each undone-correction notice.
    undone_notices: Vec<u64>,
}

/// Drives `c` with a neutral heartbeat every 30 s for `seconds`, answering every read with
/// `read(seconds into the run)` and every scale call with `answer(asked)`.
fn run_against(
    c: &mut Controller,
    seconds: u64,
    mut read: impl FnMut(u64) -> u32,
    mut answer: impl FnMut(u32) -> Result<u32, ApiError>,
) -> Run {
    let start = Instant::now();
    let mut run = Run::default();
    let mut actions: Vec<Action> = c.start();
    for second in (0..=seconds).step_by(30) {
        let now = start + Duration::from_secs(second);
        actions.extend(c.on_verdict(Neutral, BOUNDS, now));
        while let Some(action) = actions.pop() {
            match action {
                Action::ReadFormation => {
                    actions.extend(c.on_formation(Ok(read(second)), BOUNDS, now))
                }
                Action::Scale { to, .. } => {
                    run.scales.push((second, to));
                    actions.extend(c.on_scaled(answer(to), now));
                }
                Action::Notify(Notice::CorrectionUndone { .. }) => run.undone_notices.push(second),
                Action::Notify(_) | Action::BootEnded(_) => {}
                Action::ReadDynos => unreachable!("the seed's rule waits for no boot"),
            }
        }
    }
    run
}

fn scale_seconds(run: &Run) -> Vec<u64> {
    run.scales.iter().map(|(at, _)| *at).collect()
}

#[test]
fn an_api_that_keeps_answering_a_count_above_max_is_corrected_less_and_less_often() {
    let mut c = Controller::new(CONFIG);
    let two_hours = 2 * 3600;
    // Every read and every scale call says 9, whatever was asked (max is 3).
    let run = run_against(&mut c, two_hours, |_| 9, |_| Ok(9));
    // Waits of 1, 2, 4, 8, 16, 32, then 60 minutes between corrections: not one per beat.
    assert_eq!(
        scale_seconds(&run),
        [0, 60, 180, 420, 900, 1860, 3780],
        "{run:?}"
    );
    assert!(run.scales.iter().all(|(_, to)| *to == 3));
    // The admins hear of it at the first correction undone, and again an hour on.
    assert_eq!(run.undone_notices, [30, 3630], "{run:?}");
}

#[test]
fn a_count_something_else_keeps_setting_back_is_corrected_less_and_less_often() {
    let mut c = Controller::new(CONFIG);
    // Scale calls are applied (the answer says 3), but every read finds 9 again.
    let run = run_against(&mut c, 3600, |_| 9, Ok);
    assert_eq!(scale_seconds(&run), [0, 60, 180, 420, 900, 1860], "{run:?}");
    assert_eq!(run.undone_notices, [60], "{run:?}");
}

#[test]
fn a_count_put_back_every_ten_minutes_is_reported_once_and_corrected_less_often() {
    let mut c = Controller::new(CONFIG);
    // A scheduled `heroku ps:scale web=9` every 10 minutes (max 3); every scale call is applied.
    let count = std::cell::Cell::new(9);
    let mut last_put_back = 0;
    let read = |second: u64| {
        if second / 600 > last_put_back {
            last_put_back = second / 600;
            count.set(9);
        }
        count.get()
    };
    let run = run_against(&mut c, 2 * 3600, read, |asked| {
        count.set(asked);
        Ok(asked)
    });
    // Corrected at once the first times, then only after 8, 16, 32 minutes (no read between
    // corrections finds the count held for an hour, so the episode goes on).
    assert_eq!(
        scale_seconds(&run),
        [0, 600, 1200, 1800, 2400, 3360, 5280],
        "{run:?}"
    );
    // At the first correction undone, then once per repeat period (an hour), not every ten
    // minutes.
    assert_eq!(run.undone_notices, [600, 4200], "{run:?}");
}

#[test]
fn a_correction_that_held_for_an_hour_leaves_the_next_one_a_first() {
    let start = Instant::now();
    let mut c = started_at(3, start);
    let minute = Duration::from_secs(60);
    for episode in 1..=2u32 {
        let at = start + 70 * minute * episode;
        assert_eq!(c.on_verdict(Neutral, BOUNDS, at), [Action::ReadFormation]);
        assert_eq!(
            c.on_formation(Ok(9), BOUNDS, at),
            [Action::Scale {
                from: 9,
                to: 3,
                reason: ScaleReason::AboveMax
            }],
            "episode {episode}: corrected at once, without a notice"
        );
        assert_eq!(c.on_scaled(Ok(3), at), []);
        // Refresh reads find the correction held, the last an hour after it.
        for minutes in [2, 30, 60] {
            let read_at = at + minutes * minute;
            assert_eq!(
                c.on_verdict(Neutral, BOUNDS, read_at),
                [Action::ReadFormation]
            );
            assert_eq!(c.on_formation(Ok(3), BOUNDS, read_at), []);
        }
    }
}

#[test]
fn a_count_that_comes_back_as_another_count_outside_the_bounds_is_the_same_episode() {
    let mut c = Controller::new(CONFIG);
    // Something else sets 9, then 10, then 9 ... (max 3); every scale call is applied.
    let mut reads = 0;
    let alternating = |_| {
        reads += 1;
        if reads % 2 == 0 {
            10
        } else {
            9
        }
    };
    let run = run_against(&mut c, 3600, alternating, Ok);
    assert_eq!(scale_seconds(&run), [0, 60, 180, 420, 900, 1860], "{run:?}");
    assert_eq!(run.undone_notices, [60], "{run:?}");
}

#[test]
fn a_correction_that_failed_is_retried_at_once_and_not_reported_as_undone() {
    let mut c = Controller::new(CONFIG);
    // The API is down for the first three scale calls: 503s, then it applies them.
    let mut calls = 0;
    let flaky = |asked| {
        calls += 1;
        if calls <= 3 {
            Err(unavailable())
        } else {
            Ok(asked)
        }
    };
    let mut reads = 0;
    // The count is 9 until the first scale call is applied, then it holds at 3.
    let run = run_against(
        &mut c,
        600,
        |_| {
            reads += 1;
            if reads <= 4 {
                9
            } else {
                3
            }
        },
        flaky,
    );
    // One scale call per beat while they fail (the API actor's own backoff spaces them out in
    // the worker), none held back as if something undid them.
    assert_eq!(scale_seconds(&run), [0, 30, 60, 90], "{run:?}");
    assert_eq!(run.undone_notices, Vec::<u64>::new(), "{run:?}");
}

#[test]
fn a_dry_run_never_reports_a_correction_undone() {
    let mut c = Controller::new(ControllerConfig {
        dry_run: true,
        ..CONFIG
    });
    // Nothing is sent, so every read still finds 9 (max 3).
    let run = run_against(&mut c, 600, |_| 9, Ok);
    assert_eq!(run.undone_notices, Vec::<u64>::new(), "{run:?}");
    // The would-be correction comes again at each formation refresh, as before.
    assert_eq!(
        scale_seconds(&run),
        (0..=600).step_by(60).collect::<Vec<u64>>(),
        "{run:?}"
    );
}

/// Carries out `actions` as the worker would against an API whose count is `*actual` and
/// whose dynos are all `up` unless `starting` says how many still boot; returns what was
/// scaled and the boot waits that ended.
fn carry_out(
    c: &mut Controller,
    mut actions: Vec<Action>,
    actual: &mut u32,
    starting: u32,
    now: Instant,
) -> (Vec<(u32, ScaleReason)>, Vec<BootEnd>) {
    let (mut scales, mut ends) = (Vec::new(), Vec::new());
    while let Some(action) = actions.pop() {
        let more = match action {
            Action::ReadFormation => c.on_formation(Ok(*actual), WIDE, now),
            Action::Scale { to, reason, .. } => {
                scales.push((to, reason));
                *actual = to;
                c.on_scaled(Ok(to), now)
            }
            Action::ReadDynos => {
                let states = DynoStates {
                    starting,
                    up: *actual - starting,
                    crashed: 0,
                };
                c.on_dynos(Ok(states), now)
            }
            Action::BootEnded(end) => {
                ends.push(end);
                Vec::new()
            }
            Action::Notify(_) => Vec::new(),
        };
        actions.extend(more);
    }
    (scales, ends)
}

const WIDE: Bounds = Bounds { min: 1, max: 20 };

/// An expert controller at `quantity` dynos, read at `now`.
fn expert_at(quantity: u32, now: Instant) -> Controller {
    let mut c = Controller::new(EXPERT);
    c.start();
    assert_eq!(c.on_formation(Ok(quantity), WIDE, now), []);
    c
}

#[test]
fn with_every_new_rule_on_the_first_step_still_comes_after_exactly_the_fails() {
    let start = Instant::now();
    let mut c = expert_at(2, start);
    let mut actual = 2;
    for beat in 1..=3 {
        let actions = c.on_verdict(Slow, WIDE, start + Duration::from_secs(30 * beat));
        let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, start);
        let expected: &[(u32, ScaleReason)] = if beat == 3 {
            &[(3, ScaleReason::SlowStreak)]
        } else {
            &[]
        };
        assert_eq!(scales, expected, "beat {beat}");
    }
}

#[test]
fn slow_beats_do_not_count_until_the_new_dynos_serve() {
    let start = Instant::now();
    let at = |seconds: u64| start + Duration::from_secs(seconds);
    let mut c = expert_at(2, start);
    let mut actual = 2;
    let actions = feed(&mut c, Slow, 3, WIDE, start);
    carry_out(&mut c, actions, &mut actual, 0, start);
    assert_eq!(actual, 3);
    assert!(c.booting.is_some());
    // The first beat reads the dyno list; one still starts.
    assert_eq!(c.on_verdict(Slow, WIDE, at(5)), [Action::ReadDynos]);
    assert_eq!(
        c.on_dynos(
            Ok(DynoStates {
                starting: 1,
                up: 2,
                crashed: 0
            }),
            at(5)
        ),
        []
    );
    // Reads are rationed: a beat 5 s later reads nothing, and counts for nothing.
    assert_eq!(c.on_verdict(Slow, WIDE, at(10)), []);
    assert_eq!(c.streaks(), Streaks::default());
    // Many slow beats while booting add no dyno.
    for second in [11, 12, 13] {
        let actions = c.on_verdict(Slow, WIDE, at(second));
        assert!(!actions.iter().any(|a| matches!(a, Action::Scale { .. })));
    }
    // Up: the wait ends, and the beat that asked counts as the first of a new streak.
    assert_eq!(c.on_verdict(Slow, WIDE, at(40)), [Action::ReadDynos]);
    let ended = c.on_dynos(
        Ok(DynoStates {
            starting: 0,
            up: 3,
            crashed: 0,
        }),
        at(40),
    );
    assert!(matches!(
        ended.as_slice(),
        [Action::BootEnded(BootEnd {
            to: 3,
            how: boot::Ended::Serving,
            ..
        })]
    ));
    assert!(c.booting.is_none());
    assert_eq!(c.streaks(), Streaks { slow: 1, fast: 0 });
}

#[test]
fn a_crashed_dyno_or_the_boot_timeout_ends_the_wait() {
    let start = Instant::now();
    let mut c = expert_at(2, start);
    let mut actual = 2;
    let actions = feed(&mut c, Slow, 3, WIDE, start);
    carry_out(&mut c, actions, &mut actual, 0, start);
    assert_eq!(c.on_verdict(Slow, WIDE, start), [Action::ReadDynos]);
    let crashed = DynoStates {
        starting: 0,
        up: 2,
        crashed: 1,
    };
    let ended = c.on_dynos(Ok(crashed), start);
    assert!(matches!(
        ended.as_slice(),
        [Action::BootEnded(BootEnd {
            how: boot::Ended::Crashed(1),
            ..
        })]
    ));

    let mut c = expert_at(2, start);
    let mut actual = 2;
    let actions = feed(&mut c, Slow, 3, WIDE, start);
    carry_out(&mut c, actions, &mut actual, 0, start);
    // Every read fails: the timeout ends the wait all the same.
    assert_eq!(c.on_verdict(Slow, WIDE, start), [Action::ReadDynos]);
    assert_eq!(c.on_dynos(Err(unavailable()), start), []);
    let late = start + Duration::from_secs(120);
    let actions = c.on_verdict(Slow, WIDE, late);
    assert!(matches!(
        actions.first(),
        Some(Action::BootEnded(BootEnd {
            how: boot::Ended::TimedOut(None),
            ..
        }))
    ));
    assert!(c.booting.is_none());
}

#[test]
fn each_scale_up_that_did_not_help_doubles_the_next_step() {
    let start = Instant::now();
    let mut c = expert_at(2, start);
    let mut actual = 2;
    let mut counts = Vec::new();
    for round in 0..3_u64 {
        let now = start + Duration::from_secs(100 * round);
        let beats = if round == 0 { 3 } else { 2 };
        let actions = feed(&mut c, Slow, beats, WIDE, now);
        carry_out(&mut c, actions, &mut actual, 0, now);
        counts.push(actual);
        // The dynos serve at the next beat, which is slow again.
        let actions = c.on_verdict(Slow, WIDE, now + Duration::from_secs(50));
        carry_out(&mut c, actions, &mut actual, 0, now);
        // Two more make the streak.
        assert!(c.booting.is_none());
    }
    // 2 → 3 (+1), → 5 (+2), → 9 (+4).
    assert_eq!(counts, [3, 5, 9]);
}

#[test]
fn relief_brings_the_step_back_to_the_increment() {
    let start = Instant::now();
    let mut c = expert_at(2, start);
    let mut actual = 2;
    let actions = feed(&mut c, Slow, 3, WIDE, start);
    carry_out(&mut c, actions, &mut actual, 0, start);
    let actions = c.on_verdict(Fast, WIDE, start + Duration::from_secs(50));
    carry_out(&mut c, actions, &mut actual, 0, start);
    let later = start + Duration::from_secs(100);
    let actions = feed(&mut c, Slow, 3, WIDE, later);
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, later);
    assert_eq!(scales, [(4, ScaleReason::SlowStreak)]);
}

#[test]
fn a_scale_down_refuted_by_the_next_beats_is_undone_and_the_next_needs_twice_the_passes() {
    let start = Instant::now();
    let at = |seconds: u64| start + Duration::from_secs(seconds);
    let mut c = expert_at(3, start);
    let mut actual = 3;
    let actions = feed(&mut c, Fast, 5, WIDE, at(0));
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, at(0));
    assert_eq!(scales, [(2, ScaleReason::FastStreak)]);
    // Two dynos are not enough: the next beat is merely neutral. The dyno goes back at once.
    let actions = c.on_verdict(Neutral, WIDE, at(30));
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, at(30));
    assert_eq!(scales, [(3, ScaleReason::ScaleDownUndone)]);
    // The dyno put back boots; once it serves, five fast beats are no longer enough.
    let actions = c.on_verdict(Fast, WIDE, at(80));
    carry_out(&mut c, actions, &mut actual, 0, at(80));
    let actions = feed(&mut c, Fast, 8, WIDE, at(90));
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, at(90));
    assert_eq!(scales, []);
    let actions = c.on_verdict(Fast, WIDE, at(91));
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, at(91));
    assert_eq!(scales, [(2, ScaleReason::FastStreak)]);
}

#[test]
fn a_scale_down_confirmed_by_fast_beats_stands() {
    let start = Instant::now();
    let mut c = expert_at(3, start);
    let mut actual = 3;
    let actions = feed(&mut c, Fast, 5, WIDE, start);
    carry_out(&mut c, actions, &mut actual, 0, start);
    assert_eq!(actual, 2);
    // Four fast beats confirm it so far; a fifth would be the streak for the next step down,
    // so the last confirming beat and a neutral one after it come at the min of 2.
    let later = start + Duration::from_secs(60);
    let actions = feed(&mut c, Fast, 4, WIDE, later);
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, later);
    assert_eq!(scales, []);
    let at_min = Bounds { min: 2, max: 20 };
    c.on_verdict(Fast, at_min, later);
    // The confirming beats are past: a neutral one now is no refutation.
    let actions = c.on_verdict(Neutral, at_min, later);
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, later);
    assert_eq!(scales, []);
    assert_eq!(actual, 2);
}

fn refused_above(limit: u32) -> ApiError {
    ApiError::Unprocessable {
        id: "cannot_run_above_limit".into(),
        message: format!(
            "Cannot update to more than {limit} Standard-1X size dynos per process type."
        ),
    }
}

/// Feeds slow beats one by one, answering reads with `quantity`, and returns the scales and
/// notices they brought.
fn slow_beats_at(
    c: &mut Controller,
    quantity: u32,
    beats: u32,
    bounds: Bounds,
    now: Instant,
) -> Vec<Action> {
    let mut out = Vec::new();
    for _ in 0..beats {
        for action in c.on_verdict(Slow, bounds, now) {
            match action {
                Action::ReadFormation => out.extend(c.on_formation(Ok(quantity), bounds, now)),
                other => out.push(other),
            }
        }
    }
    out
}

/// Bounds with room above 4 dynos.
const ROOM: Bounds = Bounds { min: 1, max: 10 };

/// A controller at 4 dynos whose slow streak asked for 5, and what the refusal brought.
fn refused_from_four(config: ControllerConfig, now: Instant) -> (Controller, Vec<Action>) {
    let mut c = Controller::new(config);
    c.start();
    c.on_formation(Ok(4), ROOM, now);
    let scale = slow_beats_at(&mut c, 4, 3, ROOM, now);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 4, to: 5, .. }]),
        "{scale:?}"
    );
    let actions = c.on_scaled(Err(refused_above(4)), now);
    (c, actions)
}

#[test]
fn a_refused_scale_up_caps_the_count_with_one_notice_and_no_more_asking() {
    let start = Instant::now();
    let bounds = ROOM;
    let (mut c, actions) = refused_from_four(CONFIG, start);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::PlanLimit {
                from: 4,
                refused: 5,
                cap: 4,
                ..
            })]
        ),
        "{actions:?}"
    );
    // Slow for most of an hour: reads go on, but no scale and no needs-above-max notice.
    let later = start + Duration::from_secs(3599);
    assert_eq!(slow_beats_at(&mut c, 4, 100, bounds, later), []);
    // An hour on, Heroku is asked again.
    let hour = start + Duration::from_secs(3600);
    let again = slow_beats_at(&mut c, 4, 1, bounds, hour);
    assert!(
        matches!(again.as_slice(), [Action::Scale { from: 4, to: 5, .. }]),
        "{again:?}"
    );
    // Refused again: a condition lasting the notice repeat period (an hour here) is
    // reported again, once.
    let actions = c.on_scaled(Err(refused_above(4)), hour);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::PlanLimit { .. })]
        ),
        "{actions:?}"
    );
    assert_eq!(slow_beats_at(&mut c, 4, 10, bounds, hour), []);
}

#[test]
fn a_plan_limit_ends_when_the_max_changes_or_more_dynos_run() {
    let now = Instant::now();
    let (mut c, _) = refused_from_four(CONFIG, now);
    assert_eq!(slow_beats_at(&mut c, 4, 5, ROOM, now), []);
    let evening = Bounds { min: 1, max: 12 };
    let scale = slow_beats_at(&mut c, 4, 1, evening, now);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 4, to: 5, .. }]),
        "{scale:?}"
    );
    c.on_scaled(Err(refused_above(4)), now);
    assert_eq!(slow_beats_at(&mut c, 4, 5, evening, now), []);
    // Someone raised the limit and scaled by hand (seen at the next refresh read): the cap
    // is forgotten, not enforced.
    let refresh = now + CONFIG.formation_refresh;
    let scale = slow_beats_at(&mut c, 6, 1, evening, refresh);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 6, to: 7, .. }]),
        "{scale:?}"
    );
}

#[test]
fn a_limit_named_in_the_refusal_is_scaled_to_once() {
    let now = Instant::now();
    let config = ControllerConfig {
        policy: Policy {
            up_by: 4,
            ..CONFIG.policy
        },
        ..CONFIG
    };
    let mut c = Controller::new(config);
    c.start();
    c.on_formation(Ok(2), WIDE, now);
    let scale = slow_beats_at(&mut c, 2, 3, WIDE, now);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 2, to: 6, .. }]),
        "{scale:?}"
    );
    c.on_scaled(Err(refused_above(4)), now);
    // The streak stands: the next beat reads, and asks for what the plan allows.
    let scale = slow_beats_at(&mut c, 2, 1, WIDE, now);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 2, to: 4, .. }]),
        "{scale:?}"
    );
    assert_eq!(c.on_scaled(Ok(4), now), []);
    assert_eq!(slow_beats_at(&mut c, 4, 20, WIDE, now), []);
}

#[test]
fn a_refused_scale_down_is_not_asked_again_for_a_minute() {
    let start = Instant::now();
    let mut c = started_at(3, start);
    feed(&mut c, Fast, 5, BOUNDS, start);
    let scale = c.on_formation(Ok(3), BOUNDS, start);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 3, to: 2, .. }]),
        "{scale:?}"
    );
    let refused = ApiError::Unprocessable {
        id: "invalid_params".into(),
        message: "Formation changes are locked during a release.".into(),
    };
    let actions = c.on_scaled(Err(refused), start);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::ScaleFailed { .. })]
        ),
        "{actions:?}"
    );
    let soon = start + Duration::from_secs(59);
    assert_eq!(c.on_verdict(Fast, BOUNDS, soon), [Action::ReadFormation]);
    assert_eq!(c.on_formation(Ok(3), BOUNDS, soon), []);
    let minute = start + refusal::REFUSED_QUANTITY_HOLD;
    assert_eq!(c.on_verdict(Fast, BOUNDS, minute), [Action::ReadFormation]);
    assert_eq!(c.on_formation(Ok(3), BOUNDS, minute).len(), 1);
}

#[test]
fn a_restart_keeps_the_plan_limit() {
    let now = Instant::now();
    let (mut c, _) = refused_from_four(CONFIG, now);
    c.restart();
    assert_eq!(c.start(), [Action::ReadFormation]);
    assert_eq!(c.on_formation(Ok(4), ROOM, now), []);
    assert_eq!(slow_beats_at(&mut c, 4, 10, ROOM, now), []);
}

#[test]
fn with_the_plan_memory_off_a_refused_scale_up_is_a_failure_held_back_a_minute() {
    let start = Instant::now();
    let config = ControllerConfig {
        plan_limit_memory: None,
        ..CONFIG
    };
    let bounds = ROOM;
    let (mut c, actions) = refused_from_four(config, start);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Notify(Notice::ScaleFailed { to: 5, .. })]
        ),
        "{actions:?}"
    );
    let soon = start + Duration::from_secs(59);
    assert!(
        matches!(
            slow_beats_at(&mut c, 4, 1, bounds, soon).as_slice(),
            [Action::Notify(Notice::NeedsAboveMax { .. })] | []
        ),
        "not asked again within the minute"
    );
    let minute = start + Duration::from_secs(60);
    let scale = slow_beats_at(&mut c, 4, 1, bounds, minute);
    assert!(
        matches!(scale.as_slice(), [Action::Scale { from: 4, to: 5, .. }]),
        "{scale:?}"
    );
}

#[test]
fn a_wrong_heartbeat_url_holds_the_count_with_one_notice_until_it_answers() {
    let now = Instant::now();
    let mut c = expert_at(2, now);
    let bad = Verdict::BadUrl(404);
    let first = c.on_verdict(bad, WIDE, now);
    assert!(
        matches!(
            first.as_slice(),
            [Action::Notify(Notice::HeartbeatUrlRefused { status: 404 })]
        ),
        "{first:?}"
    );
    let mut actual = 2;
    for beat in 1..50 {
        let at = now + Duration::from_secs(30 * beat);
        let actions = c.on_verdict(bad, WIDE, at);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Notify(_))),
            "beat {beat}: {actions:?}"
        );
        let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, at);
        assert_eq!(scales, [], "beat {beat}");
    }
    assert_eq!(c.streaks(), Streaks::default());
    // Slow beats between wrong answers (a 503, a timeout) do not end the condition...
    c.on_verdict(Slow, WIDE, now);
    assert_eq!(c.on_verdict(bad, WIDE, now), []);
    // ...a 2xx answer does, so the next wrong answer is a new one.
    c.on_verdict(Neutral, WIDE, now);
    assert_eq!(c.on_verdict(bad, WIDE, now).len(), 1);
}

#[test]
fn a_wrong_heartbeat_url_does_not_fail_a_scale_down_on_trial_nor_break_bounds() {
    let now = Instant::now();
    let mut c = expert_at(3, now);
    let mut actual = 3;
    let actions = feed(&mut c, Fast, 5, WIDE, now);
    let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, now);
    assert_eq!(scales, [(2, ScaleReason::FastStreak)]);
    // A wrong URL among the confirming beats is no evidence against the scale-down.
    for beat in 1..=10 {
        let at = now + Duration::from_secs(30 * beat);
        let actions = c.on_verdict(Verdict::BadUrl(403), WIDE, at);
        let (scales, _) = carry_out(&mut c, actions, &mut actual, 0, at);
        assert_eq!(scales, [], "beat {beat}");
    }
    // The bounds still hold: a schedule's min of 4 is enforced while the URL is wrong.
    let day = Bounds { min: 4, max: 20 };
    let later = now + Duration::from_secs(3600);
    let actions = c.on_verdict(Verdict::BadUrl(403), day, later);
    let mut scales = Vec::new();
    for action in actions {
        if action == Action::ReadFormation {
            for more in c.on_formation(Ok(actual), day, later) {
                if let Action::Scale { to, reason, .. } = more {
                    scales.push((to, reason));
                }
            }
        }
    }
    assert_eq!(scales, [(4, ScaleReason::BelowMin)]);
}
