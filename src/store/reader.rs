//! Read-only connections for the HTTP side (calls API, reports, leads, dashboard): a small
//! pool of `SQLITE_OPEN_READ_ONLY` connections beside the one writer, used on tokio's
//! blocking threads so no query ever stalls an async worker.
//!
//! WAL mode lets every reader see the last committed state while the writer writes. The pool
//! ([`super::blocking_pool`]) is bounded: at most `size` queries run at once; further
//! requests wait their turn (the HTTP layer's own limits bound how many wait).

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use super::blocking_pool::BlockingPool;
use super::{StoreError, open_read_only};

/// Most read-only connections by default; each is opened on first use and kept for reuse.
const DEFAULT_READERS: usize = 4;

/// A cheap-to-clone handle on the read-only connection pool.
#[derive(Clone)]
pub struct StoreReader(Arc<BlockingPool<Connection>>);

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReader")
            .field("idle", &self.0.idle())
            .finish_non_exhaustive()
    }
}

impl StoreReader {
    /// A pool over the database at `path` (which the writer has created and migrated).
    pub fn new(path: &Path) -> StoreReader {
        StoreReader::with_size(path, DEFAULT_READERS)
    }

    /// A pool of at most `size` connections (at least one).
    pub fn with_size(path: &Path, size: usize) -> StoreReader {
        let path = path.to_path_buf();
        StoreReader(BlockingPool::new(
            size,
            move || open_read_only(&path),
            |_| true,
        ))
    }

    /// Runs `query` on a read-only connection on a blocking thread and returns its answer.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.0.read(move |conn| query(conn)).await
    }

    /// Runs `query` on the calling thread (for the CLI and tests, outside any runtime).
    pub fn read_blocking<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.0.run(|conn| query(conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_what_was_committed_and_reuses_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        drop(super::super::open(&path).unwrap());
        let reader = StoreReader::with_size(&path, 2);
        for _ in 0..5 {
            let n = reader.read(super::super::query::count).await.unwrap();
            assert_eq!(n, 0);
        }
        assert_eq!(reader.0.idle(), 1, "one connection reused");
    }

    #[tokio::test]
    async fn a_missing_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let reader = StoreReader::new(&dir.path().join("none.sqlite"));
        let err = reader.read(super::super::query::count).await.unwrap_err();
        assert!(matches!(err, StoreError::NoDatabase(_)), "{err}");
    }
}
