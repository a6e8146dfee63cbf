//! The learning core: devices, encoders, augmentations, data loading, the training loop,
//! the method seam ([`method`]), checkpoints and the encoder artifact, and the kinds
//! `encoder.init`, `extract` and `extract.raw`. It knows no particular method: those live in
//! `crate::methods` (with the `pretrain` kind), evaluations in `crate::evals`; both depend
//! on this module, never the other way round.

pub mod artifact;
pub mod augment;
pub mod checkpoint;
pub mod data;
pub mod dataset;
pub mod device;
pub mod encoder_import;
pub mod encoder_init;
pub mod encoders;
pub mod extract;
pub mod extract_raw;
pub mod fused;
pub mod graph;
pub mod losses;
pub mod method;
pub mod optim;
pub mod skeleton_mix;
pub mod summary;
pub mod tensorboard;
pub mod train;

pub use summary::{model_summary, model_summary_str};
