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
mod norm;
#[allow(deprecated)]
mod recurrent;

pub use conv::{ConvKernels, TemporalConvOps, temporal_conv};
pub use norm::{
    DropoutMask, NormKernels, NormOps, NormSaved, Tail, Then, batch_norm, batch_norm_then,
    batch_norm_train_tail, kept,
};
pub use recurrent::{RecurrentOps, gru_sequence, lstm_sequence};

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// A zeroed f32 tensor for a kernel to fill. Not `FlexTensor::empty`: it allocates bytes and
/// then copies them into a new allocation to meet a 16-byte alignment it cannot see the
/// allocator already gave (one memcpy of every fresh buffer; ~2 % of an ST-GCN-16 step from
/// these kernels' outputs).
fn zeros_f32(shape: impl Into<Shape>) -> FlexTensor {
    let shape = shape.into();
    FlexTensor::from_data(TensorData::new(vec![0f32; shape.num_elements()], shape))
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
