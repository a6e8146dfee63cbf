//! The pipeline YAML as written: sources and spans, the spanned YAML tree, `extends` /
//! `include` merging, variable overrides, `${…}` templates and the shape of a stage.

pub mod interp;
pub mod load;
pub mod source;
pub mod stage;
pub mod vars;
pub mod yaml;
