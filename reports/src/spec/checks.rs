//! Checks that need more than the section itself: the pipeline's tag names (a misspelt
//! tag in `rows`, `columns` or `select`) and the paper tables (papers, tables, rows and
//! columns named by the section).

use std::collections::BTreeSet;

use skelflow_contract::did_you_mean;

use super::model::{AxisSpec, ReportSpec, SpecContext, SpecError};
use super::paper_dirs;
use crate::papers::{Catalog, PaperTable};
use crate::results::{FIXED_COLUMNS, KNOWN_METRIC_DIMS};

/// A long-table column name that is a near miss of a tag or result column: the message
/// and the hint. An unknown name that is near nothing may still be a metric dimension of
/// some eval, and passes.
pub(super) fn column_name(tags: &BTreeSet<String>, name: &str) -> Option<(String, String)> {
    let known: BTreeSet<&str> = tags
        .iter()
        .map(String::as_str)
        .chain(FIXED_COLUMNS.iter().copied())
        .chain(KNOWN_METRIC_DIMS.iter().copied())
        .collect();
    if known.contains(name) {
        return None;
    }
    let near = did_you_mean(name, known.iter().copied())?;
    Some((
        format!("no tag or result column is called `{name}`"),
        format!(
            "did you mean `{near}`? the pipeline's tags: {}",
            tags.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    ))
}

/// The papers, tables, rows and columns a parsed section names, against the paper files
/// it can see (its own `papers:` dirs, the repository's, the built-in ones).
pub(super) fn against_papers(spec: &ReportSpec, ctx: &SpecContext) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut error = |path: String, message: String, hint: String| {
        errors.push(SpecError {
            path,
            message,
            hint: Some(hint),
        })
    };
    let dirs = paper_dirs(spec, ctx.pipeline_file);
    let mut readable = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        if d.is_dir() {
            readable.push(d.clone());
        } else if i < spec.papers.len() {
            error(
                format!("report.papers[{i}]"),
                format!("{} is not a directory", d.display()),
                "a directory of paper table files (*.yaml), relative to the pipeline file"
                    .to_string(),
            );
        }
    }
    let catalog = match Catalog::load(&readable) {
        Ok(c) => c,
        Err(e) => {
            error(
                "report.papers".to_string(),
                e.to_string(),
                "fix the paper file (format: reports/papers/README.md)".to_string(),
            );
            return errors;
        }
    };
    for t in &spec.tables {
        let path = format!("report.tables[{}]", t.index);
        let Some(paper) = catalog.paper(&t.paper) else {
            let ids: Vec<&str> = catalog.papers().map(|p| p.id.as_str()).collect();
            let hint = match did_you_mean(&t.paper, ids.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? known papers: {}", ids.join(", ")),
                None => format!(
                    "known papers: {}; add a file to reports/papers/ or list a directory in `report.papers`",
                    ids.join(", ")
                ),
            };
            error(
                format!("{path}.paper"),
                format!("unknown paper `{}`", t.paper),
                hint,
            );
            continue;
        };
        let Some(table) = paper.tables.iter().find(|x| x.id == t.table) else {
            let ids: Vec<&str> = paper.tables.iter().map(|x| x.id.as_str()).collect();
            error(
                format!("{path}.table"),
                format!("{} has no table `{}`", paper.short, t.table),
                format!("its tables: {}", ids.join(", ")),
            );
            continue;
        };
        for (axis, rows, at) in [(&t.rows, true, "rows"), (&t.columns, false, "columns")] {
            for (id, message, hint) in axis_against(table, axis, rows) {
                error(format!("{path}.{at}.map.{id}"), message, hint);
            }
        }
        if let Some(b) = t.baseline.as_ref().filter(|b| table.row(b).is_none()) {
            error(
                format!("{path}.baseline"),
                format!("table {} {} has no row `{b}`", paper.short, table.id),
                ids(table, true),
            );
        }
    }
    errors
}

/// `map` entries naming a row (column) the paper table does not have: (id, message, hint).
fn axis_against(table: &PaperTable, axis: &AxisSpec, rows: bool) -> Vec<(String, String, String)> {
    let what = if rows { "row" } else { "column" };
    axis.map
        .keys()
        .filter(|id| {
            if rows {
                table.row(id).is_none()
            } else {
                table.column(id).is_none()
            }
        })
        .map(|id| {
            let message = format!("table {} has no {what} `{id}`", table.id);
            (id.clone(), message, ids(table, rows))
        })
        .collect()
}

/// `its rows: A1, A2, …` or `its columns: …`, for hints.
fn ids(table: &PaperTable, rows: bool) -> String {
    let ids: Vec<&str> = if rows {
        table.rows.iter().map(|r| r.id.as_str()).collect()
    } else {
        table.columns.iter().map(|c| c.id.as_str()).collect()
    };
    format!(
        "its {}: {}",
        if rows { "rows" } else { "columns" },
        ids.join(", ")
    )
}
