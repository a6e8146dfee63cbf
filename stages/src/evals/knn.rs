//! `eval.knn`: 1-NN with cosine distance (CMD / ISC / A2MC, sklearn
//! `KNeighborsClassifier(1, metric='cosine')`) and the weighted kNN of InstDisc/ActCLR
//! (`w = exp(sim / t)` over the top-k, k ∈ {10, 20, 40}, t = 0.1).

use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::metrics::dims;
use skelflow_contract::{MetricRow, files};

use super::{InputFeatures, input_features};
use crate::learn::artifact::write_metrics;
use crate::learn::device::device;
use crate::learn::losses::l2_normalize;
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KnnParams {
    /// Plain 1-NN with cosine distance.
    pub nn1: bool,
    /// k of the weighted kNN; empty = none.
    pub k: Vec<usize>,
    /// Temperature of the weighted kNN.
    pub t: f64,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            nn1: true,
            k: vec![10, 20, 40],
            t: 0.1,
        }
    }
}

impl Params for KnnParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if !self.nn1 && self.k.is_empty() {
            e.push(
                ParamError::at("k", "nothing to evaluate")
                    .with_hint("set nn1: true or give k: [10, 20, 40]"),
            );
        }
        if self.k.contains(&0) {
            e.push(ParamError::at("k", "k must be >= 1"));
        }
        if self.t <= 0.0 {
            e.push(ParamError::at("t", "must be > 0"));
        }
        e
    }
}

/// Accuracies (percent): 1-NN, and weighted kNN for each k.
pub fn knn_eval(
    dim: usize,
    classes: usize,
    train: (&[f32], &[usize]),
    test: (&[f32], &[usize]),
    ks: &[usize],
    t: f64,
    device: &Device,
) -> (f64, Vec<(usize, f64)>) {
    let n = train.1.len();
    let bank = l2_normalize(
        Tensor::<2>::from_data(TensorData::new(train.0.to_vec(), [n, dim]), device),
        1,
    );
    let kmax = ks.iter().copied().max().unwrap_or(1).max(1).min(n);
    let mut nn1_hits = 0usize;
    let mut hits = vec![0usize; ks.len()];
    let m = test.1.len();
    for start in (0..m).step_by(256) {
        let end = (start + 256).min(m);
        let q = Tensor::<2>::from_data(
            TensorData::new(test.0[start * dim..end * dim].to_vec(), [end - start, dim]),
            device,
        );
        let sim = l2_normalize(q, 1)
            .matmul(bank.clone().transpose())
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 sims");
        for r in 0..end - start {
            let row = &sim[r * n..(r + 1) * n];
            let mut idx: Vec<usize> = (0..n).collect();
            idx.select_nth_unstable_by(kmax - 1, |&a, &b| row[b].total_cmp(&row[a]));
            idx.truncate(kmax);
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let label = test.1[start + r];
            if train.1[idx[0]] == label {
                nn1_hits += 1;
            }
            for (ki, &k) in ks.iter().enumerate() {
                let mut score = vec![0f64; classes];
                for &j in idx.iter().take(k.min(n)) {
                    score[train.1[j]] += (row[j] as f64 / t).exp();
                }
                let best = score
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(c, _)| c)
                    .unwrap_or(0);
                if best == label {
                    hits[ki] += 1;
                }
            }
        }
    }
    let pct = |h: usize| 100.0 * h as f64 / m.max(1) as f64;
    (
        pct(nn1_hits),
        ks.iter().zip(hits).map(|(&k, h)| (k, pct(h))).collect(),
    )
}

/// `eval.knn`.
pub struct EvalKnn;

impl Kind for EvalKnn {
    type Params = KnnParams;
    const NAME: &'static str = "eval.knn";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "kNN on frozen features: 1-NN cosine (CMD/A2MC) and weighted kNN k=10/20/40, t=0.1 (ActCLR)";
    fn run(&self, ctx: &StageContext, p: KnnParams) -> Result<(), StageError> {
        let InputFeatures {
            dim,
            classes,
            train,
            test,
            ..
        } = input_features(ctx)?;
        let dev = device(crate::Backend::Flex, false, ctx.threads)?;
        let (nn1, weighted) = knn_eval(
            dim,
            classes,
            (&train.data, &train.label),
            (&test.data, &test.label),
            &p.k,
            p.t,
            &dev,
        );
        let mut rows = Vec::new();
        if p.nn1 {
            rows.push(
                MetricRow::new("top1", nn1)
                    .with(dims::PROTOCOL, "knn-1nn-cosine")
                    .with(dims::K, "1")
                    .with(dims::SPLIT, "test"),
            );
        }
        for (k, acc) in weighted {
            rows.push(
                MetricRow::new("top1", acc)
                    .with(dims::PROTOCOL, "knn-weighted")
                    .with(dims::K, k.to_string())
                    .with("t", p.t.to_string())
                    .with(dims::SPLIT, "test"),
            );
        }
        write_metrics(&ctx.out_dir.join(files::METRICS_JSON), rows)
    }
}
