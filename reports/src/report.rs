//! REPORT.md: the tables in the papers' layout, provenance, how ours compares and why,
//! run time per stage, links to the artifacts, and plots, all written beside each other
//! in `reports/<pipeline>/`.
//!
//! Everything in the output comes from the run record, the cache and the paper files —
//! never from the clock or the machine — so the same inputs give byte-identical files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use skelflow_cache::{InstanceState, RunRecord, RunStatus, Store};
use skelflow_contract::files;

use crate::ReportError;
use crate::format::{escape_cell, fmt_duration, fmt_value, markdown_table, slug};
use crate::papers::{Catalog, Paper};
use crate::parquet_io::{Table, read_numbers, write_parquet};
use crate::plots::{Series, bar_plot, line_plot};
use crate::provenance::provenance;
use crate::results::Results;
use crate::spec::TableSpec;
use crate::spec::{ReportSpec, SpecContext, paper_dirs, parse_spec};
use crate::tables::{Comparison, RenderedTable, render_table};

/// The long results table, beside REPORT.md.
const RESULTS_PARQUET: &str = "results.parquet";
/// Every rendered table cell, beside REPORT.md.
const COMPARISON_PARQUET: &str = "comparison.parquet";

/// What [`write_report`] needs.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The run to report (the one just finished, or the newest for `skelflow report`).
    pub run: &'a RunRecord,
    pub store: &'a Store,
    /// The pipeline's `report:` section (`Value::Null` when it has none).
    pub spec: &'a serde_json::Value,
    /// Where to write; default [`report_dir`] of the run's pipeline file.
    pub out_dir: Option<&'a Path>,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutcome {
    pub dir: PathBuf,
    pub report: PathBuf,
    /// The long-format results table.
    pub results: PathBuf,
    /// Every rendered cell, ours beside the paper's (only with paper tables).
    pub comparison: Option<PathBuf>,
    pub plots: Vec<PathBuf>,
    pub result_rows: usize,
    /// Problems that did not stop the report (also listed in it).
    pub warnings: Vec<String>,
}

/// Where a pipeline's report goes: `<repo>/reports/<dir>/` for a pipeline inside a
/// skelflow repository (see [`crate::repo_root`]), else `reports/<dir>/` beside the
/// pipeline file, with `<dir>` = [`report_dir_name`] of the pipeline's name.
pub fn report_dir(pipeline_file: &Path, pipeline: &str) -> PathBuf {
    let base = match crate::repo_root(pipeline_file) {
        Some(root) => root,
        None => pipeline_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    base.join("reports").join(report_dir_name(pipeline))
}

/// Names in `reports/` that belong to the reports crate (or to cargo): a report never
/// writes over them.
const CRATE_NAMES: &[&str] = &[
    "src",
    "papers",
    "tests",
    "examples",
    "benches",
    "target",
    "Cargo.toml",
    "Cargo.lock",
    "README.md",
    "build.rs",
];

/// The report directory's name for a pipeline: its [`slug`], except that a slug that is
/// one of the crate's own names (`src`, `papers`, `tests`, `Cargo.toml`, …, compared
/// without case), is only dots, or already starts with `pipeline-` gets `pipeline-` in
/// front: `src` → `pipeline-src`, `pipeline-src` → `pipeline-pipeline-src`. Two pipelines
/// with different slugs never share a directory.
pub fn report_dir_name(pipeline: &str) -> String {
    const PREFIX: &str = "pipeline-";
    let name = slug(pipeline);
    let taken = CRATE_NAMES.iter().any(|c| c.eq_ignore_ascii_case(&name))
        || name.chars().all(|c| c == '.')
        || name.starts_with(PREFIX);
    if taken {
        format!("{PREFIX}{name}")
    } else {
        name
    }
}

/// Write `reports/<pipeline>/REPORT.md` with `results.parquet`, `comparison.parquet` and
/// the SVG plots beside it.
pub fn write_report(input: &ReportInput) -> Result<ReportOutcome, ReportError> {
    let run = input.run;
    let ctx = SpecContext {
        pipeline_file: Some(&run.pipeline_file),
        tags: None,
    };
    let spec = parse_spec(input.spec, &ctx).map_err(ReportError::Spec)?;
    let dir = input
        .out_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| report_dir(&run.pipeline_file, &run.pipeline));
    fs::create_dir_all(&dir).map_err(|e| ReportError::io("create", &dir, e))?;
    remove_old_plots(&dir)?;

    let dirs: Vec<PathBuf> = paper_dirs(&spec, Some(&run.pipeline_file))
        .into_iter()
        .filter(|d| d.is_dir())
        .collect();
    let catalog = Catalog::load(&dirs)?;

    let results = Results::collect(run, input.store)?;
    let mut warnings = results.warnings.clone();
    let long = results.to_table();
    let width = long.width();
    let results_path = dir.join(RESULTS_PARQUET);
    write_parquet(long, &results_path)?;

    // Tables.
    let mut rendered: Vec<RenderedTable> = Vec::new();
    let mut papers_used: Vec<&Paper> = Vec::new();
    for t in &spec.tables {
        let paper = catalog.paper(&t.paper).expect("checked by parse_spec");
        let table = catalog
            .table(&t.paper, &t.table)
            .expect("checked by parse_spec");
        if !papers_used.iter().any(|p| p.id == paper.id) {
            papers_used.push(paper);
        }
        let mut r = render_table(&results, t, table, &paper.short);
        if let Some(title) = &t.title {
            r.heading = format!("{} ({})", title, r.heading);
        }
        warnings.append(&mut r.warnings);
        rendered.push(r);
    }
    let comparison = if rendered.is_empty() {
        None
    } else {
        let path = dir.join(COMPARISON_PARQUET);
        write_parquet(comparison_table(&spec, &rendered), &path)?;
        Some(path)
    };

    let kinds = spec
        .plots
        .loss
        .as_ref()
        .map(|l| l.kinds.clone())
        .unwrap_or_else(|| vec!["pretrain".to_string()]);
    let (prov, mut unread) = provenance(run, &kinds, &results.artifacts);
    warnings.append(&mut unread);

    // LaTeX, for the next paper.
    let mut latex_files: BTreeMap<usize, PathBuf> = BTreeMap::new();
    if spec.latex {
        for (i, (t, r)) in spec.tables.iter().zip(&rendered).enumerate() {
            let table = catalog.table(&t.paper, &t.table).expect("checked");
            let name = format!("table-{}-{}.tex", slug(&t.paper), slug(&t.table));
            let caption = format!(
                "{}: ours ({}) beside the paper's numbers; Δ = ours − paper. {}",
                r.heading,
                prov.short(),
                table.caption
            );
            let comment = format!(
                "Generated by skelflow from run {} of pipeline {}; `skelflow report` rewrites it.",
                run.id, run.pipeline
            );
            let tex = crate::latex::latex_table(
                &r.grid,
                &caption,
                &format!("tab:{}", slug(&format!("{}-{}", t.paper, t.table))),
                &comment,
            );
            let path = dir.join(&name);
            fs::write(&path, tex).map_err(|e| ReportError::io("write", &path, e))?;
            latex_files.insert(i, path);
        }
    }

    // Plots.
    let mut plots = Vec::new();
    let mut accuracy_plots: BTreeMap<usize, PathBuf> = BTreeMap::new();
    if spec.plots.accuracy {
        for (i, (t, r)) in spec.tables.iter().zip(&rendered).enumerate() {
            if !t.plot || r.bars.is_empty() {
                continue;
            }
            let table = catalog.table(&t.paper, &t.table).expect("checked");
            let path = dir.join(format!("acc-{}-{}.svg", slug(&t.paper), slug(&t.table)));
            let y = format!(
                "{} ({})",
                table.dims.get("metric").map_or("value", String::as_str),
                table.unit
            );
            bar_plot(
                &path,
                &format!("{}: ours vs the paper", r.heading),
                &y,
                table.unit == "%",
                &r.bars,
            )?;
            accuracy_plots.insert(i, path.clone());
            plots.push(path);
        }
    }
    let mut loss_plots = Vec::new();
    if let Some(loss) = &spec.plots.loss {
        let (paths, mut w) = loss_curves(run, &results, loss, &dir)?;
        warnings.append(&mut w);
        plots.extend(paths.iter().map(|(p, _)| p.clone()));
        loss_plots = paths;
    }

    // The markdown.
    let mut md = String::new();
    let title = spec
        .title
        .clone()
        .unwrap_or_else(|| format!("{} — report", run.pipeline));
    md.push_str(&format!("# {}\n\n", title.trim()));
    md.push_str("<!-- Generated by skelflow from the run record and the cache; `skelflow report <pipeline>` rewrites it. -->\n\n");
    let why = prov.why(&papers_used);
    if let Some(callout) = prov.callout(&papers_used) {
        md.push_str(&format!("> [!WARNING]\n> {callout}\n\n"));
    }
    if let Some(intro) = &spec.intro {
        md.push_str(intro.trim());
        md.push_str("\n\n");
    }
    md.push_str(&run_line(run));

    md.push_str("## Provenance\n\n");
    for l in prov.lines() {
        md.push_str(&format!("- {l}\n"));
    }
    md.push_str(&format!(
        "- **Pipeline file:** {}.\n",
        link(&relative(&dir, &run.pipeline_file))
    ));
    if !run.args.is_empty() {
        md.push_str(&format!("- **Command:** `{}`.\n", command_line(&run.args)));
    }
    md.push_str(&format!(
        "- **Results:** [results.parquet](results.parquet) — {} result row(s) in long format ({} columns: {}){}.\n",
        results.rows.len(),
        width,
        results.columns().join(", "),
        if comparison.is_some() { "; [comparison.parquet](comparison.parquet) — every table cell, ours beside the paper's" } else { "" }
    ));
    for p in &papers_used {
        let mut s = format!("- **Paper:** {} — *{}*", p.short, p.title);
        if let Some(v) = &p.venue {
            s.push_str(&format!(", {v}"));
        }
        if let Some(u) = &p.url {
            s.push_str(&format!(" ({u})"));
        }
        // a file on disk is named relative to the report; `built-in a2mc.yaml` as it is
        let origin = Path::new(&p.origin);
        let origin = if origin.is_file() {
            relative(&dir, origin).display().to_string()
        } else {
            p.origin.clone()
        };
        s.push_str(&format!("; tables transcribed in `{origin}`"));
        if !p.setup.is_empty() {
            let setup: Vec<String> = p
                .setup
                .iter()
                .map(|(k, v)| format!("{} {v}", k.replace('_', " ")))
                .collect();
            s.push_str(&format!("; its setup: {}", setup.join(", ")));
        }
        md.push_str(&(s + ".\n"));
    }
    md.push('\n');

    if !rendered.is_empty() {
        md.push_str("## How ours compares with the paper\n\n");
        for w in &why {
            md.push_str(&format!("- {w}\n"));
        }
        for r in &rendered {
            for s in &r.summary {
                md.push_str(&format!("- {s}\n"));
            }
        }
        md.push('\n');
    }

    for (i, r) in rendered.iter().enumerate() {
        md.push_str(&format!("## {}\n\n", r.heading));
        md.push_str(&r.markdown);
        if let Some(p) = latex_files.get(&i) {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            md.push_str(&format!("- LaTeX (booktabs): [{name}]({name})\n"));
        }
        if let Some(p) = accuracy_plots.get(&i) {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            md.push_str(&format!("\n![{}: ours vs the paper]({name})\n", r.heading));
        }
        md.push('\n');
    }

    if !loss_plots.is_empty() {
        md.push_str("## Pretraining loss\n\n");
        for (p, caption) in &loss_plots {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            md.push_str(&format!("![{caption}]({name})\n\n"));
        }
    }

    md.push_str(&stage_times(run));
    md.push_str(&instances_table(run, &results, &dir));
    md.push_str(&all_metrics(run, &results));

    if !warnings.is_empty() {
        md.push_str("## Warnings\n\n");
        for w in &warnings {
            md.push_str(&format!("- {}\n", escape_md(w)));
        }
        md.push('\n');
    }

    let report = dir.join("REPORT.md");
    let tmp = dir.join(".REPORT.md.tmp");
    fs::write(&tmp, md.trim_end().to_string() + "\n")
        .map_err(|e| ReportError::io("write", &tmp, e))?;
    fs::rename(&tmp, &report).map_err(|e| ReportError::io("rename", &report, e))?;
    Ok(ReportOutcome {
        dir,
        report,
        results: results_path,
        comparison,
        plots,
        result_rows: results.rows.len(),
        warnings,
    })
}

/// Files of an earlier report (`acc-*.svg`, `loss*.svg`, `table-*.tex`) would linger
/// after a variant or table is gone: remove them before writing the new ones.
fn remove_old_plots(dir: &Path) -> Result<(), ReportError> {
    let entries = fs::read_dir(dir).map_err(|e| ReportError::io("read", dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let plot = name.ends_with(".svg") && (name.starts_with("acc-") || name.starts_with("loss"));
        if plot || (name.starts_with("table-") && name.ends_with(".tex")) {
            fs::remove_file(e.path()).map_err(|err| ReportError::io("remove", &e.path(), err))?;
        }
    }
    Ok(())
}

fn run_line(run: &RunRecord) -> String {
    let status = match run.status {
        RunStatus::Running => "running (the report shows what is done so far)",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed (the report shows what succeeded)",
        RunStatus::Interrupted => "interrupted (the report shows what is done so far)",
        RunStatus::Detached => {
            "detached: its jobs run on the cluster (the report shows what is done so far)"
        }
    };
    let mut s = format!(
        "Pipeline `{}` · run `{}` · {} · started {}",
        run.pipeline,
        run.id,
        status,
        run.started.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(f) = run.finished {
        let wall = (f - run.started).num_milliseconds() as f64 / 1000.0;
        s.push_str(&format!(
            " · finished {} · wall time {}",
            f.format("%Y-%m-%d %H:%M:%S UTC"),
            fmt_duration(wall)
        ));
    }
    s + "\n\n"
}

fn comparison_table(spec: &ReportSpec, rendered: &[RenderedTable]) -> Table {
    let cells: Vec<(&TableSpec, &Comparison)> = spec
        .tables
        .iter()
        .zip(rendered)
        .flat_map(|(t, r)| r.cells.iter().map(move |c| (t, c)))
        .collect();
    let mut t = Table::default();
    t.text("paper", cells.iter().map(|(t, _)| Some(&t.paper)));
    t.text("table", cells.iter().map(|(t, _)| Some(&t.table)));
    t.text("row", cells.iter().map(|(_, c)| Some(&c.row)));
    t.text("row_label", cells.iter().map(|(_, c)| Some(&c.row_label)));
    t.text("column", cells.iter().map(|(_, c)| Some(&c.column)));
    t.text(
        "column_label",
        cells.iter().map(|(_, c)| Some(&c.column_label)),
    );
    t.text(
        "measure",
        cells
            .iter()
            .map(|(_, c)| Some(&c.measure).filter(|m| !m.is_empty())),
    );
    t.float(
        "ours",
        cells.iter().map(|(_, c)| c.ours.as_ref().map(|o| o.mean)),
    );
    t.float(
        "ours_std",
        cells
            .iter()
            .map(|(_, c)| c.ours.as_ref().and_then(|o| o.std)),
    );
    t.count(
        "n",
        cells
            .iter()
            .map(|(_, c)| c.ours.as_ref().map_or(0, |o| o.n as u32)),
    );
    t.text(
        "seeds",
        cells.iter().map(|(_, c)| c.ours.as_ref().map(|o| &o.seeds)),
    );
    t.float("paper_value", cells.iter().map(|(_, c)| c.paper));
    t.float("delta", cells.iter().map(|(_, c)| c.delta()));
    t
}

/// A written loss plot and its caption.
type LossPlotFile = (PathBuf, String);

/// Loss per epoch from the `epochs.parquet` of the pretraining artifacts: one SVG per
/// value of the facet tag, one line per instance.
fn loss_curves(
    run: &RunRecord,
    results: &Results,
    loss: &crate::spec::LossPlot,
    dir: &Path,
) -> Result<(Vec<LossPlotFile>, Vec<String>), ReportError> {
    let mut warnings = Vec::new();
    // facet value → (series label, seed, curve)
    type Curve = (String, String, Vec<(f64, f64)>);
    let mut facets: BTreeMap<String, Vec<Curve>> = BTreeMap::new();
    let mut instances: Vec<_> = run
        .instances
        .iter()
        .filter(|i| loss.kinds.contains(&i.kind))
        .collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    for inst in instances {
        let Some(artifact) = results.artifacts.get(&inst.id) else {
            continue;
        };
        let path = artifact.join(files::EPOCHS_PARQUET);
        if !path.is_file() {
            continue;
        }
        let curve = match read_curve(&path, &loss.column) {
            Ok(c) => c,
            Err(msg) => {
                warnings.push(format!(
                    "`{}` {}: {msg} (no loss curve for `{}`)",
                    inst.id,
                    files::EPOCHS_PARQUET,
                    inst.id
                ));
                continue;
            }
        };
        if curve.is_empty() {
            continue;
        }
        let facet = loss
            .facet
            .as_ref()
            .and_then(|f| inst.tags.get(f))
            .cloned()
            .unwrap_or_default();
        let label = inst
            .tags
            .get(&loss.series)
            .cloned()
            .unwrap_or_else(|| inst.id.clone());
        let seed = inst
            .tags
            .get("seed")
            .cloned()
            .unwrap_or_else(|| inst.components.seed.to_string());
        facets.entry(facet).or_default().push((label, seed, curve));
    }
    let mut out = Vec::new();
    for (facet, mut curves) in facets {
        // One colour and legend entry per label; its seeds are lines of that colour.
        curves.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut by_label: BTreeMap<String, Vec<Vec<(f64, f64)>>> = BTreeMap::new();
        for (label, _, points) in curves {
            by_label.entry(label).or_default().push(points);
        }
        let lines: Vec<Series> = by_label
            .into_iter()
            .map(|(label, lines)| {
                let label = if lines.len() > 1 {
                    format!("{label} ({} runs)", lines.len())
                } else {
                    label
                };
                Series { label, lines }
            })
            .collect();
        let (name, caption) = if facet.is_empty() {
            (
                "loss.svg".to_string(),
                format!("Pretraining {} per epoch", loss.column),
            )
        } else {
            (
                format!("loss-{}.svg", slug(&facet)),
                format!("Pretraining {} per epoch, {}", loss.column, facet),
            )
        };
        let path = dir.join(name);
        line_plot(&path, &caption, &loss.column, &lines)?;
        out.push((path, caption));
    }
    Ok((out, warnings))
}

fn read_curve(path: &Path, column: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut read = read_numbers(path, &["epoch", column])?.into_iter();
    let (epochs, values) = (
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
    );
    let mut points: Vec<(f64, f64)> = epochs
        .into_iter()
        .zip(values)
        .filter_map(|(e, v)| Some((e?, v?)))
        .filter(|(e, v)| e.is_finite() && v.is_finite())
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(points)
}

/// Compute time per stage, from the run record.
fn stage_times(run: &RunRecord) -> String {
    #[derive(Default)]
    struct Stage {
        kind: BTreeSet<String>,
        n: usize,
        computed: usize,
        cached: usize,
        other: BTreeMap<&'static str, usize>,
        seconds: f64,
        /// compute time of the instances computed in this run
        this_run: f64,
        longest: f64,
    }
    let mut stages: BTreeMap<&str, Stage> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    // instances with one key (A1 = B1) are one computation: their time counts once
    let mut timed = BTreeSet::new();
    for inst in &run.instances {
        let first_of_key = timed.insert(&inst.key);
        if !stages.contains_key(inst.stage.as_str()) {
            order.push(&inst.stage);
        }
        let s = stages.entry(&inst.stage).or_default();
        s.kind.insert(inst.kind.clone());
        s.n += 1;
        match inst.state {
            InstanceState::Computed => s.computed += 1,
            InstanceState::Cached => s.cached += 1,
            other => *s.other.entry(state_name(other)).or_default() += 1,
        }
        let secs = inst.seconds.unwrap_or(0.0);
        if first_of_key {
            s.seconds += secs;
            if inst.state == InstanceState::Computed {
                s.this_run += secs;
            }
        }
        s.longest = s.longest.max(secs);
    }
    let mut rows = Vec::new();
    let (mut total, mut total_this_run) = (0.0, 0.0);
    for name in order {
        let s = &stages[name];
        total += s.seconds;
        total_this_run += s.this_run;
        let other = s
            .other
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push(vec![
            format!("`{name}`"),
            s.kind.iter().cloned().collect::<Vec<_>>().join(", "),
            s.n.to_string(),
            s.computed.to_string(),
            s.cached.to_string(),
            if other.is_empty() {
                "—".to_string()
            } else {
                other
            },
            fmt_duration(s.seconds),
            fmt_duration(s.longest),
        ]);
    }
    let header = [
        "stage",
        "kind",
        "instances",
        "computed",
        "cached",
        "other",
        "compute time",
        "longest instance",
    ];
    let numeric = [false, false, true, true, true, false, true, true];
    format!(
        "## Run time per stage\n\nCompute time of every instance (for cached ones, the time it took when it was computed; \
         instances that share a key are one computation and count once). Total {}; computed in this run {}.\n\n{}\n",
        fmt_duration(total),
        fmt_duration(total_this_run),
        markdown_table(&header, &numeric, &rows)
    )
}

fn state_name(s: InstanceState) -> &'static str {
    match s {
        InstanceState::Planned => "planned",
        InstanceState::Cached => "cached",
        InstanceState::Computed => "computed",
        InstanceState::Failed => "failed",
        InstanceState::Skipped => "skipped",
        InstanceState::Interrupted => "interrupted",
    }
}

fn instances_table(run: &RunRecord, results: &Results, dir: &Path) -> String {
    let mut instances: Vec<_> = run.instances.iter().collect();
    instances.sort_by(|a, b| (&a.stage, &a.id).cmp(&(&b.stage, &b.id)));
    let mut rows = Vec::new();
    for inst in instances {
        let tags = inst
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let artifact = match results.artifacts.get(&inst.id) {
            Some(a) => format!(
                "[`{}`]({})",
                inst.key.short(),
                link_target(&relative(dir, a))
            ),
            None => match &inst.error {
                Some(e) => format!("— ({})", escape_cell(e.lines().next().unwrap_or(""))),
                None => "—".to_string(),
            },
        };
        rows.push(vec![
            format!("`{}`", escape_cell(&inst.id)),
            state_name(inst.state).to_string(),
            inst.seconds.map_or("—".to_string(), fmt_duration),
            escape_cell(&tags),
            artifact,
        ]);
    }
    details(
        &format!("Instances and their artifacts ({})", rows.len()),
        &["instance", "state", "time", "tags", "artifact"],
        &[false, false, true, false, false],
        &rows,
    )
}

/// Every result row, for reading without Python.
fn all_metrics(run: &RunRecord, results: &Results) -> String {
    if results.rows.is_empty() {
        return format!("No stage of this run wrote `{}`.\n\n", files::METRICS_JSON);
    }
    let tags: BTreeMap<&str, &BTreeMap<String, String>> = run
        .instances
        .iter()
        .map(|i| (i.id.as_str(), &i.tags))
        .collect();
    let mut rows = Vec::new();
    for r in &results.rows {
        let own = tags.get(r.instance.as_str());
        let dims: Vec<String> = r
            .dims
            .iter()
            .filter(|(k, v)| *k != "metric" && own.is_none_or(|t| t.get(*k) != Some(*v)))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(vec![
            format!("`{}`", escape_cell(&r.instance)),
            escape_cell(r.dims.get("metric").map_or("", String::as_str)),
            escape_cell(&dims.join(", ")),
            r.seed.map_or("—".to_string(), |s| s.to_string()),
            fmt_value(r.value, 2),
        ]);
    }
    details(
        &format!(
            "All results ({} rows; also in {RESULTS_PARQUET})",
            rows.len()
        ),
        &["instance", "metric", "dimensions", "seed", "value"],
        &[false, false, false, true, true],
        &rows,
    )
}

/// A markdown table folded under a summary line.
fn details(summary: &str, header: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    format!(
        "<details><summary>{summary}</summary>\n\n{}\n</details>\n\n",
        markdown_table(header, numeric, rows)
    )
}

fn escape_md(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;")
}

/// `target` relative to `from_dir`, so that a report never prints a machine's absolute
/// path. Paths with no common root (another drive) give `target`'s file name.
pub fn relative(from_dir: &Path, target: &Path) -> PathBuf {
    let norm = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (norm(from_dir), norm(target));
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return to.file_name().map(PathBuf::from).unwrap_or_default();
    }
    let mut rel = PathBuf::new();
    for _ in common..a.len() {
        rel.push("..");
    }
    for c in &b[common..] {
        rel.push(c.as_os_str());
    }
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

fn link_target(p: &Path) -> String {
    let s = p.to_string_lossy().to_string();
    if s.contains([' ', '(', ')', '<', '>']) {
        format!("<{s}>")
    } else {
        s
    }
}

fn link(p: &Path) -> String {
    format!("[`{}`]({})", p.display(), link_target(p))
}

/// The command as the user typed it, with the program by name: where the binary lives on
/// the machine that ran it is none of the report's business.
fn command_line(args: &[String]) -> String {
    let mut shown = args.to_vec();
    if let Some(program) = shown.first_mut()
        && let Some(name) = Path::new(program.as_str()).file_name()
    {
        *program = name.to_string_lossy().into_owned();
    }
    shown.join(" ")
}

#[cfg(test)]
mod command_tests {
    #[test]
    fn the_program_is_named_not_located() {
        let args = [
            "/root/.cache/t/release/skelflow",
            "run",
            "pipelines/x.yaml",
            "--set",
            "data.root=/data/ntu",
        ]
        .map(String::from);
        assert_eq!(
            super::command_line(&args),
            "skelflow run pipelines/x.yaml --set data.root=/data/ntu"
        );
    }
}
