//! The TensorBoard event files of training stages, read back by TensorBoard's own reader
//! (`scripts/tensorboard_scalars.py` in the torch venv of `scripts/setup-torch`).

use std::path::PathBuf;
use std::process::Command;

use skelflow_stages::learn::artifact::EpochRow;
use skelflow_stages::learn::tensorboard::write_scalars;

/// The venv's python if it has TensorBoard. `scripts/test` sets
/// SKELFLOW_TENSORBOARD_TESTS=1, which makes a missing reader a failure.
fn reader() -> Option<PathBuf> {
    crate::fixtures::venv_python("tensorboard", "SKELFLOW_TENSORBOARD_TESTS")
}

fn row(epoch: usize, loss: f64, extra: Vec<(String, f64)>) -> EpochRow {
    EpochRow {
        epoch,
        loss,
        lr: 0.1 / epoch as f64,
        seconds: 1.5,
        samples_per_s: 100.0 * epoch as f64,
        extra,
    }
}

#[test]
fn tensorboards_own_reader_reads_the_scalars_written() {
    let Some(python) = reader() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        row(1, 2.5, vec![("infonce".into(), 2.0)]),
        row(
            2,
            1.25,
            vec![("infonce".into(), 1.0), ("top1".into(), 41.5)],
        ),
        row(
            3,
            0.75,
            vec![("infonce".into(), 0.5), ("top1".into(), 57.25)],
        ),
    ];
    write_scalars(dir.path(), "pretrain", &rows).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/tensorboard_scalars.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = |tag: &str| -> Vec<(i64, f64)> {
        read[tag]
            .as_array()
            .unwrap_or_else(|| panic!("no {tag} in {read}"))
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(
        series("pretrain/loss"),
        vec![(1, 2.5), (2, 1.25), (3, 0.75)]
    );
    assert_eq!(
        series("pretrain/infonce"),
        vec![(1, 2.0), (2, 1.0), (3, 0.5)]
    );
    assert_eq!(series("pretrain/top1"), vec![(2, 41.5), (3, 57.25)]);
    assert_eq!(
        series("pretrain/samples_per_s"),
        vec![(1, 100.0), (2, 200.0), (3, 300.0)]
    );
    let lr = series("pretrain/lr");
    assert!((lr[1].1 - 0.05).abs() < 1e-7, "{lr:?}");
    let mut tags: Vec<&String> = read.as_object().unwrap().keys().collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            "pretrain/infonce",
            "pretrain/loss",
            "pretrain/lr",
            "pretrain/samples_per_s",
            "pretrain/top1"
        ]
    );
}
