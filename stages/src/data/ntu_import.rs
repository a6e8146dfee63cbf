//! `ntu.import`: a directory of raw NTU RGB+D `.skeleton` files → a dataset artifact
//! (see [`super::dataset`]).
//!
//! Files are taken in sorted name order (as the AimCLR / ActCLR copy of `ntu_gendata` does,
//! so row indices match theirs), parsed and preprocessed in parallel, chunk by chunk, and
//! streamed into the Arrow file one record batch per chunk: memory holds one chunk whatever
//! the corpus size. Bad files are collected and reported together at the end; with
//! `on_error: skip` the good ones are imported and the bad ones listed in `bad_files.json`.
//! `provenance.json` records what was read: the NTU release, real files under `root` or a
//! `synth.ntu` corpus, the files and a digest of their names.
//!
//! With `root` empty the stage generates skelflow's synthetic corpus (`synthetic`, the
//! `synth.ntu` generator's params) into a scratch folder and imports that: a pipeline run on
//! real files has no synthetic stage anywhere in its DAG or its keys.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::{DataFacts, DataOrigin};

use super::dataset::{BadFile, DatasetMeta, DatasetWriter, SampleInfo, Variant};
use super::ntu_format::{NtuName, bad_name_message, read_skeleton_file_with};
use super::preprocess::prepare_into;
use super::provenance::{self, SynthCorpus, file_list_digest, file_name, ntu_dataset};
use super::splits::{missing_list, ntu_benchmarks};
use super::synth::{self, SynthParams, SynthSize};
use crate::kind::Upstream;
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError};

/// What to do with a file that cannot be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Fail the stage, listing every bad file.
    #[default]
    Fail,
    /// Import the good files; list the bad ones in `bad_files.json`.
    Skip,
}

/// The synthetic corpus an import without `root` generates.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Synthetic {
    /// A size preset, `quick` | `small` | `ntu60`; `""`: not set (`quick` when `root` is
    /// empty).
    Size(String),
    /// Every param of the `synth.ntu` generator (`{size: small, classes: 20}`).
    Corpus(SynthParams),
}

skelflow_contract::deserialize_name_or!(
    Synthetic,
    "a corpus size or the synthetic corpus's params",
    Size,
    Corpus
);

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic::Size(String::new())
    }
}

impl Synthetic {
    fn is_unset(&self) -> bool {
        matches!(self, Synthetic::Size(s) if s.is_empty())
    }

    /// The generator's params; `Err` names the sizes for an unknown one.
    fn resolve(&self) -> Result<SynthParams, String> {
        match self {
            Synthetic::Corpus(p) => Ok(p.clone()),
            Synthetic::Size(s) if s.is_empty() => Ok(SynthParams::default()),
            Synthetic::Size(s) => serde_json::from_value::<SynthSize>(serde_json::json!(s))
                .map(|size| SynthParams {
                    size,
                    ..Default::default()
                })
                .map_err(|_| format!("`{s}` is not a corpus size: use quick, small or ntu60")),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NtuImportParams {
    /// Directory of raw `.skeleton` files, relative to the pipeline file (e.g.
    /// `/data/nturgb+d_skeletons`, or `${synth.output}` for a `synth.ntu` stage's files).
    /// Empty: generate skelflow's synthetic corpus (`synthetic`) and import it.
    pub root: String,
    /// The synthetic corpus to generate when `root` is empty: a size (`quick` | `small` |
    /// `ntu60`; empty: quick) or the `synth.ntu` params. Must stay empty when `root` is set.
    pub synthetic: Synthetic,
    /// Preprocessing: `stgcn_raw` (ST-GCN), `agcn_prenorm` (CMD / ISC / A2MC) or `frame50`
    /// (AimCLR / ActCLR).
    pub variant: Variant,
    /// Samples to leave out: `auto` (the published NTU-120 list, which contains the NTU-60
    /// one, except for a `synth.ntu` corpus, whose names mean nothing to it), `ntu120`,
    /// `ntu60`, `none`, or a file with one sample name per line.
    pub missing_list: String,
    /// `fail`: stop and list every bad file; `skip`: import the others and list the bad ones
    /// in `bad_files.json`.
    pub on_error: OnError,
    /// Keep only these action numbers (1-based, the `Aaaa` of the file names); empty: all.
    pub actions: Vec<u32>,
    /// Import at most this many files (after the other filters, in name order); 0: all.
    pub limit: usize,
}

impl Default for NtuImportParams {
    fn default() -> Self {
        NtuImportParams {
            root: String::new(),
            synthetic: Synthetic::default(),
            variant: Variant::Frame50,
            missing_list: "auto".into(),
            on_error: OnError::Fail,
            actions: Vec::new(),
            limit: 0,
        }
    }
}

impl Params for NtuImportParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut errs = Vec::new();
        if !self.root.is_empty() && !self.synthetic.is_unset() {
            errs.push(
                ParamError::at(
                    "synthetic",
                    format!(
                        "a synthetic corpus is asked for together with the data root `{}`",
                        self.root
                    ),
                )
                .with_hint(
                    "give one: clear `synthetic` (the pipelines' `data.synthetic`) to import the files under the root, \
                     or clear `root` (`data.root`) to generate the synthetic corpus",
                ),
            );
        }
        match self.synthetic.resolve() {
            Err(m) => errs.push(ParamError::at("synthetic", m)),
            Ok(p) => errs.extend(p.validate().into_iter().map(|e| e.under("synthetic"))),
        }
        if self.missing_list.trim().is_empty() {
            errs.push(
                ParamError::at("missing_list", "is empty").with_hint(
                    "use `ntu120` (default), `ntu60`, `none` or the path of a list file",
                ),
            );
        }
        for (i, a) in self.actions.iter().enumerate() {
            if !(1..=120).contains(a) {
                errs.push(
                    ParamError::new(
                        vec![
                            crate::params::PathSeg::Key("actions".into()),
                            crate::params::PathSeg::Index(i),
                        ],
                        format!("action {a} is not an NTU action number"),
                    )
                    .with_hint("actions are 1..=120, as in the `Aaaa` part of the file names"),
                );
            }
        }
        errs
    }
}

/// Options of [`import_ntu`].
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub variant: Variant,
    /// `auto`, `ntu120`, `ntu60`, `none` or a path (relative to `base_dir`).
    pub missing_list: String,
    pub base_dir: PathBuf,
    pub on_error: OnError,
    pub actions: Vec<u32>,
    pub limit: usize,
    /// Worker threads (0: rayon's default).
    pub threads: usize,
    /// `root` as the pipeline wrote it, recorded in `provenance.json` for real data (never
    /// a resolved absolute path); `None`: the `root` given to [`import_ntu`].
    pub root_as_written: Option<String>,
}

impl ImportOptions {
    pub fn new(variant: Variant) -> ImportOptions {
        ImportOptions {
            variant,
            missing_list: "auto".into(),
            base_dir: PathBuf::from("."),
            on_error: OnError::Fail,
            actions: Vec::new(),
            limit: 0,
            threads: 0,
            root_as_written: None,
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub samples: usize,
    pub bad_files: Vec<BadFile>,
    pub skipped_missing: usize,
    /// Files in the directory without the `.skeleton` extension.
    pub ignored: usize,
    /// Bytes of `.skeleton` text read.
    pub bytes_read: u64,
}

/// The `.skeleton` files of `root` in name order, and how many other files were ignored.
pub fn list_skeleton_files(root: &Path) -> Result<(Vec<PathBuf>, usize), StageError> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        StageError::param(
            "root",
            format!(
                "cannot list the raw NTU directory {} ({e}); set `root` to the folder of .skeleton files",
                root.display()
            ),
        )
    })?;
    let mut files = Vec::new();
    let mut ignored = 0;
    for e in entries {
        let e = e.at("list", root)?;
        let path = e.path();
        if path.extension().is_some_and(|x| x == "skeleton") {
            files.push(path);
        } else if path.is_file() {
            ignored += 1;
        }
    }
    files.sort();
    Ok((files, ignored))
}

fn no_skeletons(ignored: usize) -> String {
    format!(
        "no .skeleton files there ({ignored} other file{}); point it at the extracted nturgb+d_skeletons folder",
        if ignored == 1 { "" } else { "s" }
    )
}

/// Import the `.skeleton` files of `root` into a dataset artifact in `out_dir`.
/// `progress(done, total)` is called after every chunk.
pub fn import_ntu(
    root: &Path,
    out_dir: &Path,
    opts: &ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, StageError> {
    let (files, ignored) = list_skeleton_files(root)?;
    if files.is_empty() {
        return Err(StageError::param(
            "root",
            format!("{}: {}", root.display(), no_skeletons(ignored)),
        ));
    }
    let corpus = SynthCorpus::read(root)?;
    let list = match opts.missing_list.as_str() {
        "auto" if corpus.is_some() => "none",
        "auto" => "ntu120",
        other => other,
    };
    let missing = missing_list(list, &opts.base_dir)?;
    let actions: BTreeSet<u32> = opts.actions.iter().copied().collect();
    let mut report = ImportReport {
        ignored,
        ..Default::default()
    };
    let mut todo: Vec<(PathBuf, Option<NtuName>)> = Vec::new();
    for f in files {
        let name = NtuName::parse(&file_name(&f));
        if let Some(n) = name {
            if missing.contains(&n.stem()) {
                report.skipped_missing += 1;
                continue;
            }
            if !actions.is_empty() && !actions.contains(&(n.action as u32)) {
                continue;
            }
        }
        todo.push((f, name));
        if opts.limit > 0 && todo.len() >= opts.limit {
            break;
        }
    }

    let variant = opts.variant;
    let mut writer = DatasetWriter::create(out_dir, variant)?;
    // ~32 MB of coordinates per record batch.
    let chunk = (32usize << 20).div_ceil(variant.sample_len() * 4).max(16);
    let pool = super::worker_pool(opts.threads)?;
    let total = todo.len();

    // Parse chunk k+1 while a writer thread writes chunk k; at most two chunks wait.
    let (tx, rx) = mpsc::sync_channel::<(Vec<SampleInfo>, Vec<f32>)>(1);
    let write_result = std::thread::scope(|scope| {
        let writer_thread = scope.spawn(move || -> Result<DatasetWriter, StageError> {
            for (infos, values) in rx {
                writer.write_columns(infos, values)?;
            }
            Ok(writer)
        });
        let len = variant.sample_len();
        let mut done = 0;
        for part in todo.chunks(chunk) {
            // Every worker preprocesses straight into its row of the record batch.
            let mut values = vec![0f32; part.len() * len];
            let outcomes: Vec<(Result<SampleInfo, BadFile>, u64)> = pool.install(|| {
                part.par_iter()
                    .zip(values.par_chunks_mut(len))
                    .map_init(
                        || (Vec::new(), Vec::new()),
                        |(buf, scratch), ((path, name), slot)| {
                            import_one(path, *name, variant, buf, scratch, slot)
                        },
                    )
                    .collect()
            });
            let mut infos = Vec::with_capacity(outcomes.len());
            for (k, (o, bytes)) in outcomes.into_iter().enumerate() {
                report.bytes_read += bytes;
                match o {
                    Ok(info) => {
                        // Close the gaps left by bad files.
                        if infos.len() != k {
                            values.copy_within(k * len..(k + 1) * len, infos.len() * len);
                        }
                        infos.push(info);
                    }
                    Err(bad) => report.bad_files.push(bad),
                }
            }
            values.truncate(infos.len() * len);
            done += part.len();
            if tx.send((infos, values)).is_err() {
                break; // the writer failed; its error is returned below
            }
            progress(done, total);
        }
        drop(tx);
        writer_thread
            .join()
            .expect("the writer thread does not panic")
    });
    let writer = write_result?;

    if !report.bad_files.is_empty() && opts.on_error == OnError::Fail {
        return Err(StageError::input(bad_files_summary(
            root,
            &report.bad_files,
            total,
        )));
    }
    if writer.is_empty() {
        return Err(StageError::input(format!(
            "{}: none of the {total} selected files could be imported{}",
            root.display(),
            if report.bad_files.is_empty() {
                String::new()
            } else {
                format!(":\n{}", list_bad(&report.bad_files))
            }
        )));
    }
    let num_classes = writer
        .infos()
        .iter()
        .map(|s| s.label as usize + 1)
        .max()
        .unwrap_or(0);
    let splits = ntu_benchmarks(writer.infos());
    let mut meta = DatasetMeta::new("ntu", num_classes, report.skipped_missing);
    meta.extra.insert("missing_list".into(), list.into());
    meta.extra
        .insert("ignored_files".into(), report.ignored.into());
    // A synth.ntu corpus names its classes.
    if let Some(names) = corpus.as_ref().and_then(SynthCorpus::class_names) {
        meta.extra.insert("class_names".into(), names.clone());
    }
    let infos = writer.finish(meta, &splits, &report.bad_files)?;
    report.samples = infos.len();
    let origin = match &corpus {
        Some(c) => c.origin(),
        None => DataOrigin::Real {
            root: opts
                .root_as_written
                .clone()
                .unwrap_or_else(|| root.display().to_string()),
        },
    };
    let facts = DataFacts {
        dataset: ntu_dataset(todo.iter().filter_map(|(_, name)| name.as_ref())).into(),
        origin,
        files: total,
        samples: report.samples,
        classes: num_classes,
        file_list_digest: file_list_digest(todo.iter().map(|(path, _)| file_name(path))),
        variant: variant.name().into(),
        frames: variant.frames(),
    };
    provenance::write(out_dir, &facts)?;
    Ok(report)
}

fn import_one(
    path: &Path,
    name: Option<NtuName>,
    variant: Variant,
    buf: &mut Vec<u8>,
    scratch: &mut Vec<f32>,
    slot: &mut [f32],
) -> (Result<SampleInfo, BadFile>, u64) {
    let shown = path.display().to_string();
    let bad = |error: String| BadFile {
        file: shown.clone(),
        error,
    };
    let Some(name) = name else {
        return (
            Err(bad(format!(
                "{shown}: {}",
                bad_name_message(&file_name(path))
            ))),
            0,
        );
    };
    let seq = match read_skeleton_file_with(path, buf) {
        Ok(s) => s,
        Err(e) => return (Err(bad(e.to_string())), buf.len() as u64),
    };
    let bytes = buf.len() as u64;
    match prepare_into(&seq, variant, slot, scratch) {
        Ok(frames) => {
            let info = SampleInfo::of_ntu(
                &name,
                name.label(),
                frames,
                seq.num_frames(),
                seq.max_bodies(),
            );
            (Ok(info), bytes)
        }
        Err(e) => (Err(bad(format!("{shown}: {e}"))), bytes),
    }
}

fn list_bad(bad: &[BadFile]) -> String {
    const SHOWN: usize = 50;
    let mut s: Vec<String> = bad
        .iter()
        .take(SHOWN)
        .map(|b| format!("  {}", b.error))
        .collect();
    if bad.len() > SHOWN {
        s.push(format!("  … and {} more", bad.len() - SHOWN));
    }
    s.join("\n")
}

/// The one-summary error for `on_error: fail`.
pub fn bad_files_summary(root: &Path, bad: &[BadFile], total: usize) -> String {
    format!(
        "{} of {total} files in {} could not be imported:\n{}\nfix or remove them, add their names to a `missing_list` file, \
         or set `on_error: skip` to import the others (the bad ones are then listed in bad_files.json)",
        bad.len(),
        root.display(),
        list_bad(bad)
    )
}

pub struct NtuImport;

/// Folder of an import's generated synthetic corpus, inside its artifact while it runs.
pub(crate) const SYNTHETIC_SCRATCH: &str = "synthetic-corpus.tmp";

impl Kind for NtuImport {
    type Params = NtuImportParams;
    const NAME: &'static str = "ntu.import";
    // 2: the artifact records provenance.json. 3: `root` empty generates the synthetic
    // corpus (was: read an upstream synth.ntu stage).
    const VERSION: u32 = 3;
    const ABOUT: &'static str = "raw NTU RGB+D .skeleton files (or, without a root, skelflow's synthetic corpus) -> Arrow dataset (stgcn_raw | agcn_prenorm | frame50) + NTU-60/120 splits";
    /// Without a root, the synthetic corpus is spelled out (`quick` = its default params),
    /// so that every way of asking for one corpus gets one key.
    fn canonical(&self, mut p: NtuImportParams) -> Result<NtuImportParams, Vec<ParamError>> {
        if p.root.is_empty() {
            let corpus = p
                .synthetic
                .resolve()
                .map_err(|m| vec![ParamError::at("synthetic", m)])?;
            p.synthetic = Synthetic::Corpus(corpus);
        }
        Ok(p)
    }
    fn check_inputs(&self, p: &NtuImportParams, inputs: &[Upstream]) -> Vec<ParamError> {
        match inputs.iter().find(|u| u.kind == synth::KIND) {
            Some(u) if p.root.is_empty() => vec![
                ParamError::at(
                    "root",
                    format!(
                        "is empty, so this import generates its own synthetic corpus and would ignore the `{}` stage in `needs`",
                        u.instance
                    ),
                )
                .with_hint(format!(
                    "set `root: ${{{}.output}}` to import that stage's files, or drop it from `needs` and give the corpus as `synthetic`",
                    u.instance
                )),
            ],
            _ => Vec::new(),
        }
    }
    fn check_external(&self, p: &NtuImportParams, given: &Path, resolved: &Path) -> Option<String> {
        if given != Path::new(&p.root) {
            return None;
        }
        match list_skeleton_files(resolved) {
            Ok((files, ignored)) if files.is_empty() => Some(no_skeletons(ignored)),
            _ => None,
        }
    }
    fn external_inputs(&self, p: &NtuImportParams) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if !p.root.is_empty() {
            out.push(PathBuf::from(&p.root));
        }
        if !matches!(
            p.missing_list.as_str(),
            "auto" | "ntu120" | "ntu60" | "none"
        ) {
            out.push(PathBuf::from(&p.missing_list));
        }
        out
    }
    fn run(&self, ctx: &StageContext, p: NtuImportParams) -> Result<(), StageError> {
        let scratch = ctx.out_dir.join(SYNTHETIC_SCRATCH);
        let root = if p.root.is_empty() {
            let corpus = p
                .synthetic
                .resolve()
                .map_err(|m| StageError::param("synthetic", m))?;
            let r = synth::generate(&corpus, ctx.seed, &scratch, ctx.threads, |done, total| {
                ctx.progress(
                    done as u64,
                    total as u64,
                    &format!("generating {done}/{total} synthetic files"),
                )
            })?;
            eprintln!(
                "{}: generated the synthetic corpus ({} files, {:.1} MB)",
                ctx.instance,
                r.files,
                r.bytes as f64 / 1e6
            );
            scratch.clone()
        } else {
            ctx.resolve(&p.root)
        };
        let opts = ImportOptions {
            variant: p.variant,
            missing_list: p.missing_list.clone(),
            base_dir: ctx.pipeline_dir.clone(),
            on_error: p.on_error,
            actions: p.actions.clone(),
            limit: p.limit,
            threads: ctx.threads,
            root_as_written: (!p.root.is_empty()).then(|| p.root.clone()),
        };
        let report = import_ntu(&root, &ctx.out_dir, &opts, |done, total| {
            ctx.progress(done as u64, total as u64, &format!("{done}/{total} files"))
        })?;
        if p.root.is_empty() {
            std::fs::remove_dir_all(&scratch).at("remove", &scratch)?;
        }
        eprintln!(
            "{}: imported {} samples ({}), {} on the missing list, {} bad files skipped",
            ctx.instance,
            report.samples,
            p.variant,
            report.skipped_missing,
            report.bad_files.len()
        );
        for b in &report.bad_files {
            eprintln!("  skipped: {}", b.error);
        }
        Ok(())
    }
}
