//! The NTU RGB+D `.skeleton` text format (ML-FACTS §1.1) and its file names.
//!
//! ```text
//! <numFrame>
//! per frame:  <numBody>
//!   per body: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
//!             handRightState isResticted leanX leanY trackingState      (10 values)
//!             <numJoint>                                                 (always 25)
//!             per joint: x y z depthX depthY colorX colorY oW oX oY oZ trackingState (12 values)
//! ```
//!
//! The parser is strict about structure (every count, every value, every line) and fast:
//! one pass over the bytes, no allocation per token, floats parsed with `fast-float2` as
//! f64 and rounded to f32, exactly what the reference readers get from Python's `float()`
//! followed by a float32 array. LF and CRLF line endings, exponent notation, frames with 0
//! bodies and frames with more than 2 bodies are all accepted.

use std::fmt;
use std::path::{Path, PathBuf};

use super::skeleton::NUM_JOINTS;

/// Values on a body line and on a joint line.
const BODY_VALUES: usize = 10;
const JOINT_VALUES: usize = 12;
/// More bodies than this in one frame is not a Kinect recording (it tracks 6).
pub const MAX_LISTED_BODIES: usize = 16;

/// A malformed file: which file, which line (1-based; `None` for the file as a whole) and
/// what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        ParseError {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }
}

/// One parsed `.skeleton` file: for every frame, the bodies in the order the file lists them,
/// each with the (x, y, z) of its 25 joints in camera coordinates (metres).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkeletonSequence {
    /// Number of bodies listed in each frame (may be 0).
    pub frame_bodies: Vec<u16>,
    /// 25 joints per listed body, bodies in file order, frames in file order.
    pub joints: Vec<[f32; 3]>,
}

impl SkeletonSequence {
    pub fn num_frames(&self) -> usize {
        self.frame_bodies.len()
    }

    /// Most bodies listed in any frame.
    pub fn max_bodies(&self) -> usize {
        self.frame_bodies.iter().copied().max().unwrap_or(0) as usize
    }

    /// Whether any frame lists a body at all.
    pub fn has_bodies(&self) -> bool {
        !self.joints.is_empty()
    }

    /// Per frame, the joints of its listed bodies: a slice of `bodies × 25` points.
    pub fn frames(&self) -> impl Iterator<Item = &[[f32; 3]]> + '_ {
        let mut at = 0usize;
        self.frame_bodies.iter().map(move |&b| {
            let n = b as usize * NUM_JOINTS;
            let s = &self.joints[at..at + n];
            at += n;
            s
        })
    }
}

/// The fields of an NTU file name `SsssCcccPpppRrrrAaaa(.skeleton)`, all 1-based as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NtuName {
    pub setup: u16,
    pub camera: u16,
    pub subject: u16,
    pub replication: u16,
    pub action: u16,
}

impl NtuName {
    /// Parse `S001C002P003R002A013` or `S001C002P003R002A013.skeleton` (the directory part,
    /// if any, is ignored). Every field is three digits; nothing else may follow.
    pub fn parse(file_name: &str) -> Option<NtuName> {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let stem = base.strip_suffix(".skeleton").unwrap_or(base);
        let b = stem.as_bytes();
        if b.len() != 20 {
            return None;
        }
        let field = |i: usize, letter: u8| -> Option<u16> {
            if b[i] != letter || !b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(
                b[i + 1..i + 4]
                    .iter()
                    .fold(0u16, |n, d| n * 10 + (d - b'0') as u16),
            )
        };
        Some(NtuName {
            setup: field(0, b'S')?,
            camera: field(4, b'C')?,
            subject: field(8, b'P')?,
            replication: field(12, b'R')?,
            action: field(16, b'A')?,
        })
    }

    /// The canonical stem, e.g. `S001C002P003R002A013`.
    pub fn stem(&self) -> String {
        format!(
            "S{:03}C{:03}P{:03}R{:03}A{:03}",
            self.setup, self.camera, self.subject, self.replication, self.action
        )
    }

    /// 0-based label (`A − 1`).
    pub fn label(&self) -> usize {
        self.action.saturating_sub(1) as usize
    }
}

/// The message for a file whose name is not an NTU sample name.
pub fn bad_name_message(file_name: &str) -> String {
    format!(
        "`{file_name}` is not an NTU sample name SsssCcccPpppRrrrAaaa.skeleton (e.g. S001C002P003R002A013.skeleton): \
         setup, camera, subject, replication and action are read from it; rename the file or move it out of the directory"
    )
}

/// Read and parse one `.skeleton` file.
pub fn read_skeleton_file(path: &Path) -> Result<SkeletonSequence, ParseError> {
    let mut buf = Vec::new();
    read_skeleton_file_with(path, &mut buf)
}

/// Like [`read_skeleton_file`], reusing `buf` for the file's bytes.
pub fn read_skeleton_file_with(
    path: &Path,
    buf: &mut Vec<u8>,
) -> Result<SkeletonSequence, ParseError> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .map_err(|e| ParseError::file(path, format!("cannot read the file: {e}")))?;
    parse_skeleton(buf, path)
}

/// Parse the bytes of a `.skeleton` file. `file` is only used in error messages.
pub fn parse_skeleton(bytes: &[u8], file: &Path) -> Result<SkeletonSequence, ParseError> {
    let mut p = Lines {
        buf: bytes,
        pos: 0,
        line: 0,
    };
    let err = |line: usize, message: String| ParseError {
        file: file.to_path_buf(),
        line: Some(line),
        message,
    };

    let (ln, first) = p.next().ok_or_else(|| {
        err(
            1,
            "the file is empty: expected the frame count on line 1".into(),
        )
    })?;
    let num_frames = parse_count(first).map_err(|m| err(ln, format!("frame count: {m}")))?;

    // Never trust a count for a reservation bigger than the file could hold.
    let mut seq = SkeletonSequence {
        frame_bodies: Vec::with_capacity(num_frames.min(bytes.len() / 2 + 1)),
        joints: Vec::with_capacity((bytes.len() / 60).min(num_frames * NUM_JOINTS * 2)),
    };
    let mut values = [0f64; JOINT_VALUES];
    for t in 0..num_frames {
        let frame_no = t + 1;
        let truncated = |p: &Lines, what: &str| {
            err(
                p.line + 1,
                format!(
                    "unexpected end of file: expected {what} in frame {frame_no} of {num_frames}; the file is truncated \
                     (re-extract it from the dataset archive, or import with `on_error: skip`)"
                ),
            )
        };
        let (ln, line) = p.next().ok_or_else(|| truncated(&p, "the body count"))?;
        let bodies = parse_count(line)
            .map_err(|m| err(ln, format!("body count of frame {frame_no}: {m}")))?;
        if bodies > MAX_LISTED_BODIES {
            return Err(err(
                ln,
                format!(
                    "body count of frame {frame_no} is {bodies}; a Kinect frame lists at most {MAX_LISTED_BODIES} bodies"
                ),
            ));
        }
        seq.frame_bodies.push(bodies as u16);
        for b in 0..bodies {
            let body_no = b + 1;
            let (ln, line) = p
                .next()
                .ok_or_else(|| truncated(&p, &format!("the info line of body {body_no}")))?;
            parse_values::<BODY_VALUES>(line, &mut values).map_err(|m| {
                err(
                    ln,
                    format!("body info line (frame {frame_no}, body {body_no}): {m}"),
                )
            })?;
            let (ln, line) = p
                .next()
                .ok_or_else(|| truncated(&p, &format!("the joint count of body {body_no}")))?;
            let joints = parse_count(line).map_err(|m| {
                err(
                    ln,
                    format!("joint count (frame {frame_no}, body {body_no}): {m}"),
                )
            })?;
            if joints != NUM_JOINTS {
                return Err(err(
                    ln,
                    format!(
                        "joint count (frame {frame_no}, body {body_no}) is {joints}; NTU skeletons have {NUM_JOINTS} joints"
                    ),
                ));
            }
            for j in 0..NUM_JOINTS {
                let (ln, line) = p
                    .next()
                    .ok_or_else(|| truncated(&p, &format!("joint {} of body {body_no}", j + 1)))?;
                parse_values::<JOINT_VALUES>(line, &mut values).map_err(|m| {
                    err(
                        ln,
                        format!(
                            "joint line (frame {frame_no}, body {body_no}, joint {}): {m}",
                            j + 1
                        ),
                    )
                })?;
                seq.joints
                    .push([values[0] as f32, values[1] as f32, values[2] as f32]);
            }
        }
    }
    // Only whitespace may follow the last frame.
    while let Some((ln, line)) = p.next() {
        if line.iter().any(|c| !c.is_ascii_whitespace()) {
            return Err(err(
                ln,
                format!(
                    "unexpected data after the last frame: line 1 declares {num_frames} frames, so either that count is \
                     wrong or the file was concatenated"
                ),
            ));
        }
    }
    Ok(seq)
}

/// Line iterator over bytes: strips a trailing `\r` (CRLF files), counts lines from 1.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    #[inline]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let (mut line, advance) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        self.pos += advance;
        self.line += 1;
        Some((self.line, line))
    }
}

#[inline]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r' || c == 0x0b || c == 0x0c
}

/// A non-negative integer alone on its line.
pub(crate) fn parse_count(line: &[u8]) -> Result<usize, String> {
    let t = trim(line);
    if t.is_empty() {
        return Err("expected an integer, found an empty line".into());
    }
    if t.len() > 9 || !t.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "expected a non-negative integer, found `{}`",
            shown(t)
        ));
    }
    Ok(t.iter().fold(0usize, |n, d| n * 10 + (d - b'0') as usize))
}

/// Exactly `N` finite numbers separated by blanks.
#[inline]
pub(crate) fn parse_values<const N: usize>(line: &[u8], out: &mut [f64]) -> Result<(), String> {
    let n = line.len();
    let mut i = 0;
    for (k, slot) in out.iter_mut().take(N).enumerate() {
        while i < n && is_blank(line[i]) {
            i += 1;
        }
        if i == n {
            return Err(format!("expected {N} values, found {k}"));
        }
        match fast_float2::parse_partial::<f64, _>(&line[i..]) {
            Ok((v, used)) if used > 0 && (i + used == n || is_blank(line[i + used])) => {
                if !v.is_finite() {
                    return Err(format!(
                        "value {} is `{}`, not a finite number",
                        k + 1,
                        shown(&line[i..i + used])
                    ));
                }
                *slot = v;
                i += used;
            }
            _ => {
                let end = line[i..]
                    .iter()
                    .position(|&c| is_blank(c))
                    .map_or(n, |e| i + e);
                return Err(format!(
                    "value {} is `{}`, not a number",
                    k + 1,
                    shown(&line[i..end])
                ));
            }
        }
    }
    let extra = line[i..]
        .split(|&c| is_blank(c))
        .filter(|t| !t.is_empty())
        .count();
    if extra > 0 {
        return Err(format!("expected {N} values, found {}", N + extra));
    }
    Ok(())
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_blank(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_blank(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// A token for a message: lossy UTF-8, at most 40 characters.
fn shown(t: &[u8]) -> String {
    let s = String::from_utf8_lossy(t);
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = NtuName::parse("S017C003P020R002A060.skeleton").unwrap();
        assert_eq!(
            (n.setup, n.camera, n.subject, n.replication, n.action),
            (17, 3, 20, 2, 60)
        );
        assert_eq!(n.label(), 59);
        assert_eq!(n.stem(), "S017C003P020R002A060");
        assert!(NtuName::parse("dir/S001C001P001R001A001").is_some());
        for bad in [
            "S01C001P001R001A001.skeleton",
            "X001C001P001R001A001",
            "S001C001P001R001A0x1",
            "S001C001P001R001A001x",
        ] {
            assert!(NtuName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn values_and_counts() {
        let mut v = [0f64; 12];
        parse_values::<3>(b"  1.5\t-2E-05 3 ", &mut v).unwrap();
        assert_eq!(&v[..3], &[1.5, -2e-5, 3.0]);
        assert_eq!(
            parse_values::<3>(b"1 2", &mut v).unwrap_err(),
            "expected 3 values, found 2"
        );
        assert_eq!(
            parse_values::<3>(b"1 2 3 4 5", &mut v).unwrap_err(),
            "expected 3 values, found 5"
        );
        assert_eq!(
            parse_values::<3>(b"1 2x 3", &mut v).unwrap_err(),
            "value 2 is `2x`, not a number"
        );
        assert_eq!(
            parse_values::<3>(b"1 nan 3", &mut v).unwrap_err(),
            "value 2 is `nan`, not a finite number"
        );
        assert_eq!(parse_count(b" 12 ").unwrap(), 12);
        assert!(parse_count(b"1.5").is_err());
    }
}
