//! `npy.import`: the arrays the reference repositories' gendata scripts write → the same
//! dataset artifact as `ntu.import`, so every downstream stage works unchanged.
//!
//! One benchmark folder (`NTU-RGB-D/xview`) holds `{train,val}_<data>.npy` of shape
//! (N, 3, T, 25, 2) float32 and `{train,val}_label.pkl`, a pickled `(sample_names, labels)`
//! (ML-FACTS §1.2, §1.4, §1.5). The arrays are memory-mapped and copied chunk by chunk;
//! rows are written in sample-name order, as `ntu.import` orders its files, so both imports
//! of the same samples give the same rows. The folder's train / val lists are the named
//! benchmark's split; the other NTU benchmarks are derived from the sample names, as
//! `ntu.import` derives them all.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::{DataFacts, DataOrigin};

use super::dataset::{DatasetMeta, DatasetWriter, SampleInfo, SplitFile, Variant};
use super::ntu_format::NtuName;
use super::preprocess::{FRAME50, frame50_into};
use super::provenance::{self, file_list_digest, ntu_dataset};
use super::skeleton::{CHANNELS, MAX_BODIES, NUM_JOINTS};
use super::splits::ntu_benchmarks;
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError};

const BENCHMARKS: [&str; 4] = ["ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset"];
const PARTS: [(&str, bool); 2] = [("train", true), ("val", false)];

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NpyImportParams {
    /// One benchmark's folder of gendata outputs (e.g. `data/NTU-RGB-D/xview`), relative to
    /// the pipeline file.
    pub root: String,
    /// The benchmark whose train / val lists the folder holds: `ntu60-xsub`, `ntu60-xview`,
    /// `ntu120-xsub` or `ntu120-xset`.
    pub benchmark: String,
    /// What the arrays hold, as named by the repository that wrote them: `stgcn_raw`
    /// (ST-GCN / AimCLR / ActCLR / AS-CAL `{part}_data.npy`, 300 frames), `agcn_prenorm`
    /// (CMD / ISC / A2MC `{part}_data_joint.npy`; valid frames from `{part}_num_frame.npy`
    /// where present) or `frame50` (AimCLR / ActCLR `{part}_position.npy`).
    pub holds: Variant,
    /// The variant to store; empty: what the arrays hold. `frame50` of `stgcn_raw` arrays
    /// is computed as AimCLR's preprocessing does (`ntu.import`'s `frame50`).
    pub variant: Option<Variant>,
}

impl Default for NpyImportParams {
    fn default() -> Self {
        NpyImportParams {
            root: String::new(),
            benchmark: String::new(),
            holds: Variant::StgcnRaw,
            variant: None,
        }
    }
}

impl NpyImportParams {
    fn target(&self) -> Variant {
        self.variant.unwrap_or(self.holds)
    }

    /// `{part}_<this>.npy`.
    fn data_suffix(&self) -> &'static str {
        match self.holds {
            Variant::StgcnRaw => "data",
            Variant::AgcnPrenorm => "data_joint",
            Variant::Frame50 => "position",
        }
    }

    fn files(&self, root: &Path, part: &str) -> (PathBuf, PathBuf) {
        (
            root.join(format!("{part}_{}.npy", self.data_suffix())),
            root.join(format!("{part}_label.pkl")),
        )
    }
}

impl Params for NpyImportParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.root.trim().is_empty() {
            e.push(ParamError::at("root", "is empty").with_hint(
                "give the folder of one benchmark's gendata outputs, e.g. `data/NTU-RGB-D/xview`",
            ));
        }
        if !BENCHMARKS.contains(&self.benchmark.as_str()) {
            e.push(
                ParamError::at(
                    "benchmark",
                    format!("`{}` is not an NTU benchmark", self.benchmark),
                )
                .with_hint(format!("use one of {}", BENCHMARKS.join(", "))),
            );
        }
        let target = self.target();
        if target != self.holds && !(self.holds == Variant::StgcnRaw && target == Variant::Frame50)
        {
            e.push(
                ParamError::at(
                    "variant",
                    format!(
                        "cannot make `{target}` from `{}` arrays: only `frame50` can be computed, from `stgcn_raw`",
                        self.holds
                    ),
                )
                .with_hint("leave `variant` empty to store the arrays as they are"),
            );
        }
        e
    }
}

/// One part's arrays, memory-mapped.
struct Part {
    data_path: PathBuf,
    map: memmap2::Mmap,
    /// Byte offset of the first value.
    offset: usize,
    frames: usize,
    names: Vec<String>,
    labels: Vec<i64>,
    /// CMD's `{part}_num_frame.npy`: each sample's valid frames (its arrays are padded by
    /// repetition, so they cannot be told from the values).
    valid_frames: Option<Vec<usize>>,
}

impl Part {
    fn open(
        data_path: PathBuf,
        label_path: &Path,
        frames_path: Option<PathBuf>,
    ) -> Result<Part, StageError> {
        let file = std::fs::File::open(&data_path).at("open", &data_path)?;
        // SAFETY: read-only map of a file this stage does not write; a concurrent writer
        // would be a user error, as with any input file.
        let map = unsafe { memmap2::Mmap::map(&file) }.at("map", &data_path)?;
        let bad = |m: String| StageError::bad_file(&data_path, m);
        let npy = npyz::NpyFile::new(&map[..]).map_err(|e| bad(format!("not a .npy file: {e}")))?;
        let dtype = npy.dtype().descr();
        if !matches!(dtype.as_str(), "'<f4'" | "'float32'") {
            return Err(bad(format!(
                "holds {dtype} values; the gendata arrays are float32 ('<f4')"
            )));
        }
        if npy.order() != npyz::Order::C {
            return Err(bad("is in Fortran order; save it in C order".into()));
        }
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let [n, c, t, v, m] = shape[..] else {
            return Err(bad(format!(
                "has shape {shape:?}; expected (N, 3, T, 25, 2)"
            )));
        };
        if (c, v, m) != (CHANNELS, NUM_JOINTS, MAX_BODIES) {
            return Err(bad(format!(
                "has shape {shape:?}; expected (N, 3, T, 25, 2)"
            )));
        }
        let bytes = n * c * t * v * m * 4;
        // the values follow the header: magic (6), version (2), header length (2 bytes in
        // format 1, 4 in later ones), header
        let offset = match map[6] {
            1 => 10 + u16::from_le_bytes([map[8], map[9]]) as usize,
            _ => 12 + u32::from_le_bytes([map[8], map[9], map[10], map[11]]) as usize,
        };
        if map.len() < offset + bytes {
            return Err(bad(format!(
                "is truncated: its header says {shape:?} ({bytes} bytes of values) but {} bytes follow it",
                map.len().saturating_sub(offset)
            )));
        }
        let (names, labels) = read_labels(label_path)?;
        if names.len() != labels.len() || names.len() != n {
            return Err(StageError::input(format!(
                "{}: {} sample names and {} labels for the {n} samples of {}",
                label_path.display(),
                names.len(),
                labels.len(),
                data_path.display()
            )));
        }
        let valid_frames = match frames_path.filter(|p| p.is_file()) {
            Some(p) => {
                let v = crate::learn::dataset::read_npy_int(&p)?;
                if v.len() != n {
                    return Err(StageError::bad_file(
                        &p,
                        format!(
                            "holds {} frame counts for the {n} samples of {}",
                            v.len(),
                            data_path.display()
                        ),
                    ));
                }
                Some(v)
            }
            None => None,
        };
        Ok(Part {
            data_path,
            map,
            offset,
            frames: t,
            names,
            labels,
            valid_frames,
        })
    }

    fn sample(&self, i: usize) -> Vec<f32> {
        let len = CHANNELS * self.frames * NUM_JOINTS * MAX_BODIES;
        let start = self.offset + i * len * 4;
        self.map[start..start + len * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

/// `(sample_names, labels)` as gendata pickles it.
fn read_labels(path: &Path) -> Result<(Vec<String>, Vec<i64>), StageError> {
    let bytes = std::fs::read(path).at("read", path)?;
    serde_pickle::from_slice(&bytes, serde_pickle::DeOptions::new()).map_err(|e| {
        StageError::bad_file(
            path,
            format!(
                "is not a pickled (sample_names, labels) pair as the gendata scripts write ({e}); labels must be Python ints"
            ),
        )
    })
}

/// Frames up to the last one with any non-zero value, and persons with any.
fn extent(x: &[f32], t_len: usize) -> (usize, usize) {
    let step = NUM_JOINTS * MAX_BODIES;
    let mut last = 0;
    let mut persons = [false; MAX_BODIES];
    for c in 0..CHANNELS {
        for t in 0..t_len {
            let row = &x[(c * t_len + t) * step..(c * t_len + t + 1) * step];
            for (k, &val) in row.iter().enumerate() {
                if val != 0.0 {
                    last = last.max(t + 1);
                    persons[k % MAX_BODIES] = true;
                }
            }
        }
    }
    (last, persons.iter().filter(|&&p| p).count())
}

pub struct NpyImport;

impl Kind for NpyImport {
    type Params = NpyImportParams;
    const NAME: &'static str = "npy.import";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "the reference repositories' gendata arrays ({train,val}_data.npy + _label.pkl of one benchmark) -> the dataset artifact of ntu.import";

    fn external_inputs(&self, p: &NpyImportParams) -> Vec<PathBuf> {
        vec![PathBuf::from(&p.root)]
    }

    fn check_external(&self, p: &NpyImportParams, given: &Path, resolved: &Path) -> Option<String> {
        let missing: Vec<String> = PARTS
            .iter()
            .flat_map(|(part, _)| {
                let (d, l) = p.files(resolved, part);
                [d, l]
            })
            .filter(|f| !f.is_file())
            .map(|f| {
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{} lacks {} (`holds: {}` reads {{train,val}}_{}.npy and {{train,val}}_label.pkl)",
                given.display(),
                missing.join(", "),
                p.holds,
                p.data_suffix()
            )
        })
    }

    fn run(&self, ctx: &StageContext, p: NpyImportParams) -> Result<(), StageError> {
        let root = ctx.resolve(&p.root);
        let parts: Vec<(Part, bool)> = PARTS
            .iter()
            .map(|(part, train)| {
                let (d, l) = p.files(&root, part);
                let frames = (p.holds == Variant::AgcnPrenorm)
                    .then(|| root.join(format!("{part}_num_frame.npy")));
                Part::open(d, &l, frames).map(|x| (x, *train))
            })
            .collect::<Result<_, _>>()?;
        let target = p.target();
        // every sample, in name order: (name, part, row)
        let mut order: Vec<(NtuName, usize, usize)> = Vec::new();
        for (k, (part, _)) in parts.iter().enumerate() {
            if target == p.holds && part.frames != target.frames() {
                return Err(StageError::bad_file(
                    &part.data_path,
                    format!(
                        "has {} frames per sample; `{}` arrays have {}",
                        part.frames,
                        p.holds,
                        p.holds.frames()
                    ),
                ));
            }
            for (i, name) in part.names.iter().enumerate() {
                let parsed = NtuName::parse(name).ok_or_else(|| {
                    StageError::bad_file(
                        root.join(format!("{}_label.pkl", PARTS[k].0)),
                        format!("sample {i} is named `{name}`, not an NTU RGB+D sample name (SsssCcccPpppRrrrAaaa)"),
                    )
                })?;
                order.push((parsed, k, i));
            }
        }
        order.sort_by_key(|(n, _, _)| n.stem());
        let mut writer = DatasetWriter::create(&ctx.out_dir, target)?;
        let mut file_split = SplitFile {
            benchmark: p.benchmark.clone(),
            train: Vec::new(),
            test: Vec::new(),
        };
        const CHUNK: usize = 256;
        for (c, chunk) in order.chunks(CHUNK).enumerate() {
            let mut rows = Vec::with_capacity(chunk.len());
            for (j, (name, k, i)) in chunk.iter().enumerate() {
                let (part, train) = &parts[*k];
                let mut x = part.sample(*i);
                let (mut frames, bodies) = extent(&x, part.frames);
                if let Some(valid) = &part.valid_frames {
                    frames = valid[*i].min(part.frames);
                }
                if target != p.holds {
                    let mut out = vec![0f32; target.sample_len()];
                    frame50_into(&mut x, &mut out).map_err(|e| {
                        StageError::bad_file(
                            &part.data_path,
                            format!("sample {i} ({}): {e}", name.stem()),
                        )
                    })?;
                    x = out;
                    frames = FRAME50;
                }
                let label = part.labels[*i];
                if !(0..120).contains(&label) {
                    return Err(StageError::bad_file(
                        root.join(format!("{}_label.pkl", PARTS[*k].0)),
                        format!("sample {i} has label {label}; NTU labels are 0..119"),
                    ));
                }
                let row = c * CHUNK + j;
                if *train {
                    file_split.train.push(row);
                } else {
                    file_split.test.push(row);
                }
                let info = SampleInfo::of_ntu(name, label as usize, frames, frames, bodies);
                rows.push((info, x));
            }
            writer.write_batch(rows)?;
            ctx.progress(
                (c * CHUNK + chunk.len()) as u64,
                order.len() as u64,
                "samples",
            );
        }
        if writer.is_empty() {
            return Err(StageError::input(format!(
                "{}: the train and val arrays hold no samples",
                root.display()
            )));
        }
        let num_classes = writer
            .infos()
            .iter()
            .map(|s| s.label as usize + 1)
            .max()
            .unwrap_or(0);
        let mut splits: Vec<SplitFile> = ntu_benchmarks(writer.infos())
            .into_iter()
            .filter(|s| s.benchmark != p.benchmark)
            .collect();
        splits.push(file_split);
        let mut meta = DatasetMeta::new("ntu", num_classes, 0);
        meta.extra.insert("arrays".into(), p.holds.name().into());
        let infos = writer.finish(meta, &splits, &[])?;
        let names: Vec<NtuName> = order.iter().map(|(n, _, _)| *n).collect();
        let facts = DataFacts {
            dataset: ntu_dataset(names.iter()).into(),
            origin: DataOrigin::Real {
                root: p.root.clone(),
            },
            files: 2 * PARTS.len(),
            samples: infos.len(),
            classes: num_classes,
            file_list_digest: file_list_digest(names.iter().map(NtuName::stem)),
            variant: target.name().into(),
            frames: target.frames(),
        };
        provenance::write(&ctx.out_dir, &facts)
    }
}
