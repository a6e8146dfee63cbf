//! The cache's integration tests, one binary: the store, digests, run records, verify and
//! gc, behaviour across real processes (child processes are this binary run again), and
//! property tests of the manifest reader.

mod common;
mod digest;
mod fuzz;
mod processes;
mod runs;
mod store;
mod verify_gc;
