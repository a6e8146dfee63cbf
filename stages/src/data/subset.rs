//! `data.subset`: the labelled part of a semi-supervised evaluation — the indices (into a
//! benchmark's train part) of the samples whose labels may be used, with the strategy,
//! ratio and seed that chose them (`subset.json`). Each reference code base draws it its
//! own way (ML-FACTS §7.3):
//!
//! - `per_class` (AimCLR / ActCLR `Feeder_semi`): per class, in order of first appearance,
//!   `round(ratio · n_c)` samples drawn without replacement; Python's `round` (half to
//!   even). A class whose share rounds to 0 keeps no sample, as the reference does
//!   (`subset.json` lists those classes).
//! - `global` (CMD / A²MC `random_select_data`): shuffle all N, keep the first
//!   `int(N · ratio)`, whatever their classes.
//! - `per_class_first` (AS-CAL): the first `int(ratio · N / C)` samples of each class in
//!   file order — deterministic, the seed plays no part.
//!
//! The draws use skelflow's seeded RNG, not Python's, so the same seed picks other samples
//! than the reference; sizes follow the formulas exactly. A subset with no sample at all is
//! an error (raise the ratio).

use std::collections::HashSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files::SUBSET_JSON;

use crate::learn::artifact::write_json;
use crate::learn::data::derive_seed;
use crate::learn::dataset::open_splits;
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError, Upstream};

/// How the labelled samples are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Per class, `round(ratio · n_c)` at random (AimCLR / ActCLR).
    #[default]
    PerClass,
    /// The first `int(N · ratio)` of a shuffle of all samples (CMD / A²MC).
    Global,
    /// The first `int(ratio · N / C)` of each class in file order (AS-CAL).
    PerClassFirst,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::PerClass => "per_class",
            Strategy::Global => "global",
            Strategy::PerClassFirst => "per_class_first",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SubsetParams {
    /// Benchmark whose train part the subset is drawn from, e.g. `ntu60-xsub`.
    pub benchmark: String,
    /// `per_class` (AimCLR / ActCLR), `global` (CMD / A²MC) or `per_class_first` (AS-CAL).
    pub strategy: Strategy,
    /// Fraction of the labels kept, in (0, 1].
    pub ratio: f64,
}

impl Default for SubsetParams {
    fn default() -> Self {
        SubsetParams {
            benchmark: "ntu60-xsub".into(),
            strategy: Strategy::PerClass,
            ratio: 0.1,
        }
    }
}

impl Params for SubsetParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.benchmark.trim().is_empty() {
            e.push(ParamError::at("benchmark", "is required"));
        }
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            e.push(
                ParamError::at("ratio", format!("{} is outside (0, 1]", self.ratio))
                    .with_hint("a fraction of the labels: 0.01 for 1 %, 0.1 for 10 %"),
            );
        }
        e
    }
}

/// `subset.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subset {
    pub benchmark: String,
    pub strategy: Strategy,
    pub ratio: f64,
    /// The stage seed the draw used (`per_class_first` uses none).
    pub seed: u64,
    /// Samples in the benchmark's train part, and its classes.
    pub train: usize,
    pub classes: usize,
    /// Samples kept per class id.
    pub per_class: Vec<usize>,
    /// Classes present in the train part that kept no sample (their share rounded to 0).
    pub classes_without_samples: Vec<usize>,
    /// Indices into the train part, ascending.
    pub indices: Vec<usize>,
}

impl Subset {
    /// The ratio as the reports' `label_fraction` dimension (`0.01`, `0.1`).
    pub fn label_fraction(&self) -> String {
        format!("{}", self.ratio)
    }
}

/// Choose the subset of `labels` (one per train sample, classes `0..classes`).
pub fn choose(
    labels: &[usize],
    classes: usize,
    strategy: Strategy,
    ratio: f64,
    seed: u64,
) -> Result<Vec<usize>, String> {
    let n = labels.len();
    // classes in order of first appearance, each with its samples in file order
    let mut order: Vec<usize> = Vec::new();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); classes.max(1)];
    for (i, &l) in labels.iter().enumerate() {
        if l >= members.len() {
            members.resize(l + 1, Vec::new());
        }
        if members[l].is_empty() {
            order.push(l);
        }
        members[l].push(i);
    }
    let mut kept: Vec<usize> = match strategy {
        Strategy::PerClass => order
            .iter()
            .flat_map(|&c| {
                let k = (ratio * members[c].len() as f64).round_ties_even() as usize;
                let mut pool = members[c].clone();
                let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[0x5b5e, c as u64]));
                pool.shuffle(&mut rng);
                pool.truncate(k);
                pool
            })
            .collect(),
        Strategy::Global => {
            let mut all: Vec<usize> = (0..n).collect();
            all.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(seed, &[0x5b5e])));
            all.truncate((n as f64 * ratio).floor() as usize);
            all
        }
        Strategy::PerClassFirst => {
            let per = (ratio * n as f64 / classes.max(1) as f64).floor() as usize;
            order
                .iter()
                .flat_map(|&c| members[c].iter().take(per).copied())
                .collect()
        }
    };
    if kept.is_empty() {
        let formula = match strategy {
            Strategy::PerClass => "round(ratio · n_c) is 0 for every class".to_string(),
            Strategy::Global => format!("int({n} · {ratio}) = 0"),
            Strategy::PerClassFirst => format!("int({ratio} · {n} / {classes}) = 0"),
        };
        return Err(format!(
            "ratio {ratio} of {n} training samples keeps none ({formula}): raise `ratio`"
        ));
    }
    kept.sort_unstable();
    Ok(kept)
}

/// `data.subset`.
pub struct DataSubset;

impl Kind for DataSubset {
    type Params = SubsetParams;
    const NAME: &'static str = "data.subset";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "a labelled subset of a benchmark's train part (per_class | global | per_class_first) for semi-supervised evaluation";

    fn canonical(&self, mut p: SubsetParams) -> Result<SubsetParams, Vec<ParamError>> {
        p.benchmark = p.benchmark.trim().to_string();
        Ok(p)
    }

    fn run(&self, ctx: &StageContext, p: SubsetParams) -> Result<(), StageError> {
        let splits = open_splits(ctx, &p.benchmark)?;
        let train = splits.train.as_ref();
        let labels: Vec<usize> = (0..train.len()).map(|i| train.label(i)).collect();
        let classes = train.num_classes();
        let indices = choose(&labels, classes, p.strategy, p.ratio, ctx.seed)
            .map_err(|m| StageError::param("ratio", m))?;
        let mut per_class = vec![0; classes];
        for &i in &indices {
            per_class[labels[i]] += 1;
        }
        let present: HashSet<usize> = labels.iter().copied().collect();
        let mut classes_without_samples: Vec<usize> = present
            .into_iter()
            .filter(|&c| per_class.get(c).copied().unwrap_or(0) == 0)
            .collect();
        classes_without_samples.sort_unstable();
        if !classes_without_samples.is_empty() {
            eprintln!(
                "note: {} of {} classes keep no labelled sample at ratio {} ({}): as the reference does",
                classes_without_samples.len(),
                classes,
                p.ratio,
                p.strategy.name()
            );
        }
        let subset = Subset {
            benchmark: p.benchmark.clone(),
            strategy: p.strategy,
            ratio: p.ratio,
            seed: if p.strategy == Strategy::PerClassFirst {
                0
            } else {
                ctx.seed
            },
            train: labels.len(),
            classes,
            per_class,
            classes_without_samples,
            indices,
        };
        ctx.progress(
            1,
            1,
            &format!("{} of {} samples", subset.indices.len(), subset.train),
        );
        write_json(&ctx.out_dir.join(SUBSET_JSON), &subset)
    }
}

/// The subset among the stage's inputs, if any (at most one).
pub fn read_subset(ctx: &StageContext) -> Result<Option<Subset>, StageError> {
    let found: Vec<_> = ctx
        .inputs
        .iter()
        .filter(|i| i.dir.join(SUBSET_JSON).is_file())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => {
            let p = one.dir.join(SUBSET_JSON);
            let text = std::fs::read_to_string(&p).at("read", &p)?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StageError::bad_file(&p, format!("not a subset: {e}")))
        }
        many => Err(StageError::input(format!(
            "several labelled subsets in `needs` ({}): keep one",
            many.iter()
                .map(|i| i.instance.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Refuse a subset drawn from another benchmark or another train part than the one this
/// stage trains on (its indices would point at other samples).
pub fn check_subset_fits(
    subset: &Subset,
    benchmark: &str,
    train_len: usize,
) -> Result<(), StageError> {
    if subset.benchmark != benchmark || subset.train != train_len {
        return Err(StageError::input(format!(
            "the labelled subset was drawn from {} ({} training samples) but this stage trains on {benchmark} ({train_len}): give the `data.subset` the same benchmark and import",
            subset.benchmark, subset.train
        )));
    }
    Ok(())
}

const DATASET_KINDS: &[&str] = &["ntu.import", "pku.import"];

/// The dataset instances a stage reads, through any chain of upstreams.
fn datasets_of(inputs: &[Upstream]) -> Vec<&str> {
    let mut v: Vec<&str> = Upstream::all(inputs)
        .into_iter()
        .filter(|u| DATASET_KINDS.contains(&u.kind.as_str()))
        .map(|u| u.instance.as_str())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A consumer's pre-run check of the `data.subset` it needs: one at most, of the same
/// benchmark (`benchmark`, set by the consumer's param `param`, or by an upstream when
/// `param` is empty) and the same imported dataset as its other inputs.
pub fn check_subset_inputs(
    benchmark: Option<&str>,
    param: &str,
    inputs: &[Upstream],
) -> Vec<ParamError> {
    let (subsets, others): (Vec<&Upstream>, Vec<&Upstream>) =
        inputs.iter().partition(|u| u.kind == DataSubset::NAME);
    let mut e = Vec::new();
    match subsets.as_slice() {
        [] => {}
        [s] => {
            let theirs = s.param("benchmark").and_then(|v| v.as_str());
            if let (Some(ours), Some(theirs)) = (benchmark, theirs)
                && ours != theirs
            {
                let path = if param.is_empty() {
                    vec![]
                } else {
                    vec![crate::params::PathSeg::Key(param.to_string())]
                };
                e.push(
                    ParamError::new(
                        path,
                        format!(
                            "this stage trains on `{ours}` but the labelled subset `{}` is of `{theirs}`",
                            s.instance
                        ),
                    )
                    .with_hint("give the `data.subset` the benchmark this stage trains on"),
                );
            }
            let sub_data = datasets_of(&s.inputs);
            let others: Vec<Upstream> = others.into_iter().cloned().collect();
            let our_data = datasets_of(&others);
            if !sub_data.is_empty()
                && !our_data.is_empty()
                && !sub_data.iter().any(|d| our_data.contains(d))
            {
                e.push(
                    ParamError::new(
                        vec![],
                        format!(
                            "the labelled subset `{}` is drawn from the dataset `{}` but this stage reads `{}`",
                            s.instance,
                            sub_data.join("`, `"),
                            our_data.join("`, `")
                        ),
                    )
                    .with_hint("make the `data.subset` need the same import stage"),
                );
            }
        }
        many => e.push(
            ParamError::new(
                vec![],
                format!(
                    "`needs` has several labelled subsets ({}); which to train on is ambiguous",
                    many.iter()
                        .map(|u| format!("`{}`", u.instance))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_hint("pair each evaluation with one subset (`matrix:`)"),
        ),
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(kept: &[usize], labels: &[usize], c: usize) -> usize {
        kept.iter().filter(|&&i| labels[i] == c).count()
    }

    #[test]
    fn per_class_keeps_rounded_shares_half_to_even() {
        // class 0: 25 samples, class 1: 15, class 2: 1, class 3: 5
        let mut labels = vec![0; 25];
        labels.extend(vec![1; 15]);
        labels.push(2);
        labels.extend(vec![3; 5]);
        let kept = choose(&labels, 4, Strategy::PerClass, 0.1, 7).unwrap();
        // round(2.5) = 2, round(1.5) = 2, round(0.1) = 0, round(0.5) = 0 (Python's round)
        assert_eq!(
            (0..4).map(|c| count(&kept, &labels, c)).collect::<Vec<_>>(),
            vec![2, 2, 0, 0]
        );
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        let other = choose(&labels, 4, Strategy::PerClass, 0.1, 8).unwrap();
        assert_eq!(other.len(), kept.len());
        assert_eq!(
            kept,
            choose(&labels, 4, Strategy::PerClass, 0.1, 7).unwrap()
        );
    }

    #[test]
    fn global_keeps_the_floor_of_n_times_ratio() {
        // 100 · 0.57 = 56.99999999999999 in f64: int() gives 56, as in Python
        let hundred: Vec<usize> = (0..100).map(|i| i % 10).collect();
        assert_eq!(
            choose(&hundred, 10, Strategy::Global, 0.57, 0)
                .unwrap()
                .len(),
            56
        );
        let labels: Vec<usize> = (0..1000).map(|i| i % 60).collect();
        assert_eq!(
            choose(&labels, 60, Strategy::Global, 0.05, 0)
                .unwrap()
                .len(),
            50
        );
        assert_eq!(
            choose(&labels, 60, Strategy::Global, 1.0, 0).unwrap().len(),
            1000
        );
        let err = choose(&labels, 60, Strategy::Global, 0.0009, 0).unwrap_err();
        assert!(err.contains("int(1000 · 0.0009) = 0"), "{err}");
    }

    #[test]
    fn per_class_first_takes_the_first_of_each_class_in_file_order() {
        // 120 samples, 6 classes: int(0.1 · 120 / 6) = 2 per class, the first two of each
        let labels: Vec<usize> = (0..120).map(|i| (i / 3) % 6).collect();
        let kept = choose(&labels, 6, Strategy::PerClassFirst, 0.1, 99).unwrap();
        assert_eq!(kept, vec![0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16]);
        // a class with one sample gives what it has
        let mut labels = vec![0; 30];
        labels.push(1);
        let kept = choose(&labels, 2, Strategy::PerClassFirst, 0.2, 0).unwrap();
        assert_eq!((count(&kept, &labels, 0), count(&kept, &labels, 1)), (3, 1));
        assert!(choose(&labels, 2, Strategy::PerClassFirst, 0.01, 0).is_err());
    }

    #[test]
    fn a_ratio_outside_the_unit_interval_is_refused() {
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            let p = SubsetParams {
                ratio: bad,
                ..SubsetParams::default()
            };
            let e = p.validate();
            assert!(e.iter().any(|e| e.path_string() == "ratio"), "{bad}: {e:?}");
        }
    }
}
