//! `eval.fuse`: score-level fusion of streams — the papers' "2s-" / "3s-" rows. The
//! per-sample test scores of two or more classifier evaluations (`eval.linear`,
//! `eval.finetune`) of one test set are summed with a weight per stream, and the fused
//! scores are ranked as one classifier's. Weights: `equal` (the default), `aimclr`
//! (AimCLR's `ensemble_ntu_cs.py`: joint 0.6, bone 0.6, motion 0.4), `pyskl` (PYSKL's
//! j : b : jm : bm = 2 : 2 : 1 : 1, of which skelflow has j, b and jm = motion), or a map
//! `{joint: w, motion: w, bone: w}`. The references add raw logits; `normalize: softmax`
//! adds probabilities instead. `streams: [joint, bone]` fuses only those of the inputs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files;

use super::scores::{At, Scores, ScoresMeta, read_scores, write_scores};
use super::{extracted_benchmark, test_metric, topk_accuracy};
use crate::learn::artifact::write_metrics;
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError, Upstream};

/// The kinds whose artifact has `scores.arrow`.
pub const SCORING_KINDS: &[&str] = &["eval.linear", "eval.finetune"];

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Weights {
    /// `equal`, `aimclr` or `pyskl`.
    Preset(String),
    /// A weight per stream name.
    PerStream(BTreeMap<String, f64>),
}

skelflow_contract::deserialize_name_or!(
    Weights,
    "a weights preset or a weight per stream",
    Preset,
    PerStream
);

impl Default for Weights {
    fn default() -> Self {
        Weights::Preset("equal".into())
    }
}

impl Weights {
    /// The weight of `stream`, or why there is none.
    pub fn of(&self, stream: &str) -> Result<f64, String> {
        let table: &[(&str, f64)] = match self {
            Weights::Preset(p) => match p.as_str() {
                "equal" => return Ok(1.0),
                "aimclr" => &[("joint", 0.6), ("bone", 0.6), ("motion", 0.4)],
                "pyskl" => &[("joint", 2.0), ("bone", 2.0), ("motion", 1.0)],
                other => {
                    return Err(format!(
                        "unknown preset `{other}`: use equal, aimclr, pyskl or a map {{joint: w, motion: w, bone: w}}"
                    ));
                }
            },
            Weights::PerStream(m) => {
                return m
                    .get(stream)
                    .copied()
                    .ok_or_else(|| format!("has no weight for the stream `{stream}`"));
            }
        };
        table
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, w)| *w)
            .ok_or_else(|| format!("the preset has no weight for the stream `{stream}`"))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Add the raw scores (logits), as AimCLR and PYSKL do.
    #[default]
    None,
    /// Add per-sample softmax probabilities.
    Softmax,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FuseParams {
    /// `equal` (default), `aimclr`, `pyskl`, or `{joint: w, motion: w, bone: w}`.
    pub weights: Weights,
    /// Fuse each input's `best` (default) or `last` scores.
    pub at: At,
    pub normalize: Normalize,
    /// Fuse only the inputs of these streams (`[joint, bone]` for J+B out of a `needs` with
    /// all three); empty = every input.
    pub streams: Vec<String>,
}

impl Params for FuseParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        match &self.weights {
            Weights::Preset(_) => {
                if let Err(m) = self.weights.of("joint") {
                    e.push(ParamError::at("weights", m));
                }
            }
            Weights::PerStream(m) => {
                for (s, w) in m {
                    if !(w.is_finite() && *w >= 0.0) {
                        e.push(ParamError::new(
                            vec![
                                crate::params::PathSeg::Key("weights".into()),
                                crate::params::PathSeg::Key(s.clone()),
                            ],
                            format!("{w} is not a weight ≥ 0"),
                        ));
                    }
                }
                if m.values().all(|w| *w == 0.0) {
                    e.push(ParamError::at("weights", "every weight is 0"));
                }
            }
        }
        if self.streams.len() == 1 {
            e.push(ParamError::at(
                "streams",
                "fusion needs two or more streams (or none: all inputs)",
            ));
        }
        e
    }
}

/// The benchmark an upstream classifier evaluation scores.
fn scored_benchmark(u: &Upstream) -> Option<&str> {
    match u.kind.as_str() {
        "eval.linear" => extracted_benchmark(&u.inputs),
        _ => u.param("benchmark").and_then(|v| v.as_str()),
    }
}

/// `eval.fuse`.
pub struct EvalFuse;

impl Kind for EvalFuse {
    type Params = FuseParams;
    const NAME: &'static str = "eval.fuse";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "score-level fusion of classifier evaluations of several streams (weights equal | aimclr | pyskl | per stream); top-1/top-5";

    fn check_inputs(&self, _p: &FuseParams, inputs: &[Upstream]) -> Vec<ParamError> {
        let scoring: Vec<&Upstream> = inputs
            .iter()
            .filter(|u| SCORING_KINDS.contains(&u.kind.as_str()))
            .collect();
        let mut e = Vec::new();
        if scoring.len() < 2 || scoring.len() != inputs.len() {
            e.push(
                ParamError::new(
                    vec![],
                    format!(
                        "fuses the scores of two or more classifier evaluations ({}), and `needs` has {} of them among {} inputs",
                        SCORING_KINDS.join(", "),
                        scoring.len(),
                        inputs.len()
                    ),
                )
                .with_hint("`needs: [linear_joint, linear_motion, linear_bone]`, paired by `matrix:`"),
            );
            return e;
        }
        let benchmarks: Vec<(&str, &str)> = scoring
            .iter()
            .filter_map(|u| Some((u.instance.as_str(), scored_benchmark(u)?)))
            .collect();
        if let Some((first, b0)) = benchmarks.first()
            && let Some((other, b)) = benchmarks.iter().find(|(_, b)| b != b0)
        {
            e.push(
                ParamError::new(
                    vec![],
                    format!("`{first}` is scored on `{b0}` but `{other}` on `{b}`: fusion adds scores of one test set"),
                )
                .with_hint("fuse evaluations of the same benchmark (pair them with `matrix:`)"),
            );
        }
        e
    }

    fn run(&self, ctx: &StageContext, p: FuseParams) -> Result<(), StageError> {
        let mut inputs = Vec::new();
        for input in &ctx.inputs {
            if !input.dir.join(files::SCORES_ARROW).is_file() {
                return Err(StageError::input(format!(
                    "`{}` has no per-sample scores (scores.arrow): fuse the outputs of eval.linear or eval.finetune",
                    input.instance
                )));
            }
            let (meta, scores) = read_scores(&input.dir)?;
            if p.streams.is_empty() || p.streams.contains(&meta.stream) {
                inputs.push((input.instance.as_str(), meta, scores));
            }
        }
        if let Some(missing) = p
            .streams
            .iter()
            .find(|s| !inputs.iter().any(|(_, m, _)| &m.stream == *s))
        {
            return Err(StageError::param(
                "streams",
                format!(
                    "no input scores the stream `{missing}` (the inputs: {})",
                    ctx.inputs
                        .iter()
                        .map(|i| i.instance.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let Some((name0, meta0, s0)) = inputs.first() else {
            return Err(StageError::input("nothing to fuse: `needs` is empty"));
        };
        for (name, meta, s) in &inputs[1..] {
            if meta.benchmark != meta0.benchmark {
                return Err(StageError::input(format!(
                    "`{name0}` scores `{}` but `{name}` scores `{}`: fusion adds scores of one test set",
                    meta0.benchmark, meta.benchmark
                )));
            }
            if s.index != s0.index || s.label != s0.label || s.classes != s0.classes {
                return Err(StageError::input(format!(
                    "`{name0}` and `{name}` scored different test sets ({} vs {} samples, {} vs {} classes, or other samples or labels): fuse evaluations of one imported dataset",
                    s0.index.len(),
                    s.index.len(),
                    s0.classes,
                    s.classes
                )));
            }
        }
        let classes = s0.classes;
        let mut fused = vec![0f32; s0.index.len() * classes];
        let mut streams = Vec::new();
        let mut weights = Vec::new();
        for (name, meta, s) in &inputs {
            let w = p.weights.of(&meta.stream).map_err(|m| {
                StageError::param("weights", format!("{m} (the stream of `{name}`)"))
            })?;
            let scores = s.at(p.at);
            for (row, out) in scores.chunks(classes).zip(fused.chunks_mut(classes)) {
                add_row(out, row, w as f32, p.normalize);
            }
            streams.push(meta.stream.clone());
            weights.push(w);
        }
        let stream = stream_label(&streams);
        let top1 = topk_accuracy(&fused, classes, &s0.label, 1);
        let top5 = topk_accuracy(&fused, classes, &s0.label, 5);
        let mut protocols: Vec<&str> = inputs.iter().map(|(_, m, _)| m.protocol.as_str()).collect();
        protocols.sort_unstable();
        protocols.dedup();
        let protocol = protocols.join("+");
        let fraction = {
            let mut f: Vec<&Option<String>> =
                inputs.iter().map(|(_, m, _)| &m.label_fraction).collect();
            f.dedup();
            match f.as_slice() {
                [Some(one)] => Some(one.clone()),
                _ => None,
            }
        };
        let at = p.at.name();
        let row = |metric: &str, value: f64| {
            test_metric(metric, value, &protocol, at, fraction.as_deref())
                .with("stream", stream.as_str())
                .with("streams", inputs.len() as i64)
        };
        write_metrics(
            &ctx.out_dir.join(files::METRICS_JSON),
            vec![row("top1", top1), row("top5", top5)],
        )?;
        ctx.progress(
            1,
            1,
            &format!("{stream}: top1 {top1:.2} (weights {weights:?})"),
        );
        write_scores(
            &ctx.out_dir,
            &ScoresMeta {
                benchmark: meta0.benchmark.clone(),
                stream,
                classes,
                protocol,
                best_epoch: 0,
                last_epoch: 0,
                label_fraction: fraction,
            },
            &Scores {
                index: s0.index.clone(),
                label: s0.label.clone(),
                classes,
                best: fused.clone(),
                last: fused,
            },
        )
    }
}

fn add_row(out: &mut [f32], row: &[f32], w: f32, normalize: Normalize) {
    match normalize {
        Normalize::None => {
            for (o, x) in out.iter_mut().zip(row) {
                *o += w * x;
            }
        }
        Normalize::Softmax => {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
            let sum: f32 = exp.iter().sum();
            for (o, e) in out.iter_mut().zip(exp) {
                *o += w * e / sum;
            }
        }
    }
}

/// `joint+motion+bone`: the fused streams in that order (the papers' J+M+B), each once.
pub fn stream_label(streams: &[String]) -> String {
    let order = |s: &str| match s {
        "joint" => 0,
        "motion" => 1,
        "bone" => 2,
        _ => 3,
    };
    let mut v: Vec<&str> = streams.iter().map(|s| s.as_str()).collect();
    v.sort_by_key(|s| (order(s), s.to_string()));
    v.dedup();
    v.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_weigh_streams_by_name() {
        let aim = Weights::Preset("aimclr".into());
        assert_eq!(
            (aim.of("joint"), aim.of("bone"), aim.of("motion")),
            (Ok(0.6), Ok(0.6), Ok(0.4))
        );
        let py = Weights::Preset("pyskl".into());
        assert_eq!((py.of("joint"), py.of("motion")), (Ok(2.0), Ok(1.0)));
        assert!(Weights::Preset("nope".into()).of("joint").is_err());
        let map = Weights::PerStream(BTreeMap::from([("joint".into(), 1.0)]));
        assert!(map.of("bone").unwrap_err().contains("`bone`"));
        assert_eq!(
            stream_label(&["bone".into(), "joint".into(), "motion".into()]),
            "joint+motion+bone"
        );
    }

    #[test]
    fn softmax_rows_add_probabilities() {
        let mut out = vec![0.0; 2];
        add_row(&mut out, &[0.0, 0.0], 2.0, Normalize::Softmax);
        assert_eq!(out, vec![1.0, 1.0]);
    }
}
