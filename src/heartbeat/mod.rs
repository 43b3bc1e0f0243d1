//! The heartbeat: one request to the app per interval, timed (`probe`), and the actor whose
//! fixed-rate timer sends it.

pub mod actor;
pub mod probe;
pub mod queue;
