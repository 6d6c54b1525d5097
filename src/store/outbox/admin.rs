//! Status per destination, listings and replay of the outbox, for `calltrack outbox` and the
//! admin API.

use jiff::Timestamp;
use rusqlite::{Connection, Row};

use super::{DeliveryState, from_millis, millis};
use crate::store::row_cells::RowCells;

/// Which events to send again: dead letters and delivered events alike go back to pending
/// with their attempts reset, keeping their ids (receivers deduplicate by them). Dropped
/// events (dead letters a destination's filter chose never to send, such as a call scored not
/// target with `send = "target"`; their `last_error` starts with [`DROPPED`]) are never
/// replayed: sending one would tell the destination the opposite of the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// One event by its id.
    Id { destination: String, id: String },
    /// Every event of the destination written at or after `since` and settled (delivered or
    /// dead) by the time of the replay.
    Since {
        destination: String,
        since: Timestamp,
    },
}

impl Replay {
    pub fn destination(&self) -> &str {
        match self {
            Replay::Id { destination, .. } | Replay::Since { destination, .. } => destination,
        }
    }
}

/// How the reason of a dropped event starts (see `subscription::Subscription::drops_call`).
pub const DROPPED: &str = "dropped: ";

const RESET: &str = "UPDATE outbox SET state = 'pending', attempts = 0, \
    next_attempt_at = ?1, settled_at = NULL, last_error = NULL ";
/// Leaves dropped events out of a replay (the PostgreSQL admin uses it too).
pub const NOT_DROPPED: &str = "AND coalesce(last_error, '') NOT LIKE 'dropped: %'";
/// The rows a `Replay::Since` takes (`?1` is the replay's time: rows settled after it were
/// still pending when it was asked for, so a count taken before it stays exact).
const SINCE: &str = "WHERE destination = ?2 AND created_at >= ?3 AND state != 'pending' \
    AND settled_at <= ?1";

/// Whether event `id` of `destination` is a dropped one, which [`replay`] refuses.
pub fn is_dropped(conn: &Connection, destination: &str, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!(
        "SELECT COUNT(*) FROM outbox WHERE destination = ?1 AND id = ?2 AND state = 'dead' \
         AND NOT (1 {NOT_DROPPED})"
    ))?
    .query_row((destination, id), |r| r.get::<_, i64>(0))
    .map(|n| n > 0)
}

/// Puts the chosen events back to pending, due at `now`; returns how many.
pub fn replay(conn: &Connection, replay: &Replay, now: Timestamp) -> rusqlite::Result<usize> {
    match replay {
        Replay::Id { destination, id } => conn
            .prepare_cached(&format!(
                "{RESET} WHERE destination = ?2 AND id = ?3 {NOT_DROPPED}"
            ))?
            .execute((millis(now), destination, id)),
        Replay::Since { destination, since } => conn
            .prepare_cached(&format!("{RESET} {SINCE} {NOT_DROPPED}"))?
            .execute((millis(now), destination, millis(*since))),
    }
}

/// How many events [`replay`] at `now` would put back (read before asking the writer, which
/// only answers whether any were).
pub fn replayable(conn: &Connection, replay: &Replay, now: Timestamp) -> rusqlite::Result<usize> {
    let count: i64 = match replay {
        Replay::Id { destination, id } => conn
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM outbox WHERE destination = ?1 AND id = ?2 {NOT_DROPPED}"
            ))?
            .query_row((destination, id), |r| r.get(0))?,
        Replay::Since { destination, since } => conn
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM outbox {SINCE} {NOT_DROPPED}"
            ))?
            .query_row((millis(now), destination, millis(*since)), |r| r.get(0))?,
    };
    Ok(usize::try_from(count).unwrap_or(0))
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

/// Where one destination's events stand (`outbox status`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DestinationStatus {
    pub destination: String,
    pub pending: u64,
    pub dead: u64,
    /// Delivered and not pruned yet (`keep_delivered_days`).
    pub delivered: u64,
    /// When the oldest pending event was written.
    pub oldest_pending: Option<Timestamp>,
    /// When the last delivery was settled.
    pub last_delivered: Option<Timestamp>,
    /// The error of the newest event that is pending after a failure or dead.
    pub last_error: Option<String>,
}

/// Every destination that has rows in the outbox, by id. Each figure is read through the
/// `(destination, state, seq)` index, so a large delivered history costs little; the last
/// delivery is the newest settlement among the latest 1000 delivered events.
pub fn status(conn: &Connection) -> rusqlite::Result<Vec<DestinationStatus>> {
    let mut next =
        conn.prepare_cached("SELECT MIN(destination) FROM outbox WHERE destination > ?1")?;
    let mut all = Vec::new();
    let mut after = String::new();
    while let Some(destination) = next.query_row([&after], |r| r.get::<_, Option<String>>(0))? {
        all.push(destination_status(conn, &destination)?);
        after = destination;
    }
    Ok(all)
}

fn destination_status(conn: &Connection, destination: &str) -> rusqlite::Result<DestinationStatus> {
    let mut s = DestinationStatus {
        destination: destination.to_owned(),
        ..DestinationStatus::default()
    };
    let mut counts = conn.prepare_cached(
        "SELECT state, COUNT(*) FROM outbox WHERE destination = ?1 GROUP BY state",
    )?;
    let rows = counts.query_map([destination], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
    for row in rows {
        let (state, n): (String, u64) = row?;
        match DeliveryState::parse(&state) {
            Some(DeliveryState::Pending) => s.pending = n,
            Some(DeliveryState::Dead) => s.dead = n,
            Some(DeliveryState::Delivered) => s.delivered = n,
            None => {}
        }
    }
    let one = |sql: &str| -> rusqlite::Result<Option<i64>> {
        conn.prepare_cached(sql)?
            .query_row([destination], |r| r.get(0))
    };
    s.oldest_pending =
        one("SELECT MIN(created_at) FROM outbox WHERE destination = ?1 AND state = 'pending'")?
            .map(from_millis);
    s.last_delivered = one(
        "SELECT MAX(settled_at) FROM (SELECT settled_at FROM outbox WHERE destination = ?1 \
         AND state = 'delivered' ORDER BY seq DESC LIMIT 1000)",
    )?
    .map(from_millis);
    s.last_error = conn
        .prepare_cached(
            "SELECT last_error FROM outbox WHERE destination = ?1 AND state != 'delivered' \
             AND last_error IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )?
        .query_map([destination], |r| r.get(0))?
        .next()
        .transpose()?;
    Ok(s)
}

/// Which events `outbox list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub destination: Option<String>,
    pub state: Option<DeliveryState>,
    /// Page size (at least 1).
    pub limit: usize,
    /// Only events with a `seq` below this (the previous page's cursor).
    pub before: Option<i64>,
    /// Whether to read each event's payload.
    pub payload: bool,
}

/// One outbox row as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEvent {
    pub seq: i64,
    pub id: String,
    pub destination: String,
    /// `call.ringing`, ... as stored.
    pub kind: String,
    pub subject: String,
    /// RFC 3339, as stored.
    pub occurred_at: String,
    pub created_at: Timestamp,
    pub state: String,
    pub attempts: u32,
    /// When a pending event is tried next.
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// When it was delivered or dead-lettered.
    pub settled_at: Option<Timestamp>,
    /// The event's JSON, when asked for.
    pub payload: Option<String>,
}

/// One page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    pub events: Vec<ListedEvent>,
    /// The cursor of the next (older) page, when there is one.
    pub next: Option<i64>,
}

/// The events `filter` selects, newest first (keyset pages on `seq`).
pub fn list(conn: &Connection, filter: &ListFilter) -> rusqlite::Result<ListPage> {
    let payload = if filter.payload { "payload" } else { "NULL" };
    // Plain equalities where given, so `(destination, state, seq)` serves the page.
    let destination = match filter.destination {
        Some(_) => "destination = ?1",
        None => "?1 IS NULL",
    };
    let state = match filter.state {
        Some(_) => "state = ?2",
        None => "?2 IS NULL",
    };
    let sql = format!(
        "SELECT seq, id, destination, event, subject, occurred_at, created_at, state, \
         attempts, next_attempt_at, last_error, settled_at, {payload} FROM outbox \
         WHERE {destination} AND {state} AND (?3 IS NULL OR seq < ?3) \
         ORDER BY seq DESC LIMIT ?4"
    );
    let limit = filter.limit.max(1);
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let state = filter.state.map(DeliveryState::as_str);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        (filter.destination.as_deref(), state, filter.before, fetch),
        listed,
    )?;
    let mut events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        events.last().map_or(0, |e| e.seq)
    });
    Ok(ListPage { events, next })
}

fn listed(row: &Row<'_>) -> rusqlite::Result<ListedEvent> {
    ListedEvent::read(row)
}

impl ListedEvent {
    /// The columns of a listing's `SELECT` (`seq, id, destination, event, subject,
    /// occurred_at, created_at, state, attempts, next_attempt_at, last_error, settled_at,
    /// payload`), from either driver's row.
    pub(in crate::store) fn read<R: RowCells>(row: &R) -> Result<ListedEvent, R::Error> {
        let state = row.text(7)?;
        let pending = state == DeliveryState::Pending.as_str();
        Ok(ListedEvent {
            seq: row.int(0)?,
            id: row.text(1)?,
            destination: row.text(2)?,
            kind: row.text(3)?,
            subject: row.text(4)?,
            occurred_at: row.text(5)?,
            created_at: from_millis(row.int(6)?),
            attempts: u32::try_from(row.int(8)?).unwrap_or(u32::MAX),
            next_attempt_at: row.opt_int(9)?.filter(|_| pending).map(from_millis),
            last_error: row.opt_text(10)?,
            settled_at: row.opt_int(11)?.map(from_millis),
            payload: row.opt_text(12)?,
            state,
        })
    }
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
