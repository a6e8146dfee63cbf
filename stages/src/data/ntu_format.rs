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
//! one pass over the bytes, no allocation per line, and for the body and joint lines a fast path
//! (`plain_line`) that checks a whole line with SIMD byte classes and bit masks and
//! converts x, y, z with SWAR. Values are the f64 of a correctly rounded parse rounded to
//! f32, exactly what the reference readers get from Python's `float()` followed by a
//! float32 array. Any line the fast path does not take (exponent notation, `+`, tabs, and
//! every malformed line) goes to the exact per-token parser (`parse_values_prefix`, with
//! `fast-float2` behind it), which writes the error messages. LF and CRLF line endings,
//! exponent notation, frames with 0 bodies and frames with more than 2 bodies are all
//! accepted.

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

/// Parse the bytes of a `.skeleton` file into `sink` (e.g. straight into a model's array,
/// without a [`SkeletonSequence`] in between). `file` is only used in error messages.
pub fn parse_skeleton_into<S: SkeletonSink>(
    bytes: &[u8],
    file: &Path,
    sink: &mut S,
) -> Result<(), ParseError> {
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
    sink.begin(num_frames, bytes.len());

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
        if let Some(window) = self.buf.get(self.pos..self.pos + WINDOW)
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

/// Bytes the fast path looks at from the start of a line: a Kinect joint line is about 100
/// bytes (under 120 in the real fixtures and the synthetic corpus); a longer line takes
/// the exact path.
const WINDOW: usize = 128;

/// Bit masks of byte classes over a [`WINDOW`]: bit i describes byte i.
struct Classes {
    /// Space and `\r` (CRLF files). Other blanks (tab, VT, FF) are rare enough to leave
    /// to the exact path, like every other byte outside these four classes.
    blank: u128,
    dot: u128,
    minus: u128,
    /// Blanks, digits, `.` and `-`: the bytes of a line the fast path reads. The first byte
    /// outside them ends the fast path's line: the `\n` if the line is plain.
    plain: u128,
}

/// The class masks of 16 bytes (SSE2 on x86-64, NEON on aarch64, scalar elsewhere, all
/// through `wide`), in the order of the fields of [`Classes`].
#[inline(always)]
fn classify16(chunk: &[u8]) -> [u64; 4] {
    use wide::u8x16;
    let splat = u8x16::splat;
    let v = u8x16::new(chunk.try_into().expect("16 bytes"));
    let blank = v.simd_eq(splat(b' ')) | v.simd_eq(splat(b'\r'));
    let dot = v.simd_eq(splat(b'.'));
    let minus = v.simd_eq(splat(b'-'));
    // Unsigned range check: x − b'0' (wrapping) ≤ 9.
    let digit_offset = v - splat(b'0');
    let digit = digit_offset.min(splat(9)).simd_eq(digit_offset);
    let plain = blank | dot | minus | digit;
    [blank, dot, minus, plain].map(|m| m.to_bitmask() as u64)
}

/// [`classify16`] over 64 bytes, unrolled so that the masks stay in registers.
#[inline(always)]
fn classify64(w: &[u8]) -> [u64; 4] {
    let q = [
        classify16(&w[0..16]),
        classify16(&w[16..32]),
        classify16(&w[32..48]),
        classify16(&w[48..64]),
    ];
    std::array::from_fn(|c| q[0][c] | q[1][c] << 16 | q[2][c] << 32 | q[3][c] << 48)
}

#[inline(always)]
fn classify(w: &[u8; WINDOW]) -> Classes {
    let (lo, hi) = (classify64(&w[..64]), classify64(&w[64..]));
    let join = |c: usize| lo[c] as u128 | (hi[c] as u128) << 64;
    Classes {
        blank: join(0),
        dot: join(1),
        minus: join(2),
        plain: join(3),
    }
}

/// The fast path for a line of exactly `N` plain decimal numbers `[-]digits[.digits]` (at
/// least one digit) separated by spaces — nearly every line of a Kinect file: checks the
/// whole line's grammar at once with bit operations on the byte classes (no branch per
/// token or per byte), converts the first `exact` numbers exactly, and returns the line's
/// length without its `\n`.
///
/// `None` means "not handled here", never "malformed": the caller then runs the exact
/// per-token parser on the line, which accepts everything this accepts with the same values
/// (tests check it on random lines) and also decides and explains everything else
/// (exponents, `+`, tabs, errors, …).
#[inline(always)]
fn plain_line<const N: usize>(w: &[u8; WINDOW], out: &mut [f64], exact: usize) -> Option<usize> {
    let c = classify(w);
    let len = (!c.plain).trailing_zeros() as usize;
    // The line must end within the window, with a spare bit above it for the carry below.
    if len >= WINDOW - 1 || w[len] != b'\n' {
        return None;
    }
    let line = (1u128 << len) - 1;
    let tok = line & !c.blank;
    let starts = tok & !(tok << 1);
    if starts.count_ones() as usize != N {
        return None;
    }
    let (dot, minus) = (c.dot & line, c.minus & line);
    // The first byte after an optional `-` and then an optional `.` must still be in the
    // token: with the checks beside it, a digit.
    let first = ((starts & minus) << 1) | (starts & !minus);
    let first = ((first & dot) << 1) | (first & !dot);
    let bad = (minus & !starts) // a `-` inside a token
        | (first & !tok) // a token without digits: `-`, `.`, `-.`
        // Adding a token's first dot carries through the rest of the token (and stops in the
        // blank after it), so a second dot in the same token survives the addition.
        | ((tok + dot) & dot);
    if bad != 0 {
        return None;
    }
    if exact > 0 {
        // The numbers to convert lead the line: 64-bit masks serve while they end before
        // byte 62 (a Kinect joint line's x, y, z end near byte 35).
        let mut ends = (tok & !(tok >> 1)) as u64 & ((1 << 62) - 1);
        let mut starts = starts;
        for v in out.iter_mut().take(exact) {
            let s = starts.trailing_zeros() as usize;
            starts &= starts - 1;
            let plain = if ends != 0 {
                let e = ends.trailing_zeros() as usize + 1;
                ends &= ends - 1;
                plain_decimal(w, s, e, dot as u64)
            } else {
                None
            };
            *v = match plain {
                Some(v) => v,
                None => fast_decimal(&w[..len], s)?.0,
            };
        }
    }
    Some(len)
}

/// Exact powers of ten as integers.
const POW10_U64: [u64; 17] = {
    let mut p = [1u64; 17];
    let mut i = 1;
    while i < 17 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// The value of the plain token `w[s..e]` (`[-]digits[.digits]`, checked by the caller;
/// `dots` marks the line's dots, `e < 63`) when it has 1 to 8 digits before the dot, at most
/// 16 after it and at most 19 in all: the digits are read eight bytes at a time (SWAR, no
/// branch on their lengths), then Clinger's exact fast path as in [`fast_decimal`] — the
/// same f64 as Python's `float()`.
#[inline(always)]
fn plain_decimal(w: &[u8; WINDOW], s: usize, e: usize, dots: u64) -> Option<f64> {
    let neg = w[s] == b'-';
    let d0 = s + neg as usize;
    // Eight bytes from `at` as digit values with the first `n` right-aligned (byte 7 the
    // last digit; 0 for n = 0): the bytes after them, and any borrow from them, are
    // shifted out.
    let digits = |at: usize, n: usize| -> u64 {
        let b = u64::from_le_bytes(w[at..at + 8].try_into().expect("8 bytes"));
        b.wrapping_sub(0x3030_3030_3030_3030)
            .checked_shl(8 * (8 - n) as u32)
            .unwrap_or(0)
    };
    let (mant, frac_len) = if w[d0 + 1] == b'.' && e - d0 <= 10 {
        // Kinect coordinates in metres: one digit, a dot and at most 8 digits.
        let frac_len = e - d0 - 2;
        let int = (w[d0] - b'0') as u64;
        (
            int * POW10_U64[frac_len] + parse8(digits(d0 + 2, frac_len)),
            frac_len,
        )
    } else {
        let dot_at = (dots & ((1u64 << e) - (1u64 << s))).trailing_zeros() as usize;
        let (int_end, frac_len) = if dot_at < e {
            (dot_at, e - dot_at - 1)
        } else {
            (e, 0)
        };
        let int_len = int_end - d0;
        if !(1..=8).contains(&int_len) || frac_len > 16 || int_len + frac_len > 19 {
            return None;
        }
        let int = parse8(digits(d0, int_len));
        let (frac_hi, frac_lo) = (frac_len.min(8), frac_len.saturating_sub(8));
        let frac = parse8(digits(int_end + 1, frac_hi)) * POW10_U64[frac_lo]
            + parse8(digits(int_end + 9, frac_lo));
        // Below 10^19: no overflow.
        (int * POW10_U64[frac_len] + frac, frac_len)
    };
    // At most 2^53: exact in an f64, as 10^frac_len is.
    if mant > 1 << 53 {
        return None;
    }
    let x = mant as f64 / POW10[frac_len];
    Some(if neg { -x } else { x })
}

/// Eight digit values (0..=9), byte 0 the most significant, as an integer: pairs, then
/// quads, then the eight (SWAR).
#[inline(always)]
fn parse8(v: u64) -> u64 {
    const PAIRS: u64 = 0x00FF_00FF_00FF_00FF;
    const QUADS: u64 = 0x0000_FFFF_0000_FFFF;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let v = (v & PAIRS) * 100 + ((v >> 16) & PAIRS);
    let v = (v & QUADS) * 10_000 + ((v >> 32) & QUADS);
    v & 0xFFFF_FFFF
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

    /// A small xorshift generator for the randomised tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// Below `usual`, or below `rare` one time in `one_in`.
        fn below_mostly(&mut self, usual: usize, rare: usize, one_in: usize) -> usize {
            let n = if self.below(one_in) == 0 { rare } else { usual };
            self.below(n)
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// The SIMD byte classes agree with a byte-by-byte definition, for every byte value.
    #[test]
    fn classify_matches_a_bytewise_reference() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let special = b" \r\n\t.-+eE0123456789\x0b\x0c/:\x80\xff\x00";
        for _ in 0..20_000 {
            let mut w = [0u8; WINDOW];
            for b in w.iter_mut() {
                *b = if rng.below(2) == 0 {
                    special[rng.below(special.len())]
                } else {
                    rng.next() as u8
                };
            }
            let c = classify(&w);
            for (i, &b) in w.iter().enumerate() {
                let bit = |m: u128| (m >> i) & 1 == 1;
                let blank = b == b' ' || b == b'\r';
                assert_eq!(bit(c.blank), blank, "blank {b:#x}");
                assert_eq!(bit(c.dot), b == b'.', "dot {b:#x}");
                assert_eq!(bit(c.minus), b == b'-', "minus {b:#x}");
                let plain = blank || b == b'.' || b == b'-' || b.is_ascii_digit();
                assert_eq!(bit(c.plain), plain, "plain {b:#x}");
            }
        }
    }

    /// A random token: mostly Kinect-like numbers, often something unusual or wrong.
    fn random_token(rng: &mut Rng) -> String {
        let digits = |rng: &mut Rng, n: usize| -> String {
            (0..n)
                .map(|_| (b'0' + rng.below(10) as u8) as char)
                .collect()
        };
        match rng.below(10) {
            0..=5 => {
                let sign = rng.pick(&["", "", "-"]);
                let n = 1 + rng.below_mostly(3, 12, 8);
                let int = digits(rng, n);
                let n = rng.below_mostly(10, 20, 8);
                let frac = digits(rng, n);
                match rng.below(12) {
                    0 => format!("{sign}{int}"),
                    1 => format!("{sign}{int}."),
                    2 => format!("{sign}.{frac}"),
                    _ => format!("{sign}{int}.{frac}"),
                }
            }
            6 => rng
                .pick(&[
                    "0",
                    "-0",
                    "-0.0",
                    "1",
                    "2",
                    "25",
                    "72057594037976613",
                    "8.094816E-05",
                    "1e5",
                    "1e",
                    "+1.5",
                    "-",
                    ".",
                    "-.",
                    "--1",
                    "1-2",
                    "1..2",
                    "1.2.3",
                    "nan",
                    "inf",
                    "-inf",
                    "0x1",
                    "1,5",
                    "1_000",
                    "9007199254740993",
                    "123456789.5",
                    "0.12345678901234567",
                    "1.7976931348623157e308",
                    "1e400",
                ])
                .to_string(),
            7 => {
                // A plain number with one byte replaced.
                let mut t: Vec<u8> = format!("{}.{}", digits(rng, 1), digits(rng, 7)).into();
                let at = rng.below(t.len());
                t[at] = *b"-.+eE/:x\t\x0b\x0c\x00\xc3".get(rng.below(13)).unwrap();
                String::from_utf8_lossy(&t).into_owned()
            }
            _ => {
                let n = 1 + rng.below(12);
                format!("-0.{}", digits(rng, n))
            }
        }
    }

    /// A random line of about `n` tokens, with odd blanks now and then (no `\n`).
    fn random_line(rng: &mut Rng, n: usize) -> Vec<u8> {
        let count = match rng.below(10) {
            0 => n - 1,
            1 => n + 1,
            _ => n,
        };
        let mut line = String::new();
        if rng.below(20) == 0 {
            line += rng.pick(&[" ", "\t", "\r"]);
        }
        for k in 0..count {
            if k > 0 {
                line += if rng.below(30) == 0 {
                    rng.pick(&["  ", "\t", " \r ", "\x0b", "\x0c"])
                } else {
                    " "
                };
            }
            line += &random_token(rng);
        }
        if rng.below(10) == 0 {
            line += rng.pick(&[" ", "\r", " \r", "\t"]);
        }
        line.into_bytes()
    }

    /// Runs the fast path and the exact per-token parser on `line` (followed by `\n` and
    /// `after` in the window) and checks that whatever the fast path accepts, the exact
    /// parser accepts with bit-identical values. Returns whether the fast path took it.
    fn check_line<const N: usize>(line: &[u8], after: &[u8], exact: usize) -> bool {
        let mut w = [0u8; WINDOW];
        let text: Vec<u8> = [line, b"\n", after].concat();
        let n = text.len().min(WINDOW);
        w[..n].copy_from_slice(&text[..n]);
        let (mut fast, mut slow) = ([f64::NAN; JOINT_VALUES], [f64::NAN; JOINT_VALUES]);
        let Some(len) = plain_line::<N>(&w, &mut fast, exact) else {
            return false;
        };
        let shown = String::from_utf8_lossy(line);
        assert_eq!(len, line.len(), "{shown:?}");
        // What `Lines::next` hands the exact parser: the line without a trailing `\r`.
        let stripped = line.strip_suffix(b"\r").unwrap_or(line);
        let checked = parse_values_prefix::<N>(stripped, &mut slow, exact);
        assert_eq!(checked, Ok(()), "the fast path accepted {shown:?}");
        for k in 0..exact {
            assert_eq!(
                fast[k].to_bits(),
                slow[k].to_bits(),
                "value {k} of {shown:?}"
            );
        }
        true
    }

    /// Everything the fast path accepts, the exact parser accepts with the same values;
    /// both sides of the fast path are exercised.
    #[test]
    fn fast_path_agrees_with_the_exact_parser_on_random_lines() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut taken, mut total) = (0, 0);
        for round in 0..150_000 {
            // What follows the line in the window: the next line, or filler that looks
            // like numbers (the masks must not read past the newline).
            let after = random_line(&mut rng, 12);
            let took = if round % 3 == 0 {
                check_line::<BODY_VALUES>(&random_line(&mut rng, BODY_VALUES), &after, 0)
            } else {
                check_line::<JOINT_VALUES>(&random_line(&mut rng, JOINT_VALUES), &after, 3)
            };
            taken += took as usize;
            total += 1;
        }
        assert!(
            taken > total / 20 && taken < total * 9 / 10,
            "fast path took {taken} of {total} lines"
        );
    }

    /// Every line of the real NTU fixtures: the fast path takes (nearly) all of them, with
    /// the exact parser's values, bit for bit.
    #[test]
    fn fast_path_agrees_with_the_exact_parser_on_real_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ntu60_raw");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!(
                "SKIPPED: real fixtures not found at {} (they are never copied into the repository)",
                dir.display()
            );
            return;
        };
        let (mut taken, mut lines) = (0, 0);
        for entry in entries {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let mut at = 0;
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                at += line.len();
                let line = line.strip_suffix(b"\n").unwrap_or(line);
                let after = &bytes[at..];
                let took = match line.split(|&b| b == b' ').count() {
                    JOINT_VALUES => check_line::<JOINT_VALUES>(line, after, 3),
                    BODY_VALUES => check_line::<BODY_VALUES>(line, after, 0),
                    _ => continue,
                };
                taken += took as usize;
                lines += 1;
            }
        }
        assert!(lines > 10_000, "{lines} lines");
        assert!(
            taken * 1000 >= lines * 995,
            "fast path took {taken} of {lines} lines"
        );
    }

    /// The fast path's decimal conversion gives exactly the f64 of a correctly rounded
    /// parser (Rust's, like Python's `float()`), on Kinect-like and other plain numbers.
    #[test]
    fn plain_decimal_is_exact() {
        let mut rng = Rng(0xd1b5_4a32_d192_ed03);
        let mut converted = 0;
        for _ in 0..200_000 {
            let int_len = 1 + rng.below_mostly(2, 10, 4);
            let frac_len = rng.below_mostly(10, 18, 4);
            let digits = |rng: &mut Rng, n: usize| -> String {
                (0..n)
                    .map(|_| (b'0' + rng.below(10) as u8) as char)
                    .collect()
            };
            let mut s = String::from(if rng.below(2) == 0 { "-" } else { "" });
            s += &digits(&mut rng, int_len);
            if frac_len > 0 || rng.below(4) == 0 {
                s += ".";
                s += &digits(&mut rng, frac_len);
            }
            let start = rng.below(20);
            let mut w = [b' '; WINDOW];
            w[start..start + s.len()].copy_from_slice(s.as_bytes());
            let e = start + s.len();
            let dots = w
                .iter()
                .enumerate()
                .filter(|&(i, &b)| i < 64 && b == b'.')
                .fold(0u64, |m, (i, _)| m | 1 << i);
            let want: f64 = s.parse().unwrap();
            match plain_decimal(&w, start, e, dots) {
                Some(v) => {
                    assert_eq!(v.to_bits(), want.to_bits(), "{s}");
                    converted += 1;
                }
                None => assert!(
                    int_len > 8 || frac_len > 16 || int_len + frac_len > 15,
                    "{s} should convert"
                ),
            }
        }
        assert!(converted > 150_000, "{converted}");
        assert_eq!(parse8(0x0706_0504_0302_0100), 1_234_567);
        assert_eq!(parse8(0x0909_0909_0909_0909), 99_999_999);
    }
}
