//! Where the numbers of a run come from — the data as the data stages recorded it
//! (`provenance.json`: [`DataFacts`]), the profile, the backend, the pretraining schedule —
//! and the plain-words statement of how they compare with the paper.
//!
//! The data source is never inferred from the pipeline's shape, its stage kinds or its
//! params: a run none of whose artifacts has a provenance record says that it is not
//! recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use skelflow_cache::RunRecord;
use skelflow_contract::{DataFacts, DataOrigin, files};

use crate::papers::{EncoderScale, Paper};

/// What the data of a run is, over all its provenance records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// Only skelflow's synthetic corpus.
    Synthetic,
    /// Only real dataset files (or arrays a reference implementation made from them).
    Real,
    /// Both in one run.
    Mixed,
    /// No artifact of the run has a provenance record.
    NotRecorded,
}

/// One provenance record and the instances whose artifacts hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRecord {
    pub facts: DataFacts,
    pub instances: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub data: DataSource,
    /// Every distinct provenance record of the run's artifacts.
    pub records: Vec<DataRecord>,
    pub profile: Option<String>,
    pub backend: String,
    /// `epochs` params of the pretraining instances.
    pub pretrain_epochs: BTreeSet<i64>,
    pub pretrain_batch: BTreeSet<i64>,
    /// Canonical params of every pretraining instance, for the scale check.
    pub pretrain_params: Vec<Value>,
}

/// `artifacts`: instance id → artifact dir; each one's `provenance.json` is read. The
/// warnings are the records that cannot be read.
pub fn provenance(
    run: &RunRecord,
    pretrain_kinds: &[String],
    artifacts: &BTreeMap<String, PathBuf>,
) -> (Provenance, Vec<String>) {
    let mut records: Vec<DataRecord> = Vec::new();
    let mut warnings = Vec::new();
    for (id, dir) in artifacts {
        let path = dir.join(files::PROVENANCE_JSON);
        match DataFacts::read(&path) {
            Ok(Some(facts)) => match records.iter_mut().find(|r| r.facts == facts) {
                Some(r) => r.instances.push(id.clone()),
                None => records.push(DataRecord {
                    facts,
                    instances: vec![id.clone()],
                }),
            },
            Ok(None) => {}
            // the message names the instance, not the machine's cache path
            Err(msg) => warnings.push(format!(
                "{} (not used for the provenance)",
                msg.replace(
                    &path.display().to_string(),
                    &format!("`{id}` {}", files::PROVENANCE_JSON)
                )
            )),
        }
    }
    let synthetic = records
        .iter()
        .filter(|r| r.facts.origin.is_synthetic())
        .count();
    let data = match (synthetic, records.len() - synthetic) {
        (0, 0) => DataSource::NotRecorded,
        (_, 0) => DataSource::Synthetic,
        (0, _) => DataSource::Real,
        _ => DataSource::Mixed,
    };
    let mut epochs = BTreeSet::new();
    let mut batch = BTreeSet::new();
    let mut pretrain_params = Vec::new();
    for inst in run
        .instances
        .iter()
        .filter(|i| pretrain_kinds.contains(&i.kind))
    {
        let params = &inst.components.params;
        pretrain_params.push(params.clone());
        if let Some(e) = params.get("epochs").and_then(Value::as_i64) {
            epochs.insert(e);
        }
        if let Some(b) = params
            .get("batch")
            .or_else(|| params.get("batch_size"))
            .and_then(Value::as_i64)
        {
            batch.insert(b);
        }
    }
    let profile = run
        .vars
        .get("profile")
        .and_then(Value::as_str)
        .map(str::to_string);
    let prov = Provenance {
        data,
        records,
        profile,
        backend: run.backend.clone(),
        pretrain_epochs: epochs,
        pretrain_batch: batch,
        pretrain_params,
    };
    (prov, warnings)
}

/// One provenance record in words, for the Provenance section.
fn record_line(r: &DataRecord) -> String {
    let f = &r.facts;
    let digest: String = f.file_list_digest.chars().take(16).collect();
    let counts = format!(
        "{} files → {} samples, {} classes, variant {}, {} frames; file list blake3 `{digest}`",
        f.files, f.samples, f.classes, f.variant, f.frames
    );
    let mut by: Vec<String> = r
        .instances
        .iter()
        .take(3)
        .map(|i| format!("`{i}`"))
        .collect();
    if r.instances.len() > 3 {
        by.push(format!("{} more", r.instances.len() - 3));
    }
    let by = format!("recorded by {}", by.join(", "));
    match &f.origin {
        DataOrigin::Synthetic { generator, params } => format!(
            "**Dataset: synthetic.** skelflow's synthetic corpus in the {} format (`{generator}`: {}; {counts}; {by}) — not {}; not a reproduction.",
            f.dataset,
            compact(params),
            f.dataset
        ),
        DataOrigin::Real { root } => format!(
            "**Dataset: real.** real {} files ({counts}; root `{root}` as written in the pipeline; {by}).",
            f.dataset
        ),
        DataOrigin::ReferenceArrays { root } => format!(
            "**Dataset: reference arrays.** {} arrays preprocessed by a reference implementation ({counts}; root `{root}` as written in the pipeline; {by}).",
            f.dataset
        ),
    }
}

/// `classes=12, size=quick`, or `defaults`.
fn compact(params: &BTreeMap<String, Value>) -> String {
    if params.is_empty() {
        return "defaults".to_string();
    }
    params
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a pretraining's `encoder.backbone` differs from the paper's encoder of the same
/// `arch` (or from its only one); nothing when it matches one of `sizes` in full.
fn encoder_gaps(backbone: Option<&Value>, sizes: &[EncoderScale], paper: &str) -> Vec<String> {
    let field = |k: &str| backbone.and_then(|b| b.get(k));
    // with several encoders, say whose setting it is
    let whose = match (sizes.len(), field("arch")) {
        (2.., Some(arch)) => format!("{} encoder", setting(arch)),
        _ => "encoder".to_string(),
    };
    let differs = |size: &EncoderScale| -> Vec<String> {
        size.iter()
            .filter(|(k, want)| field(k) != Some(*want))
            .map(|(k, want)| {
                format!(
                    "{whose} {k} {} ({paper}: {})",
                    field(k).map_or("not recorded".to_string(), setting),
                    setting(want)
                )
            })
            .collect()
    };
    if sizes.is_empty() || sizes.iter().any(|s| differs(s).is_empty()) {
        return Vec::new();
    }
    let same_arch = sizes
        .iter()
        .find(|s| s.get("arch").is_some_and(|a| field("arch") == Some(a)));
    match (same_arch, sizes) {
        (Some(size), _) | (None, [size]) => differs(size),
        (None, many) => {
            let archs: Vec<String> = many
                .iter()
                .filter_map(|s| s.get("arch").map(setting))
                .collect();
            vec![format!(
                "encoder arch {} ({paper}: {})",
                field("arch").map_or("not recorded".to_string(), setting),
                archs.join(", ")
            )]
        }
    }
}

/// A setting for a sentence: long lists by their length.
fn setting(v: &Value) -> String {
    match v {
        Value::Array(items) if v.to_string().len() > 24 => format!("{} entries", items.len()),
        other => scalar(other),
    }
}

/// `1024`, `bigru`.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(set: &BTreeSet<i64>) -> String {
    set.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Provenance {
    /// A few words for captions: `skelflow's synthetic data, profile quick, 3 pretraining
    /// epochs, backend flex`.
    pub fn short(&self) -> String {
        let mut parts = vec![
            match self.data {
                DataSource::Synthetic => "skelflow's synthetic data",
                DataSource::Mixed => "synthetic and real data",
                DataSource::Real => "real data",
                DataSource::NotRecorded => "data source not recorded",
            }
            .to_string(),
        ];
        if let Some(p) = &self.profile {
            parts.push(format!("profile {p}"));
        }
        if !self.pretrain_epochs.is_empty() {
            parts.push(format!(
                "{} pretraining epochs",
                list(&self.pretrain_epochs)
            ));
        }
        parts.push(format!("backend {}", self.backend));
        parts.join(", ")
    }

    /// Bullet lines for the Provenance section.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.records.iter().map(record_line).collect();
        if out.is_empty() {
            out.push(format!(
                "**Dataset: not recorded.** No artifact of this run has a provenance record (`{}`), so what data these numbers come from is not known.",
                files::PROVENANCE_JSON
            ));
        }
        let mut profile = format!(
            "**Profile:** `{}`",
            self.profile.as_deref().unwrap_or("(none)")
        );
        if !self.pretrain_epochs.is_empty() {
            profile.push_str(&format!(
                "; pretraining epochs: {}",
                list(&self.pretrain_epochs)
            ));
        }
        if !self.pretrain_batch.is_empty() {
            profile.push_str(&format!("; batch: {}", list(&self.pretrain_batch)));
        }
        out.push(profile + ".");
        out.push(format!("**Backend:** `{}`.", self.backend));
        out
    }

    /// How this run's pretrainings fall short of the papers' scale (`scale:` in their
    /// files): epochs, batch, a subset of the clips, encoder settings. `None` when no paper
    /// records its scale, so that nothing is claimed either way.
    pub fn scale_gaps(&self, papers: &[&Paper]) -> Option<Vec<String>> {
        let scaled: Vec<_> = papers
            .iter()
            .filter_map(|p| p.scale.as_ref().map(|s| (p.short.as_str(), s)))
            .collect();
        if scaled.is_empty() {
            return None;
        }
        let mut gaps: Vec<String> = Vec::new();
        let mut add = |g: String| {
            if !gaps.contains(&g) {
                gaps.push(g);
            }
        };
        if self.pretrain_params.is_empty() {
            add("no pretraining is recorded in this run".to_string());
        }
        for (paper, scale) in scaled {
            for p in &self.pretrain_params {
                let int = |k: &str| p.get(k).and_then(Value::as_u64);
                if let Some(e) = int("epochs").filter(|e| *e < scale.pretrain_epochs) {
                    add(format!(
                        "pretraining ran {e} epochs ({paper}: {})",
                        scale.pretrain_epochs
                    ));
                }
                if let Some(b) = int("batch").filter(|b| *b != scale.batch) {
                    add(format!("batch {b} ({paper}: {})", scale.batch));
                }
                if let Some(n) = int("max_samples").filter(|n| *n > 0) {
                    add(format!(
                        "each pretraining epoch used at most {n} training clips, not all"
                    ));
                }
                let backbone = p.get("encoder").and_then(|e| e.get("backbone"));
                encoder_gaps(backbone, &scale.encoder, paper)
                    .into_iter()
                    .for_each(&mut add);
            }
        }
        Some(gaps)
    }

    /// What the synthetic records stand in for, as (`the synthetic NTU-format corpus`,
    /// `NTU RGB+D`); NTU when no record says (the synthetic NTU corpus is the default).
    fn synthetic_corpus(&self) -> (String, String) {
        let mut families: Vec<(&str, &str)> = Vec::new();
        for r in &self.records {
            if let DataOrigin::Synthetic { .. } = r.facts.origin {
                let f = if r.facts.dataset.starts_with("PKU") {
                    ("PKU-MMD", "PKU-MMD")
                } else {
                    ("NTU", "NTU RGB+D")
                };
                if !families.contains(&f) {
                    families.push(f);
                }
            }
        }
        match families.as_slice() {
            [] => ("synthetic NTU-format corpus".into(), "NTU RGB+D".into()),
            [(short, real)] => (format!("synthetic {short}-format corpus"), real.to_string()),
            many => (
                format!(
                    "synthetic {}-format corpora",
                    many.iter().map(|f| f.0).collect::<Vec<_>>().join("- and ")
                ),
                many.iter().map(|f| f.1).collect::<Vec<_>>().join(" or "),
            ),
        }
    }

    /// One warning for the top of the report, when its numbers must not be read as the
    /// paper's setting.
    pub fn callout(&self, papers: &[&Paper]) -> Option<String> {
        let names: Vec<&str> = papers.iter().map(|p| p.short.as_str()).collect();
        let not_repro = if names.is_empty() {
            String::new()
        } else {
            format!(" — not a reproduction of {}", names.join(" and "))
        };
        let profile = self
            .profile
            .as_deref()
            .map(|p| format!(", profile `{p}`"))
            .unwrap_or_default();
        let see = if names.is_empty() {
            ""
        } else {
            " See *How ours compares with the paper*."
        };
        match self.data {
            DataSource::Synthetic | DataSource::Mixed => {
                let beside = if names.is_empty() {
                    ""
                } else {
                    "; the paper's numbers stand beside them for comparison of layout and trends only"
                };
                let (corpus, real) = self.synthetic_corpus();
                Some(format!(
                    "**Synthetic data{not_repro}.** These numbers come from skelflow's {corpus}{profile}, \
                     not from {real}{beside}.{see}"
                ))
            }
            DataSource::NotRecorded => Some(format!(
                "**Data source not recorded{not_repro}.** No artifact of this run has a provenance record, so what data these numbers come from is not known.{see}"
            )),
            DataSource::Real => match self.scale_gaps(papers) {
                Some(gaps) if !gaps.is_empty() => Some(format!(
                    "**Not the paper's scale{not_repro}.** Real data, but {}.{see}",
                    gaps.join("; ")
                )),
                Some(_) => None,
                None if names.is_empty() => None,
                None => Some(format!(
                    "**Scale not checked.** Real data; the paper file{} record no scale to check this run against (`scale:` in reports/papers/), so this report does not claim the paper's scale.{see}",
                    if names.len() == 1 { " does" } else { "s do" }
                )),
            },
        }
    }

    /// Why ours differs from the papers, in plain words.
    pub fn why(&self, papers: &[&Paper]) -> Vec<String> {
        let names: Vec<&str> = papers.iter().map(|p| p.short.as_str()).collect();
        let names = if names.is_empty() {
            "the papers".to_string()
        } else {
            names.join(" and ")
        };
        let mut out = Vec::new();
        match self.data {
            DataSource::Synthetic | DataSource::Mixed => {
                let (corpus, real) = self.synthetic_corpus();
                out.push(format!(
                    "**This is not a reproduction of {names}.** The numbers come from skelflow's {corpus}, \
                     not from {real}: other (simpler, fewer) classes, subjects, cameras and far fewer samples. Absolute \
                     accuracies cannot be compared with the paper's; at most the layout and the order of the variants can."
                ))
            }
            DataSource::NotRecorded => out.push(format!(
                "The data source is not recorded (no artifact of this run has a `{}`), so it is not known what data these numbers come from: do not read them as a reproduction of {names}.",
                files::PROVENANCE_JSON
            )),
            DataSource::Real => {}
        }
        let paper_epochs: Vec<String> = papers
            .iter()
            .filter_map(|p| {
                p.setup
                    .get("pretrain_epochs")
                    .map(|e| format!("{} pretrains for {e} epochs", p.short))
            })
            .collect();
        let gaps = self.scale_gaps(papers);
        // the paper's scale only where a paper's scale data says so
        let below_scale = gaps.as_ref().is_some_and(|g| !g.is_empty());
        let at_scale = gaps.as_ref().is_some_and(Vec::is_empty);
        if below_scale || !self.pretrain_epochs.is_empty() {
            let mut s = String::new();
            if !self.pretrain_epochs.is_empty() {
                s.push_str(&format!(
                    "Pretraining ran {} epoch(s)",
                    list(&self.pretrain_epochs)
                ));
            } else {
                s.push_str("Pretraining ran the pipeline's own schedule");
            }
            if let Some(p) = &self.profile {
                s.push_str(&format!(" (profile `{p}`)"));
            }
            if !paper_epochs.is_empty() {
                s.push_str(&format!("; {}", paper_epochs.join("; ")));
            }
            s.push('.');
            if below_scale {
                s.push_str(
                    " A run below the paper's scale leaves every variant far from converged, so differences between \
                     variants that are smaller than the spread over seeds say nothing about the methods.",
                );
            }
            out.push(s);
        }
        if let Some(g) = gaps.filter(|g| !g.is_empty()) {
            out.push(format!("Not the paper's scale: {}.", g.join("; ")));
        }
        if matches!(self.data, DataSource::Real) && at_scale {
            out.push(
                "Same kind of data at the paper's scale: remaining differences come from our implementation, \
                 the backend, the seeds and the evaluation details listed under each table."
                    .to_string(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(origin: DataOrigin) -> DataFacts {
        DataFacts {
            dataset: "NTU RGB+D 60".into(),
            origin,
            files: 720,
            samples: 718,
            classes: 12,
            file_list_digest: "0123456789abcdef0123".into(),
            variant: "agcn_prenorm".into(),
            frames: 64,
        }
    }

    #[test]
    fn the_data_source_is_what_the_artifacts_recorded_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let mut run = RunRecord::new("p", tmp.path().join("p.yaml"), "flex");
        run.vars = serde_json::json!({"profile": "quick"});
        let (synth, import) = (tmp.path().join("synth"), tmp.path().join("import"));
        std::fs::create_dir_all(&synth).unwrap();
        std::fs::create_dir_all(&import).unwrap();
        let artifacts = BTreeMap::from([
            ("import".to_string(), import.clone()),
            ("synth".to_string(), synth.clone()),
        ]);
        // No record: not recorded, whatever the stages are called.
        let (p, w) = provenance(&run, &[], &artifacts);
        assert_eq!((p.data, w.len()), (DataSource::NotRecorded, 0));
        assert!(p.lines()[0].starts_with("**Dataset: not recorded.**"));
        assert!(
            p.callout(&[])
                .unwrap()
                .starts_with("**Data source not recorded.**")
        );

        // The counts are the generator's resolved ones, as recorded.
        let params = BTreeMap::from([
            ("classes".to_string(), serde_json::json!(12)),
            ("size".to_string(), serde_json::json!("quick")),
        ]);
        let synthetic = facts(DataOrigin::Synthetic {
            generator: "synth.ntu".into(),
            params,
        });
        synthetic
            .write(&import.join(files::PROVENANCE_JSON))
            .unwrap();
        let (p, _) = provenance(&run, &[], &artifacts);
        assert_eq!(p.data, DataSource::Synthetic);
        assert_eq!(
            p.lines()[0],
            "**Dataset: synthetic.** skelflow's synthetic corpus in the NTU RGB+D 60 format \
             (`synth.ntu`: classes=12, size=quick; 720 files → 718 samples, 12 classes, variant \
             agcn_prenorm, 64 frames; file list blake3 `0123456789abcdef`; recorded by `import`) \
             — not NTU RGB+D 60; not a reproduction."
        );

        // Real files: the root as the pipeline wrote it; with a synthetic record, mixed.
        let real = facts(DataOrigin::Real {
            root: "data/nturgb+d_skeletons".into(),
        });
        real.write(&synth.join(files::PROVENANCE_JSON)).unwrap();
        let (p, _) = provenance(&run, &[], &artifacts);
        assert_eq!(p.data, DataSource::Mixed);
        assert!(
            p.lines()[1].contains("real NTU RGB+D 60 files (720 files")
                && p.lines()[1]
                    .contains("root `data/nturgb+d_skeletons` as written in the pipeline"),
            "{:?}",
            p.lines()
        );
        std::fs::remove_file(import.join(files::PROVENANCE_JSON)).unwrap();
        let (p, _) = provenance(&run, &[], &artifacts);
        assert_eq!(p.data, DataSource::Real);
        // real data and no paper to check the scale against: nothing claimed
        assert_eq!(p.callout(&[]), None);

        // A record that cannot be read is a warning naming the instance, not the path.
        std::fs::write(synth.join(files::PROVENANCE_JSON), "{").unwrap();
        let (p, w) = provenance(&run, &[], &artifacts);
        assert_eq!(p.data, DataSource::NotRecorded);
        assert!(
            w[0].starts_with("`synth` provenance.json: not a provenance record"),
            "{w:?}"
        );
        assert!(!w[0].contains(&tmp.path().display().to_string()), "{w:?}");
    }

    #[test]
    fn the_callout_names_every_synthetic_format_the_run_read() {
        let synthetic = |dataset: &str, generator: &str| DataRecord {
            facts: DataFacts {
                dataset: dataset.into(),
                ..facts(DataOrigin::Synthetic {
                    generator: generator.into(),
                    params: BTreeMap::new(),
                })
            },
            instances: vec!["import".into()],
        };
        let mut p = Provenance {
            data: DataSource::Synthetic,
            records: vec![synthetic("NTU RGB+D 60", "synth.ntu")],
            profile: None,
            backend: "flex".into(),
            pretrain_epochs: BTreeSet::new(),
            pretrain_batch: BTreeSet::new(),
            pretrain_params: Vec::new(),
        };
        let text = p.callout(&[]).unwrap();
        assert!(
            text.contains("synthetic NTU-format corpus, not from NTU RGB+D."),
            "{text}"
        );
        p.records.push(synthetic("PKU-MMD I", "synth.pku"));
        let text = p.callout(&[]).unwrap();
        assert!(
            text.contains(
                "synthetic NTU- and PKU-MMD-format corpora, not from NTU RGB+D or PKU-MMD."
            ),
            "{text}"
        );
        assert!(p.why(&[])[0].contains("not from NTU RGB+D or PKU-MMD:"));
        p.records.remove(0);
        let text = p.callout(&[]).unwrap();
        assert!(
            text.contains("synthetic PKU-MMD-format corpus, not from PKU-MMD."),
            "{text}"
        );
    }
}
