//! A run is reproducible: the same pipeline in two fresh caches gives the same bytes, also
//! where a stage draws random numbers (each instance runs in a process of its own and seeds
//! its backend's RNG from the instance's seed).

use std::path::{Path, PathBuf};

use crate::common::*;

/// Import the synthetic corpus, draw an untrained ST-GCN (dropout 0.5), and extract its
/// features after re-estimating its batch-norm statistics in train mode, where dropout
/// draws masks.
const PIPELINE: &str = r#"name: repro
seed: 3
stages:
  import:
    kind: ntu.import
    params: {variant: agcn_prenorm}
  random:
    kind: encoder.init
    params:
      encoder: {backbone: {arch: stgcn, hidden: 8, feature_dim: 32}, proj_dim: 16, mlp: false}
  extract:
    kind: extract
    needs: [random, import]
    params:
      benchmark: ntu60-xview
      view: [{op: center_crop_resize, frames: 16, ratio: 0.95}]
      bn_statistics: train
"#;

/// The one file called `name` in the cache under `root`.
fn artifact_file(root: &Path, name: &str) -> PathBuf {
    let found: Vec<PathBuf> = files_under(&root.join(".skelflow"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|f| f == name))
        .collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn two_fresh_caches_get_the_same_bytes_where_a_stage_draws_dropout_masks() {
    // (not `encoder.bpk`: burn records a random id per parameter; the features show the
    // weights)
    let runs: Vec<Vec<u8>> = (0..2)
        .map(|_| {
            let w = Work::new();
            w.write("repro.yaml", PIPELINE);
            ok(&w.run(&["run", "repro.yaml"]));
            std::fs::read(artifact_file(w.path(), "features.arrow")).unwrap()
        })
        .collect();
    assert!(
        runs[0] == runs[1],
        "the features differ: the statistics passes' dropout masks are not seeded"
    );
}
