//! The lease sweeper service: ends expired leases every second and saves the table every few
//! seconds and at shutdown, so a restart keeps visitors on their numbers; each save also
//! carries the leases ended since the last one (the lease history) and its pruning cut-off.
//!
//! The one file of `lease/` that reads the clock and uses tokio. It saves through
//! [`LeaseSnapshots`], which the store implements (its one writer commits the snapshot): the
//! lease room owns the trait and never imports the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::shutdown::Every;

use jiff::SignedDuration;

use super::{EndedLease, Lease, LeaseTable, OverflowCode, Quarantine};

/// How often expired leases are ended.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
/// How often the table is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// How long one save may wait for its commit before the sweeper goes on (it stays queued).
const SAVE_WAIT: Duration = Duration::from_secs(5);

/// What a restart must find again: every lease, every live overflow code and every
/// quarantined number; and what goes into the lease history: the leases ended since the last
/// save, and the history older than `history_prune_before` to delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseSnapshot {
    pub leases: Vec<Lease>,
    pub codes: Vec<OverflowCode>,
    pub quarantined: Vec<Quarantine>,
    pub ended: Vec<EndedLease>,
    pub history_prune_before: Option<Timestamp>,
}

/// Where lease snapshots are kept.
pub trait LeaseSnapshots: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;

    /// Replaces the kept snapshot; resolves once it is durable.
    fn save(&self, snapshot: LeaseSnapshot)
    -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Runs until `stop` is cancelled, then saves one last snapshot and returns. Ended leases
/// are kept for `history` (`[tracking] lease_history_days`).
pub async fn run_sweeper<S: LeaseSnapshots>(
    table: Arc<LeaseTable>,
    store: S,
    history: Duration,
    stop: CancellationToken,
) {
    table.keep_history();
    let history = SignedDuration::try_from(history).unwrap_or(SignedDuration::MAX);
    let mut every = Every::new(EXPIRE_EVERY, stop);
    let mut last_save = Instant::now();
    while every.tick().await {
        let now = Timestamp::now();
        let ended = table.expire(now);
        let codes_ended = table.codes().expire(now);
        if ended + codes_ended > 0 {
            tracing::debug!(ended, codes_ended, "leases expired");
        }
        if last_save.elapsed() >= SAVE_EVERY {
            last_save = Instant::now();
            save(&table, &store, history).await;
        }
    }
    save(&table, &store, history).await;
}

/// Puts the saved leases and codes back into `table`; returns how many of each were restored
/// (those already over at `now`, or whose pool or number is no longer configured, are dropped).
pub fn load_on_start(table: &LeaseTable, saved: LeaseSnapshot, now: Timestamp) -> (usize, usize) {
    let before = table.len();
    table.restore(saved.leases, now);
    table.restore_quarantines(saved.quarantined);
    let codes = table.codes().restore(saved.codes, now);
    (table.len().saturating_sub(before), codes)
}

/// Saves one snapshot; a failure is logged and the next save tries again.
async fn save<S: LeaseSnapshots>(table: &LeaseTable, store: &S, history: SignedDuration) {
    let (ended, dropped) = table.take_ended();
    if dropped > 0 {
        tracing::warn!(dropped, "lease history notes dropped (the queue was full)");
    }
    let now = Timestamp::now();
    let snapshot = LeaseSnapshot {
        leases: table.snapshot(),
        codes: table.codes().snapshot(),
        quarantined: table.quarantined(),
        ended,
        history_prune_before: Some(now.checked_sub(history).unwrap_or(Timestamp::MIN)),
    };
    let saved = snapshot.leases.len() + snapshot.codes.len();
    match tokio::time::timeout(SAVE_WAIT, store.save(snapshot)).await {
        Ok(Ok(())) => tracing::trace!(saved, "lease snapshot saved"),
        Ok(Err(error)) => tracing::warn!(%error, "cannot save the lease snapshot"),
        Err(_) => tracing::warn!(
            "lease snapshot not confirmed in time (the store is busy); the next save follows"
        ),
    }
}
