//! The learning core: devices, encoders, augmentations, data loading, training loop,
//! checkpoints and the encoder artifact. Methods live in `crate::methods`, evaluations in
//! `crate::evals`.

pub mod artifact;
pub mod augment;
pub mod data;
pub mod dataset;
pub mod device;
pub mod encoders;
pub mod graph;
pub mod kinds;
pub mod optim;
pub mod skeleton_mix;
pub mod summary;
pub mod train;

pub use summary::{model_summary, model_summary_str};
