//! Read connections to PostgreSQL for the HTTP side and the CLI (calls API, reports,
//! `calltrack cdr`): a small pool of `postgres::Client`s, used on tokio's blocking threads
//! like the SQLite [`crate::store::StoreReader`], so no query stalls an async worker.
//!
//! At most `store.pool_size` queries run at once; further requests wait their turn. A
//! connection is opened on first use and kept; one that PostgreSQL closed (a restart, an
//! outage) is dropped and the next query opens a fresh one.

use std::sync::Arc;

use postgres::Client;

use super::connect;
use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::blocking_pool::BlockingPool;

/// A cheap-to-clone handle on the PostgreSQL read pool.
#[derive(Clone)]
pub struct PgReader(Arc<BlockingPool<Client>>);

impl std::fmt::Debug for PgReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReader")
            .field("idle", &self.0.idle())
            .finish_non_exhaustive()
    }
}

impl PgReader {
    /// A pool of at most `config.pool_size` connections (at least one); none opened yet.
    /// A connection PostgreSQL closed is not reused.
    pub fn new(config: &PostgresConfig) -> PgReader {
        let config = config.clone();
        PgReader(BlockingPool::new(
            config.pool_size,
            move || connect(&config),
            |client: &Client| !client.is_closed(),
        ))
    }

    /// Runs `query` on a pooled connection on a blocking thread and returns its answer.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    {
        self.0.read(query).await
    }

    /// Runs `query` on the calling thread (for the CLI and tests, outside any runtime).
    pub fn read_blocking<T>(
        &self,
        query: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.0.run(query)
    }

    /// Connections kept for reuse.
    pub fn idle(&self) -> usize {
        self.0.idle()
    }
}
