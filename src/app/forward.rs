//! The CDR forwarder service: call events from the SIP core into the store writer's queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::store::{StoreCommand, StoreSender};
use crate::telemetry::metrics as ops_metrics;

/// The CDR forwarder service: core events into the writer's bounded queue (backpressure,
/// never dropped), counting each in `forwarded` for the overload guard.
pub(super) async fn forward_events(
    mut events: mpsc::Receiver<StoreCommand>,
    store: StoreSender,
    forwarded: Arc<AtomicU64>,
) {
    while let Some(command) = events.recv().await {
        if let Err(error) = store.send(command).await {
            tracing::error!(%error, "CDR writer gone: a call record could not be queued");
        }
        forwarded.fetch_add(1, Ordering::Relaxed);
        ops_metrics::cdr_queue_depth(store.queue_depth());
    }
}
