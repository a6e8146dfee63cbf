//! TensorBoard event files of a training stage's per-epoch scalars, readable by
//! `tensorboard --logdir` and `wandb sync --sync-tensorboard`.
//!
//! The format is TFRecord: each record is its length (u64 LE), the masked CRC-32C of those
//! 8 bytes, the payload, and the masked CRC-32C of the payload. Payloads are `Event`
//! protobuf messages (tensorflow/core/util/event.proto): the first carries the file
//! version, each other one a `Summary` with one `simple_value` per scalar. The few fields
//! used are encoded here; no protobuf compiler is needed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::artifact::EpochRow;

/// Write `rows` as one event file in `dir` (created), scalars tagged `<prefix>/<name>`
/// (`loss`, `lr`, `samples_per_s`, and every extra column, e.g. `top1`) at step = epoch.
/// Wall times are spread back from now by each epoch's seconds. Returns the file.
pub fn write_scalars(dir: &Path, prefix: &str, rows: &[EpochRow]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let path = dir.join(format!("events.out.tfevents.{}.skelflow", now as u64));
    let mut out = Vec::new();
    let total: f64 = rows.iter().map(|r| r.seconds).sum();
    record(
        &mut out,
        &event(now - total, 0, Payload::FileVersion("brain.Event:2")),
    );
    let mut elapsed = 0.0;
    for r in rows {
        elapsed += r.seconds;
        let mut values = vec![
            ("loss".to_string(), r.loss),
            ("lr".to_string(), r.lr),
            ("samples_per_s".to_string(), r.samples_per_s),
        ];
        values.extend(r.extra.iter().cloned());
        let values: Vec<(String, f32)> = values
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (format!("{prefix}/{k}"), v as f32))
            .collect();
        record(
            &mut out,
            &event(
                now - total + elapsed,
                r.epoch as i64,
                Payload::Scalars(&values),
            ),
        );
    }
    let mut f = std::fs::File::create(&path)?;
    f.write_all(&out)?;
    f.sync_all()?;
    Ok(path)
}

enum Payload<'a> {
    FileVersion(&'a str),
    Scalars(&'a [(String, f32)]),
}

/// An `Event`: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
/// summary = 5 (Summary { repeated Value value = 1 }, Value { tag = 1, simple_value = 2 }).
fn event(wall_time: f64, step: i64, payload: Payload) -> Vec<u8> {
    let mut e = Vec::new();
    e.push(0x09);
    e.extend_from_slice(&wall_time.to_le_bytes());
    e.push(0x10);
    varint(&mut e, step as u64);
    match payload {
        Payload::FileVersion(v) => bytes_field(&mut e, 0x1a, v.as_bytes()),
        Payload::Scalars(values) => {
            let mut summary = Vec::new();
            for (tag, v) in values {
                let mut value = Vec::new();
                bytes_field(&mut value, 0x0a, tag.as_bytes());
                value.push(0x15);
                value.extend_from_slice(&v.to_le_bytes());
                bytes_field(&mut summary, 0x0a, &value);
            }
            bytes_field(&mut e, 0x2a, &summary);
        }
    }
    e
}

fn bytes_field(out: &mut Vec<u8>, key: u8, bytes: &[u8]) {
    out.push(key);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn record(out: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc(payload).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_the_masked_crc_of_the_tfrecord_format() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        // CRC-32C's check value, then TFRecord's mask (rotate right by 15, add 0xa282ead8).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }
}
