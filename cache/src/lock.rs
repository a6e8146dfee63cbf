//! Per-key exclusive OS file locks.
//!
//! `std::fs::File::lock` is `flock(LOCK_EX)` on Unix: the lock belongs to the open file
//! description, so two opens conflict even inside one process, a `try_clone` shares it,
//! and the OS releases it when the last descriptor closes, including when the process
//! dies. On NFS, Linux emulates `flock` with POSIX byte-range locks, which needs a working
//! lock manager (`lockd`) on the cluster's shared filesystem.
//!
//! Lock files may be deleted (by `gc`, while it holds the lock). To stay correct, a
//! locker checks after locking that the path still names the file it locked, and retries
//! if not (the `flopen` algorithm).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::key::Key;

/// Holds the exclusive lock of one key; dropping it unlocks (unless a [`crate::Staging`]
/// of the key still shares it).
#[derive(Debug)]
pub struct KeyLock {
    pub(crate) key: Key,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
}

impl KeyLock {
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Delete the lock file while holding the lock: waiters notice and retry on a new file.
    pub(crate) fn remove_file(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r.ctx("remove lock file", &self.path),
        }
    }
}

/// Lock `path` (creating it), waiting if `wait`; `None` if not waiting and held elsewhere.
pub(crate) fn acquire(path: &Path, wait: bool) -> Result<Option<File>> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx("open lock file", path)?;
        if wait {
            file.lock().ctx("lock", path)?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => return Ok(None),
                Err(fs::TryLockError::Error(e)) => return Err(e).ctx("lock", path),
            }
        }
        if still_named(&file, path)? {
            note_holder(&file, path)?;
            return Ok(Some(file));
        }
    }
}

/// Is the lock at `path` held by anyone? Never creates the file (a missing file is free).
/// The probe holds the lock for an instant, so a concurrent `try_lock` may see it busy.
pub(crate) fn probe(path: &Path) -> Result<bool> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        r => r.ctx("open lock file", path)?,
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(fs::TryLockError::WouldBlock) => Ok(true),
        Err(fs::TryLockError::Error(e)) => Err(e).ctx("lock", path),
    }
}

fn still_named(file: &File, path: &Path) -> Result<bool> {
    let held = file.metadata().ctx("stat", path)?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).ctx("stat", path),
    }
}

/// Write the holder's pid into the lock file, for a human wondering who holds it.
fn note_holder(mut file: &File, path: &Path) -> Result<()> {
    file.set_len(0).ctx("truncate lock file", path)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .ctx("write lock file", path)
}
