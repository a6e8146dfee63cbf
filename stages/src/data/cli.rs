//! Library side of `skelflow data show` and `skelflow data convert`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use super::anchor::write_npy;
use super::dataset::{Dataset, Part, Stream, Variant};
use super::ntu_format::read_skeleton_file;
use super::ntu_import::{ImportOptions, OnError, import_ntu};
use super::preprocess::{apply_stream, prepare};
use crate::{IoContext, StageError};

/// A human-readable summary of a dataset artifact: counts per split and class, a histogram
/// of the source files' frame counts, bodies per sample.
pub fn show(dir: &Path) -> Result<String, StageError> {
    let ds = Dataset::open(dir)?;
    let m = ds.meta();
    let mut s = String::new();
    let _ = writeln!(s, "dataset {}", dir.display());
    let _ = writeln!(
        s,
        "  source {}, variant {} (3 × {} × 25 × 2 float32 per sample), {} samples, {} classes",
        m.source,
        m.variant,
        m.frames,
        ds.len(),
        m.num_classes
    );
    let _ = writeln!(
        s,
        "  left out: {} on the missing-skeleton list, {} bad files{}",
        m.skipped_missing,
        m.bad_files,
        if m.bad_files > 0 {
            " (see bad_files.json)"
        } else {
            ""
        }
    );

    let _ = writeln!(s, "\nbenchmarks");
    let _ = writeln!(s, "  {:<14} {:>7} {:>7}", "benchmark", "train", "test");
    let mut parts = Vec::new();
    for b in ds.benchmarks() {
        let (tr, te) = (ds.split(&b, Part::Train)?, ds.split(&b, Part::Test)?);
        let _ = writeln!(s, "  {:<14} {:>7} {:>7}", b, tr.len(), te.len());
        parts.push((b, tr, te));
    }

    let names: Vec<String> = m
        .extra
        .get("class_names")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let _ = writeln!(s, "\nsamples per class (train/test per benchmark)");
    let mut header = format!("  {:>5} {:>6}", "label", "total");
    for (b, _, _) in &parts {
        let _ = write!(header, " {:>13}", b);
    }
    if !names.is_empty() {
        header.push_str("  name");
    }
    let _ = writeln!(s, "{header}");
    let mut per_class = vec![0usize; m.num_classes.max(1)];
    for i in 0..ds.len() {
        if let Some(c) = per_class.get_mut(ds.label(i)) {
            *c += 1;
        }
    }
    let counts: Vec<(Vec<usize>, Vec<usize>)> = parts
        .iter()
        .map(|(_, tr, te)| {
            let last = per_class.len() - 1;
            let mut a = vec![0usize; last + 1];
            let mut b = vec![0usize; last + 1];
            tr.iter().for_each(|&i| a[ds.label(i).min(last)] += 1);
            te.iter().for_each(|&i| b[ds.label(i).min(last)] += 1);
            (a, b)
        })
        .collect();
    for (c, n) in per_class.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        let mut line = format!("  {:>5} {:>6}", c, n);
        for (a, b) in &counts {
            let _ = write!(line, " {:>13}", format!("{}/{}", a[c], b[c]));
        }
        if let Some(name) = names.get(c) {
            let _ = write!(line, "  {name}");
        }
        let _ = writeln!(s, "{line}");
    }

    let _ = writeln!(s, "\nframes per source file");
    let mut hist: BTreeMap<usize, usize> = BTreeMap::new();
    let (mut lo, mut hi, mut sum) = (usize::MAX, 0usize, 0usize);
    for info in ds.infos() {
        let f = info.raw_frames.max(0) as usize;
        *hist.entry(f / 25 * 25).or_default() += 1;
        lo = lo.min(f);
        hi = hi.max(f);
        sum += f;
    }
    let _ = writeln!(
        s,
        "  min {lo}, mean {:.1}, max {hi}",
        sum as f64 / ds.len().max(1) as f64
    );
    let top = hist.values().copied().max().unwrap_or(1).max(1);
    for (start, n) in &hist {
        let bar = "#".repeat((n * 40).div_ceil(top));
        let _ = writeln!(s, "  {:>3}-{:<3} {:>6} {bar}", start, start + 24, n);
    }

    let mut bodies: BTreeMap<i32, usize> = BTreeMap::new();
    for info in ds.infos() {
        *bodies.entry(info.bodies).or_default() += 1;
    }
    let list: Vec<String> = bodies.iter().map(|(b, n)| format!("{b}: {n}")).collect();
    let _ = writeln!(s, "\nmost bodies in a frame (samples): {}", list.join(", "));
    Ok(s)
}

/// What [`convert`] wrote.
#[derive(Clone, Debug)]
pub struct ConvertReport {
    pub out: PathBuf,
    pub shape: Vec<u64>,
    /// The sample names in array order (a directory) and their 0-based labels, also written
    /// to `<out>.json`.
    pub names: Vec<String>,
}

/// `skelflow data convert`: the same preprocessing as `ntu.import` for one `.skeleton` file
/// ((3, T, 25, 2)) or a directory ((N, 3, T, 25, 2), sorted names, the missing-skeleton list
/// honoured), written as a float32 `.npy` that the reference PyTorch repositories read. For
/// a directory, `<out>.json` lists the sample names and labels in array order (the
/// reference's `{part}_label.pkl`).
pub fn convert(
    input: &Path,
    variant: Variant,
    stream: Stream,
    out: &Path,
) -> Result<ConvertReport, StageError> {
    if input.is_file() {
        let seq = read_skeleton_file(input)?;
        let p = prepare(&seq, variant).map_err(|e| StageError::bad_file(input, e))?;
        let mut data = vec![0f32; p.data.len()];
        apply_stream(&p.data, stream, &mut data);
        let shape = vec![3, variant.frames() as u64, 25, 2];
        write_npy(out, &shape, &data)?;
        let name = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(ConvertReport {
            out: out.to_path_buf(),
            shape,
            names: vec![name],
        });
    }
    if !input.is_dir() {
        return Err(StageError::input(format!(
            "{}: no such file or directory; give a .skeleton file or a folder of them",
            input.display()
        )));
    }
    let tmp = tempdir_beside(out)?;
    let mut opts = ImportOptions::new(variant);
    opts.on_error = OnError::Fail;
    let result = (|| {
        import_ntu(input, &tmp, &opts, |_, _| {})?;
        let ds = Dataset::open(&tmp)?;
        let shape = vec![ds.len() as u64, 3, ds.frames() as u64, 25, 2];
        // Streamed sample by sample: a 10 GB array never sits in memory.
        let file = std::fs::File::create(out).at("create", out)?;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .at("write", out)?;
        let mut buf = vec![0f32; ds.sample_len()];
        for i in 0..ds.len() {
            ds.sample_into(i, stream, &mut buf);
            w.extend(buf.iter().copied()).at("write", out)?;
        }
        w.finish().at("write", out)?;
        let names: Vec<String> = (0..ds.len()).map(|i| ds.name(i).to_string()).collect();
        let labels: Vec<usize> = (0..ds.len()).map(|i| ds.label(i)).collect();
        let side = out.with_extension("json");
        super::dataset::write_json(
            &side,
            &serde_json::json!({"names": names, "labels": labels}),
        )?;
        Ok(ConvertReport {
            out: out.to_path_buf(),
            shape,
            names,
        })
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn tempdir_beside(out: &Path) -> Result<PathBuf, StageError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.join(format!(".skelflow-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).at("create the scratch folder", &dir)?;
    Ok(dir)
}
