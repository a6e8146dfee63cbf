//! `resume.json` in a key's work directory: how far the newest checkpoint of an unfinished
//! stage got, so that `skelflow status` can say "interrupted after epoch 7/15" without
//! knowing what the stage computes or how its checkpoints look.
//!
//! ```json
//! {"done": 7, "total": 15, "unit": "epoch"}
//! ```
//!
//! The stage writes it after each checkpoint is complete (never before: it must not claim a
//! checkpoint that does not exist); the work directory, and with it this file, is removed
//! once the artifact is committed. A `shell` command may write it into
//! `$SKELFLOW_WORK_DIR` the same way.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file name inside the work directory.
pub const RESUME_JSON: &str = "resume.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// Units finished and saved in the newest checkpoint.
    pub done: u64,
    /// Units in all, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// What is counted (`epoch`).
    pub unit: String,
}

impl ResumePoint {
    /// Write `resume.json` into `work_dir` (temp file + rename: a reader never sees half).
    pub fn write(&self, work_dir: &Path) -> std::io::Result<()> {
        let tmp = work_dir.join(format!(".{RESUME_JSON}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self).expect("plain struct"))?;
        std::fs::rename(&tmp, work_dir.join(RESUME_JSON))
    }

    /// The resume point recorded in `work_dir`, if any. A missing or unreadable file is
    /// None: it only informs, resuming never depends on it.
    pub fn read(work_dir: &Path) -> Option<ResumePoint> {
        let bytes = std::fs::read(work_dir.join(RESUME_JSON)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// `epoch 7/15`, or `epoch 7` when the total is unknown.
    pub fn at(&self) -> String {
        match self.total {
            Some(t) => format!("{} {}/{t}", self.unit, self.done),
            None => format!("{} {}", self.unit, self.done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_bad_file_reads_as_none() {
        let dir = std::env::temp_dir().join(format!("skelflow-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(ResumePoint::read(&dir), None);
        let p = ResumePoint {
            done: 7,
            total: Some(15),
            unit: "epoch".into(),
        };
        p.write(&dir).unwrap();
        assert_eq!(ResumePoint::read(&dir), Some(p.clone()));
        assert_eq!(p.at(), "epoch 7/15");
        // written by hand, e.g. by a shell command, without a total
        std::fs::write(dir.join(RESUME_JSON), r#"{"done":3,"unit":"step"}"#).unwrap();
        assert_eq!(ResumePoint::read(&dir).unwrap().at(), "step 3");
        std::fs::write(dir.join(RESUME_JSON), "{").unwrap();
        assert_eq!(ResumePoint::read(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
