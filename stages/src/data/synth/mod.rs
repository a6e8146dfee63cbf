//! `synth.ntu`: a synthetic corpus written as genuine NTU RGB+D `.skeleton` files
//! (`SsssCcccPpppRrrrAaaa.skeleton`, the full 10-value body line and 12-value joint lines),
//! so it flows through the same `ntu.import` as the real dataset.
//!
//! What makes learning on it mean something:
//! - Up to 60 action classes that move different body parts in different ways (waves,
//!   reaches, punches, kicks, bows, squats, turns, walks, head gestures, and two-person
//!   approach / handshake / push / hug …), with confusable pairs (left vs right hand,
//!   drink vs phone call, reach vs punch, sit down vs squat).
//! - A 25-joint skeleton with NTU's topology, posed by forward kinematics from joint angles.
//! - Subjects differ in size and bone proportions, speed, amplitude, posture, and in a
//!   personal style per action (joint-angle offsets, timing warp); a performance has idle
//!   lead-in and lead-out of random length, idle sway and breathing.
//! - Each performance is recorded by 3 cameras at −45°, 0°, +45° yaw (setup-dependent
//!   distance and height, tilted down), like NTU; replication 2 turns the subject.
//! - Sensor noise (stronger on hands and feet and along the depth axis), self-occlusion
//!   noise on the side turned away from the camera, tracking jitter bursts, a few dropped
//!   frames (0 bodies), and a few noisy extra bodies (sometimes listed first).
//!
//! Everything is deterministic in the seed: every performance and every file has its own
//! ChaCha stream derived from (seed, setup, subject, replication, action[, camera]), so
//! parallel generation is order-independent.
//!
//! One concern per file: [`params`] (what is asked, the counts that follow), [`motions`]
//! (the action classes), [`body`] (the body model and its forward kinematics), [`scene`]
//! (subjects, styles, cameras, performances), [`capture`] (the sensor's noise and events),
//! [`ntu_writer`] (the `.skeleton` lines), and here the corpus and the stage kind.

mod body;
mod capture;
mod motions;
mod ntu_writer;
mod params;
pub mod pku;
mod scene;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;
use skelflow_contract::files::SYNTH_JSON;

pub use capture::Noise;
pub use motions::class_names;
pub use params::{SynthParams, SynthPlan, SynthSize};

use super::ntu_format::NtuName;
use crate::{IoContext, Kind, StageContext, StageError};
use scene::{CAMERAS, camera, perform};

pub const KIND: &str = "synth.ntu";

/// The random stream of one part of the corpus: `parts` name it (a tag, then setup,
/// subject, … as the part needs), so that every performance and every file has its own.
fn rng_for(seed: u64, parts: &[u64]) -> ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(b"skelflow synth.ntu v1");
    h.update(&seed.to_le_bytes());
    for p in parts {
        h.update(&p.to_le_bytes());
    }
    let bytes: [u8; 32] = h.finalize().into();
    ChaCha8Rng::from_seed(bytes)
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub files: usize,
    pub bytes: u64,
}

/// Write the corpus of `params` (seeded by `seed`) into `out_dir`, using `threads` workers
/// (0: rayon's default). `progress(done, total)` is called now and then.
pub fn generate(
    params: &SynthParams,
    seed: u64,
    out_dir: &Path,
    threads: usize,
    progress: impl Fn(usize, usize) + Sync,
) -> Result<SynthReport, StageError> {
    let plan = params.plan();
    std::fs::create_dir_all(out_dir).at("create", out_dir)?;
    let noise = Noise {
        sigma: params.noise,
        jitter: params.jitter,
        dropped: params.dropped,
        extra_bodies: params.extra_bodies,
    };
    let mut jobs = Vec::new();
    for &(setup, subj) in &plan.sessions {
        for rep in 1..=plan.replications as u16 {
            for action in 0..plan.classes {
                jobs.push((setup, subj, rep, action));
            }
        }
    }
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    super::worker_pool(threads)?.install(|| {
        jobs.par_iter()
            .try_for_each(|&(setup, subj, rep, action)| -> Result<(), StageError> {
                let perf = perform(seed, &plan, setup, subj, rep, action);
                for cam in 0..CAMERAS.len() {
                    let (pos, rot) = camera(seed, setup, cam);
                    let name = NtuName {
                        setup,
                        camera: cam as u16 + 1,
                        subject: subj,
                        replication: rep,
                        action: action as u16 + 1,
                    };
                    let mut rng = rng_for(
                        seed,
                        &[
                            6,
                            setup as u64,
                            subj as u64,
                            rep as u64,
                            action as u64,
                            cam as u64,
                        ],
                    );
                    let text = capture::render(&perf, pos, &rot, &noise, &mut rng);
                    let path = out_dir.join(format!("{}.skeleton", name.stem()));
                    std::fs::write(&path, &text).at("write", &path)?;
                    bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(256) || n == total {
                    progress(n * CAMERAS.len(), total * CAMERAS.len());
                }
                Ok(())
            })
    })?;
    let report = SynthReport {
        files: total * CAMERAS.len(),
        bytes: bytes.into_inner(),
    };
    let info = serde_json::json!({
        "kind": KIND,
        "seed": seed,
        "plan": plan,
        "class_names": class_names(plan.classes),
        "files": report.files,
        "bytes": report.bytes,
    });
    super::dataset::write_json(&out_dir.join(SYNTH_JSON), &info)?;
    Ok(report)
}

pub struct SynthNtu;

impl Kind for SynthNtu {
    type Params = SynthParams;
    const NAME: &'static str = KIND;
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "write a deterministic synthetic NTU-format corpus (.skeleton files) for ntu.import";
    fn run(&self, ctx: &StageContext, p: SynthParams) -> Result<(), StageError> {
        let r = generate(&p, ctx.seed, &ctx.out_dir, ctx.threads, |done, total| {
            ctx.progress(done as u64, total as u64, &format!("{done}/{total} files"))
        })?;
        eprintln!(
            "{}: wrote {} files ({:.1} MB)",
            ctx.instance,
            r.files,
            r.bytes as f64 / 1e6
        );
        Ok(())
    }
}
