//! The estimated-accuracy job: every [`ESTIMATE_EVERY`], per configured pool, the share of the
//! last 24 hours' calls to the pool that were attributed to the right visitor, as the gauge
//! `calltrack_pool_estimated_accuracy{site,pool}`.
//!
//! A call attributed to a lease counts its calibrated confidence (the probability that the
//! visit is the caller); a call to a pool number nobody held, or to the reserve number while
//! the pools were exhausted (counted on the site's first pool, as the lease table counts
//! exhaustion), counts 0. One grouped query per site on a read connection of the configured
//! backend (on PostgreSQL, every node's calls): bounded
//! CPU whatever the traffic. A pool without calls in the window reads NaN.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::shutdown::Every;

use crate::config::SiteConfig;
use crate::store::BackendReader;
use crate::store::lease_history::{NumberCalls, estimate};

/// How often the estimate is refreshed.
pub const ESTIMATE_EVERY: Duration = Duration::from_secs(600);
/// The calls it is estimated on: those that started this long ago or later.
pub const WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// Runs until `stop`: an estimate at once, then every [`ESTIMATE_EVERY`], for the pools of
/// `sites` (pools change only with a restart).
pub async fn run_accuracy<C>(
    sites: Vec<SiteConfig>,
    reader: BackendReader,
    clock: C,
    stop: CancellationToken,
) where
    C: Fn() -> Timestamp + Send,
{
    let mut every = Every::new(ESTIMATE_EVERY, stop);
    while every.tick().await {
        let from = clock().checked_sub(WINDOW).unwrap_or(Timestamp::MIN);
        for site in sites.iter().filter(|s| !s.pools.is_empty()) {
            let id = site.id.clone();
            match reader
                .read_operator(move |r| r.number_calls(&id, from))
                .await
            {
                Ok(calls) => publish(site, &calls),
                Err(error) => {
                    tracing::warn!(%error, site = %site.id, "cannot estimate pool accuracy")
                }
            }
        }
    }
}

fn publish(site: &SiteConfig, calls: &[NumberCalls]) {
    for pool in estimate(site, calls) {
        crate::telemetry::metrics::pool_estimated_accuracy(&site.id, &pool.pool, pool.estimate);
    }
}
