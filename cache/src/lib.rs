//! skelflow's content-addressed artifact store.
//!
//! Layout under the cache root (where it is, `.skelflow/` at a project's root by default, is
//! the runner's choice; [`Store::is_store`] tells a cache by its `LAYOUT` file):
//!
//! ```text
//! LAYOUT                    layout version ("skelflow-cache-layout 1"); newer ones are refused
//! CACHEDIR.TAG              marks the directory as a cache for backup tools
//! objects/<k0k1>/<key>/     committed artifacts: the stage's files + MANIFEST.json (written last)
//! tmp/<key>.<pid>.<n>/      staging dirs; renamed into objects/ on commit
//! locks/<key>.lock          per-key OS file locks (released by the OS when a process dies)
//! work/<key>/               per-key scratch that survives failures (checkpoints)
//! quarantine/<key>.<time>/  artifacts that failed `verify`
//! runs/<pipeline>/<id>.json run records: what each run planned, with key components
//! submitted/<key>.json    the batch job (Slurm) computing a key, until it commits
//! runs/.lock                orders run registration (shared) against `gc` (exclusive)
//! digests.json              stat cache for digests of files outside the cache
//! ```
//!
//! A directory under objects/ appears only by an atomic rename of a fully written, fsynced
//! staging directory whose MANIFEST.json was written last, and disappears only by an
//! atomic rename (into quarantine/ or, for `remove` and gc, into tmp/ before deletion): a
//! crash or kill never leaves a half result that looks complete.
//!
//! Nothing here knows about pipelines, stages or the scheduler.

#[cfg(not(unix))]
compile_error!("skelflow-cache needs a Unix filesystem (flock, inode numbers, permission bits)");

mod digest;
mod error;
mod fsutil;
pub mod key;
mod lock;
mod maintain;
mod manifest;
pub mod run;
mod staging;
mod store;
mod submission;
#[cfg(test)]
mod testutil;

pub use digest::{DigestStats, Digests};
pub use error::{CacheError, Result, is_no_space};
pub use key::{ABSENT, ComponentChange, KEY_SCHEMA_VERSION, Key, KeyComponents};
pub use lock::KeyLock;
pub use maintain::{GcReport, VerifyReport};
pub use manifest::{Artifact, ArtifactInfo, FileEntry, MANIFEST_FILE, Manifest};
pub use run::{InstanceRecord, InstanceState, LiveRun, RunRecord, RunStatus};
pub use staging::Staging;
pub use store::{LAYOUT_VERSION, Store};
pub use submission::Submission;
