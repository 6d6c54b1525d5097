//! Reads over stored CDRs: newest first for listings, oldest first after a `seq` for tailing.

use rusqlite::Connection;

use super::StoreError;
use super::columns::{cdr_from_row, cdr_select};
use crate::call::record::{CallDetailRecord, rfc3339};
use jiff::Timestamp;

/// A CDR with its storage sequence number (increases with every insert, never reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCdr {
    pub seq: i64,
    pub cdr: CallDetailRecord,
}

/// The newest `limit` CDRs, newest first.
pub fn list_recent(conn: &Connection, limit: usize) -> Result<Vec<StoredCdr>, StoreError> {
    select(
        conn,
        &format!("{} ORDER BY seq DESC LIMIT ?1", cdr_select()),
        (sql_limit(limit),),
    )
}

/// Up to `limit` CDRs stored after `seq`, oldest first (follow with the last `seq` seen).
pub fn after(conn: &Connection, seq: i64, limit: usize) -> Result<Vec<StoredCdr>, StoreError> {
    select(
        conn,
        &format!("{} WHERE seq > ?1 ORDER BY seq ASC LIMIT ?2", cdr_select()),
        (seq, sql_limit(limit)),
    )
}

/// Each caller's latest call at or after `since` (all of history when `None`): the seed of
/// the first-time-caller judgement.
pub fn recent_callers(
    conn: &Connection,
    since: Option<Timestamp>,
) -> Result<Vec<(String, Timestamp)>, StoreError> {
    let since = since.map_or_else(String::new, rfc3339::format);
    let mut stmt = conn.prepare(
        "SELECT caller, MAX(started_at) FROM cdr WHERE caller != '' AND started_at >= ?1 \
         GROUP BY caller",
    )?;
    let rows = stmt.query_map([since], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut callers = Vec::new();
    for row in rows {
        let (caller, at) = row?;
        if let Ok(at) = rfc3339::parse(&at) {
            callers.push((caller, at));
        }
    }
    Ok(callers)
}

/// Number of stored CDRs.
pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM cdr", [], |row| row.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `PRAGMA integrity_check`: true when SQLite reports `ok`.
pub fn integrity_check(conn: &Connection) -> Result<bool, StoreError> {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    Ok(verdict == "ok")
}

fn select(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredCdr>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        cdr_from_row(row).map(|(seq, cdr)| StoredCdr { seq, cdr })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{Disposition, HangupSide, LiveCall};
    use crate::store::{columns, schema};

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn conn_with(n: usize) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        for i in 0..n {
            let live = LiveCall {
                id: format!("{i:016x}"),
                call_id: format!("c{i}"),
                tracking_number: "74951234567".into(),
                caller: "79161112233".into(),
                destination: "sip:sales@pbx.example".into(),
                started_at: ts("2026-11-23T03:20:00Z"),
                answered_at: None,
                attribution: Default::default(),
                first_time_caller: true,
                scheme: None,
                answered_step: None,
                answered_target: None,
            };
            let cdr = CallDetailRecord::from_live(
                &live,
                ts("2026-11-23T03:20:30Z"),
                Disposition::NoAnswer,
                480,
                HangupSide::System,
            );
            columns::insert_cdr(&conn, &cdr).unwrap();
        }
        conn
    }

    fn seqs(cdrs: &[StoredCdr]) -> Vec<i64> {
        cdrs.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn list_recent_is_newest_first() {
        let conn = conn_with(5);
        assert_eq!(seqs(&list_recent(&conn, 3).unwrap()), [5, 4, 3]);
        assert_eq!(count(&conn).unwrap(), 5);
    }

    #[test]
    fn after_is_oldest_first_and_exclusive() {
        let conn = conn_with(5);
        assert_eq!(seqs(&after(&conn, 2, 2).unwrap()), [3, 4]);
        assert!(after(&conn, 5, 10).unwrap().is_empty());
    }

    #[test]
    fn fresh_database_passes_integrity_check() {
        assert!(integrity_check(&conn_with(1)).unwrap());
    }
}
