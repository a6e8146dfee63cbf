//! The table's cells: the paper's rows × columns, each paper column our number beside the
//! paper's with the difference (`ours | paper | Δ`, or one compact cell), then our rows
//! and columns that match nothing in the paper, then the `also` measures.

use std::collections::BTreeSet;

use super::aggregate::Cells;
use super::placement::{EXTRA, Matcher, extra_values};
use super::{Bar, Comparison, Ours};
use crate::format::{fmt_delta, fmt_value};
use crate::papers::{PaperRow, PaperTable, PaperValue};
use crate::spec::Layout;

/// One column header: the paper column it belongs to (spanning header in LaTeX) and
/// its own label; `markdown` is the single-line header markdown shows.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderCell {
    pub group: Option<String>,
    pub label: String,
    pub markdown: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GridRow {
    /// A row-group separator (`Single-stream`).
    Group(String),
    /// Plain text cells, one per header cell.
    Cells(Vec<String>),
}

/// A table's cells before markdown or LaTeX.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub header: Vec<HeaderCell>,
    pub numeric: Vec<bool>,
    pub rows: Vec<GridRow>,
}

/// A numeric column of the table: a paper column, or ours matching none (`extra:`).
pub(crate) struct ColumnKey {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) in_paper: bool,
}

/// A row of the table: a paper row, or ours matching none.
pub(crate) struct RowEntry<'a> {
    pub(crate) id: String,
    /// Its values of `rows.by` (empty where a paper row names none).
    pub(crate) values: Vec<String>,
    pub(crate) label: String,
    /// The label, told apart from rows labelled alike.
    pub(crate) unique: String,
    pub(crate) group: Option<&'a str>,
    pub(crate) text: Vec<String>,
    pub(crate) paper: Option<&'a PaperRow>,
}

/// What the cells are built from.
pub(crate) struct Layouts<'a> {
    pub(crate) table: &'a PaperTable,
    pub(crate) layout: Layout,
    pub(crate) decimals: usize,
    pub(crate) columns: Vec<ColumnKey>,
    pub(crate) rows: Vec<RowEntry<'a>>,
}

/// The cells, every comparison they show (`comparison.parquet`), and the doubts of the
/// paper rows shown.
pub(crate) struct Built {
    pub(crate) grid: Grid,
    pub(crate) cells: Vec<Comparison>,
    pub(crate) doubts: Vec<String>,
}

/// The paper's columns, then ours matching none.
pub(crate) fn column_keys(table: &PaperTable, extra: &BTreeSet<String>) -> Vec<ColumnKey> {
    table
        .columns
        .iter()
        .map(|c| ColumnKey {
            id: c.id.clone(),
            label: c.header(),
            in_paper: true,
        })
        .chain(extra.iter().map(|k| ColumnKey {
            id: k.clone(),
            label: k.trim_start_matches(EXTRA).to_string(),
            in_paper: false,
        }))
        .collect()
}

/// The paper rows shown, each followed by ours that differ from it in one `rows.by` value
/// alone (`random-init` beside `A²MC (ours)` with the same encoder), labelled `↳` and that
/// value; then ours matching no paper row (under *not in the paper*).
pub(crate) fn row_entries<'a>(
    table: &'a PaperTable,
    shown: &[&'a PaperRow],
    extra: &BTreeSet<String>,
    matcher: &Matcher,
) -> Vec<RowEntry<'a>> {
    let paper: Vec<RowEntry<'a>> = shown
        .iter()
        .map(|r| {
            // Rows the paper labels alike (A²MC with four encoders) are told apart by
            // their descriptive cells outside the table.
            let twins = |same: &dyn Fn(&PaperRow) -> bool| {
                table.rows.iter().filter(|o| same(o)).count() > 1
            };
            let unique = if !twins(&|o| o.label == r.label) {
                r.label.clone()
            } else if !r.text.is_empty()
                && !twins(&|o| o.label == r.label && o.text.first() == r.text.first())
            {
                format!("{} · {}", r.label, r.text[0])
            } else {
                format!("{} · {}", r.label, r.id)
            };
            RowEntry {
                id: r.id.clone(),
                values: matcher.values_of(&r.id).unwrap_or_default().to_vec(),
                label: r.label.clone(),
                unique,
                group: r.group.as_deref(),
                text: r.text.clone(),
                paper: Some(*r),
            }
        })
        .collect();
    let mut beside: Vec<Vec<RowEntry<'a>>> = paper.iter().map(|_| Vec::new()).collect();
    let mut apart = Vec::new();
    for k in extra {
        let values = extra_values(k);
        let unique = k.trim_start_matches(EXTRA).to_string();
        let entry = |label: String, group| RowEntry {
            id: k.clone(),
            values: values.clone(),
            unique: unique.clone(),
            label,
            group,
            text: vec![String::new(); table.text_columns.len()],
            paper: None,
        };
        match sibling(&paper, &values) {
            Some((i, differs)) => {
                let e = entry(format!("{BESIDE}{}", values[differs]), paper[i].group);
                beside[i].push(e);
            }
            None => apart.push(entry(unique.clone(), Some(NOT_IN_PAPER))),
        }
    }
    let mut rows = Vec::new();
    for (row, ours) in paper.into_iter().zip(beside) {
        rows.push(row);
        rows.extend(ours);
    }
    rows.extend(apart);
    rows
}

/// Label prefix of our rows shown beside the paper row they differ from in one value.
pub(crate) const BESIDE: &str = "↳ ";

/// Group of our rows that match no paper row and sit beside none.
const NOT_IN_PAPER: &str = "not in the paper";

/// The one paper row whose `by` values equal `values` but in one place (and which place),
/// if exactly one row does.
fn sibling(paper: &[RowEntry], values: &[String]) -> Option<(usize, usize)> {
    if values.len() < 2 {
        return None;
    }
    let mut hits = paper.iter().enumerate().filter_map(|(i, r)| {
        if r.values.len() != values.len() {
            return None;
        }
        let mut differ = r
            .values
            .iter()
            .zip(values)
            .enumerate()
            .filter(|(_, (a, b))| a != b);
        match (differ.next(), differ.next()) {
            (Some((d, _)), None) => Some((i, d)),
            _ => None,
        }
    });
    match (hits.next(), hits.next()) {
        (Some(hit), None) => Some(hit),
        _ => None,
    }
}

impl Layouts<'_> {
    /// `primary`: the table's own measure; `also`: (label, cells) of the others.
    pub(crate) fn build(&self, primary: &Cells, also: &[(&str, &Cells)]) -> Built {
        let mut body: Vec<GridRow> = Vec::new();
        let mut cells = Vec::new();
        let mut doubts = Vec::new();
        let mut group: Option<&str> = None;
        for row in &self.rows {
            if row.group != group {
                if let Some(g) = row.group {
                    body.push(GridRow::Group(g.to_string()));
                }
                group = row.group;
            }
            let mut label = row.label.clone();
            if let Some(doubt) = row.paper.and_then(|r| r.doubt.as_ref()) {
                label.push_str(" ⁽?⁾");
                doubts.push(format!("{}: {doubt}", row.unique));
            }
            let mut line = vec![label];
            line.extend(row.text.iter().cloned());
            for col in &self.columns {
                let o = primary.get(&(row.id.clone(), col.id.clone())).cloned();
                let p = row.paper.and_then(|_| self.table.value(&row.id, &col.id));
                let paper = p.and_then(PaperValue::value);
                line.extend(self.paper_cells(col.in_paper, o.as_ref(), p, paper));
                if o.is_some() || paper.is_some() {
                    cells.push(comparison(row, col, "", o, paper));
                }
            }
            for (measure, m) in also {
                for col in &self.columns {
                    let o = m.get(&(row.id.clone(), col.id.clone())).cloned();
                    line.push(self.ours_text(o.as_ref()));
                    if o.is_some() {
                        cells.push(comparison(row, col, measure, o, None));
                    }
                }
            }
            body.push(GridRow::Cells(line));
        }
        let (header, numeric) = self.header(also);
        Built {
            grid: Grid {
                header,
                numeric,
                rows: body,
            },
            cells,
            doubts,
        }
    }

    /// One header entry per column, with the paper column it belongs to.
    fn header(&self, also: &[(&str, &Cells)]) -> (Vec<HeaderCell>, Vec<bool>) {
        let plain = |label: &str| HeaderCell {
            group: None,
            label: label.to_string(),
            markdown: label.to_string(),
        };
        let mut header = vec![plain(&self.table.row_header)];
        header.extend(self.table.text_columns.iter().map(|t| plain(t)));
        let mut numeric = vec![false; header.len()];
        let mut push = |cell: HeaderCell| {
            header.push(cell);
            numeric.push(true);
        };
        for col in &self.columns {
            let label = &col.label;
            match (self.layout, col.in_paper) {
                (Layout::Columns, true) => {
                    for (sub, md) in [
                        ("ours", format!("{label} ours")),
                        ("paper", "paper".to_string()),
                        ("Δ", "Δ".to_string()),
                    ] {
                        push(HeaderCell {
                            group: Some(label.clone()),
                            label: sub.to_string(),
                            markdown: md,
                        });
                    }
                }
                (Layout::Columns, false) => push(HeaderCell {
                    group: Some(label.clone()),
                    label: "ours (not in paper)".to_string(),
                    markdown: format!("{label} ours (not in paper)"),
                }),
                (Layout::Compact, _) => push(plain(label)),
            }
        }
        for (measure, _) in also {
            for col in &self.columns {
                push(HeaderCell {
                    group: Some(format!("{measure} (ours)")),
                    label: col.label.clone(),
                    markdown: format!("{} {measure} ours", col.label),
                });
            }
        }
        (header, numeric)
    }

    /// The cells of one paper column in one row: `ours | paper | Δ`, or one compact cell.
    fn paper_cells(
        &self,
        in_paper: bool,
        ours: Option<&Ours>,
        printed: Option<&PaperValue>,
        paper: Option<f64>,
    ) -> Vec<String> {
        let paper_text = printed.map_or_else(|| "—".to_string(), PaperValue::to_string);
        let ours_text = self.ours_text(ours);
        let delta = ours.zip(paper).map(|(o, p)| o.mean - p);
        let delta_text = delta.map_or_else(|| "—".to_string(), |d| fmt_delta(d, self.decimals));
        match (self.layout, in_paper) {
            (Layout::Columns, true) => vec![ours_text, paper_text, delta_text],
            (_, false) => vec![ours_text],
            (Layout::Compact, true) => vec![match (ours, delta) {
                (Some(_), Some(_)) => format!("{ours_text} (paper {paper_text}, {delta_text})"),
                _ => format!("{ours_text} (paper {paper_text})"),
            }],
        }
    }

    /// `41.5 ± 0.5 (n=3)`, `⚠` when a seed's results disagree, `—` for none.
    fn ours_text(&self, ours: Option<&Ours>) -> String {
        let Some(o) = ours else {
            return "—".to_string();
        };
        let mut s = fmt_value(o.mean, self.decimals);
        if let Some(std) = o.std {
            s = format!("{s} ± {} (n={})", fmt_value(std, self.decimals), o.n);
        }
        if o.ambiguous.is_some() {
            s.push_str(" ⚠");
        }
        s
    }

    /// Per paper column (and ours matching none), one bar per row with our number.
    pub(crate) fn bars(&self, primary: &Cells) -> Vec<(String, Vec<Bar>)> {
        let mut out = Vec::new();
        for col in &self.columns {
            let bars: Vec<Bar> = self
                .rows
                .iter()
                .filter_map(|r| {
                    let o = primary.get(&(r.id.clone(), col.id.clone()))?;
                    Some(Bar {
                        label: r.unique.clone(),
                        ours: o.mean,
                        std: o.std,
                        paper: r
                            .paper
                            .and_then(|_| self.table.value(&r.id, &col.id))
                            .and_then(PaperValue::value),
                    })
                })
                .collect();
            if !bars.is_empty() {
                out.push((col.label.clone(), bars));
            }
        }
        out
    }
}

fn comparison(
    row: &RowEntry,
    col: &ColumnKey,
    measure: &str,
    ours: Option<Ours>,
    paper: Option<f64>,
) -> Comparison {
    Comparison {
        row: row.id.trim_start_matches(EXTRA).to_string(),
        row_label: row.unique.clone(),
        row_values: row.values.clone(),
        column: col.id.trim_start_matches(EXTRA).to_string(),
        column_label: col.label.clone(),
        measure: measure.to_string(),
        ours,
        paper,
    }
}
