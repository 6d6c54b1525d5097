//! Read connections to PostgreSQL for the HTTP side and the CLI (calls API, reports,
//! `calltrack cdr`): a small pool of `postgres::Client`s, used on tokio's blocking threads
//! like the SQLite [`crate::store::StoreReader`], so no query stalls an async worker.
//!
//! At most `store.pool_size` queries run at once; further requests wait their turn. A
//! connection is opened on first use and kept; one that PostgreSQL closed (a restart, an
//! outage) is dropped and the next query opens a fresh one.

use std::sync::{Arc, Mutex};

use postgres::Client;
use tokio::sync::Semaphore;

use super::connect;
use crate::config::PostgresConfig;
use crate::store::StoreError;

/// A cheap-to-clone handle on the PostgreSQL read pool.
#[derive(Clone)]
pub struct PgReader(Arc<Pool>);

struct Pool {
    config: PostgresConfig,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
}

impl std::fmt::Debug for PgReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReader")
            .field("pool_size", &self.0.config.pool_size)
            .finish_non_exhaustive()
    }
}

impl PgReader {
    /// A pool of at most `config.pool_size` connections (at least one); none opened yet.
    pub fn new(config: &PostgresConfig) -> PgReader {
        PgReader(Arc::new(Pool {
            config: config.clone(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(config.pool_size.max(1)),
        }))
    }

    /// Runs `query` on a pooled connection on a blocking thread and returns its answer.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .0
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        let pool = self.0.clone();
        tokio::task::spawn_blocking(move || pool.run(query))
            .await
            .map_err(|_| StoreError::ReaderPanicked)?
    }

    /// Runs `query` on the calling thread (for the CLI and tests, outside any runtime).
    pub fn read_blocking<T>(
        &self,
        query: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.0.run(query)
    }

    /// Connections kept for reuse (tests).
    pub fn idle(&self) -> usize {
        self.0.idle.lock().map_or(0, |idle| idle.len())
    }
}

impl Drop for Pool {
    /// Closing a `postgres::Client` blocks on its own runtime, which panics on a thread that
    /// drives async tasks (the HTTP server drops its state inside tokio): the idle
    /// connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = match self.idle.get_mut() {
            Ok(idle) => std::mem::take(idle),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if idle.is_empty() {
            return;
        }
        let closing = std::thread::Builder::new()
            .name("pg-readers-close".into())
            .spawn(move || drop(idle));
        if let Ok(closing) = closing {
            let _ = closing.join();
        }
    }
}

impl Pool {
    fn run<T>(
        &self,
        query: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = match self.take_idle() {
            Some(client) => client,
            None => connect(&self.config)?,
        };
        let answer = query(&mut client);
        if !client.is_closed() {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(client);
            }
        }
        answer
    }

    /// An idle connection still open, if any (closed ones are dropped on the way).
    fn take_idle(&self) -> Option<Client> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }
}
