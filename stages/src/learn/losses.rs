//! Losses and normalisations every learner uses (methods and evaluations alike).

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// `x / max(‖x‖₂, 1e-12)` along `dim` (F.normalize).
pub fn l2_normalize<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let norm = x.clone().square().sum_dim(dim).sqrt().clamp_min(1e-12);
    x / norm
}

/// Mean cross-entropy of `logits` (N, K) against integer `labels` (N).
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let n = logits.dims()[0];
    let lp = log_softmax(logits, 1);
    lp.gather(1, labels.reshape([n, 1])).mean().neg()
}
