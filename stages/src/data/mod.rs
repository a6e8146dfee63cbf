//! Data stages: NTU RGB+D / PKU-MMD import to an Arrow dataset artifact, the synthetic
//! NTU-format corpus, splits, streams and the average-motion anchor.
//!
//! Kinds (registered in [`crate::registry`]):
//! - `synth.ntu` ([`synth`]): a deterministic synthetic corpus written as genuine
//!   `SsssCcccPpppRrrrAaaa.skeleton` files.
//! - `ntu.import` ([`ntu_import`]): a folder of `.skeleton` files → dataset artifact, with a
//!   preprocessing variant (`stgcn_raw`, `agcn_prenorm`, `frame50`), the missing-skeleton
//!   list, `on_error: fail | skip`, and the NTU-60 x-sub / x-view and NTU-120 x-sub / x-set
//!   splits.
//! - `pku.import` ([`pku`]): PKU-MMD phase 1 / 2 → the same artifact, `pku{1,2}-x{sub,view}`.
//! - `anchor.average_motion` ([`anchor`]): ActCLR's static anchor as `anchor.npy`.
//! - `data.subset` ([`subset`]): the labelled part of a semi-supervised evaluation.
//!
//! Building blocks: [`skeleton`] (joint names, ST-GCN links, bone pairs, the ST-GCN spatial
//! graph), [`ntu_format`] (the `.skeleton` parser), [`preprocess`] (variants and streams,
//! each matching its reference), [`dataset`] (artifact layout, writer, the [`Dataset`]
//! reader), [`splits`], [`provenance`] (what an import really read, `provenance.json`),
//! and [`cli`] (`skelflow data show` / `data convert`).
//!
//! The artifact needs nothing from skelflow to be read. In Python:
//! ```python
//! import json, numpy as np, pyarrow as pa
//! t = pa.ipc.open_file("dataset.arrow").read_all(); T = json.load(open("dataset.json"))["frames"]
//! x = t["x"].combine_chunks().flatten().to_numpy().reshape(len(t), 3, T, 25, 2)   # (N, C, T, V, M)
//! ```
//! with `t["label"]`, `t["name"]`, … beside it and `json.load(open("splits/ntu60-xsub.json"))`
//! for the row indices of a benchmark (`scripts/bench-import` runs exactly this).

pub mod anchor;
pub mod cli;
pub mod dataset;
pub mod npy_import;
pub mod ntu_format;
pub mod ntu_import;
pub mod pku;
pub mod preprocess;
pub mod provenance;
pub mod segments;
pub mod skeleton;
pub mod splits;
pub mod subset;
pub mod synth;

pub use cli::{convert, show};
pub use dataset::{Dataset, Part, Stream, Variant};

use crate::StageError;

/// The worker threads of a data stage (`threads` 0: rayon's default).
fn worker_pool(threads: usize) -> Result<rayon::ThreadPool, StageError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| StageError::Backend {
            backend: "cpu".into(),
            message: format!(
                "cannot start {} worker threads ({e}); lower the stage's `resources.cpus`",
                if threads == 0 {
                    "its".to_string()
                } else {
                    threads.to_string()
                }
            ),
        })
}

#[cfg(test)]
mod tests {
    /// Training code shares one Dataset between worker threads.
    #[test]
    fn dataset_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Dataset>();
    }
}
