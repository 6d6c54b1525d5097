//! Opening the store on PostgreSQL (`[store] backend = "postgres"`): migrations, recovery of
//! this node's calls, the caller history every node shares, the writer and the outbox claims.
//! The blacklist entries added through the admin API come from PostgreSQL and follow every
//! node's edits (`store::pg::blacklist_watch`). The SQLite file at `store.path` still holds
//! what the PostgreSQL store does not yet (lease snapshots): read here as before.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::AppError;
use super::opening::{Opened, blacklist_with, writer_options};
use crate::call::history::CallerHistory;
use crate::config::{Config, PostgresConfig};
use crate::edge::blacklist::Blacklist;
use crate::store::pg::{self, NodeOptions, PgClaims, PgWriterOptions};
use crate::store::status::{BackendName, StoreStatus};

/// Longest claim a delivery service holds past its request timeout before another node may
/// take the rows over.
const CLAIM_MARGIN: Duration = Duration::from_secs(30);

pub(super) fn start_postgres(
    config: &Config,
    pg_config: &PostgresConfig,
) -> Result<Opened, AppError> {
    let node = &config.node.id;
    tracing::info!(
        node,
        pool_size = pg_config.pool_size,
        "opening the call store on PostgreSQL"
    );
    tracing::warn!(
        "on PostgreSQL calls (live rows, CDRs, caller history), call patches, leads, cost \
         imports, the outbox, the blacklist, Metrica uploads, pool usage, recordings, \
         transcripts and scores are kept; transcript search and lease snapshots stay in \
         the SQLite file at store.path"
    );
    let conn = crate::store::open(&config.store.path)?;
    let saved_leases = crate::store::leases::load_snapshot(&conn)?;
    drop(conn);
    let subscriptions = crate::store::outbox::subscriptions(&config.exports);
    let outbox = crate::store::outbox::Outbox::new(subscriptions);
    let options = PgWriterOptions {
        writer: writer_options(config),
        node: node.clone(),
        unique_window: config.tracking.unique_window,
        spool_path: config.store.spool_path.clone(),
    };
    // What a crash left spooled goes in first: recovery then finds those calls' rows.
    pg::drain_spool(pg_config, &options, Arc::clone(&outbox))?;
    let mut client = pg::open(pg_config)?;
    let now = Timestamp::now();
    let recovery = pg::recover_interrupted_calls(&mut client, node, now)?;
    let history = CallerHistory::new(config.tracking.unique_window);
    let since = config.tracking.unique_window.map(|w| now - w);
    history.load(pg::cdr::recent_callers(&mut client, since)?);
    let blacklist = blacklist_with(config, &pg::blacklist::load(&mut client)?, "PostgreSQL");
    drop(client);
    let lease = config.exports.policy.timeout * 2 + CLAIM_MARGIN;
    outbox.claim_through(PgClaims::open(pg_config, node, lease)?);
    let (store, writer) = pg::spawn_pg_writer(pg_config, options, Arc::clone(&outbox))?;
    let status = Arc::new(StoreStatus::new(
        BackendName::Postgres,
        node,
        writer.marks(),
    ));
    let mut nodes = pg::spawn_node_service(
        pg_config,
        NodeOptions {
            node: node.clone(),
            heartbeat: config.node.heartbeat,
            dead_after: config.node.dead_after,
            http_url: config.node.http_url.clone(),
        },
        Arc::clone(&outbox),
        Arc::clone(&status),
    )?;
    nodes.watch_blacklist(pg_config, follow(Arc::clone(&blacklist)))?;
    Ok(Opened {
        store,
        writer,
        outbox,
        history,
        blacklist,
        interrupted: recovery.to_hang_up,
        saved_leases,
        status,
        nodes: Some(nodes),
    })
}

/// What the blacklist watch does with the entries it reads: they replace this node's.
fn follow(blacklist: Arc<Blacklist>) -> pg::OnEntries {
    Box::new(move |stored| {
        let (came, gone) = blacklist.replace_api(&stored);
        if came + gone > 0 {
            tracing::info!(
                added = came,
                removed = gone,
                stored = stored.len(),
                "caller blacklist follows an edit made through the admin API of a node"
            );
        }
    })
}
