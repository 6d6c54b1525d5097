//! The outbox admin on PostgreSQL (`calltrack outbox`, `/v1/admin/outbox*`): every node's
//! events in one place, with the answers `store::outbox::admin` gives on SQLite (status per
//! destination, keyset pages newest first, replay). A replay also lifts a claim, so the
//! first node whose delivery service looks takes the events again.

use jiff::Timestamp;
use postgres::{GenericClient, Row};

use crate::store::StoreError;
use crate::store::outbox::admin::{
    Backlog, DestinationStatus, ListFilter, ListPage, ListedEvent, NOT_DROPPED, Replay,
};
use crate::store::outbox::{DeliveryState, from_millis, millis};

const RESET: &str = "UPDATE outbox SET state = 'pending', attempts = 0, \
    next_attempt_at = $1, settled_at = NULL, last_error = NULL, claimed_by = NULL, \
    claimed_until = NULL ";
/// The rows a `Replay::Since` takes (`$1` is the replay's time, as on SQLite).
const SINCE: &str = "WHERE destination = $2 AND created_at >= $3 AND state <> 'pending' \
    AND settled_at <= $1";

/// The backlog of `destination` over every node's events (the delivery services' gauges).
pub fn backlog(client: &mut impl GenericClient, destination: &str) -> Result<Backlog, StoreError> {
    let row = client.query_one(
        "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'dead'), \
         min(created_at) FILTER (WHERE state = 'pending') \
         FROM outbox WHERE destination = $1 AND state <> 'delivered'",
        &[&destination],
    )?;
    let (pending, dead): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok(Backlog {
        pending: u64::try_from(pending).unwrap_or(0),
        dead: u64::try_from(dead).unwrap_or(0),
        oldest_pending: row.try_get::<_, Option<i64>>(2)?.map(from_millis),
    })
}

/// Whether event `id` of `destination` is a dropped one, which [`replay`] refuses.
pub fn is_dropped(
    client: &mut impl GenericClient,
    destination: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT count(*) FROM outbox WHERE destination = $1 AND id = $2 AND state = 'dead' \
         AND NOT (true {NOT_DROPPED})"
    );
    let n: i64 = client.query_one(&sql, &[&destination, &id])?.get(0);
    Ok(n > 0)
}

/// Puts the chosen events back to pending, due at `now`; returns how many.
pub fn replay(
    client: &mut impl GenericClient,
    replay: &Replay,
    now: Timestamp,
) -> Result<u64, StoreError> {
    Ok(match replay {
        Replay::Id { destination, id } => client.execute(
            &format!("{RESET} WHERE destination = $2 AND id = $3 {NOT_DROPPED}"),
            &[&millis(now), destination, id],
        )?,
        Replay::Since { destination, since } => client.execute(
            &format!("{RESET} {SINCE} {NOT_DROPPED}"),
            &[&millis(now), destination, &millis(*since)],
        )?,
    })
}

/// How many events [`replay`] at `now` would put back.
pub fn replayable(
    client: &mut impl GenericClient,
    replay: &Replay,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let count: i64 = match replay {
        Replay::Id { destination, id } => client.query_one(
            &format!(
                "SELECT count(*) FROM outbox WHERE destination = $1 AND id = $2 {NOT_DROPPED}"
            ),
            &[destination, id],
        )?,
        Replay::Since { destination, since } => client.query_one(
            &format!("SELECT count(*) FROM outbox {SINCE} {NOT_DROPPED}"),
            &[&millis(now), destination, &millis(*since)],
        )?,
    }
    .get(0);
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Every destination that has rows in the outbox, by id.
pub fn status(client: &mut impl GenericClient) -> Result<Vec<DestinationStatus>, StoreError> {
    let rows = client.query(
        "SELECT destination, \
         count(*) FILTER (WHERE state = 'pending'), \
         count(*) FILTER (WHERE state = 'dead'), \
         count(*) FILTER (WHERE state = 'delivered'), \
         min(created_at) FILTER (WHERE state = 'pending'), \
         max(settled_at) FILTER (WHERE state = 'delivered'), \
         (SELECT e.last_error FROM outbox e WHERE e.destination = o.destination \
          AND e.state <> 'delivered' AND e.last_error IS NOT NULL ORDER BY e.seq DESC LIMIT 1) \
         FROM outbox o GROUP BY destination ORDER BY destination",
        &[],
    )?;
    rows.iter().map(destination_status).collect()
}

fn destination_status(row: &Row) -> Result<DestinationStatus, StoreError> {
    let count = |i: usize| -> Result<u64, StoreError> {
        Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0))
    };
    Ok(DestinationStatus {
        destination: row.try_get(0)?,
        pending: count(1)?,
        dead: count(2)?,
        delivered: count(3)?,
        oldest_pending: row.try_get::<_, Option<i64>>(4)?.map(from_millis),
        last_delivered: row.try_get::<_, Option<i64>>(5)?.map(from_millis),
        last_error: row.try_get(6)?,
    })
}

/// The events `filter` selects, newest first (keyset pages on `seq`).
pub fn list(client: &mut impl GenericClient, filter: &ListFilter) -> Result<ListPage, StoreError> {
    let payload = if filter.payload {
        "payload::text"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT seq, id, destination, event, subject, {}, created_at, state, attempts, \
         next_attempt_at, last_error, settled_at, {payload} FROM outbox \
         WHERE ($1::text IS NULL OR destination = $1) AND ($2::text IS NULL OR state = $2) \
         AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4",
        super::cells::time_text("occurred_at")
    );
    let limit = filter.limit.max(1);
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let state = filter.state.map(DeliveryState::as_str);
    let rows = client.query(&sql, &[&filter.destination, &state, &filter.before, &fetch])?;
    let mut events = rows.iter().map(listed).collect::<Result<Vec<_>, _>>()?;
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        events.last().map_or(0, |e| e.seq)
    });
    Ok(ListPage { events, next })
}

fn listed(row: &Row) -> Result<ListedEvent, StoreError> {
    Ok(ListedEvent::read(row)?)
}
