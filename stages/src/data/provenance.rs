//! `provenance.json` of an imported dataset: what the import really read (the contract's
//! [`DataFacts`]), stated from the files themselves — the release their names belong to,
//! real files under a root or a `synth.ntu` corpus (known by its `synth.json`), how many,
//! and a digest of their names — so that a report never has to infer where data came from.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use skelflow_contract::files::SYNTH_JSON;
use skelflow_contract::{DataFacts, DataOrigin};

use super::ntu_format::NtuName;
use crate::{IoContext, StageError};

pub use skelflow_contract::files::PROVENANCE_JSON;

/// NTU RGB+D 60 has actions 1–60 recorded in setups 1–17; NTU RGB+D 120 adds 61–120 and
/// setups 18–32.
const NTU60_ACTIONS: u16 = 60;
const NTU60_SETUPS: u16 = 17;

/// The NTU release a set of sample names belongs to: `NTU RGB+D 60` when every action and
/// every setup is one of NTU-60's, else `NTU RGB+D 120`.
pub fn ntu_dataset<'a>(names: impl IntoIterator<Item = &'a NtuName>) -> &'static str {
    if names
        .into_iter()
        .all(|n| n.action <= NTU60_ACTIONS && n.setup <= NTU60_SETUPS)
    {
        "NTU RGB+D 60"
    } else {
        "NTU RGB+D 120"
    }
}

/// The PKU-MMD release of a phase.
pub fn pku_dataset(phase: u8) -> &'static str {
    if phase == 1 {
        "PKU-MMD I"
    } else {
        "PKU-MMD II"
    }
}

/// blake3 (hex) over the file names, sorted, each followed by `\n`: names only, so a root
/// moved or renamed keeps its digest.
pub fn file_list_digest<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let mut names: Vec<S> = names.into_iter().collect();
    names.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    let mut h = blake3::Hasher::new();
    for n in &names {
        h.update(n.as_ref().as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// The file name of a path (lossy UTF-8), as the digest takes it.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A `synth.ntu` corpus: the `synth.json` its generator wrote beside the files.
#[derive(Clone, Debug)]
pub struct SynthCorpus {
    info: Value,
}

impl SynthCorpus {
    /// The corpus description in `root`, if `root` is a `synth.ntu` corpus.
    pub fn read(root: &Path) -> Result<Option<SynthCorpus>, StageError> {
        let path = root.join(SYNTH_JSON);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StageError::io("read", &path, e)),
        };
        let info: Value = serde_json::from_str(&text).map_err(|e| {
            StageError::bad_file(&path, format!("not a synth.ntu description: {e}"))
        })?;
        if !info.get("plan").is_some_and(Value::is_object) {
            return Err(StageError::bad_file(
                &path,
                "has no `plan`: not written by synth.ntu; regenerate the corpus, or remove the file \
                 if the folder holds real recordings",
            ));
        }
        Ok(Some(SynthCorpus { info }))
    }

    /// The class names, label order.
    pub fn class_names(&self) -> Option<&Value> {
        self.info.get("class_names")
    }

    /// Where the samples came from: the generator and its resolved plan (every count
    /// spelled out) with the seed.
    pub fn origin(&self) -> DataOrigin {
        let mut params: BTreeMap<String, Value> = self.info["plan"]
            .as_object()
            .map(|plan| plan.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        if let Some(seed) = self.info.get("seed") {
            params.insert("seed".into(), seed.clone());
        }
        let generator = self
            .info
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or(super::synth::KIND)
            .to_string();
        DataOrigin::Synthetic { generator, params }
    }
}

/// Write `provenance.json` into an artifact directory.
pub fn write(dir: &Path, facts: &DataFacts) -> Result<(), StageError> {
    let path = dir.join(PROVENANCE_JSON);
    facts.write(&path).at("write", &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_and_digest() {
        let n = |s: &str| NtuName::parse(s).unwrap();
        let ntu60 = [n("S001C001P001R001A060"), n("S017C003P040R002A001")];
        assert_eq!(ntu_dataset(&ntu60), "NTU RGB+D 60");
        assert_eq!(ntu_dataset(&[n("S001C001P001R001A061")]), "NTU RGB+D 120");
        assert_eq!(ntu_dataset(&[n("S018C001P001R001A001")]), "NTU RGB+D 120");
        assert_eq!(
            (pku_dataset(1), pku_dataset(2)),
            ("PKU-MMD I", "PKU-MMD II")
        );
        // Sorted names, each ended by a newline.
        assert_eq!(
            file_list_digest(["b", "a"]),
            blake3::hash(b"a\nb\n").to_hex().to_string()
        );
    }
}
