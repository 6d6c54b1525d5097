//! Yandex Metrica uploads and their processing status (migration V12): one row per upload a
//! Metrica destination made, found from the outbox rows that keep its upload id (`kept`),
//! with the last status Metrica reported (`PREPARED` ... `PROCESSED` or `LINKAGE_FAILURE`).
//!
//! The status poll (`export::metrica::poll`) reads [`unrecorded`] and [`open`], and stores
//! each answer through the writer ([`record`], `StoreCommand::MetricaUploads`); operators
//! read [`last`] / [`latest`] (CLI, admin API).

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;

use super::{from_millis, millis};
use crate::call::record::rfc3339;

/// Version 12: Metrica uploads. Times are Unix milliseconds; `status` is null until the
/// first check.
pub const V12_METRICA_UPLOADS: &str = "
CREATE TABLE metrica_uploads (
    destination TEXT    NOT NULL,
    upload_id   TEXT    NOT NULL,
    uploaded_at INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    status      TEXT,
    checked_at  INTEGER,
    PRIMARY KEY (destination, upload_id)
);
CREATE INDEX metrica_uploads_recent ON metrica_uploads (destination, uploaded_at);
";

/// Statuses after which Metrica changes nothing more.
pub const FINAL_STATUSES: [&str; 2] = ["PROCESSED", "LINKAGE_FAILURE"];

/// One upload as the writer stores it (a new upload, a status check, or both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UploadRecord {
    pub destination: String,
    pub upload_id: String,
    /// When its calls were settled as delivered.
    #[serde(with = "rfc3339")]
    pub uploaded_at: Timestamp,
    /// Calls it carried.
    pub rows: u64,
    /// What Metrica last said (None: not checked yet, or the check failed).
    pub status: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub checked_at: Option<Timestamp>,
}

/// One upload as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MetricaUpload {
    pub destination: String,
    pub upload_id: String,
    /// RFC 3339 UTC.
    pub uploaded_at: String,
    pub rows: u64,
    /// Metrica's last answer: `PREPARED`, `UPLOADED`, `EXPORTED`, `MATCHED`, `PROCESSED`,
    /// `LINKAGE_FAILURE`; null until checked.
    pub status: Option<String>,
    /// RFC 3339 UTC; null until checked.
    pub checked_at: Option<String>,
}

/// Uploads of `destination` the outbox knows (delivered rows keeping an upload id) that are
/// not recorded yet, oldest first.
pub fn unrecorded(
    conn: &Connection,
    destination: &str,
    limit: usize,
) -> rusqlite::Result<Vec<UploadRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.kept, MIN(o.settled_at), COUNT(*) FROM outbox o \
         WHERE o.destination = ?1 AND o.state = 'delivered' AND o.kept IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM metrica_uploads m \
          WHERE m.destination = o.destination AND m.upload_id = o.kept) \
         GROUP BY o.kept ORDER BY MIN(o.settled_at) LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map((destination, limit), |row| {
        Ok(UploadRecord {
            destination: destination.to_owned(),
            upload_id: row.get(0)?,
            uploaded_at: from_millis(row.get::<_, Option<i64>>(1)?.unwrap_or(0)),
            rows: row.get::<_, i64>(2)?.try_into().unwrap_or(0),
            status: None,
            checked_at: None,
        })
    })?;
    rows.collect()
}

/// Recorded uploads of `destination` still worth asking about: not final, made after
/// `since`, and not checked after `checked_before`; oldest first.
pub fn open(
    conn: &Connection,
    destination: &str,
    since: Timestamp,
    checked_before: Timestamp,
) -> rusqlite::Result<Vec<UploadRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT destination, upload_id, uploaded_at, rows, status, checked_at \
         FROM metrica_uploads WHERE destination = ?1 AND uploaded_at >= ?2 \
         AND (status IS NULL OR status NOT IN (?3, ?4)) \
         AND (checked_at IS NULL OR checked_at <= ?5) ORDER BY uploaded_at LIMIT 100",
    )?;
    let params = (
        destination,
        millis(since),
        FINAL_STATUSES[0],
        FINAL_STATUSES[1],
        millis(checked_before),
    );
    let rows = stmt.query_map(params, record_from_row)?;
    rows.collect()
}

/// Stores uploads (in the writer's transaction): new ones are inserted; for known ones a
/// check's status and time replace the old (a failed check, status None, keeps them).
pub fn record(conn: &Connection, uploads: &[UploadRecord]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO metrica_uploads \
         (destination, upload_id, uploaded_at, rows, status, checked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (destination, upload_id) DO UPDATE SET \
         status = COALESCE(excluded.status, status), \
         checked_at = COALESCE(excluded.checked_at, checked_at)",
    )?;
    for u in uploads {
        stmt.execute((
            &u.destination,
            &u.upload_id,
            millis(u.uploaded_at),
            i64::try_from(u.rows).unwrap_or(i64::MAX),
            &u.status,
            u.checked_at.map(millis),
        ))?;
    }
    Ok(())
}

/// The last upload of `destination` and its status.
pub fn last(conn: &Connection, destination: &str) -> rusqlite::Result<Option<MetricaUpload>> {
    conn.prepare_cached(
        "SELECT destination, upload_id, uploaded_at, rows, status, checked_at \
         FROM metrica_uploads WHERE destination = ?1 \
         ORDER BY uploaded_at DESC, rowid DESC LIMIT 1",
    )?
    .query_row([destination], record_from_row)
    .optional()
    .map(|found| found.map(MetricaUpload::from))
}

/// The last upload of every Metrica destination that made one, by destination id.
pub fn latest(conn: &Connection) -> rusqlite::Result<Vec<MetricaUpload>> {
    let mut stmt = conn
        .prepare_cached("SELECT DISTINCT destination FROM metrica_uploads ORDER BY destination")?;
    let ids = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        all.extend(last(conn, &id)?);
    }
    Ok(all)
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<UploadRecord> {
    Ok(UploadRecord {
        destination: row.get(0)?,
        upload_id: row.get(1)?,
        uploaded_at: from_millis(row.get(2)?),
        rows: row.get::<_, i64>(3)?.try_into().unwrap_or(0),
        status: row.get(4)?,
        checked_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
    })
}

impl From<UploadRecord> for MetricaUpload {
    fn from(r: UploadRecord) -> MetricaUpload {
        MetricaUpload {
            destination: r.destination,
            upload_id: r.upload_id,
            uploaded_at: rfc3339::format(r.uploaded_at),
            rows: r.rows,
            status: r.status,
            checked_at: r.checked_at.map(rfc3339::format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn conn() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        conn
    }

    /// An outbox row of `destination`, delivered at `settled` and keeping `kept`.
    fn outbox_row(
        conn: &Connection,
        seq: i64,
        destination: &str,
        kept: Option<&str>,
        settled: i64,
    ) {
        conn.execute(
            "INSERT INTO outbox (seq, id, destination, event, subject, occurred_at, created_at, \
             payload, state, next_attempt_at, settled_at, kept) \
             VALUES (?1, 'evt_' || ?1, ?2, 'call.ended', 'c' || ?1, '2026-12-05T10:00:00.000Z', \
             0, '{}', 'delivered', 0, ?3, ?4)",
            (seq, destination, settled, kept),
        )
        .unwrap();
    }

    fn check(upload: &UploadRecord, status: Option<&str>, at: &str) -> UploadRecord {
        UploadRecord {
            status: status.map(str::to_owned),
            checked_at: Some(ts(at)),
            ..upload.clone()
        }
    }

    #[test]
    fn uploads_are_found_from_the_outbox_once() {
        let conn = conn();
        let at = ts("2026-12-05T10:00:00Z").as_millisecond();
        outbox_row(&conn, 1, "ym", Some("41"), at);
        outbox_row(&conn, 2, "ym", Some("41"), at + 5);
        outbox_row(&conn, 3, "ym", Some("42"), at + 10_000);
        outbox_row(&conn, 4, "ym", None, at);
        outbox_row(&conn, 5, "bitrix", Some("CALL-1"), at);
        let found = unrecorded(&conn, "ym", 10).unwrap();
        let ids: Vec<(&str, u64)> = found
            .iter()
            .map(|u| (u.upload_id.as_str(), u.rows))
            .collect();
        assert_eq!(ids, [("41", 2), ("42", 1)]);
        assert_eq!(found[0].uploaded_at, from_millis(at));
        record(&conn, &found).unwrap();
        assert!(unrecorded(&conn, "ym", 10).unwrap().is_empty());
    }

    #[test]
    fn checks_update_the_status_until_it_is_final() {
        let conn = conn();
        let up = UploadRecord {
            destination: "ym".into(),
            upload_id: "41".into(),
            uploaded_at: ts("2026-12-05T10:00:00Z"),
            rows: 2,
            status: None,
            checked_at: None,
        };
        record(&conn, std::slice::from_ref(&up)).unwrap();
        let since = ts("2026-12-04T10:00:00Z");
        let now = ts("2026-12-05T10:00:00Z");
        assert_eq!(open(&conn, "ym", since, now).unwrap().len(), 1);
        record(
            &conn,
            &[check(&up, Some("UPLOADED"), "2026-12-05T10:01:00Z")],
        )
        .unwrap();
        assert!(
            open(&conn, "ym", since, ts("2026-12-05T10:00:30Z"))
                .unwrap()
                .is_empty(),
            "checked recently"
        );
        assert_eq!(
            open(&conn, "ym", since, ts("2026-12-05T10:02:00Z"))
                .unwrap()
                .len(),
            1
        );
        record(&conn, &[check(&up, None, "2026-12-05T10:02:00Z")]).unwrap();
        let shown = last(&conn, "ym").unwrap().unwrap();
        assert_eq!(
            shown.status.as_deref(),
            Some("UPLOADED"),
            "a failed check keeps it"
        );
        record(
            &conn,
            &[check(&up, Some("PROCESSED"), "2026-12-05T10:03:00Z")],
        )
        .unwrap();
        assert!(
            open(&conn, "ym", since, ts("2026-12-06T00:00:00Z"))
                .unwrap()
                .is_empty()
        );
        let shown = last(&conn, "ym").unwrap().unwrap();
        assert_eq!(
            shown,
            MetricaUpload {
                destination: "ym".into(),
                upload_id: "41".into(),
                uploaded_at: "2026-12-05T10:00:00.000Z".into(),
                rows: 2,
                status: Some("PROCESSED".into()),
                checked_at: Some("2026-12-05T10:03:00.000Z".into()),
            }
        );
        assert!(
            open(&conn, "ym", ts("2026-12-05T11:00:00Z"), now)
                .unwrap()
                .is_empty(),
            "too old to poll"
        );
    }

    #[test]
    fn latest_shows_the_last_upload_per_destination() {
        let conn = conn();
        let up = |d: &str, id: &str, at: &str| UploadRecord {
            destination: d.into(),
            upload_id: id.into(),
            uploaded_at: ts(at),
            rows: 1,
            status: Some("UPLOADED".into()),
            checked_at: None,
        };
        record(
            &conn,
            &[
                up("ym", "1", "2026-12-05T10:00:00Z"),
                up("ym", "2", "2026-12-05T11:00:00Z"),
                up("ym2", "7", "2026-12-05T09:00:00Z"),
            ],
        )
        .unwrap();
        let all = latest(&conn).unwrap();
        let ids: Vec<(&str, &str)> = all
            .iter()
            .map(|u| (u.destination.as_str(), u.upload_id.as_str()))
            .collect();
        assert_eq!(ids, [("ym", "2"), ("ym2", "7")]);
        assert_eq!(last(&conn, "none").unwrap(), None);
    }
}
