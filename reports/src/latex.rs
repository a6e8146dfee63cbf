//! The rendered tables as LaTeX (booktabs), ready to `\input` into the next paper: the
//! paper's layout, one spanning header per paper column over its `ours | paper | Δ`.

use crate::tables::{Grid, GridRow};

/// A `table` environment; needs `\usepackage{booktabs,amssymb}`.
pub fn latex_table(grid: &Grid, caption: &str, label: &str, comment: &str) -> String {
    let n = grid.header.len();
    let spec: String = grid
        .numeric
        .iter()
        .map(|&num| if num { 'r' } else { 'l' })
        .collect();
    let mut out = String::new();
    for line in comment.lines() {
        out.push_str(&format!("% {line}\n"));
    }
    out.push_str("% Needs \\usepackage{booktabs,amssymb}.\n");
    out.push_str("\\begin{table}[t]\n\\centering\n\\small\n");
    out.push_str(&format!(
        "\\caption{{{}}}\n\\label{{{}}}\n",
        escape(caption),
        label
    ));
    out.push_str(&format!("\\begin{{tabular}}{{{spec}}}\n\\toprule\n"));

    // Spanning headers over runs of columns with the same group.
    let mut runs: Vec<(Option<&str>, usize, usize)> = Vec::new(); // (group, first, last)
    for (i, h) in grid.header.iter().enumerate() {
        match runs.last_mut() {
            Some((g, _, last)) if h.group.is_some() && *g == h.group.as_deref() => *last = i,
            _ => runs.push((h.group.as_deref(), i, i)),
        }
    }
    if runs.iter().any(|(g, _, _)| g.is_some()) {
        let top: Vec<String> = runs
            .iter()
            .map(|(g, a, b)| match g {
                Some(g) => format!("\\multicolumn{{{}}}{{c}}{{{}}}", b - a + 1, escape(g)),
                None => vec![String::new(); b - a + 1].join(" & "),
            })
            .collect();
        out.push_str(&format!("{} \\\\\n", top.join(" & ")));
        let rules: Vec<String> = runs
            .iter()
            .filter(|(g, _, _)| g.is_some())
            .map(|(_, a, b)| format!("\\cmidrule(lr){{{}-{}}}", a + 1, b + 1))
            .collect();
        out.push_str(&format!("{}\n", rules.join(" ")));
    }
    let labels: Vec<String> = grid.header.iter().map(|h| escape(&h.label)).collect();
    out.push_str(&format!("{} \\\\\n\\midrule\n", labels.join(" & ")));
    for row in &grid.rows {
        match row {
            GridRow::Group(g) => out.push_str(&format!(
                "\\multicolumn{{{n}}}{{l}}{{\\textit{{{}}}}} \\\\\n",
                escape(g)
            )),
            GridRow::Cells(cells) => {
                let mut cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
                cells.resize(n, String::new());
                out.push_str(&format!("{} \\\\\n", cells.join(" & ")));
            }
        }
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    out
}

/// Text → LaTeX: specials escaped, the symbols the tables use as math.
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '±' => out.push_str("$\\pm$"),
            '−' => out.push_str("$-$"),
            'Δ' => out.push_str("$\\Delta$"),
            '✓' => out.push_str("\\checkmark"),
            '✗' => out.push_str("$\\times$"),
            '²' => out.push_str("$^2$"),
            '—' => out.push_str("--"),
            '⚠' => out.push_str("$^\\ast$"),
            '†' => out.push_str("$^\\dagger$"),
            '→' => out.push_str("$\\rightarrow$"),
            '·' => out.push_str("$\\cdot$"),
            '…' => out.push_str("\\ldots{}"),
            '⁽' => out.push_str("$^($"),
            '⁾' => out.push_str("$^)$"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::HeaderCell;

    #[test]
    fn spanning_headers_and_escapes() {
        let h = |g: Option<&str>, l: &str| HeaderCell {
            group: g.map(String::from),
            label: l.into(),
            markdown: l.into(),
        };
        let grid = Grid {
            header: vec![
                h(None, "Baseline"),
                h(Some("NTU-60 x-sub"), "ours"),
                h(Some("NTU-60 x-sub"), "paper"),
                h(Some("NTU-60 x-sub"), "Δ"),
            ],
            numeric: vec![false, true, true, true],
            rows: vec![
                GridRow::Group("Single-stream".into()),
                GridRow::Cells(vec![
                    "A²MC_1 & co".into(),
                    "41.5 ± 0.5 (n=3)".into(),
                    "75.6".into(),
                    "−34.1".into(),
                ]),
            ],
        };
        let tex = latex_table(&grid, "Ours vs 100%", "tab:a2mc-V", "generated");
        assert!(tex.starts_with("% generated\n"), "{tex}");
        assert!(tex.contains("\\begin{tabular}{lrrr}"));
        assert!(
            tex.contains(" & \\multicolumn{3}{c}{NTU-60 x-sub} \\\\\n\\cmidrule(lr){2-4}\n"),
            "{tex}"
        );
        assert!(tex.contains("Baseline & ours & paper & $\\Delta$ \\\\"));
        assert!(tex.contains("\\multicolumn{4}{l}{\\textit{Single-stream}} \\\\"));
        assert!(
            tex.contains("A$^2$MC\\_1 \\& co & 41.5 $\\pm$ 0.5 (n=3) & 75.6 & $-$34.1 \\\\"),
            "{tex}"
        );
        assert!(tex.contains("\\caption{Ours vs 100\\%}"));
    }
}
