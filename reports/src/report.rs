//! REPORT.md: the tables in the papers' layout, provenance, how ours compares and why,
//! run time per stage, links to the artifacts, and plots, all written beside each other
//! in `reports/<pipeline>/`.
//!
//! Everything in the output comes from the run record, the cache and the paper files —
//! never from the clock or the machine — so the same inputs give byte-identical files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use polars::prelude::*;
use skelflow_cache::{InstanceState, RunRecord, RunStatus, Store};

use crate::ReportError;
use crate::format::{escape_cell, fmt_duration, fmt_value, markdown_table, slug};
use crate::papers::{Catalog, Paper};
use crate::plots::{Series, bar_plot, line_plot};
use crate::provenance::provenance;
use crate::results::{Results, write_parquet};
use crate::spec::{ReportSpec, SpecContext, paper_dirs, parse_spec};
use crate::tables::{RenderedTable, render_table};

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

/// Where a pipeline's report goes: `<repo>/reports/<name>/` for a pipeline inside a
/// skelflow repository (see [`crate::repo_root`]), else `reports/<name>/` beside the
/// pipeline file.
pub fn report_dir(pipeline_file: &Path, pipeline: &str) -> PathBuf {
    let base = match crate::repo_root(pipeline_file) {
        Some(root) => root,
        None => pipeline_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    base.join("reports").join(slug(pipeline))
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
    let mut df = results
        .to_dataframe()
        .map_err(ReportError::polars("build the results table"))?;
    let results_path = dir.join("results.parquet");
    write_parquet(&mut df, &results_path)?;

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
        let mut r = render_table(&df, t, table, &paper.short).map_err(ReportError::polars(
            format!("render {} table {}", paper.short, table.id),
        ))?;
        if let Some(title) = &t.title {
            r.heading = format!("{} ({})", title, r.heading);
        }
        warnings.append(&mut r.warnings);
        rendered.push(r);
    }
    let comparison = if rendered.is_empty() {
        None
    } else {
        let path = dir.join("comparison.parquet");
        let mut cmp = comparison_frame(&spec, &rendered)
            .map_err(ReportError::polars("build the comparison table"))?;
        write_parquet(&mut cmp, &path)?;
        Some(path)
    };

    let kinds = spec
        .plots
        .loss
        .as_ref()
        .map(|l| l.kinds.clone())
        .unwrap_or_else(|| vec!["pretrain".to_string()]);
    let prov = provenance(run, &kinds, &results.artifacts);

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
        link(&rel_or_abs(&dir, &run.pipeline_file))
    ));
    if !run.args.is_empty() {
        md.push_str(&format!("- **Command:** `{}`.\n", run.args.join(" ")));
    }
    md.push_str(&format!(
        "- **Results:** [results.parquet](results.parquet) — {} result row(s) in long format ({} columns: {}){}.\n",
        results.rows.len(),
        df.width(),
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
        s.push_str(&format!("; tables transcribed in `{}`", p.origin));
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

fn comparison_frame(spec: &ReportSpec, rendered: &[RenderedTable]) -> PolarsResult<DataFrame> {
    let (mut paper, mut table, mut row, mut row_label, mut column, mut column_label, mut measure) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut ours, mut std, mut n, mut seeds, mut paper_v, mut delta) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (t, r) in spec.tables.iter().zip(rendered) {
        for c in &r.cells {
            paper.push(t.paper.clone());
            table.push(t.table.clone());
            row.push(c.row.clone());
            row_label.push(c.row_label.clone());
            column.push(c.column.clone());
            column_label.push(c.column_label.clone());
            measure.push(if c.measure.is_empty() {
                None
            } else {
                Some(c.measure.clone())
            });
            ours.push(c.ours.as_ref().map(|o| o.mean));
            std.push(c.ours.as_ref().and_then(|o| o.std));
            n.push(c.ours.as_ref().map_or(0, |o| o.n as u32));
            seeds.push(c.ours.as_ref().map(|o| o.seeds.clone()));
            paper_v.push(c.paper);
            delta.push(c.delta());
        }
    }
    df!(
        "paper" => paper, "table" => table, "row" => row, "row_label" => row_label,
        "column" => column, "column_label" => column_label, "measure" => measure,
        "ours" => ours, "ours_std" => std, "n" => n, "seeds" => seeds,
        "paper_value" => paper_v, "delta" => delta,
    )
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
        let path = artifact.join("epochs.parquet");
        if !path.is_file() {
            continue;
        }
        let curve = match read_curve(&path, &loss.column) {
            Ok(c) => c,
            Err(msg) => {
                warnings.push(format!(
                    "{}: {msg} (no loss curve for `{}`)",
                    path.display(),
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
    let file = fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let as_f64 = |name: &str| -> Result<Vec<Option<f64>>, String> {
        let c = df.column(name).map_err(|_| format!("no `{name}` column"))?;
        let c = c
            .cast(&DataType::Float64)
            .map_err(|e| format!("`{name}` is not numeric: {e}"))?;
        Ok(c.f64().map_err(|e| e.to_string())?.iter().collect())
    };
    let epochs = as_f64("epoch")?;
    let values = as_f64(column)?;
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
    let header: Vec<String> = [
        "stage",
        "kind",
        "instances",
        "computed",
        "cached",
        "other",
        "compute time",
        "longest instance",
    ]
    .map(String::from)
    .to_vec();
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
                link_target(&rel_or_abs(dir, a))
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
    let header: Vec<String> = ["instance", "state", "time", "tags", "artifact"]
        .map(String::from)
        .to_vec();
    format!(
        "<details><summary>Instances and their artifacts ({})</summary>\n\n{}\n</details>\n\n",
        rows.len(),
        markdown_table(&header, &[false, false, true, false, false], &rows)
    )
}

/// Every result row, for reading without Python.
fn all_metrics(run: &RunRecord, results: &Results) -> String {
    if results.rows.is_empty() {
        return "No stage of this run wrote `metrics.json`.\n\n".to_string();
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
    let header: Vec<String> = ["instance", "metric", "dimensions", "seed", "value"]
        .map(String::from)
        .to_vec();
    format!(
        "<details><summary>All results ({} rows; also in results.parquet)</summary>\n\n{}\n</details>\n\n",
        rows.len(),
        markdown_table(&header, &[false, false, false, true, true], &rows)
    )
}

fn escape_md(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;")
}

/// `target` relative to `from_dir` when they share more than the filesystem root, else
/// `target` itself.
pub fn rel_or_abs(from_dir: &Path, target: &Path) -> PathBuf {
    let norm = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (norm(from_dir), norm(target));
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return to;
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
