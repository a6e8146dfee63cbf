//! The synthetic corpus as genuine PKU-MMD files, for `pku.import` without a root: untrimmed
//! videos in `skeleton/` — phase 2 `A<subject>N<take>-<view>.txt`, phase 1
//! `<video number>-<view>.txt` — (one line of 150 numbers per frame: person 1's 25
//! camera-space joints x y z, then person 2's, zeros when absent), their `label/` files
//! (`action,start,end,confidence`, 1-based inclusive frames), and the phase's split files
//! (`cross_subject_v2.txt` / `cross_view_v2.txt`, phase 1 `cross-subject.txt` /
//! `cross-view.txt`).
//!
//! Each video is a subject's take: several performances of different actions (the same
//! generator as `synth.ntu`, with each performance's idle lead-in and lead-out) one after
//! the other, filmed by three cameras at −45° (L), 0° (M) and +45° (R). Over a subject's
//! takes every class occurs once. The splits are skelflow's own: x-sub trains on the first
//! two thirds of the subjects, x-view on views M and R (tests on L).

use std::fmt::Write as _;
use std::path::Path;

use glam::DVec3;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files::SYNTH_JSON;

use super::params::SynthParams;
use super::scene::{CAMERAS, camera, perform};
use super::{SynthReport, normal, rng_for};
use crate::data::pku::{phase_problem, split_names};
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError};

pub const KIND: &str = "synth.pku";
const VIEWS: [char; 3] = ['L', 'M', 'R'];

/// What the synthetic PKU-MMD corpus holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PkuCorpus {
    /// Which release's file names and split files: 1 or 2.
    pub phase: u8,
    /// Action classes (PKU-MMD ids 1..=classes).
    pub classes: usize,
    pub subjects: usize,
    /// Actions per video; a subject records ceil(classes / per_video) takes.
    pub per_video: usize,
    /// Sensor noise (metres, standard deviation).
    pub noise: f64,
}

impl Default for PkuCorpus {
    fn default() -> Self {
        PkuCorpus {
            phase: 2,
            classes: 12,
            subjects: 10,
            per_video: 6,
            noise: 0.012,
        }
    }
}

impl PkuCorpus {
    pub fn takes(&self) -> usize {
        self.classes.div_ceil(self.per_video.max(1))
    }
    /// Video stem of (subject, take, view): phase 2 `A01N02-L`; phase 1 numbers the videos
    /// subject by subject, `0002-L`.
    fn name(&self, subject: usize, take: usize, view: usize) -> String {
        match self.phase {
            1 => format!("{:04}-{}", (subject - 1) * self.takes() + take, VIEWS[view]),
            _ => format!("A{subject:02}N{take:02}-{}", VIEWS[view]),
        }
    }
    fn train_subject(&self, subject: usize) -> bool {
        subject <= (2 * self.subjects).div_ceil(3)
    }
}

/// Write the corpus into `out_dir` (`skeleton/`, `label/`, the split files, `synth.json`).
pub fn generate_pku(
    c: &PkuCorpus,
    seed: u64,
    out_dir: &Path,
    threads: usize,
    progress: impl Fn(usize, usize) + Sync,
) -> Result<SynthReport, StageError> {
    let (skel_dir, label_dir) = (out_dir.join("skeleton"), out_dir.join("label"));
    for d in [&skel_dir, &label_dir] {
        std::fs::create_dir_all(d).at("create", d)?;
    }
    let plan = SynthParams {
        classes: c.classes,
        subjects: c.subjects,
        ..SynthParams::default()
    }
    .plan();
    let jobs: Vec<(usize, usize)> = (1..=c.subjects)
        .flat_map(|s| (1..=c.takes()).map(move |t| (s, t)))
        .collect();
    let total = jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let bytes: Vec<u64> = super::super::worker_pool(threads)?.install(|| {
        jobs.par_iter()
            .map(|&(subject, take)| -> Result<u64, StageError> {
                // every class once over the subject's takes, in a per-subject order
                let mut order: Vec<usize> = (0..c.classes).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(
                    seed ^ (0x9e37 * subject as u64),
                ));
                let actions: Vec<usize> = order
                    .iter()
                    .skip((take - 1) * c.per_video)
                    .take(c.per_video)
                    .copied()
                    .collect();
                // the world joints of each frame, per person, and the labels
                let mut frames: Vec<[Option<[DVec3; 25]>; 2]> = Vec::new();
                let mut labels = String::new();
                for &a in &actions {
                    let perf = perform(seed, &plan, 1, subject as u16, take as u16, a);
                    let start = frames.len() + 1;
                    for f in 0..perf.persons[0].len() {
                        let mut both = [None, None];
                        for (k, p) in perf.persons.iter().take(2).enumerate() {
                            both[k] = Some(p[f].0);
                        }
                        frames.push(both);
                    }
                    let _ = writeln!(labels, "{},{start},{},1", a + 1, frames.len());
                }
                let mut written = 0u64;
                for (view, _) in CAMERAS.iter().enumerate() {
                    let (pos, rot) = camera(seed, 1, view);
                    let mut rng = rng_for(seed, &[7, subject as u64, take as u64, view as u64]);
                    let mut text = String::with_capacity(frames.len() * 150 * 9);
                    for f in &frames {
                        let mut first = true;
                        for person in f {
                            for v in 0..25 {
                                let p = match person {
                                    Some(j) => {
                                        rot * (j[v] - pos)
                                            + DVec3::new(
                                                normal(&mut rng),
                                                normal(&mut rng),
                                                normal(&mut rng),
                                            ) * c.noise
                                    }
                                    None => DVec3::ZERO,
                                };
                                for x in [p.x, p.y, p.z] {
                                    if !first {
                                        text.push(' ');
                                    }
                                    first = false;
                                    let _ = write!(text, "{x:.5}");
                                }
                            }
                        }
                        text.push('\n');
                    }
                    let stem = c.name(subject, take, view);
                    let sp = skel_dir.join(format!("{stem}.txt"));
                    std::fs::write(&sp, &text).at("write", &sp)?;
                    let lp = label_dir.join(format!("{stem}.txt"));
                    std::fs::write(&lp, &labels).at("write", &lp)?;
                    written += (text.len() + labels.len()) as u64;
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n * VIEWS.len(), total * VIEWS.len());
                Ok(written)
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    // the split files, as PKU-MMD distributes them
    let names = |keep: &dyn Fn(usize, usize) -> bool| -> String {
        jobs.iter()
            .flat_map(|&(s, t)| (0..VIEWS.len()).map(move |v| (s, t, v)))
            .filter(|&(s, _, v)| keep(s, v))
            .map(|(s, t, v)| c.name(s, t, v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    /// Whether (subject, view) trains in a split.
    type InTrain<'a> = &'a dyn Fn(usize, usize) -> bool;
    let xsub = |s: usize, _v: usize| c.train_subject(s);
    let xview = |_s: usize, v: usize| v != 0;
    let [(_, xsub_file), (_, xview_file)] = split_names(c.phase);
    let splits: [(&str, InTrain); 2] = [(xsub_file, &xsub), (xview_file, &xview)];
    for (file, train) in splits {
        let text = format!(
            "Training videos:\n{}\nValidataion videos:\n{}\n",
            names(&|s, v| train(s, v)),
            names(&|s, v| !train(s, v))
        );
        let p = out_dir.join(file);
        std::fs::write(&p, text).at("write", &p)?;
    }
    let report = SynthReport {
        files: total * VIEWS.len(),
        bytes: bytes.iter().sum(),
    };
    let info = serde_json::json!({
        "kind": KIND,
        "seed": seed,
        "plan": {"phase": c.phase, "classes": c.classes, "subjects": c.subjects, "takes": c.takes(), "per_video": c.per_video, "views": 3, "noise": c.noise},
        "class_names": super::class_names(c.classes),
        "files": report.files,
        "bytes": report.bytes,
    });
    super::super::dataset::write_json(&out_dir.join(SYNTH_JSON), &info)?;
    Ok(report)
}

impl Params for PkuCorpus {
    fn validate(&self) -> Vec<ParamError> {
        let mut e: Vec<ParamError> = phase_problem(self.phase).into_iter().collect();
        if !(2..=super::motions::ACTIONS.len().min(51)).contains(&self.classes) {
            e.push(ParamError::at(
                "classes",
                "must be 2..=51 (PKU-MMD's action ids)",
            ));
        }
        if !(2..=99).contains(&self.subjects) {
            e.push(ParamError::at(
                "subjects",
                "must be 2..=99 (two digits in the video names)",
            ));
        }
        if self.per_video == 0 || self.takes() > 99 {
            e.push(ParamError::at(
                "per_video",
                "must be >= 1, with at most 99 takes per subject",
            ));
        }
        if !(0.0..=1.0).contains(&self.noise) {
            e.push(ParamError::at("noise", "must be in 0..=1 (metres)"));
        }
        e
    }
}

/// `synth.pku`: the synthetic PKU-MMD corpus (phase 2 by default) as files, for `pku.import`'s `root`
/// (`${synth.output}`); `pku.import` without a root generates the default one itself.
pub struct SynthPku;

impl Kind for SynthPku {
    type Params = PkuCorpus;
    const NAME: &'static str = KIND;
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "write a deterministic synthetic PKU-MMD corpus, phase 1 or 2 (untrimmed skeleton + label files, views L/M/R, split files) for pku.import";
    fn run(&self, ctx: &StageContext, p: PkuCorpus) -> Result<(), StageError> {
        let r = generate_pku(&p, ctx.seed, &ctx.out_dir, ctx.threads, |done, total| {
            ctx.progress(done as u64, total as u64, &format!("{done}/{total} videos"))
        })?;
        eprintln!(
            "{}: wrote {} videos ({:.1} MB)",
            ctx.instance,
            r.files,
            r.bytes as f64 / 1e6
        );
        Ok(())
    }
}
