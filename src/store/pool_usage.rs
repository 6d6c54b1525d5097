//! Pool usage history (schema `V10_POOL_USAGE`): one row per pool per minute, written through
//! the one writer for the lease room's usage sampler (the store implements its
//! [`PoolUsageSink`]) and pruned past the retention in the same transaction; read back per
//! pool for `GET /v1/pools/usage` with the minutes the pool was exhausted.

use jiff::Timestamp;
use rusqlite::{Connection, named_params};

use super::{StoreCommand, StoreError, StoreSender};
use crate::call::record::rfc3339;
use crate::lease::{PoolUsageSample, PoolUsageSink};

const INSERT: &str = "INSERT OR REPLACE INTO pool_usage (at, site, pool, size, leased, exhausted)
    VALUES (:at, :site, :pool, :size, :leased, :exhausted)";

const SELECT: &str = "SELECT site, pool, at, size, leased, exhausted FROM pool_usage
    WHERE at >= :from AND at < :to AND (:site IS NULL OR site = :site)
    ORDER BY site, pool, at";

/// One stored sample, as served.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UsagePoint {
    /// The minute sampled (RFC 3339, UTC).
    pub at: String,
    pub leased: u32,
    pub exhausted: bool,
}

/// One pool's samples in a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PoolUsage {
    pub site: String,
    pub pool: String,
    /// The pool's size at the latest sample.
    pub size: u32,
    pub samples: Vec<UsagePoint>,
    /// Sampled minutes in which the pool was exhausted.
    pub exhaustion_minutes: u32,
    /// Numbers quarantined by leak detection now (filled by the HTTP layer from the lease
    /// table; 0 here).
    pub quarantined: u32,
    /// Estimated share of the calls to the pool in the 24 h before the period's end that
    /// were attributed to the right visitor (see `lease_history::estimate`); `null` without
    /// calls (filled by the HTTP layer).
    pub estimated_accuracy: Option<f64>,
}

/// Writes the samples and drops those before `prune_before`, inside the writer's batch.
pub(super) fn record(
    conn: &Connection,
    samples: &[PoolUsageSample],
    prune_before: Timestamp,
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(INSERT)?;
    for s in samples {
        insert.execute(named_params! {
            ":at": rfc3339::format(s.at),
            ":site": s.site,
            ":pool": s.pool,
            ":size": s.size,
            ":leased": s.leased,
            ":exhausted": s.exhausted,
        })?;
    }
    conn.execute(
        "DELETE FROM pool_usage WHERE at < ?1",
        [rfc3339::format(prune_before)],
    )?;
    Ok(())
}

/// Every pool's samples in `[from, to)`, optionally of one site.
pub fn usage(
    conn: &Connection,
    site: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<PoolUsage>, StoreError> {
    let mut select = conn.prepare_cached(SELECT)?;
    let mut rows = select.query(named_params! {
        ":from": rfc3339::format(from),
        ":to": rfc3339::format(to),
        ":site": site,
    })?;
    let mut pools: Vec<PoolUsage> = Vec::new();
    while let Some(row) = rows.next()? {
        let point = UsagePoint {
            at: row.get(2)?,
            leased: row.get(4)?,
            exhausted: row.get(5)?,
        };
        add_sample(&mut pools, (row.get(0)?, row.get(1)?), row.get(3)?, point);
    }
    Ok(pools)
}

/// Adds one sample of `(site, pool)`, sized `size`, to `pools` (samples come ordered by site,
/// pool and minute; each backend's reader calls this per row).
pub(crate) fn add_sample(
    pools: &mut Vec<PoolUsage>,
    (site, pool): (String, String),
    size: u32,
    point: UsagePoint,
) {
    let same = pools
        .last()
        .is_some_and(|p| p.site == site && p.pool == pool);
    if !same {
        pools.push(PoolUsage {
            site,
            pool,
            size,
            samples: Vec::new(),
            exhaustion_minutes: 0,
            quarantined: 0,
            estimated_accuracy: None,
        });
    }
    if let Some(current) = pools.last_mut() {
        current.size = size;
        current.exhaustion_minutes += u32::from(point.exhausted);
        current.samples.push(point);
    }
}

/// The store keeps the usage sampler's samples: each batch goes through the writer queue
/// and resolves once committed.
impl PoolUsageSink for StoreSender {
    type Error = StoreError;

    async fn record(
        &self,
        samples: Vec<PoolUsageSample>,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        self.request(|done| StoreCommand::SavePoolUsage {
            samples,
            prune_before,
            done,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::store::schema;

    const T0: Timestamp = Timestamp::constant(1772366400, 0);

    fn sample(pool: &str, min: i64, leased: u32, exhausted: bool) -> PoolUsageSample {
        PoolUsageSample {
            site: "shop".into(),
            pool: pool.into(),
            at: T0 + SignedDuration::from_mins(min),
            size: 2,
            leased,
            exhausted,
        }
    }

    #[test]
    fn samples_are_read_back_per_pool_with_exhaustion_minutes() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let samples = vec![
            sample("web", 0, 1, false),
            sample("web", 1, 2, true),
            sample("web", 2, 2, true),
            sample("ads", 1, 0, false),
        ];
        record(&conn, &samples, Timestamp::MIN).unwrap();
        let to = T0 + SignedDuration::from_mins(60);
        let pools = usage(&conn, Some("shop"), T0, to).unwrap();
        assert_eq!(pools.len(), 2);
        assert_eq!((pools[0].pool.as_str(), pools[0].samples.len()), ("ads", 1));
        let web = &pools[1];
        assert_eq!((web.size, web.exhaustion_minutes), (2, 2));
        assert_eq!(web.samples[1].at, "2026-03-01T12:01:00.000Z");
        assert!(usage(&conn, Some("other"), T0, to).unwrap().is_empty());
        let late = usage(&conn, None, T0 + SignedDuration::from_mins(2), to).unwrap();
        assert_eq!(
            late.len(),
            1,
            "from is inclusive, the ads pool has nothing then"
        );
    }

    #[test]
    fn recording_prunes_past_the_cut_off_and_replaces_a_minute() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        record(&conn, &[sample("web", 0, 1, false)], Timestamp::MIN).unwrap();
        let cut = T0 + SignedDuration::from_mins(1);
        record(&conn, &[sample("web", 1, 1, false)], cut).unwrap();
        record(&conn, &[sample("web", 1, 2, true)], cut).unwrap();
        let pools = usage(&conn, None, Timestamp::MIN, Timestamp::MAX).unwrap();
        assert_eq!(pools[0].samples.len(), 1, "minute 0 pruned");
        assert_eq!(
            pools[0].samples[0].leased, 2,
            "a minute sampled again is replaced"
        );
    }
}
