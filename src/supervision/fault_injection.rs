//! A test hook that makes named actors panic at a fixed period, so tests of the real binary can
//! show that the supervisor restarts each actor, and that a burst past the restart limit ends
//! the process non-zero (DESIGN §5).
//!
//! It is switched on only by the `HEROKU_AUTOSCALE_INJECT_PANICS` environment variable, which is
//! deliberately not an `AUTOSCALE_*` setting: no settings file or `heroku config` typo can turn
//! it on, and the worker logs a warning at start when it is set.

use std::fmt;
use std::time::Duration;

use actix::prelude::*;
use slog::{warn, Logger};

use crate::actors::messages::InjectPanic;
use crate::actors::Actors;

/// The environment variable that switches the hook on: `actor:seconds[,actor:seconds...]`,
/// e.g. `judge:0.5,controller:1.3`.
pub const INJECT_PANICS_VARIABLE: &str = "HEROKU_AUTOSCALE_INJECT_PANICS";

/// An actor the hook can make panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorName {
    /// The heartbeat timer.
    Heartbeat,
    /// The response-time judge.
    Judge,
    /// The scaling controller.
    Controller,
    /// The Heroku API client.
    HerokuApi,
    /// The notifier.
    Notifier,
    /// The in-memory formation of `run --local-formation N`.
    LocalFormation,
}

impl ActorName {
    const ALL: [(ActorName, &'static str); 6] = [
        (ActorName::Heartbeat, "heartbeat"),
        (ActorName::Judge, "judge"),
        (ActorName::Controller, "controller"),
        (ActorName::HerokuApi, "heroku_api"),
        (ActorName::Notifier, "notifier"),
        (ActorName::LocalFormation, "local_formation"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(actor, _)| *actor == self)
            .map_or("?", |(_, name)| name)
    }
}

impl fmt::Display for ActorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Make `actor` panic once every `every`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanicSchedule {
    /// The actor to make panic.
    pub actor: ActorName,
    /// The period between panics.
    pub every: Duration,
}

/// Parses the hook's value; the error names the variable and says what is valid.
pub fn parse_panic_schedules(text: &str) -> Result<Vec<PanicSchedule>, String> {
    let refuse = |what: &str| {
        let names: Vec<&str> = ActorName::ALL.iter().map(|(_, name)| *name).collect();
        format!(
            "{INJECT_PANICS_VARIABLE}={text:?}: {what}; expected actor:seconds pairs separated \
             by commas, actor one of {}, seconds at least 0.01 (e.g. judge:0.5)",
            names.join(", ")
        )
    };
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, seconds) = part
                .split_once(':')
                .ok_or_else(|| refuse(&format!("{part:?} has no ':'")))?;
            let actor = ActorName::ALL
                .iter()
                .find(|(_, known)| *known == name.trim())
                .map(|(actor, _)| *actor)
                .ok_or_else(|| refuse(&format!("unknown actor {:?}", name.trim())))?;
            let every = seconds
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.01)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| refuse(&format!("bad period {:?}", seconds.trim())))?;
            Ok(PanicSchedule { actor, every })
        })
        .collect()
}

/// Starts one task per schedule on the current arbiter; they end with the system. Supervised
/// actors keep their address across restarts, so each task can go on sending to the same one.
pub fn inject_panics(actors: &Actors, schedules: &[PanicSchedule], log: &Logger) {
    for schedule in schedules {
        let target: Option<Recipient<InjectPanic>> = match schedule.actor {
            ActorName::Heartbeat => Some(actors.heartbeat.clone().recipient()),
            ActorName::Judge => Some(actors.judge.clone().recipient()),
            ActorName::Controller => Some(actors.controller.clone().recipient()),
            ActorName::HerokuApi => actors.heroku_api.clone().map(Addr::recipient),
            ActorName::Notifier => Some(actors.notifier.clone().recipient()),
            ActorName::LocalFormation => actors.local_formation.clone().map(Addr::recipient),
        };
        let Some(target) = target else {
            warn!(log, "test hook: no {} actor to make panic", schedule.actor);
            continue;
        };
        warn!(
            log,
            "test hook {INJECT_PANICS_VARIABLE} is set: the {} actor will panic every {} s",
            schedule.actor,
            schedule.every.as_secs_f64()
        );
        let every = schedule.every;
        actix_rt::spawn(async move {
            let mut timer =
                actix_rt::time::interval_at(actix_rt::time::Instant::now() + every, every);
            loop {
                timer.tick().await;
                target.do_send(InjectPanic);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_actor_and_period() {
        let schedules = parse_panic_schedules("judge:0.5, heroku_api:2").unwrap();
        assert_eq!(
            schedules,
            [
                PanicSchedule {
                    actor: ActorName::Judge,
                    every: Duration::from_millis(500)
                },
                PanicSchedule {
                    actor: ActorName::HerokuApi,
                    every: Duration::from_secs(2)
                },
            ]
        );
        assert_eq!(parse_panic_schedules("").unwrap(), []);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_variable_named() {
        for bad in [
            "judge",
            "judges:1",
            "judge:0",
            "judge:-1",
            "judge:x",
            "judge:NaN",
        ] {
            let error = parse_panic_schedules(bad).unwrap_err();
            assert!(error.starts_with(INJECT_PANICS_VARIABLE), "{error}");
            assert!(error.contains("heroku_api"), "{error}");
        }
    }
}
