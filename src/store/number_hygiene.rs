//! Number hygiene in the store (schema version 18): the quarantined pool numbers, replaced
//! with the lease snapshot in the sweeper's one transaction so a quarantine survives a
//! restart, and each tracking number's calls and junk calls over a period, for
//! `GET /v1/admin/numbers`.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{Connection, Row, named_params};

use super::StoreError;
use super::leases::LeaseTime;
use crate::call::record::rfc3339;
use crate::lease::Quarantine;

/// Version 19: pool numbers taken out of their pool by leak detection (`lease/quarantine.rs`).
pub(super) const V19_QUARANTINED_NUMBERS: &str = "
CREATE TABLE quarantined_numbers (
    number TEXT PRIMARY KEY NOT NULL,
    site   TEXT NOT NULL,
    pool   TEXT NOT NULL,
    since  TEXT NOT NULL,
    reason TEXT NOT NULL
);
";

/// Talk below this many seconds makes an answered call junk.
pub const JUNK_TALK_SECS: u32 = 5;

/// Replaces every stored quarantine with `quarantined` inside the caller's transaction.
pub(super) fn replace(conn: &Connection, quarantined: &[Quarantine]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM quarantined_numbers", [])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO quarantined_numbers (number, site, pool, since, reason)
         VALUES (:number, :site, :pool, :since, :reason)",
    )?;
    for q in quarantined {
        insert.execute(named_params! {
            ":number": q.number,
            ":site": q.site,
            ":pool": q.pool,
            ":since": LeaseTime(q.since),
            ":reason": q.reason,
        })?;
    }
    Ok(())
}

/// Every stored quarantine.
pub fn load(conn: &Connection) -> Result<Vec<Quarantine>, StoreError> {
    let mut select = conn.prepare(
        "SELECT number, site, pool, since, reason FROM quarantined_numbers ORDER BY number",
    )?;
    let rows = select.query_map([], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Quarantine> {
    Ok(Quarantine {
        number: row.get("number")?,
        site: row.get("site")?,
        pool: row.get("pool")?,
        since: row.get::<_, LeaseTime>("since")?.0,
        reason: row.get("reason")?,
    })
}

/// One tracking number's calls since a moment, and how many were junk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumberCalls {
    pub calls: u64,
    /// Nobody held the pool number at ring time (`unattributed`), answered with under
    /// [`JUNK_TALK_SECS`] of talk, or refused as a blacklisted caller.
    pub junk: u64,
}

/// Calls and junk calls per tracking number since `since` (one pass over the period's calls).
pub fn number_calls(
    conn: &Connection,
    since: Timestamp,
) -> Result<HashMap<String, NumberCalls>, StoreError> {
    let mut select = conn.prepare_cached(
        "SELECT tracking_number, count(*),
            sum(number_kind = 'unattributed'
                OR (answered_at IS NOT NULL AND talk_secs < :junk_talk)
                OR reject_reason IS 'blacklist')
         FROM cdr WHERE started_at >= :since GROUP BY tracking_number",
    )?;
    let since = rfc3339::format(since);
    let rows = select.query_map(
        named_params! {":since": since, ":junk_talk": JUNK_TALK_SECS},
        |row| {
            let calls: i64 = row.get(1)?;
            let junk: i64 = row.get(2)?;
            Ok((
                row.get::<_, String>(0)?,
                NumberCalls {
                    calls: u64::try_from(calls).unwrap_or(0),
                    junk: u64::try_from(junk).unwrap_or(0),
                },
            ))
        },
    )?;
    Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);

    #[test]
    fn quarantines_round_trip_and_junk_is_counted_per_number() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let q = Quarantine {
            number: "74950000100".into(),
            site: "shop".into(),
            pool: "web".into(),
            since: T0,
            reason: "3 calls while unheld within 24 h".into(),
        };
        replace(&conn, std::slice::from_ref(&q)).unwrap();
        replace(&conn, std::slice::from_ref(&q)).unwrap();
        assert_eq!(load(&conn).unwrap(), [q]);
        replace(&conn, &[]).unwrap();
        assert!(load(&conn).unwrap().is_empty());

        let call = |id: &str, kind: &str, answered: bool, talk: u32, reason: Option<&str>| {
            conn.execute(
                "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
                    answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status,
                    hangup_side, site, number_kind, reject_reason)
                 VALUES (?1, ?1, '100', '79', 'sip:x', '2026-03-01T12:00:00.000Z',
                    CASE WHEN ?3 THEN '2026-03-01T12:00:01.000Z' END, '2026-03-01T12:01:00.000Z',
                    1, ?4, 'answered', 200, 'caller', 'shop', ?2, ?5)",
                rusqlite::params![id, kind, answered, talk, reason],
            )
            .unwrap();
        };
        call("a", "dynamic", true, 60, None);
        call("b", "unattributed", true, 60, None);
        call("c", "dynamic", true, 2, None);
        call("d", "dynamic", false, 0, None);
        call("e", "dynamic", false, 0, Some("blacklist"));
        let counted = number_calls(&conn, T0).unwrap();
        assert_eq!(counted["100"], NumberCalls { calls: 5, junk: 3 });
        let later = T0 + jiff::SignedDuration::from_hours(1);
        assert!(number_calls(&conn, later).unwrap().is_empty());
    }
}
