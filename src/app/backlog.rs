//! How far the CDR store is behind the SIP core: call events the core has handed out and the
//! writer has not yet taken. The overload guard refuses new calls when it grows (see
//! `edge::overload`), which is what keeps the driver's event queue bounded without the
//! driver ever waiting for the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreSender;

/// Counts on both sides of the forwarder, plus the writer's own queue; clones (one per core
/// shard) share the counts.
#[derive(Debug, Clone)]
pub(crate) struct StoreBacklog {
    /// Events the core's shards handed out.
    emitted: Arc<AtomicU64>,
    /// Events the forwarder has put into the writer's queue.
    forwarded: Arc<AtomicU64>,
    store: StoreSender,
}

impl StoreBacklog {
    pub(crate) fn new(store: StoreSender) -> Self {
        StoreBacklog {
            emitted: Arc::default(),
            forwarded: Arc::default(),
            store,
        }
    }

    /// The counter the forwarder advances as it hands events to the writer.
    pub(crate) fn forwarded(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.forwarded)
    }

    /// One more event handed out by the core.
    pub(crate) fn emitted(&self) {
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Events not yet taken by the writer: waiting in the driver, in the channel, at the
    /// forwarder, or in the writer's queue.
    pub(crate) fn unwritten(&self) -> usize {
        let forwarded = self.forwarded.load(Ordering::Relaxed);
        let emitted = self.emitted.load(Ordering::Relaxed);
        let in_flight = usize::try_from(emitted.saturating_sub(forwarded)).unwrap_or(usize::MAX);
        in_flight.saturating_add(self.store.queue_depth())
    }
}
