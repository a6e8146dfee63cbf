//! Where the numbers of a run come from (dataset, profile, backend, schedule), read from
//! the run record, and the plain-words statement of how they compare with the paper.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use skelflow_cache::RunRecord;

use crate::papers::Paper;

/// The data a run's results were computed on.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// Only skelflow's synthetic NTU-format corpus; its `synth.ntu` params.
    Synthetic { params: Vec<String> },
    /// Real dataset files at these roots (as written in the pipeline).
    Real { roots: Vec<String> },
    /// Both in one run.
    Mixed {
        params: Vec<String>,
        roots: Vec<String>,
    },
    /// No dataset import in the run record.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub data: DataSource,
    pub profile: Option<String>,
    pub backend: String,
    /// `epochs` params of the pretraining instances.
    pub pretrain_epochs: BTreeSet<i64>,
    pub pretrain_batch: BTreeSet<i64>,
}

/// `artifacts`: instance id → artifact dir, to read what a `synth.ntu` stage resolved its
/// size to (`synth.json`).
pub fn provenance(
    run: &RunRecord,
    pretrain_kinds: &[String],
    artifacts: &BTreeMap<String, PathBuf>,
) -> Provenance {
    let mut synth_params = BTreeSet::new();
    let mut roots = BTreeSet::new();
    let mut epochs = BTreeSet::new();
    let mut batch = BTreeSet::new();
    for inst in &run.instances {
        let params = &inst.components.params;
        if inst.kind == "synth.ntu" {
            let plan = artifacts
                .get(&inst.id)
                .and_then(|dir| synth_plan(&dir.join("synth.json")));
            synth_params.insert(match plan {
                Some(plan) => format!("{plan}; {}", compact(&drop_counts(params))),
                None => compact(params),
            });
        }
        if inst.kind.ends_with(".import") {
            let from_synth = inst
                .components
                .inputs
                .iter()
                .any(|(kind, _)| kind == "synth.ntu");
            if !from_synth {
                match params.get("root") {
                    Some(Value::String(r)) => {
                        roots.insert(r.clone());
                    }
                    _ => {
                        roots.extend(inst.components.externals.iter().map(|(p, _)| p.clone()));
                    }
                }
            }
        }
        if pretrain_kinds.contains(&inst.kind) {
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
    }
    let params: Vec<String> = synth_params.into_iter().collect();
    let roots: Vec<String> = roots.into_iter().collect();
    let data = match (params.is_empty(), roots.is_empty()) {
        (false, true) => DataSource::Synthetic { params },
        (true, false) => DataSource::Real { roots },
        (false, false) => DataSource::Mixed { params, roots },
        (true, true) => DataSource::Unknown,
    };
    let profile = run
        .vars
        .get("profile")
        .and_then(Value::as_str)
        .map(str::to_string);
    Provenance {
        data,
        profile,
        backend: run.backend.clone(),
        pretrain_epochs: epochs,
        pretrain_batch: batch,
    }
}

/// The counts a synthetic corpus was generated with, as its `synth.json` records them
/// (the params say 0 for "the size's default").
fn synth_plan(path: &std::path::Path) -> Option<String> {
    let info: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let plan = info.get("plan")?;
    let count = |k: &str| plan.get(k).and_then(Value::as_u64);
    let sessions = plan.get("sessions").and_then(Value::as_array).map(Vec::len);
    Some(format!(
        "{} classes, {} subjects, {} setups, {} sessions, {} files",
        count("classes")?,
        count("subjects")?,
        count("setups")?,
        sessions?,
        info.get("files").and_then(Value::as_u64)?
    ))
}

/// Params without the counts that [`synth_plan`] states resolved.
fn drop_counts(params: &Value) -> Value {
    let mut p = params.clone();
    if let Value::Object(m) = &mut p {
        for k in ["classes", "subjects", "setups", "sessions"] {
            m.remove(k);
        }
    }
    p
}

fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "defaults".to_string(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => scalar(other),
    }
}

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
    /// A few words for captions: `synthetic data, profile quick, 3 pretraining epochs`.
    pub fn short(&self) -> String {
        let mut parts = vec![match &self.data {
            DataSource::Synthetic { .. } => "skelflow's synthetic data".to_string(),
            DataSource::Mixed { .. } => "synthetic and real data".to_string(),
            DataSource::Real { .. } => "real data".to_string(),
            DataSource::Unknown => "unknown data".to_string(),
        }];
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
        let mut out = Vec::new();
        out.push(match &self.data {
            DataSource::Synthetic { params } => format!(
                "**Dataset: synthetic.** skelflow's built-in NTU-format corpus (`synth.ntu`: {}), not NTU RGB+D.",
                params.join("; ")
            ),
            DataSource::Real { roots } => format!("**Dataset: real files** from {}.", roots.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")),
            DataSource::Mixed { params, roots } => format!(
                "**Dataset: mixed** — synthetic (`synth.ntu`: {}) and real files from {}.",
                params.join("; "),
                roots.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
            ),
            DataSource::Unknown => "**Dataset: unknown** — the run has no dataset import stage.".to_string(),
        });
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
        match &self.data {
            DataSource::Synthetic { .. } | DataSource::Mixed { .. } => {
                let beside = if names.is_empty() {
                    ""
                } else {
                    "; the paper's numbers stand beside them for comparison of layout and trends only"
                };
                Some(format!(
                    "**Synthetic data{not_repro}.** These numbers come from skelflow's synthetic NTU-format corpus{profile}, \
                     not from NTU RGB+D{beside}.{see}"
                ))
            }
            DataSource::Unknown => Some(format!(
                "**Unknown data{not_repro}.** The run record names no dataset import.{see}"
            )),
            DataSource::Real { .. } if self.profile.as_deref().is_some_and(|p| p != "paper") => {
                Some(format!(
                    "**Short schedule{not_repro}.** Real data, but{} not the paper's training schedule.{see}",
                    profile.trim_start_matches(',')
                ))
            }
            DataSource::Real { .. } => None,
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
        match &self.data {
            DataSource::Synthetic { .. } | DataSource::Mixed { .. } => out.push(format!(
                "**This is not a reproduction of {names}.** The numbers come from skelflow's synthetic NTU-format corpus, \
                 not from NTU RGB+D: other (simpler, fewer) classes, subjects, cameras and far fewer samples. Absolute \
                 accuracies cannot be compared with the paper's; at most the layout and the order of the variants can."
            )),
            DataSource::Unknown => out.push(format!(
                "The run record names no dataset import, so it is not known what data these numbers come from: do not read them as a reproduction of {names}."
            )),
            DataSource::Real { .. } => {}
        }
        let paper_epochs: Vec<String> = papers
            .iter()
            .filter_map(|p| {
                p.setup
                    .get("pretrain_epochs")
                    .map(|e| format!("{} pretrains for {e} epochs", p.short))
            })
            .collect();
        let short_schedule = self.profile.as_deref().is_some_and(|p| p != "paper");
        if short_schedule || !self.pretrain_epochs.is_empty() {
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
            if short_schedule {
                s.push_str(
                    " A schedule this short leaves every variant far from converged, so differences between \
                     variants that are smaller than the spread over seeds say nothing about the methods.",
                );
            }
            out.push(s);
        }
        if matches!(self.data, DataSource::Real { .. }) && !short_schedule {
            out.push(
                "Same kind of data and the paper-scale profile: remaining differences come from our implementation, \
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

    #[test]
    fn synth_counts_come_from_the_artifact_not_the_zero_params() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synth.json");
        std::fs::write(
            &path,
            r#"{"kind":"synth.ntu","seed":0,"files":720,
                "plan":{"classes":12,"subjects":10,"setups":2,"replications":2,
                        "sessions":[[1,1],[1,2],[2,3]]}}"#,
        )
        .unwrap();
        assert_eq!(
            synth_plan(&path).unwrap(),
            "12 classes, 10 subjects, 2 setups, 3 sessions, 720 files"
        );
        let params = serde_json::json!({"size": "quick", "classes": 0, "noise": 0.012});
        assert_eq!(compact(&drop_counts(&params)), "noise=0.012, size=quick");
        assert_eq!(synth_plan(&dir.path().join("absent.json")), None);
    }
}
