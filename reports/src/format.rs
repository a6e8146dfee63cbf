//! Small text helpers for markdown output.

/// A markdown table: text columns left-aligned, numeric ones right-aligned.
pub fn markdown_table<S: AsRef<str>>(
    header: &[S],
    numeric: &[bool],
    rows: &[Vec<String>],
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| {} |\n",
        header
            .iter()
            .map(|h| escape_cell(h.as_ref()))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    let align: Vec<&str> = (0..header.len())
        .map(|i| {
            if numeric.get(i).copied().unwrap_or(false) {
                "---:"
            } else {
                ":---"
            }
        })
        .collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for row in rows {
        let mut cells: Vec<&str> = row.iter().map(String::as_str).collect();
        cells.resize(header.len(), "");
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Make text safe inside a table cell: no pipes, no line breaks.
pub fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `v` with `decimals` digits; never `-0.0`.
pub fn fmt_value(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// A difference with its sign: `+1.2`, `−19.4` (a real minus sign), `0.0`.
pub fn fmt_delta(d: f64, decimals: usize) -> String {
    let s = fmt_value(d.abs(), decimals);
    if s.chars().all(|c| c == '0' || c == '.') {
        s
    } else if d < 0.0 {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

/// `1 h 02 min`, `3 min 05 s`, `12.3 s`.
pub fn fmt_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".to_string();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// A file-name-safe slug: `a2mc-V`, `ntu60-xsub`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "x".to_string() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_deltas() {
        assert_eq!(fmt_value(61.25, 1), "61.2");
        assert_eq!(fmt_value(-0.04, 1), "0.0");
        assert_eq!(fmt_delta(-19.44, 1), "−19.4");
        assert_eq!(fmt_delta(1.25, 2), "+1.25");
        assert_eq!(fmt_delta(-0.01, 1), "0.0");
        assert_eq!(fmt_duration(12.34), "12.3 s");
        assert_eq!(fmt_duration(185.0), "3 min 05 s");
        assert_eq!(fmt_duration(3725.0), "1 h 02 min");
        assert_eq!(slug("NTU-60 x-sub"), "NTU-60-x-sub");
        assert_eq!(escape_cell("a|b"), "a\\|b");
    }
}
