//! The stages crate's integration tests, one binary: a module per area.

mod a2mc_blocks;
mod a2mc_method;
mod a2mc_train;
mod actclr_golden;
mod actclr_method;
mod actclr_train;
mod agrnet;
mod ascal_method;
mod data_conformance;
mod data_import;
mod data_pku;
mod data_stages;
mod data_synth;
mod eval_downstream;
mod eval_segment;
mod fixtures;
mod interop;
mod learn_augment;
mod learn_common;
mod learn_fused;
mod learn_init;
mod learn_models;
mod learn_supervised;
mod learn_tensorboard;
mod learn_train;
mod learn_transformers;
