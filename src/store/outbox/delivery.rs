//! What a delivery service reads from the outbox and how it settles what it sent.
//!
//! Per-subject order: an event is due only when no earlier event of the same call or lead
//! for the same destination is still pending, so `call.ended` never overtakes
//! `call.ringing`, even while the earlier one waits for a retry.

use std::collections::HashSet;

use jiff::Timestamp;
use rusqlite::{Connection, Row};

use super::{EventKind, OutboxEvent, from_millis, millis};
use crate::call::record::rfc3339;

/// How an attempt ended, as the writer stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Settlement {
    /// Accepted by the destination; `kept` is what later events of the subject need.
    Delivered { kept: Option<String> },
    /// Try again at `at`.
    Retry {
        #[serde(with = "rfc3339")]
        at: Timestamp,
        error: String,
    },
    /// Given up: a dead letter with the reason (`replay` sends it again).
    Dead { error: String },
}

/// One row's settlement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settled {
    pub seq: i64,
    /// When the attempt ended.
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    /// Whether a request was made (false when the event was refused before sending, for
    /// example as too old for the destination).
    pub attempted: bool,
    pub outcome: Settlement,
}

/// Up to `limit` events of `destination` due at `now`, oldest first, skipping subjects in
/// `busy` (in flight) and events behind a pending earlier event of their subject.
///
/// The indexes are named: left to itself SQLite took `outbox_due` and checked each earlier
/// event through `outbox_state`, O(pending²) per claim (25 s with 20 000 pending); walking
/// `outbox_state` in `seq` order stops at `limit`, and `outbox_subject` answers the check
/// with one lookup.
pub fn due(
    conn: &Connection,
    destination: &str,
    now: Timestamp,
    limit: usize,
    busy: &HashSet<String>,
) -> rusqlite::Result<Vec<OutboxEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.seq, o.id, o.destination, o.event, o.subject, o.occurred_at, o.created_at, \
         o.attempts, o.payload, \
         (SELECT k.kept FROM outbox k WHERE k.destination = o.destination \
          AND k.subject = o.subject AND k.kept IS NOT NULL ORDER BY k.seq LIMIT 1) \
         FROM outbox o INDEXED BY outbox_state \
         WHERE o.destination = ?1 AND o.state = 'pending' AND o.next_attempt_at <= ?2 \
         AND NOT EXISTS (SELECT 1 FROM outbox e INDEXED BY outbox_subject \
          WHERE e.destination = o.destination \
          AND e.subject = o.subject AND e.state = 'pending' AND e.seq < o.seq) \
         ORDER BY o.seq LIMIT ?3",
    )?;
    let fetch = i64::try_from(limit.saturating_add(busy.len())).unwrap_or(i64::MAX);
    let rows = stmt.query_map((destination, millis(now), fetch), event_from_row)?;
    let mut events = Vec::with_capacity(limit);
    for row in rows {
        let event = row?;
        if !busy.contains(&event.subject) {
            events.push(event);
        }
        if events.len() == limit {
            break;
        }
    }
    Ok(events)
}

/// When the next pending event of `destination` is due (None: nothing pending).
pub fn next_due(conn: &Connection, destination: &str) -> rusqlite::Result<Option<Timestamp>> {
    let mut stmt = conn.prepare_cached(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE destination = ?1 AND state = 'pending'",
    )?;
    let ms: Option<i64> = stmt.query_row([destination], |row| row.get(0))?;
    Ok(ms.map(from_millis))
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEvent> {
    let kind: String = row.get(3)?;
    let occurred: String = row.get(5)?;
    Ok(OutboxEvent {
        seq: row.get(0)?,
        id: row.get(1)?,
        destination: row.get(2)?,
        kind: EventKind::parse(&kind).ok_or_else(|| bad_column(3, &kind))?,
        subject: row.get(4)?,
        occurred_at: rfc3339::parse(&occurred).map_err(|_| bad_column(5, &occurred))?,
        created_at: from_millis(row.get(6)?),
        attempts: row.get(7)?,
        payload: row.get(8)?,
        kept: row.get(9)?,
    })
}

fn bad_column(i: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("unexpected outbox value {text:?}").into(),
    )
}

/// Stores the settlements (in the writer's transaction). A row no longer pending (replayed
/// or settled meanwhile) is left as it is.
pub fn settle(conn: &Connection, settled: &[Settled]) -> rusqlite::Result<()> {
    for s in settled {
        let tried = i64::from(s.attempted);
        match &s.outcome {
            Settlement::Delivered { kept } => conn
                .prepare_cached(
                    "UPDATE outbox SET state = 'delivered', attempts = attempts + ?2, \
                     settled_at = ?3, kept = ?4, last_error = NULL \
                     WHERE seq = ?1 AND state = 'pending'",
                )?
                .execute((s.seq, tried, millis(s.at), kept))?,
            Settlement::Retry { at, error } => conn
                .prepare_cached(
                    "UPDATE outbox SET attempts = attempts + ?2, next_attempt_at = ?3, \
                     last_error = ?4 WHERE seq = ?1 AND state = 'pending'",
                )?
                .execute((s.seq, tried, millis(*at), error))?,
            Settlement::Dead { error } => conn
                .prepare_cached(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + ?2, \
                     settled_at = ?3, last_error = ?4 WHERE seq = ?1 AND state = 'pending'",
                )?
                .execute((s.seq, tried, millis(s.at), error))?,
        };
    }
    Ok(())
}

/// Deletes delivered events settled before `before` (dead letters stay until replayed or
/// pruned by hand); returns how many.
pub fn prune_delivered(conn: &Connection, before: Timestamp) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM outbox WHERE state = 'delivered' AND settled_at < ?1")?
        .execute([millis(before)])
}
