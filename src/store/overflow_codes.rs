//! Overflow-code persistence: the live codes as the rows of `overflow_codes` (schema version
//! 16), replaced with the lease table in the sweeper's one transaction, so a restart keeps a
//! visitor's code bound to its visit.

use std::sync::Arc;

use rusqlite::{Connection, Row, named_params};

use super::StoreError;
use super::leases::{LeaseTime, VisitJson};
use crate::lease::OverflowCode;

/// Version 16: overflow codes shown with the reserve number when a site's pools are exhausted
/// (`lease/codes.rs`); durations in milliseconds, timestamps RFC 3339 TEXT, `visit` JSON.
pub(super) const V16_OVERFLOW_CODES: &str = "
CREATE TABLE overflow_codes (
    session_id  TEXT PRIMARY KEY NOT NULL,
    site        TEXT NOT NULL,
    code        TEXT NOT NULL,
    visitor_id  TEXT,
    visit       TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    freeze_ms   INTEGER NOT NULL,
    cooldown_ms INTEGER NOT NULL
);
";

const INSERT: &str = "INSERT INTO overflow_codes
    (session_id, site, code, visitor_id, visit, issued_at, last_seen, expires_at, freeze_ms, cooldown_ms)
    VALUES (:session_id, :site, :code, :visitor_id, :visit, :issued_at, :last_seen, :expires_at,
            :freeze_ms, :cooldown_ms)";

const SELECT: &str = "SELECT session_id, site, code, visitor_id, visit, issued_at, last_seen,
    expires_at, freeze_ms, cooldown_ms FROM overflow_codes ORDER BY issued_at, session_id";

/// Replaces every stored code with `codes` inside the caller's transaction.
pub(super) fn replace(conn: &Connection, codes: &[OverflowCode]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM overflow_codes", [])?;
    let mut insert = conn.prepare_cached(INSERT)?;
    for held in codes {
        let visit = serde_json::to_string(held.visit.as_ref())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        insert.execute(named_params! {
            ":session_id": held.session_id,
            ":site": held.site,
            ":code": held.code,
            ":visitor_id": held.visitor_id,
            ":visit": visit,
            ":issued_at": LeaseTime(held.issued_at),
            ":last_seen": LeaseTime(held.last_seen),
            ":expires_at": LeaseTime(held.expires_at),
            ":freeze_ms": millis(held.freeze),
            ":cooldown_ms": millis(held.cooldown),
        })?;
    }
    Ok(())
}

/// Every stored code, oldest first.
pub fn load(conn: &Connection) -> Result<Vec<OverflowCode>, StoreError> {
    let mut select = conn.prepare(SELECT)?;
    let rows = select.query_map([], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<OverflowCode> {
    let visit: VisitJson = row.get("visit")?;
    Ok(OverflowCode {
        session_id: row.get("session_id")?,
        site: row.get("site")?,
        code: row.get("code")?,
        visitor_id: row.get("visitor_id")?,
        visit: Arc::new(visit.0),
        issued_at: row.get::<_, LeaseTime>("issued_at")?.0,
        last_seen: row.get::<_, LeaseTime>("last_seen")?.0,
        expires_at: row.get::<_, LeaseTime>("expires_at")?.0,
        freeze: duration(row.get("freeze_ms")?),
        cooldown: duration(row.get("cooldown_ms")?),
    })
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn duration(ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{Visit, VisitFields};
    use crate::store::schema;

    fn code(i: u16) -> OverflowCode {
        let t: jiff::Timestamp = "2026-12-06T12:00:00.250Z".parse().unwrap();
        OverflowCode {
            session_id: format!("s{i}"),
            site: "shop".into(),
            code: (400 + i).to_string(),
            visitor_id: (i % 2 == 0).then(|| format!("v{i}")),
            visit: Arc::new(Visit::from(VisitFields {
                utm_source: Some("yandex".into()),
                ..VisitFields::default()
            })),
            issued_at: t,
            last_seen: t + jiff::SignedDuration::from_secs(30),
            expires_at: t + jiff::SignedDuration::from_mins(15),
            freeze: std::time::Duration::from_secs(900),
            cooldown: std::time::Duration::from_millis(600_500),
        }
    }

    #[test]
    fn round_trips_and_replaces_all_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let all: Vec<OverflowCode> = (0..3).map(code).collect();
        replace(&conn, &all).unwrap();
        assert_eq!(load(&conn).unwrap(), all);
        replace(&conn, &all[2..]).unwrap();
        assert_eq!(load(&conn).unwrap(), all[2..].to_vec());
    }
}
