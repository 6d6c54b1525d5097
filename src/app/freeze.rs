//! The adaptive-freeze job: every [`ADAPT_EVERY`], per pool of a site with `adapt_freeze`, the
//! call delay after leaving is fitted on the last [`HISTORY`] of lease history and CDRs (the
//! pool advisor's fit, `simulate::fit_history`) and the pool's freeze set to
//! `lease::freeze::adapted_freeze` of it; with too little history the site's `freeze_secs`
//! stays. A changed freeze is logged at INFO.
//!
//! The lease history is the node's own (its SQLite file, where the sweeper saves it); the
//! calls come from the configured store (`[store] backend`: every node's CDRs on
//! PostgreSQL).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::shutdown::Every;

use crate::config::{PoolConfig, SiteConfig};
use crate::lease::LeaseTable;
use crate::lease::freeze::adapted_freeze;
use crate::store::lease_history::leases;
use crate::store::{BackendReader, StoreReader};

/// How often the freeze is refitted.
pub const ADAPT_EVERY: Duration = Duration::from_secs(3600);
/// The history it is fitted on.
pub const HISTORY: SignedDuration = SignedDuration::from_hours(28 * 24);

/// Runs until `stop`: a fit at once, then every [`ADAPT_EVERY`].
pub async fn run_freeze<C>(
    sites: Vec<SiteConfig>,
    table: Arc<LeaseTable>,
    readers: (StoreReader, BackendReader),
    clock: C,
    stop: CancellationToken,
) where
    C: Fn() -> Timestamp + Send,
{
    let mut every = Every::new(ADAPT_EVERY, stop);
    while every.tick().await {
        let from = clock().checked_sub(HISTORY).unwrap_or(Timestamp::MIN);
        for site in sites.iter().filter(|s| s.adapt_freeze) {
            for pool in &site.pools {
                let freeze = fitted(&readers, site, pool, from).await;
                apply(&table, site, pool, freeze);
            }
        }
    }
}

/// The freeze for `pool` from its history since `from`; the configured one without enough.
async fn fitted(
    (reader, reads): &(StoreReader, BackendReader),
    site: &SiteConfig,
    pool: &PoolConfig,
    from: Timestamp,
) -> Duration {
    let (id, pool_id, numbers) = (site.id.clone(), pool.id.clone(), pool.numbers.clone());
    let site_id = id.clone();
    let ended = reader
        .read(move |conn| {
            let mut ended = leases(conn, &id, from)?;
            ended.retain(|l| l.pool == pool_id);
            Ok(ended)
        })
        .await;
    let rung = reads
        .read_operator(move |r| {
            let mut rung = r.pool_calls(&site_id, from)?;
            rung.retain(|c| numbers.contains(&c.number));
            Ok(rung)
        })
        .await;
    let read = ended.and_then(|ended| rung.map(|rung| (ended, rung)));
    let (ended, rung) = match read {
        Ok(history) => history,
        Err(error) => {
            tracing::warn!(%error, site = %site.id, pool = %pool.id, "cannot read lease history to adapt the freeze");
            return site.freeze;
        }
    };
    let timing = crate::simulate::model::Pool {
        size: pool.numbers.len().max(1),
        freeze_secs: site.freeze.as_secs().max(2),
        heartbeat_secs: site
            .heartbeat
            .as_secs()
            .clamp(1, site.freeze.as_secs().max(2) - 1),
        cooldown_secs: site.lease_cooldown.as_secs(),
        last_holder_secs: None,
        adapt_freeze: None,
    };
    match crate::simulate::fit_history(&ended, &rung, timing) {
        Ok((model, _)) => {
            let (median, sigma) = (
                model.calls.after_visit_median_secs,
                model.calls.after_visit_sigma,
            );
            adapted_freeze(median, sigma, site.heartbeat, site.freeze)
        }
        Err(_) => site.freeze,
    }
}

fn apply(table: &LeaseTable, site: &SiteConfig, pool: &PoolConfig, freeze: Duration) {
    if table.freeze_of(&site.id, &pool.id) == Some(freeze) {
        return;
    }
    if table.set_freeze(&site.id, &pool.id, freeze) {
        tracing::info!(site = %site.id, pool = %pool.id, freeze_secs = freeze.as_secs(),
            "pool freeze adapted to the observed call delay after leaving");
    }
}
