//! `Store::default_root` reads `$SKELFLOW_CACHE`. Alone in its own test binary: changing
//! the environment while other threads read it (tempfile reads TMPDIR) is a data race.

use skelflow_cache::Store;

#[test]
fn default_root_is_beside_the_pipeline_unless_env_says_otherwise() {
    let dir = std::path::Path::new("/some/pipelines");
    // SAFETY: this is the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::remove_var("SKELFLOW_CACHE") };
    assert_eq!(Store::default_root(dir), dir.join(".skelflow"));
    unsafe { std::env::set_var("SKELFLOW_CACHE", "/scratch/cache") };
    assert_eq!(
        Store::default_root(dir),
        std::path::PathBuf::from("/scratch/cache")
    );
    unsafe { std::env::remove_var("SKELFLOW_CACHE") };
}
