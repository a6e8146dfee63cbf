//! What a committed artifact is: its directory and its MANIFEST.json.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::key::{Key, KeyComponents};

/// Name of the manifest inside an artifact directory; written last, so an artifact
/// directory without it is never taken for a result.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// What the producer tells the store when committing.
#[derive(Clone, Debug)]
pub struct ArtifactInfo {
    pub kind: String,
    /// First producer's instance id, for humans.
    pub instance: String,
    pub components: KeyComponents,
    /// Compute time in seconds.
    pub seconds: f64,
}

/// A committed, read-only artifact.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub key: Key,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Artifact {
    /// Path of a file of the artifact (`rel` is '/'-separated, relative to the artifact).
    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }
}

/// MANIFEST.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub key: Key,
    pub kind: String,
    pub instance: String,
    pub created: DateTime<Utc>,
    pub seconds: f64,
    pub components: KeyComponents,
    /// Sorted by path; MANIFEST.json itself is not listed.
    pub files: Vec<FileEntry>,
    pub total_bytes: u64,
}

impl Manifest {
    pub fn file(&self, rel: &str) -> Option<&FileEntry> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(rel))
            .ok()
            .map(|i| &self.files[i])
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the artifact directory, '/'-separated.
    pub path: String,
    pub size: u64,
    /// blake3 of the content, hex.
    pub blake3: String,
}

pub(crate) fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}
