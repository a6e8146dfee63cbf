//! Several results in one cell → our number: the mean over seeds ± the sample standard
//! deviation, with n. Plain Rust: a cell holds a handful of results, and telling one
//! artifact seen twice from a selection that is too loose means looking at each of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Ours;
use super::placement::Placed;
use crate::results::ResultRow;

/// (row key, column key) → ours, for every cell that has results.
pub(crate) type Cells = HashMap<(String, String), Ours>;

/// Aggregate the placed results of one measure, cell by cell.
pub(crate) fn aggregate(placed: &[Placed]) -> Cells {
    let mut cells: BTreeMap<(&str, &str), Vec<&ResultRow>> = BTreeMap::new();
    for p in placed {
        cells
            .entry((p.row.as_str(), p.column.as_str()))
            .or_default()
            .push(p.result);
    }
    cells
        .into_iter()
        .map(|((r, c), results)| ((r.to_string(), c.to_string()), cell(&results)))
        .collect()
}

/// The results of one cell → mean ± std over seeds. Results of the same seed with the
/// same value are one (the same artifact shown twice); different values of one seed are
/// averaged and flagged, naming the columns they differ in.
fn cell(results: &[&ResultRow]) -> Ours {
    let mut per_seed: BTreeMap<Option<i64>, Vec<&ResultRow>> = BTreeMap::new();
    for r in results {
        let same_seed = per_seed.entry(r.seed).or_default();
        if !same_seed
            .iter()
            .any(|x| x.value.to_bits() == r.value.to_bits())
        {
            same_seed.push(*r);
        }
    }
    let mut differing = BTreeSet::new();
    for rows in per_seed.values().filter(|r| r.len() > 1) {
        let names: BTreeSet<&String> = rows.iter().flat_map(|r| r.dims.keys()).collect();
        for name in names {
            let distinct: BTreeSet<Option<&String>> =
                rows.iter().map(|r| r.dims.get(name)).collect();
            if distinct.len() > 1 {
                differing.insert(name.as_str());
            }
        }
    }
    let seed_text = |s: &Option<i64>| s.map_or("?".to_string(), |s| s.to_string());
    let ambiguous = per_seed.iter().find(|(_, r)| r.len() > 1).map(|(seed, r)| {
        let seed = seed_text(seed);
        if differing.is_empty() {
            format!(
                "seed {seed} has {} different results here (from different instances); averaged",
                r.len()
            )
        } else {
            let names: Vec<&str> = differing.iter().copied().collect();
            format!(
                "seed {seed} has {} results here that differ in `{}`; averaged — narrow `select`",
                r.len(),
                names.join("`, `")
            )
        }
    });
    let means: Vec<f64> = per_seed
        .values()
        .map(|r| r.iter().map(|x| x.value).sum::<f64>() / r.len() as f64)
        .collect();
    let n = means.len();
    let mean = means.iter().sum::<f64>() / n as f64;
    let std = (n >= 2)
        .then(|| (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    let seeds: Vec<String> = per_seed.keys().map(seed_text).collect();
    Ours {
        mean,
        std,
        n,
        seeds: seeds.join(","),
        ambiguous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(seed: i64, value: f64, at: &str) -> ResultRow {
        ResultRow {
            instance: format!("i{seed}{at}"),
            stage: "linear".into(),
            kind: "eval.linear".into(),
            key: "k".into(),
            dims: BTreeMap::from([("at".to_string(), at.to_string())]),
            value,
            seed: Some(seed),
        }
    }

    #[test]
    fn seeds_are_averaged_and_a_loose_selection_is_flagged() {
        let rows = [
            result(0, 41.0, "best"),
            result(1, 41.5, "best"),
            result(2, 42.0, "best"),
            result(2, 42.0, "best"),
        ];
        let refs: Vec<&ResultRow> = rows.iter().collect();
        let o = cell(&refs);
        assert_eq!((o.mean, o.n, o.seeds.as_str()), (41.5, 3, "0,1,2"));
        assert!((o.std.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(o.ambiguous, None, "one artifact seen twice counts once");

        let loose = [result(0, 41.0, "best"), result(0, 40.0, "last")];
        let refs: Vec<&ResultRow> = loose.iter().collect();
        let o = cell(&refs);
        assert_eq!((o.mean, o.n, o.std), (40.5, 1, None));
        assert_eq!(
            o.ambiguous.as_deref(),
            Some("seed 0 has 2 results here that differ in `at`; averaged — narrow `select`")
        );
    }
}
