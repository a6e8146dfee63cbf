//! skelflow's content-addressed artifact store.
//!
//! Layout under the cache root (`.skelflow/` beside the pipeline, or `$SKELFLOW_CACHE`):
//!
//! ```text
//! objects/<k0k1>/<key>/     committed artifacts: the stage's files + MANIFEST.json (written last)
//! tmp/<key>.<pid>.<n>/      staging dirs; renamed into objects/ on commit
//! locks/<key>.lock          per-key OS file locks (released by the OS when a process dies)
//! work/<key>/               per-key scratch that survives failures (checkpoints)
//! quarantine/               artifacts that failed `verify`
//! runs/<pipeline>/<id>.json run records: what each run planned, with key components
//! digests.json              stat cache for digests of files outside the cache
//! ```
//!
//! Nothing here knows about pipelines, stages or the scheduler.

pub mod key;

pub use key::{ComponentChange, Key, KeyComponents, KEY_SCHEMA_VERSION};
