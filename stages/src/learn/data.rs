//! Where training clips come from, and how they become augmented batches.
//!
//! [`ClipSource`] is what the learning code needs of a dataset: joint clips (an imported
//! dataset through `learn::dataset::DatasetPart`). Augmentation runs per sample on the CPU
//! with rayon, like the reference repositories' numpy loaders, and is deterministic given
//! (seed, epoch, sample, view); streams are computed from the augmented joint clip, where
//! the reference computes them.

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::{Aug, Clip, apply_view_in};
use super::method::{BatchClips, Extras};
use crate::data::Stream;

/// A read-only set of labelled joint clips (C, T, V, M).
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

/// One batch: each view as a (B, C, T, V, M) tensor in the stage's stream, the labels, the
/// samples' indices, and what a batch-level transform recorded.
pub struct Batch {
    pub views: Vec<Tensor<5>>,
    pub labels: Vec<usize>,
    pub indices: Vec<usize>,
    pub extras: Extras,
}

/// The views of samples `ids` as clips in `stream`: each view's per-sample augmentations on
/// the joint clip (in parallel over samples, each seeded by (seed, epoch, sample, view)),
/// then the stream (where the view says, else at its end).
pub fn batch_clips(
    source: &dyn ClipSource,
    ids: &[usize],
    views: &[Vec<Aug>],
    stream: Stream,
    seed: u64,
    epoch: usize,
) -> BatchClips {
    let per_sample: Vec<Vec<Clip>> = ids
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
                    apply_view_in(view, base.clone(), valid, stream, &mut rng)
                })
                .collect()
        })
        .collect();
    let mut by_view: Vec<Vec<Clip>> = (0..views.len())
        .map(|_| Vec::with_capacity(ids.len()))
        .collect();
    for per in per_sample {
        for (vi, clip) in per.into_iter().enumerate() {
            by_view[vi].push(clip);
        }
    }
    BatchClips {
        views: by_view,
        extras: Extras::default(),
    }
}

/// Stack clips (all of one shape per view) into tensors on `device`.
pub fn to_batch(
    clips: BatchClips,
    source: &dyn ClipSource,
    ids: &[usize],
    device: &Device,
) -> Batch {
    let views = clips
        .views
        .into_iter()
        .map(|view| stack_clips(&view, device))
        .collect();
    Batch {
        views,
        labels: ids.iter().map(|&i| source.label(i)).collect(),
        indices: ids.to_vec(),
        extras: clips.extras,
    }
}

/// Clips of one shape as a (B, C, T, V, M) tensor.
pub fn stack_clips(clips: &[Clip], device: &Device) -> Tensor<5> {
    let first = &clips[0];
    let (c, t, v, m) = (first.c, first.t, first.v, first.m);
    let mut data = Vec::with_capacity(clips.len() * first.data.len());
    for clip in clips {
        data.extend_from_slice(&clip.data);
    }
    Tensor::<5>::from_data(TensorData::new(data, [clips.len(), c, t, v, m]), device)
}

/// [`batch_clips`] then [`to_batch`], with no batch-level transform.
pub fn make_batch(
    source: &dyn ClipSource,
    ids: &[usize],
    views: &[Vec<Aug>],
    stream: Stream,
    seed: u64,
    epoch: usize,
    device: &Device,
) -> Batch {
    let clips = batch_clips(source, ids, views, stream, seed, epoch);
    to_batch(clips, source, ids, device)
}

/// Labels as an Int tensor.
pub fn label_tensor(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [labels.len()]), device)
}
