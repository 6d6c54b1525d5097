//! Opening the store at start-up: migrations, crash recovery, caller history, the blacklist,
//! saved leases and the outbox's subscriptions, then the writer thread.

use std::sync::Arc;

use jiff::Timestamp;

use super::AppError;
use crate::call::history::CallerHistory;
use crate::call::live_dialog::InterruptedCall;
use crate::config::Config;
use crate::edge::blacklist::{Blacklist, Origin};
use crate::lease::LeaseSnapshot;
use crate::store::{StoreSender, WriterHandle, WriterOptions};

/// What the store hands the rest of start-up.
pub(super) struct Opened {
    pub store: StoreSender,
    pub writer: WriterHandle,
    /// What the writer fills for the export services.
    pub outbox: Arc<crate::store::outbox::Outbox>,
    pub history: CallerHistory,
    pub blacklist: Arc<Blacklist>,
    pub interrupted: Vec<InterruptedCall>,
    pub saved_leases: LeaseSnapshot,
    /// The store's health for `/health`.
    pub status: Arc<crate::store::status::StoreStatus>,
    /// On PostgreSQL: the heartbeat and dead-node takeover threads (stopped after the writer).
    pub nodes: Option<crate::store::pg::NodeService>,
}

/// Opens and migrates the database, closes calls a crash left open (the answered ones come
/// back with their dialogs, to be hung up), starts the writer. Also reads who called within
/// the uniqueness window, for the first-time-caller judgement, and the saved leases. From
/// then on the writer is the only connection that writes.
pub(super) fn start_store(config: &Config) -> Result<Opened, AppError> {
    match &config.store.backend {
        crate::config::StoreBackend::Sqlite => start_sqlite(config),
        // The sync PostgreSQL client runs its own runtime: never on this async thread.
        crate::config::StoreBackend::Postgres(pg) => std::thread::scope(|s| {
            s.spawn(|| super::opening_pg::start_postgres(config, pg))
                .join()
                .unwrap_or(Err(AppError::Store(
                    crate::store::StoreError::WriterPanicked,
                )))
        }),
    }
}

/// The writer's options from `[store]` and `[tracking]`.
pub(super) fn writer_options(config: &Config) -> WriterOptions {
    WriterOptions {
        queue_capacity: config.store.queue_capacity,
        batch_max_records: config.store.batch_max_records,
        flush_interval: config.store.flush_interval,
        callback_window: config.tracking.callback_window,
    }
}

/// [`start_store`] on the SQLite file (the default backend).
fn start_sqlite(config: &Config) -> Result<Opened, AppError> {
    let path = &config.store.path;
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
    tracing::info!(database = %shown.display(), "opening the CDR store");
    let conn = crate::store::open(path)?;
    let now = Timestamp::now();
    let recovery = crate::store::recover_interrupted_calls(&conn, now)?;
    let history = CallerHistory::new(config.tracking.unique_window);
    let since = config.tracking.unique_window.map(|w| now - w);
    history.load(crate::store::recent_callers(&conn, since)?);
    let blacklist = load_blacklist(config, &conn)?;
    let saved_leases = crate::store::leases::load_snapshot(&conn)?;
    drop(conn);
    let options = writer_options(config);
    let subscriptions = crate::store::outbox::subscriptions(&config.exports);
    let outbox = crate::store::outbox::Outbox::new(subscriptions);
    let (store, writer) = crate::store::spawn_writer_with(path, options, outbox.clone())?;
    let interrupted = recovery.to_hang_up;
    let marks = writer.marks();
    Ok(Opened {
        store,
        writer,
        outbox,
        history,
        blacklist,
        interrupted,
        saved_leases,
        status: Arc::new(crate::store::status::StoreStatus::new(
            crate::store::status::BackendName::Sqlite,
            &config.node.id,
            marks,
        )),
        nodes: None,
    })
}

/// The config file's blacklist plus the entries added through the admin API.
pub(super) fn load_blacklist(
    config: &Config,
    conn: &rusqlite::Connection,
) -> Result<Arc<Blacklist>, AppError> {
    let stored = crate::store::blacklist::load(conn)?;
    Ok(blacklist_with(config, &stored, "SQLite"))
}

/// The config file's blacklist plus the `stored` API entries (read from `backend`).
pub(super) fn blacklist_with(config: &Config, stored: &[String], backend: &str) -> Arc<Blacklist> {
    let blacklist = Blacklist::from_config(&config.blacklist);
    for pattern in stored {
        blacklist.insert(pattern, Origin::Api);
    }
    tracing::info!(
        config = config.blacklist.numbers.len(),
        stored = stored.len(),
        backend,
        "caller blacklist loaded"
    );
    Arc::new(blacklist)
}

/// Puts the lease table on Redis when `[leases] backend = "redis"`; returns the snapshot to
/// restore into it: the SQLite one in memory, or only its codes and quarantines on Redis
/// (Redis holds the leases; a node's old local snapshot must not enter the shared mirror).
pub(super) fn attach_leases(
    config: &Config,
    leases: &Arc<crate::lease::LeaseTable>,
    saved: LeaseSnapshot,
) -> Result<LeaseSnapshot, AppError> {
    let crate::config::LeasesConfig::Redis(redis) = &config.leases else {
        return Ok(saved);
    };
    crate::lease::LeaseTable::attach_redis(leases, redis)?;
    tracing::info!(key_prefix = %redis.key_prefix, "lease table on Redis");
    Ok(LeaseSnapshot {
        leases: Vec::new(),
        ..saved
    })
}
