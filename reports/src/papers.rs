//! The papers' results tables, as data: one YAML file per paper (`reports/papers/*.yaml`,
//! format in `reports/papers/README.md`).
//!
//! The files in `reports/papers/` are embedded in the binary at build time; at run time a
//! [`Catalog`] also reads directories named by the caller (the repository's
//! `reports/papers/`, a pipeline's own `papers:` dirs), so a new table is a new file and a
//! hand edit shows in the next report without a rebuild.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/embedded_papers.rs"));

/// A paper file that cannot be used, naming the file and what is wrong in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct PaperError {
    /// The file (`reports/papers/a2mc.yaml`, or `built-in a2mc.yaml`).
    pub origin: String,
    pub message: String,
}

/// One paper and every results table transcribed from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Paper {
    /// Short id used by report specs (`a2mc`).
    pub id: String,
    /// Display name (`A²MC`).
    pub short: String,
    pub title: String,
    pub authors: Option<String>,
    pub venue: Option<String>,
    pub url: Option<String>,
    /// The text the tables were transcribed from.
    pub source: Option<String>,
    /// The `method` tag value of the paper's own method (`a2mc`).
    pub method: Option<String>,
    /// The paper's training setup, free text by key (`pretrain_epochs: "450"`): what a
    /// report compares the run's own setup with.
    pub setup: BTreeMap<String, String>,
    /// What a run must match to be called the paper's scale, as data.
    pub scale: Option<PaperScale>,
    pub tables: Vec<PaperTable>,
    /// Where the file was read from, for messages.
    pub origin: String,
}

/// The paper's pretraining scale: a run is at the paper's scale only when every one of its
/// pretrainings has at least these epochs, this batch and an encoder with the settings of
/// one of `encoder`'s entries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperScale {
    pub pretrain_epochs: u64,
    pub batch: u64,
    /// Settings of the pretraining's `encoder.backbone` (`{arch: bigru, hidden: 1024}`), or
    /// a list of them where the paper trains several encoders (A²MC's Table I).
    #[serde(default, deserialize_with = "one_or_many")]
    pub encoder: Vec<EncoderScale>,
}

/// One encoder at the paper's size: `encoder.backbone` settings by name.
pub type EncoderScale = BTreeMap<String, serde_json::Value>;

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EncoderScale>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(EncoderScale),
        Many(Vec<EncoderScale>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(e) if e.is_empty() => Vec::new(),
        OneOrMany::One(e) => vec![e],
        OneOrMany::Many(v) => v,
    })
}

/// One results table in the paper's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperTable {
    pub paper: String,
    /// As the paper numbers it (`V`, `5a`).
    pub id: String,
    pub caption: String,
    /// The extraction had no caption: this one was written from the paper's prose.
    pub caption_reconstructed: bool,
    /// Set when the table is known to exist but its numbers are not transcribed (why).
    pub missing: Option<String>,
    /// What every number of the table is (`protocol: linear`, `metric: top1`).
    pub dims: BTreeMap<String, String>,
    pub unit: String,
    /// Header of the first column (`Method`, `Baseline`).
    pub row_header: String,
    /// Descriptive columns printed between the row label and the numbers (`Encoder`).
    pub text_columns: Vec<String>,
    pub columns: Vec<PaperColumn>,
    pub rows: Vec<PaperRow>,
    /// Digits after the decimal point, the most the table prints.
    pub decimals: usize,
}

/// A numeric column.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperColumn {
    /// What our results are matched on (`ntu60-xsub`).
    pub id: String,
    pub label: String,
    /// The spanning header above it (`NTU-60`).
    pub group: Option<String>,
    pub dims: BTreeMap<String, String>,
}

impl PaperColumn {
    /// `NTU-60 x-sub`.
    pub fn header(&self) -> String {
        match &self.group {
            Some(g) => format!("{g} {}", self.label),
            None => self.label.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaperRow {
    /// What our results are matched on (`B1`, `a2mc-bigru`).
    pub id: String,
    pub label: String,
    /// Row group (`Single-stream`), printed as a separator row.
    pub group: Option<String>,
    /// The paper's citation number of the method.
    pub reference: Option<String>,
    /// One of the paper's own rows (its proposed method or a variant of it).
    pub ours: bool,
    pub dims: BTreeMap<String, String>,
    /// One entry per text column.
    pub text: Vec<String>,
    /// One entry per numeric column.
    pub values: Vec<PaperValue>,
    /// Where the transcription is uncertain, why.
    pub doubt: Option<String>,
}

/// A number as the paper prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum PaperValue {
    Reported {
        text: String,
        value: f64,
    },
    /// Printed as `-`.
    NotReported,
}

impl PaperValue {
    pub fn value(&self) -> Option<f64> {
        match self {
            PaperValue::Reported { value, .. } => Some(*value),
            PaperValue::NotReported => None,
        }
    }
}

impl fmt::Display for PaperValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaperValue::Reported { text, .. } => f.write_str(text),
            PaperValue::NotReported => f.write_str("-"),
        }
    }
}

impl PaperTable {
    pub fn row(&self, id: &str) -> Option<&PaperRow> {
        self.rows.iter().find(|r| r.id == id)
    }
    pub fn column(&self, id: &str) -> Option<&PaperColumn> {
        self.columns.iter().find(|c| c.id == id)
    }
    /// The paper's number at (row, column).
    pub fn value(&self, row: &str, column: &str) -> Option<&PaperValue> {
        let c = self.columns.iter().position(|c| c.id == column)?;
        Some(&self.row(row)?.values[c])
    }
}

/// Every paper known to a report: files from the given directories first, then the
/// built-in ones; the first file that defines a paper id wins.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    papers: BTreeMap<String, Paper>,
}

impl Catalog {
    /// The papers embedded at build time.
    pub fn builtin() -> Result<Catalog, PaperError> {
        Catalog::load(&[])
    }

    /// `dirs` (each a directory of `*.yaml` paper files, read in name order) before the
    /// built-in papers. A directory that does not exist is an error naming it.
    pub fn load(dirs: &[PathBuf]) -> Result<Catalog, PaperError> {
        let mut catalog = Catalog::default();
        for dir in dirs {
            let entries = fs::read_dir(dir).map_err(|e| PaperError {
                origin: dir.display().to_string(),
                message: format!("cannot read the paper tables directory: {e}"),
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            for file in files {
                let text = fs::read_to_string(&file).map_err(|e| PaperError {
                    origin: file.display().to_string(),
                    message: format!("cannot read: {e}"),
                })?;
                catalog.add(parse_paper(&text, &file.display().to_string())?);
            }
        }
        for (name, text) in EMBEDDED {
            catalog.add(parse_paper(text, &format!("built-in {name}"))?);
        }
        Ok(catalog)
    }

    fn add(&mut self, paper: Paper) {
        self.papers.entry(paper.id.clone()).or_insert(paper);
    }

    pub fn paper(&self, id: &str) -> Option<&Paper> {
        self.papers.get(id)
    }

    pub fn table(&self, paper: &str, table: &str) -> Option<&PaperTable> {
        self.paper(paper)?.tables.iter().find(|t| t.id == table)
    }

    pub fn papers(&self) -> impl Iterator<Item = &Paper> {
        self.papers.values()
    }
}

// ---------------------------------------------------------------- file format

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperFile {
    paper: String,
    short: Option<String>,
    title: String,
    authors: Option<String>,
    venue: Option<String>,
    url: Option<String>,
    source: Option<String>,
    method: Option<String>,
    #[serde(default)]
    setup: BTreeMap<String, Scalar>,
    scale: Option<PaperScale>,
    tables: Vec<TableFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    id: Scalar,
    caption: String,
    caption_source: Option<String>,
    missing: Option<String>,
    #[serde(default)]
    dims: BTreeMap<String, Scalar>,
    unit: Option<String>,
    row_header: Option<String>,
    columns: Vec<ColumnFile>,
    rows: Vec<RowFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    id: Option<Scalar>,
    label: Scalar,
    group: Option<Scalar>,
    #[serde(default)]
    text: bool,
    #[serde(default)]
    dims: BTreeMap<String, Scalar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowFile {
    id: Scalar,
    label: Scalar,
    group: Option<Scalar>,
    #[serde(rename = "ref")]
    reference: Option<Scalar>,
    #[serde(default)]
    ours: bool,
    #[serde(default)]
    dims: BTreeMap<String, Scalar>,
    cells: String,
    doubt: Option<String>,
}

/// A YAML scalar read as text: `id: 1`, `id: "1"` and `id: I` are all strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

fn texts(map: BTreeMap<String, Scalar>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, v.text())).collect()
}

/// Parse and check one paper file.
pub fn parse_paper(text: &str, origin: &str) -> Result<Paper, PaperError> {
    let err = |message: String| PaperError {
        origin: origin.to_string(),
        message,
    };
    let file: PaperFile =
        serde_yaml_ng::from_str(text).map_err(|e| err(format!("not a valid paper file: {e}")))?;
    if file.paper.is_empty()
        || !file
            .paper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(err(format!(
            "`paper: {}` must be a short id of letters, digits, '-' and '_'",
            file.paper
        )));
    }
    let mut tables = Vec::new();
    let mut table_ids = BTreeSet::new();
    for t in file.tables {
        let table = check_table(&file.paper, t).map_err(&err)?;
        if !table_ids.insert(table.id.clone()) {
            return Err(err(format!("table {} is defined twice", table.id)));
        }
        tables.push(table);
    }
    Ok(Paper {
        short: file.short.unwrap_or_else(|| file.paper.clone()),
        id: file.paper,
        title: file.title,
        authors: file.authors,
        venue: file.venue,
        url: file.url,
        source: file.source,
        method: file.method,
        setup: texts(file.setup),
        scale: file.scale,
        tables,
        origin: origin.to_string(),
    })
}

fn check_table(paper: &str, t: TableFile) -> Result<PaperTable, String> {
    let id = t.id.text();
    let at = format!("table {id}");
    let mut text_columns = Vec::new();
    let mut columns = Vec::new();
    // Position of each file column among the text columns or among the numeric ones.
    let mut kinds = Vec::new();
    let mut column_ids = BTreeSet::new();
    for (i, c) in t.columns.into_iter().enumerate() {
        let label = c.label.text();
        if c.text {
            if c.id.is_some() || !c.dims.is_empty() {
                return Err(format!(
                    "{at}, column {} (`{label}`): a text column has no `id` or `dims`",
                    i + 1
                ));
            }
            kinds.push(true);
            text_columns.push(label);
            continue;
        }
        let Some(cid) = c.id.map(Scalar::text) else {
            return Err(format!(
                "{at}, column {} (`{label}`): a numeric column needs an `id` (what results are matched on); mark descriptive columns `text: true`",
                i + 1
            ));
        };
        if !column_ids.insert(cid.clone()) {
            return Err(format!("{at}: column id `{cid}` is used twice"));
        }
        kinds.push(false);
        columns.push(PaperColumn {
            id: cid,
            label,
            group: c.group.map(Scalar::text),
            dims: texts(c.dims),
        });
    }
    if columns.is_empty() {
        return Err(format!("{at}: no numeric column"));
    }
    let mut rows = Vec::new();
    let mut row_ids = BTreeSet::new();
    let mut decimals = 0;
    for r in t.rows {
        let rid = r.id.text();
        if !row_ids.insert(rid.clone()) {
            return Err(format!("{at}: row id `{rid}` is used twice"));
        }
        let cells: Vec<&str> = r.cells.split('|').map(str::trim).collect();
        if cells.len() != kinds.len() {
            return Err(format!(
                "{at}, row `{rid}`: {} cells in `{}` but the table has {} columns ({} text + {} numeric); write `-` for a number the paper does not report",
                cells.len(),
                r.cells,
                kinds.len(),
                text_columns.len(),
                columns.len()
            ));
        }
        let mut text = Vec::new();
        let mut values = Vec::new();
        for (cell, is_text) in cells.into_iter().zip(&kinds) {
            if *is_text {
                text.push(cell.to_string());
                continue;
            }
            let value = parse_value(cell).ok_or_else(|| {
                format!("{at}, row `{rid}`: `{cell}` is not a number as printed (like 80.0) or `-`")
            })?;
            if let PaperValue::Reported { text, .. } = &value {
                decimals = decimals.max(text.split_once('.').map_or(0, |(_, d)| d.len()));
            }
            values.push(value);
        }
        rows.push(PaperRow {
            id: rid,
            label: r.label.text(),
            group: r.group.map(Scalar::text),
            reference: r.reference.map(Scalar::text),
            ours: r.ours,
            dims: texts(r.dims),
            text,
            values,
            doubt: r.doubt,
        });
    }
    if rows.is_empty() && t.missing.is_none() {
        return Err(format!(
            "{at}: no rows; a table that could not be transcribed says why in `missing:`"
        ));
    }
    Ok(PaperTable {
        paper: paper.to_string(),
        id,
        caption: t.caption.split_whitespace().collect::<Vec<_>>().join(" "),
        caption_reconstructed: t.caption_source.as_deref() == Some("reconstructed"),
        missing: t
            .missing
            .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")),
        dims: texts(t.dims),
        unit: t.unit.unwrap_or_else(|| "%".to_string()),
        row_header: t.row_header.unwrap_or_else(|| "Method".to_string()),
        text_columns,
        columns,
        rows,
        decimals,
    })
}

/// `80.0` → Reported, `-` → NotReported; anything else None.
fn parse_value(cell: &str) -> Option<PaperValue> {
    if cell == "-" {
        return Some(PaperValue::NotReported);
    }
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| PaperValue::Reported {
        text: cell.to_string(),
        value: cell.parse().expect("checked digits"),
    })
}

/// Where the embedded tables live in the source tree (for messages).
pub fn builtin_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/papers"))
}
