//! CDR storage in SQLite: opening a database, its errors, and the pieces below.
//!
//! - [`schema`]: migrations driven by `PRAGMA user_version`.
//! - [`writer`]: the one writer thread fed by a bounded queue, batched transactions;
//!   [`commands`] is what it is asked to do (call events, lease snapshots, blacklist edits),
//!   [`batch`] applies one batch, folding each call's live-row writes ([`live_fold`]) and
//!   skipping those that would find no row ([`live_rows`]).
//! - [`recovery`]: turns calls left live by a crash into `interrupted` CDRs at start-up and
//!   hands back the answered ones' dialogs, for the SIP core to hang up both legs.
//! - [`query`]: reads for the `cdr` CLI and reports.
//! - [`reader`]: the pool of read-only connections the HTTP side queries through (a
//!   `blocking_pool`, as is PostgreSQL's read pool);
//!   [`reads`]: the reads both backends answer alike (calls API, reports, `cdr list`) and
//!   the reader of the configured backend.
//! - [`leases`]: the lease table snapshot, saved whole through the writer for the lease
//!   sweeper (the store implements `lease::LeaseSnapshots`) and loaded at start-up.
//! - [`lease_file`]: lease snapshots of a node on PostgreSQL, kept in its own SQLite file.
//! - [`lease_history`]: ended leases (appended with each lease snapshot, pruned past
//!   `[tracking] lease_history_days`) and the calls to pool numbers, for the pool advisor.
//! - [`pool_usage`]: per-minute pool usage samples (written for the lease room's usage
//!   sampler, pruned past the retention) and their read-back for the dashboard.
//! - [`blacklist`]: caller blacklist entries added through the admin API (via the writer).
//! - [`flat`]: the one mapping of a CDR to its columns (SQLite and CSV).
//! - [`deal`]: deals a CRM posts on calls and leads (exact minor units).
//! - [`calls`]: the calls API's filter, pages, view and patches; callback marking.
//! - [`costs`]: ad costs per day, site, source, medium and campaign (imported, replaced per
//!   day and site); [`report_facts`]: the sums the report room aggregates; [`report_tags`]:
//!   calls per keyword tag for the tag report.
//! - [`leads`]: web-form leads, attributed like calls, inserted and patched via the writer.
//! - [`outbox`]: facts owed to export destinations, written with the rows they describe;
//!   [`operator_reads`]: its admin's reads on either backend.
//! - [`pg`]: the same call path on PostgreSQL, shared by several nodes (`[store] backend`).
//! - [`status`]: the store's health for `/health` (backend, reachable, last write, nodes).
//!
//! Only the writer thread writes while the daemon runs; readers (the `cdr` CLI) may use
//! [`open_read_only`].
//!
//! Start-up order for the composition root: [`open`], [`recover_interrupted_calls`], drop that
//! connection, then [`spawn_writer`]; shut the writer down last so CDRs are flushed last.

mod batch;
pub mod blacklist;
mod blocking_pool;
pub mod calls;
mod columns;
pub mod commands;
mod confidence;
pub mod costs;
pub mod deal;
pub mod flat;
pub mod leads;
pub mod lease_file;
pub mod lease_history;
pub mod leases;
mod live_fold;
mod live_rows;
pub mod number_hygiene;
pub mod operator_reads;
pub mod outbox;
pub mod overflow_codes;
pub mod pg;
pub mod pool_usage;
pub mod query;
pub mod reader;
pub mod reads;
pub mod recording_reads;
pub mod recordings;
pub mod recovery;
pub mod report_facts;
pub mod report_tags;
mod report_targets;
mod row_cells;
#[macro_use]
pub mod rollup;
pub mod schema;
mod schema_reports;
pub mod scoring;
pub mod search_words;
pub mod speech_reads;
pub mod status;
pub mod transcript_rows;
pub mod transcripts;
mod tuning;
mod voicemail;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use commands::{FirstTime, Reply, StoreCommand, StoreSender};
pub use operator_reads::OperatorReads;
pub use query::{StoredCdr, after, count, integrity_check, list_recent, recent_callers};
pub use reader::StoreReader;
pub use reads::{BackendReader, Reads};
pub use recording_reads::RecordingReads;
pub use recovery::{Recovery, recover_interrupted, recover_interrupted_calls};
pub use speech_reads::SpeechReads;
pub use writer::{WriterHandle, WriterOptions, WriterStats, spawn_writer, spawn_writer_with};

/// How long a connection waits on a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything that can go wrong in the store and the `cdr` CLI built on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no CDR database at {}", .0.display())]
    NoDatabase(PathBuf),
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); upgrade calltrack"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the CDR writer has stopped; the command was not queued")]
    WriterClosed,
    #[error("the store queue is full; the command was not queued")]
    Busy,
    #[error("the store command was queued but not committed (writer stopped)")]
    NotCommitted,
    #[error("a store reader thread panicked")]
    ReaderPanicked,
    #[error("the CDR writer thread panicked")]
    WriterPanicked,
    #[error("cannot start the CDR writer thread: {0}")]
    WriterStart(#[source] std::io::Error),
    #[error("{lost} store commands could not be written before shutdown")]
    Unflushed { lost: u64 },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A `cdr list` filter with bad values, every problem listed.
    #[error("{}", .0.join("; "))]
    Filter(Vec<String>),
    #[error("postgres: {}", pg::describe(.0))]
    Postgres(#[from] postgres::Error),
    #[error(
        "PostgreSQL schema version {found} is newer than this build supports ({supported}); upgrade calltrack"
    )]
    PgSchemaTooNew { found: i64, supported: i64 },
    #[error(
        "PostgreSQL {found} is too old: calltrack needs 14 or newer (its reports use date_bin)"
    )]
    PgServerTooOld { found: String },
    #[error("cannot reach PostgreSQL: {0}")]
    PgConnect(String),
    #[error("a PostgreSQL value does not read back: {0}")]
    PgValue(String),
    #[error("the PostgreSQL store does not support {0} yet")]
    PgUnsupported(&'static str),
    #[error("a CDR does not map to its columns: {0}")]
    Columns(#[from] serde::de::value::Error),
}

/// Opens (creating it and its parent directories if needed) and migrates the database.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    create_parent_dir(path)?;
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

/// Like [`open`], but a missing file is [`StoreError::NoDatabase`] instead of a new database.
pub fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::NoDatabase(path.to_path_buf()));
    }
    open(path)
}

/// Opens an existing database for reading only (`SQLITE_OPEN_READ_ONLY`), for readers beside
/// the running writer (the `cdr` CLI): such a connection can never write. A database older
/// than this build is migrated first through [`open`], as before.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::NoDatabase(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let found = schema::version(&conn)?;
    if found > schema::latest_version() {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: schema::latest_version(),
        });
    }
    if found < schema::latest_version() {
        drop(conn);
        drop(open(path)?);
        return open_read_only(path);
    }
    Ok(conn)
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// WAL so readers (CLI, reports) never block the writer.
///
/// Durability: `synchronous = NORMAL` in WAL mode writes every commit's frames into the WAL
/// file (the OS page cache) before `COMMIT` returns, so a committed row survives a process
/// crash or `kill -9`; only a power loss or kernel crash can lose the last commits before the
/// next checkpoint's fsync. `FULL` would add an fsync per commit and protect against power
/// loss only, which is not what crash recovery of calls promises; it is not used.
///
/// `temp_store = MEMORY` keeps SQLite's statement journals (the undo of one statement inside
/// a transaction: every CDR insert, whose triggers write several rows, opens one) in memory
/// instead of a temporary file. They never outlive the statement and play no part in
/// durability; on file they were the writer's largest cost (`subjournalPage` → `pwrite`).
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_parent_dirs_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/cdr.sqlite");
        let conn = open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(path.is_file());
    }

    #[test]
    fn a_read_only_connection_reads_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        drop(open(&path).unwrap());
        let reader = open_read_only(&path).unwrap();
        assert_eq!(query::count(&reader).unwrap(), 0);
        let write = reader.execute("DELETE FROM cdr", []);
        assert!(write.is_err(), "read-only: {write:?}");
        assert!(matches!(
            open_read_only(&dir.path().join("missing.sqlite")),
            Err(StoreError::NoDatabase(_))
        ));
    }

    #[test]
    fn open_existing_refuses_to_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.sqlite");
        let err = open_existing(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no CDR database at {}", path.display())
        );
        assert!(!path.exists());
    }
}
