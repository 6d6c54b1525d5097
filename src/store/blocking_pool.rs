//! A bounded pool of blocking database connections for async callers: a query runs on one
//! of tokio's blocking threads, on an idle connection or one opened for it, so no query
//! stalls an async worker. At most `size` queries run at once; further requests wait their
//! turn. Shared by the SQLite [`super::StoreReader`] and the PostgreSQL
//! [`super::pg::PgReader`].

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::StoreError;

type Open<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

/// Connections of type `C`, opened by `open` on first use and kept while `usable`.
pub(crate) struct BlockingPool<C: Send + 'static> {
    open: Open<C>,
    usable: fn(&C) -> bool,
    idle: Mutex<Vec<C>>,
    permits: Semaphore,
}

impl<C: Send + 'static> BlockingPool<C> {
    /// A pool of at most `size` connections (at least one); none opened yet.
    pub(crate) fn new(
        size: usize,
        open: impl Fn() -> Result<C, StoreError> + Send + Sync + 'static,
        usable: fn(&C) -> bool,
    ) -> Arc<BlockingPool<C>> {
        Arc::new(BlockingPool {
            open: Box::new(open),
            usable,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        })
    }

    /// Runs `query` on a pooled connection on a blocking thread and returns its answer.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut C) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.run(query))
            .await
            .map_err(|_| StoreError::ReaderPanicked)?
    }

    /// Runs `query` on the calling thread (for the CLI and tests, outside any runtime).
    pub(crate) fn run<T>(
        &self,
        query: impl FnOnce(&mut C) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = match self.take_idle() {
            Some(conn) => conn,
            None => (self.open)()?,
        };
        let answer = query(&mut conn);
        if (self.usable)(&conn) {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(conn);
            }
        }
        answer
    }

    /// Connections kept for reuse.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// An idle connection still usable, if any (the others are dropped on the way).
    fn take_idle(&self) -> Option<C> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(conn) = idle.pop() {
            if (self.usable)(&conn) {
                return Some(conn);
            }
        }
        None
    }
}

impl<C: Send + 'static> Drop for BlockingPool<C> {
    /// Closing a `postgres::Client` blocks on its own runtime, which panics on a thread that
    /// drives async tasks (the HTTP server drops its state inside tokio): idle connections
    /// are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = match self.idle.get_mut() {
            Ok(idle) => std::mem::take(idle),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if idle.is_empty() {
            return;
        }
        let closing = std::thread::Builder::new()
            .name("store-readers-close".into())
            .spawn(move || drop(idle));
        if let Ok(closing) = closing {
            let _ = closing.join();
        }
    }
}
