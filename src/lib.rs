//! heroku-autoscale: scales a Heroku app's dynos from the response time of a heartbeat URL.
//!
//! The worker pings a heartbeat URL at a fixed rate, judges each response time against the
//! limits in [`Settings`], and scales the app's web dynos up or down through the Heroku Platform
//! API, within time-of-day minimum and maximum dyno counts.
//!
//! # Running it from Rust
//!
//! ```no_run
//! use heroku_autoscale::{settings, Autoscaler};
//!
//! let source = settings::SettingsSource::from_process(None);
//! let loaded = settings::load(&source).expect("valid settings");
//! // On a thread of its own; `handle.stop()` ends it, `handle.join()` waits for it.
//! let handle = Autoscaler::new(loaded.settings).spawn().expect("thread started");
//! handle.stop();
//! handle.join().expect("clean stop");
//! ```
//!
//! # Layout
//! One folder per subsystem: the plain logic (no actix, no I/O, driven directly by unit tests)
//! in `mod.rs` or a file beside it, and the thin actor around it in `actor.rs`. Every actor type
//! ends in `Actor`.
//! - [`heartbeat`]: the timed request to the app ([`heartbeat::probe`]) and `HeartbeatActor`.
//! - [`judge`]: [`judge::classify`] a sample as slow, fast or neutral; the failure-episode watch;
//!   `JudgeActor`.
//! - [`control`]: the scaling rule ([`control::decide()`]) and the [`control::Controller`] state
//!   machine (streaks, bounds, one call in flight, notices); `ControllerActor`.
//! - [`heroku`]: the Platform API client, its errors and gate; `HerokuApiActor`, and
//!   `LocalFormationActor` for local runs.
//! - [`notify`]: notices and when they are due, the email text; `NotifierActor`.
//! - [`supervision`]: restart pacing and panic guards; `SupervisorActor`.
//! - [`actors`]: the messages between the actors and the wiring that starts them.
//! - [`settings`]: loading and validating settings, schedules.
//! - [`standby`]: which copy of the worker acts when several run for one app.
//! - [`simulate`]: the `simulate` command: a model of an app's dynos that runs the
//!   [`control::Controller`] on a virtual clock beside the `seed`, `oracle` and `fixed-max`
//!   baselines, with its figures, JSON and chart.
#![deny(missing_docs)]

pub mod actors;
pub mod backoff;
pub mod control;
pub mod heartbeat;
pub mod heroku;
pub mod judge;
pub mod l2met;
pub mod log_report;
mod logging;
pub mod notify;
pub mod online_check;
pub mod queue;
pub mod router_log;
mod runner;
pub mod secret;
pub mod settings;
pub mod simulate;
pub mod standby;
pub mod supervision;

pub use logging::{logger, stdout_loss, write_stdout_line, StdoutLoss};
pub use runner::{install_crypto_provider, Autoscaler, WorkerError, WorkerHandle};
pub use settings::Settings;

/// Sent with every request, so Heroku and app owners can tell who is calling.
pub const USER_AGENT: &str = concat!("heroku-autoscale/", env!("CARGO_PKG_VERSION"));

/// Compiles the README's Rust example with the doc-tests, so it stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
