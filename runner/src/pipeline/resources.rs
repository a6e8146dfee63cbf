//! What a stage instance asks of the machine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub cpus: u32,
    pub gpus: u32,
    /// Bytes; 0 = not counted.
    pub mem: u64,
    /// Wall-time limit: the local executor stops the stage when it is over; Slurm gets
    /// it as `--time`.
    pub time: Option<Duration>,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpus: 1,
            gpus: 0,
            mem: 0,
            time: None,
        }
    }
}

/// A wall time in one of Slurm's formats — `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`,
/// `D-HH:MM:SS` — or with a unit: `90s`, `30m`, `2h`, `1d`, `1h30m`. Zero is no time.
pub fn parse_time(s: &str) -> Option<Duration> {
    let s = s.trim();
    let secs = if s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        with_units(s)?
    } else {
        slurm_time(s)?
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn slurm_time(s: &str) -> Option<u64> {
    let num = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, s),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Option<_>>()?;
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) | (Some(_), [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(_), [h]) => h * 3600,
        (Some(_), [h, m]) => h * 3600 + m * 60,
        _ => return None,
    };
    Some(days.unwrap_or(0) * 86400 + secs)
}

fn with_units(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut digits = String::new();
    for c in s.chars().filter(|c| !c.is_whitespace()) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        total += digits.parse::<u64>().ok()? * unit;
        digits.clear();
    }
    digits.is_empty().then_some(total)
}

/// `time` as Slurm's `--time` takes it (`D-HH:MM:SS`), rounded up to whole minutes as
/// Slurm does.
pub fn slurm_time_arg(d: Duration) -> String {
    let mins = d.as_secs().div_ceil(60);
    let (days, h, m) = (mins / 1440, mins % 1440 / 60, mins % 60);
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:00")
    } else {
        format!("{h:02}:{m:02}:00")
    }
}

/// A duration for messages: `1h30m`, `45s`.
pub fn format_time(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [
        (s / 86400, "d"),
        (s % 86400 / 3600, "h"),
        (s % 3600 / 60, "m"),
        (s % 60, "s"),
    ];
    let text: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if text.is_empty() { "0s".into() } else { text }
}

/// `4G`, `512M`, `1.5GiB`, `1024` (bytes) → bytes. Suffixes are binary (K = 1024).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    if num < 0.0 || !num.is_finite() {
        return None;
    }
    Some((num * mult as f64).round() as u64)
}

pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b}B")
    } else if v == v.trunc() {
        format!("{v:.0}{}", UNITS[u])
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("4G"), Some(4 << 30));
        assert_eq!(parse_bytes("1.5K"), Some(1536));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("4X"), None);
        assert_eq!(format_bytes(4 << 30), "4G");
        assert_eq!(format_bytes(1536), "1.5K");
    }

    #[test]
    fn times_in_slurms_formats_and_with_units() {
        let t = |s| parse_time(s).map(|d| d.as_secs());
        assert_eq!(t("30"), Some(1800));
        assert_eq!(t("1:30"), Some(90));
        assert_eq!(t("2:00:00"), Some(7200));
        assert_eq!(t("1-2"), Some(93600));
        assert_eq!(t("1-02:03"), Some(86400 + 7380));
        assert_eq!(t("1-02:03:04"), Some(86400 + 7384));
        assert_eq!(t("90s"), Some(90));
        assert_eq!(t("1h30m"), Some(5400));
        assert_eq!(t("2d"), Some(172800));
        for bad in ["", "abc", "1:2:3:4", "1-", "-1", "1x", "1.5h", "0", "h"] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(slurm_time_arg(Duration::from_secs(90)), "00:02:00");
        assert_eq!(slurm_time_arg(Duration::from_secs(93600)), "1-02:00:00");
        assert_eq!(format_time(Duration::from_secs(5400)), "1h30m");
    }
}
