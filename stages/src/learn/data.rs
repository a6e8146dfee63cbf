//! Where training clips come from, and how they become augmented batches.
//!
//! [`ClipSource`] is what the learning code needs of a dataset; the data helper's
//! `Dataset` (ARTIFACTS.md) implements it through [`DatasetSource`]. Augmentation runs per
//! sample on the CPU with rayon, like the reference repositories' numpy loaders, and is
//! deterministic given (seed, epoch, sample, view).

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::{Aug, Clip, apply_view};

/// A read-only set of labelled clips (C, T, V, M).
pub trait ClipSource: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn num_classes(&self) -> usize;
    fn label(&self, i: usize) -> usize;
    /// Number of valid (non-padding) frames of clip `i`.
    fn valid_frames(&self, i: usize) -> usize;
    fn clip(&self, i: usize) -> Clip;
}

/// Clips held in memory (tests, benchmarks, small derived sets).
pub struct MemSource {
    pub clips: Vec<Clip>,
    pub labels: Vec<usize>,
    pub classes: usize,
}

impl ClipSource for MemSource {
    fn len(&self) -> usize {
        self.clips.len()
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i]
    }
    fn valid_frames(&self, i: usize) -> usize {
        self.clips[i].t
    }
    fn clip(&self, i: usize) -> Clip {
        self.clips[i].clone()
    }
}

/// splitmix64: derive independent seeds from a stage seed and indices.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut z = seed ^ 0x9E37_79B9_7F4A_7C15;
    for &p in parts {
        z = z
            .wrapping_add(p.wrapping_mul(0xBF58_476D_1CE4_E5B9))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// The order of `indices` in `epoch` (a fresh shuffle per epoch, as `DataLoader(shuffle=True)`).
pub fn epoch_order(indices: &[usize], seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = indices.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[0x5eed, epoch as u64]));
    order.shuffle(&mut rng);
    order
}

/// One batch: each view as a (B, C, T, V, M) tensor, and the labels.
pub struct Batch {
    pub views: Vec<Tensor<5>>,
    pub labels: Vec<usize>,
    pub indices: Vec<usize>,
}

/// Augment `ids` with every view (in parallel over samples) and stack them on `device`.
pub fn make_batch(
    source: &dyn ClipSource,
    ids: &[usize],
    views: &[Vec<Aug>],
    seed: u64,
    epoch: usize,
    device: &Device,
) -> Batch {
    let clips: Vec<Vec<Clip>> = ids
        .par_iter()
        .map(|&i| {
            let base = source.clip(i);
            let valid = source.valid_frames(i);
            views
                .iter()
                .enumerate()
                .map(|(vi, view)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
                        seed,
                        &[epoch as u64, i as u64, vi as u64],
                    ));
                    apply_view(view, base.clone(), valid, &mut rng)
                })
                .collect()
        })
        .collect();
    let tensors = (0..views.len())
        .map(|vi| {
            let first = &clips[0][vi];
            let (c, t, v, m) = (first.c, first.t, first.v, first.m);
            let mut data = Vec::with_capacity(ids.len() * first.data.len());
            for per in &clips {
                data.extend_from_slice(&per[vi].data);
            }
            Tensor::<5>::from_data(TensorData::new(data, [ids.len(), c, t, v, m]), device)
        })
        .collect();
    Batch {
        views: tensors,
        labels: ids.iter().map(|&i| source.label(i)).collect(),
        indices: ids.to_vec(),
    }
}

/// Labels as an Int tensor.
pub fn label_tensor(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [labels.len()]), device)
}
