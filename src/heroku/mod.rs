//! The Heroku Platform API: the calls the worker makes, their errors, and when to hold back.

mod client;
mod error;
mod gate;

pub use client::{AppInfo, Formation, HerokuClient};
pub use error::ApiError;
pub use gate::ApiGate;
