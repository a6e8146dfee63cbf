//! Which of our results go into which cell: `select` keeps the results a table uses, and
//! `rows:` / `columns:` place each on the paper rows and columns its values name.

use std::collections::{BTreeMap, BTreeSet};

use crate::results::{ResultRow, Results};
use crate::spec::{AxisSpec, Select};

/// Prefix of the row/column keys of our results that match no paper row/column.
pub(crate) const EXTRA: &str = "extra:";
/// Between the `by` values of an `extra:` key (`random-init / transformer`).
const VALUES_SEP: &str = " / ";

/// The `by` values an `extra:` key was made of.
pub(crate) fn extra_values(key: &str) -> Vec<String> {
    key.trim_start_matches(EXTRA)
        .split(VALUES_SEP)
        .map(str::to_string)
        .collect()
}

/// Where our results land on one axis: paper row (column) ids, or `extra:` keys.
pub(crate) struct Matcher {
    pub(crate) by: Vec<String>,
    /// (paper id, the values of `by` that fill it)
    targets: Vec<(String, Vec<String>)>,
}

impl Matcher {
    /// `entries`: the paper's row (column) ids with their `dims`.
    pub(crate) fn new(
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

    /// The `by` values that fill paper row (column) `id`.
    pub(crate) fn values_of(&self, id: &str) -> Option<&[String]> {
        self.targets
            .iter()
            .find(|(t, _)| t == id)
            .map(|(_, v)| v.as_slice())
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
            vec![format!("{EXTRA}{}", values.join(VALUES_SEP))]
        } else {
            hits
        }
    }
}

/// One result in one cell. A result may fill several cells (paper rows A1 and B1 are
/// both the baseline).
pub(crate) struct Placed<'a> {
    pub(crate) row: String,
    pub(crate) column: String,
    pub(crate) result: &'a ResultRow,
}

/// The results `select` keeps, each placed on the table. What cannot be placed is a
/// warning that starts with `what`.
pub(crate) fn place<'a>(
    results: &'a Results,
    select: &Select,
    rows: &Matcher,
    cols: &Matcher,
    what: &str,
    warnings: &mut Vec<String>,
) -> Vec<Placed<'a>> {
    let names: BTreeSet<String> = results.columns().into_iter().collect();
    let constrained: Vec<(&String, &Vec<String>)> =
        select.iter().filter(|(_, v)| !v.is_empty()).collect();
    let needed = constrained.iter().map(|(k, _)| *k);
    if let Some(col) = needed
        .chain(&rows.by)
        .chain(&cols.by)
        .find(|c| !names.contains(*c))
    {
        if !results.rows.is_empty() {
            warnings.push(format!(
                "{what}: no result has a `{col}` column (tag or metric dimension)"
            ));
        }
        return Vec::new();
    }
    let mut placed = Vec::new();
    let mut unplaced = 0;
    for r in &results.rows {
        let selected = constrained.iter().all(|(col, accepted)| {
            results
                .text(r, col)
                .is_some_and(|v| accepted.iter().any(|a| selects(a, &v)))
        });
        if !selected {
            continue;
        }
        let values = |m: &Matcher| -> Option<Vec<String>> {
            m.by.iter()
                .map(|b| results.text(r, b).map(|v| v.into_owned()))
                .collect()
        };
        let (Some(rv), Some(cv)) = (values(rows), values(cols)) else {
            unplaced += 1;
            continue;
        };
        let rv: Vec<&str> = rv.iter().map(String::as_str).collect();
        let cv: Vec<&str> = cv.iter().map(String::as_str).collect();
        for row in rows.place(&rv) {
            for column in cols.place(&cv) {
                placed.push(Placed {
                    row: row.clone(),
                    column,
                    result: r,
                });
            }
        }
    }
    if unplaced > 0 {
        let by: Vec<&str> = rows.by.iter().chain(&cols.by).map(String::as_str).collect();
        warnings.push(format!(
            "{what}: {unplaced} selected result(s) lack one of {} and are left out",
            by.join(", ")
        ));
    }
    placed
}

/// `linear*` selects every value starting with `linear`; anything else selects itself.
fn selects(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_value_or_prefix() {
        assert!(selects("linear-cmd", "linear-cmd"));
        assert!(!selects("linear", "linear-cmd"));
        assert!(selects("linear*", "linear-cmd"));
        assert!(selects("*", "anything"));
    }
}
