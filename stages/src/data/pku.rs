//! `pku.import`: PKU-MMD phase 1 / phase 2 skeleton + label files and the official split
//! files → action instances in the same dataset artifact as `ntu.import` (ML-FACTS §7.5).
//!
//! Layout of `root` (as distributed, and as CMD / AimCLR read it):
//! - `skeleton/<video>.txt`: one line per frame, 150 numbers: person 1 `x1 y1 z1 … z25`, then
//!   person 2 (all zero when there is one person).
//! - `label/<video>.txt`: `action,start,end,confidence` per instance, frames 1-based.
//! - split files: phase 1 `cross-subject.txt` / `cross-view.txt`, phase 2
//!   `cross_subject_v2.txt` / `cross_view_v2.txt`; line 2 lists the training videos and line
//!   4 the test videos, comma separated.
//!
//! Instances follow the reference of each variant: `stgcn_raw` / `frame50` take frames
//! `start..=end` and centre-crop to 300 frames (AimCLR `pku_part*_skeleton.py` +
//! `pku_read_skeleton.py`); `agcn_prenorm` takes `seq[start:end]` (0-based slicing with the
//! 1-based numbers, i.e. one frame later) truncated to 300, both persons as listed, then
//! `pre_normalization` (CMD `pku_gendata.py`). Names are AimCLR's:
//! `A0aaN0nnVvvvCcccLiii` (phase 2) and `FfffVvvvCcccLiii` (phase 1). `provenance.json`
//! records the release (phase), `root` as the pipeline wrote it and the videos read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::{DataFacts, DataOrigin};

use super::dataset::{BadFile, DatasetMeta, DatasetWriter, SampleInfo, SplitFile, Variant};
use super::ntu_format::{ParseError, SkeletonSequence, parse_values};
use super::ntu_import::{OnError, bad_files_summary};
use super::preprocess::{MAX_FRAMES, pre_normalized, prepare};
use super::provenance::{self, SynthCorpus, file_list_digest, file_name, pku_dataset};
use super::segments::{Action, SegmentedVideo, Segments, Window, WindowParams, plan_windows};
use super::skeleton::NUM_JOINTS;
use super::synth::pku::{PkuCorpus, generate_pku};
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError};

/// Values per PKU-MMD skeleton line: 2 persons × 25 joints × 3.
pub const PKU_VALUES: usize = 150;
/// PKU-MMD defines 51 action classes (phase 2 uses a subset of the ids).
pub const PKU_CLASSES: usize = 51;

/// Parse a PKU-MMD skeleton file: frames × 150 values, row-major.
pub fn parse_pku_skeleton(bytes: &[u8], file: &Path) -> Result<Vec<f32>, ParseError> {
    let mut out = Vec::with_capacity(bytes.len() / 6);
    let mut vals = [0f64; PKU_VALUES];
    for (i, line) in bytes.split(|&c| c == b'\n').enumerate() {
        if line.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        parse_values::<PKU_VALUES>(line, &mut vals).map_err(|m| ParseError {
            file: file.to_path_buf(),
            line: Some(i + 1),
            message: format!("skeleton frame: {m}"),
        })?;
        out.extend(vals.iter().map(|&v| v as f32));
    }
    if out.is_empty() {
        return Err(ParseError::file(
            file,
            "no frames: a PKU-MMD skeleton file has one line of 150 numbers per frame",
        ));
    }
    Ok(out)
}

/// One labelled instance (frames 1-based, inclusive as written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PkuLabel {
    pub action: u16,
    pub start: usize,
    pub end: usize,
}

/// Parse a label file: `action,start,end,confidence` rows.
pub fn parse_pku_labels(text: &str, file: &Path) -> Result<Vec<PkuLabel>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: String| ParseError {
            file: file.to_path_buf(),
            line: Some(i + 1),
            message: m,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 3 {
            return Err(err(format!(
                "expected `action,start,end,confidence`, found `{line}`"
            )));
        }
        // numpy.loadtxt reads them as floats; whole numbers are expected.
        let num = |k: usize, what: &str| -> Result<usize, ParseError> {
            let v: f64 = fields[k]
                .parse()
                .map_err(|_| err(format!("{what} `{}` is not a number", fields[k])))?;
            if v < 0.0 || v.fract() != 0.0 {
                return Err(err(format!(
                    "{what} `{}` is not a whole non-negative number",
                    fields[k]
                )));
            }
            Ok(v as usize)
        };
        let (action, start, end) = (
            num(0, "action")?,
            num(1, "start frame")?,
            num(2, "end frame")?,
        );
        if !(1..=PKU_CLASSES).contains(&action) {
            return Err(err(format!("action {action} is outside 1..={PKU_CLASSES}")));
        }
        if start < 1 || end < start {
            return Err(err(format!(
                "frames {start}..{end} are not a 1-based range with start ≤ end"
            )));
        }
        out.push(PkuLabel {
            action: action as u16,
            start,
            end,
        });
    }
    Ok(out)
}

/// Training and test video names of a split file (line 2 and line 4, comma separated).
pub fn parse_split_file(
    text: &str,
    file: &Path,
) -> Result<(HashSet<String>, HashSet<String>), ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 2 {
        return Err(ParseError::file(
            file,
            "a PKU-MMD split file has 4 lines: a header, the training videos, a header, the test videos",
        ));
    }
    let names = |l: &str| {
        l.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok((
        names(lines[1]),
        lines.get(3).map(|l| names(l)).unwrap_or_default(),
    ))
}

/// The parts of a video name: phase 1 `0002-L`, phase 2 `A10N08-L`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PkuVideo {
    /// Phase 1: the video number; phase 2: the `A` group.
    pub group: u16,
    /// Phase 2: the `N` number; phase 1: 0.
    pub subject: u16,
    /// L = 1, M = 2, R = 3.
    pub view: u16,
}

impl PkuVideo {
    pub fn parse(stem: &str, phase: u8) -> Option<PkuVideo> {
        let (id, view) = stem.rsplit_once('-')?;
        let view = match view {
            "L" => 1,
            "M" => 2,
            "R" => 3,
            _ => return None,
        };
        let digits = |s: &str| {
            (!s.is_empty() && s.len() <= 4 && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        match phase {
            1 => Some(PkuVideo {
                group: digits(id)?,
                subject: 0,
                view,
            }),
            _ => {
                let rest = id.strip_prefix('A')?;
                let (a, n) = rest.split_once('N')?;
                Some(PkuVideo {
                    group: digits(a)?,
                    subject: digits(n)?,
                    view,
                })
            }
        }
    }

    /// Sample `k` (0-based) of this video, of the 1-based class id `action`, from what
    /// [`instance`] cut: its values, valid frames, frames in the source and bodies.
    fn sample(
        &self,
        phase: u8,
        action: u16,
        k: usize,
        (data, frames, raw, bodies): (Vec<f32>, usize, usize, usize),
    ) -> (SampleInfo, Vec<f32>) {
        (
            SampleInfo {
                name: self.instance_name(phase, action, k + 1),
                setup: self.group as i32,
                camera: self.view as i32,
                subject: self.subject as i32,
                replication: k as i32 + 1,
                label: action as i32 - 1,
                frames: frames as i32,
                raw_frames: raw as i32,
                bodies: bodies as i32,
            },
            data,
        )
    }

    /// AimCLR's instance name.
    pub fn instance_name(&self, phase: u8, class: u16, index: usize) -> String {
        match phase {
            1 => format!(
                "F{:03}V{:03}C{:03}L{:03}",
                self.group, self.view, class, index
            ),
            _ => format!(
                "A{:03}N{:03}V{:03}C{:03}L{:03}",
                self.group, self.subject, self.view, class, index
            ),
        }
    }
}

/// The instance `label` of a video (`frames` × 150) preprocessed as `variant`.
pub fn instance(
    frames: &[f32],
    label: &PkuLabel,
    variant: Variant,
) -> Result<(Vec<f32>, usize, usize, usize), String> {
    let n = frames.len() / PKU_VALUES;
    if label.end > n {
        return Err(format!(
            "instance frames {}..={} go beyond the video's {n} frames",
            label.start, label.end
        ));
    }
    let row = |t: usize| &frames[t * PKU_VALUES..(t + 1) * PKU_VALUES];
    let person_present = |t: usize| row(t)[75..].iter().any(|&v| v != 0.0);
    match variant {
        Variant::AgcnPrenorm => {
            // CMD: seq[start:end], both persons as listed, truncated to 300 frames.
            let rows: Vec<usize> = (label.start..label.end).collect();
            let t_len = MAX_FRAMES;
            let mut s = vec![0f32; 2 * t_len * NUM_JOINTS * 3];
            for (t, &r) in rows.iter().take(t_len).enumerate() {
                for m in 0..2 {
                    let src = &row(r)[m * 75..(m + 1) * 75];
                    s[(m * t_len + t) * 75..(m * t_len + t + 1) * 75].copy_from_slice(src);
                }
            }
            let bodies = if rows.iter().any(|&t| person_present(t)) {
                2
            } else {
                1
            };
            let p = pre_normalized(s, rows.len());
            Ok((p.data, p.frames, rows.len(), bodies))
        }
        Variant::StgcnRaw | Variant::Frame50 => {
            // AimCLR: frames start..=end, centre-cropped to 300; person 2 listed when present.
            let (mut a, mut b) = (label.start - 1, label.end);
            if b - a > MAX_FRAMES {
                a += (b - a - MAX_FRAMES) / 2;
                b = a + MAX_FRAMES;
            }
            let mut seq = SkeletonSequence::default();
            for t in a..b {
                let listed = if person_present(t) { 2 } else { 1 };
                seq.frame_bodies.push(listed as u16);
                for j in 0..listed * NUM_JOINTS {
                    let r = row(t);
                    seq.joints.push([r[j * 3], r[j * 3 + 1], r[j * 3 + 2]]);
                }
            }
            let bodies = seq.max_bodies();
            let p = prepare(&seq, variant)?;
            Ok((p.data, p.frames, label.end - label.start + 1, bodies))
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PkuImportParams {
    /// PKU-MMD folder (relative to the pipeline file) with `skeleton/`, `label/` and the split
    /// files. Empty: generate skelflow's synthetic PKU-MMD corpus of this `phase` (12 classes, 10
    /// subjects, untrimmed videos of 6 actions, views L/M/R) and import that.
    pub root: String,
    /// 1 or 2.
    pub phase: u8,
    pub variant: Variant,
    /// Folder of skeleton files, relative to `root`.
    pub skeleton_dir: String,
    /// Folder of label files, relative to `root`.
    pub label_dir: String,
    /// Folder of the split files, relative to `root`.
    pub split_dir: String,
    pub on_error: OnError,
    /// Cut each untrimmed video into overlapping windows instead of its action instances
    /// (for `eval.segment`): `{length: 50, stride: 10}`. A window's label is the class of
    /// its centre frame, or background (class 52, index 51) between actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowParams>,
}

impl Default for PkuImportParams {
    fn default() -> Self {
        PkuImportParams {
            root: String::new(),
            phase: 2,
            variant: Variant::Frame50,
            skeleton_dir: "skeleton".into(),
            label_dir: "label".into(),
            split_dir: ".".into(),
            on_error: OnError::Fail,
            windows: None,
        }
    }
}

impl Params for PkuImportParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e: Vec<ParamError> = phase_problem(self.phase).into_iter().collect();
        if let Some(w) = &self.windows {
            e.extend(w.validate());
        }
        e
    }
}

/// What [`import_pku`] did.
#[derive(Clone, Debug, Default)]
pub struct PkuReport {
    pub videos: usize,
    pub samples: usize,
    pub bad_files: Vec<BadFile>,
}

/// A `phase` that is not PKU-MMD's 1 or 2.
pub(crate) fn phase_problem(phase: u8) -> Option<ParamError> {
    (!(1..=2).contains(&phase)).then(|| {
        ParamError::at("phase", format!("{phase} is not a PKU-MMD phase")).with_hint("use 1 or 2")
    })
}

/// The benchmarks of a phase and their split files.
pub(crate) fn split_names(phase: u8) -> [(&'static str, &'static str); 2] {
    match phase {
        1 => [("xsub", "cross-subject.txt"), ("xview", "cross-view.txt")],
        _ => [
            ("xsub", "cross_subject_v2.txt"),
            ("xview", "cross_view_v2.txt"),
        ],
    }
}

/// Import a PKU-MMD folder. `p.root` is what `provenance.json` records as the origin; the
/// files are read from `root` (`p.root` resolved).
pub fn import_pku(
    root: &Path,
    out_dir: &Path,
    p: &PkuImportParams,
    threads: usize,
) -> Result<PkuReport, StageError> {
    let origin = DataOrigin::Real {
        root: p.root.clone(),
    };
    import_pku_from(root, out_dir, p, threads, origin)
}

/// [`import_pku`] of files whose origin `provenance.json` records as `origin`.
pub fn import_pku_from(
    root: &Path,
    out_dir: &Path,
    p: &PkuImportParams,
    threads: usize,
    origin: DataOrigin,
) -> Result<PkuReport, StageError> {
    let skel_dir = root.join(&p.skeleton_dir);
    let label_dir = root.join(&p.label_dir);
    let mut videos: Vec<PathBuf> = std::fs::read_dir(&skel_dir)
        .map_err(|e| {
            StageError::param(
                "root",
                format!(
                    "cannot list {} ({e}); set `root` to the PKU-MMD folder, `skeleton_dir` to its skeleton folder",
                    skel_dir.display()
                ),
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    videos.sort();
    if videos.is_empty() {
        return Err(StageError::param(
            "skeleton_dir",
            format!(
                "{}: no .txt skeleton files there; set `root` to the PKU-MMD folder, `skeleton_dir` to its skeleton folder",
                skel_dir.display()
            ),
        ));
    }
    // Split files first: a missing one is a setup error, not a bad file.
    let mut splits_train = Vec::new();
    for (bench, file) in split_names(p.phase) {
        let path = root.join(&p.split_dir).join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            StageError::param(
                "split_dir",
                format!(
                    "cannot read the PKU-MMD split file {} ({e}); set `split_dir` to the folder of the split files",
                    path.display()
                ),
            )
        })?;
        let (train, _test) = parse_split_file(&text, &path)?;
        splits_train.push((format!("pku{}-{bench}", p.phase), train));
    }

    let mut writer = DatasetWriter::create(out_dir, p.variant)?;
    let mut report = PkuReport {
        videos: videos.len(),
        ..Default::default()
    };
    let mut video_of = Vec::new();
    let mut segments = p.windows.map(|window| Segments {
        window,
        classes: PKU_CLASSES + 1,
        background: PKU_CLASSES,
        videos: Vec::new(),
        windows: Vec::new(),
    });
    let pool = super::worker_pool(threads)?;
    for chunk in videos.chunks(16) {
        let results: Vec<Result<VideoCut, BadFile>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|v| one_video(v, &label_dir, p))
                .collect()
        });
        let mut rows = Vec::new();
        for (r, v) in results.into_iter().zip(chunk) {
            match r {
                Ok(cut) => {
                    let stem = v
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    video_of.extend(std::iter::repeat_n(stem, cut.samples.len()));
                    rows.extend(cut.samples);
                    if let (Some(seg), Some((video, windows))) = (&mut segments, cut.windows) {
                        let index = seg.videos.len();
                        seg.videos.push(video);
                        seg.windows
                            .extend(windows.into_iter().map(|w| Window { video: index, ..w }));
                    }
                }
                Err(b) => report.bad_files.push(b),
            }
        }
        writer.write_batch(rows)?;
    }
    if !report.bad_files.is_empty() && p.on_error == OnError::Fail {
        return Err(StageError::input(bad_files_summary(
            &skel_dir,
            &report.bad_files,
            videos.len(),
        )));
    }
    if writer.is_empty() {
        return Err(StageError::input(format!(
            "{}: no instance could be imported",
            root.display()
        )));
    }
    let splits: Vec<SplitFile> = splits_train
        .iter()
        .map(|(name, train)| {
            let (mut tr, mut te) = (Vec::new(), Vec::new());
            for (i, v) in video_of.iter().enumerate() {
                if train.contains(v) {
                    tr.push(i)
                } else {
                    te.push(i)
                }
            }
            SplitFile {
                benchmark: name.clone(),
                train: tr,
                test: te,
            }
        })
        .collect();
    let num_classes = match &segments {
        Some(seg) => seg.classes,
        None => writer
            .infos()
            .iter()
            .map(|s| s.label as usize + 1)
            .max()
            .unwrap_or(0)
            .max(PKU_CLASSES),
    };
    let mut meta = DatasetMeta::new(&format!("pku{}", p.phase), num_classes, 0);
    meta.extra.insert("videos".into(), videos.len().into());
    if let Some(seg) = &segments {
        meta.extra.insert(
            "windows".into(),
            serde_json::to_value(seg.window).expect("plain"),
        );
        seg.write(out_dir)?;
    }
    let infos = writer.finish(meta, &splits, &report.bad_files)?;
    report.samples = infos.len();
    let facts = DataFacts {
        dataset: pku_dataset(p.phase).into(),
        origin,
        files: videos.len(),
        samples: report.samples,
        classes: num_classes,
        file_list_digest: file_list_digest(videos.iter().map(|v| file_name(v))),
        variant: p.variant.name().into(),
        frames: p.variant.frames(),
    };
    provenance::write(out_dir, &facts)?;
    Ok(report)
}

/// The samples of one video (action instances, or windows), each with its clip's values;
/// for windows also the video's frame labels and each window's frames.
struct VideoCut {
    samples: Vec<(SampleInfo, Vec<f32>)>,
    windows: Option<(SegmentedVideo, Vec<Window>)>,
}

fn one_video(path: &Path, label_dir: &Path, p: &PkuImportParams) -> Result<VideoCut, BadFile> {
    let shown = path.display().to_string();
    let bad = |error: String| BadFile {
        file: shown.clone(),
        error,
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let video = PkuVideo::parse(&stem, p.phase).ok_or_else(|| {
        bad(format!(
            "{shown}: `{stem}` is not a PKU-MMD phase {} video name ({}); rename it or set `phase`",
            p.phase,
            if p.phase == 1 {
                "e.g. 0002-L"
            } else {
                "e.g. A01N01-L"
            }
        ))
    })?;
    let bytes = std::fs::read(path).map_err(|e| bad(format!("{shown}: cannot read: {e}")))?;
    let frames = parse_pku_skeleton(&bytes, path).map_err(|e| bad(e.to_string()))?;
    let label_path = label_dir.join(format!("{stem}.txt"));
    let text = std::fs::read_to_string(&label_path).map_err(|e| {
        bad(format!(
            "{}: cannot read the label file of {stem}: {e}",
            label_path.display()
        ))
    })?;
    let labels = parse_pku_labels(&text, &label_path).map_err(|e| bad(e.to_string()))?;
    if let Some(w) = p.windows {
        return cut_windows(&frames, &labels, w, video, &stem, p)
            .map_err(|e| bad(format!("{}: {e}", label_path.display())));
    }
    let mut out = Vec::with_capacity(labels.len());
    for (k, l) in labels.iter().enumerate() {
        let cut = instance(&frames, l, p.variant)
            .map_err(|e| bad(format!("{}:{}: {e}", label_path.display(), k + 1)))?;
        out.push(video.sample(p.phase, l.action, k, cut));
    }
    Ok(VideoCut {
        samples: out,
        windows: None,
    })
}

/// A video as overlapping windows, each labelled with its centre frame's class.
fn cut_windows(
    frames: &[f32],
    labels: &[PkuLabel],
    w: WindowParams,
    video: PkuVideo,
    stem: &str,
    p: &PkuImportParams,
) -> Result<VideoCut, String> {
    let n = frames.len() / PKU_VALUES;
    let mut actions = Vec::with_capacity(labels.len());
    for (k, l) in labels.iter().enumerate() {
        if l.action == 0 || l.action as usize > PKU_CLASSES {
            return Err(format!(
                "line {}: action {} is not a PKU-MMD action id (1..={PKU_CLASSES}); windows label frames with those ids and background",
                k + 1,
                l.action
            ));
        }
        if l.end > n || l.start == 0 || l.start > l.end {
            return Err(format!(
                "line {}: frames {}..={} are not within the video's {n} frames",
                k + 1,
                l.start,
                l.end
            ));
        }
        actions.push(Action {
            class: l.action as usize - 1,
            first: l.start - 1,
            last: l.end - 1,
        });
    }
    let segmented = SegmentedVideo {
        name: stem.to_string(),
        frames: n,
        actions,
    };
    let truth = segmented.frame_labels(PKU_CLASSES);
    let plan = plan_windows(n, w);
    let mut samples = Vec::with_capacity(plan.len());
    for (k, &Window { start, end, .. }) in plan.iter().enumerate() {
        let class = truth[(start + end) / 2];
        // `instance` cuts as each variant's reference cuts an action (agcn_prenorm slices
        // 0-based with the 1-based numbers): give it the numbers that cut exactly the window
        let window = PkuLabel {
            action: class as u16 + 1,
            start: match p.variant {
                Variant::AgcnPrenorm => start,
                Variant::StgcnRaw | Variant::Frame50 => start + 1,
            },
            end,
        };
        let cut = instance(frames, &window, p.variant)
            .map_err(|e| format!("window {}..{end}: {e}", start + 1))?;
        samples.push(video.sample(p.phase, window.action, k, cut));
    }
    Ok(VideoCut {
        samples,
        windows: Some((segmented, plan)),
    })
}

pub struct PkuImport;

impl Kind for PkuImport {
    type Params = PkuImportParams;
    const NAME: &'static str = "pku.import";
    // 2: the artifact records provenance.json. 3: an empty `root` generates the synthetic
    // corpus.
    const VERSION: u32 = 3;
    const ABOUT: &'static str = "PKU-MMD phase 1/2 skeleton + label + split files (or, without a root, skelflow's synthetic PKU-MMD corpus of that phase) -> Arrow dataset of action instances";
    fn external_inputs(&self, p: &PkuImportParams) -> Vec<PathBuf> {
        if p.root.is_empty() {
            return Vec::new();
        }
        vec![PathBuf::from(&p.root)]
    }
    fn run(&self, ctx: &StageContext, p: PkuImportParams) -> Result<(), StageError> {
        let r = if p.root.is_empty() {
            let scratch = ctx.out_dir.join(super::ntu_import::SYNTHETIC_SCRATCH);
            let corpus = PkuCorpus {
                phase: p.phase,
                ..PkuCorpus::default()
            };
            generate_pku(&corpus, ctx.seed, &scratch, ctx.threads, |done, total| {
                ctx.progress(
                    done as u64,
                    total as u64,
                    &format!("generating {done}/{total} synthetic videos"),
                )
            })?;
            let origin = SynthCorpus::read(&scratch)?
                .expect("the generator wrote synth.json")
                .origin();
            let r = import_pku_from(&scratch, &ctx.out_dir, &p, ctx.threads, origin)?;
            std::fs::remove_dir_all(&scratch).at("remove", &scratch)?;
            r
        } else {
            let root = ctx.resolve(&p.root);
            // a `synth.pku` stage's files are recorded as what they are
            match SynthCorpus::read(&root)? {
                Some(corpus) => {
                    import_pku_from(&root, &ctx.out_dir, &p, ctx.threads, corpus.origin())?
                }
                None => import_pku(&root, &ctx.out_dir, &p, ctx.threads)?,
            }
        };
        eprintln!(
            "{}: imported {} instances from {} videos ({}), {} bad files skipped",
            ctx.instance,
            r.samples,
            r.videos,
            p.variant,
            r.bad_files.len()
        );
        Ok(())
    }
}
