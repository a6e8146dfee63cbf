//! The line protocol between a stage process (`skelflow __exec`) and the runner: lines on
//! the stage's stderr that start with an ASCII record separator and a tag, so that they
//! can never be mistaken for a program's own output. Everything else is the stage's log.

use serde::{Deserialize, Serialize};

/// Live progress: `done` of `total` outer units (epochs, files) and a short message, and
/// optionally where the current unit is (steps within the epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressLine {
    pub done: u64,
    pub total: u64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Within>,
}

/// Progress inside the current outer unit (e.g. step 40 of 312 of epoch 3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Within {
    pub done: u64,
    pub total: u64,
    /// What is counted (`step`).
    pub unit: String,
    /// Items (samples) per second so far in this unit, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// The stage's failure message, printed once before it exits with an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorLine {
    pub message: String,
}

const PROGRESS_PREFIX: &str = "\u{1e}skelflow-progress ";
const ERROR_PREFIX: &str = "\u{1e}skelflow-error ";

impl ProgressLine {
    pub fn encode(&self) -> String {
        format!(
            "{PROGRESS_PREFIX}{}",
            serde_json::to_string(self).expect("plain struct")
        )
    }
}

impl ErrorLine {
    pub fn encode(&self) -> String {
        format!(
            "{ERROR_PREFIX}{}",
            serde_json::to_string(self).expect("plain struct")
        )
    }
}

/// One line of a stage's stderr, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum StageLine<'a> {
    Progress(ProgressLine),
    Error(ErrorLine),
    /// The stage's own output.
    Log(&'a str),
}

impl<'a> StageLine<'a> {
    pub fn decode(line: &'a str) -> StageLine<'a> {
        if let Some(rest) = line.strip_prefix(PROGRESS_PREFIX)
            && let Ok(p) = serde_json::from_str(rest)
        {
            return StageLine::Progress(p);
        }
        if let Some(rest) = line.strip_prefix(ERROR_PREFIX)
            && let Ok(e) = serde_json::from_str(rest)
        {
            return StageLine::Error(e);
        }
        StageLine::Log(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_plain_output_is_log() {
        let p = ProgressLine {
            done: 3,
            total: 15,
            message: "loss 4.2".into(),
            within: Some(Within {
                done: 7,
                total: 12,
                unit: "step".into(),
                rate: Some(41.5),
            }),
        };
        assert_eq!(StageLine::decode(&p.encode()), StageLine::Progress(p));
        let e = ErrorLine {
            message: "no space left on device".into(),
        };
        assert_eq!(StageLine::decode(&e.encode()), StageLine::Error(e));
        assert_eq!(
            StageLine::decode("epoch 3 done"),
            StageLine::Log("epoch 3 done")
        );
        // a line that starts like one but does not parse is the stage's own output
        let broken = "\u{1e}skelflow-error {";
        assert_eq!(StageLine::decode(broken), StageLine::Log(broken));
    }
}
