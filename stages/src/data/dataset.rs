//! The dataset artifact written by `ntu.import` / `pku.import` and the [`Dataset`] reader
//! every other stage uses (layout agreed in ARTIFACTS.md).
//!
//! An artifact directory holds:
//! - `dataset.arrow`: Arrow IPC *file*, one row per sample, written in record batches in
//!   sample order. Columns: `name` (utf8), `setup`, `camera`, `subject`, `replication`,
//!   `label` (0-based), `frames` (valid frames of the stored tensor), `raw_frames` (frames in
//!   the source file), `bodies` (most bodies listed in one source frame) — all int32 — and
//!   `x`: FixedSizeList<float32, 3·T·25·2>, the joint coordinates (C=3, T, V=25, M=2)
//!   row-major, exactly the layout of the reference `.npy` arrays. Uncompressed, so it can
//!   be memory-mapped.
//! - `dataset.json`: [`DatasetMeta`] (variant, T, classes, counts, benchmarks).
//! - `splits/<benchmark>.json`: `{"benchmark": …, "train": [row, …], "test": [row, …]}`.
//! - `bad_files.json`: the files skipped under `on_error: skip`, each with its error.
//! - `provenance.json`: what the import really read ([`super::provenance`]).
//!
//! Python, without skelflow:
//! ```python
//! import json, numpy as np, pyarrow as pa
//! t = pa.ipc.open_file("dataset.arrow").read_all(); T = json.load(open("dataset.json"))["frames"]
//! x = t["x"].combine_chunks().flatten().to_numpy().reshape(len(t), 3, T, 25, 2)   # (N, C, T, V, M)
//! ```
//! (`pl.read_ipc("dataset.arrow")` in polars gives the same columns, `x` as an array column.)

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray,
};
use arrow_buffer::Buffer;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_ipc::root_as_footer;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::preprocess::{FRAME50, MAX_FRAMES, apply_stream};
use super::skeleton::{CHANNELS, MAX_BODIES, NUM_JOINTS};
use crate::{IoContext, StageError};

pub use skelflow_contract::files::{DATASET_ARROW, DATASET_JSON};

pub const SPLITS_DIR: &str = "splits";
pub const BAD_FILES: &str = "bad_files.json";
pub const FORMAT: &str = "skelflow-dataset";
pub const FORMAT_VERSION: u32 = 1;

/// Preprocessing variant of the stored coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// ST-GCN `ntu_gendata`: first two listed bodies, raw camera coordinates, 300 frames.
    StgcnRaw,
    /// CMD / ISC / A2MC `pre_normalization`: top-2 bodies by energy, padded by repetition,
    /// centred on J2, rotated by frame 0 of person 0; 300 frames.
    AgcnPrenorm,
    /// AimCLR / ActCLR: centred on J21 per body, resized to 50 frames, rotated about y per
    /// frame.
    #[default]
    Frame50,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::StgcnRaw, Variant::AgcnPrenorm, Variant::Frame50];

    pub fn name(self) -> &'static str {
        match self {
            Variant::StgcnRaw => "stgcn_raw",
            Variant::AgcnPrenorm => "agcn_prenorm",
            Variant::Frame50 => "frame50",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }

    /// T of the stored tensors.
    pub fn frames(self) -> usize {
        match self {
            Variant::StgcnRaw | Variant::AgcnPrenorm => MAX_FRAMES,
            Variant::Frame50 => FRAME50,
        }
    }

    /// Floats per sample: 3·T·25·2.
    pub fn sample_len(self) -> usize {
        CHANNELS * self.frames() * NUM_JOINTS * MAX_BODIES
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Input stream, computed from the stored joints when a sample is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    #[default]
    Joint,
    Motion,
    Bone,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Joint, Stream::Motion, Stream::Bone];

    pub fn name(self) -> &'static str {
        match self {
            Stream::Joint => "joint",
            Stream::Motion => "motion",
            Stream::Bone => "bone",
        }
    }

    pub fn parse(s: &str) -> Option<Stream> {
        Stream::ALL.into_iter().find(|v| v.name() == s)
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Train,
    Test,
}

/// `dataset.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    pub format: String,
    pub format_version: u32,
    /// `ntu`, `pku1`, `pku2`.
    pub source: String,
    pub variant: Variant,
    /// T of every stored tensor.
    pub frames: usize,
    pub channels: usize,
    pub joints: usize,
    pub bodies: usize,
    /// Always `C,T,V,M` (row-major).
    pub layout: String,
    pub num_classes: usize,
    /// Samples in `dataset.arrow`.
    pub count: usize,
    /// Benchmarks with a file in `splits/`.
    pub benchmarks: Vec<String>,
    /// Files that could not be read (listed in `bad_files.json`).
    pub bad_files: usize,
    /// Files left out because they are on the missing-skeleton list.
    pub skipped_missing: usize,
    /// Anything else the importer wants to record (params, list used …).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `splits/<benchmark>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitFile {
    pub benchmark: String,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// A file that could not be imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BadFile {
    pub file: String,
    pub error: String,
}

/// The per-sample fields besides the coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleInfo {
    pub name: String,
    pub setup: i32,
    pub camera: i32,
    pub subject: i32,
    pub replication: i32,
    pub label: i32,
    pub frames: i32,
    pub raw_frames: i32,
    pub bodies: i32,
}

impl SampleInfo {
    /// The fields of an NTU sample: its name's parts, and what the import measured.
    pub fn of_ntu(
        name: &super::ntu_format::NtuName,
        label: usize,
        frames: usize,
        raw_frames: usize,
        bodies: usize,
    ) -> SampleInfo {
        SampleInfo {
            name: name.stem(),
            setup: name.setup as i32,
            camera: name.camera as i32,
            subject: name.subject as i32,
            replication: name.replication as i32,
            label: label as i32,
            frames: frames as i32,
            raw_frames: raw_frames as i32,
            bodies: bodies as i32,
        }
    }
}

/// The Arrow schema of `dataset.arrow` for a variant.
pub fn schema(variant: Variant) -> SchemaRef {
    let int = |n: &str| Field::new(n, DataType::Int32, false);
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        int("setup"),
        int("camera"),
        int("subject"),
        int("replication"),
        int("label"),
        int("frames"),
        int("raw_frames"),
        int("bodies"),
        Field::new(
            "x",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                variant.sample_len() as i32,
            ),
            false,
        ),
    ]))
}

/// Streams record batches into `dataset.arrow`; memory holds one batch at a time.
pub struct DatasetWriter {
    dir: PathBuf,
    variant: Variant,
    schema: SchemaRef,
    writer: FileWriter<BufWriter<File>>,
    infos: Vec<SampleInfo>,
}

impl DatasetWriter {
    pub fn create(dir: &Path, variant: Variant) -> Result<DatasetWriter, StageError> {
        std::fs::create_dir_all(dir).at("create", dir)?;
        let path = dir.join(DATASET_ARROW);
        let file = File::create(&path).at("create", &path)?;
        let schema = schema(variant);
        let writer = FileWriter::try_new(BufWriter::with_capacity(1 << 20, file), &schema)
            .map_err(|e| arrow_io("write", &path, e))?;
        Ok(DatasetWriter {
            dir: dir.to_path_buf(),
            variant,
            schema,
            writer,
            infos: Vec::new(),
        })
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Rows written so far.
    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    pub fn infos(&self) -> &[SampleInfo] {
        &self.infos
    }

    /// Append one record batch. Each row's `data` must hold 3·T·25·2 floats.
    pub fn write_batch(&mut self, rows: Vec<(SampleInfo, Vec<f32>)>) -> Result<(), StageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let len = self.variant.sample_len();
        let mut values = Vec::with_capacity(rows.len() * len);
        let mut infos = Vec::with_capacity(rows.len());
        for (info, data) in rows {
            assert_eq!(
                data.len(),
                len,
                "sample {} has {} floats, the variant needs {len}",
                info.name,
                data.len()
            );
            values.extend_from_slice(&data);
            infos.push(info);
        }
        self.write_columns(infos, values)
    }

    /// Append one record batch from the rows' fields and their coordinates laid end to end
    /// (`values.len() == infos.len() · 3·T·25·2`), without copying the coordinates.
    pub fn write_columns(
        &mut self,
        infos: Vec<SampleInfo>,
        values: Vec<f32>,
    ) -> Result<(), StageError> {
        let len = self.variant.sample_len();
        assert_eq!(
            values.len(),
            infos.len() * len,
            "coordinates do not match the rows"
        );
        if infos.is_empty() {
            return Ok(());
        }
        let ints = |f: fn(&SampleInfo) -> i32| {
            Arc::new(Int32Array::from_iter_values(infos.iter().map(f))) as ArrayRef
        };
        // Both only fail on lengths or types that do not match, checked above and by `schema`.
        let x = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            len as i32,
            Arc::new(Float32Array::from(values)),
            None,
        )
        .expect("the coordinates fill whole rows");
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    infos.iter().map(|i| i.name.as_str()),
                )),
                ints(|i| i.setup),
                ints(|i| i.camera),
                ints(|i| i.subject),
                ints(|i| i.replication),
                ints(|i| i.label),
                ints(|i| i.frames),
                ints(|i| i.raw_frames),
                ints(|i| i.bodies),
                Arc::new(x),
            ],
        )
        .expect("the columns follow the schema");
        self.writer
            .write(&batch)
            .map_err(|e| arrow_io("write", &self.dir.join(DATASET_ARROW), e))?;
        self.infos.extend(infos);
        Ok(())
    }

    /// Close the Arrow file and write `dataset.json`, the split files and `bad_files.json`.
    /// `meta.count`, `meta.benchmarks`, `meta.variant`, `meta.frames` are filled in here.
    pub fn finish(
        mut self,
        mut meta: DatasetMeta,
        splits: &[SplitFile],
        bad_files: &[BadFile],
    ) -> Result<Vec<SampleInfo>, StageError> {
        let data_path = self.dir.join(DATASET_ARROW);
        self.writer
            .finish()
            .map_err(|e| arrow_io("write", &data_path, e))?;
        use std::io::Write;
        self.writer.get_mut().flush().at("write", &data_path)?;
        // No fsync here: committing the artifact (fsync + rename) is the cache's job.

        let splits_dir = self.dir.join(SPLITS_DIR);
        std::fs::create_dir_all(&splits_dir).at("create", &splits_dir)?;
        for s in splits {
            write_json(&splits_dir.join(format!("{}.json", s.benchmark)), s)?;
        }
        if !bad_files.is_empty() {
            write_json(&self.dir.join(BAD_FILES), &bad_files)?;
        }
        meta.format = FORMAT.into();
        meta.format_version = FORMAT_VERSION;
        meta.variant = self.variant;
        meta.frames = self.variant.frames();
        meta.channels = CHANNELS;
        meta.joints = NUM_JOINTS;
        meta.bodies = MAX_BODIES;
        meta.layout = "C,T,V,M".into();
        meta.count = self.infos.len();
        meta.benchmarks = splits.iter().map(|s| s.benchmark.clone()).collect();
        meta.bad_files = bad_files.len();
        write_json(&self.dir.join(DATASET_JSON), &meta)?;
        Ok(self.infos)
    }
}

impl DatasetMeta {
    /// A meta with the importer's fields set; the writer fills in the rest.
    pub fn new(source: &str, num_classes: usize, skipped_missing: usize) -> DatasetMeta {
        DatasetMeta {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            source: source.into(),
            variant: Variant::default(),
            frames: 0,
            channels: CHANNELS,
            joints: NUM_JOINTS,
            bodies: MAX_BODIES,
            layout: "C,T,V,M".into(),
            num_classes,
            count: 0,
            benchmarks: Vec::new(),
            bad_files: 0,
            skipped_missing,
            extra: BTreeMap::new(),
        }
    }
}

pub(crate) fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), StageError> {
    let text = serde_json::to_string_pretty(value).expect("plain data serialises");
    std::fs::write(path, text + "\n").at("write", path)
}

/// An Arrow writer's error as the I/O error it is (no space left, …), or wrapped as one.
fn arrow_io(op: &'static str, path: &Path, e: arrow_schema::ArrowError) -> StageError {
    let source = match e {
        arrow_schema::ArrowError::IoError(_, source) => source,
        other => std::io::Error::other(other),
    };
    StageError::io(op, path, source)
}

/// A dataset artifact, memory-mapped: opening is cheap whatever its size, samples are read
/// on demand.
pub struct Dataset {
    dir: PathBuf,
    meta: DatasetMeta,
    infos: Vec<SampleInfo>,
    /// (first row, coordinates of the batch's rows) per record batch.
    chunks: Vec<(usize, Float32Array)>,
    splits: BTreeMap<String, SplitFile>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("dir", &self.dir)
            .field("variant", &self.meta.variant)
            .field("len", &self.infos.len())
            .finish()
    }
}

impl Dataset {
    /// Open an artifact directory written by `ntu.import` or `pku.import`.
    pub fn open(dir: &Path) -> Result<Dataset, StageError> {
        let bad = |what: String| {
            StageError::input(format!(
                "{}: {what}; expected a dataset artifact written by `ntu.import` or `pku.import` \
                 (dataset.arrow, dataset.json, splits/): point to that stage's output",
                dir.display()
            ))
        };
        if !dir.is_dir() {
            return Err(bad("no such directory".into()));
        }
        let meta_path = dir.join(DATASET_JSON);
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| bad(format!("cannot read {DATASET_JSON}: {e}")))?;
        let meta: DatasetMeta = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{DATASET_JSON} is not a dataset description: {e}")))?;
        if meta.format != FORMAT || meta.format_version > FORMAT_VERSION {
            return Err(bad(format!(
                "{DATASET_JSON} has format `{}` version {}, this skelflow reads `{FORMAT}` up to version {FORMAT_VERSION}",
                meta.format, meta.format_version
            )));
        }
        if meta.frames != meta.variant.frames() {
            return Err(bad(format!(
                "{DATASET_JSON} says {} frames for variant {}",
                meta.frames, meta.variant
            )));
        }

        let data_path = dir.join(DATASET_ARROW);
        let file =
            File::open(&data_path).map_err(|e| bad(format!("cannot open {DATASET_ARROW}: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| bad(format!("cannot stat {DATASET_ARROW}: {e}")))?
            .len() as usize;
        if len < 16 {
            return Err(bad(format!(
                "{DATASET_ARROW} is too short ({len} bytes) to be an Arrow file"
            )));
        }
        // SAFETY: artifacts are immutable once committed; the map is read-only.
        let mmap = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| bad(format!("cannot map {DATASET_ARROW}: {e}")))?;
        let ptr = NonNull::new(mmap.as_ptr() as *mut u8).expect("a mapping is never null");
        // SAFETY: the buffer keeps the mapping alive through its Arc owner.
        let buffer = unsafe { Buffer::from_custom_allocation(ptr, mmap.len(), Arc::new(mmap)) };

        let arrow_err = |e: String| {
            bad(format!(
                "{DATASET_ARROW} is not a readable Arrow IPC file ({e})"
            ))
        };
        let trailer = len - 10;
        let footer_len = read_footer_length(buffer[trailer..].try_into().expect("10 bytes"))
            .map_err(|e| arrow_err(e.to_string()))?;
        if footer_len > trailer {
            return Err(arrow_err("footer longer than the file".into()));
        }
        let footer = root_as_footer(&buffer[trailer - footer_len..trailer])
            .map_err(|e| arrow_err(e.to_string()))?;
        let fb_schema = footer
            .schema()
            .ok_or_else(|| arrow_err("no schema".into()))?;
        let schema = Arc::new(try_fb_to_schema(fb_schema).map_err(|e| arrow_err(e.to_string()))?);
        let expected = self::schema(meta.variant);
        if schema.fields() != expected.fields() {
            return Err(bad(format!(
                "{DATASET_ARROW} does not have the columns of a {} dataset (found {:?})",
                meta.variant,
                schema
                    .fields()
                    .iter()
                    .map(|f| format!("{}: {}", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
            )));
        }
        let decoder = FileDecoder::new(schema, footer.version());
        let mut infos = Vec::with_capacity(meta.count);
        let mut chunks = Vec::new();
        for block in footer.recordBatches().iter().flatten() {
            let block_len = block.bodyLength() as usize + block.metaDataLength() as usize;
            let start = block.offset() as usize;
            if start + block_len > len {
                return Err(arrow_err(
                    "a record batch lies beyond the end of the file (truncated?)".into(),
                ));
            }
            let data = buffer.slice_with_length(start, block_len);
            let batch = decoder
                .read_record_batch(block, &data)
                .map_err(|e| arrow_err(e.to_string()))?
                .ok_or_else(|| arrow_err("empty record batch block".into()))?;
            let first = infos.len();
            read_infos(&batch, &mut infos);
            let x = batch.column(9).as_fixed_size_list();
            // arrow-rs slices a FixedSizeList's child with it, so row 0 starts at value 0.
            let values = x.values().as_primitive::<Float32Type>().clone();
            if values.len() != batch.num_rows() * meta.variant.sample_len() {
                return Err(arrow_err(
                    "the coordinate column has the wrong length".into(),
                ));
            }
            chunks.push((first, values));
        }
        if infos.len() != meta.count {
            return Err(bad(format!(
                "{DATASET_ARROW} has {} rows but {DATASET_JSON} says {}",
                infos.len(),
                meta.count
            )));
        }
        let mut splits = BTreeMap::new();
        for b in &meta.benchmarks {
            let path = dir.join(SPLITS_DIR).join(format!("{b}.json"));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
            let split: SplitFile = serde_json::from_str(&text)
                .map_err(|e| bad(format!("{} is not a split file: {e}", path.display())))?;
            if let Some(i) = split
                .train
                .iter()
                .chain(&split.test)
                .find(|&&i| i >= infos.len())
            {
                return Err(bad(format!(
                    "{} names row {i}, but there are {} rows",
                    path.display(),
                    infos.len()
                )));
            }
            splits.insert(b.clone(), split);
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
            meta,
            infos,
            chunks,
            splits,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &DatasetMeta {
        &self.meta
    }

    pub fn variant(&self) -> Variant {
        self.meta.variant
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// T of every stored tensor (300 or 50).
    pub fn frames(&self) -> usize {
        self.meta.frames
    }

    pub fn num_classes(&self) -> usize {
        self.meta.num_classes
    }

    pub fn label(&self, i: usize) -> usize {
        self.infos[i].label as usize
    }

    pub fn name(&self, i: usize) -> &str {
        &self.infos[i].name
    }

    /// Valid frames of sample `i` in the stored tensor: the file's frame count (at most 300)
    /// for `stgcn_raw` / `agcn_prenorm`, 50 for `frame50`.
    pub fn valid_frames(&self, i: usize) -> usize {
        self.infos[i].frames as usize
    }

    /// Every per-sample field of sample `i`.
    pub fn info(&self, i: usize) -> &SampleInfo {
        &self.infos[i]
    }

    pub fn infos(&self) -> &[SampleInfo] {
        &self.infos
    }

    /// Floats per sample: 3·T·25·2.
    pub fn sample_len(&self) -> usize {
        self.meta.variant.sample_len()
    }

    /// The stored joint coordinates of sample `i`, (3, T, 25, 2) row-major, without a copy.
    pub fn joints(&self, i: usize) -> &[f32] {
        assert!(
            i < self.infos.len(),
            "sample {i} out of range (dataset has {})",
            self.infos.len()
        );
        let k = self.chunks.partition_point(|(first, _)| *first <= i) - 1;
        let (first, values) = &self.chunks[k];
        let len = self.sample_len();
        &values.values()[(i - first) * len..(i - first + 1) * len]
    }

    /// (3, T, 25, 2) row-major f32, the stream computed as the reference feeders do (§2.1).
    pub fn sample(&self, i: usize, stream: Stream) -> Vec<f32> {
        let mut out = vec![0f32; self.sample_len()];
        self.sample_into(i, stream, &mut out);
        out
    }

    /// [`Dataset::sample`] into a caller's buffer of [`Dataset::sample_len`] floats.
    pub fn sample_into(&self, i: usize, stream: Stream, out: &mut [f32]) {
        apply_stream(self.joints(i), stream, out);
    }

    /// Row indices of `part` of `benchmark` (e.g. `ntu60-xsub`).
    pub fn split(&self, benchmark: &str, part: Part) -> Result<Vec<usize>, StageError> {
        let s = self.splits.get(benchmark).ok_or_else(|| {
            StageError::param(
                "benchmark",
                format!(
                    "no benchmark `{benchmark}` in the dataset {}; it has: {}",
                    self.dir.display(),
                    self.benchmarks().join(", ")
                ),
            )
        })?;
        Ok(match part {
            Part::Train => s.train.clone(),
            Part::Test => s.test.clone(),
        })
    }

    pub fn benchmarks(&self) -> Vec<String> {
        self.meta.benchmarks.clone()
    }
}

fn read_infos(batch: &RecordBatch, out: &mut Vec<SampleInfo>) {
    let names = batch.column(0).as_string::<i32>();
    let int = |k: usize| batch.column(k).as_primitive::<Int32Type>();
    let (setup, camera, subject, rep, label, frames, raw, bodies) = (
        int(1),
        int(2),
        int(3),
        int(4),
        int(5),
        int(6),
        int(7),
        int(8),
    );
    for r in 0..batch.num_rows() {
        out.push(SampleInfo {
            name: names.value(r).to_string(),
            setup: setup.value(r),
            camera: camera.value(r),
            subject: subject.value(r),
            replication: rep.value(r),
            label: label.value(r),
            frames: frames.value(r),
            raw_frames: raw.value(r),
            bodies: bodies.value(r),
        });
    }
}
