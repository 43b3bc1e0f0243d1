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
//! - [`settings`]: loading and validating settings, schedules.
//! - [`judge`], [`decide`], [`control`], [`notices`]: the decision logic, plain Rust, no actors.
//! - [`heroku`]: the Platform API client and its errors; [`probe`]: the heartbeat request.
//! - [`actors`]: the actors that run it all under a supervisor.
#![deny(missing_docs)]

pub mod actors;
pub mod control;
pub mod decide;
pub mod email;
pub mod heroku;
pub mod judge;
pub mod notices;
pub mod online_check;
pub mod probe;
mod runner;
pub mod secret;
pub mod settings;

pub use runner::{install_crypto_provider, logger, Autoscaler, WorkerError, WorkerHandle};
pub use settings::Settings;

/// Sent with every request, so Heroku and app owners can tell who is calling.
pub const USER_AGENT: &str = concat!("heroku-autoscale/", env!("CARGO_PKG_VERSION"));

/// Compiles the README's Rust example with the doc-tests, so it stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
