//! What a data stage really read, recorded in its artifact (`provenance.json`) and carried
//! into every report that uses the data. Reports state these facts; they never infer the
//! data source from a pipeline's shape or a stage's params.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the samples came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataOrigin {
    /// Real dataset files under `root`, as the pipeline wrote it (never resolved to a
    /// machine's absolute path).
    Real { root: String },
    /// skelflow's synthetic corpus: the generator and what it was asked for, with every
    /// count resolved (a size preset spelled out).
    Synthetic {
        generator: String,
        params: BTreeMap<String, Value>,
    },
    /// Arrays preprocessed by a reference repository (`train_data_joint.npy` …).
    ReferenceArrays { root: String },
}

impl DataOrigin {
    pub fn is_synthetic(&self) -> bool {
        matches!(self, DataOrigin::Synthetic { .. })
    }
}

/// `provenance.json` of a data artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataFacts {
    /// The dataset the files are in the format of: `NTU RGB+D 60`, `NTU RGB+D 120`,
    /// `PKU-MMD I`, `PKU-MMD II`.
    pub dataset: String,
    pub origin: DataOrigin,
    /// Files read (raw `.skeleton` / `.txt` files, or arrays).
    pub files: usize,
    /// Samples in the artifact.
    pub samples: usize,
    pub classes: usize,
    /// blake3 over the sorted file names read (names only: a renamed root keeps it).
    pub file_list_digest: String,
    /// Preprocessing variant (`stgcn_raw`, `agcn_prenorm`, `frame50`, …).
    pub variant: String,
    /// Frames per stored sample.
    pub frames: usize,
}

impl DataFacts {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("facts serialise");
        std::fs::write(path, text + "\n")
    }

    /// Read `provenance.json`; `Ok(None)` when the artifact has none (made before it was
    /// recorded).
    pub fn read(path: &Path) -> Result<Option<DataFacts>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: not a provenance record: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}
