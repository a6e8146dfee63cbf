//! The one place where a [`Backend`] becomes a burn [`Device`].

use burn::prelude::*;

use crate::{Backend, StageError};

/// The burn device for `backend`, with autodiff when `autodiff` is set. `threads` caps the
/// CPU threads of the backend's kernels (rayon for flex, OpenMP for libtorch); it only takes
/// effect the first time a process asks.
pub fn device(backend: Backend, autodiff: bool, threads: usize) -> Result<Device, StageError> {
    if !backend.compiled_in() {
        return Err(StageError::Backend {
            backend: backend.name().into(),
            message: "not compiled into this binary: rebuild with `cargo build --release --features tch` (see README, \"GPU and libtorch\")".into(),
        });
    }
    init_threads(threads);
    let dev = match backend {
        Backend::Flex => Device::flex(),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        // burn-tch is deprecated upstream but is the libtorch path we ship
        Backend::TchCpu => Device::libtorch(),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        Backend::TchCuda => Device::libtorch_cuda(0),
        #[cfg(not(feature = "tch"))]
        Backend::TchCpu | Backend::TchCuda => unreachable!("checked by compiled_in"),
    };
    Ok(if autodiff { dev.autodiff() } else { dev })
}

fn init_threads(threads: usize) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let threads = threads.max(1);
    ONCE.call_once(|| {
        // Ignored when the global pool already exists (tests, a host program): then the
        // host decided.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
        keep_freed_memory();
        if std::env::var_os("OMP_NUM_THREADS").is_none() {
            // SAFETY: called once, before libtorch starts its thread pools; stage processes
            // set it before any other thread reads the environment.
            unsafe { std::env::set_var("OMP_NUM_THREADS", threads.to_string()) };
        }
    });
}

/// burn allocates a fresh buffer for every tensor op; glibc returns buffers above its mmap
/// threshold to the kernel on free, so every op pays page faults on new memory (a profile of
/// ST-GCN-16 on flex: ~23 % of the time in the kernel). Keep freed memory in the heap for
/// reuse instead (measured ~17 % faster training steps on flex). Binaries that declare
/// [`crate::training_allocator!`] allocate Rust's memory with jemalloc, which keeps buffers
/// of every size; this still tunes glibc's malloc, which libtorch's (tch) buffers use.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called once at start-up.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// A `--device` string (`cpu`, `cuda`, `cuda:0`) and a backend name to a [`Backend`].
pub fn parse_backend(backend: &str, device: &str) -> Result<Backend, String> {
    match (backend, device) {
        ("flex", "cpu") => Ok(Backend::Flex),
        ("flex", d) => Err(format!(
            "the flex backend runs on the CPU only, not `{d}`: use `--backend tch --device {d}`"
        )),
        ("tch", "cpu") => Ok(Backend::TchCpu),
        ("tch", d) if d == "cuda" || d.starts_with("cuda:") => Ok(Backend::TchCuda),
        (b, d) => Err(format!(
            "unknown backend/device `{b}`/`{d}`: use flex/cpu, tch/cpu or tch/cuda:N"
        )),
    }
}
