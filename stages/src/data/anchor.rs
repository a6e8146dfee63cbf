//! `anchor.average_motion`: ActCLR's static anchor — the mean sequence over the training split
//! (eq. 2 of the ActCLR paper) for the dataset's variant and a stream, as `anchor.npy`
//! (float32, (3, T, 25, 2)) plus `anchor.json`.
//!
//! The reference code averages the key view over each *batch* instead (ML-FACTS §5.2); that
//! per-batch variant is a training option of the method, not an artifact.

use std::path::Path;

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dataset::{DATASET_JSON, Dataset, Part, Stream, write_json};
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError};

pub use skelflow_contract::files::{ANCHOR_JSON as ANCHOR_META, ANCHOR_NPY as ANCHOR_FILE};

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AnchorParams {
    /// Benchmark whose training split is averaged, e.g. `ntu60-xsub`.
    pub benchmark: String,
    /// `joint`, `motion` or `bone`.
    pub stream: Stream,
}

impl Params for AnchorParams {
    fn validate(&self) -> Vec<ParamError> {
        if self.benchmark.trim().is_empty() {
            vec![
                ParamError::at("benchmark", "is required")
                    .with_hint("e.g. `benchmark: ntu60-xsub` (see `skelflow data show`)"),
            ]
        } else {
            Vec::new()
        }
    }
}

/// Description of an anchor artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorMeta {
    pub variant: super::Variant,
    pub stream: Stream,
    pub benchmark: String,
    /// Training samples averaged.
    pub count: usize,
    /// (3, T, 25, 2)
    pub shape: Vec<usize>,
}

/// The mean of `stream` over the training split of `benchmark`, (3, T, 25, 2) row-major.
pub fn average_motion(
    ds: &Dataset,
    benchmark: &str,
    stream: Stream,
) -> Result<(Vec<f32>, usize), StageError> {
    let rows = ds.split(benchmark, Part::Train)?;
    if rows.is_empty() {
        return Err(StageError::param(
            "benchmark",
            format!(
                "the training split of {benchmark} in {} is empty: choose a benchmark with training samples",
                ds.dir().display()
            ),
        ));
    }
    let len = ds.sample_len();
    let sum = rows
        .par_chunks(64)
        .map(|chunk| {
            let mut acc = vec![0f64; len];
            let mut buf = vec![0f32; len];
            for &i in chunk {
                ds.sample_into(i, stream, &mut buf);
                for (a, v) in acc.iter_mut().zip(&buf) {
                    *a += *v as f64;
                }
            }
            acc
        })
        .reduce(
            || vec![0f64; len],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        );
    let n = rows.len() as f64;
    Ok((
        sum.into_iter().map(|s| (s / n) as f32).collect(),
        rows.len(),
    ))
}

/// Write a float32 C-order `.npy` file.
pub fn write_npy(path: &Path, shape: &[u64], data: &[f32]) -> Result<(), StageError> {
    use npyz::WriterBuilder;
    let file = std::fs::File::create(path).at("create", path)?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .at("write", path)?;
    w.extend(data.iter().copied()).at("write", path)?;
    w.finish().at("write", path)
}

/// Read an anchor artifact: its description and the mean sequence (3, T, 25, 2).
pub fn read_anchor(dir: &Path) -> Result<(AnchorMeta, Vec<f32>), StageError> {
    let p = dir.join(ANCHOR_META);
    let text = std::fs::read_to_string(&p).at("read", &p)?;
    let meta: AnchorMeta = serde_json::from_str(&text)
        .map_err(|e| StageError::bad_file(&p, format!("not an anchor description: {e}")))?;
    let p = dir.join(ANCHOR_FILE);
    let bytes = std::fs::read(&p).at("read", &p)?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| StageError::bad_file(&p, e))?;
    let data = npy
        .into_vec::<f32>()
        .map_err(|e| StageError::bad_file(&p, format!("expected float32 data: {e}")))?;
    if data.len() != meta.shape.iter().product::<usize>() {
        return Err(StageError::bad_file(
            &p,
            format!(
                "{} values for the shape {:?} of {ANCHOR_META}",
                data.len(),
                meta.shape
            ),
        ));
    }
    Ok((meta, data))
}

pub struct AverageMotion;

impl Kind for AverageMotion {
    type Params = AnchorParams;
    const NAME: &'static str = "anchor.average_motion";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "ActCLR static anchor: the mean training sequence of a dataset (variant, stream) as anchor.npy";
    fn run(&self, ctx: &StageContext, p: AnchorParams) -> Result<(), StageError> {
        let input = ctx.input_with_file(DATASET_JSON)?;
        let ds = Dataset::open(&input.dir)?;
        let (mean, count) = average_motion(&ds, &p.benchmark, p.stream)?;
        let shape = vec![3, ds.frames(), 25, 2];
        write_npy(
            &ctx.out_dir.join(ANCHOR_FILE),
            &shape.iter().map(|&s| s as u64).collect::<Vec<_>>(),
            &mean,
        )?;
        let meta = AnchorMeta {
            variant: ds.variant(),
            stream: p.stream,
            benchmark: p.benchmark.clone(),
            count,
            shape,
        };
        write_json(&ctx.out_dir.join(ANCHOR_META), &meta)?;
        eprintln!(
            "{}: averaged {count} training samples of {} ({}, {})",
            ctx.instance,
            p.benchmark,
            ds.variant(),
            p.stream
        );
        Ok(())
    }
}
