//! The caller blacklist entries added through the admin API, on PostgreSQL: one table every
//! node reads at start and again whenever an edit is announced on [`CHANNEL`] (see
//! [`super::blacklist_watch`]). Written by the store writer (`BlacklistAdd`,
//! `BlacklistRemove`); an edit that changed a row sends `NOTIFY`, which PostgreSQL delivers to
//! the listeners when the writer's transaction commits, never before.

use jiff::Timestamp;
use postgres::GenericClient;

use crate::call::record::rfc3339;
use crate::store::StoreError;

/// The `LISTEN`/`NOTIFY` channel of blacklist edits (the payload is the pattern).
pub const CHANNEL: &str = "calltrack_blacklist";

/// Every stored pattern, in order.
pub fn load(client: &mut impl GenericClient) -> Result<Vec<String>, StoreError> {
    let rows = client.query("SELECT pattern FROM blacklist ORDER BY pattern", &[])?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Stores `pattern` added by `node`; false (and no change, no notification) when it is
/// stored already.
pub fn insert(
    client: &mut impl GenericClient,
    pattern: &str,
    at: Timestamp,
    node: &str,
) -> Result<bool, StoreError> {
    let added = client.execute(
        "INSERT INTO blacklist (pattern, added_at, added_by) \
         VALUES ($1, $2::text::timestamptz, $3) ON CONFLICT (pattern) DO NOTHING",
        &[&pattern, &rfc3339::format(at), &node],
    )? > 0;
    if added {
        announce(client, pattern)?;
    }
    Ok(added)
}

/// Removes `pattern`; true (and a notification) when it was stored.
pub fn remove(client: &mut impl GenericClient, pattern: &str) -> Result<bool, StoreError> {
    let removed = client.execute("DELETE FROM blacklist WHERE pattern = $1", &[&pattern])? > 0;
    if removed {
        announce(client, pattern)?;
    }
    Ok(removed)
}

/// Queues the notification; inside a transaction it is sent at commit.
fn announce(client: &mut impl GenericClient, pattern: &str) -> Result<(), StoreError> {
    client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &pattern])?;
    Ok(())
}
