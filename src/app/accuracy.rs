//! The estimated-accuracy job: every [`ESTIMATE_EVERY`], per configured pool, the share of the
//! last 24 hours' calls to the pool that were attributed to the right visitor, as the gauge
//! `calltrack_pool_estimated_accuracy{site,pool}`.
//!
//! A call attributed to a lease counts its calibrated confidence (the probability that the
//! visit is the caller); a call to a pool number nobody held, or to the reserve number while
//! the pools were exhausted (counted on the site's first pool, as the lease table counts
//! exhaustion), counts 0. One grouped query per site on a read-only connection: bounded
//! CPU whatever the traffic. A pool without calls in the window reads NaN.

use std::collections::HashSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::SiteConfig;
use crate::store::StoreReader;
use crate::store::lease_history::{NumberCalls, number_calls};

/// How often the estimate is refreshed.
pub const ESTIMATE_EVERY: Duration = Duration::from_secs(600);
/// The calls it is estimated on: those that started this long ago or later.
pub const WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// One pool's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolAccuracy {
    pub pool: String,
    /// Calls to the pool in the window.
    pub calls: u64,
    /// Estimated share attributed correctly (0..1); `None` without calls.
    pub estimate: Option<f64>,
}

/// Every pool of `site` from its numbers' calls.
pub fn estimate(site: &SiteConfig, calls: &[NumberCalls]) -> Vec<PoolAccuracy> {
    let reserve: u64 = calls.iter().map(|c| c.reserve).sum();
    site.pools
        .iter()
        .enumerate()
        .map(|(i, pool)| {
            let numbers: HashSet<&str> = pool.numbers.iter().map(String::as_str).collect();
            let mine = calls.iter().filter(|c| numbers.contains(c.number.as_str()));
            let (mut total, mut right) = (0, 0.0);
            for c in mine {
                total += c.judged + c.unattributed;
                right += c.confidence_sum;
            }
            total += if i == 0 { reserve } else { 0 };
            PoolAccuracy {
                pool: pool.id.clone(),
                calls: total,
                estimate: (total > 0).then(|| (right / total as f64).clamp(0.0, 1.0)),
            }
        })
        .collect()
}

/// Runs until `stop`: an estimate at once, then every [`ESTIMATE_EVERY`], for the pools of
/// `sites` (pools change only with a restart).
pub async fn run_accuracy<C>(
    sites: Vec<SiteConfig>,
    reader: StoreReader,
    clock: C,
    stop: CancellationToken,
) where
    C: Fn() -> Timestamp + Send,
{
    let mut tick = tokio::time::interval(ESTIMATE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let from = clock().checked_sub(WINDOW).unwrap_or(Timestamp::MIN);
        for site in sites.iter().filter(|s| !s.pools.is_empty()) {
            let id = site.id.clone();
            match reader.read(move |conn| number_calls(conn, &id, from)).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PoolConfig;

    fn site() -> SiteConfig {
        SiteConfig {
            id: "shop".to_owned(),
            name: None,
            forward_to: "sip:sales@127.0.0.1".to_owned(),
            forward_to_counted: true,
            quality_min_talk: None,
            default_number: Some("0".to_owned()),
            reserve_number: Some("9".to_owned()),
            freeze: Duration::from_secs(900),
            static_numbers: Vec::new(),
            pools: pools(),
            origins: Vec::new(),
            utc_offset: jiff::tz::Offset::UTC,
            report_zone: jiff::tz::TimeZone::UTC,
            lease_cooldown: Duration::from_secs(60),
            heartbeat: Duration::from_secs(30),
            rules: Vec::new(),
            media: None,
            record: None,
            announce: None,
            answer: None,
            overflow_code: false,
        }
    }

    fn pools() -> Vec<PoolConfig> {
        vec![
            PoolConfig {
                id: "web".into(),
                numbers: vec!["1".into(), "2".into()],
                region: None,
            },
            PoolConfig {
                id: "ads".into(),
                numbers: vec!["3".into()],
                region: None,
            },
        ]
    }

    fn calls(number: &str, judged: u64, sum: f64, unattributed: u64, reserve: u64) -> NumberCalls {
        NumberCalls {
            number: number.into(),
            judged,
            confidence_sum: sum,
            unattributed,
            reserve,
        }
    }

    #[test]
    fn confidence_counts_unheld_and_reserve_calls_count_zero() {
        let facts = [
            calls("1", 4, 3.6, 1, 0),
            calls("2", 2, 2.0, 0, 0),
            calls("9", 0, 0.0, 0, 3),
            calls("3", 0, 0.0, 0, 0),
        ];
        let pools = estimate(&site(), &facts);
        // web: 5.6 right of 4 + 1 + 2 + 3 (reserve) calls.
        assert_eq!(pools[0].calls, 10);
        assert!((pools[0].estimate.unwrap() - 0.56).abs() < 1e-9);
        assert_eq!((pools[1].calls, pools[1].estimate), (0, None));
    }
}
