//! The crate's one error type: every variant names the path involved and, for I/O, the OS error.

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = CacheError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// An operating-system error on `path` (a full disk, a permission, a missing file…).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "the cache at {} has layout version {found}, but this skelflow understands layout {supported} at most: \
         upgrade skelflow, or point $SKELFLOW_CACHE at another directory",
        root.display()
    )]
    LayoutTooNew {
        root: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("{}: not a skelflow cache layout file (content {content:?}); is this directory really a skelflow cache?", path.display())]
    BadLayoutFile { path: PathBuf, content: String },

    #[error("invalid cache key `{0}`: a key is 64 lowercase hex digits")]
    InvalidKey(String),

    /// Artifacts and digested inputs hold regular files and directories only.
    #[error("{}: is a {what}; skelflow {context} only regular files and directories", path.display())]
    UnsupportedFile {
        path: PathBuf,
        what: &'static str,
        context: &'static str,
    },

    #[error("{}: `MANIFEST.json` at the top of an artifact is reserved for skelflow's manifest; write it under another name", path.display())]
    ReservedName { path: PathBuf },

    #[error("{}: manifest is for key {found}, but it is stored under {expected}", path.display())]
    ManifestMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{}: symbolic links form a loop (this directory is its own ancestor)", path.display())]
    SymlinkLoop { path: PathBuf },

    #[error("{}: file name is not UTF-8; artifacts need UTF-8 names (they are listed in MANIFEST.json)", path.display())]
    NonUtf8Name { path: PathBuf },

    #[error("lock {} belongs to another cache than {}", lock.display(), root.display())]
    ForeignLock { lock: PathBuf, root: PathBuf },

    #[error("{}: after commit the key has no readable artifact", path.display())]
    Vanished { path: PathBuf },
}

impl CacheError {
    /// Did this fail because the filesystem is full (or a disk quota is reached)?
    pub fn is_no_space(&self) -> bool {
        match self {
            CacheError::Io { source, .. } => is_no_space(source),
            _ => false,
        }
    }
}

/// Is this OS error a full filesystem or an exhausted disk quota?
pub fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Attach the operation and the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| CacheError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
