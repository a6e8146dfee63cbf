//! A rendered table in markdown: the paper's caption, the grid, and the notes under it
//! (what ours is, doubts, cells whose results disagree, results left out).

use super::Comparison;
use super::grid::{BESIDE, Grid, GridRow};
use crate::format::{escape_cell, markdown_table};
use crate::papers::PaperTable;
use crate::spec::{AxisSpec, Select, TableSpec};

impl Grid {
    pub fn markdown(&self) -> String {
        let header: Vec<String> = self.header.iter().map(|h| h.markdown.clone()).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| match r {
                GridRow::Group(g) => vec![format!("*{}*", escape_cell(g))],
                GridRow::Cells(c) => c.iter().map(|x| escape_cell(x)).collect(),
            })
            .collect();
        markdown_table(&header, &self.numeric, &rows)
    }
}

/// What the notes under a table say besides what ours is.
pub(crate) struct Notes<'a> {
    pub(crate) hidden: &'a [String],
    pub(crate) doubts: &'a [String],
    pub(crate) cells: &'a [Comparison],
    /// No result of the run fills the table.
    pub(crate) empty: bool,
}

/// The caption, the table and its notes.
pub(crate) fn table_markdown(
    spec: &TableSpec,
    measures: &[(String, Select)],
    table: &PaperTable,
    grid: &Grid,
    notes: &Notes,
) -> String {
    let mut md = String::new();
    md.push_str(&format!("*{}*", table.caption));
    if table.caption_reconstructed {
        md.push_str(" (caption written from the paper's text)");
    }
    md.push_str("\n\n");
    if let Some(missing) = &table.missing {
        md.push_str(&format!(
            "> The paper's numbers for this table are not transcribed: {missing}\n\n"
        ));
    }
    md.push_str(&grid.markdown());
    md.push('\n');
    let mut lines = vec![describe_measures(spec, measures, table)];
    if measures
        .iter()
        .any(|(_, sel)| sel.get("at").is_some_and(|v| v.iter().any(|a| a == "best")))
    {
        lines.push(
            "`at=best`: the best test accuracy over the evaluation epochs, as the reference code reports it (the last epoch's is `at=last`)."
                .to_string(),
        );
    }
    let beside = |r: &GridRow| matches!(r, GridRow::Cells(c) if c[0].starts_with(BESIDE));
    if grid.rows.iter().any(beside) {
        lines.push(format!(
            "`{}` rows are ours alone, not in the paper: the setting of the paper row above with one of `{}` changed to the value shown.",
            BESIDE.trim(),
            spec.rows.by.join("`, `")
        ));
    }
    if !notes.hidden.is_empty() {
        lines.push(format!(
            "Results matching no paper row or column, not shown (`unmatched: hide`): {}.",
            notes.hidden.join(", ")
        ));
    }
    if !notes.doubts.is_empty() {
        lines.push(format!(
            "⁽?⁾ uncertain transcription — {}",
            notes.doubts.join("; ")
        ));
    }
    for c in notes.cells {
        if let Some(a) = c.ours.as_ref().and_then(|o| o.ambiguous.as_ref()) {
            let m = if c.measure.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.measure)
            };
            lines.push(format!("⚠ {} / {}{m}: {a}", c.row_label, c.column_label));
        }
    }
    if notes.empty {
        lines.push("No result of this run matches this table: check `select`, `rows` and `columns` against results.parquet.".to_string());
    }
    for n in &lines {
        md.push_str(&format!("- {n}\n"));
    }
    md
}

/// `at=best, metric=top1`, or `everything`.
pub(crate) fn fmt_select(select: &Select) -> String {
    let select: Vec<_> = select.iter().filter(|(_, v)| !v.is_empty()).collect();
    if select.is_empty() {
        return "everything".to_string();
    }
    select
        .into_iter()
        .map(|(k, v)| {
            if v.len() == 1 {
                format!("{k}={}", v[0])
            } else {
                format!("{k}∈{{{}}}", v.join(","))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_measures(
    spec: &TableSpec,
    measures: &[(String, Select)],
    table: &PaperTable,
) -> String {
    let axis = |a: &AxisSpec| {
        a.by.iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let mut s = format!(
        "Ours: results with {}, rows by {}, columns by {}; several seeds → mean ± sample std (n seeds); Δ = ours − paper.",
        fmt_select(&spec.select),
        axis(&spec.rows),
        axis(&spec.columns)
    );
    for (label, sel) in measures.iter().skip(1) {
        s.push_str(&format!(
            " *{label}*: {} (no paper number).",
            fmt_select(sel)
        ));
    }
    let paper_measure: Vec<String> = table.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !paper_measure.is_empty() {
        s.push_str(&format!(
            " Paper: {} ({}).",
            paper_measure.join(", "),
            table.unit
        ));
    }
    s
}
