//! `Store::default_root` reads `$SKELFLOW_CACHE`. This process never changes its own
//! environment (other test threads read it, and changing it meanwhile is a data race):
//! each case runs this test binary again with the environment it needs, and the child
//! makes the assertion.

use std::path::{Path, PathBuf};
use std::process::Command;

use skelflow_cache::Store;

/// Set in the child: the root it must find.
const EXPECTED: &str = "SKELFLOW_CACHE_TEST_DEFAULT_ROOT";
const NAME: &str = "default_root::default_root_is_beside_the_pipeline_unless_env_says_otherwise";

#[test]
fn default_root_is_beside_the_pipeline_unless_env_says_otherwise() {
    let dir = Path::new("/some/pipelines");
    if let Some(expected) = std::env::var_os(EXPECTED) {
        assert_eq!(Store::default_root(dir), PathBuf::from(expected));
        return;
    }
    for (env, expected) in [
        (None, dir.join(".skelflow")),
        (Some("/scratch/cache"), PathBuf::from("/scratch/cache")),
    ] {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", NAME, "--test-threads=1"])
            .env(EXPECTED, &expected);
        match env {
            None => child.env_remove("SKELFLOW_CACHE"),
            Some(v) => child.env("SKELFLOW_CACHE", v),
        };
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "SKELFLOW_CACHE={env:?}: the child failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
