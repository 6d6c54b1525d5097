//! The recordings' reads on either backend: `GET /v1/calls/{id}/recording` and the recordings
//! janitor's look-up of CDRs a crash left `pending`. [`RecordingReads`] answers alike on the
//! SQLite file and on PostgreSQL, where it also names the node whose disk holds a call's file
//! (a recording is never copied between nodes), and [`BackendReader::read_recordings`] runs a
//! query on the configured one.

use jiff::Timestamp;
use postgres::Client;

use super::reads::SqliteReads;
use super::recordings::{self, CallRecording};
use super::{BackendReader, StoreError, pg};
use crate::call::record::rfc3339;

/// What the recordings' API and janitor read.
pub trait RecordingReads {
    /// Call `id`'s recording and the node holding its file; `None` for an unknown call.
    fn recording(&mut self, id: &str) -> Result<Option<CallRecording>, StoreError>;
    /// Node `node`'s CDRs still `pending` that ended before `ended_before`, oldest first (on
    /// SQLite every row is this node's).
    fn recordings_pending(
        &mut self,
        node: &str,
        ended_before: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
}

impl RecordingReads for SqliteReads<'_> {
    fn recording(&mut self, id: &str) -> Result<Option<CallRecording>, StoreError> {
        Ok(recordings::of_call(self.0, id)?)
    }

    fn recordings_pending(
        &mut self,
        _node: &str,
        ended_before: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let cut = rfc3339::format(ended_before);
        Ok(recordings::pending_before(self.0, &cut)?)
    }
}

impl RecordingReads for Client {
    fn recording(&mut self, id: &str) -> Result<Option<CallRecording>, StoreError> {
        pg::recordings::of_call(self, id)
    }

    fn recordings_pending(
        &mut self,
        node: &str,
        ended_before: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        pg::recordings::pending_before(self, node, ended_before)
    }
}

impl BackendReader {
    /// Runs a recordings `query` on a blocking thread and returns its answer.
    pub async fn read_recordings<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn RecordingReads) -> Result<T, StoreError> + Send + 'static,
    {
        match self {
            BackendReader::Sqlite(reader) => {
                reader.read(move |conn| query(&mut SqliteReads(conn))).await
            }
            BackendReader::Postgres(reader) => reader.read(move |client| query(client)).await,
        }
    }

    /// [`BackendReader::read_recordings`] on the calling thread (the CLI, tests).
    pub fn read_recordings_blocking<T>(
        &self,
        query: impl FnOnce(&mut dyn RecordingReads) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            BackendReader::Sqlite(reader) => {
                reader.read_blocking(move |conn| query(&mut SqliteReads(conn)))
            }
            BackendReader::Postgres(reader) => reader.read_blocking(move |client| query(client)),
        }
    }
}
