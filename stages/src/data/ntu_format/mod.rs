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
//! one pass over the bytes, no allocation per line, and for the body and joint lines a fast
//! path ([`fast_path`], beside this grammar) that checks a whole line with SIMD byte classes
//! and bit masks and converts x, y, z with SWAR. Values are the f64 of a correctly rounded parse rounded to
//! f32, exactly what the reference readers get from Python's `float()` followed by a
//! float32 array. Any line the fast path does not take (exponent notation, `+`, tabs, and
//! every malformed line) goes to the exact per-token parser (`parse_values_prefix`, with
//! `fast-float2` behind it), which writes the error messages. LF and CRLF line endings,
//! exponent notation, frames with 0 bodies and frames with more than 2 bodies are all
//! accepted.

mod fast_path;

use std::fmt;
use std::path::{Path, PathBuf};

use fast_path::{WINDOW, plain_line};

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

/// A malformed file is a [`StageError::BadFile`] with its line.
impl From<ParseError> for crate::StageError {
    fn from(e: ParseError) -> Self {
        crate::StageError::BadFile {
            path: e.file,
            line: e.line,
            message: e.message,
        }
    }
}

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
    /// if any, is ignored). Every field is three digits, at least 001; nothing else may follow.
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
            // Every field is 1-based: 000 is not a setup, camera, subject, … number.
            let n = b[i + 1..i + 4]
                .iter()
                .fold(0u16, |n, d| n * 10 + (d - b'0') as u16);
            (n > 0).then_some(n)
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

/// Where [`parse_skeleton_into`] puts a file's skeletons, in file order. Each line is checked
/// before it is handed over; after an error the sink holds a partial file.
pub trait SkeletonSink {
    /// The file declares `frames` frames and has `bytes` bytes (a hint for reservations).
    fn begin(&mut self, _frames: usize, _bytes: usize) {}
    /// Frame `t` (0-based) lists `bodies` bodies; their joints follow.
    fn frame(&mut self, t: usize, bodies: usize);
    /// Joint `j` of body `b` (0-based, in listing order) of frame `t`: (x, y, z) in metres.
    fn joint(&mut self, t: usize, b: usize, j: usize, xyz: [f32; 3]);
}

impl SkeletonSink for SkeletonSequence {
    fn begin(&mut self, frames: usize, bytes: usize) {
        // Never trust a count for a reservation bigger than the file could hold.
        self.frame_bodies.reserve(frames.min(bytes / 2 + 1));
        self.joints
            .reserve((bytes / 60).min(frames.saturating_mul(NUM_JOINTS * 2)));
    }
    #[inline]
    fn frame(&mut self, _t: usize, bodies: usize) {
        self.frame_bodies.push(bodies as u16);
    }
    #[inline]
    fn joint(&mut self, _t: usize, _b: usize, _j: usize, xyz: [f32; 3]) {
        self.joints.push(xyz);
    }
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
    read_file_into(path, buf)?;
    parse_skeleton(buf, path)
}

/// The whole file in `buf` (replacing what was there; its allocation is reused).
pub fn read_file_into(path: &Path, buf: &mut Vec<u8>) -> Result<(), ParseError> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)
        // `read_to_end` sizes the buffer from the file's length: one read, no regrowth.
        .and_then(|mut f| f.read_to_end(buf))
        .map(drop)
        .map_err(|e| ParseError::file(path, format!("cannot read the file: {e}")))
}

/// Parse the bytes of a `.skeleton` file. `file` is only used in error messages.
pub fn parse_skeleton(bytes: &[u8], file: &Path) -> Result<SkeletonSequence, ParseError> {
    let mut seq = SkeletonSequence::default();
    parse_skeleton_into(bytes, file, &mut seq)?;
    Ok(seq)
}

/// [`parse_skeleton`] without the fast path: every line through the exact per-token parser.
/// Slower; the same result (values and errors), which is what the tests check the fast path
/// against.
pub fn parse_skeleton_exact(bytes: &[u8], file: &Path) -> Result<SkeletonSequence, ParseError> {
    let mut seq = SkeletonSequence::default();
    parse_lines(Lines::<false>::new(bytes), file, &mut seq)?;
    Ok(seq)
}

/// Parse the bytes of a `.skeleton` file into `sink` (e.g. straight into a model's array,
/// without a [`SkeletonSequence`] in between). `file` is only used in error messages.
pub fn parse_skeleton_into<S: SkeletonSink>(
    bytes: &[u8],
    file: &Path,
    sink: &mut S,
) -> Result<(), ParseError> {
    parse_lines(Lines::<true>::new(bytes), file, sink)
}

/// The grammar of the file over its lines.
#[inline(always)]
fn parse_lines<S: SkeletonSink, const FAST: bool>(
    mut p: Lines<'_, FAST>,
    file: &Path,
    sink: &mut S,
) -> Result<(), ParseError> {
    let bytes = p.buf;
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
    sink.begin(num_frames, bytes.len());

    let mut values = [0f64; JOINT_VALUES];
    for t in 0..num_frames {
        let frame_no = t + 1;
        let truncated = |p: &Lines<FAST>, what: &str| {
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
        sink.frame(t, bodies);
        for b in 0..bodies {
            let body_no = b + 1;
            let (ln, checked) = p
                .values::<BODY_VALUES>(&mut values, 0)
                .ok_or_else(|| truncated(&p, &format!("the info line of body {body_no}")))?;
            checked.map_err(|m| {
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
                let (ln, checked) = p
                    .values::<JOINT_VALUES>(&mut values, 3)
                    .ok_or_else(|| truncated(&p, &format!("joint {} of body {body_no}", j + 1)))?;
                checked.map_err(|m| {
                    err(
                        ln,
                        format!(
                            "joint line (frame {frame_no}, body {body_no}, joint {}): {m}",
                            j + 1
                        ),
                    )
                })?;
                sink.joint(
                    t,
                    b,
                    j,
                    [values[0] as f32, values[1] as f32, values[2] as f32],
                );
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
    Ok(())
}

/// Line iterator over bytes: strips a trailing `\r` (CRLF files), counts lines from 1.
/// `FAST`: whether [`Lines::values`] tries the fast path first.
struct Lines<'a, const FAST: bool> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a, const FAST: bool> Lines<'a, FAST> {
    fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            line: 0,
        }
    }

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

    /// The next line as exactly `N` numbers, the first `exact` converted into `out`: its line
    /// number and whether it is well formed, or `None` at the end of the file. Takes
    /// [`plain_line`]'s fast path when it can, else the exact per-token parser (which also
    /// writes every error message).
    #[inline(always)]
    fn values<const N: usize>(
        &mut self,
        out: &mut [f64],
        exact: usize,
    ) -> Option<(usize, Result<(), String>)> {
        if FAST
            && let Some(window) = self.buf.get(self.pos..self.pos + WINDOW)
            && let Some(len) = plain_line::<N>(window.try_into().expect("WINDOW bytes"), out, exact)
        {
            self.pos += len + 1;
            self.line += 1;
            return Some((self.line, Ok(())));
        }
        let (ln, line) = self.next()?;
        Some((ln, parse_values_prefix::<N>(line, out, exact)))
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

/// Exactly `N` finite numbers separated by blanks, all converted into `out`.
pub(crate) fn parse_values<const N: usize>(line: &[u8], out: &mut [f64]) -> Result<(), String> {
    parse_values_prefix::<N>(line, out, N)
}

/// Exactly `N` finite numbers separated by blanks; the first `exact` are converted into
/// `out`, the others only checked to be numbers (a byte scan, much cheaper than a
/// conversion: a joint line has 12 values, the import needs 3).
#[inline]
pub(crate) fn parse_values_prefix<const N: usize>(
    line: &[u8],
    out: &mut [f64],
    exact: usize,
) -> Result<(), String> {
    let n = line.len();
    let mut i = 0;
    for k in 0..N {
        while i < n && is_blank(line[i]) {
            i += 1;
        }
        if i == n {
            return Err(format!("expected {N} values, found {k}"));
        }
        if k >= exact {
            if let Some(end) = scan_number(line, i) {
                i = end;
                continue;
            }
        } else if let Some((v, end)) = fast_decimal(line, i) {
            out[k] = v;
            i = end;
            continue;
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
                if k < exact {
                    out[k] = v;
                }
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

/// The end of the run of ASCII digits starting at `j`: eight bytes at a time (SWAR) while
/// eight remain — the fractions of Kinect numbers are 6–7 digits long.
#[inline(always)]
fn skip_digits(b: &[u8], mut j: usize) -> usize {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const SIX: u64 = 0x0606_0606_0606_0606;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    while let Some(chunk) = b.get(j..j + 8) {
        let a = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ ZEROS;
        // A byte is a digit iff a ≤ 9 there, i.e. the high nibbles of a and a + 6 are 0. A
        // carry out of a non-digit byte only disturbs bytes after the first non-digit.
        let non_digit = (a | a.wrapping_add(SIX)) & HIGH;
        if non_digit != 0 {
            return j + (non_digit.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    j
}

/// Exact powers of ten representable in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A plain decimal `[+-]digits[.digits][(e|E)[+-]digits]` at `i`, converted with Clinger's
/// fast path: when the digits form an integer m ≤ 2^53 and the decimal exponent e has
/// |e| ≤ 22, m and 10^|e| are exact doubles and one IEEE multiplication or division gives
/// the correctly rounded value — the same f64 as Python's `float()`. Anything else (more
/// digits, huge exponents, `nan`, garbage) returns `None` and goes to the full parser.
#[inline]
fn fast_decimal(b: &[u8], i: usize) -> Option<(f64, usize)> {
    let n = b.len();
    let mut j = i;
    let neg = b[j] == b'-';
    if neg || b[j] == b'+' {
        j += 1;
    }
    let accumulate = |mant: u64, run: &[u8]| {
        run.iter().fold(mant, |m, &c| {
            m.wrapping_mul(10).wrapping_add((c - b'0') as u64)
        })
    };
    let int_end = skip_digits(b, j);
    let mut mant = accumulate(0, &b[j..int_end]);
    let mut digits = (int_end - j) as u32;
    j = int_end;
    let mut exp: i32 = 0;
    if j < n && b[j] == b'.' {
        let frac_end = skip_digits(b, j + 1);
        mant = accumulate(mant, &b[j + 1..frac_end]);
        digits += (frac_end - j - 1) as u32;
        exp = -((frac_end - j - 1) as i32);
        j = frac_end;
    }
    if digits == 0 || digits > 19 {
        return None;
    }
    if j < n && (b[j] | 0x20) == b'e' {
        j += 1;
        let eneg = j < n && b[j] == b'-';
        if j < n && (b[j] == b'-' || b[j] == b'+') {
            j += 1;
        }
        let start = j;
        let mut e: i32 = 0;
        while j < n && b[j].is_ascii_digit() && j - start < 4 {
            e = e * 10 + (b[j] - b'0') as i32;
            j += 1;
        }
        if j == start {
            return None;
        }
        exp += if eneg { -e } else { e };
    }
    if !(j == n || is_blank(b[j])) || mant > (1u64 << 53) {
        return None;
    }
    let m = mant as f64;
    let v = match exp {
        0 => m,
        -22..=-1 => m / POW10[(-exp) as usize],
        1..=22 => m * POW10[exp as usize],
        _ => return None,
    };
    Some((if neg { -v } else { v }, j))
}

/// The end of a plain decimal number `[+-]digits[.digits][(e|E)[+-]digits]` starting at `i`
/// and followed by a blank or the end, or `None` (then the caller's full parser decides and
/// explains).
#[inline(always)]
fn scan_number(b: &[u8], i: usize) -> Option<usize> {
    let n = b.len();
    let digits = |j: usize| skip_digits(b, j);
    let mut j = i;
    if j < n && (b[j] == b'-' || b[j] == b'+') {
        j += 1;
    }
    let int_end = digits(j);
    let mut count = int_end - j;
    j = int_end;
    if j < n && b[j] == b'.' {
        let frac_end = digits(j + 1);
        count += frac_end - (j + 1);
        j = frac_end;
    }
    if count == 0 {
        return None;
    }
    if j < n && (b[j] | 0x20) == b'e' {
        j += 1;
        if j < n && (b[j] == b'-' || b[j] == b'+') {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end == j {
            return None;
        }
        j = exp_end;
    }
    (j == n || is_blank(b[j])).then_some(j)
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
            "S001C001P001R001A000",
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
        // Validated-only values report the same errors.
        assert_eq!(
            parse_values_prefix::<3>(b"1 2 3x", &mut v, 1).unwrap_err(),
            "value 3 is `3x`, not a number"
        );
        assert_eq!(
            parse_values_prefix::<3>(b"1 2 -inf", &mut v, 1).unwrap_err(),
            "value 3 is `-inf`, not a finite number"
        );
        assert_eq!(
            parse_values_prefix::<3>(b"1 2 1e", &mut v, 1).unwrap_err(),
            "value 3 is `1e`, not a number"
        );
        for (text, end) in [
            ("12345678901234 ", 14),
            ("123:", 3),
            ("0123456789/", 10),
            ("", 0),
            ("9999999\u{ff}99", 7),
        ] {
            assert_eq!(skip_digits(text.as_bytes(), 0), end, "{text:?}");
        }
        for ok in ["1", "-2.5", "+3.", ".5", "8.094816E-05", "1e+7", "0"] {
            assert_eq!(scan_number(ok.as_bytes(), 0), Some(ok.len()), "{ok}");
        }
        for bad in ["-", ".", "e5", "1e", "1.2.3", "0x1", "nan", "1,5"] {
            assert_eq!(scan_number(bad.as_bytes(), 0), None, "{bad}");
        }
        assert_eq!(parse_count(b" 12 ").unwrap(), 12);
    }

    /// The fast path gives exactly the f64 of a full correctly rounded parser.
    #[test]
    fn fast_decimal_is_exact() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let r = next();
            let digits = 1 + (r % 9) as usize;
            let mant = (next() % 10u64.pow(digits as u32)).to_string();
            let point = (next() % (digits as u64 + 1)) as usize;
            let mut s = if next() % 2 == 0 {
                String::new()
            } else {
                "-".into()
            };
            s += &mant[..point.min(mant.len())];
            s += ".";
            s += &mant[point.min(mant.len())..];
            if next() % 4 == 0 {
                s += &format!("E-{:02}", next() % 12);
            }
            let want: f64 = s.parse().unwrap();
            match fast_decimal(s.as_bytes(), 0) {
                Some((v, end)) => {
                    assert_eq!(end, s.len(), "{s}");
                    assert_eq!(v.to_bits(), want.to_bits(), "{s}");
                }
                None => assert!(s == "." || s == "-.", "{s} should take the fast path"),
            }
        }
        assert!(
            fast_decimal(b"12345678901234567890", 0).is_none(),
            "20 digits go to the full parser"
        );
        assert!(fast_decimal(b"1e300", 0).is_none());
        assert_eq!(fast_decimal(b"8.094816E-05 1", 0), Some((8.094816e-05, 12)));
        assert!(parse_count(b"1.5").is_err());
    }
}
