//! The store writer on PostgreSQL: the same writer thread, queue, batching, retries and
//! shutdown as on SQLite (`store::writer`), writing through one PostgreSQL connection, or
//! to the local spool while PostgreSQL is unreachable ([`super::sink`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use super::sink::PgSink;
use super::spool::{Reconnect, SpoolFile, metrics as spool_metrics};
use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::commands::StoreSender;
use crate::store::outbox::Outbox;
use crate::store::writer::{WriterHandle, WriterOptions};

/// Who this writer writes for, beyond the writer options.
#[derive(Debug, Clone)]
pub struct PgWriterOptions {
    pub writer: WriterOptions,
    /// This node's id (`[node] id`), on its CDRs and live rows.
    pub node: String,
    /// The first-time-caller window (`[tracking]`; `None`: new only once, ever).
    pub unique_window: Option<Duration>,
    /// The local SQLite file batches go to while PostgreSQL is unreachable
    /// (`[store] spool_path`).
    pub spool_path: PathBuf,
}

/// Connects, migrates, replays what the spool holds from an earlier run, and starts the
/// writer thread on PostgreSQL (spooling to `opts.spool_path` while PostgreSQL is away).
pub fn spawn_pg_writer(
    config: &PostgresConfig,
    opts: PgWriterOptions,
    outbox: Arc<Outbox>,
) -> Result<(StoreSender, WriterHandle), StoreError> {
    let writer = opts.writer.normalized();
    let mut sink = sink(config, &opts, Arc::clone(&outbox))?;
    sink.drain(&writer)?;
    let (sender, queue) = StoreSender::channel(writer.queue_capacity);
    Ok((
        sender,
        WriterHandle::start_sink(sink, queue, writer, outbox)?,
    ))
}

/// Replays what the spool at `opts.spool_path` holds into PostgreSQL (start-up, before
/// recovery closes this node's live calls); an error if PostgreSQL cannot be reached.
pub fn drain_spool(
    config: &PostgresConfig,
    opts: &PgWriterOptions,
    outbox: Arc<Outbox>,
) -> Result<(), StoreError> {
    sink(config, opts, outbox)?.drain(&opts.writer.normalized())
}

fn sink(
    config: &PostgresConfig,
    opts: &PgWriterOptions,
    outbox: Arc<Outbox>,
) -> Result<PgSink, StoreError> {
    let spool = SpoolFile::open(&opts.spool_path)?;
    spool_metrics::depth_now(spool.depth());
    let mut client = super::connect(config)?;
    super::schema::migrate(&mut client)?;
    Ok(PgSink {
        config: config.clone(),
        client: Some(client),
        node: opts.node.clone(),
        unique_window: opts.unique_window,
        judged: HashMap::new(),
        spool,
        reconnect: Reconnect::default(),
        outbox,
        outage: false,
        commits: 0,
    })
}
