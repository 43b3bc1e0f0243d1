//! The Heroku Platform API: the calls the worker makes, their errors, and when to hold back.

pub mod actor;
mod client;
mod error;
mod gate;
pub mod local;

pub use actor::API_TIMEOUT;
pub use client::{AppInfo, DynoStates, Formation, HerokuClient};
pub use error::ApiError;
pub use gate::ApiGate;
