//! Untrimmed videos cut into overlapping windows, for frame-level evaluation (action
//! segmentation, ActCLR Table 6). `pku.import` with `windows: {length, stride}` stores each
//! window as a sample (its label: the class of its centre frame, or `background` between
//! actions) and writes `segments.json`: every video's frame count and labelled actions, and
//! for every sample the frames whose prediction it gives — the frames nearer its centre than
//! any other window's, so the windows of a video partition its frames. `eval.segment`
//! spreads each test window's predicted class over those frames and scores the frames.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files::SEGMENTS_JSON;

use crate::learn::artifact::write_json;
use crate::params::ParamError;
use crate::{IoContext, StageError};

/// How the untrimmed videos are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    /// Frames per window (a video shorter than this is one window).
    pub length: usize,
    /// Frames between the starts of consecutive windows; each window predicts about
    /// `stride` frames around its centre.
    pub stride: usize,
}

impl WindowParams {
    pub fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.length == 0 {
            e.push(ParamError::at("windows", "`length` is 0").with_hint("e.g. `length: 50`"));
        }
        if self.stride == 0 || self.stride > self.length {
            e.push(
                ParamError::at(
                    "windows",
                    format!(
                        "`stride` {} must be between 1 and `length` ({}): a larger one leaves frames no window sees",
                        self.stride, self.length
                    ),
                )
                .with_hint("e.g. `stride: 10` with `length: 50`"),
            );
        }
        e
    }
}

/// One window of a video: it covers frames `start..end` and predicts `own_start..own_end`
/// (0-based, end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub video: usize,
    pub start: usize,
    pub end: usize,
    pub own_start: usize,
    pub own_end: usize,
}

/// A labelled action of a video: class index, frames `first..=last` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub class: usize,
    pub first: usize,
    pub last: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentedVideo {
    pub name: String,
    pub frames: usize,
    pub actions: Vec<Action>,
}

impl SegmentedVideo {
    /// The class of every frame: the action covering it (the later one where two
    /// overlap), else `background`.
    pub fn frame_labels(&self, background: usize) -> Vec<usize> {
        let mut labels = vec![background; self.frames];
        for a in &self.actions {
            let last = a.last.min(self.frames.saturating_sub(1));
            for l in labels.iter_mut().take(last + 1).skip(a.first) {
                *l = a.class;
            }
        }
        labels
    }
}

/// `segments.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segments {
    pub window: WindowParams,
    /// Classes of the frame labels, `background` included (the last one).
    pub classes: usize,
    /// The class of frames outside every labelled action.
    pub background: usize,
    pub videos: Vec<SegmentedVideo>,
    /// Per sample of the dataset, in sample order.
    pub windows: Vec<Window>,
}

impl Segments {
    pub fn write(&self, dir: &Path) -> Result<(), StageError> {
        write_json(&dir.join(SEGMENTS_JSON), self)
    }

    pub fn read(dir: &Path) -> Result<Segments, StageError> {
        let path = dir.join(SEGMENTS_JSON);
        let text = std::fs::read_to_string(&path).at("read", &path)?;
        serde_json::from_str(&text)
            .map_err(|e| StageError::bad_file(&path, format!("not a segments description: {e}")))
    }
}

/// The windows of a video of `frames` frames (`video` 0: the caller numbers the videos).
/// Windows start every `stride` frames, and one more ends at the last frame when the
/// stride does not land there; each predicts the frames nearest its centre.
pub fn plan_windows(frames: usize, w: WindowParams) -> Vec<Window> {
    let window = |start, end, own_start, own_end| Window {
        video: 0,
        start,
        end,
        own_start,
        own_end,
    };
    if frames == 0 {
        return Vec::new();
    }
    if frames <= w.length {
        return vec![window(0, frames, 0, frames)];
    }
    let mut starts: Vec<usize> = (0..=frames - w.length).step_by(w.stride).collect();
    if starts.last() != Some(&(frames - w.length)) {
        starts.push(frames - w.length);
    }
    // boundary between windows i and i+1: the midpoint of their centres (= of their starts)
    let bounds: Vec<usize> = starts
        .windows(2)
        .map(|p| (p[0] + p[1]).div_ceil(2) + w.length / 2)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let own_start = if i == 0 { 0 } else { bounds[i - 1] };
            let own_end = bounds.get(i).copied().unwrap_or(frames);
            window(s, s + w.length, own_start, own_end)
        })
        .collect()
}

/// Frame-level scores of a segmentation: ACC (frame accuracy), MACC (mean over classes of
/// per-class accuracy), FWIoU (IoU weighted by each class's share of the frames) and mIoU
/// (mean IoU), in percent — the definitions of FCN's `label_accuracy_score` (Long et al.
/// 2015): MACC averages over the classes that occur, mIoU over the classes that occur or
/// are predicted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameScores {
    pub acc: f64,
    pub macc: f64,
    pub fwiou: f64,
    pub miou: f64,
}

/// [`FrameScores`] of predicted against true frame labels, over `classes` classes.
pub fn frame_scores(truth: &[usize], predicted: &[usize], classes: usize) -> FrameScores {
    let mut hist = vec![0u64; classes * classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        hist[t * classes + p] += 1;
    }
    let total: u64 = hist.iter().sum();
    let diag = |c: usize| hist[c * classes + c] as f64;
    let row = |c: usize| hist[c * classes..(c + 1) * classes].iter().sum::<u64>() as f64;
    let col = |c: usize| (0..classes).map(|r| hist[r * classes + c]).sum::<u64>() as f64;
    let (mut correct, mut acc_sum, mut acc_n, mut iou_sum, mut iou_n, mut fw) =
        (0.0, 0.0, 0, 0.0, 0, 0.0);
    for c in 0..classes {
        let (d, r, k) = (diag(c), row(c), col(c));
        correct += d;
        if r > 0.0 {
            acc_sum += d / r;
            acc_n += 1;
        }
        let union = r + k - d;
        if union > 0.0 {
            let iou = d / union;
            iou_sum += iou;
            iou_n += 1;
            fw += r / total as f64 * iou;
        }
    }
    let pct = |x: f64| 100.0 * x;
    FrameScores {
        acc: pct(correct / total.max(1) as f64),
        macc: pct(acc_sum / acc_n.max(1) as f64),
        fwiou: pct(fw),
        miou: pct(iou_sum / iou_n.max(1) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_partition_the_frames() {
        let w = WindowParams {
            length: 10,
            stride: 4,
        };
        for frames in [1, 9, 10, 11, 23, 24, 37] {
            let plan: Vec<_> = plan_windows(frames, w)
                .iter()
                .map(|w| (w.start, w.end, w.own_start, w.own_end))
                .collect();
            assert_eq!(plan[0].2, 0);
            assert_eq!(plan.last().unwrap().3, frames);
            for p in plan.windows(2) {
                assert_eq!(p[0].3, p[1].2, "{frames}: owned ranges meet");
            }
            for &(s, e, os, oe) in &plan {
                assert!(e <= frames && e - s == w.length.min(frames));
                // a window predicts frames it sees
                assert!(
                    s <= os && oe <= e && os < oe,
                    "{frames}: {s}..{e} owns {os}..{oe}"
                );
            }
        }
        let spans: Vec<_> = plan_windows(24, w)
            .iter()
            .map(|w| (w.start, w.end, w.own_start, w.own_end))
            .collect();
        assert_eq!(
            spans,
            vec![
                (0, 10, 0, 7),
                (4, 14, 7, 11),
                (8, 18, 11, 15),
                (12, 22, 15, 18),
                (14, 24, 18, 24)
            ]
        );
    }

    #[test]
    fn frame_labels_fill_actions_over_background() {
        let v = SegmentedVideo {
            name: "v".into(),
            frames: 8,
            actions: vec![
                Action {
                    class: 0,
                    first: 1,
                    last: 2,
                },
                Action {
                    class: 3,
                    first: 5,
                    last: 9,
                },
            ],
        };
        assert_eq!(v.frame_labels(7), vec![7, 0, 0, 7, 7, 3, 3, 3]);
    }

    /// Hand-computed: classes 0, 1, 2 (2 never occurs but is predicted once).
    #[test]
    fn frame_scores_match_the_hand_computed_values() {
        let truth = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        let pred = [0, 0, 0, 1, 1, 1, 1, 1, 0, 2];
        // confusion: row 0 = [3, 1, 0], row 1 = [1, 4, 1], row 2 = [0, 0, 0]
        let s = frame_scores(&truth, &pred, 3);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // ACC = 7 / 10
        assert!(close(s.acc, 70.0), "{s:?}");
        // MACC = (3/4 + 4/6) / 2 (class 2 never occurs)
        assert!(close(s.macc, 100.0 * (0.75 + 4.0 / 6.0) / 2.0), "{s:?}");
        // IoU 0 = 3 / (4 + 4 − 3) = 3/5; IoU 1 = 4 / (6 + 5 − 4) = 4/7; IoU 2 = 0 / 1
        let (i0, i1) = (3.0 / 5.0, 4.0 / 7.0);
        assert!(close(s.miou, 100.0 * (i0 + i1 + 0.0) / 3.0), "{s:?}");
        // FWIoU = 0.4 · 3/5 + 0.6 · 4/7
        assert!(close(s.fwiou, 100.0 * (0.4 * i0 + 0.6 * i1)), "{s:?}");
        let perfect = frame_scores(&truth, &truth, 3);
        assert_eq!(
            (perfect.acc, perfect.macc, perfect.fwiou, perfect.miou),
            (100.0, 100.0, 100.0, 100.0)
        );
    }
}
