//! The whole protocol between the actors, in one place.
//!
//! ```text
//! HeartbeatActor ─SampleTaken─▶ JudgeActor ─VerdictReached─▶ ControllerActor ─GetFormation/GetDynos/ScaleFormation─▶ HerokuApiActor
//!     ├─QueueRead─▶ WorkersActor ─GetFormations/ScaleFormations──────────────────────────────────▶ HerokuApiActor
//!     └─GetApp (web_url, once, for a path) ───────────────────────────────────────────────────────▶ HerokuApiActor
//!                                                        ControllerActor ─SendNotice─▶ NotifierActor
//! every actor ─ChildRestarted─▶ SupervisorActor;  runner ─PrepareToStop─▶ ControllerActor
//! ```

use std::collections::BTreeMap;

use actix::prelude::*;

use crate::control::CallInFlight;
use crate::heroku::{ApiError, AppInfo, DynoStates, Formation};
use crate::judge::{Sample, Verdict};
use crate::notify::{Notice, NoticeContext};

/// Heartbeat → Judge: one heartbeat's result.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SampleTaken {
    /// The heartbeat's number since start (1 is the first).
    pub beat: u64,
    /// What it measured.
    pub sample: Sample,
}

/// Judge → Controller: a sample and its verdict (the controller counts the streaks).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct VerdictReached {
    /// The heartbeat's number.
    pub beat: u64,
    /// The sample judged.
    pub sample: Sample,
    /// Slow, fast or neutral.
    pub verdict: Verdict,
}

/// → HerokuApiActor: read the app (for its `web_url`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AppInfo, ApiError>")]
pub struct GetApp;

/// → HerokuApiActor: read the process type's formation (its dyno count).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Formation, ApiError>")]
pub struct GetFormation;

/// → HerokuApiActor: read the process type's dynos and their states.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<DynoStates, ApiError>")]
pub struct GetDynos;

/// → HerokuApiActor: set the process type's dyno count.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Formation, ApiError>")]
pub struct ScaleFormation {
    /// The dyno count wanted.
    pub quantity: u32,
}

/// → HerokuApiActor: read every process type's dyno count.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<BTreeMap<String, u32>, ApiError>")]
pub struct GetFormations;

/// → HerokuApiActor: set several process types' dyno counts in one call.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BTreeMap<String, u32>, ApiError>")]
pub struct ScaleFormations {
    /// Each process type and the count wanted.
    pub updates: Vec<(String, u32)>,
}

/// Heartbeat → WorkersActor: the queue document's body, or why it could not be read.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct QueueRead {
    /// The body (at most the document's size cap), or the failure, secrets masked.
    pub body: Result<Vec<u8>, String>,
}

/// Controller → NotifierActor: tell the admins.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SendNotice {
    /// What to tell them.
    pub notice: Notice,
    /// The state of things when it was sent.
    pub context: NoticeContext,
}

/// Runner → Controller: the worker is stopping. The controller starts no further API call and
/// answers which one is still in flight, so the runner can let a scale finish before it stops.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<CallInFlight>")]
pub struct PrepareToStop;

/// Any actor → SupervisorActor: I was restarted after a failure.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ChildRestarted {
    /// The actor's name.
    pub actor: &'static str,
}

/// Makes the receiving actor panic inside a handler, to prove that supervision works.
/// Not part of normal operation; used by the tests and by fault-injection runs.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct InjectPanic;
