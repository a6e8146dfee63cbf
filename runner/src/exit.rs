//! Exit codes of `skelflow`, stable across releases (documented in docs/cli.md).

/// Everything asked for succeeded (for `verify`: no corruption).
pub const OK: i32 = 0;
/// At least one stage failed (the run went as far as fail-fast / --keep-going allowed).
pub const STAGE_FAILED: i32 = 1;
/// Bad command line: unknown flag, missing argument, unknown instance, backend not built in.
pub const USAGE: i32 = 2;
/// The pipeline is invalid (YAML, keys, kinds, params, references, cycles, resources, missing
/// dependency files); nothing was run.
pub const INVALID_PIPELINE: i32 = 3;
/// The cache or the filesystem failed (cannot open the cache, lock, commit, write records).
pub const CACHE_ERROR: i32 = 4;
/// `verify` found corrupt artifacts (they were moved to quarantine and will be recomputed).
pub const CORRUPT: i32 = 5;
/// Interrupted by Ctrl-C / SIGTERM; finished stages are kept.
pub const INTERRUPTED: i32 = 130;

/// An error that ends a command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(USAGE, message)
    }
    pub fn cache(message: impl Into<String>) -> Failure {
        Failure::new(CACHE_ERROR, message)
    }
}
