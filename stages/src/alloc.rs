//! The allocator of every process that trains: jemalloc, keeping freed pages instead of
//! returning them to the kernel (no decay), on transparent huge pages.
//!
//! Why (measured with `bench_train`, ST-GCN-16, batch 128, T 50, 2 threads): its activations
//! are 40–80 MB each, above glibc's mmap threshold (32 MiB at most), so glibc maps every one
//! afresh and the kernel zeroes it page by page — 7.6 M minor faults and 16 s of system time
//! in 4 steps. jemalloc with its defaults purges large extents at once and faults more (18–32 M);
//! with `dirty_decay_ms:-1, muzzy_decay_ms:-1` (keep them), `oversize_threshold:0` (no
//! separate, eagerly purged arena for large sizes) and `thp:always` the same run takes 36 k
//! faults and 3 s of system time. Peak RSS is about 10 % higher: pages are kept for the next
//! step instead of returned. A binary opts in with [`crate::training_allocator!`].

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (`malloc_conf`).
pub const CONF: &std::ffi::CStr =
    c"thp:always,oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1";

/// Make jemalloc, configured as [`CONF`] says, the global allocator of this binary.
#[macro_export]
macro_rules! training_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::alloc::Jemalloc = $crate::alloc::Jemalloc;

        /// Read by jemalloc (its symbols carry the `_rjem_` prefix) before `main`.
        #[allow(non_upper_case_globals)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static malloc_conf: Option<&'static std::ffi::c_char> =
            Some(unsafe { &*$crate::alloc::CONF.as_ptr() });
    };
}
