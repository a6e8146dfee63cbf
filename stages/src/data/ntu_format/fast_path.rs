//! The fast path of the `.skeleton` parser: a whole body or joint line of plain decimals
//! checked at once with SIMD byte classes and bit masks, x, y, z converted with SWAR and
//! Clinger's exact fast path. It only ever says "plain, and here are the values" or "not
//! mine": the exact per-token parser in [`super`] decides and explains everything else.

use super::{POW10, fast_decimal};

/// Bytes the fast path looks at from the start of a line: a Kinect joint line is about 100
/// bytes (under 120 in the real fixtures and the synthetic corpus); a longer line takes
/// the exact path.
pub(super) const WINDOW: usize = 128;

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
pub(super) fn plain_line<const N: usize>(
    w: &[u8; WINDOW],
    out: &mut [f64],
    exact: usize,
) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{BODY_VALUES, JOINT_VALUES, parse_values_prefix};
    use super::*;

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
