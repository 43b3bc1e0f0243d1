//! Scaling worker process types from the app's job queue (DESIGN §8): the document apps serve
//! (`document`), and each process type's rule (`rules`). No actors and no I/O here.

pub mod actor;
pub mod document;
pub mod rules;
pub mod workers;
