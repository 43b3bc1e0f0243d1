//! Turning a notice into an email an admin can act on: a subject that tells the story alone,
//! and a plain-text body with what happened, the state of things, and which setting to change.
//! Notices carry no secrets, and nothing here reads one. What a notice quotes from elsewhere (an
//! API error's message) has its control characters escaped, as in the log.

use crate::judge::{ProbeOutcome, Sample, Verdict};
use crate::notify::{Notice, NoticeContext, NoticeKind};
use crate::settings::Settings;

/// An email's subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailText {
    /// The subject, prefix included.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// Whether the settings ask for this kind of notice to be emailed.
pub fn is_emailed(kind: NoticeKind, settings: &Settings) -> bool {
    match kind {
        // The plan's limit is a max of its own that the app needs more than.
        NoticeKind::NeedsAboveMax | NoticeKind::PlanLimit | NoticeKind::QueueNeedsAboveMax => {
            settings.notify_if_needs_exceed_max
        }
        NoticeKind::NeedsBelowMin => settings.notify_if_needs_below_min,
        NoticeKind::ScaleFailed => settings.notify_on_scale_fails,
        NoticeKind::ScaleDiff => settings.notify_scale_diff.is_some(),
        // A refused key stops all scaling: always worth a human's attention.
        NoticeKind::ApiKeyRefused => true,
        // So is a count that something else keeps changing: the bounds are not being held.
        NoticeKind::CorrectionUndone => true,
        // And a heartbeat URL that is wrong: nothing scales on load until it is fixed.
        NoticeKind::HeartbeatUrlRefused => true,
    }
}

/// Writes the email for `notice`.
pub fn compose(notice: &Notice, context: &NoticeContext, settings: &Settings) -> EmailText {
    let app = &settings.heroku_app_name;
    let process = notice.process().unwrap_or(&settings.process_type);
    let headline = match notice {
        Notice::NeedsAboveMax { quantity, .. } => {
            format!("at max {quantity} {process} dynos and responses still too slow")
        }
        Notice::NeedsBelowMin { quantity, .. } => {
            format!("at min {quantity} {process} dynos and responses fast")
        }
        Notice::ApiKeyRefused { .. } => "the Heroku API refused the API key".to_string(),
        Notice::ScaleDiff {
            low, high, period, ..
        } => format!(
            "{process} dynos ranged from {low} to {high} within {} minutes",
            period.as_secs() / 60
        ),
        Notice::ScaleFailed { from, to, .. } => {
            format!("scaling {process} from {from} to {to} failed")
        }
        Notice::PlanLimit { cap, .. } => {
            format!("Heroku's plan limit holds {process} at {cap} dynos")
        }
        Notice::QueueNeedsAboveMax { .. } => notice.queue_headline().unwrap_or_default(),
        Notice::HeartbeatUrlRefused { status } => {
            format!("the heartbeat URL answers HTTP {status}: {process} is not scaled on load")
        }
        Notice::CorrectionUndone { from, to, .. } => {
            format!("{process} keeps going back to {from} dynos after being scaled to {to}")
        }
    };
    // A dry run carries its would-be dyno count forward; its notices must not pass for real ones.
    let headline = if context.dry_run {
        format!("(dry run) {headline}")
    } else {
        headline
    };
    let prefix = settings.email_subject_prefix.trim();
    let subject = if prefix.is_empty() {
        format!("{app}: {headline}")
    } else {
        format!("{prefix} {app}: {headline}")
    };

    let zone = settings.time_zone;
    let local_time = context.at.with_timezone(&zone).format("%Y-%m-%d %H:%M");
    let dynos = context
        .quantity
        .map_or_else(|| "unknown".to_string(), |quantity| quantity.to_string());
    let heartbeats = if context.recent.is_empty() {
        "none yet".to_string()
    } else {
        context
            .recent
            .iter()
            .map(describe_sample)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut body = format!(
        "{app}: {what}\n\n\
         App: {app}, process type {process}\n\
         Dynos now: {dynos} (min {min}, max {max} in force at {local_time} {zone})\n\
         Recent heartbeats, oldest first: {heartbeats}\n\
         Limits: slow above {max_ms} ms, fast below {min_ms} ms, a heartbeat every {interval} s \
         to {url}\n\n\
         What to do: {advice}\n\n\
         This notice is sent when its condition begins and repeated at most every {repeat} \
         minutes while it lasts (AUTOSCALE_NOTIFY_REPEAT_AFTER_IN_MINUTES).{switch}\n\
         -- \nheroku-autoscale {version}, emailing AUTOSCALE_ADMINS\n",
        what = crate::secret::printable(&notice.describe(process)),
        min = context.bounds.min,
        max = context.bounds.max,
        max_ms = settings.max_response_time.as_millis(),
        min_ms = settings.min_response_time.as_millis(),
        interval = settings.heartbeat_interval.as_secs_f64(),
        url = settings.heartbeat_url,
        advice = advice(notice),
        repeat = settings.notify_repeat_after.as_secs_f64() / 60.0,
        switch = switch(notice.kind()),
        version = env!("CARGO_PKG_VERSION"),
    );
    if context.dry_run {
        body.push_str(
            "\nDry run (heroku-autoscale run --dry-run): no scale call was sent; the dyno count \
             above is the one the worker would have set.\n",
        );
    }
    if !body.ends_with('\n') {
        body.push('\n');
    }
    EmailText { subject, body }
}

fn describe_sample((sample, verdict): &(Sample, Verdict)) -> String {
    let ms = sample.latency.as_millis();
    match &sample.outcome {
        ProbeOutcome::Status(status) if (200..300).contains(status) => format!("{ms} ms {verdict}"),
        ProbeOutcome::Status(status) => format!("HTTP {status} after {ms} ms ({verdict})"),
        ProbeOutcome::TimedOut => format!("no answer in {ms} ms ({verdict})"),
        ProbeOutcome::Failed(_) => format!("failed after {ms} ms ({verdict})"),
    }
}

fn advice(notice: &Notice) -> String {
    match notice {
        Notice::NeedsAboveMax { .. } => "raise AUTOSCALE_MAX_DYNOS (or the schedule's value for \
            this time of day) if the app should get more dynos. If the heartbeats fail rather \
            than run slow, look at the app itself: more dynos will not help."
            .into(),
        Notice::NeedsBelowMin { .. } => "lower AUTOSCALE_MIN_DYNOS (or the schedule's value for \
            this time of day) to stop paying for dynos the app does not need."
            .into(),
        Notice::ApiKeyRefused { .. } => "create a token with `heroku authorizations:create` and \
            set it as AUTOSCALE_HEROKU_API_KEY. Until then nothing is scaled."
            .into(),
        Notice::ScaleDiff { .. } => "check what is happening to the app: a traffic spike, a slow \
            dependency, or limits that make the worker swing (AUTOSCALE_MAX_RESPONSE_TIME_IN_MS, \
            AUTOSCALE_MIN_RESPONSE_TIME_IN_MS, AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER, \
            AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER)."
            .into(),
        Notice::ScaleFailed { .. } => "nothing, if it passes: the worker retries at the next \
            heartbeat once the API's hold-back for this error has passed. If it lasts, the error \
            above says what to fix."
            .into(),
        Notice::PlanLimit { cap, .. } => format!(
            "to allow more dynos, raise the plan's limit (a larger dyno size allows more per \
            process type; Heroku support raises account limits). Otherwise set \
            AUTOSCALE_MAX_DYNOS to {cap} so the worker never asks for more than the plan allows."
        ),
        Notice::QueueNeedsAboveMax { process, .. } => format!(
            "raise max_dynos for {process} (AUTOSCALE_PROCESSES, or [processes.{process}] in the \
            settings file) if the jobs should be worked off sooner."
        ),
        Notice::HeartbeatUrlRefused { .. } => "set AUTOSCALE_HEARTBEAT_URL to a path the app \
            serves to anyone with a 2xx (docs/tuning.md has endpoints for Django, Rails, Express \
            and actix-web), or give the URL the login it needs. `heroku-autoscale check \
            --online` probes it once. Until then the dyno count is held within the bounds. \
            AUTOSCALE_HOLD_ON_HEARTBEAT_URL_ERRORS=false counts these answers as slow instead, \
            as the Python original did."
            .into(),
        Notice::CorrectionUndone { .. } => "find what else scales the app and stop it: another \
            autoscaler, Heroku's own autoscaling (Performance dynos), a scheduled `heroku \
            ps:scale`, a second copy of this worker with other bounds. If nothing does, the \
            Heroku API is not applying the change: contact Heroku support. Or change \
            AUTOSCALE_MIN_DYNOS / AUTOSCALE_MAX_DYNOS if the count it goes back to is right."
            .into(),
    }
}

fn switch(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::NeedsAboveMax | NoticeKind::PlanLimit | NoticeKind::QueueNeedsAboveMax => {
            " Turn it off with AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX=false."
        }
        NoticeKind::NeedsBelowMin => " Turn it off with AUTOSCALE_NOTIFY_IF_NEEDS_BELOW_MIN=false.",
        NoticeKind::ScaleFailed => " Turn it off with AUTOSCALE_NOTIFY_ON_SCALE_FAILS=false.",
        NoticeKind::ScaleDiff => {
            " Turn it off by unsetting AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD and \
             AUTOSCALE_NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES."
        }
        NoticeKind::ApiKeyRefused
        | NoticeKind::CorrectionUndone
        | NoticeKind::HeartbeatUrlRefused => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Bounds, ScaleReason};
    use crate::settings::{load, SettingsSource};
    use chrono::TimeZone;
    use std::time::Duration;

    fn settings() -> Settings {
        load(&SettingsSource::from_vars([
            ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
            ("AUTOSCALE_HEROKU_API_KEY", "secret-key-123"),
            ("AUTOSCALE_TIME_ZONE", "America/Vancouver"),
            ("AUTOSCALE_ADMINS", "ops@example.com"),
            (
                "AUTOSCALE_SMTP_URL",
                "smtp://mailer:smtp-pw-456@smtp.example.com",
            ),
        ]))
        .unwrap()
        .settings
    }

    fn context() -> NoticeContext {
        let sample = |ms, outcome| {
            (
                Sample {
                    latency: Duration::from_millis(ms),
                    outcome,
                },
                Verdict::Slow,
            )
        };
        NoticeContext {
            quantity: Some(3),
            bounds: Bounds { min: 1, max: 3 },
            at: chrono::Utc.with_ymd_and_hms(2026, 7, 15, 21, 5, 0).unwrap(),
            recent: vec![
                sample(1204, ProbeOutcome::Status(200)),
                sample(1000, ProbeOutcome::TimedOut),
                sample(12, ProbeOutcome::Status(503)),
            ],
            dry_run: false,
        }
    }

    #[test]
    fn a_dry_run_notice_says_so_in_subject_and_body() {
        let notice = Notice::NeedsAboveMax {
            quantity: 3,
            bounds: Bounds { min: 1, max: 3 },
            slow_streak: 5,
        };
        let dry = NoticeContext {
            dry_run: true,
            ..context()
        };
        let email = compose(&notice, &dry, &settings());
        assert_eq!(
            email.subject,
            "[heroku-autoscale] acme-shop: (dry run) at max 3 web dynos and responses still too slow"
        );
        assert!(
            email.body.contains("no scale call was sent"),
            "{}",
            email.body
        );
        let real = compose(&notice, &context(), &settings());
        assert!(!real.body.contains("dry run"), "{}", real.body);
    }

    #[test]
    fn the_subject_tells_the_story_alone() {
        let notice = Notice::NeedsAboveMax {
            quantity: 3,
            bounds: Bounds { min: 1, max: 3 },
            slow_streak: 5,
        };
        let email = compose(&notice, &context(), &settings());
        assert_eq!(
            email.subject,
            "[heroku-autoscale] acme-shop: at max 3 web dynos and responses still too slow"
        );
    }

    #[test]
    fn the_body_gives_the_state_the_recent_heartbeats_and_the_setting_to_change() {
        let notice = Notice::NeedsAboveMax {
            quantity: 3,
            bounds: Bounds { min: 1, max: 3 },
            slow_streak: 5,
        };
        let body = compose(&notice, &context(), &settings()).body;
        assert!(
            body.contains(
                "Dynos now: 3 (min 1, max 3 in force at 2026-07-15 14:05 America/Vancouver)"
            ),
            "{body}"
        );
        assert!(
            body.contains("1204 ms slow, no answer in 1000 ms (slow), HTTP 503 after 12 ms (slow)"),
            "{body}"
        );
        assert!(body.contains("raise AUTOSCALE_MAX_DYNOS"), "{body}");
        assert!(
            body.contains("AUTOSCALE_NOTIFY_IF_NEEDS_EXCEED_MAX=false"),
            "{body}"
        );
    }

    #[test]
    fn every_notice_has_its_own_subject_and_no_secret_anywhere() {
        let settings = settings();
        let notices = [
            Notice::NeedsBelowMin {
                quantity: 2,
                bounds: Bounds { min: 2, max: 5 },
                fast_streak: 5,
            },
            Notice::ApiKeyRefused {
                error: crate::heroku::ApiError::Unauthorized {
                    status: 401,
                    id: "unauthorized".into(),
                    message: "Invalid credentials provided.".into(),
                },
            },
            Notice::ScaleDiff {
                low: 1,
                high: 8,
                threshold: 5,
                period: Duration::from_secs(1800),
            },
            Notice::ScaleFailed {
                from: 2,
                to: 3,
                reason: ScaleReason::SlowStreak,
                error: crate::heroku::ApiError::Server {
                    status: 503,
                    id: String::new(),
                    message: "Service Unavailable".into(),
                },
            },
            Notice::CorrectionUndone {
                from: 9,
                to: 3,
                corrections: 2,
                next_in: Duration::from_secs(120),
            },
        ];
        let subjects: Vec<String> = notices
            .iter()
            .map(|notice| {
                let email = compose(notice, &context(), &settings);
                for text in [&email.subject, &email.body] {
                    assert!(!text.contains("secret-key-123") && !text.contains("smtp-pw-456"));
                }
                email.subject
            })
            .collect();
        assert_eq!(
            subjects,
            [
                "[heroku-autoscale] acme-shop: at min 2 web dynos and responses fast",
                "[heroku-autoscale] acme-shop: the Heroku API refused the API key",
                "[heroku-autoscale] acme-shop: web dynos ranged from 1 to 8 within 30 minutes",
                "[heroku-autoscale] acme-shop: scaling web from 2 to 3 failed",
                "[heroku-autoscale] acme-shop: web keeps going back to 9 dynos after being \
                 scaled to 3",
            ]
        );
    }

    #[test]
    fn the_flags_choose_what_is_emailed() {
        let s = settings();
        assert!(is_emailed(NoticeKind::NeedsAboveMax, &s));
        assert!(!is_emailed(NoticeKind::NeedsBelowMin, &s));
        assert!(!is_emailed(NoticeKind::ScaleFailed, &s));
        assert!(!is_emailed(NoticeKind::ScaleDiff, &s));
        assert!(is_emailed(NoticeKind::ApiKeyRefused, &s));
    }
}
