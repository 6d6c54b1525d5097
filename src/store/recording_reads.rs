//! The recordings' reads on either backend: `GET /v1/calls/{id}/recording` and the recordings
//! janitor's look-up of CDRs a crash left `pending`. [`RecordingReads`] answers alike on the
//! SQLite file and on PostgreSQL, where it also names the node whose disk holds a call's file
//! (a recording is never copied between nodes), and [`super::BackendReader::read_recordings`]
//! runs a query on the configured one.

use jiff::Timestamp;
use postgres::Client;

use super::reads::SqliteReads;
use super::recordings::{self, CallRecording};
use super::{StoreError, pg};
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

super::reads::backend_reads!(RecordingReads, read_recordings, read_recordings_blocking);
