//! The store writer on PostgreSQL: the same writer thread, queue, batching, retries and
//! shutdown as on SQLite (`store::writer`), writing through one PostgreSQL connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postgres::Client;

use super::batch::{self, BatchContext};
use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::batch::BatchOutcome;
use crate::store::commands::{StoreCommand, StoreSender};
use crate::store::outbox::Outbox;
use crate::store::outbox::enqueue::Enqueue;
use crate::store::writer::{Sink, WriterHandle, WriterOptions};

/// Who this writer writes for, beyond the writer options.
#[derive(Debug, Clone)]
pub struct PgWriterOptions {
    pub writer: WriterOptions,
    /// This node's id (`[node] id`), on its CDRs and live rows.
    pub node: String,
    /// The first-time-caller window (`[tracking]`; `None`: new only once, ever).
    pub unique_window: Option<Duration>,
}

/// Connects, migrates and starts the writer thread on PostgreSQL.
pub fn spawn_pg_writer(
    config: &PostgresConfig,
    opts: PgWriterOptions,
    outbox: Arc<Outbox>,
) -> Result<(StoreSender, WriterHandle), StoreError> {
    let mut client = super::connect(config)?;
    super::schema::migrate(&mut client)?;
    let writer = opts.writer.normalized();
    let (sender, queue) = StoreSender::channel(writer.queue_capacity);
    let sink = PgSink {
        client,
        node: opts.node,
        unique_window: opts.unique_window,
        judged: HashMap::new(),
    };
    Ok((
        sender,
        WriterHandle::start_sink(sink, queue, writer, outbox)?,
    ))
}

/// The writer's PostgreSQL connection and what it carries between batches.
struct PgSink {
    client: Client,
    node: String,
    unique_window: Option<Duration>,
    /// First-time judgements of calls in progress, taken to their CDRs.
    judged: HashMap<String, bool>,
}

impl Sink for PgSink {
    fn apply(
        &mut self,
        batch: &[StoreCommand],
        opts: &WriterOptions,
        events: &mut Enqueue<'_>,
    ) -> Result<(BatchOutcome, Vec<bool>), StoreError> {
        for cmd in batch.iter().filter(|cmd| !batch::supports(cmd)) {
            let command = batch::refused_name(cmd);
            tracing::error!(
                command,
                "the PostgreSQL store does not write this yet; refused (not committed)"
            );
        }
        let ctx = BatchContext {
            node: &self.node,
            unique_window: self.unique_window,
            callback_window: opts.callback_window,
        };
        let mut tx = self.client.transaction()?;
        let applied = batch::apply(&mut tx, batch, ctx, &self.judged, events)?;
        tx.commit()?;
        self.judged.extend(applied.judged);
        for cmd in batch {
            if let StoreCommand::CallEnded(cdr) = cmd {
                self.judged.remove(&cdr.id);
            }
        }
        Ok((applied.outcome, applied.changed))
    }

    fn refuses(&self, cmd: &StoreCommand) -> bool {
        !batch::supports(cmd)
    }
}
