//! The store: layout, lookups, locks, staging and work directories.
//! (`verify`/`gc` are in `maintain.rs`, run records in `run.rs`, digests in `digest.rs`.)

use crate::digest::{DigestStats, Digests};
use crate::error::{CacheError, IoContext, Result};
use crate::fsutil::{
    create_dir_durable, fsync_dir, remove_tree, tree_bytes, unique_suffix, write_atomic,
};
use crate::key::Key;
use crate::lock::{self, KeyLock};
use crate::manifest::{Artifact, Manifest, manifest_path};
use crate::staging::Staging;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The layout this code writes and understands; a cache with a higher number is refused.
pub const LAYOUT_VERSION: u32 = 1;
pub(crate) const LAYOUT_FILE: &str = "LAYOUT";
const LAYOUT_PREFIX: &str = "skelflow-cache-layout ";

pub(crate) const OBJECTS: &str = "objects";
pub(crate) const TMP: &str = "tmp";
pub(crate) const LOCKS: &str = "locks";
pub(crate) const WORK: &str = "work";
pub(crate) const QUARANTINE: &str = "quarantine";
pub(crate) const RUNS: &str = "runs";
pub(crate) const SUBMITTED: &str = "submitted";

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by skelflow.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

/// A content-addressed artifact store rooted at one directory. `Send + Sync`: share it
/// between threads by reference or `Arc`.
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) digests: Digests,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating if needed) a cache at `root`: objects/ tmp/ locks/ work/ quarantine/
    /// runs/, a CACHEDIR.TAG, and a layout-version file (a newer layout is refused).
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        let root = std::path::absolute(&root).ctx("resolve", &root)?;
        create_dir_durable(&root)?;
        check_layout(&root)?;
        for sub in [OBJECTS, TMP, LOCKS, WORK, QUARANTINE, RUNS] {
            create_dir_durable(&root.join(sub))?;
        }
        let tag = root.join("CACHEDIR.TAG");
        if !tag.exists() {
            write_atomic(&tag, CACHEDIR_TAG.as_bytes())?;
        }
        let digests = Digests::in_file(root.join(crate::digest::DIGESTS_FILE));
        Ok(Store { root, digests })
    }

    /// Is `dir` a skelflow cache? Its `LAYOUT` file says so: every cache has had one since
    /// the first layout, and it is written when the cache is created. Reads one small file,
    /// creates nothing.
    pub fn is_store(dir: &Path) -> bool {
        fs::read_to_string(dir.join(LAYOUT_FILE)).is_ok_and(|c| c.starts_with(LAYOUT_PREFIX))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The stat-cached digests of files outside the cache (kept in `digests.json`).
    pub fn digests(&self) -> &Digests {
        &self.digests
    }

    /// [`Digests::digest_path`] with this store's stat cache.
    pub fn digest_path(&self, path: &Path) -> Result<String> {
        self.digests.digest_path(path)
    }

    /// Save the stat cache (also done when the store is dropped).
    pub fn flush_digests(&self) -> Result<()> {
        self.digests.flush()
    }

    /// What digests cost so far in this process.
    pub fn digest_stats(&self) -> DigestStats {
        self.digests.stats()
    }

    /// Where the artifact of `key` lives (or would live).
    pub fn object_dir(&self, key: &Key) -> PathBuf {
        object_dir(&self.root, key)
    }

    /// Fast check (one stat): is there a committed artifact for `key`?
    pub fn contains(&self, key: &Key) -> bool {
        key.is_well_formed() && manifest_path(&self.object_dir(key)).is_file()
    }

    /// The committed artifact (reads MANIFEST.json), or None. A manifest that cannot be
    /// parsed, or names another key, is an error (`verify` quarantines such artifacts).
    pub fn get(&self, key: &Key) -> Result<Option<Artifact>> {
        check_key(key)?;
        read_artifact(&self.root, key)
    }

    /// Every committed artifact, sorted.
    pub fn list(&self) -> Result<Vec<Key>> {
        Ok(self
            .object_keys()?
            .into_iter()
            .filter(|k| self.contains(k))
            .collect())
    }

    /// Keys of every directory under objects/, committed or not (for verify and gc).
    pub(crate) fn object_keys(&self) -> Result<Vec<Key>> {
        let objects = self.root.join(OBJECTS);
        let mut keys = Vec::new();
        for shard in fs::read_dir(&objects).ctx("read directory", &objects)? {
            let shard = shard.ctx("read directory", &objects)?;
            let shard_name = shard.file_name();
            let Some(prefix) = shard_name.to_str().filter(|s| s.len() == 2) else {
                continue;
            };
            if !shard.file_type().ctx("stat", &shard.path())?.is_dir() {
                continue;
            }
            let dir = shard.path();
            for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
                let entry = entry.ctx("read directory", &dir)?;
                if let Some(key) = entry.file_name().to_str().and_then(|n| Key::parse(n).ok())
                    && key.as_str().starts_with(prefix)
                {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Per-key exclusive OS file lock; waits while another process (or another lock in
    /// this process) holds it. Released on drop, or by the OS if the process dies.
    pub fn lock(&self, key: &Key) -> Result<KeyLock> {
        check_key(key)?;
        let path = self.lock_path(key);
        let file = lock::acquire(&path, true)?.expect("a waiting lock always returns a file");
        Ok(KeyLock {
            key: key.clone(),
            file,
            path,
        })
    }

    /// Like [`Store::lock`] but returns None at once if the key is locked elsewhere.
    /// (An `is_locked` probe running at the same instant also makes it return None, so
    /// use `lock` where waiting is right.)
    pub fn try_lock(&self, key: &Key) -> Result<Option<KeyLock>> {
        check_key(key)?;
        let path = self.lock_path(key);
        Ok(lock::acquire(&path, false)?.map(|file| KeyLock {
            key: key.clone(),
            file,
            path,
        }))
    }

    /// Is some process holding the lock of `key` right now (for `status`: running)?
    pub fn is_locked(&self, key: &Key) -> Result<bool> {
        check_key(key)?;
        lock::probe(&self.lock_path(key))
    }

    pub(crate) fn lock_path(&self, key: &Key) -> PathBuf {
        self.root.join(LOCKS).join(format!("{key}.lock"))
    }

    /// Start writing the artifact of the locked key: an empty temp dir under tmp/ on the
    /// same filesystem. Dropping the Staging without commit removes the temp dir. The
    /// staging shares the lock, so the key stays locked until it is committed or dropped.
    pub fn begin(&self, lock: &KeyLock) -> Result<Staging> {
        self.check_lock(lock)?;
        let shared = lock.file.try_clone().ctx("share lock", &lock.path)?;
        let tmp = self.root.join(TMP);
        loop {
            let dir = tmp.join(format!("{}.{}", lock.key, unique_suffix()));
            match fs::create_dir(&dir) {
                Ok(()) => {
                    return Ok(Staging::new(
                        self.root.clone(),
                        lock.key.clone(),
                        dir,
                        shared,
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).ctx("create staging directory", &dir),
            }
        }
    }

    /// Remove the committed artifact of the locked key; the bytes freed (0: there was none).
    ///
    /// Holding the key's lock, the artifact directory is first renamed out of objects/ into
    /// tmp/ (one atomic step: a reader sees the whole artifact or none), then deleted there.
    /// If deleting fails half way, what is left sits in tmp/ under the key's name, where `gc`
    /// removes it once the lock is free. The key's work directory is left alone.
    pub fn remove(&self, lock: &KeyLock) -> Result<u64> {
        self.check_lock(lock)?;
        let dir = self.object_dir(&lock.key);
        let trash = self
            .root
            .join(TMP)
            .join(format!("{}.removed.{}", lock.key, unique_suffix()));
        match fs::rename(&dir, &trash) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            r => r.ctx("move out of objects/", &dir)?,
        }
        if let Some(shard) = dir.parent() {
            fsync_dir(shard)?;
        }
        let bytes = tree_bytes(&trash)?;
        remove_tree(&trash)?;
        Ok(bytes)
    }

    /// A lock taken on this store, for a well-formed key.
    pub(crate) fn check_lock(&self, lock: &KeyLock) -> Result<()> {
        check_key(&lock.key)?;
        if lock.path != self.lock_path(&lock.key) {
            return Err(CacheError::ForeignLock {
                lock: lock.path.clone(),
                root: self.root.clone(),
            });
        }
        Ok(())
    }

    /// Persistent per-key scratch (created on demand): survives failures and kills, for
    /// in-stage checkpoints. `remove_work_dir` after a successful commit.
    pub fn work_dir(&self, key: &Key) -> Result<PathBuf> {
        check_key(key)?;
        let dir = self.work_path(key);
        create_dir_durable(&dir)?;
        Ok(dir)
    }

    pub fn remove_work_dir(&self, key: &Key) -> Result<()> {
        check_key(key)?;
        remove_tree(&self.work_path(key))
    }

    /// The key's work directory if it exists (e.g. to read what an interrupted stage left
    /// there); creates nothing.
    pub fn existing_work_dir(&self, key: &Key) -> Option<PathBuf> {
        let dir = self.work_path(key);
        (key.is_well_formed() && dir.is_dir()).then_some(dir)
    }

    pub(crate) fn work_path(&self, key: &Key) -> PathBuf {
        self.root.join(WORK).join(key.as_str())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A lost stat cache only costs re-reading files next time, but say so.
        if let Err(e) = self.flush_digests() {
            eprintln!("skelflow-cache: could not save the digest cache: {e}");
        }
    }
}

pub(crate) fn check_key(key: &Key) -> Result<()> {
    if key.is_well_formed() {
        Ok(())
    } else {
        Err(CacheError::InvalidKey(key.0.clone()))
    }
}

pub(crate) fn object_dir(root: &Path, key: &Key) -> PathBuf {
    root.join(OBJECTS)
        .join(&key.as_str()[..2])
        .join(key.as_str())
}

/// The artifact of `key` if its manifest exists; a bad manifest is an error.
pub(crate) fn read_artifact(root: &Path, key: &Key) -> Result<Option<Artifact>> {
    let dir = object_dir(root, key);
    let path = manifest_path(&dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e).ctx("read", &path),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|source| CacheError::Json {
        path: path.clone(),
        source,
    })?;
    if manifest.key != *key {
        return Err(CacheError::ManifestMismatch {
            path,
            expected: key.0.clone(),
            found: manifest.key.0.clone(),
        });
    }
    Ok(Some(Artifact {
        key: key.clone(),
        dir,
        manifest,
    }))
}

/// Move an artifact directory out of objects/ into quarantine/<key>.<timestamp>.
pub(crate) fn quarantine(root: &Path, key: &Key) -> Result<PathBuf> {
    let src = object_dir(root, key);
    let qdir = root.join(QUARANTINE);
    create_dir_durable(&qdir)?;
    let stamp = crate::fsutil::timestamp();
    let mut n = 0;
    let dest = loop {
        let name = if n == 0 {
            format!("{key}.{stamp}")
        } else {
            format!("{key}.{stamp}.{n}")
        };
        let dest = qdir.join(name);
        if !dest.exists() {
            break dest;
        }
        n += 1;
    };
    fs::rename(&src, &dest).ctx("move to quarantine", &src)?;
    fsync_dir(&qdir)?;
    if let Some(shard) = src.parent() {
        fsync_dir(shard)?;
    }
    Ok(dest)
}

/// Refuse a newer layout; write ours into a fresh cache.
fn check_layout(root: &Path) -> Result<()> {
    let path = root.join(LAYOUT_FILE);
    match fs::read_to_string(&path) {
        Ok(content) => {
            let found = content
                .strip_prefix(LAYOUT_PREFIX)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .ok_or_else(|| CacheError::BadLayoutFile {
                    path: path.clone(),
                    content: content.clone(),
                })?;
            if found > LAYOUT_VERSION {
                return Err(CacheError::LayoutTooNew {
                    root: root.to_path_buf(),
                    found,
                    supported: LAYOUT_VERSION,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => write_atomic(
            &path,
            format!("{LAYOUT_PREFIX}{LAYOUT_VERSION}\n").as_bytes(),
        ),
        Err(e) => Err(e).ctx("read", &path),
    }
}
