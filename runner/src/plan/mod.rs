//! Planning: keys of every instance and what is cached, stale, missing or running.

pub mod keys;
pub mod state;

pub use keys::{KeyError, Keys, MaterializeError, artifact_token, materialize};
pub use state::{History, State, Status};
