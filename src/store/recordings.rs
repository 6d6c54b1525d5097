//! A recording's facts that reach the CDR after the call: the written file (or why there is
//! none) and its later removal by retention. Written by the one store writer.
//!
//! Exactly once: a CDR row moves out of `pending` once and only once (`settle` updates only a
//! `pending` row). The file is written off the SIP core, so its outcome may reach the writer
//! before the CDR row does; it then waits in `recording_settled` and is applied when the row is
//! inserted ([`adopt`]). Both tables are written in the writer's transactions, so the outcome
//! survives a restart; a row left `pending` by a crash is settled from the disk by the
//! recordings janitor.

use rusqlite::{Connection, OptionalExtension, params};

use crate::call::recording::{RecordingReason, RecordingSettled, RecordingStatus};

/// Version 14: each CDR's recording status and reason, a partial index of the rows still
/// `pending` (the janitor's look-up after a crash reads only those), and the waiting room for
/// outcomes that arrive before their CDR.
pub(super) const V14_RECORDINGS: &str = "
ALTER TABLE cdr ADD COLUMN recording_status TEXT;
ALTER TABLE cdr ADD COLUMN recording_reason TEXT;
CREATE INDEX cdr_recording_pending ON cdr (ended_at) WHERE recording_status = 'pending';
CREATE TABLE recording_settled (
    id     TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    path   TEXT,
    bytes  INTEGER,
    secs   INTEGER
) WITHOUT ROWID;
";

/// Columns of a settled outcome: `(status, reason, path, bytes, secs)` (both backends).
pub(super) type Columns = (
    &'static str,
    Option<&'static str>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

pub(super) fn columns(settled: &RecordingSettled) -> Columns {
    match settled {
        RecordingSettled::Recorded { path, bytes, secs } => (
            RecordingStatus::Recorded.as_str(),
            None,
            Some(path.clone()),
            Some(i64::try_from(*bytes).unwrap_or(i64::MAX)),
            Some(i64::from(*secs)),
        ),
        RecordingSettled::Failed(reason) => (
            RecordingStatus::Failed.as_str(),
            Some(reason.as_str()),
            None,
            None,
            None,
        ),
    }
}

/// Applies a pending recording's outcome to CDR `id`; returns whether the CDR changed. An
/// outcome for a CDR not written yet waits for it; one for a settled CDR is ignored.
pub(super) fn settle(
    conn: &Connection,
    id: &str,
    settled: &RecordingSettled,
) -> rusqlite::Result<bool> {
    let (status, reason, path, bytes, secs) = columns(settled);
    let changed = conn.execute(
        "UPDATE cdr SET recording_status = ?2, recording_reason = ?3, recording_path = ?4, \
         recording_bytes = ?5, recording_secs = ?6 WHERE id = ?1 AND recording_status = 'pending'",
        params![id, status, reason, path, bytes, secs],
    )?;
    if changed > 0 {
        return Ok(true);
    }
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM cdr WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        conn.execute(
            "INSERT OR IGNORE INTO recording_settled (id, status, reason, path, bytes, secs) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, status, reason, path, bytes, secs],
        )?;
    } else {
        tracing::debug!(call = %id, "recording outcome for a settled CDR ignored");
    }
    Ok(false)
}

/// CDR `id` was just inserted `pending`: an outcome that arrived before it is applied now.
pub(super) fn adopt(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE cdr SET (recording_status, recording_reason, recording_path, recording_bytes, \
         recording_secs) = (SELECT status, reason, path, bytes, secs FROM recording_settled \
         WHERE recording_settled.id = cdr.id) \
         WHERE id = ?1 AND recording_status = 'pending' \
         AND EXISTS (SELECT 1 FROM recording_settled WHERE recording_settled.id = ?1)",
        [id],
    )?;
    conn.execute("DELETE FROM recording_settled WHERE id = ?1", [id])?;
    Ok(changed > 0)
}

/// Marks these recorded CDRs `expired` for `reason` (their files are about to be removed):
/// the path goes, the size and length stay as they were. Returns how many changed.
pub(super) fn expire(
    conn: &Connection,
    ids: &[String],
    reason: RecordingReason,
) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(
        "UPDATE cdr SET recording_status = 'expired', recording_reason = ?2, \
         recording_path = NULL WHERE id = ?1 AND recording_status IN ('recorded', 'pending')",
    )?;
    // An outcome still waiting for its CDR must not bring the removed file's path back.
    let mut waiting = conn.prepare_cached(
        "UPDATE recording_settled SET status = 'expired', reason = ?2, path = NULL \
         WHERE id = ?1",
    )?;
    let mut changed = 0;
    for id in ids {
        changed += stmt.execute(params![id, reason.as_str()])?;
        waiting.execute(params![id, reason.as_str()])?;
    }
    Ok(changed)
}

/// At most this many rows per pass, oldest first (a pass after a long outage takes the rest).
const PENDING_BEFORE: &str = "SELECT id FROM cdr WHERE recording_status = 'pending' \
    AND ended_at < ?1 ORDER BY ended_at LIMIT 1000";

/// Ids of CDRs still `pending` that ended before `ended_before` (RFC 3339 text): the janitor
/// settles them from the disk.
pub fn pending_before(conn: &Connection, ended_before: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(PENDING_BEFORE)?;
    let ids = stmt.query_map([ended_before], |r| r.get(0))?;
    ids.collect()
}

/// A call's recording as the API serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    pub status: Option<String>,
    pub reason: Option<String>,
    pub path: Option<String>,
    /// The node whose disk holds the file (the CDR's `node_id` on PostgreSQL; `None` on
    /// SQLite, where the file is always this node's).
    pub node: Option<String>,
    /// Where that node's HTTP API is reached (`[node] http_url`), if it said.
    pub node_url: Option<String>,
}

/// Call `id`'s recording columns; `None` for an unknown call.
pub fn of_call(conn: &Connection, id: &str) -> rusqlite::Result<Option<CallRecording>> {
    conn.query_row(
        "SELECT recording_status, recording_reason, recording_path FROM cdr WHERE id = ?1",
        [id],
        |r| {
            Ok(CallRecording {
                status: r.get(0)?,
                reason: r.get(1)?,
                path: r.get(2)?,
                node: None,
                node_url: None,
            })
        },
    )
    .optional()
}

#[cfg(test)]
#[path = "recordings_tests.rs"]
mod tests;
