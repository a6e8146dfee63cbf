//! Cache keys: blake3 over a canonical, length-prefixed, versioned encoding.

use serde::{Deserialize, Serialize};

/// Bump to invalidate every key (changes to the encoding or to what a key must cover).
pub const KEY_SCHEMA_VERSION: u32 = 1;

/// A stage instance's key: 64 lowercase hex digits of blake3.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(pub String);

/// Everything a key is computed from, kept so that `explain` can say what changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyComponents {
    pub schema: u32,
    pub kind: String,
    pub kind_version: u32,
    /// Canonical params (as returned by the kind's `check`, `${…}` resolved, upstream
    /// artifact paths replaced by their keys so keys do not depend on the cache location).
    pub params: serde_json::Value,
    /// Upstream artifacts: (producer kind, producer key), sorted.
    pub inputs: Vec<(String, Key)>,
    /// Files outside the cache: (path as written in the pipeline, blake3 of the content).
    pub externals: Vec<(String, String)>,
    pub seed: u64,
    /// Compute backend, for kinds whose result depends on it.
    pub backend: Option<String>,
}

/// One difference between two sets of key components, for humans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentChange {
    /// `params.lr`, `input ntu.import`, `external train.py`, `seed`, `backend`, `kind version`…
    pub component: String,
    pub before: String,
    pub after: String,
}
