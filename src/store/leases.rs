//! Lease persistence: the whole lease table as the rows of `leases` (schema version 2),
//! replaced in one transaction, so a restart keeps visitors on the numbers they were shown.
//! The store implements the lease room's [`LeaseSnapshots`]; the lease room never imports
//! the store.
//!
//! Timestamps are RFC 3339 TEXT in UTC with millisecond precision (see
//! [`crate::call::record::rfc3339`]); the visit is its serde JSON.

use std::sync::Arc;

use jiff::Timestamp;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, named_params};

use super::{StoreCommand, StoreError, StoreSender};
use crate::call::record::rfc3339;
#[cfg(test)]
use crate::lease::VisitFields;
use crate::lease::{Lease, LeaseSnapshot, LeaseSnapshots, Visit};

const INSERT: &str = "INSERT INTO leases
    (session_id, site, pool, number, visitor_id, visit, granted_at, last_seen, expires_at)
    VALUES (:session_id, :site, :pool, :number, :visitor_id, :visit, :granted_at, :last_seen, :expires_at)";

const SELECT: &str = "SELECT session_id, site, pool, number, visitor_id, visit,
    granted_at, last_seen, expires_at FROM leases ORDER BY granted_at, session_id";

/// Replaces every stored lease with `leases`, in one transaction of its own.
pub fn save_leases(conn: &mut Connection, leases: &[Lease]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    replace_leases(&tx, leases)?;
    tx.commit()?;
    Ok(())
}

/// Replaces every stored lease with `leases` inside the caller's transaction.
pub(super) fn replace_leases(conn: &Connection, leases: &[Lease]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM leases", [])?;
    let mut insert = conn.prepare_cached(INSERT)?;
    for lease in leases {
        let visit = serde_json::to_string(lease.visit.as_ref())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        insert.execute(named_params! {
                ":session_id": lease.session_id,
                ":site": lease.site,
                ":pool": lease.pool,
                ":number": lease.number,
                ":visitor_id": lease.visitor_id,
                ":visit": visit,
                ":granted_at": LeaseTime(lease.granted_at),
                ":last_seen": LeaseTime(lease.last_seen),
                ":expires_at": LeaseTime(lease.expires_at),
        })?;
    }
    Ok(())
}

/// The store keeps the sweeper's snapshots: each one goes through the writer queue (waiting
/// for room) and resolves once its transaction has committed.
impl LeaseSnapshots for StoreSender {
    type Error = StoreError;

    async fn save(&self, snapshot: LeaseSnapshot) -> Result<(), StoreError> {
        self.request(|done| StoreCommand::SaveLeases { snapshot, done })
            .await
    }
}

/// Replaces the saved leases and overflow codes inside the caller's transaction (the
/// writer's batch, for [`super::StoreCommand::SaveLeases`]).
pub(super) fn replace_snapshot(
    conn: &Connection,
    snapshot: &LeaseSnapshot,
) -> rusqlite::Result<()> {
    replace_leases(conn, &snapshot.leases)?;
    super::lease_history::record(conn, &snapshot.ended, snapshot.history_prune_before)?;
    super::overflow_codes::replace(conn, &snapshot.codes)?;
    super::number_hygiene::replace(conn, &snapshot.quarantined)
}

/// Every stored lease and overflow code, for the restart.
pub fn load_snapshot(conn: &Connection) -> Result<LeaseSnapshot, StoreError> {
    Ok(LeaseSnapshot {
        leases: load_leases(conn)?,
        codes: super::overflow_codes::load(conn)?,
        quarantined: super::number_hygiene::load(conn)?,
        ..LeaseSnapshot::default()
    })
}

/// Every stored lease, oldest grant first.
pub fn load_leases(conn: &Connection) -> Result<Vec<Lease>, StoreError> {
    let mut select = conn.prepare(SELECT)?;
    let rows = select.query_map([], lease_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn lease_from_row(row: &Row<'_>) -> rusqlite::Result<Lease> {
    let visit: VisitJson = row.get("visit")?;
    Ok(Lease {
        session_id: row.get("session_id")?,
        site: row.get("site")?,
        pool: row.get("pool")?,
        number: row.get("number")?,
        visitor_id: row.get("visitor_id")?,
        visit: Arc::new(visit.0),
        granted_at: row.get::<_, LeaseTime>("granted_at")?.0,
        last_seen: row.get::<_, LeaseTime>("last_seen")?.0,
        expires_at: row.get::<_, LeaseTime>("expires_at")?.0,
    })
}

/// A timestamp as stored in a TEXT column.
pub(super) struct LeaseTime(pub(super) Timestamp);

impl ToSql for LeaseTime {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(rfc3339::format(self.0)))
    }
}

impl FromSql for LeaseTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        rfc3339::parse(value.as_str()?)
            .map(LeaseTime)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// The `visit` column: a [`Visit`] as JSON.
pub(super) struct VisitJson(pub(super) Visit);

impl FromSql for VisitJson {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(VisitJson)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn lease(i: u32) -> Lease {
        let t = ts("2026-03-01T12:00:00.123Z");
        Lease {
            session_id: format!("s{i}"),
            site: "shop".into(),
            pool: "web".into(),
            number: format!("7495000000{i}"),
            visitor_id: (i % 2 == 0).then(|| format!("v{i}")),
            visit: Arc::new(Visit::from(VisitFields {
                utm_source: Some("google".into()),
                landing_page: Some("https://shop.example/?q=\"x\"".into()),
                ..VisitFields::default()
            })),
            granted_at: t,
            last_seen: t + jiff::SignedDuration::from_secs(30),
            expires_at: t + jiff::SignedDuration::from_mins(15),
        }
    }

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn round_trips_and_replaces_all_rows() {
        let mut conn = db();
        let first: Vec<Lease> = (0..3).map(lease).collect();
        save_leases(&mut conn, &first).unwrap();
        assert_eq!(load_leases(&conn).unwrap(), first);
        save_leases(&mut conn, &first[1..2]).unwrap();
        assert_eq!(load_leases(&conn).unwrap(), first[1..2].to_vec());
        save_leases(&mut conn, &[]).unwrap();
        assert!(load_leases(&conn).unwrap().is_empty());
    }

    #[test]
    fn corrupt_visit_json_is_an_error_not_a_panic() {
        let mut conn = db();
        save_leases(&mut conn, &[lease(1)]).unwrap();
        conn.execute("UPDATE leases SET visit = '{not json'", [])
            .unwrap();
        assert!(matches!(load_leases(&conn), Err(StoreError::Sqlite(_))));
    }
}
