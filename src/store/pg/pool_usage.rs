//! Pool usage on PostgreSQL (as `store::pool_usage` on SQLite): the per-minute samples of
//! every node's usage sampler, one row per pool and minute, the calls per number the
//! estimated accuracy reads (`GET /v1/pools/usage`), and the calls to pool numbers
//! `calltrack pool advise` fits its model to. With leases on Redis every node samples
//! the same leases: a minute sampled by two nodes is one row (the later write wins, with the
//! same figures). With memory leases each node has its own; the row is the last node's.

use jiff::Timestamp;
use postgres::GenericClient;

use super::cells::time_text;
use crate::call::record::rfc3339;
use crate::lease::{PoolCall, PoolUsageSample};
use crate::store::StoreError;
use crate::store::lease_history::NumberCalls;
use crate::store::pool_usage::{PoolUsage, UsagePoint, add_sample};

/// Writes the samples (by `node`) and drops those before `prune_before`, in the batch's
/// transaction.
pub fn record(
    client: &mut impl GenericClient,
    samples: &[PoolUsageSample],
    prune_before: Timestamp,
    node: &str,
) -> Result<(), StoreError> {
    for s in samples {
        client.execute(
            "INSERT INTO pool_usage (site, pool, at, size, leased, exhausted, node_id) \
             VALUES ($1, $2, $3::text::timestamptz, $4, $5, $6, $7) \
             ON CONFLICT (site, pool, at) DO UPDATE SET size = excluded.size, \
             leased = excluded.leased, exhausted = excluded.exhausted, node_id = excluded.node_id",
            &[
                &s.site,
                &s.pool,
                &rfc3339::format(s.at),
                &i64::from(s.size),
                &i64::from(s.leased),
                &s.exhausted,
                &node,
            ],
        )?;
    }
    client.execute(
        "DELETE FROM pool_usage WHERE at < $1::text::timestamptz",
        &[&bound(prune_before)],
    )?;
    Ok(())
}

/// Every pool's samples in `[from, to)`, optionally of one site.
pub fn usage(
    client: &mut impl GenericClient,
    site: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<PoolUsage>, StoreError> {
    let sql = format!(
        "SELECT site, pool, {}, size, leased, exhausted FROM pool_usage \
         WHERE at >= $1::text::timestamptz AND at < $2::text::timestamptz \
         AND ($3::text IS NULL OR site = $3) ORDER BY site, pool, at",
        time_text("at")
    );
    let rows = client.query(&sql, &[&rfc3339::format(from), &rfc3339::format(to), &site])?;
    let mut pools: Vec<PoolUsage> = Vec::new();
    for row in &rows {
        let point = UsagePoint {
            at: row.try_get(2)?,
            leased: count(row.try_get(4)?),
            exhausted: row.try_get(5)?,
        };
        let key = (row.try_get(0)?, row.try_get(1)?);
        add_sample(&mut pools, key, count(row.try_get(3)?), point);
    }
    Ok(pools)
}

/// `at` as PostgreSQL reads it: no earlier than 1970 (jiff's `Timestamp::MIN`, year -9999,
/// would be read as year 9999; no sample or call is older than the epoch).
fn bound(at: Timestamp) -> String {
    rfc3339::format(at.max(Timestamp::UNIX_EPOCH))
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Per tracking number of `site`, the calls since `from` that judge a pool's accuracy (as
/// `store::lease_history::number_calls`), from every node's CDRs.
pub fn number_calls(
    client: &mut impl GenericClient,
    site: &str,
    from: Timestamp,
) -> Result<Vec<NumberCalls>, StoreError> {
    let rows = client.query(
        "SELECT tracking_number, count(confidence), coalesce(sum(confidence), 0)::float8, \
         count(*) FILTER (WHERE number_kind = 'unattributed'), \
         count(*) FILTER (WHERE number_kind = 'reserve') \
         FROM cdr WHERE site = $1 AND started_at >= $2::text::timestamptz \
         AND number_kind IN ('dynamic', 'unattributed', 'reserve') GROUP BY tracking_number",
        &[&site, &bound(from)],
    )?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    rows.iter()
        .map(|row| {
            Ok(NumberCalls {
                number: row.try_get(0)?,
                judged: n(row.try_get(1)?),
                confidence_sum: row.try_get(2)?,
                unattributed: n(row.try_get(3)?),
                reserve: n(row.try_get(4)?),
            })
        })
        .collect()
}

/// The site's calls to pool numbers that started at `from` or later, oldest first (as
/// `store::lease_history::calls`), from every node's CDRs.
pub fn pool_calls(
    client: &mut impl GenericClient,
    site: &str,
    from: Timestamp,
) -> Result<Vec<PoolCall>, StoreError> {
    let sql = format!(
        "SELECT tracking_number, caller, session_id, {}, {}, talk_secs FROM cdr \
         WHERE site = $1 AND started_at >= $2::text::timestamptz \
         AND number_kind IN ('dynamic', 'unattributed') ORDER BY started_at, seq",
        time_text("started_at"),
        time_text("ended_at")
    );
    let rows = client.query(&sql, &[&site, &bound(from)])?;
    let time = |text: String| {
        rfc3339::parse(&text).map_err(|_| StoreError::PgValue(format!("cdr time {text:?}")))
    };
    rows.iter()
        .map(|row| {
            Ok(PoolCall {
                number: row.try_get(0)?,
                caller: row.try_get(1)?,
                session_id: row.try_get(2)?,
                started_at: time(row.try_get(3)?)?,
                ended_at: time(row.try_get(4)?)?,
                talk_secs: row.try_get(5)?,
            })
        })
        .collect()
}
