//! GEMM throughput of burn flex (the `gemm` crate) on the shapes that dominate training here,
//! for `scripts/bench-gemm`, which runs PyTorch's `torch.matmul` (its BLAS) on the same
//! shapes beside it. Prints one JSON line per shape: GFLOP/s of the median of `--reps` runs.
//!
//! cargo run --release -p skelflow-stages --example bench_gemm -- --threads 2

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use skelflow_stages::Backend;
use skelflow_stages::learn::device::device;

/// (name, m, k, n): C (m × n) = A (m × k) · B (k × n). Kept in step with scripts/bench-gemm.
pub const SHAPES: [(&str, usize, usize, usize); 7] = [
    ("bigru recurrence step", 64, 1024, 3072),
    ("bigru input projection", 4096, 2048, 3072),
    ("bigru dW_ih over T*N rows", 2048, 4096, 3072),
    ("quick bigru step", 64, 64, 192),
    ("stgcn gcn 1x1 one sample", 192, 64, 1250),
    ("stgcn tcn im2col one sample", 64, 576, 1250),
    ("stgcn gcn batched as one", 192, 64, 160_000),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let (threads, reps) = (arg("--threads", 2), arg("--reps", 7));
    let dev = device(Backend::Flex, false, threads).unwrap_or_else(|e| panic!("{e}"));
    let normal = Distribution::Normal(0.0, 1.0);
    for (name, m, k, n) in SHAPES {
        let a = Tensor::<2>::random([m, k], normal, &dev);
        let b = Tensor::<2>::random([k, n], normal, &dev);
        let mut times = Vec::new();
        for rep in 0..=reps {
            let t0 = Instant::now();
            let c = a.clone().matmul(b.clone());
            dev.sync().expect("device sync");
            let elapsed = t0.elapsed().as_secs_f64();
            drop(c);
            if rep > 0 {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        let s = times[times.len() / 2];
        println!(
            "{}",
            serde_json::json!({"shape": name, "m": m, "k": k, "n": n, "threads": threads,
                "seconds": s, "gflops": 2.0 * (m * k * n) as f64 / s / 1e9})
        );
    }
}
