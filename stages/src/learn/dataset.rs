//! Opening the training data a learning stage `needs`.
//!
//! Two layouts are read:
//! - the `ntu.import` / `pku.import` artifact (`dataset.arrow`, ARTIFACTS.md), through the
//!   data helper's reader `stages::data::dataset::Dataset` once that branch is merged;
//! - the reference repositories' numpy layout: `{train,test}_data.npy` (N, 3, T, 25, 2)
//!   float32 and `{train,test}_label.npy` (N,) integers (optionally `{part}_num_frame.npy`),
//!   e.g. AimCLR/ActCLR's frame50 arrays, so preprocessed data can be brought as is.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::augment::Clip;
use super::data::ClipSource;
use crate::{StageContext, StageError};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    #[default]
    Joint,
    Motion,
    Bone,
}

/// 1-based bone pairs `bone[v1] = x[v1] - x[v2]` (ML-FACTS §2.1).
const BONES: [(usize, usize); 25] = [
    (1, 2),
    (2, 21),
    (3, 21),
    (4, 3),
    (5, 21),
    (6, 5),
    (7, 6),
    (8, 7),
    (9, 21),
    (10, 9),
    (11, 10),
    (12, 11),
    (13, 1),
    (14, 13),
    (15, 14),
    (16, 15),
    (17, 1),
    (18, 17),
    (19, 18),
    (20, 19),
    (21, 21),
    (22, 23),
    (23, 8),
    (24, 25),
    (25, 12),
];

/// The motion or bone stream of a joint clip, as the reference feeders compute it.
pub fn stream_of(clip: Clip, stream: StreamKind) -> Clip {
    match stream {
        StreamKind::Joint => clip,
        StreamKind::Motion => {
            let mut out = Clip::zeros(clip.c, clip.t, clip.v, clip.m);
            for c in 0..clip.c {
                for t in 0..clip.t.saturating_sub(1) {
                    for v in 0..clip.v {
                        for m in 0..clip.m {
                            let i = out.idx(c, t, v, m);
                            out.data[i] = clip.at(c, t + 1, v, m) - clip.at(c, t, v, m);
                        }
                    }
                }
            }
            out
        }
        StreamKind::Bone => {
            let mut out = Clip::zeros(clip.c, clip.t, clip.v, clip.m);
            for c in 0..clip.c {
                for t in 0..clip.t {
                    for &(v1, v2) in &BONES {
                        for m in 0..clip.m {
                            let i = out.idx(c, t, v1 - 1, m);
                            out.data[i] = clip.at(c, t, v1 - 1, m) - clip.at(c, t, v2 - 1, m);
                        }
                    }
                }
            }
            out
        }
    }
}

/// One part (train or test) of a dataset, held in memory.
pub struct ArraySource {
    pub shape: [usize; 4],
    pub data: Vec<f32>,
    pub labels: Vec<usize>,
    pub valid: Vec<usize>,
    pub classes: usize,
    pub stream: StreamKind,
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
        stream_of(
            Clip::new(c, t, v, m, self.data[i * n..(i + 1) * n].to_vec()),
            self.stream,
        )
    }
}

/// The train and test parts of a benchmark, and what they are.
pub struct Splits {
    pub train: ArraySource,
    pub test: ArraySource,
    /// Frames T of the stored clips.
    pub frames: usize,
    /// Where it came from, for `encoder.json` / `features.json`.
    pub describe: serde_json::Value,
}

/// Find the dataset among the stage's inputs and load `benchmark`'s train and test parts.
pub fn open_splits(
    ctx: &StageContext,
    benchmark: &str,
    stream: StreamKind,
) -> Result<Splits, StageError> {
    let npy = ctx
        .inputs
        .iter()
        .find(|i| i.dir.join("train_data.npy").is_file());
    if let Some(input) = npy {
        return open_npy(&input.dir, stream);
    }
    if let Ok(input) = ctx.input_with_file("dataset.arrow") {
        return open_arrow(&input.dir, benchmark, stream);
    }
    Err(StageError::msg(format!(
        "{} needs a dataset: add an `ntu.import`/`pku.import` stage (dataset.arrow) or a stage that writes train_data.npy/train_label.npy/test_data.npy/test_label.npy to `needs`",
        ctx.instance
    )))
}

fn open_arrow(dir: &Path, _benchmark: &str, _stream: StreamKind) -> Result<Splits, StageError> {
    Err(StageError::msg(format!(
        "{}: reading dataset.arrow needs the data helper's reader (stages::data), which is not merged into this build yet; export the split as train_data.npy/train_label.npy/test_data.npy/test_label.npy instead",
        dir.display()
    )))
}

fn read_npy_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>), StageError> {
    let bytes = std::fs::read(path)
        .map_err(|e| StageError::io(format!("cannot read {}", path.display()), e))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| StageError::msg(format!("{}: not a .npy file: {e}", path.display())))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data = npy
        .into_vec::<f32>()
        .map_err(|e| StageError::msg(format!("{}: expected float32 data: {e}", path.display())))?;
    Ok((shape, data))
}

fn read_npy_int(path: &Path) -> Result<Vec<usize>, StageError> {
    let bytes = std::fs::read(path)
        .map_err(|e| StageError::io(format!("cannot read {}", path.display()), e))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| StageError::msg(format!("{}: not a .npy file: {e}", path.display())))?;
    let bad = |e: std::io::Error| {
        StageError::msg(format!("{}: expected integer labels: {e}", path.display()))
    };
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
                .map_err(|_| StageError::msg(format!("{}: negative label {x}", path.display())))
        })
        .collect()
}

fn open_part(dir: &Path, part: &str, stream: StreamKind) -> Result<ArraySource, StageError> {
    let dp = dir.join(format!("{part}_data.npy"));
    let (shape, data) = read_npy_f32(&dp)?;
    if shape.len() != 5 || shape[1] != 3 {
        return Err(StageError::msg(format!(
            "{}: expected shape (N, 3, T, V, M), found {shape:?}",
            dp.display()
        )));
    }
    let labels = read_npy_int(&dir.join(format!("{part}_label.npy")))?;
    if labels.len() != shape[0] {
        return Err(StageError::msg(format!(
            "{}: {} labels for {} clips",
            dir.join(format!("{part}_label.npy")).display(),
            labels.len(),
            shape[0]
        )));
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
        stream,
    })
}

fn open_npy(dir: &Path, stream: StreamKind) -> Result<Splits, StageError> {
    let mut train = open_part(dir, "train", stream)?;
    let mut test = open_part(dir, "test", stream)?;
    let classes = train.classes.max(test.classes);
    train.classes = classes;
    test.classes = classes;
    let frames = train.shape[1];
    Ok(Splits {
        train,
        test,
        frames,
        describe: serde_json::json!({"format": "npy", "frames": frames, "classes": classes}),
    })
}
