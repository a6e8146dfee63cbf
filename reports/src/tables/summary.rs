//! How ours compares with the paper, in plain words: how many cells, above or below and
//! by how much, whether our rows come in the paper's order, and gains over the baseline.

use super::Comparison;
use crate::format::fmt_delta;
use crate::papers::PaperTable;
use crate::spec::TableSpec;

/// Plain-words comparison of one table: how many cells, above/below, mean Δ, and whether
/// our rows come in the paper's order.
pub(crate) fn summarize(
    what: &str,
    spec: &TableSpec,
    table: &PaperTable,
    cells: &[Comparison],
    decimals: usize,
) -> Vec<String> {
    let both: Vec<&Comparison> = cells
        .iter()
        .filter(|c| c.measure.is_empty() && c.delta().is_some())
        .collect();
    let paper_cells = table
        .rows
        .iter()
        .flat_map(|r| r.values.iter())
        .filter(|v| v.value().is_some())
        .count();
    let ran = cells
        .iter()
        .filter(|c| c.measure.is_empty() && c.ours.is_some())
        .count();
    let mut out = floor_sentences(what, spec, cells, decimals);
    if both.is_empty() {
        out.push(format!(
            "{what}: {ran} cell(s) of ours, none beside a paper number{}.",
            if table.missing.is_some() {
                " (the paper's numbers are not transcribed)"
            } else {
                ""
            }
        ));
        return out;
    }
    let deltas: Vec<f64> = both.iter().filter_map(|c| c.delta()).collect();
    let below = deltas.iter().filter(|d| **d < 0.0).count();
    let above = deltas.iter().filter(|d| **d > 0.0).count();
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    let min = deltas.iter().copied().fold(f64::INFINITY, f64::min);
    let max = deltas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    out.push(format!(
        "{what}: {} of the paper's {paper_cells} numbers have ours beside them; ours is lower in {below} and higher in {above}, by {} on average (from {} to {}).",
        both.len(),
        fmt_delta(mean, decimals),
        fmt_delta(min, decimals),
        fmt_delta(max, decimals)
    ));
    // Order of rows per column, and gains over the baseline row.
    let baseline = spec
        .baseline
        .clone()
        .or_else(|| table.rows.first().map(|r| r.id.clone()));
    for col in &table.columns {
        let in_col: Vec<&&Comparison> = both.iter().filter(|c| c.column == col.id).collect();
        if in_col.len() < 3 {
            continue;
        }
        let ours: Vec<f64> = in_col
            .iter()
            .map(|c| c.ours.as_ref().map_or(f64::NAN, |o| o.mean))
            .collect();
        let paper: Vec<f64> = in_col.iter().map(|c| c.paper.unwrap_or(f64::NAN)).collect();
        let rho = spearman(&ours, &paper);
        let mut sentence = format!(
            "{} {}: rank correlation with the paper's order of the {} rows ρ = {:.2}",
            what,
            col.header(),
            in_col.len(),
            rho
        );
        if let Some(base) = baseline
            .as_deref()
            .and_then(|b| in_col.iter().find(|c| c.row == b))
        {
            let (bo, bp) = (
                base.ours.as_ref().map_or(f64::NAN, |o| o.mean),
                base.paper.unwrap_or(f64::NAN),
            );
            let others: Vec<_> = in_col.iter().filter(|c| c.row != base.row).collect();
            let agree = others
                .iter()
                .filter(|c| {
                    let go = c.ours.as_ref().map_or(f64::NAN, |o| o.mean) - bo;
                    let gp = c.paper.unwrap_or(f64::NAN) - bp;
                    go.signum() == gp.signum() && go != 0.0
                })
                .count();
            sentence.push_str(&format!(
                "; the gain over {} has the paper's sign for {agree} of {} rows",
                base.row_label,
                others.len()
            ));
        }
        sentence.push('.');
        out.push(sentence);
    }
    out
}

/// Per column and floor row (`floors:`): which of our other rows fall below the floor, in
/// words, since a pretrained row below the raw input or an untrained encoder learned
/// nothing a linear classifier can use. Where rows are told apart by several values
/// (`method` and `encoder`), a floor is compared with the rows that share its other values
/// (`random-init / stgcn` with the ST-GCN rows alone).
fn floor_sentences(
    what: &str,
    spec: &TableSpec,
    cells: &[Comparison],
    decimals: usize,
) -> Vec<String> {
    let ours = |c: &Comparison| c.ours.as_ref().map(|o| o.mean);
    let floor_name = |v: &String| spec.floors.contains(v);
    // a floor names one value of the row (`random-init` in `random-init / joint`)
    let is_floor =
        |c: &Comparison| spec.floors.contains(&c.row_label) || c.row_values.iter().any(floor_name);
    // the method row shares every value of the floor's that is not a floor's name
    let same_setting = |floor: &Comparison, c: &Comparison| {
        floor.row_values.len() != c.row_values.len()
            || floor
                .row_values
                .iter()
                .zip(&c.row_values)
                .all(|(f, v)| floor_name(f) || f == v)
    };
    let value = |c: &Comparison| {
        format!(
            "{} ({:.*})",
            c.row_label,
            decimals,
            ours(c).unwrap_or(f64::NAN)
        )
    };
    let mut out = Vec::new();
    let mut columns: Vec<(&str, &str)> = Vec::new();
    for c in cells.iter().filter(|c| c.measure.is_empty()) {
        if !columns.iter().any(|(id, _)| *id == c.column) {
            columns.push((&c.column, &c.column_label));
        }
    }
    for (col, label) in columns {
        let in_col: Vec<&Comparison> = cells
            .iter()
            .filter(|c| c.measure.is_empty() && c.column == col && ours(c).is_some())
            .collect();
        for floor in in_col.iter().filter(|c| is_floor(c)) {
            let methods: Vec<&&Comparison> = in_col
                .iter()
                .filter(|c| !is_floor(c) && same_setting(floor, c))
                .collect();
            let level = ours(floor).unwrap_or(f64::NAN);
            let below: Vec<String> = methods
                .iter()
                .filter(|c| ours(c).is_some_and(|m| m < level))
                .map(|c| value(c))
                .collect();
            let head = format!(
                "{what} {label}: the {} floor is {level:.*}",
                floor.row_label, decimals
            );
            out.push(match (methods.as_slice(), below.len()) {
                ([], _) => format!("{head}; no other row to compare with it."),
                ([one], 0) => format!("{head}; {} is above it.", value(one)),
                (_, 0) => format!("{head}; all {} other rows are above it.", methods.len()),
                ([one], _) => format!(
                    "{head}; {} falls below it: its features do worse in this evaluation than the floor's, so its training has not learned what a comparison with the paper assumes.",
                    value(one)
                ),
                (_, 1) => format!(
                    "{head}; 1 of the {} other rows falls below it: {}. Its features do worse in this evaluation than the floor's, so its training has not learned what a comparison with the paper assumes.",
                    methods.len(),
                    below[0]
                ),
                (_, _) => format!(
                    "{head}; {} of the {} other rows fall below it: {}. Their features do worse in this evaluation than the floor's, so their training has not learned what a comparison with the paper assumes.",
                    below.len(),
                    methods.len(),
                    below.join(", ")
                ),
            });
        }
    }
    out
}

/// Spearman's ρ with average ranks for ties.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(x: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0.0; x.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_ranks_with_ties() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // ties get the average rank: ranks (1.5, 1.5, 3) vs (1, 2, 3)
        let rho = spearman(&[5.0, 5.0, 7.0], &[1.0, 2.0, 3.0]);
        assert!((rho - 0.866_025_403_784_438_6).abs() < 1e-9, "{rho}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }
}
