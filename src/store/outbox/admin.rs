//! Status per destination, listings and replay of the outbox, for `calltrack outbox` and the
//! admin API.

use jiff::Timestamp;
use rusqlite::Connection;

use super::{from_millis, millis};

/// Which events to send again: dead letters and delivered events alike go back to pending
/// with their attempts reset, keeping their ids (receivers deduplicate by them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// One event by its id.
    Id { destination: String, id: String },
    /// Every event of the destination written at or after `since`.
    Since {
        destination: String,
        since: Timestamp,
    },
}

/// Puts the chosen events back to pending, due at `now`; returns how many.
pub fn replay(conn: &Connection, replay: &Replay, now: Timestamp) -> rusqlite::Result<usize> {
    const RESET: &str = "UPDATE outbox SET state = 'pending', attempts = 0, \
        next_attempt_at = ?1, settled_at = NULL, last_error = NULL ";
    match replay {
        Replay::Id { destination, id } => conn
            .prepare_cached(&format!("{RESET} WHERE destination = ?2 AND id = ?3"))?
            .execute((millis(now), destination, id)),
        Replay::Since { destination, since } => conn
            .prepare_cached(&format!(
                "{RESET} WHERE destination = ?2 AND created_at >= ?3 AND state != 'pending'"
            ))?
            .execute((millis(now), destination, millis(*since))),
    }
}

/// What waits for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub pending: u64,
    pub dead: u64,
    /// When the oldest pending event was written.
    pub oldest_pending: Option<Timestamp>,
}

/// The backlog of `destination` (the delivery service's gauges).
pub fn backlog(conn: &Connection, destination: &str) -> rusqlite::Result<Backlog> {
    let mut stmt = conn.prepare_cached(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'dead'), 0), \
         MIN(CASE WHEN state = 'pending' THEN created_at END) \
         FROM outbox WHERE destination = ?1 AND state != 'delivered'",
    )?;
    stmt.query_row([destination], |row| {
        Ok(Backlog {
            pending: row.get(0)?,
            dead: row.get(1)?,
            oldest_pending: row.get::<_, Option<i64>>(2)?.map(from_millis),
        })
    })
}
