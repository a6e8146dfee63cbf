//! The pipeline's `report:` section: which paper tables to render and how our results map
//! onto their rows and columns. Format and examples: `reports/README.md`.
//!
//! The runner hands the section over as a `serde_json::Value` and calls
//! [`validate_spec`] before anything runs; every problem is reported at once, each with
//! the key path (`report.tables[0].rows.map.A9`), what is wrong and what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::papers::{Catalog, PaperTable};
use crate::results::{FIXED_COLUMNS, KNOWN_METRIC_DIMS};

/// One problem in a `report:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Key path from the pipeline's top level: `report.tables[1].columns.by`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// What the validator may check besides the section itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpecContext<'a> {
    /// The pipeline file: relative `papers:` dirs are resolved against its directory, and
    /// the repository's `reports/papers/` is found from it.
    pub pipeline_file: Option<&'a Path>,
    /// Every tag name the pipeline's instances carry (known after planning): a misspelt
    /// tag in `rows`, `columns` or `select` is then an error with a did-you-mean.
    pub tags: Option<&'a BTreeSet<String>>,
}

/// The parsed section. `ReportSpec::default()` is what a pipeline without `report:` gets.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSpec {
    pub title: Option<String>,
    /// Markdown printed under the title.
    pub intro: Option<String>,
    /// More directories of paper table files, relative to the pipeline file.
    pub papers: Vec<String>,
    pub tables: Vec<TableSpec>,
    pub plots: PlotSpec,
    /// Also write every table as LaTeX (`table-<paper>-<table>.tex`).
    pub latex: bool,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            title: None,
            intro: None,
            papers: Vec::new(),
            tables: Vec::new(),
            plots: PlotSpec::default(),
            latex: true,
        }
    }
}

/// Long-table column → accepted values (any of them); an empty list lifts the condition.
pub type Select = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Position in `report.tables` (for messages).
    pub index: usize,
    pub paper: String,
    pub table: String,
    pub title: Option<String>,
    /// Which of our results fill the table.
    pub select: Select,
    pub rows: AxisSpec,
    pub columns: AxisSpec,
    /// More measures of ours, one more column per paper column (no paper number).
    pub also: Vec<AlsoSpec>,
    pub paper_rows: PaperRows,
    pub unmatched: Unmatched,
    pub layout: Layout,
    /// Digits after the point for our numbers (default: as many as the paper prints).
    pub decimals: Option<usize>,
    /// The row gains are measured from (default: the paper's first row).
    pub baseline: Option<String>,
    /// Draw the accuracy-vs-paper bar chart.
    pub plot: bool,
}

/// How a result finds its paper row (or column).
#[derive(Debug, Clone, PartialEq)]
pub struct AxisSpec {
    /// Long-table columns (tags or metric dims) that identify the row.
    pub by: Vec<String>,
    /// Paper row id → the values of `by` that fill it (overrides the default: the paper
    /// row's `dims`, or for a single `by` its id).
    pub map: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlsoSpec {
    pub label: String,
    /// Merged over the table's `select` (its keys win).
    pub select: Select,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperRows {
    /// Every row of the paper, ours `—` where we did not run it.
    All,
    /// Only the rows we have results for.
    Ran,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// Results matching no paper row/column get rows/columns of their own.
    Show,
    Hide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// ours | paper | Δ as three columns under each paper column.
    Columns,
    /// One cell: `61.3 (paper 80.7, −19.4)`.
    Compact,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlotSpec {
    pub loss: Option<LossPlot>,
    pub accuracy: bool,
}

impl Default for PlotSpec {
    fn default() -> Self {
        PlotSpec {
            loss: Some(LossPlot::default()),
            accuracy: true,
        }
    }
}

/// Pretraining loss per epoch: one line per instance, one plot per value of `facet`.
#[derive(Debug, Clone, PartialEq)]
pub struct LossPlot {
    /// Stage kinds whose `epochs.parquet` is plotted.
    pub kinds: Vec<String>,
    /// The `epochs.parquet` column on the y axis.
    pub column: String,
    /// Tag naming each line.
    pub series: String,
    /// Tag splitting the plots (one SVG per value).
    pub facet: Option<String>,
}

impl Default for LossPlot {
    fn default() -> Self {
        LossPlot {
            kinds: vec!["pretrain".to_string()],
            column: "loss".to_string(),
            series: "variant".to_string(),
            facet: Some("benchmark".to_string()),
        }
    }
}

/// Check a `report:` section against the built-in papers. The runner should prefer
/// [`validate_spec_with`], which also sees the repository's and the pipeline's paper files
/// and the pipeline's tag names.
pub fn validate_spec(spec: &Value) -> Vec<SpecError> {
    validate_spec_with(spec, &SpecContext::default())
}

pub fn validate_spec_with(spec: &Value, ctx: &SpecContext) -> Vec<SpecError> {
    match parse_spec(spec, ctx) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

/// Parse (and fully check) a `report:` section; `Null` gives the default report.
pub fn parse_spec(spec: &Value, ctx: &SpecContext) -> Result<ReportSpec, Vec<SpecError>> {
    let mut v = Validator {
        errors: Vec::new(),
        tags: ctx.tags,
    };
    let parsed = v.spec(spec, "report");
    if let Some(parsed) = &parsed {
        v.against_papers(parsed, ctx);
    }
    match parsed {
        Some(p) if v.errors.is_empty() => Ok(p),
        _ => Err(v.errors),
    }
}

/// The paper table directories a spec reads, in order: its own `papers:` (relative to
/// the pipeline file), then the repository's `reports/papers/` when the pipeline lives
/// in a skelflow repository.
pub fn paper_dirs(spec: &ReportSpec, pipeline_file: Option<&Path>) -> Vec<PathBuf> {
    let base = pipeline_file
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let mut dirs: Vec<PathBuf> = spec.papers.iter().map(|d| base.join(d)).collect();
    if let Some(root) = pipeline_file.and_then(crate::repo_root) {
        dirs.push(root.join("reports").join("papers"));
    }
    dirs
}

struct Validator<'a> {
    errors: Vec<SpecError>,
    tags: Option<&'a BTreeSet<String>>,
}

const TOP_KEYS: &[&str] = &["title", "intro", "papers", "tables", "plots", "latex"];
const TABLE_KEYS: &[&str] = &[
    "paper",
    "table",
    "title",
    "select",
    "rows",
    "columns",
    "also",
    "paper_rows",
    "unmatched",
    "layout",
    "decimals",
    "baseline",
    "plot",
];
const AXIS_KEYS: &[&str] = &["by", "map"];
const ALSO_KEYS: &[&str] = &["label", "select"];
const PLOTS_KEYS: &[&str] = &["loss", "accuracy"];
const LOSS_KEYS: &[&str] = &["kinds", "column", "series", "facet"];

impl Validator<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.errors.push(SpecError {
            path: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v serde_json::Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.error(
                path,
                format!("expected a mapping, found {}", describe(value)),
                Some(format!("keys: {}", allowed.join(", "))),
            );
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = match did_you_mean(key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? known keys: {}", allowed.join(", ")),
                    None => format!("known keys: {}", allowed.join(", ")),
                };
                self.error(
                    &format!("{path}.{key}"),
                    format!("unknown key `{key}`"),
                    Some(hint),
                );
            }
        }
        Some(map)
    }

    fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::String(_) => {
                self.error(path, "must not be empty", None);
                None
            }
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.error(
                    path,
                    format!("expected a string, found {}", describe(value)),
                    None,
                );
                None
            }
        }
    }

    fn opt_string(
        &mut self,
        map: &serde_json::Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<String> {
        map.get(key)
            .filter(|v| !v.is_null())
            .and_then(|v| self.string(v, &format!("{path}.{key}")))
    }

    fn bool(
        &mut self,
        map: &serde_json::Map<String, Value>,
        key: &str,
        path: &str,
        default: bool,
    ) -> bool {
        match map.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.error(
                    &format!("{path}.{key}"),
                    format!("expected true or false, found {}", describe(v)),
                    None,
                );
                default
            }
        }
    }

    /// A string or a list of strings.
    fn strings(&mut self, value: &Value, path: &str) -> Vec<String> {
        match value {
            Value::Array(items) => {
                let out: Vec<String> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.scalar(v, &format!("{path}[{i}]")))
                    .collect();
                if items.is_empty() {
                    self.error(path, "must not be an empty list", None);
                }
                out
            }
            v => self.scalar(v, path).into_iter().collect(),
        }
    }

    /// A string, number or boolean, as text (`k: 1` selects the dim value "1").
    fn scalar(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.error(
                    path,
                    format!("expected a string, found {}", describe(value)),
                    None,
                );
                None
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        map: &serde_json::Map<String, Value>,
        key: &str,
        path: &str,
        options: &[(&str, T)],
    ) -> T {
        let default = options[0].1;
        let Some(v) = map.get(key).filter(|v| !v.is_null()) else {
            return default;
        };
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        match v
            .as_str()
            .and_then(|s| options.iter().find(|(n, _)| *n == s))
        {
            Some((_, t)) => *t,
            None => {
                self.error(
                    &format!("{path}.{key}"),
                    format!(
                        "expected one of {}, found {}",
                        names.join(", "),
                        describe(v)
                    ),
                    None,
                );
                default
            }
        }
    }

    fn spec(&mut self, value: &Value, path: &str) -> Option<ReportSpec> {
        if value.is_null() {
            return Some(ReportSpec::default());
        }
        let map = self.object(value, path, TOP_KEYS)?;
        let title = self.opt_string(map, "title", path);
        let intro = self.opt_string(map, "intro", path);
        let papers = match map.get("papers") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => self.strings(v, &format!("{path}.papers")),
        };
        let mut tables = Vec::new();
        match map.get("tables") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, t) in items.iter().enumerate() {
                    if let Some(t) = self.table(t, i, &format!("{path}.tables[{i}]")) {
                        tables.push(t);
                    }
                }
            }
            Some(v) => self.error(
                &format!("{path}.tables"),
                format!("expected a list of tables, found {}", describe(v)),
                Some(
                    "tables: [{paper: a2mc, table: V, rows: variant, columns: benchmark}]"
                        .to_string(),
                ),
            ),
        }
        let plots = match map.get("plots") {
            None | Some(Value::Null) => PlotSpec::default(),
            Some(v) => self.plots(v, &format!("{path}.plots")),
        };
        let latex = self.bool(map, "latex", path, true);
        Some(ReportSpec {
            title,
            intro,
            papers,
            tables,
            plots,
            latex,
        })
    }

    fn table(&mut self, value: &Value, index: usize, path: &str) -> Option<TableSpec> {
        let map = self.object(value, path, TABLE_KEYS)?;
        let missing = |v: &mut Self, key: &str, hint: &str| {
            if map.get(key).is_none_or(Value::is_null) {
                v.error(
                    &format!("{path}.{key}"),
                    format!("`{key}` is required"),
                    Some(hint.to_string()),
                );
            }
        };
        missing(
            self,
            "paper",
            "the paper's id, e.g. `paper: a2mc` (files in reports/papers/)",
        );
        missing(
            self,
            "table",
            "the table as the paper numbers it, e.g. `table: V`",
        );
        missing(
            self,
            "rows",
            "the tag that names the paper's rows, e.g. `rows: variant`",
        );
        missing(
            self,
            "columns",
            "the tag that names the paper's columns, e.g. `columns: benchmark`",
        );
        let paper = self.opt_string(map, "paper", path);
        let table = self.opt_string(map, "table", path);
        let title = self.opt_string(map, "title", path);
        let select = match map.get("select") {
            None | Some(Value::Null) => Select::new(),
            Some(v) => self.select(v, &format!("{path}.select")),
        };
        let rows = map
            .get("rows")
            .filter(|v| !v.is_null())
            .and_then(|v| self.axis(v, &format!("{path}.rows")));
        let columns = map
            .get("columns")
            .filter(|v| !v.is_null())
            .and_then(|v| self.axis(v, &format!("{path}.columns")));
        let mut also = Vec::new();
        match map.get("also") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, a) in items.iter().enumerate() {
                    let p = format!("{path}.also[{i}]");
                    let Some(m) = self.object(a, &p, ALSO_KEYS) else {
                        continue;
                    };
                    let label = self.opt_string(m, "label", &p);
                    if label.is_none() && !m.contains_key("label") {
                        self.error(
                            &format!("{p}.label"),
                            "`label` is required",
                            Some("the column header, e.g. `label: 1-NN`".to_string()),
                        );
                    }
                    let sel = match m.get("select") {
                        Some(v) if !v.is_null() => self.select(v, &format!("{p}.select")),
                        _ => {
                            self.error(
                                &format!("{p}.select"),
                                "`select` is required",
                                Some("e.g. `select: {protocol: knn, k: 1}`".to_string()),
                            );
                            Select::new()
                        }
                    };
                    if let Some(label) = label {
                        also.push(AlsoSpec { label, select: sel });
                    }
                }
            }
            Some(v) => self.error(
                &format!("{path}.also"),
                format!("expected a list, found {}", describe(v)),
                None,
            ),
        }
        let paper_rows = self.choice(
            map,
            "paper_rows",
            path,
            &[("all", PaperRows::All), ("ran", PaperRows::Ran)],
        );
        let unmatched = self.choice(
            map,
            "unmatched",
            path,
            &[("show", Unmatched::Show), ("hide", Unmatched::Hide)],
        );
        let layout = self.choice(
            map,
            "layout",
            path,
            &[("columns", Layout::Columns), ("compact", Layout::Compact)],
        );
        let decimals = match map.get("decimals") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|d| d <= 6) => {
                n.as_u64().map(|d| d as usize)
            }
            Some(v) => {
                self.error(
                    &format!("{path}.decimals"),
                    format!("expected a whole number from 0 to 6, found {}", describe(v)),
                    None,
                );
                None
            }
        };
        let baseline = self.opt_string(map, "baseline", path);
        let plot = self.bool(map, "plot", path, true);
        Some(TableSpec {
            index,
            paper: paper?,
            table: table?,
            title,
            select,
            rows: rows?,
            columns: columns?,
            also,
            paper_rows,
            unmatched,
            layout,
            decimals,
            baseline,
            plot,
        })
    }

    fn select(&mut self, value: &Value, path: &str) -> Select {
        let Some(map) = value.as_object() else {
            self.error(
                path,
                format!(
                    "expected a mapping of column: value, found {}",
                    describe(value)
                ),
                Some("e.g. `{metric: top1, protocol: linear, at: best}`".to_string()),
            );
            return Select::new();
        };
        let mut out = Select::new();
        for (k, v) in map {
            let p = format!("{path}.{k}");
            self.column_name(k, &p);
            // `key: null` lifts a condition of the table's `select` (in `also`)
            let values = if v.is_null() {
                Vec::new()
            } else {
                self.strings(v, &p)
            };
            out.insert(k.clone(), values);
        }
        out
    }

    /// `rows: variant`, `rows: [method, encoder]` or `rows: {by: …, map: {…}}`.
    fn axis(&mut self, value: &Value, path: &str) -> Option<AxisSpec> {
        let (by_value, map_value, by_path) = match value {
            Value::Object(_) => {
                let m = self.object(value, path, AXIS_KEYS)?;
                let Some(by) = m.get("by") else {
                    self.error(
                        &format!("{path}.by"),
                        "`by` is required",
                        Some(
                            "the tag whose value names the paper's row, e.g. `by: variant`"
                                .to_string(),
                        ),
                    );
                    return None;
                };
                (by, m.get("map"), format!("{path}.by"))
            }
            v => (v, None, path.to_string()),
        };
        let by = self.strings(by_value, &by_path);
        if by.is_empty() {
            return None;
        }
        for (i, b) in by.iter().enumerate() {
            let p = if by.len() > 1 {
                format!("{by_path}[{i}]")
            } else {
                by_path.clone()
            };
            self.column_name(b, &p);
        }
        let mut map = BTreeMap::new();
        if let Some(mv) = map_value.filter(|v| !v.is_null()) {
            let p = format!("{path}.map");
            let Some(m) = mv.as_object() else {
                self.error(
                    &p,
                    format!(
                        "expected a mapping of paper id: our value, found {}",
                        describe(mv)
                    ),
                    None,
                );
                return None;
            };
            for (paper_id, target) in m {
                let tp = format!("{p}.{paper_id}");
                let values = match target {
                    Value::Object(o) if by.len() > 1 => {
                        let mut vals = BTreeMap::new();
                        for (k, v) in o {
                            if !by.contains(k) {
                                self.error(
                                    &format!("{tp}.{k}"),
                                    format!("`{k}` is not one of `by` ({})", by.join(", ")),
                                    None,
                                );
                            } else if let Some(s) = self.scalar(v, &format!("{tp}.{k}")) {
                                vals.insert(k.clone(), s);
                            }
                        }
                        vals
                    }
                    v if by.len() == 1 => match self.scalar(v, &tp) {
                        Some(s) => BTreeMap::from([(by[0].clone(), s)]),
                        None => continue,
                    },
                    v => {
                        self.error(&tp, format!("with several `by` columns a map entry is a mapping of them, found {}", describe(v)), Some(format!("e.g. `{paper_id}: {{{}}}`", by.iter().map(|b| format!("{b}: …")).collect::<Vec<_>>().join(", "))));
                        continue;
                    }
                };
                map.insert(paper_id.clone(), values);
            }
        }
        Some(AxisSpec { by, map })
    }

    fn plots(&mut self, value: &Value, path: &str) -> PlotSpec {
        let Some(map) = self.object(value, path, PLOTS_KEYS) else {
            return PlotSpec::default();
        };
        let accuracy = self.bool(map, "accuracy", path, true);
        let loss = match map.get("loss") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => Some(LossPlot::default()),
            Some(Value::Bool(false)) => None,
            Some(v) => {
                let p = format!("{path}.loss");
                self.object(v, &p, LOSS_KEYS).map(|m| {
                    let d = LossPlot::default();
                    let kinds = match m.get("kinds") {
                        Some(k) if !k.is_null() => self.strings(k, &format!("{p}.kinds")),
                        _ => d.kinds,
                    };
                    let column = self.opt_string(m, "column", &p).unwrap_or(d.column);
                    let series = self.opt_string(m, "series", &p).unwrap_or(d.series);
                    let facet = match m.get("facet") {
                        Some(Value::Null) | Some(Value::Bool(false)) => None,
                        Some(_) => self.opt_string(m, "facet", &p),
                        None => d.facet,
                    };
                    LossPlot {
                        kinds,
                        column,
                        series,
                        facet,
                    }
                })
            }
        };
        PlotSpec { loss, accuracy }
    }

    /// A long-table column name: with the pipeline's tag names known, a near miss of one
    /// is an error (an unknown name may still be a metric dimension of some eval).
    fn column_name(&mut self, name: &str, path: &str) {
        let Some(tags) = self.tags else { return };
        let known: BTreeSet<&str> = tags
            .iter()
            .map(String::as_str)
            .chain(FIXED_COLUMNS.iter().copied())
            .chain(KNOWN_METRIC_DIMS.iter().copied())
            .collect();
        if known.contains(name) {
            return;
        }
        if let Some(s) = did_you_mean(name, known.iter().copied()) {
            self.error(
                path,
                format!("no tag or result column is called `{name}`"),
                Some(format!(
                    "did you mean `{s}`? the pipeline's tags: {}",
                    tags.iter().cloned().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }

    /// Checks that need the paper tables.
    fn against_papers(&mut self, spec: &ReportSpec, ctx: &SpecContext) {
        let dirs = paper_dirs(spec, ctx.pipeline_file);
        let mut readable = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            if d.is_dir() {
                readable.push(d.clone());
            } else if i < spec.papers.len() {
                self.error(
                    &format!("report.papers[{i}]"),
                    format!("{} is not a directory", d.display()),
                    Some(
                        "a directory of paper table files (*.yaml), relative to the pipeline file"
                            .to_string(),
                    ),
                );
            }
        }
        let catalog = match Catalog::load(&readable) {
            Ok(c) => c,
            Err(e) => {
                self.error(
                    "report.papers",
                    e.to_string(),
                    Some("fix the paper file (format: reports/papers/README.md)".to_string()),
                );
                return;
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
                self.error(
                    &format!("{path}.paper"),
                    format!("unknown paper `{}`", t.paper),
                    Some(hint),
                );
                continue;
            };
            let Some(table) = paper.tables.iter().find(|x| x.id == t.table) else {
                let ids: Vec<&str> = paper.tables.iter().map(|x| x.id.as_str()).collect();
                self.error(
                    &format!("{path}.table"),
                    format!("{} has no table `{}`", paper.short, t.table),
                    Some(format!("its tables: {}", ids.join(", "))),
                );
                continue;
            };
            self.axis_against(table, &t.rows, &format!("{path}.rows"), true);
            self.axis_against(table, &t.columns, &format!("{path}.columns"), false);
            if let Some(b) = t.baseline.as_ref().filter(|b| table.row(b).is_none()) {
                self.error(
                    &format!("{path}.baseline"),
                    format!("table {} {} has no row `{b}`", paper.short, table.id),
                    Some(row_ids(table)),
                );
            }
        }
    }

    fn axis_against(&mut self, table: &PaperTable, axis: &AxisSpec, path: &str, rows: bool) {
        for id in axis.map.keys() {
            let exists = if rows {
                table.row(id).is_some()
            } else {
                table.column(id).is_some()
            };
            if !exists {
                let (what, ids) = if rows {
                    ("row", row_ids(table))
                } else {
                    ("column", column_ids(table))
                };
                self.error(
                    &format!("{path}.map.{id}"),
                    format!("table {} has no {what} `{id}`", table.id),
                    Some(ids),
                );
            }
        }
    }
}

fn row_ids(table: &PaperTable) -> String {
    id_list("rows", table.rows.iter().map(|r| r.id.as_str()))
}

fn column_ids(table: &PaperTable) -> String {
    id_list("columns", table.columns.iter().map(|c| c.id.as_str()))
}

fn id_list<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> String {
    format!("its {what}: {}", ids.collect::<Vec<_>>().join(", "))
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

/// The closest candidate within a small edit distance.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min()
        .map(|(_, c)| c)
}
