//! The lease sweeper service: ends expired leases every second and saves the table to SQLite
//! every few seconds and at shutdown, so a restart keeps visitors on their numbers.
//!
//! The one file of `lease/` that reads the clock and uses tokio; SQLite work runs on the
//! blocking pool, one connection kept open between saves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::LeaseTable;
use crate::store::leases::{load_leases, save_leases};
use crate::store::{self, StoreError};

/// How often expired leases are ended.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
/// How often the table is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// Runs until `stop` is cancelled, then saves one last snapshot and returns.
pub async fn run_sweeper(table: Arc<LeaseTable>, db_path: PathBuf, stop: CancellationToken) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut saver = Saver::new(table.clone(), db_path);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let ended = table.expire(Timestamp::now());
        if ended > 0 {
            tracing::debug!(ended, "leases expired");
        }
        if saver.last_save.elapsed() >= SAVE_EVERY {
            saver.save().await;
        }
    }
    saver.save().await;
}

/// Loads the saved leases into `table`; returns how many were restored (leases already over
/// at `now`, or whose pool or number is no longer configured, are dropped).
pub fn load_on_start(
    table: &LeaseTable,
    db_path: &Path,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let conn = store::open(db_path)?;
    let leases = load_leases(&conn)?;
    let before = table.len();
    table.restore(leases, now);
    Ok(table.len().saturating_sub(before))
}

/// Writes one snapshot of `table` through `conn`; returns how many leases were saved.
pub fn save_snapshot(table: &LeaseTable, conn: &mut Connection) -> Result<usize, StoreError> {
    let leases = table.snapshot();
    save_leases(conn, &leases)?;
    Ok(leases.len())
}

/// Saves snapshots on the blocking pool, keeping one connection between saves.
struct Saver {
    table: Arc<LeaseTable>,
    db_path: PathBuf,
    conn: Option<Connection>,
    last_save: Instant,
}

impl Saver {
    fn new(table: Arc<LeaseTable>, db_path: PathBuf) -> Saver {
        Saver {
            table,
            db_path,
            conn: None,
            last_save: Instant::now(),
        }
    }

    async fn save(&mut self) {
        self.last_save = Instant::now();
        let (table, path, conn) = (self.table.clone(), self.db_path.clone(), self.conn.take());
        let job = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => store::open(&path)?,
            };
            let saved = save_snapshot(&table, &mut conn)?;
            Ok::<_, StoreError>((conn, saved))
        });
        match job.await {
            Ok(Ok((conn, saved))) => {
                self.conn = Some(conn);
                tracing::trace!(saved, "lease snapshot saved");
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot save the lease snapshot"),
            Err(error) => tracing::warn!(%error, "the lease snapshot task failed"),
        }
    }
}
