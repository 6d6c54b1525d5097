//! Answers the report room's [`FactQuery`]s from PostgreSQL, as `store::report_facts` does
//! on SQLite, by two paths that cost what the period holds, not what the history holds:
//! - fields the rollup keeps (source, medium, campaign, number kind, site and time fields):
//!   `report_rollup` rows of the period's UTC hours (schema V8, kept by triggers), plus the
//!   period's repeat calls from the `cdr_repeats` index (`prev_started_at` in the period);
//! - any other field: the sums of the period's calls and leads per site, UTC bucket and
//!   group-by key.
//!
//! The same rules as on SQLite: calls calltrack refused (`rejected`) are not counted; a call
//! whose caller called the same site earlier in the period (a not rejected call) is a repeat
//! and takes one off its line's unique callers. Leads are counted by their creation time,
//! won deals of calls and leads are revenue in the report's currency (others skipped), and
//! ad costs come from [`super::costs`].

use std::time::SystemTime;

use jiff::Timestamp;
use postgres::GenericClient;
use postgres::types::ToSql;

use crate::report::{Bucket, Fact, FactQuery, Facts, GroupField, SiteSet, Sums};
use crate::store::StoreError;
use crate::store::report_facts::{rolled_up, rollup_grouping};

/// The facts of every query, added together.
pub fn facts_of(
    client: &mut impl GenericClient,
    queries: &[FactQuery],
) -> Result<Facts, StoreError> {
    let mut all = Facts::default();
    for query in queries {
        all.extend(facts(client, query)?);
    }
    Ok(all)
}

/// The facts of one query.
pub fn facts(client: &mut impl GenericClient, q: &FactQuery) -> Result<Facts, StoreError> {
    let mut facts = Facts::default();
    if rolled_up(q) {
        // Every repeat call is a call of the period, so no calls, no repeats: the query of
        // the sites without a zone of their own (usually none) skips the repeats' index.
        if rollup_sums(client, q, &mut facts)? {
            repeats(client, q, &mut facts)?;
        }
    } else {
        call_sums(client, q, &mut facts)?;
        lead_sums(client, q, &mut facts)?;
    }
    super::costs::costs(client, q, &mut facts)?;
    Ok(facts)
}

/// Sums in the order [`sums_of`] reads them. `floor(x + 0.5)` rounds as SQLite's `round()`
/// does (half away from zero for these non-negative values; PostgreSQL's own `round` on a
/// double rounds half to even).
const SUMS: &str = "count(*),
    sum(first_time_caller)::bigint,
    count(answered_at),
    sum(missed)::bigint,
    count(*) FILTER (WHERE missed = 1 AND called_back_at IS NULL),
    sum(quality)::bigint,
    coalesce(sum(wait_secs) FILTER (WHERE answered_at IS NOT NULL), 0)::bigint,
    coalesce(sum(talk_secs) FILTER (WHERE answered_at IS NOT NULL), 0)::bigint,
    coalesce(sum(deal_amount_minor) FILTER (WHERE deal_status = 'won' AND deal_currency = $3), 0)::bigint,
    count(*) FILTER (WHERE deal_status = 'won' AND deal_currency IS DISTINCT FROM $3),
    count(*) FILTER (WHERE prev_started_at >= $1),
    count(confidence),
    coalesce(sum(floor(confidence * 1000 + 0.5)), 0)::bigint,
    count(target),
    coalesce(sum(target), 0)::bigint";

/// The rollup's sums in the order [`rollup_sums`] reads them, after the currency.
const ROLLED: &str = "sum(calls)::bigint, sum(first_time_calls)::bigint, sum(answered)::bigint,
    sum(missed)::bigint, sum(missed_not_called_back)::bigint, sum(quality_calls)::bigint,
    sum(wait_secs)::bigint, sum(talk_secs)::bigint, sum(leads)::bigint, sum(won_minor)::bigint,
    sum(won_deals)::bigint, sum(confident_calls)::bigint, sum(confidence_milli)::bigint,
    sum(scored_calls)::bigint, sum(target_calls)::bigint";

/// The rollup lines of the period's UTC hours, per bucket, site, key and won-deal currency;
/// whether they count any call.
fn rollup_sums(
    client: &mut impl GenericClient,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<bool, StoreError> {
    let mut any_calls = false;
    let bucket = match q.bucket {
        Bucket::None => "NULL::timestamptz",
        _ => "hour",
    };
    let (select, group) = rollup_grouping(q, bucket);
    let sql = format!(
        "SELECT {select}, {ROLLED} FROM report_rollup WHERE hour >= $1 AND hour < $2 AND {}
         GROUP BY {group}",
        site_clause(q, 3)
    );
    let (from, to, sites) = window(q);
    let (from, to) = (hour_floor(from), hour_floor(to));
    let params: [&(dyn ToSql + Sync); 3] = [&from, &to, sites];
    let n = q.columns.len() + 2;
    for row in client.query(&sql, &params)? {
        let currency: String = row.try_get(n)?;
        let get = |i: usize| row.try_get::<_, i64>(n + 1 + i);
        let ours = currency == q.currency;
        if !ours && !currency.is_empty() {
            facts.skipped.deals += get(10)?;
        }
        let calls = get(0)?;
        any_calls |= calls > 0;
        let sums = Sums {
            calls,
            unique_callers: calls,
            first_time_calls: get(1)?,
            answered: get(2)?,
            missed: get(3)?,
            missed_not_called_back: get(4)?,
            quality_calls: get(5)?,
            wait_secs: get(6)?,
            talk_secs: get(7)?,
            leads: get(8)?,
            revenue_minor: if ours { get(9)? } else { 0 },
            confident_calls: get(11)?,
            confidence_milli: get(12)?,
            scored_calls: get(13)?,
            target_calls: get(14)?,
            ..Sums::default()
        };
        let mut fact = fact(q, &row, sums)?;
        // The rollup keeps an absent key as '' (part of its primary key): absent again.
        for value in &mut fact.key {
            if value.as_deref() == Some("") {
                *value = None;
            }
        }
        facts.sums.push(fact);
    }
    Ok(any_calls)
}

/// Calls of the period whose caller called the same site earlier in the period: one off
/// their line's unique callers.
fn repeats(
    client: &mut impl GenericClient,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "started_at", "tracking_number");
    let sql = format!(
        "SELECT {select}, count(*) FROM cdr
         WHERE prev_started_at >= $1 AND prev_started_at < $2 AND started_at < $2 AND {}
         GROUP BY {group}",
        site_clause(q, 3)
    );
    let (from, to, sites) = window(q);
    let params: [&(dyn ToSql + Sync); 3] = [&from, &to, sites];
    let n = q.columns.len() + 2;
    for row in client.query(&sql, &params)? {
        let sums = Sums {
            unique_callers: -row.try_get::<_, i64>(n)?,
            ..Sums::default()
        };
        facts.sums.push(fact(q, &row, sums)?);
    }
    Ok(())
}

fn call_sums(
    client: &mut impl GenericClient,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "started_at", "tracking_number");
    let sites = site_clause(q, 4);
    let sql = format!(
        "SELECT {select}, {SUMS} FROM cdr AS c
         WHERE started_at >= $1 AND started_at < $2 AND disposition <> 'rejected' AND {sites}
         GROUP BY {group}"
    );
    let (from, to, sites) = window(q);
    let params: [&(dyn ToSql + Sync); 4] = [&from, &to, &q.currency, sites];
    let n = q.columns.len() + 2;
    for row in client.query(&sql, &params)? {
        let (sums, skipped_deals) = sums_of(&row, n)?;
        facts.skipped.deals += skipped_deals;
        facts.sums.push(fact(q, &row, sums)?);
    }
    Ok(())
}

/// The period's leads and their won deals, per bucket of their creation time.
fn lead_sums(
    client: &mut impl GenericClient,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "created_at", "NULL::text");
    let sql = format!(
        "SELECT {select}, count(*),
            coalesce(sum(deal_amount_minor) FILTER (WHERE deal_status = 'won' AND deal_currency = $3), 0)::bigint,
            count(*) FILTER (WHERE deal_status = 'won' AND deal_currency IS DISTINCT FROM $3)
         FROM leads WHERE created_at >= $1 AND created_at < $2 AND {}
         GROUP BY {group}",
        site_clause(q, 4)
    );
    let (from, to, sites) = window(q);
    let params: [&(dyn ToSql + Sync); 4] = [&from, &to, &q.currency, sites];
    let n = q.columns.len() + 2;
    for row in client.query(&sql, &params)? {
        let sums = Sums {
            leads: row.try_get(n)?,
            revenue_minor: row.try_get(n + 1)?,
            ..Sums::default()
        };
        facts.skipped.deals += row.try_get::<_, i64>(n + 2)?;
        facts.sums.push(fact(q, &row, sums)?);
    }
    Ok(())
}

/// `site = ANY($n)` or `site <> ALL($n)`.
fn site_clause(q: &FactQuery, n: usize) -> String {
    match &q.sites {
        SiteSet::Only(_) => format!("site = ANY(${n})"),
        SiteSet::Except(_) => format!("site <> ALL(${n})"),
    }
}

/// The sums starting at column `n`, and the won deals in another currency.
fn sums_of(row: &postgres::Row, n: usize) -> Result<(Sums, i64), postgres::Error> {
    let get = |i: usize| {
        row.try_get::<_, Option<i64>>(n + i)
            .map(Option::unwrap_or_default)
    };
    let calls = get(0)?;
    let sums = Sums {
        calls,
        unique_callers: calls - get(10)?,
        first_time_calls: get(1)?,
        answered: get(2)?,
        missed: get(3)?,
        missed_not_called_back: get(4)?,
        quality_calls: get(5)?,
        wait_secs: get(6)?,
        talk_secs: get(7)?,
        revenue_minor: get(8)?,
        confident_calls: get(11)?,
        confidence_milli: get(12)?,
        scored_calls: get(13)?,
        target_calls: get(14)?,
        ..Sums::default()
    };
    Ok((sums, get(9)?))
}

/// `(GROUP BY list, SELECT list)`: the start of the UTC hour or minute of time column `at`
/// (a `timestamptz` from `date_bin`, plain arithmetic: formatting every call's time as text,
/// or `date_trunc` in a named zone, costs more than the sums; PostgreSQL 14 or newer), site,
/// then the query's columns (`tracking_number` the expression for that field).
fn grouping(q: &FactQuery, at: &str, tracking_number: &str) -> (String, String) {
    let bucket = match q.bucket {
        Bucket::None => "NULL::timestamptz".to_owned(),
        Bucket::Hour => format!("date_bin('1 hour', {at}, '2000-01-01T00:00:00Z')"),
        Bucket::Minute => format!("date_bin('1 minute', {at}, '2000-01-01T00:00:00Z')"),
    };
    let mut select = vec![bucket, "site".to_owned()];
    for field in &q.columns {
        match field {
            GroupField::TrackingNumber => select.push(tracking_number.to_owned()),
            other => select.extend(other.column().map(String::from)),
        }
    }
    let group = (1..=select.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    (group, select.join(", "))
}

fn fact(q: &FactQuery, row: &postgres::Row, sums: Sums) -> Result<Fact, postgres::Error> {
    let bucket = row
        .try_get::<_, Option<SystemTime>>(0)?
        .and_then(|at| Timestamp::try_from(at).ok());
    let key = (0..q.columns.len())
        .map(|i| row.try_get::<_, Option<String>>(i + 2))
        .collect::<Result<_, _>>()?;
    Ok(Fact {
        site: row.try_get(1)?,
        bucket,
        key,
        sums,
    })
}

/// The parameters every query of `q` starts with: the period's bounds as `timestamptz`s
/// (microseconds; calls are stored to the millisecond) and its sites (see [`site_clause`]).
fn window(q: &FactQuery) -> (SystemTime, SystemTime, &Vec<String>) {
    let (SiteSet::Only(sites) | SiteSet::Except(sites)) = &q.sites;
    (SystemTime::from(q.from), SystemTime::from(q.to), sites)
}

/// The start of the UTC hour of `at` (the rollup's hours).
fn hour_floor(at: SystemTime) -> SystemTime {
    let second = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(second - second % 3600)
}
