//! Read-only connections for the HTTP side (calls API, reports, leads, dashboard): a small
//! pool of `SQLITE_OPEN_READ_ONLY` connections beside the one writer, used on tokio's
//! blocking threads so no query ever stalls an async worker.
//!
//! WAL mode lets every reader see the last committed state while the writer writes. The pool
//! is bounded: at most `size` queries run at once; further requests wait their turn
//! (the HTTP layer's own limits bound how many wait).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{StoreError, open_read_only};

/// Most read-only connections by default; each is opened on first use and kept for reuse.
const DEFAULT_READERS: usize = 4;

/// A cheap-to-clone handle on the read-only connection pool.
#[derive(Clone, Debug)]
pub struct StoreReader(Arc<Pool>);

#[derive(Debug)]
struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl StoreReader {
    /// A pool over the database at `path` (which the writer has created and migrated).
    pub fn new(path: &Path) -> StoreReader {
        StoreReader::with_size(path, DEFAULT_READERS)
    }

    /// A pool of at most `size` connections (at least one).
    pub fn with_size(path: &Path, size: usize) -> StoreReader {
        StoreReader(Arc::new(Pool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }))
    }

    /// Runs `query` on a read-only connection on a blocking thread and returns its answer.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .0
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        let pool = self.0.clone();
        tokio::task::spawn_blocking(move || pool.run(query))
            .await
            .map_err(|_| StoreError::ReaderPanicked)?
    }

    /// Runs `query` on the calling thread (for the CLI and tests, outside any runtime).
    pub fn read_blocking<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.0.run(query)
    }
}

impl Pool {
    fn run<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.take_idle() {
            Some(conn) => conn,
            None => open_read_only(&self.path)?,
        };
        let answer = query(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        answer
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
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
        assert_eq!(
            reader.0.idle.lock().unwrap().len(),
            1,
            "one connection reused"
        );
    }

    #[tokio::test]
    async fn a_missing_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let reader = StoreReader::new(&dir.path().join("none.sqlite"));
        let err = reader.read(super::super::query::count).await.unwrap_err();
        assert!(matches!(err, StoreError::NoDatabase(_)), "{err}");
    }
}
