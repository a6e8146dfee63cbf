//! Training-speed benchmark of the encoders (run by `scripts/bench-train`, which puts the
//! PyTorch reference beside it): one step = forward + cross-entropy on the 128-d head
//! output + backward + SGD (momentum 0.9, wd 1e-4), the same work as
//! `scripts/torch_reference.py`; and a MoCo v2 step of skelflow's `moco` method over
//! ST-GCN-16 (`--model moco`, beside the reference's `MocoV2`). Prints one JSON line per
//! model. The BiGRU runs `--gru-drive bidirectional` (default, as the PyTorch side's
//! default) or `per_frame`.
//!
//! cargo run --release -p skelflow-stages --example bench_train -- --backend flex --threads 2

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use skelflow_stages::Backend;
use skelflow_stages::data::dataset::Stream;
use skelflow_stages::learn::data::Batch;
use skelflow_stages::learn::data::label_tensor;
use skelflow_stages::learn::device::device;
use skelflow_stages::learn::encoders::{BackboneConfig, BiGruConfig, EncoderConfig, GruDrive};
use skelflow_stages::learn::method::{Extras, Method, MethodSetup, StepAt};
use skelflow_stages::learn::optim::OptimParams;
use skelflow_stages::methods::blocks::cross_entropy;
use skelflow_stages::methods::moco::{Moco, MocoParams};

// The allocator `skelflow` trains with.
skelflow_stages::training_allocator!();

struct Args {
    model: String,
    backend: Backend,
    threads: usize,
    steps: usize,
    warmup: usize,
    stgcn_batch: usize,
    stgcn_frames: usize,
    gru_batch: usize,
    gru_frames: usize,
    gru_hidden: usize,
    gru_drive: GruDrive,
    checkpointing: bool,
}

fn parse() -> Args {
    let mut a = Args {
        model: "all".into(),
        backend: Backend::Flex,
        threads: 2,
        steps: 5,
        warmup: 1,
        stgcn_batch: 128,
        stgcn_frames: 50,
        gru_batch: 64,
        gru_frames: 64,
        gru_hidden: 1024,
        // explicit, as torch_reference.py's: the PyTorch side runs the same drive
        gru_drive: GruDrive::Bidirectional,
        checkpointing: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let mut device = "cpu".to_string();
    let mut backend = "flex".to_string();
    while i < args.len() {
        let v = || args.get(i + 1).cloned().unwrap_or_default();
        let n = || v().parse::<usize>().expect("a number");
        match args[i].as_str() {
            "--model" => a.model = v(),
            "--backend" => backend = v(),
            "--device" => device = v(),
            "--threads" => a.threads = n(),
            "--steps" => a.steps = n(),
            "--warmup" => a.warmup = n(),
            "--stgcn-batch" => a.stgcn_batch = n(),
            "--stgcn-frames" => a.stgcn_frames = n(),
            "--gru-batch" => a.gru_batch = n(),
            "--gru-frames" => a.gru_frames = n(),
            "--gru-hidden" => a.gru_hidden = n(),
            "--gru-drive" => {
                a.gru_drive = serde_json::from_value(serde_json::Value::String(v()))
                    .unwrap_or_else(|e| panic!("--gru-drive: {e}"))
            }
            "--checkpointing" => {
                a.checkpointing = true;
                i -= 1;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a.backend = skelflow_stages::learn::device::parse_backend(&backend, &device)
        .unwrap_or_else(|e| panic!("{e}"));
    a
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat: the
/// benchmark's work regardless of other load on the machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name
    (ticks(11) + ticks(12)) / 100.0
}

/// Reset the process's peak RSS (Linux: `5` to `/proc/self/clear_refs`), so that each model
/// reports its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS since the last reset, MB (`VmHWM`); 0 where /proc does not say.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The device of a benchmark, seeded; peak RSS reset.
fn bench_device(a: &Args) -> Device {
    reset_peak_rss();
    let mut dev = device(a.backend, true, a.threads).unwrap_or_else(|e| panic!("{e}"));
    if a.checkpointing {
        dev = dev.gradient_checkpointing();
    }
    dev.seed(0);
    dev
}

fn clips(batch: usize, frames: usize, dev: &Device) -> Tensor<5> {
    Tensor::<5>::random(
        [batch, 3, frames, 25, 2],
        Distribution::Normal(0.0, 1.0),
        dev,
    )
}

/// Runs `step` (which returns its forward seconds) `warmup + steps` times and prints the
/// median step's figures as one JSON line.
fn measure(
    name: &str,
    batch: usize,
    frames: usize,
    a: &Args,
    dev: &Device,
    mut step: impl FnMut() -> f64,
) {
    let mut times = Vec::new();
    let mut fwd_times = Vec::new();
    let mut cpu = Vec::new();
    for i in 0..a.warmup + a.steps {
        let t0 = Instant::now();
        let c0 = cpu_seconds();
        let t_fwd = step();
        dev.sync().expect("device sync");
        if i >= a.warmup {
            times.push(t0.elapsed().as_secs_f64());
            fwd_times.push(t_fwd);
            cpu.push(cpu_seconds() - c0);
        }
    }
    times.sort_by(f64::total_cmp);
    fwd_times.sort_by(f64::total_cmp);
    let s = times[times.len() / 2];
    cpu.sort_by(f64::total_cmp);
    let c = cpu[cpu.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "model": name, "backend": a.backend.name(), "batch": batch, "frames": frames, "threads": a.threads,
            "seconds_per_step": s, "samples_per_s": batch as f64 / s, "forward_seconds": fwd_times[fwd_times.len() / 2],
            "checkpointing": a.checkpointing,
            "cpu_seconds_per_step": c, "samples_per_cpu_s": batch as f64 / c,
            "peak_rss_mb": peak_rss_mb(),
        })
    );
}

/// Supervised step: cross-entropy on the head's output, backward, SGD.
fn bench(name: &str, cfg: EncoderConfig, batch: usize, frames: usize, a: &Args) {
    let dev = bench_device(a);
    let mut model = Some(cfg.init(&dev));
    let mut opt = OptimParams {
        lr: 0.01,
        ..Default::default()
    }
    .build();
    let x = clips(batch, frames, &dev);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % 128).collect();
    let y = label_tensor(&labels, &dev);
    measure(name, batch, frames, a, &dev, || {
        let t0 = Instant::now();
        let m = model.take().expect("the model");
        let loss = cross_entropy(m.embed(x.clone()), y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let t_fwd = t0.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(opt.step(0.01, m, grads));
        t_fwd
    });
}

/// skelflow's MoCo v2 method (`methods::moco`, queue 32768, m 0.999, τ 0.07) over ST-GCN-16:
/// one `Method::step` — query forward, momentum update, key forward, InfoNCE, backward, SGD,
/// enqueue. The forward seconds are not separated (0).
fn bench_moco(a: &Args) {
    let dev = bench_device(a);
    let (batch, frames) = (a.stgcn_batch, a.stgcn_frames);
    let encoder = EncoderConfig::preset("stgcn").unwrap();
    let optim = OptimParams {
        lr: 0.01,
        ..Default::default()
    };
    let setup = MethodSetup {
        encoder: &encoder,
        optim: &optim,
        device: &dev,
        seed: 0,
        stream: Stream::Joint,
        epochs: 1,
        frames,
        classes: 60,
        anchor: None,
        init: None,
    };
    let mut moco = Moco::new(MocoParams::default(), &setup);
    let batch_views = Batch {
        views: vec![clips(batch, frames, &dev), clips(batch, frames, &dev)],
        labels: vec![0; batch],
        indices: (0..batch).collect(),
        extras: Extras::default(),
    };
    let steps = a.warmup + a.steps;
    let mut step = 0;
    measure("moco_stgcn16", batch, frames, a, &dev, || {
        let at = StepAt {
            epoch: 1,
            epochs: 1,
            step,
            steps,
            lr: 0.01,
        };
        step += 1;
        moco.step(&batch_views, &at).expect("a MoCo step");
        0.0
    });
}

fn main() {
    let a = parse();
    if a.model == "stgcn" || a.model == "all" {
        bench(
            "stgcn16",
            EncoderConfig::preset("stgcn").unwrap(),
            a.stgcn_batch,
            a.stgcn_frames,
            &a,
        );
    }
    if a.model == "bigru" || a.model == "all" {
        let cfg = EncoderConfig {
            backbone: BackboneConfig::Bigru(BiGruConfig {
                hidden: a.gru_hidden,
                drive: a.gru_drive,
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = match a.gru_drive {
            GruDrive::Bidirectional => "bigru bidirectional",
            GruDrive::PerFrame => "bigru per_frame",
        };
        bench(name, cfg, a.gru_batch, a.gru_frames, &a);
    }
    if a.model == "moco" || a.model == "all" {
        bench_moco(&a);
    }
}
