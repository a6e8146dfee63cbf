//! skelflow: a declarative, content-hashed experiment runner.
//!
//! The binary (`main.rs`) is a thin shell over this library:
//! - [`spec`] reads pipeline YAML with spans; [`pipeline`] validates and expands it into
//!   stage instances; [`plan`] computes keys and what is cached, stale or missing;
//! - [`sched`] runs what is missing: the dispatcher (ready set, resource pool, fail-fast,
//!   Ctrl-C) drives an [`sched::Executor`] (local processes now, Slurm later);
//! - [`events`] carries what happens to subscribers (console progress, JSON-lines event log,
//!   run record);
//! - [`cli`] maps commands onto these and [`exit`] holds the documented exit codes.

pub mod cli;
pub mod diag;
pub mod events;
pub mod exit;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod sched;
pub mod spec;
