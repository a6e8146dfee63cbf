//! Benchmark driver for `scripts/bench-import` (not a test): generate a synthetic NTU-format
//! corpus, or import a directory of `.skeleton` files, printing throughput and peak memory.
//!
//! ```text
//! data_bench_import generate <dir> [quick|small|ntu60] [seed]
//! data_bench_import import <raw dir> <out dir> [variant] [threads] [limit]
//! data_bench_import parse <raw dir> [limit]      # parser alone, one thread
//! data_bench_import write <out dir> [rows]       # Arrow writing alone
//! data_bench_import show <artifact dir>          # what `skelflow data show` prints
//! ```

use std::path::PathBuf;
use std::time::Instant;

use skelflow_stages::data::Variant;
use skelflow_stages::data::ntu_import::{ImportOptions, import_ntu};
use skelflow_stages::data::synth::{SynthParams, SynthSize, generate};

/// Peak resident set size of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU seconds of this process so far (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field overall.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if f.len() > 13 {
        (f[11] + f[12]) / 100.0
    } else {
        f64::NAN
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("generate") => {
            let dir = PathBuf::from(arg(1).expect("generate <dir>"));
            let size = match arg(2).unwrap_or("ntu60") {
                "quick" => SynthSize::Quick,
                "small" => SynthSize::Small,
                "ntu60" => SynthSize::Ntu60,
                other => panic!("unknown size {other}: quick | small | ntu60"),
            };
            let seed: u64 = arg(3).map_or(0, |s| s.parse().expect("seed is an integer"));
            let p = SynthParams {
                size,
                ..Default::default()
            };
            let t = Instant::now();
            let r = generate(&p, seed, &dir, 0, |done, total| {
                if done % 6144 == 0 || done == total {
                    eprintln!("  generated {done}/{total} files");
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
            println!(
                "generate: {} files, {:.1} MB in {:.1} s ({:.1} MB/s)",
                r.files,
                r.bytes as f64 / 1e6,
                t.elapsed().as_secs_f64(),
                r.bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
            );
        }
        Some("import") => {
            let raw = PathBuf::from(arg(1).expect("import <raw> <out>"));
            let out = PathBuf::from(arg(2).expect("import <raw> <out>"));
            let variant = Variant::parse(arg(3).unwrap_or("stgcn_raw"))
                .expect("variant: stgcn_raw | agcn_prenorm | frame50");
            let threads: usize = arg(4).map_or(2, |s| s.parse().expect("threads"));
            let limit: usize = arg(5).map_or(0, |s| s.parse().expect("limit"));
            let _ = std::fs::remove_dir_all(&out);
            let mut o = ImportOptions::new(variant);
            o.threads = threads;
            o.limit = limit;
            o.missing_list = "none".into();
            let t = Instant::now();
            let cpu0 = cpu_seconds();
            let r = import_ntu(&raw, &out, &o, |done, total| {
                if done % 8192 < 200 && total > 10_000 {
                    eprintln!("  imported {done}/{total}");
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
            let s = t.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            let mb = r.bytes_read as f64 / 1e6;
            let written = std::fs::metadata(out.join("dataset.arrow"))
                .map(|m| m.len())
                .unwrap_or(0);
            println!(
                "rust import ({variant}, {threads} threads): {} files, {mb:.1} MB in {s:.2} s = {:.1} MB/s, {:.0} files/s; \
                 wrote {:.1} MB; peak RSS {:.0} MiB; CPU {cpu:.2} s = {:.1} MB per CPU-second",
                r.samples,
                mb / s,
                r.samples as f64 / s,
                written as f64 / 1e6,
                peak_rss_mib(),
                mb / cpu
            );
        }
        Some("parse") => {
            // Parser alone, one thread: where the import's time goes.
            let raw = PathBuf::from(arg(1).expect("parse <raw>"));
            let limit: usize = arg(2).map_or(usize::MAX, |s| s.parse().expect("limit"));
            let (files, _) = skelflow_stages::data::ntu_import::list_skeleton_files(&raw).unwrap();
            let bufs: Vec<Vec<u8>> = files
                .iter()
                .take(limit)
                .map(|f| std::fs::read(f).unwrap())
                .collect();
            let bytes: usize = bufs.iter().map(Vec::len).sum();
            let t = Instant::now();
            let cpu0 = cpu_seconds();
            let mut joints = 0;
            for (b, f) in bufs.iter().zip(&files) {
                joints += skelflow_stages::data::ntu_format::parse_skeleton(b, f)
                    .unwrap()
                    .joints
                    .len();
            }
            let s = t.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            println!(
                "parse only (1 thread, in memory): {:.1} MB in {s:.2} s = {:.1} MB/s, {:.1} MB per CPU-second ({joints} joints)",
                bytes as f64 / 1e6,
                bytes as f64 / 1e6 / s,
                bytes as f64 / 1e6 / cpu
            );
            let t = Instant::now();
            let cpu0 = cpu_seconds();
            for (b, f) in bufs.iter().zip(&files) {
                let seq = skelflow_stages::data::ntu_format::parse_skeleton(b, f).unwrap();
                std::hint::black_box(skelflow_stages::data::preprocess::stgcn_raw(&seq));
            }
            let s = t.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            println!(
                "parse + stgcn_raw (1 thread, in memory): {:.1} MB/s, {:.1} MB per CPU-second",
                bytes as f64 / 1e6 / s,
                bytes as f64 / 1e6 / cpu
            );
        }
        Some("write") => {
            // Arrow writing alone: `n` stgcn_raw-sized rows.
            let out = PathBuf::from(arg(1).expect("write <out>"));
            let n: usize = arg(2).map_or(720, |s| s.parse().expect("n"));
            let v = Variant::StgcnRaw;
            let t = Instant::now();
            let mut w = skelflow_stages::data::dataset::DatasetWriter::create(&out, v).unwrap();
            let info = skelflow_stages::data::dataset::SampleInfo {
                name: "S001C001P001R001A001".into(),
                setup: 1,
                camera: 1,
                subject: 1,
                replication: 1,
                label: 0,
                frames: 1,
                raw_frames: 1,
                bodies: 1,
            };
            for chunk in 0..n.div_ceil(186) {
                let rows = (chunk * 186..(chunk * 186 + 186).min(n))
                    .map(|i| (info.clone(), vec![i as f32; v.sample_len()]))
                    .collect();
                w.write_batch(rows).unwrap();
            }
            let meta = skelflow_stages::data::dataset::DatasetMeta::new("ntu", 1, 0);
            w.finish(meta, &[], &[]).unwrap();
            let s = t.elapsed().as_secs_f64();
            let mb = (n * v.sample_len() * 4) as f64 / 1e6;
            println!("write only: {mb:.1} MB in {s:.2} s = {:.1} MB/s", mb / s);
        }
        Some("show") => {
            let dir = PathBuf::from(arg(1).expect("show <artifact dir>"));
            match skelflow_stages::data::show(&dir) {
                Ok(text) => print!("{text}"),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("usage: data_bench_import generate <dir> [quick|small|ntu60] [seed]");
            eprintln!(
                "       data_bench_import import <raw dir> <out dir> [variant] [threads] [limit]"
            );
            std::process::exit(2);
        }
    }
}
