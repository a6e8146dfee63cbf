//! What a `report:` section says, once parsed: which paper tables to render, how our
//! results find their rows and columns, and which plots to draw.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

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
    /// Rows of ours that are floors, not methods (`random-init`, `raw-input`): the summary
    /// says which rows fall below them.
    pub floors: Vec<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaperRows {
    /// Every row of the paper, ours `—` where we did not run it.
    #[default]
    All,
    /// Only the rows we have results for.
    Ran,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Results matching no paper row/column get rows/columns of their own.
    #[default]
    Show,
    Hide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// ours | paper | Δ as three columns under each paper column.
    #[default]
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
