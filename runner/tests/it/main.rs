//! The runner's integration tests, one binary: the real `skelflow` binary on real
//! pipelines (runs, crashes and concurrency, what data a pipeline reads, every bad-pipeline
//! message, full disks, `gc` beside a run, the same bytes from two fresh caches, the Slurm
//! executor on a real cluster) and property tests of the pipeline loader.

mod cache_dir;
mod common;
mod crash;
mod data_source;
mod disk;
mod fuzz;
mod gc;
mod reproducible;
mod run;
mod slurm;
mod validation;
