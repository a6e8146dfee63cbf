//! Test data for the learning tests: a small, learnable, seeded skeleton-action set in the
//! reference repositories' numpy layout, and helpers to run stage kinds in-process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skelflow_stages::{Backend, Input, StageContext, StageKind};

pub const V: usize = 25;

/// Joint groups that move per class (0-based NTU joints).
const PARTS: [&[usize]; 5] = [
    &[4, 5, 6, 7, 21, 22],   // left arm
    &[8, 9, 10, 11, 23, 24], // right arm
    &[12, 13, 14, 15],       // left leg
    &[16, 17, 18, 19],       // right leg
    &[0, 1, 2, 3, 20],       // trunk + head
];

/// `n` clips (3, t, 25, 2) of `classes` actions: class c moves body part c % 5 along axis
/// (c / 5) % 3 at a class-specific frequency; subjects vary scale, phase, view angle, noise.
pub fn make_clips(n: usize, t: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut base_rng = ChaCha8Rng::seed_from_u64(7);
    let base: Vec<[f32; 3]> = (0..V)
        .map(|_| {
            [
                base_rng.random_range(-0.4..0.4),
                base_rng.random_range(-0.8..0.8),
                base_rng.random_range(-0.1..0.1),
            ]
        })
        .collect();
    let per = 3 * t * V * 2;
    let mut data = vec![0f32; n * per];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        labels.push(c as i64);
        let part = PARTS[c % 5];
        let axis = (c / 5) % 3;
        let freq = 1.0 + (c % 3) as f32 * 0.7;
        let amp = rng.random_range(0.25..0.45);
        let phase = rng.random_range(0.0..std::f32::consts::TAU);
        let scale = rng.random_range(0.85..1.15);
        let yaw = rng.random_range(-0.5f32..0.5);
        let (cy, sy) = (yaw.cos(), yaw.sin());
        for ti in 0..t {
            let s = (freq * std::f32::consts::TAU * ti as f32 / t as f32 + phase).sin() * amp;
            for v in 0..V {
                let mut p = base[v].map(|x| x * scale);
                if part.contains(&v) {
                    p[axis] += s;
                }
                // view: rotate about y
                let q = [cy * p[0] + sy * p[2], p[1], -sy * p[0] + cy * p[2]];
                for (ci, val) in q.iter().enumerate() {
                    let idx = (((i * 3 + ci) * t + ti) * V + v) * 2;
                    data[idx] = val + rng.random_range(-0.01..0.01);
                }
            }
        }
    }
    (data, labels)
}

pub fn write_npy_f32(path: &Path, shape: &[u64], data: &[f32]) {
    use npyz::WriterBuilder;
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(f)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

pub fn write_npy_i64(path: &Path, data: &[i64]) {
    use npyz::WriterBuilder;
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[data.len() as u64])
        .writer(f)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// A dataset directory in the numpy layout (`{train,test}_{data,label}.npy`).
pub fn write_dataset(dir: &Path, train: usize, test: usize, t: usize, classes: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (part, n, seed) in [("train", train, 1u64), ("test", test, 2u64)] {
        let (data, labels) = make_clips(n, t, classes, seed);
        write_npy_f32(
            &dir.join(format!("{part}_data.npy")),
            &[n as u64, 3, t as u64, V as u64, 2],
            &data,
        );
        write_npy_i64(&dir.join(format!("{part}_label.npy")), &labels);
    }
}

/// A context for running `kind` in-process (what the runner's executor builds).
pub fn context(
    kind: &dyn StageKind,
    root: &Path,
    id: &str,
    params: serde_json::Value,
    inputs: &[(&str, &Path)],
) -> StageContext {
    let params = kind
        .check(&params)
        .unwrap_or_else(|e| panic!("{id}: bad params: {e:?}"));
    let out_dir = root.join(format!("{id}.out"));
    let work_dir = root.join(format!("{id}.work"));
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::create_dir_all(&work_dir).unwrap();
    StageContext {
        instance: id.to_string(),
        params,
        inputs: inputs
            .iter()
            .map(|(k, d)| Input {
                instance: format!("{k}-input"),
                kind: k.to_string(),
                dir: d.to_path_buf(),
            })
            .collect(),
        out_dir,
        work_dir,
        pipeline_dir: root.to_path_buf(),
        seed: 0,
        backend: test_backend(),
        threads: 2,
    }
}

/// `SKELFLOW_TEST_BACKEND=tch-cpu` runs the learning tests on libtorch (scripts/test-tch).
pub fn test_backend() -> Backend {
    std::env::var("SKELFLOW_TEST_BACKEND")
        .ok()
        .and_then(|b| Backend::parse(&b))
        .unwrap_or(Backend::Flex)
}

/// The flex device RNG is process-wide and every test module runs in this one binary:
/// tests that seed it or draw from it (building models, running learning kinds) hold this
/// lock, so that a parallel test cannot interleave its draws.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn run(kind: &dyn StageKind, ctx: &StageContext) -> PathBuf {
    let _rng = rng_lock();
    kind.run_stage(ctx)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx.instance));
    ctx.out_dir.clone()
}

/// The `metric`/`at`/`k` row value of a metrics.json.
pub fn metric(dir: &Path, metric: &str, dims: &[(&str, &str)]) -> f64 {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric && dims.iter().all(|(k, val)| r[*k] == *val))
        .unwrap_or_else(|| panic!("no {metric} {dims:?} in {}", dir.display()))["value"]
        .as_f64()
        .unwrap()
}

/// (epoch, seconds, loss) of an epochs.parquet.
pub fn read_epochs(path: &Path) -> Vec<(i64, f64, f64)> {
    use arrow_array::{Float64Array, Int64Array};
    let f = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let e = b
            .column_by_name("epoch")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone();
        let s = b
            .column_by_name("seconds")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone();
        let l = b
            .column_by_name("loss")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone();
        for i in 0..b.num_rows() {
            out.push((e.value(i), s.value(i), l.value(i)));
        }
    }
    out
}

/// `extract` the features of the encoder artifact `enc` from the dataset `data` (an input of
/// kind `data_kind`), then `eval.linear` them: (features dir, linear metrics dir).
pub fn extract_and_linear(
    root: &Path,
    name: &str,
    enc: &Path,
    (data_kind, data): (&str, &Path),
    extract: serde_json::Value,
    linear: serde_json::Value,
) -> (PathBuf, PathBuf) {
    use skelflow_stages::evals::linear::EvalLinear;
    use skelflow_stages::learn::extract::Extract;
    let feats = run(
        &Extract,
        &context(
            &Extract,
            root,
            &format!("extract-{name}"),
            extract,
            &[("pretrain", enc), (data_kind, data)],
        ),
    );
    let lin = run(
        &EvalLinear,
        &context(
            &EvalLinear,
            root,
            &format!("linear-{name}"),
            linear,
            &[("extract", &feats)],
        ),
    );
    (feats, lin)
}

/// A randomly initialised `encoder` (the random-init row), as the instance `random`.
pub fn random_encoder(root: &Path, encoder: serde_json::Value) -> PathBuf {
    use skelflow_stages::learn::encoder_init::EncoderInit;
    run(
        &EncoderInit,
        &context(
            &EncoderInit,
            root,
            "random",
            serde_json::json!({ "encoder": encoder }),
            &[],
        ),
    )
}

/// `eval.knn` with `params` on the features of `feats`, as the instance `knn-<name>`.
pub fn eval_knn(root: &Path, name: &str, feats: &Path, params: serde_json::Value) -> PathBuf {
    use skelflow_stages::evals::knn::EvalKnn;
    run(
        &EvalKnn,
        &context(
            &EvalKnn,
            root,
            &format!("knn-{name}"),
            params,
            &[("extract", feats)],
        ),
    )
}

/// Every Float64 column of an `epochs.parquet`, by name, in file order.
pub fn epoch_columns(path: &Path) -> Vec<(String, Vec<f64>)> {
    use arrow_array::Float64Array;
    let f = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut cols: Vec<(String, Vec<f64>)> = Vec::new();
    for b in reader {
        let b = b.unwrap();
        for (field, col) in b.schema().fields().iter().zip(b.columns()) {
            let values = col
                .as_any()
                .downcast_ref::<Float64Array>()
                .map(|a| a.values().to_vec())
                .unwrap_or_default();
            match cols.iter_mut().find(|(n, _)| n == field.name()) {
                Some((_, v)) => v.extend(values),
                None => cols.push((field.name().clone(), values)),
            }
        }
    }
    cols
}

/// One column of [`epoch_columns`].
pub fn epoch_column<'a>(cols: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    &cols
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .1
}

/// `n` clips of `t` frames (4 classes, [`make_clips`] with `seed`) in memory.
pub fn mem_source(n: usize, t: usize, seed: u64) -> skelflow_stages::learn::data::MemSource {
    let (data, labels) = make_clips(n, t, 4, seed);
    let per = 3 * t * 25 * 2;
    skelflow_stages::learn::data::MemSource {
        clips: (0..n)
            .map(|i| {
                skelflow_stages::learn::augment::Clip::new(
                    3,
                    t,
                    25,
                    2,
                    data[i * per..(i + 1) * per].to_vec(),
                )
            })
            .collect(),
        labels: labels.iter().map(|&l| l as usize).collect(),
        classes: 4,
    }
}

/// A batch norm's running mean with any pending update applied (burn's `value` can lag one
/// update behind).
pub fn running_mean(bn: &burn::nn::BatchNorm) -> Vec<f32> {
    bn.running_mean
        .value_sync()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}
