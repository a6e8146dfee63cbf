//! `eval.segment`: action segmentation scored over frames (ActCLR Table 6). Its inputs are a
//! classifier evaluation (`eval.linear` on frozen features — the paper's protocol — or
//! `eval.finetune`, `eval.fuse`) of the windows of untrimmed videos, and the windowed
//! `pku.import` those windows come from (`windows: {length, stride}`). Each test window's
//! highest-scoring class becomes the prediction of the frames nearest its centre; every
//! frame of every test video is then scored: ACC, MACC, FWIoU, mIoU (FCN's definitions,
//! `data::segments::frame_scores`), background frames included as a class.
//!
//! The paper gives no code for this protocol: the windowing (a classifier of window
//! features, each window labelled by its centre frame) is skelflow's reconstruction, and
//! the report says so.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::metrics::dims;
use skelflow_contract::{MetricRow, files};

use super::fuse::SCORING_KINDS;
use super::scores::{At, read_scores};
use crate::data::segments::{Segments, frame_scores};
use crate::data::{Dataset, Part};
use crate::learn::artifact::{write_json, write_metrics};
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError, Upstream};

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentParams {
    /// Score the classifier's `best` (default) or `last` epoch.
    pub at: At,
}

impl Params for SegmentParams {}

/// The kinds whose scores can be spread over frames.
fn scores_windows(kind: &str) -> bool {
    SCORING_KINDS.contains(&kind) || kind == "eval.fuse"
}

/// A windowed `pku.import`.
fn is_windowed_import(u: &Upstream) -> bool {
    u.kind == "pku.import" && u.param("windows").is_some_and(|w| !w.is_null())
}

/// `eval.segment`.
pub struct EvalSegment;

impl Kind for EvalSegment {
    type Params = SegmentParams;
    const NAME: &'static str = "eval.segment";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "action segmentation: a classifier's scores of untrimmed videos' windows (pku.import `windows`) spread over frames; ACC, MACC, FWIoU, mIoU";

    fn check_inputs(&self, _p: &SegmentParams, inputs: &[Upstream]) -> Vec<ParamError> {
        let mut e = Vec::new();
        let scoring = inputs.iter().filter(|u| scores_windows(&u.kind)).count();
        if scoring != 1 {
            e.push(
                ParamError::new(
                    vec![],
                    format!(
                        "scores the frames of one classifier evaluation (eval.linear, eval.finetune or eval.fuse), and `needs` has {scoring}"
                    ),
                )
                .with_hint("`needs: [linear, windows]`: the eval.linear of the windows' features and the windowed pku.import"),
            );
        }
        if !inputs.iter().any(is_windowed_import) {
            e.push(
                ParamError::new(
                    vec![],
                    "needs the `pku.import` with `windows: {length, stride}` whose windows were classified: it knows each window's frames and the frame labels",
                )
                .with_hint("add that stage to `needs`"),
            );
        }
        e
    }

    fn run(&self, ctx: &StageContext, p: SegmentParams) -> Result<(), StageError> {
        let scored = ctx
            .inputs
            .iter()
            .find(|i| scores_windows(&i.kind))
            .ok_or_else(|| StageError::input("no classifier evaluation in `needs`"))?;
        let windows = ctx.input_with_file(files::SEGMENTS_JSON)?;
        let (meta, scores) = read_scores(&scored.dir)?;
        let segments = Segments::read(&windows.dir)?;
        if scores.classes != segments.classes {
            return Err(StageError::input(format!(
                "`{}` scores {} classes but the windows of `{}` have {} (with background): classify the windows' features with the dataset's class count",
                scored.instance, scores.classes, windows.instance, segments.classes
            )));
        }
        let test = Dataset::open(&windows.dir)?.split(&meta.benchmark, Part::Test)?;
        let classes = scores.classes;
        let rows = scores.at(p.at);
        // the predicted class of each frame of each scored video
        let mut predicted: BTreeMap<usize, Vec<Option<usize>>> = BTreeMap::new();
        for (r, &pos) in scores.index.iter().enumerate() {
            let window = test
                .get(pos)
                .and_then(|&sample| segments.windows.get(sample))
                .ok_or_else(|| {
                    StageError::input(format!(
                        "`{}` scores test sample {pos}, which the windows of `{}` do not have: its scores are of another dataset",
                        scored.instance, windows.instance
                    ))
                })?;
            let row = &rows[r * classes..(r + 1) * classes];
            let class = (0..classes)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            let frames = predicted
                .entry(window.video)
                .or_insert_with(|| vec![None; segments.videos[window.video].frames]);
            for f in &mut frames[window.own_start..window.own_end] {
                *f = Some(class);
            }
        }
        let (mut truth, mut guess) = (Vec::new(), Vec::new());
        for (&v, frames) in &predicted {
            let video = &segments.videos[v];
            if let Some(gap) = frames.iter().position(Option::is_none) {
                return Err(StageError::input(format!(
                    "frame {gap} of video `{}` has no scored window: `{}` did not score every window of the test videos",
                    video.name, scored.instance
                )));
            }
            truth.extend(video.frame_labels(segments.background));
            guess.extend(frames.iter().map(|f| f.expect("checked")));
        }
        let s = frame_scores(&truth, &guess, classes);
        let at = p.at.name();
        let classifier = meta.protocol.split('-').next().unwrap_or("linear");
        let protocol = format!("segmentation-{classifier}");
        let row = |metric: &str, value: f64| {
            MetricRow::new(metric, value)
                .with(dims::PROTOCOL, protocol.as_str())
                .with(dims::AT, at)
                .with(dims::SPLIT, "test")
                .with("classifier", meta.protocol.as_str())
                .with("stream", meta.stream.as_str())
                .with("benchmark", meta.benchmark.as_str())
        };
        write_metrics(
            &ctx.out_dir.join(files::METRICS_JSON),
            vec![
                row("acc", s.acc),
                row("macc", s.macc),
                row("fwiou", s.fwiou),
                row("miou", s.miou),
            ],
        )?;
        write_json(
            &ctx.out_dir.join("segmentation.json"),
            &serde_json::json!({
                "benchmark": meta.benchmark, "stream": meta.stream, "classifier": meta.protocol,
                "videos": predicted.len(), "frames": truth.len(), "classes": classes,
                "background": segments.background, "window": segments.window,
                "acc": s.acc, "macc": s.macc, "fwiou": s.fwiou, "miou": s.miou,
            }),
        )?;
        ctx.progress(
            1,
            1,
            &format!(
                "{} frames of {} videos: ACC {:.2} MACC {:.2} FWIoU {:.2} mIoU {:.2}",
                truth.len(),
                predicted.len(),
                s.acc,
                s.macc,
                s.fwiou,
                s.miou
            ),
        );
        Ok(())
    }
}
