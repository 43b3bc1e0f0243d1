//! One active worker per app: two copies scaling the same app would fight (a process type scaled
//! to 2, a deploy's overlap, a one-off `heroku run`). Heroku names each dyno in `DYNO`
//! (`autoscaleworker.1`); only the first of its process type acts.

/// What this copy of the worker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Scale as usual; `note` is said at start when there is something to say.
    Active {
        /// Why it acts without knowing it is the only copy, or that the check is off.
        note: Option<String>,
    },
    /// Another dyno of the process type is the active one: send nothing, wait for a stop.
    Standby {
        /// This dyno's name.
        dyno: String,
    },
}

/// The role for a process whose `DYNO` is `dyno`, with the setting
/// `AUTOSCALE_SINGLE_ACTIVE_WORKER` at `single_active_worker`.
pub fn role(dyno: Option<&str>, single_active_worker: bool) -> Role {
    if !single_active_worker {
        return Role::Active {
            note: Some(
                "AUTOSCALE_SINGLE_ACTIVE_WORKER=false: this copy acts whether or not others do"
                    .into(),
            ),
        };
    }
    let numbered = dyno.and_then(|name| {
        let (_, number) = name.rsplit_once('.')?;
        number.parse::<u64>().ok()
    });
    match (dyno, numbered) {
        (_, Some(1)) => Role::Active { note: None },
        (Some(name), Some(_)) => Role::Standby {
            dyno: name.to_string(),
        },
        (Some(name), None) => Role::Active {
            note: Some(format!(
                "DYNO={name} has no .N: acting, but unable to tell whether another copy does; \
                 run one copy only"
            )),
        },
        (None, _) => Role::Active {
            note: Some(
                "DYNO is not set (not on Heroku): acting, but unable to tell whether another \
                 copy does; run one copy only"
                    .into(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standby(name: &str) -> Role {
        Role::Standby {
            dyno: name.to_string(),
        }
    }

    #[test]
    fn only_the_first_dyno_of_a_process_type_acts() {
        assert_eq!(
            role(Some("autoscaleworker.1"), true),
            Role::Active { note: None }
        );
        assert_eq!(
            role(Some("autoscaleworker.2"), true),
            standby("autoscaleworker.2")
        );
        assert_eq!(role(Some("worker.10"), true), standby("worker.10"));
        // A one-off dyno, e.g. `heroku run heroku-autoscale run` by mistake.
        assert_eq!(role(Some("run.4821"), true), standby("run.4821"));
    }

    #[test]
    fn without_a_dyno_number_it_acts_and_says_why() {
        for dyno in [None, Some("my-server"), Some("web.first")] {
            match role(dyno, true) {
                Role::Active { note: Some(note) } => {
                    assert!(note.contains("run one copy only"), "{note}")
                }
                other => panic!("{dyno:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_setting_turns_the_check_off() {
        assert!(matches!(
            role(Some("autoscaleworker.2"), false),
            Role::Active { note: Some(_) }
        ));
    }
}
