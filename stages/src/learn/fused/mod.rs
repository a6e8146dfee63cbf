//! Fused training operations: one autodiff node with a handwritten backward where burn's
//! op-by-op graph is slow (issue 13). Each op is a backend extension
//! (`#[backend_extension]`): the inner backends (flex, libtorch) run the forward, the
//! autodiff backend records one step whose backward is written here, and flex gets native
//! kernels for the element-wise cell math while other backends compose burn's primitives.
//!
//! The composite versions these replace stay in the encoders (`RnnCell::gru`), and the tests
//! compare both paths, values and gradients (the fused batch norm against burn's own
//! `BatchNorm`).

// burn-tch is deprecated upstream but is the libtorch path we ship
#[allow(deprecated)]
mod cells;
#[allow(deprecated)]
mod conv;
#[allow(deprecated)]
mod graph_conv;
#[allow(deprecated)]
mod norm;
#[allow(deprecated)]
mod recurrent;

pub use conv::{ConvKernels, TemporalConvOps, temporal_conv};
pub use graph_conv::{GraphConvKernels, GraphConvOps, GraphConvSaved, graph_conv};
pub use norm::{
    DropoutMask, NormKernels, NormOps, NormSaved, Tail, Then, batch_norm, batch_norm_then,
    batch_norm_train_tail, kept,
};
pub use recurrent::{RecurrentOps, gru_sequence, lstm_sequence};

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};
use rayon::prelude::*;

/// A zeroed f32 tensor for a kernel to fill. Not `FlexTensor::empty`: it allocates bytes and
/// then copies them into a new allocation to meet a 16-byte alignment it cannot see the
/// allocator already gave (one serial memcpy of every fresh buffer; these kernels' outputs
/// without it took ST-GCN-16 training from 35 to 42 samples/s, docs/learning.md "Speed").
fn zeros_f32(shape: impl Into<Shape>) -> FlexTensor {
    let shape = shape.into();
    tensor_of(vec![0f32; shape.num_elements()], shape)
}

/// `t` with its values in row-major order (unchanged when they already are).
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("made contiguous")
}

/// `dst (m × n) += lhs (m × k) · rhs (k × n)`; each operand is a slice and its (row, column)
/// strides, checked against the slice's length before the unchecked GEMM runs.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_add(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_strides: (usize, usize),
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let last =
        |rows: usize, cols: usize, (rs, cs): (usize, usize)| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(m, n, dst_strides) < dst.len(),
        "gemm_add: dst out of bounds"
    );
    assert!(
        last(m, k, lhs_strides) < lhs.len(),
        "gemm_add: lhs out of bounds"
    );
    assert!(
        last(k, n, rhs_strides) < rhs.len(),
        "gemm_add: rhs out of bounds"
    );
    let s = |v: usize| v as isize;
    // SAFETY: the asserts above keep every element the GEMM touches inside its slice, and
    // `dst` is a unique borrow, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            s(dst_strides.1),
            s(dst_strides.0),
            true,
            lhs.as_ptr(),
            s(lhs_strides.1),
            s(lhs_strides.0),
            rhs.as_ptr(),
            s(rhs_strides.1),
            s(rhs_strides.0),
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Tasks of [`per_sample_backward`]: a fixed number, so that which samples share a sum and
/// the order the sums are added in depend on `n` alone — not on the threads or on rayon's
/// work stealing, which made the same seed train to other weights run after run (linear
/// top-1 17.0 / 21.5 / 28.8 in three runs of one test).
const BACKWARD_TASKS: usize = 16;

/// A backward pass over `n` samples in parallel: `sample(i, d x of sample i, sums)` runs per
/// sample, in [`BACKWARD_TASKS`] runs of consecutive samples, each summing its samples'
/// parameter gradients in order into its own `fresh()` sums; the runs' sums are then
/// `add`ed in order. `dx`, when asked for, is split into the samples' slices of
/// `sample_len` values.
pub(super) fn per_sample_backward<S: Send>(
    n: usize,
    dx: Option<&mut [f32]>,
    sample_len: usize,
    fresh: impl Fn() -> S + Sync + Send,
    sample: impl Fn(usize, Option<&mut [f32]>, &mut S) + Sync + Send,
    add: impl Fn(S, S) -> S + Sync + Send,
) -> S {
    let mut slices: Vec<Option<&mut [f32]>> = match dx {
        Some(dx) => dx.chunks_exact_mut(sample_len).map(Some).collect(),
        None => (0..n).map(|_| None).collect(),
    };
    let per_task = n.div_ceil(BACKWARD_TASKS).max(1);
    let sums: Vec<S> = slices
        .par_chunks_mut(per_task)
        .enumerate()
        .map(|(t, task)| {
            let mut sums = fresh();
            for (j, dx) in task.iter_mut().enumerate() {
                sample(t * per_task + j, dx.as_deref_mut(), &mut sums);
            }
            sums
        })
        .collect();
    sums.into_iter().reduce(add).unwrap_or_else(fresh)
}

/// A row-major f32 tensor of `values` (no realigning copy, see [`zeros_f32`]).
fn tensor_of(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
