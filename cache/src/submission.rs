//! Batch jobs in flight: `submitted/<key>.json` names the scheduler's job that is computing
//! a key. The runner that submits the job writes it (holding the key's lock); the job removes
//! it once it has committed. A later run, or a second driver, finds the record and follows
//! that job instead of submitting the key again; `gc` keeps what a recorded job will read.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};
use crate::fsutil::{create_dir_durable, write_atomic};
use crate::key::Key;
use crate::lock::KeyLock;
use crate::store::{SUBMITTED, Store, check_key};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The executor that owns the job (`slurm`).
    pub executor: String,
    /// The scheduler's job id.
    pub job: String,
    pub instance: String,
    pub run: String,
    /// RFC 3339.
    pub submitted: String,
    /// The artifacts the job will read: kept by `gc` while the job is recorded.
    pub inputs: Vec<Key>,
}

impl Store {
    /// The job recorded as computing `key`, if any (an unreadable record is none).
    pub fn submission(&self, key: &Key) -> Option<Submission> {
        let bytes = fs::read(self.submission_path(key).ok()?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Record the job that computes the locked key (replacing an older record).
    pub fn record_submission(&self, lock: &KeyLock, s: &Submission) -> Result<()> {
        self.check_lock(lock)?;
        let path = self.submission_path(&lock.key)?;
        create_dir_durable(path.parent().expect("records live in submitted/"))?;
        write_atomic(&path, &serde_json::to_vec_pretty(s).expect("serialisable"))
    }

    /// Forget the locked key's job (it committed, or it is known to be over).
    pub fn clear_submission(&self, lock: &KeyLock) -> Result<()> {
        self.check_lock(lock)?;
        let path = self.submission_path(&lock.key)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r.ctx("remove submission record", &path),
        }
    }

    /// Every recorded job.
    pub fn submissions(&self) -> Result<Vec<(Key, Submission)>> {
        let dir = self.root.join(SUBMITTED);
        let entries = match fs::read_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            r => r.ctx("list", &dir)?,
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.ctx("list", &dir)?;
            let name = e.file_name();
            let Some(key) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| Key::parse(n).ok())
            else {
                continue;
            };
            if let Some(s) = self.submission(&key) {
                out.push((key, s));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Keys that recorded jobs compute or read.
    pub(crate) fn keys_of_submissions(&self) -> Result<BTreeSet<Key>> {
        Ok(self
            .submissions()?
            .into_iter()
            .flat_map(|(k, s)| std::iter::once(k).chain(s.inputs))
            .collect())
    }

    fn submission_path(&self, key: &Key) -> Result<std::path::PathBuf> {
        check_key(key)?;
        Ok(self.root.join(SUBMITTED).join(format!("{key}.json")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_lives_until_cleared_and_names_what_gc_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("c")).unwrap();
        let key = Key::of_bytes(b"a");
        let input = Key::of_bytes(b"b");
        assert_eq!(store.submission(&key), None);
        assert!(store.submissions().unwrap().is_empty());
        let lock = store.lock(&key).unwrap();
        let s = Submission {
            executor: "slurm".into(),
            job: "17".into(),
            instance: "train".into(),
            run: "R".into(),
            submitted: "2026-12-06T00:00:00Z".into(),
            inputs: vec![input.clone()],
        };
        store.record_submission(&lock, &s).unwrap();
        assert_eq!(store.submission(&key), Some(s.clone()));
        assert_eq!(store.submissions().unwrap(), vec![(key.clone(), s)]);
        assert_eq!(
            store.keys_of_submissions().unwrap(),
            [key.clone(), input].into_iter().collect()
        );
        store.clear_submission(&lock).unwrap();
        store.clear_submission(&lock).unwrap();
        assert_eq!(store.submission(&key), None);
    }
}
