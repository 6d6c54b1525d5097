//! Yandex Metrica uploads on PostgreSQL (as `store::outbox::metrica_uploads` on SQLite): the
//! uploads every node's Metrica delivery made, found from the shared outbox rows keeping their
//! upload id, and Metrica's last word on each. Any node's status poll may record one; the
//! upsert makes a second record of the same answer a no-op.

use jiff::Timestamp;
use postgres::{GenericClient, Row};

use crate::store::StoreError;
use crate::store::outbox::metrica_uploads::{FINAL_STATUSES, UploadRecord};
use crate::store::outbox::{from_millis, millis};

/// Uploads of `destination` the outbox knows that are not recorded yet, oldest first.
pub fn unrecorded(
    client: &mut impl GenericClient,
    destination: &str,
    limit: usize,
) -> Result<Vec<UploadRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(
        "SELECT o.kept, min(o.settled_at), count(*) FROM outbox o \
         WHERE o.destination = $1 AND o.state = 'delivered' AND o.kept IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM metrica_uploads m \
          WHERE m.destination = o.destination AND m.upload_id = o.kept) \
         GROUP BY o.kept ORDER BY min(o.settled_at) LIMIT $2",
        &[&destination, &limit],
    )?;
    rows.iter()
        .map(|row| {
            Ok(UploadRecord {
                destination: destination.to_owned(),
                upload_id: row.try_get(0)?,
                uploaded_at: from_millis(row.try_get::<_, Option<i64>>(1)?.unwrap_or(0)),
                rows: u64::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
                status: None,
                checked_at: None,
            })
        })
        .collect()
}

/// Recorded uploads of `destination` still worth asking about (see the SQLite twin).
pub fn open(
    client: &mut impl GenericClient,
    destination: &str,
    since: Timestamp,
    checked_before: Timestamp,
) -> Result<Vec<UploadRecord>, StoreError> {
    let rows = client.query(
        "SELECT destination, upload_id, uploaded_at, rows, status, checked_at \
         FROM metrica_uploads WHERE destination = $1 AND uploaded_at >= $2 \
         AND (status IS NULL OR status NOT IN ($3, $4)) \
         AND (checked_at IS NULL OR checked_at <= $5) ORDER BY uploaded_at LIMIT 100",
        &[
            &destination,
            &millis(since),
            &FINAL_STATUSES[0],
            &FINAL_STATUSES[1],
            &millis(checked_before),
        ],
    )?;
    rows.iter().map(record_from_row).collect()
}

/// Stores uploads in the writer's transaction: new ones inserted; for known ones a check's
/// status and time replace the old (a failed check, status None, keeps them).
pub fn record(client: &mut impl GenericClient, uploads: &[UploadRecord]) -> Result<(), StoreError> {
    for u in uploads {
        client.execute(
            "INSERT INTO metrica_uploads \
             (destination, upload_id, uploaded_at, rows, status, checked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (destination, upload_id) DO UPDATE SET \
             status = coalesce(excluded.status, metrica_uploads.status), \
             checked_at = coalesce(excluded.checked_at, metrica_uploads.checked_at)",
            &[
                &u.destination,
                &u.upload_id,
                &millis(u.uploaded_at),
                &i64::try_from(u.rows).unwrap_or(i64::MAX),
                &u.status,
                &u.checked_at.map(millis),
            ],
        )?;
    }
    Ok(())
}

fn record_from_row(row: &Row) -> Result<UploadRecord, StoreError> {
    Ok(UploadRecord {
        destination: row.try_get(0)?,
        upload_id: row.try_get(1)?,
        uploaded_at: from_millis(row.try_get(2)?),
        rows: u64::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
        status: row.try_get(4)?,
        checked_at: row.try_get::<_, Option<i64>>(5)?.map(from_millis),
    })
}
