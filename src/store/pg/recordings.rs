//! A recording's facts on PostgreSQL, as `store::recordings` keeps them on SQLite: the
//! outcome of a pending recording settled on its CDR once (an outcome that arrives before its
//! CDR waits in `recording_settled` and is adopted when the CDR is inserted), the janitor's
//! expiry, and the reads of the janitor and of `GET /v1/calls/{id}/recording`.
//!
//! A recording file lives on the disk of the node that recorded it, the CDR's `node_id`: the
//! janitor settles only its own node's pending rows ([`pending_before`]), and the API answers
//! with the node that holds the file ([`of_call`]).

use jiff::Timestamp;
use postgres::GenericClient;

use crate::call::record::rfc3339;
use crate::call::recording::{RecordingReason, RecordingSettled};
use crate::store::StoreError;
use crate::store::recordings::{CallRecording, columns};

/// Applies a pending recording's outcome to CDR `id`; whether the CDR changed. An outcome
/// for a CDR not written yet waits for it; one for a settled CDR is ignored.
pub fn settle(
    client: &mut impl GenericClient,
    id: &str,
    settled: &RecordingSettled,
) -> Result<bool, StoreError> {
    let (status, reason, path, bytes, secs) = columns(settled);
    let changed = client.execute(
        "UPDATE cdr SET recording_status = $2, recording_reason = $3, recording_path = $4, \
         recording_bytes = $5, recording_secs = $6 WHERE id = $1 AND recording_status = 'pending'",
        &[&id, &status, &reason, &path, &bytes, &secs],
    )?;
    if changed > 0 {
        return Ok(true);
    }
    let waits = client.execute(
        "INSERT INTO recording_settled (id, status, reason, path, bytes, secs) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM cdr WHERE id = $1) \
         ON CONFLICT (id) DO NOTHING",
        &[&id, &status, &reason, &path, &bytes, &secs],
    )?;
    if waits == 0 {
        tracing::debug!(call = %id, "recording outcome for a settled CDR ignored");
    }
    Ok(false)
}

/// CDRs `ids` were just inserted `pending`: outcomes that arrived before them apply now.
pub fn adopt(client: &mut impl GenericClient, ids: &[&str]) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let changed = client.execute(
        "WITH w AS (DELETE FROM recording_settled WHERE id = ANY($1) RETURNING *) \
         UPDATE cdr SET recording_status = w.status, recording_reason = w.reason, \
         recording_path = w.path, recording_bytes = w.bytes, recording_secs = w.secs \
         FROM w WHERE cdr.id = w.id AND cdr.recording_status = 'pending'",
        &[&ids],
    )?;
    Ok(changed)
}

/// Marks these recorded CDRs `expired` for `reason` (their files are about to be removed
/// from this node's disk): the path goes, size and length stay. Returns how many changed.
pub fn expire(
    client: &mut impl GenericClient,
    ids: &[String],
    reason: RecordingReason,
) -> Result<u64, StoreError> {
    let changed = client.execute(
        "UPDATE cdr SET recording_status = 'expired', recording_reason = $2, \
         recording_path = NULL WHERE id = ANY($1) AND recording_status IN ('recorded', 'pending')",
        &[&ids, &reason.as_str()],
    )?;
    // An outcome still waiting for its CDR must not bring the removed file's path back.
    client.execute(
        "UPDATE recording_settled SET status = 'expired', reason = $2, path = NULL \
         WHERE id = ANY($1)",
        &[&ids, &reason.as_str()],
    )?;
    Ok(changed)
}

/// Ids of node `node`'s CDRs still `pending` that ended before `ended_before`, oldest first,
/// at most 1,000 (the janitor settles them from its disk; another node's are not its own).
pub fn pending_before(
    client: &mut impl GenericClient,
    node: &str,
    ended_before: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let rows = client.query(
        "SELECT id FROM cdr WHERE recording_status = 'pending' AND node_id = $1 \
         AND ended_at < $2::text::timestamptz ORDER BY ended_at LIMIT 1000",
        &[&node, &rfc3339::format(ended_before)],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Call `id`'s recording columns and the node that holds its file; `None` for an unknown call.
pub fn of_call(
    client: &mut impl GenericClient,
    id: &str,
) -> Result<Option<CallRecording>, StoreError> {
    let row = client.query_opt(
        "SELECT c.recording_status, c.recording_reason, c.recording_path, c.node_id, \
         n.http_url FROM cdr c LEFT JOIN nodes n ON n.node_id = c.node_id WHERE c.id = $1",
        &[&id],
    )?;
    row.map(|r| {
        Ok(CallRecording {
            status: r.try_get(0)?,
            reason: r.try_get(1)?,
            path: r.try_get(2)?,
            node: r.try_get(3)?,
            node_url: r.try_get(4)?,
        })
    })
    .transpose()
}
