//! `extract.raw`: the preprocessed input itself, flattened, as features — the floor a
//! pretrained encoder must clear. A linear probe on it measures how linearly separable the
//! classes already are before any learning; a pretrained row below it learned features
//! worse for a linear classifier than the coordinates it was given.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::augment::ViewSpec;
use super::dataset::open_splits;
use super::extract::{ViewedInput, validate_view_and_batch};
use crate::data::Stream;
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractRawParams {
    pub benchmark: String,
    /// The stream to flatten (the one the compared encoders read).
    pub stream: Stream,
    /// Input transform, as the compared `extract` stages apply it (`none` for frame50 data,
    /// a 64-frame centre crop-resize for the CMD/A2MC protocol).
    pub view: ViewSpec,
    pub batch: usize,
}

impl Default for ExtractRawParams {
    fn default() -> Self {
        ExtractRawParams {
            benchmark: "ntu60-xsub".into(),
            stream: Stream::Joint,
            view: ViewSpec::Preset("none".into()),
            batch: 256,
        }
    }
}

impl Params for ExtractRawParams {
    fn validate(&self) -> Vec<ParamError> {
        validate_view_and_batch(&self.view, self.batch)
    }
}

pub struct ExtractRaw;

impl Kind for ExtractRaw {
    type Params = ExtractRawParams;
    const NAME: &'static str = "extract.raw";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "the preprocessed input itself (after the view, in the stream), flattened, as features: the raw-input floor of a linear table";

    fn run(&self, ctx: &StageContext, p: ExtractRawParams) -> Result<(), StageError> {
        let view = p.view.resolve().map_err(|e| StageError::param("view", e))?;
        let splits = open_splits(ctx, &p.benchmark)?;
        let input = ViewedInput {
            benchmark: &p.benchmark,
            splits: &splits,
            view: &view,
            stream: p.stream,
            batch: p.batch,
        };
        input.extract(
            ctx,
            |flat, [n, ..]| Ok((flat.len() / n.max(1), flat)),
            serde_json::json!({"feature": "raw-input", "encoder": {"method": "raw-input"}}),
        )
    }
}
