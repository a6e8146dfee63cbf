//! Data stages: NTU RGB+D / PKU-MMD import to an Arrow dataset artifact, the synthetic
//! NTU-format corpus, splits, streams and the average-motion anchor.
//!
//! - [`skeleton`]: joint names, ST-GCN links, bone pairs, the ST-GCN spatial graph.
//! - [`ntu_format`]: the `.skeleton` parser and NTU file names.
//! - [`preprocess`]: `stgcn_raw`, `agcn_prenorm`, `frame50`; joint / motion / bone streams.
//! - [`dataset`]: the artifact layout, its writer and the [`dataset::Dataset`] reader.

pub mod anchor;
pub mod cli;
pub mod dataset;
pub mod ntu_format;
pub mod ntu_import;
pub mod pku;
pub mod preprocess;
pub mod skeleton;
pub mod splits;
pub mod synth;

pub use cli::{convert, show};
pub use dataset::{Dataset, Part, Stream, Variant};
