//! One paper table in the paper's layout, our numbers beside the paper's.
//!
//! Our long table is filtered by the spec's `select`, each result is placed on the paper
//! rows and columns its tags name (`rows:` / `columns:`), polars groups the results of
//! each cell and aggregates the seeds (mean ± sample std, n), and the cells are joined
//! with the paper's numbers (the paper table as a long frame) on (row, column).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;

use crate::format::{escape_cell, fmt_delta, fmt_value, markdown_table};
use crate::papers::{PaperRow, PaperTable, PaperValue};
use crate::spec::{AxisSpec, Layout, PaperRows, Select, TableSpec, Unmatched};

/// Prefix of the row/column keys of our results that match no paper row/column.
const EXTRA: &str = "extra:";

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

/// Where our results land: paper row/column ids (or `extra:` keys) per result.
struct Matcher {
    by: Vec<String>,
    /// (paper id, the values of `by` that fill it)
    targets: Vec<(String, Vec<String>)>,
}

impl Matcher {
    fn new(
        axis: &AxisSpec,
        entries: impl Iterator<Item = (String, BTreeMap<String, String>)>,
        table_dims: &BTreeMap<String, String>,
    ) -> Matcher {
        let single = axis.by.len() == 1;
        let mut targets = Vec::new();
        for (id, dims) in entries {
            let mapped = axis.map.get(&id);
            let values: Option<Vec<String>> = axis
                .by
                .iter()
                .map(|b| {
                    mapped
                        .and_then(|m| m.get(b))
                        .or_else(|| dims.get(b))
                        .cloned()
                        .or_else(|| single.then(|| id.clone()))
                        .or_else(|| table_dims.get(b).cloned())
                })
                .collect();
            if let Some(values) = values {
                targets.push((id, values));
            }
        }
        Matcher {
            by: axis.by.clone(),
            targets,
        }
    }

    /// The paper ids a result with these `by` values fills; none → its `extra:` key.
    fn place(&self, values: &[&str]) -> Vec<String> {
        let hits: Vec<String> = self
            .targets
            .iter()
            .filter(|(_, want)| want.iter().zip(values).all(|(w, v)| w == v))
            .map(|(id, _)| id.clone())
            .collect();
        if hits.is_empty() {
            vec![format!("{EXTRA}{}", values.join(" / "))]
        } else {
            hits
        }
    }
}

/// Render `spec` (one entry of `report.tables`) against our long table `df`.
pub fn render_table(
    df: &DataFrame,
    spec: &TableSpec,
    table: &PaperTable,
    paper_short: &str,
) -> PolarsResult<RenderedTable> {
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

    // measure label → (row key, column key) → ours
    let mut measures: Vec<(String, Select)> = vec![(String::new(), spec.select.clone())];
    for a in &spec.also {
        let mut sel = spec.select.clone();
        sel.extend(a.select.clone());
        sel.retain(|_, v| !v.is_empty());
        measures.push((a.label.clone(), sel));
    }
    let mut ours: BTreeMap<String, HashMap<(String, String), Ours>> = BTreeMap::new();
    for (label, select) in &measures {
        let found = aggregate(df, select, &rows, &cols, &mut warnings, &what, label)?;
        ours.insert(label.clone(), found);
    }
    let primary = &ours[""];

    // Paper numbers joined to ours on (row, column), by polars.
    let joined = join_paper(primary, table)?;

    // Rows and columns to show.
    let has_ours = |row: &str| ours.values().any(|m| m.keys().any(|(r, _)| r == row));
    let paper_rows: Vec<_> = table
        .rows
        .iter()
        .filter(|r| spec.paper_rows == PaperRows::All || has_ours(&r.id))
        .collect();
    let mut extra_rows = BTreeSet::new();
    let mut extra_cols = BTreeSet::new();
    for m in ours.values() {
        for (r, c) in m.keys() {
            if r.starts_with(EXTRA) {
                extra_rows.insert(r.clone());
            }
            if c.starts_with(EXTRA) {
                extra_cols.insert(c.clone());
            }
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

    let decimals = spec.decimals.unwrap_or(table.decimals.max(1));
    let layout = spec.layout;

    // Header: one entry per column, with the paper column it belongs to.
    let plain = |label: &str| HeaderCell {
        group: None,
        label: label.to_string(),
        markdown: label.to_string(),
    };
    let mut header = vec![plain(&table.row_header)];
    header.extend(table.text_columns.iter().map(|t| plain(t)));
    let mut numeric = vec![false; header.len()];
    let col_keys: Vec<(String, String, bool)> = table
        .columns
        .iter()
        .map(|c| (c.id.clone(), c.header(), true))
        .chain(
            extra_cols
                .iter()
                .map(|k| (k.clone(), k.trim_start_matches(EXTRA).to_string(), false)),
        )
        .collect();
    for (_, label, in_paper) in &col_keys {
        match (layout, in_paper) {
            (Layout::Columns, true) => {
                for (sub, md) in [
                    ("ours", format!("{label} ours")),
                    ("paper", "paper".to_string()),
                    ("Δ", "Δ".to_string()),
                ] {
                    header.push(HeaderCell {
                        group: Some(label.clone()),
                        label: sub.to_string(),
                        markdown: md,
                    });
                    numeric.push(true);
                }
            }
            (Layout::Columns, false) => {
                header.push(HeaderCell {
                    group: Some(label.clone()),
                    label: "ours (not in paper)".to_string(),
                    markdown: format!("{label} ours (not in paper)"),
                });
                numeric.push(true);
            }
            (Layout::Compact, _) => {
                header.push(plain(label));
                numeric.push(true);
            }
        }
    }
    for (label, _) in measures.iter().skip(1) {
        for (_, col_label, _) in &col_keys {
            header.push(HeaderCell {
                group: Some(format!("{label} (ours)")),
                label: col_label.clone(),
                markdown: format!("{col_label} {label} ours"),
            });
            numeric.push(true);
        }
    }

    // Body.
    let mut body: Vec<GridRow> = Vec::new();
    let mut cells = Vec::new();
    let mut group: Option<&str> = None;
    let mut doubts = Vec::new();
    let row_entries: Vec<RowEntry> = paper_rows
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
                label: r.label.clone(),
                unique,
                group: r.group.as_deref(),
                text: r.text.clone(),
                paper: Some(*r),
            }
        })
        .chain(extra_rows.iter().map(|k| {
            let label = k.trim_start_matches(EXTRA).to_string();
            RowEntry {
                id: k.clone(),
                unique: label.clone(),
                label,
                group: Some("not in the paper"),
                text: vec![String::new(); table.text_columns.len()],
                paper: None,
            }
        }))
        .collect();
    for RowEntry {
        id: row_id,
        label: row_label,
        unique,
        group: row_group,
        text,
        paper: paper_row,
    } in &row_entries
    {
        if *row_group != group {
            if let Some(g) = row_group {
                body.push(GridRow::Group(g.to_string()));
            }
            group = *row_group;
        }
        let mut label = row_label.clone();
        if let Some(doubt) = paper_row.and_then(|r| r.doubt.as_ref()) {
            label.push_str(" ⁽?⁾");
            doubts.push(format!("{unique}: {doubt}"));
        }
        let mut line = vec![label];
        line.extend(text.iter().cloned());
        for (col_id, col_label, in_paper) in &col_keys {
            let key = (row_id.clone(), col_id.clone());
            let o = primary.get(&key).cloned();
            let p = paper_row.and_then(|_| table.value(row_id, col_id));
            let paper_num = joined.get(&key).copied().flatten();
            let paper_text = p
                .map(PaperValue::to_string)
                .unwrap_or_else(|| "—".to_string());
            let ours_text = o
                .as_ref()
                .map(|o| fmt_ours(o, decimals))
                .unwrap_or_else(|| "—".to_string());
            let delta = o.as_ref().zip(paper_num).map(|(o, p)| o.mean - p);
            let delta_text = delta
                .map(|d| fmt_delta(d, decimals))
                .unwrap_or_else(|| "—".to_string());
            match (layout, in_paper) {
                (Layout::Columns, true) => {
                    line.extend([ours_text, paper_text.clone(), delta_text.clone()])
                }
                (Layout::Columns, false) => line.push(ours_text),
                (Layout::Compact, true) => line.push(match (&o, delta) {
                    (Some(_), Some(_)) => format!("{ours_text} (paper {paper_text}, {delta_text})"),
                    _ => format!("{ours_text} (paper {paper_text})"),
                }),
                (Layout::Compact, false) => line.push(ours_text),
            }
            if o.is_some() || paper_num.is_some() {
                cells.push(Comparison {
                    row: row_id.trim_start_matches(EXTRA).to_string(),
                    row_label: unique.clone(),
                    column: col_id.trim_start_matches(EXTRA).to_string(),
                    column_label: col_label.clone(),
                    measure: String::new(),
                    ours: o,
                    paper: paper_num,
                });
            }
        }
        for (label, _) in measures.iter().skip(1) {
            let m = &ours[label];
            for (col_id, col_label, _) in &col_keys {
                let o = m.get(&(row_id.clone(), col_id.clone())).cloned();
                line.push(
                    o.as_ref()
                        .map(|o| fmt_ours(o, decimals))
                        .unwrap_or_else(|| "—".to_string()),
                );
                if o.is_some() {
                    cells.push(Comparison {
                        row: row_id.trim_start_matches(EXTRA).to_string(),
                        row_label: unique.clone(),
                        column: col_id.trim_start_matches(EXTRA).to_string(),
                        column_label: col_label.clone(),
                        measure: label.clone(),
                        ours: o,
                        paper: None,
                    });
                }
            }
        }
        body.push(GridRow::Cells(line));
    }
    let grid = Grid {
        header,
        numeric,
        rows: body,
    };

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

    // Notes.
    let mut notes = vec![describe_measures(spec, &measures, table)];
    if !hidden.is_empty() {
        notes.push(format!(
            "Results matching no paper row or column, not shown (`unmatched: hide`): {}.",
            hidden.join(", ")
        ));
    }
    if !doubts.is_empty() {
        notes.push(format!(
            "⁽?⁾ uncertain transcription — {}",
            doubts.join("; ")
        ));
    }
    for c in &cells {
        if let Some(a) = c.ours.as_ref().and_then(|o| o.ambiguous.as_ref()) {
            let m = if c.measure.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.measure)
            };
            notes.push(format!("⚠ {} / {}{m}: {a}", c.row_label, c.column_label));
        }
    }
    if primary.is_empty() {
        notes.push("No result of this run matches this table: check `select`, `rows` and `columns` against results.parquet.".to_string());
        warnings.push(format!(
            "{what}: no result matches (select {})",
            fmt_select(&spec.select)
        ));
    }
    for n in &notes {
        md.push_str(&format!("- {n}\n"));
    }

    let summary = summarize(&what, spec, table, &cells, decimals);
    let bars = bars(table, &col_keys, &row_entries, primary);
    Ok(RenderedTable {
        heading,
        markdown: md,
        grid,
        summary,
        cells,
        bars,
        warnings,
    })
}

/// Filter `df` by `select`, place every result on the table, and aggregate each cell.
fn aggregate(
    df: &DataFrame,
    select: &Select,
    rows: &Matcher,
    cols: &Matcher,
    warnings: &mut Vec<String>,
    what: &str,
    measure: &str,
) -> PolarsResult<HashMap<(String, String), Ours>> {
    let mut out = HashMap::new();
    let names: BTreeSet<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let measure_name = if measure.is_empty() {
        String::new()
    } else {
        format!(" ({measure})")
    };
    let constrained = select.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k);
    for col in constrained.chain(&rows.by).chain(&cols.by) {
        if !names.contains(col) {
            if df.height() > 0 {
                warnings.push(format!(
                    "{what}{measure_name}: no result has a `{col}` column (tag or metric dimension)"
                ));
            }
            return Ok(out);
        }
    }
    // select
    let mut mask = BooleanChunked::full("mask".into(), true, df.height());
    for (col, accepted) in select.iter().filter(|(_, v)| !v.is_empty()) {
        let s = df.column(col)?.str()?;
        let any: BooleanChunked = s
            .iter()
            .map(|v| Some(v.is_some_and(|v| accepted.iter().any(|a| selects(a, v)))))
            .collect();
        mask = &mask & &any;
    }
    let selected = df.filter(&mask)?;

    // placement (a result may fill several paper rows, e.g. A1 and B1 from one baseline)
    let by_values = |m: &Matcher| -> PolarsResult<Vec<Vec<Option<String>>>> {
        let mut per_col = Vec::new();
        for b in &m.by {
            per_col.push(
                selected
                    .column(b)?
                    .str()?
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect::<Vec<_>>(),
            );
        }
        Ok((0..selected.height())
            .map(|i| per_col.iter().map(|c| c[i].clone()).collect())
            .collect())
    };
    let row_values = by_values(rows)?;
    let col_values = by_values(cols)?;
    let mut take = Vec::new();
    let mut row_keys = Vec::new();
    let mut col_keys = Vec::new();
    let mut unplaced = 0;
    for i in 0..selected.height() {
        let rv: Option<Vec<&str>> = row_values[i].iter().map(|v| v.as_deref()).collect();
        let cv: Option<Vec<&str>> = col_values[i].iter().map(|v| v.as_deref()).collect();
        let (Some(rv), Some(cv)) = (rv, cv) else {
            unplaced += 1;
            continue;
        };
        for r in rows.place(&rv) {
            for c in cols.place(&cv) {
                take.push(i as IdxSize);
                row_keys.push(r.clone());
                col_keys.push(c);
            }
        }
    }
    if unplaced > 0 {
        let by: Vec<&str> = rows.by.iter().chain(&cols.by).map(String::as_str).collect();
        warnings.push(format!(
            "{what}{measure_name}: {unplaced} selected result(s) lack one of {} and are left out",
            by.join(", ")
        ));
    }
    if take.is_empty() {
        return Ok(out);
    }
    let mut placed = selected.take(&IdxCa::from_vec("idx".into(), take))?;
    placed.with_column(Column::new("__row".into(), row_keys))?;
    placed.with_column(Column::new("__col".into(), col_keys))?;

    let identity: Vec<String> = placed
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .filter(|n| {
            ![
                "value", "seed", "key", "instance", "stage", "kind", "run_id", "pipeline", "__row",
                "__col",
            ]
            .contains(&n.as_str())
        })
        .collect();
    let agg = placed
        .group_by_stable(["__row", "__col"])?
        .apply(|g| aggregate_cell(&g, &identity))?;

    let r = agg.column("__row")?.str()?;
    let c = agg.column("__col")?.str()?;
    let mean = agg.column("mean")?.f64()?;
    let std = agg.column("std")?.f64()?;
    let n = agg.column("n")?.u32()?;
    let seeds = agg.column("seeds")?.str()?;
    let amb = agg.column("ambiguous")?.str()?;
    for i in 0..agg.height() {
        let key = (
            r.get(i).unwrap_or_default().to_string(),
            c.get(i).unwrap_or_default().to_string(),
        );
        out.insert(
            key,
            Ours {
                mean: mean.get(i).unwrap_or(f64::NAN),
                std: std.get(i),
                n: n.get(i).unwrap_or(0) as usize,
                seeds: seeds.get(i).unwrap_or_default().to_string(),
                ambiguous: amb.get(i).map(str::to_string),
            },
        );
    }
    Ok(out)
}

/// `linear*` selects every value starting with `linear`; anything else selects itself.
fn selects(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == pattern,
    }
}

/// The results of one cell → mean ± std over seeds. Results of the same seed with the
/// same value are one (the same artifact shown twice); different values of one seed are
/// averaged and flagged, naming the columns they differ in.
fn aggregate_cell(g: &DataFrame, identity: &[String]) -> PolarsResult<DataFrame> {
    let values = g.column("value")?.f64()?;
    let seeds = g.column("seed")?.i64()?;
    let mut per_seed: BTreeMap<Option<i64>, Vec<(usize, f64)>> = BTreeMap::new();
    for i in 0..g.height() {
        let Some(v) = values.get(i) else { continue };
        let entry = per_seed.entry(seeds.get(i)).or_default();
        if !entry.iter().any(|(_, x)| x.to_bits() == v.to_bits()) {
            entry.push((i, v));
        }
    }
    let mut differing = BTreeSet::new();
    for rows in per_seed.values().filter(|r| r.len() > 1) {
        for name in identity {
            let col = g.column(name)?.str()?;
            let distinct: BTreeSet<Option<&str>> = rows.iter().map(|(i, _)| col.get(*i)).collect();
            if distinct.len() > 1 {
                differing.insert(name.clone());
            }
        }
    }
    let ambiguous = per_seed.iter().find(|(_, r)| r.len() > 1).map(|(seed, r)| {
        let seed = seed.map_or("?".to_string(), |s| s.to_string());
        if differing.is_empty() {
            format!(
                "seed {seed} has {} different results here (from different instances); averaged",
                r.len()
            )
        } else {
            let names: Vec<&str> = differing.iter().map(String::as_str).collect();
            format!(
                "seed {seed} has {} results here that differ in `{}`; averaged — narrow `select`",
                r.len(),
                names.join("`, `")
            )
        }
    });
    let means: Vec<f64> = per_seed
        .values()
        .map(|r| r.iter().map(|(_, v)| v).sum::<f64>() / r.len() as f64)
        .collect();
    let n = means.len();
    let mean = means.iter().sum::<f64>() / n as f64;
    let std = (n >= 2)
        .then(|| (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    let seed_list: Vec<String> = per_seed
        .keys()
        .map(|s| s.map_or("?".to_string(), |s| s.to_string()))
        .collect();
    let row = g
        .column("__row")?
        .str()?
        .get(0)
        .unwrap_or_default()
        .to_string();
    let col = g
        .column("__col")?
        .str()?
        .get(0)
        .unwrap_or_default()
        .to_string();
    df!(
        "__row" => [row],
        "__col" => [col],
        "mean" => [mean],
        "std" => [std],
        "n" => [n as u32],
        "seeds" => [seed_list.join(",")],
        "ambiguous" => [ambiguous],
    )
}

/// The paper's numbers as a long frame, full-joined with ours on (row, column): the
/// paper's number of every cell that has one.
fn join_paper(
    ours: &HashMap<(String, String), Ours>,
    table: &PaperTable,
) -> PolarsResult<HashMap<(String, String), Option<f64>>> {
    let mut pr = Vec::new();
    let mut pc = Vec::new();
    let mut pv = Vec::new();
    for row in &table.rows {
        for (col, value) in table.columns.iter().zip(&row.values) {
            pr.push(row.id.clone());
            pc.push(col.id.clone());
            pv.push(value.value());
        }
    }
    let paper = df!("__row" => pr, "__col" => pc, "paper" => pv)?;
    let mut keys: Vec<&(String, String)> = ours.keys().collect();
    keys.sort();
    let ours_df = df!(
        "__row" => keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        "__col" => keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(),
        "ours" => keys.iter().map(|k| ours[*k].mean).collect::<Vec<f64>>(),
    )?;
    let joined = ours_df.join(
        &paper,
        ["__row", "__col"],
        ["__row", "__col"],
        JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
        None,
    )?;
    let r = joined.column("__row")?.str()?;
    let c = joined.column("__col")?.str()?;
    let p = joined.column("paper")?.f64()?;
    Ok((0..joined.height())
        .map(|i| {
            (
                (
                    r.get(i).unwrap_or_default().to_string(),
                    c.get(i).unwrap_or_default().to_string(),
                ),
                p.get(i),
            )
        })
        .collect())
}

fn fmt_ours(o: &Ours, decimals: usize) -> String {
    let mut s = fmt_value(o.mean, decimals);
    if let Some(std) = o.std {
        s = format!("{s} ± {} (n={})", fmt_value(std, decimals), o.n);
    }
    if o.ambiguous.is_some() {
        s.push_str(" ⚠");
    }
    s
}

fn fmt_select(select: &Select) -> String {
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

/// Plain-words comparison of one table: how many cells, above/below, mean Δ, and whether
/// our rows come in the paper's order.
fn summarize(
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
    let mut out = Vec::new();
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

/// A row of the rendered table: a paper row, or our results matching none.
struct RowEntry<'a> {
    id: String,
    label: String,
    /// The label, told apart from rows labelled alike.
    unique: String,
    group: Option<&'a str>,
    text: Vec<String>,
    paper: Option<&'a PaperRow>,
}

fn bars(
    table: &PaperTable,
    col_keys: &[(String, String, bool)],
    rows: &[RowEntry],
    primary: &HashMap<(String, String), Ours>,
) -> Vec<(String, Vec<Bar>)> {
    let mut out = Vec::new();
    for (col_id, col_label, _) in col_keys {
        let bars: Vec<Bar> = rows
            .iter()
            .filter_map(|r| {
                let o = primary.get(&(r.id.clone(), col_id.clone()))?;
                Some(Bar {
                    label: r.unique.clone(),
                    ours: o.mean,
                    std: o.std,
                    paper: r
                        .paper
                        .and_then(|_| table.value(&r.id, col_id))
                        .and_then(PaperValue::value),
                })
            })
            .collect();
        if !bars.is_empty() {
            out.push((col_label.clone(), bars));
        }
    }
    out
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

    #[test]
    fn selection_by_value_or_prefix() {
        assert!(selects("linear-cmd", "linear-cmd"));
        assert!(!selects("linear", "linear-cmd"));
        assert!(selects("linear*", "linear-cmd"));
        assert!(selects("*", "anything"));
    }
}
