//! Fused training operations: one autodiff node with a handwritten backward where burn's
//! op-by-op graph is slow (issue 13). Each op is a backend extension
//! (`#[backend_extension]`): the inner backends (flex, libtorch) run the forward, the
//! autodiff backend records one step whose backward is written here, and flex gets native
//! kernels for the element-wise cell math while other backends compose burn's primitives.
//!
//! The composite versions these replace stay in the encoders (`RnnCell::gru`), and the tests
//! compare both paths, values and gradients.

// burn-tch is deprecated upstream but is the libtorch path we ship
#[allow(deprecated)]
mod cells;
#[allow(deprecated)]
mod recurrent;

pub use recurrent::{RecurrentOps, gru_sequence, lstm_sequence};
