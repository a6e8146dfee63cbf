//! One paper table in the paper's layout, our numbers beside the paper's.
//!
//! - [`placement`]: the spec's `select` keeps the results a table uses, and `rows:` /
//!   `columns:` place each on the paper rows and columns its values name;
//! - [`aggregate`]: the results of each cell → mean ± sample std over seeds, with n;
//! - [`grid`]: rows × columns, the paper's number beside ours with the difference;
//! - [`markdown`]: the caption, the grid and the notes in markdown;
//! - [`summary`]: how ours compares with the paper, in plain words.

use std::collections::BTreeSet;

use crate::papers::PaperTable;
use crate::results::Results;
use crate::spec::{PaperRows, Select, TableSpec, Unmatched};

mod aggregate;
mod grid;
mod markdown;
mod placement;
mod summary;

pub use grid::{Grid, GridRow, HeaderCell};
pub use summary::spearman;

use aggregate::{Cells, aggregate};
use grid::Layouts;
use markdown::{Notes, fmt_select, table_markdown};
use placement::{EXTRA, Matcher, place};

/// Our aggregated number in one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Ours {
    pub mean: f64,
    /// Sample standard deviation over seeds (n ≥ 2).
    pub std: Option<f64>,
    /// Number of seeds.
    pub n: usize,
    pub seeds: String,
    /// Results of one seed that disagree, and the columns they differ in.
    pub ambiguous: Option<String>,
}

/// One cell of the comparison (also a row of `comparison.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub row: String,
    pub row_label: String,
    /// The row's values of the table's `rows.by` (empty where a paper row names none).
    pub row_values: Vec<String>,
    pub column: String,
    pub column_label: String,
    /// `""` for the table's own measure, else the `also` label.
    pub measure: String,
    pub ours: Option<Ours>,
    pub paper: Option<f64>,
}

impl Comparison {
    pub fn delta(&self) -> Option<f64> {
        Some(self.ours.as_ref()?.mean - self.paper?)
    }
}

/// One bar group of the accuracy plot: a row of the table in one paper column.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub ours: f64,
    pub std: Option<f64>,
    pub paper: Option<f64>,
}

/// A rendered table.
#[derive(Debug, Clone)]
pub struct RenderedTable {
    pub heading: String,
    /// The table and its notes, in markdown.
    pub markdown: String,
    /// The cells, for other renderings (LaTeX).
    pub grid: Grid,
    /// Plain sentences for "How ours compares with the paper".
    pub summary: Vec<String>,
    pub cells: Vec<Comparison>,
    /// Paper column header → bars (rows with our numbers).
    pub bars: Vec<(String, Vec<Bar>)>,
    pub warnings: Vec<String>,
}

/// Render `spec` (one entry of `report.tables`) with the results of a run.
pub fn render_table(
    results: &Results,
    spec: &TableSpec,
    table: &PaperTable,
    paper_short: &str,
) -> RenderedTable {
    let mut warnings = Vec::new();
    let rows = Matcher::new(
        &spec.rows,
        table.rows.iter().map(|r| (r.id.clone(), r.dims.clone())),
        &table.dims,
    );
    let cols = Matcher::new(
        &spec.columns,
        table.columns.iter().map(|c| (c.id.clone(), c.dims.clone())),
        &table.dims,
    );
    let heading = format!("{} — Table {}", paper_short, table.id);
    let what = format!("{} Table {}", paper_short, table.id);

    // The table's own measure, then each `also` (its `select` merged over the table's).
    let mut measures: Vec<(String, Select)> = vec![(String::new(), spec.select.clone())];
    for a in &spec.also {
        let mut sel = spec.select.clone();
        sel.extend(a.select.clone());
        sel.retain(|_, v| !v.is_empty());
        measures.push((a.label.clone(), sel));
    }
    let ours: Vec<Cells> = measures
        .iter()
        .map(|(label, select)| {
            let what = if label.is_empty() {
                what.clone()
            } else {
                format!("{what} ({label})")
            };
            aggregate(&place(results, select, &rows, &cols, &what, &mut warnings))
        })
        .collect();
    let primary = &ours[0];

    // Rows and columns to show.
    let has_ours = |row: &str| ours.iter().any(|m| m.keys().any(|(r, _)| r == row));
    let shown: Vec<_> = table
        .rows
        .iter()
        .filter(|r| spec.paper_rows == PaperRows::All || has_ours(&r.id))
        .collect();
    let mut extra_rows = BTreeSet::new();
    let mut extra_cols = BTreeSet::new();
    for (r, c) in ours.iter().flat_map(|m| m.keys()) {
        if r.starts_with(EXTRA) {
            extra_rows.insert(r.clone());
        }
        if c.starts_with(EXTRA) {
            extra_cols.insert(c.clone());
        }
    }
    let mut hidden = Vec::new();
    if spec.unmatched == Unmatched::Hide {
        hidden.extend(
            extra_rows
                .iter()
                .chain(&extra_cols)
                .map(|k| k.trim_start_matches(EXTRA).to_string()),
        );
        extra_rows.clear();
        extra_cols.clear();
    }

    let layouts = Layouts {
        table,
        layout: spec.layout,
        decimals: spec.decimals.unwrap_or(table.decimals.max(1)),
        columns: grid::column_keys(table, &extra_cols),
        rows: grid::row_entries(table, &shown, &extra_rows, &rows),
    };
    let also: Vec<(&str, &Cells)> = measures
        .iter()
        .zip(&ours)
        .skip(1)
        .map(|((label, _), cells)| (label.as_str(), cells))
        .collect();
    let built = layouts.build(primary, &also);
    let markdown = table_markdown(
        spec,
        &measures,
        table,
        &built.grid,
        &Notes {
            hidden: &hidden,
            doubts: &built.doubts,
            cells: &built.cells,
            empty: primary.is_empty(),
        },
    );
    if primary.is_empty() {
        warnings.push(format!(
            "{what}: no result matches (select {})",
            fmt_select(&spec.select)
        ));
    }
    RenderedTable {
        heading,
        markdown,
        summary: summary::summarize(&what, spec, table, &built.cells, layouts.decimals),
        bars: layouts.bars(primary),
        grid: built.grid,
        cells: built.cells,
        warnings,
    }
}
