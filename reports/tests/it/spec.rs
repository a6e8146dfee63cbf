//! The `report:` section: valid specs parse, every problem is reported at once with its
//! key path, a message and a hint.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use skelflow_reports::spec::{
    Layout, PaperRows, SpecContext, parse_spec, validate_spec, validate_spec_with,
};

fn a2mc_spec() -> Value {
    json!({
        "title": "A2MC ablations (Tables V and VI)",
        "tables": [
            {
                "paper": "a2mc", "table": "V",
                "select": {"metric": "top1", "protocol": "linear", "at": "best"},
                "rows": "variant",
                "columns": "benchmark",
                "also": [{"label": "1-NN", "select": {"protocol": "knn", "k": 1}}]
            },
            {
                "paper": "a2mc", "table": "VI",
                "select": {"metric": "top1", "protocol": "linear", "at": "best"},
                "rows": {"by": "variant", "map": {"A1": "B1"}},
                "columns": {"by": ["benchmark"]},
                "layout": "compact", "paper_rows": "ran", "decimals": 2
            }
        ],
        "plots": {"loss": {"series": "variant", "facet": "benchmark"}}
    })
}

#[test]
fn a_valid_spec_parses() {
    assert_eq!(validate_spec(&a2mc_spec()), vec![]);
    let spec = parse_spec(&a2mc_spec(), &SpecContext::default()).unwrap();
    assert_eq!(spec.tables.len(), 2);
    let v = &spec.tables[0];
    assert_eq!(v.rows.by, ["variant"]);
    assert_eq!(v.select["at"], ["best"]);
    assert_eq!(v.also[0].select["k"], ["1"], "numbers select their text");
    let vi = &spec.tables[1];
    assert_eq!(vi.rows.map["A1"]["variant"], "B1");
    assert_eq!(vi.layout, Layout::Compact);
    assert_eq!(vi.paper_rows, PaperRows::Ran);
    assert_eq!(vi.decimals, Some(2));
}

#[test]
fn no_report_section_is_the_default_report() {
    let spec = parse_spec(&Value::Null, &SpecContext::default()).unwrap();
    assert!(spec.tables.is_empty());
    assert!(spec.plots.loss.is_some() && spec.plots.accuracy);
}

fn errors(spec: Value) -> Vec<String> {
    validate_spec(&spec)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn assert_has(errors: &[String], want: &str) {
    assert!(
        errors.iter().any(|e| e.contains(want)),
        "no error contains {want:?}; errors:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let e = errors(json!({
        "titel": "x",
        "tables": [
            {"paper": "a2mc", "table": "V", "rows": "variant"},
            {"paper": "a2mx", "table": "V", "rows": "variant", "columns": "benchmark"},
            {"paper": "a2mc", "table": "XI", "rows": "variant", "columns": "benchmark"},
            {"paper": "a2mc", "table": "VI", "rows": {"by": "variant", "map": {"A9": "B1"}}, "columns": "benchmark",
             "layout": "wide", "baseline": "B0", "decimals": -1, "select": ["top1"]},
            {"paper": "a2mc", "table": "V", "rows": {"map": {}}, "columns": "benchmark",
             "also": [{"select": {"protocol": "knn"}}]},
            "V"
        ],
        "plots": {"loss": {"colour": "red"}, "accuracy": "yes"}
    }));
    assert_has(
        &e,
        "report.titel: unknown key `titel` (hint: did you mean `title`?",
    );
    assert_has(&e, "report.tables[0].columns: `columns` is required");
    assert_has(
        &e,
        "report.tables[1].paper: unknown paper `a2mx` (hint: did you mean `a2mc`?",
    );
    assert_has(
        &e,
        "report.tables[2].table: A²MC has no table `XI` (hint: its tables: I, II, III, IV, V, VI, VII, VIII, IX, X)",
    );
    assert_has(
        &e,
        "report.tables[3].rows.map.A9: table VI has no row `A9` (hint: its rows: A1, A2, A3, MC)",
    );
    assert_has(
        &e,
        "report.tables[3].layout: expected one of columns, compact, found the string `wide`",
    );
    assert_has(
        &e,
        "report.tables[3].decimals: expected a whole number from 0 to 6",
    );
    assert_has(
        &e,
        "report.tables[3].select: expected a mapping of column: value, found a list",
    );
    assert_has(&e, "report.tables[4].rows.by: `by` is required");
    assert_has(&e, "report.tables[4].also[0].label: `label` is required");
    assert_has(
        &e,
        "report.tables[5]: expected a mapping, found the string `V`",
    );
    assert_has(&e, "report.plots.loss.colour: unknown key `colour`");
    assert_has(&e, "report.plots.accuracy: expected true or false");
}

#[test]
fn a_baseline_that_is_not_a_row_is_an_error() {
    let e = errors(
        json!({"tables": [{"paper": "a2mc", "table": "VI", "rows": "variant", "columns": "benchmark", "baseline": "B1"}]}),
    );
    assert_has(
        &e,
        "report.tables[0].baseline: table A²MC VI has no row `B1`",
    );
}

#[test]
fn a_misspelt_tag_is_caught_when_the_tags_are_known() {
    let tags: BTreeSet<String> = ["variant", "benchmark", "method", "encoder"]
        .map(String::from)
        .into();
    let ctx = SpecContext {
        pipeline_file: None,
        tags: Some(&tags),
    };
    let spec = json!({"tables": [{"paper": "a2mc", "table": "V", "rows": "varaint", "columns": "benchmark",
                                  "select": {"protcol": "linear", "label_fraction": "0.1", "epoch_of_best": "3"}}]});
    let e: Vec<String> = validate_spec_with(&spec, &ctx)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_has(
        &e,
        "report.tables[0].rows: no tag or result column is called `varaint` (hint: did you mean `variant`?",
    );
    assert_has(
        &e,
        "report.tables[0].select.protcol: no tag or result column is called `protcol` (hint: did you mean `protocol`?",
    );
    // a metric dimension the evals write, and a name far from any tag, are accepted
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn paper_dirs_are_resolved_against_the_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("my-papers")).unwrap();
    std::fs::write(
        dir.path().join("my-papers/mine.yaml"),
        "paper: mine\ntitle: Mine\ntables:\n  - id: T1\n    caption: c\n    columns: [{id: ntu60-xsub, label: x-sub}]\n    rows: [{id: r, label: R, cells: \"1.0\"}]\n",
    )
    .unwrap();
    let pipeline = dir.path().join("p.yaml");
    let ctx = SpecContext {
        pipeline_file: Some(&pipeline),
        tags: None,
    };
    let spec = json!({"papers": ["my-papers"], "tables": [{"paper": "mine", "table": "T1", "rows": "variant", "columns": "benchmark"}]});
    assert_eq!(validate_spec_with(&spec, &ctx), vec![]);
    let bad = json!({"papers": ["nope"], "tables": []});
    let e: Vec<String> = validate_spec_with(&bad, &ctx)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_has(&e, "report.papers[0]: ");
    assert_has(&e, "nope is not a directory");
}
