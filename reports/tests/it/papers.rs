//! The paper tables: every file loads, every table has a consistent shape, spot values are
//! right, bad files get clear errors, and — when the papers' texts are present — every
//! transcribed row is found, in order, in the text it was transcribed from.

use std::path::PathBuf;

use skelflow_reports::papers::{Catalog, PaperValue, builtin_dir, parse_paper};

fn catalog() -> Catalog {
    Catalog::builtin().expect("the built-in paper tables load")
}

#[test]
fn every_table_loads_with_a_consistent_shape() {
    let catalog = catalog();
    let ids: Vec<&str> = catalog.papers().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a2mc", "actclr", "agrnet", "ascal"]);
    let table_ids = |paper: &str| -> Vec<String> {
        let tables = &catalog.paper(paper).unwrap().tables;
        tables.iter().map(|t| t.id.clone()).collect()
    };
    assert_eq!(
        table_ids("a2mc"),
        ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
    );
    assert_eq!(
        table_ids("actclr"),
        ["1", "2", "3", "4", "5a", "5b", "6", "7", "8", "9"]
    );
    assert_eq!(table_ids("ascal"), ["ntu120"]);
    assert_eq!(table_ids("agrnet"), ["ablation"]);
    for paper in catalog.papers() {
        for t in &paper.tables {
            assert!(!t.columns.is_empty(), "{} {}", paper.id, t.id);
            assert!(
                t.missing.is_some() || !t.rows.is_empty(),
                "{} {}",
                paper.id,
                t.id
            );
            for r in &t.rows {
                assert_eq!(
                    r.values.len(),
                    t.columns.len(),
                    "{} {} {}",
                    paper.id,
                    t.id,
                    r.id
                );
                assert_eq!(
                    r.text.len(),
                    t.text_columns.len(),
                    "{} {} {}",
                    paper.id,
                    t.id,
                    r.id
                );
            }
        }
    }
    let rows: usize = catalog
        .papers()
        .flat_map(|p| &p.tables)
        .map(|t| t.rows.len())
        .sum();
    assert_eq!(rows, 93 + 79 + 1 + 4);
}

#[test]
fn spot_values_are_as_printed() {
    let c = catalog();
    let v = c.table("a2mc", "V").unwrap();
    assert_eq!(
        v.value("B1", "ntu60-xsub").and_then(PaperValue::value),
        Some(75.6)
    );
    assert_eq!(v.value("MC", "ntu60-xview").unwrap().to_string(), "87.9");
    assert_eq!(v.row("B3").unwrap().text, ["✓", "✗", "✗"]);
    assert_eq!(v.text_columns, ["Att-Aug", "PNM", "MC"]);
    assert_eq!(v.decimals, 1);
    let vi = c.table("a2mc", "VI").unwrap();
    assert_eq!(
        vi.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["A1", "A2", "A3", "MC"]
    );
    assert_eq!(vi.value("A3", "ntu60-xsub").unwrap().to_string(), "79.9");
    // "80.0" keeps its printed digit
    assert_eq!(
        c.table("a2mc", "I")
            .unwrap()
            .value("a2mc-bigru", "ntu60-xsub")
            .unwrap()
            .to_string(),
        "80.0"
    );
    assert_eq!(
        c.table("a2mc", "I").unwrap().value("cmd", "pku1-xsub"),
        Some(&PaperValue::NotReported)
    );
    let h = c.table("a2mc", "I").unwrap().row("h-transformer").unwrap();
    assert!(h.doubt.is_some());
    assert_eq!(c.table("a2mc", "IV").unwrap().rows.len(), 0);
    assert!(c.table("a2mc", "IV").unwrap().missing.is_some());
    let t7 = c.table("actclr", "7").unwrap();
    assert_eq!(t7.decimals, 2);
    assert_eq!(
        t7.value("noise-0.05-full", "linear").unwrap().to_string(),
        "84.20"
    );
    assert_eq!(
        t7.row("noise-0.05-full").unwrap().group.as_deref(),
        Some("Noise 0.05")
    );
    let t8 = c.table("a2mc", "VIII").unwrap();
    assert_eq!(
        t8.column("ntu60-xview-10")
            .unwrap()
            .dims
            .get("label_fraction")
            .map(String::as_str),
        Some("0.1")
    );
    assert_eq!(t8.column("ntu60-xview-10").unwrap().header(), "x-view 10%");
}

fn source_cells(line: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut in_tag = false;
    for ch in line.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let sep = if plain.contains('\t') { '\t' } else { '|' };
    plain.split(sep).map(|c| c.trim().to_string()).collect()
}

/// Each transcribed row (its text cells and numbers as printed) must be a run of
/// consecutive cells of one line of the source, after the previous row's line.
#[test]
fn transcriptions_match_the_source_texts_in_order() {
    let papers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/papers");
    if !papers_dir.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent; the transcriptions are not checked against the texts",
            papers_dir.display()
        );
        return;
    }
    let c = catalog();
    for (paper, file) in [("a2mc", "a2mc.txt"), ("actclr", "actclr-cvpr2023.md")] {
        let text = std::fs::read_to_string(papers_dir.join(file)).unwrap();
        let lines: Vec<Vec<String>> = text.lines().map(source_cells).collect();
        let mut cursor = 0;
        let mut checked = 0;
        for t in &c.paper(paper).unwrap().tables {
            for r in &t.rows {
                let mut want: Vec<String> = Vec::new();
                if r.doubt.is_none() {
                    want.extend(r.text.iter().cloned());
                }
                want.extend(r.values.iter().map(|v| v.to_string()));
                let found = (cursor..lines.len())
                    .find(|&i| lines[i].windows(want.len()).any(|w| w == want.as_slice()));
                let Some(i) = found else {
                    panic!(
                        "{paper} table {} row {}: cells {:?} not found in {file} after line {}",
                        t.id,
                        r.id,
                        want,
                        cursor + 1
                    );
                };
                cursor = i + 1;
                checked += 1;
            }
        }
        assert!(checked > 70, "{paper}: {checked} rows checked");
    }
    // AS-CAL's seed is a results list, not a table: `NTU RGB+D 120xsub (%)48.6AS-CAL`
    let text = std::fs::read_to_string(papers_dir.join("ascal-summary.txt")).unwrap();
    let t = &c.paper("ascal").unwrap().tables[0];
    let split = |id: &str| id.trim_start_matches("ntu120-").to_string();
    for r in &t.rows {
        for (col, v) in t.columns.iter().filter(|c| !c.id.is_empty()).zip(&r.values) {
            let printed = format!("NTU RGB+D 120{} (%){v}AS-CAL", split(&col.id));
            assert!(
                text.contains(&printed),
                "ascal {} {}: `{printed}` not in the seed",
                r.id,
                col.id
            );
        }
    }
}

#[test]
fn the_embedded_tables_are_the_files_on_disk() {
    let on_disk = Catalog::load(&[builtin_dir().to_path_buf()]).unwrap();
    let embedded = catalog();
    for p in embedded.papers() {
        let d = on_disk.paper(&p.id).unwrap();
        assert_eq!(
            d.tables, p.tables,
            "{}: rebuild to embed the edited file",
            p.id
        );
    }
}

const GOOD: &str = r#"
paper: demo
title: Demo
tables:
  - id: 1
    caption: A demo.
    columns:
      - {label: Encoder, text: true}
      - {id: ntu60-xsub, label: x-sub}
    rows:
      - {id: a, label: A, cells: "GRU | 50.25"}
      - {id: b, label: B, cells: "GCN | -"}
"#;

#[test]
fn a_good_file_parses_and_ids_may_be_numbers() {
    let p = parse_paper(GOOD, "demo.yaml").unwrap();
    assert_eq!(p.tables[0].id, "1");
    assert_eq!(p.tables[0].decimals, 2);
    assert_eq!(
        p.tables[0].value("b", "ntu60-xsub"),
        Some(&PaperValue::NotReported)
    );
}

#[test]
fn bad_files_get_errors_naming_the_file_table_and_row() {
    let cases = [
        (
            GOOD.replace("\"GCN | -\"", "\"GCN\""),
            "table 1, row `b`: 1 cells in `GCN` but the table has 2 columns",
        ),
        (
            GOOD.replace("50.25", "n/a"),
            "table 1, row `a`: `n/a` is not a number as printed",
        ),
        (
            GOOD.replace("id: b,", "id: a,"),
            "table 1: row id `a` is used twice",
        ),
        (
            GOOD.replace("{id: ntu60-xsub, label: x-sub}", "{label: x-sub}"),
            "a numeric column needs an `id`",
        ),
        (
            GOOD.replace("caption: A demo.", "caption: A demo.\n    colour: red"),
            "unknown field `colour`",
        ),
        (
            GOOD.replace("paper: demo", "paper: de mo"),
            "must be a short id",
        ),
    ];
    for (text, want) in cases {
        let err = parse_paper(&text, "papers/demo.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("papers/demo.yaml: "), "{msg}");
        assert!(msg.contains(want), "{msg}\n  should contain: {want}");
    }
}

#[test]
fn directories_come_before_the_built_in_papers() {
    let dir = tempfile::tempdir().unwrap();
    let mine = GOOD
        .replace("paper: demo", "paper: a2mc")
        .replace("title: Demo", "title: My A2MC");
    std::fs::write(dir.path().join("a2mc.yaml"), mine).unwrap();
    let c = Catalog::load(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(c.paper("a2mc").unwrap().title, "My A2MC");
    assert!(c.paper("actclr").is_some());
    let err = Catalog::load(&[dir.path().join("nope")]).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
