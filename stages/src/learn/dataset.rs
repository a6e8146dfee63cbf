//! Opening the training data a learning stage `needs`.
//!
//! Two layouts are read:
//! - the `ntu.import` / `pku.import` artifact (`dataset.arrow`, ARTIFACTS.md), through the
//!   data helper's reader `stages::data::dataset::Dataset` once that branch is merged;
//! - the reference repositories' numpy layout: `{train,test}_data.npy` (N, 3, T, 25, 2)
//!   float32 and `{train,test}_label.npy` (N,) integers (optionally `{part}_num_frame.npy`),
//!   e.g. AimCLR/ActCLR's frame50 arrays, so preprocessed data can be brought as is.

use std::path::Path;

use std::sync::Arc;

use super::augment::Clip;
use super::data::ClipSource;
use crate::data::dataset::DATASET_ARROW;
use crate::data::{Dataset, Part, Stream};
use crate::{IoContext, StageContext, StageError};

/// One part (train or test) of a dataset, held in memory, as joint clips.
pub struct ArraySource {
    pub shape: [usize; 4],
    pub data: Vec<f32>,
    pub labels: Vec<usize>,
    pub valid: Vec<usize>,
    pub classes: usize,
}

impl ClipSource for ArraySource {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i]
    }
    fn valid_frames(&self, i: usize) -> usize {
        self.valid[i]
    }
    fn clip(&self, i: usize) -> Clip {
        let [c, t, v, m] = self.shape;
        let n = c * t * v * m;
        Clip::new(c, t, v, m, self.data[i * n..(i + 1) * n].to_vec())
    }
}

/// The train and test parts of a benchmark, and what they are.
pub struct Splits {
    pub train: Box<dyn ClipSource + Send>,
    pub test: Box<dyn ClipSource + Send>,
    /// Frames T of the stored clips.
    pub frames: usize,
    /// Where it came from, for `encoder.json` / `features.json`.
    pub describe: serde_json::Value,
}

/// Find the dataset among the stage's inputs and load `benchmark`'s train and test parts.
/// With several imports in `needs` (NTU and PKU-MMD, say), the one whose splits define
/// `benchmark` is read.
pub fn open_splits(ctx: &StageContext, benchmark: &str) -> Result<Splits, StageError> {
    let npy = ctx
        .inputs
        .iter()
        .find(|i| i.dir.join("train_data.npy").is_file());
    if let Some(input) = npy {
        return open_npy(&input.dir);
    }
    let imports: Vec<_> = ctx
        .inputs
        .iter()
        .filter(|i| i.dir.join(DATASET_ARROW).is_file())
        .collect();
    match imports.as_slice() {
        [] => Err(StageError::input(
            "needs a dataset: add an `ntu.import`/`pku.import` stage (dataset.arrow) or a stage that writes train_data.npy/train_label.npy/test_data.npy/test_label.npy to `needs`",
        )),
        [one] => open_arrow(Arc::new(Dataset::open(&one.dir)?), benchmark),
        several => {
            let mut defining = Vec::new();
            let mut listed = Vec::new();
            for input in several {
                let ds = Dataset::open(&input.dir)?;
                let names = ds.benchmarks();
                listed.push(format!("{}: {}", input.instance, names.join(", ")));
                if names.iter().any(|b| b == benchmark) {
                    defining.push((input.instance.as_str(), ds));
                }
            }
            match defining.len() {
                1 => open_arrow(Arc::new(defining.remove(0).1), benchmark),
                0 => Err(StageError::param(
                    "benchmark",
                    format!(
                        "no dataset in `needs` has the benchmark `{benchmark}` ({}); choose one of theirs",
                        listed.join("; ")
                    ),
                )),
                _ => Err(StageError::input(format!(
                    "the datasets of {} all define `{benchmark}`: keep the one to train on in `needs`",
                    defining
                        .iter()
                        .map(|d| d.0)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ))),
            }
        }
    }
}

fn open_arrow(ds: Arc<Dataset>, benchmark: &str) -> Result<Splits, StageError> {
    let train = ds.split(benchmark, Part::Train)?;
    let test = ds.split(benchmark, Part::Test)?;
    if train.is_empty() {
        // every learning stage trains on it; an empty one would only fail deeper down
        return Err(StageError::param(
            "benchmark",
            format!(
                "`{benchmark}` has no training clips in this import ({} clips, {} in its test part): import files of the benchmark's training subjects or cameras, or choose another benchmark",
                ds.len(),
                test.len()
            ),
        ));
    }
    let describe = serde_json::json!({
        "format": "arrow", "variant": ds.variant().name(), "frames": ds.frames(), "classes": ds.num_classes(),
        "source": ds.meta().source, "train": train.len(), "test": test.len(),
    });
    let frames = ds.frames();
    Ok(Splits {
        train: Box::new(DatasetPart {
            ds: ds.clone(),
            rows: train,
        }),
        test: Box::new(DatasetPart { ds, rows: test }),
        frames,
        describe,
    })
}

/// The rows of one split part of an imported dataset.
pub struct DatasetPart {
    pub ds: Arc<Dataset>,
    pub rows: Vec<usize>,
}

impl ClipSource for DatasetPart {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn num_classes(&self) -> usize {
        self.ds.num_classes()
    }
    fn label(&self, i: usize) -> usize {
        self.ds.label(self.rows[i])
    }
    fn valid_frames(&self, i: usize) -> usize {
        self.ds.valid_frames(self.rows[i])
    }
    fn clip(&self, i: usize) -> Clip {
        let t = self.ds.frames();
        Clip::new(3, t, 25, 2, self.ds.sample(self.rows[i], Stream::Joint))
    }
}

pub(crate) fn read_npy_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>), StageError> {
    let bytes = std::fs::read(path).at("read", path)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| StageError::bad_file(path, format!("not a .npy file: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data = npy
        .into_vec::<f32>()
        .map_err(|e| StageError::bad_file(path, format!("expected float32 data: {e}")))?;
    Ok((shape, data))
}

pub(crate) fn read_npy_int(path: &Path) -> Result<Vec<usize>, StageError> {
    let bytes = std::fs::read(path).at("read", path)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| StageError::bad_file(path, format!("not a .npy file: {e}")))?;
    let bad =
        |e: std::io::Error| StageError::bad_file(path, format!("expected integer labels: {e}"));
    let v: Vec<i64> = match npy.dtype() {
        npyz::DType::Plain(t) if t.size_field() == 4 => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        _ => npy.into_vec::<i64>().map_err(bad)?,
    };
    v.into_iter()
        .map(|x| {
            usize::try_from(x)
                .map_err(|_| StageError::bad_file(path, format!("negative label {x}")))
        })
        .collect()
}

fn open_part(dir: &Path, part: &str) -> Result<ArraySource, StageError> {
    let dp = dir.join(format!("{part}_data.npy"));
    let (shape, data) = read_npy_f32(&dp)?;
    if shape.len() != 5 || shape[1] != 3 {
        return Err(StageError::bad_file(
            &dp,
            format!("expected shape (N, 3, T, V, M), found {shape:?}"),
        ));
    }
    let lp = dir.join(format!("{part}_label.npy"));
    let labels = read_npy_int(&lp)?;
    if labels.len() != shape[0] {
        return Err(StageError::bad_file(
            &lp,
            format!("{} labels for {} clips", labels.len(), shape[0]),
        ));
    }
    let nf = dir.join(format!("{part}_num_frame.npy"));
    let valid = if nf.is_file() {
        read_npy_int(&nf)?
    } else {
        vec![shape[2]; shape[0]]
    };
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    Ok(ArraySource {
        shape: [shape[1], shape[2], shape[3], shape[4]],
        data,
        labels,
        valid,
        classes,
    })
}

fn open_npy(dir: &Path) -> Result<Splits, StageError> {
    let mut train = open_part(dir, "train")?;
    let mut test = open_part(dir, "test")?;
    let classes = train.classes.max(test.classes);
    train.classes = classes;
    test.classes = classes;
    let frames = train.shape[1];
    Ok(Splits {
        train: Box::new(train),
        test: Box::new(test),
        frames,
        describe: serde_json::json!({"format": "npy", "frames": frames, "classes": classes}),
    })
}
