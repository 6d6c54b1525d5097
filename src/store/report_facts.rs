//! Answers the report room's [`FactQuery`]s from SQLite: sums of calls, unique callers,
//! leads and costs per site, UTC bucket and group-by key.
//!
//! Two paths, both costing what the period holds, not what the history holds:
//! - fields the rollup keeps (source, medium, campaign, number_kind, site and time fields, on
//!   sites whose offset is whole hours): `report_rollup` rows of the period's UTC hours (a few
//!   per hour), plus the period's repeat calls from the `cdr_repeats` index;
//! - any other field (term, landing page, region, device, tracking number): the period's
//!   calls and leads through their time index.
//!
//! Calls refused by calltrack itself (`rejected`: blacklist, no route) are not counted.
//! A caller is a unique caller of a site once, on the line of their first call of the
//! period: a call whose caller called the site earlier in the period (`prev_started_at` in
//! the period) is a repeat and takes one off its line's unique callers.

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use super::StoreError;
use crate::report::{Bucket, Fact, FactQuery, Facts, GroupField, SiteSet, Sums};

/// The facts of every query, added together.
pub fn facts_of(conn: &Connection, queries: &[FactQuery]) -> Result<Facts, StoreError> {
    let mut all = Facts::default();
    for query in queries {
        all.extend(facts(conn, query)?);
    }
    Ok(all)
}

/// The facts of one query.
pub fn facts(conn: &Connection, q: &FactQuery) -> Result<Facts, StoreError> {
    let mut facts = Facts::default();
    if rolled_up(q) {
        rollup_sums(conn, q, &mut facts)?;
        repeats(conn, q, &mut facts)?;
        super::confidence::rollup_sums(conn, q, &mut facts)?;
        super::report_targets::rollup_sums(conn, q, &mut facts)?;
    } else {
        call_sums(conn, q, &mut facts)?;
        lead_sums(conn, q, &mut facts)?;
    }
    costs(conn, q, &mut facts)?;
    Ok(facts)
}

/// Whether the rollup holds what `q` groups by.
pub fn rolled_up(q: &FactQuery) -> bool {
    q.bucket != Bucket::Minute
        && q.columns.iter().all(|f| {
            matches!(
                f,
                GroupField::Source
                    | GroupField::Medium
                    | GroupField::Campaign
                    | GroupField::NumberKind
            )
        })
}

fn rollup_sums(conn: &Connection, q: &FactQuery, facts: &mut Facts) -> Result<(), StoreError> {
    let bucket = if q.bucket == Bucket::None {
        "''"
    } else {
        "hour"
    };
    let (select, group) = rollup_grouping(q, bucket);
    let (sites, mut params) = site_clause(&q.sites, 3);
    let sql = format!(
        "SELECT {select}, sum(calls), sum(first_time_calls), sum(answered), sum(missed),
            sum(missed_not_called_back), sum(quality_calls), sum(wait_secs), sum(talk_secs),
            sum(leads), sum(won_minor), sum(won_deals)
         FROM report_rollup WHERE hour >= ?1 AND hour < ?2 AND {sites} GROUP BY {group}"
    );
    let hour = |at: Timestamp| Value::Text(bound(at)[..13].to_owned());
    params.splice(0..0, [hour(q.from), hour(q.to)]);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let n = q.columns.len() + 2;
    while let Some(row) = rows.next()? {
        let currency: String = row.get(n)?;
        let won_deals: i64 = row.get(n + 11)?;
        let ours = currency == q.currency;
        if !ours && !currency.is_empty() {
            facts.skipped.deals += won_deals;
        }
        let calls: i64 = row.get(n + 1)?;
        let sums = Sums {
            calls,
            unique_callers: calls,
            first_time_calls: row.get(n + 2)?,
            answered: row.get(n + 3)?,
            missed: row.get(n + 4)?,
            missed_not_called_back: row.get(n + 5)?,
            quality_calls: row.get(n + 6)?,
            wait_secs: row.get(n + 7)?,
            talk_secs: row.get(n + 8)?,
            leads: row.get(n + 9)?,
            revenue_minor: if ours { row.get(n + 10)? } else { 0 },
            ..Sums::default()
        };
        facts.sums.push(rolled_fact(q, row, sums)?);
    }
    Ok(())
}

/// `(SELECT list, GROUP BY list)` of a query on a rollup keyed by hour, site, the rolled-up
/// fields and the won-deal currency: `bucket` (an expression of `hour`), site, the query's
/// columns, then the currency.
pub(super) fn rollup_grouping(q: &FactQuery, bucket: &str) -> (String, String) {
    let mut select = vec![bucket.to_owned(), "site".to_owned()];
    select.extend(
        q.columns
            .iter()
            .filter_map(|f| f.column())
            .map(String::from),
    );
    select.push("currency".to_owned());
    let group = (1..=select.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    (select.join(", "), group)
}

/// A rollup row as a fact: the rollups keep an absent key as '' (so it can be part of their
/// primary key), which reads back as absent.
fn rolled_fact(q: &FactQuery, row: &Row<'_>, sums: Sums) -> Result<Fact, StoreError> {
    let mut fact = fact(q, row, sums)?;
    for value in &mut fact.key {
        if value.as_deref() == Some("") {
            *value = None;
        }
    }
    Ok(fact)
}

/// The sums of a side rollup kept by triggers beside the report rollup (`report_confidence`,
/// `report_targets`: per hour and key, two sums) for a query the report rollup answers:
/// `sums` names the two columns and the table (`"sum(a), sum(b) FROM t"`), `make` turns
/// them into [`Sums`].
pub(super) fn side_rollup_sums(
    conn: &Connection,
    q: &FactQuery,
    facts: &mut Facts,
    sums: &str,
    make: fn(i64, i64) -> Sums,
) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "hour", "NULL");
    let (sites, mut params) = site_clause(&q.sites, 3);
    let sql = format!(
        "SELECT {select}, {sums}
         WHERE hour >= ?1 AND hour < ?2 AND {sites} GROUP BY {group}"
    );
    let hour = |at| Value::Text(bound(at)[..13].to_owned());
    params.splice(0..0, [hour(q.from), hour(q.to)]);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let n = q.columns.len() + 2;
    while let Some(row) = rows.next()? {
        let sums = make(row.get(n)?, row.get(n + 1)?);
        facts.sums.push(rolled_fact(q, row, sums)?);
    }
    Ok(())
}

/// Calls of the period whose caller called the same site earlier in the period.
fn repeats(conn: &Connection, q: &FactQuery, facts: &mut Facts) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "started_at", "tracking_number");
    let (sites, mut params) = site_clause(&q.sites, 3);
    let sql = format!(
        "SELECT {select}, count(*) FROM cdr INDEXED BY cdr_repeats
         WHERE prev_started_at >= ?1 AND prev_started_at < ?2 AND started_at < ?2 AND {sites}
         GROUP BY {group}"
    );
    params.splice(0..0, window_params(q).into_iter().take(2));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let n = q.columns.len() + 2;
    while let Some(row) = rows.next()? {
        let sums = Sums {
            unique_callers: -row.get::<_, i64>(n)?,
            ..Sums::default()
        };
        facts.sums.push(fact(q, row, sums)?);
    }
    Ok(())
}

fn call_sums(conn: &Connection, q: &FactQuery, facts: &mut Facts) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "started_at", "tracking_number");
    let (sites, mut params) = site_clause(&q.sites, 4);
    let sql = format!(
        "SELECT {select},
            count(*), sum(first_time_caller), sum(answered_at IS NOT NULL), sum(missed),
            sum(missed = 1 AND called_back_at IS NULL), sum(quality),
            sum(CASE WHEN answered_at IS NOT NULL THEN wait_secs ELSE 0 END),
            sum(CASE WHEN answered_at IS NOT NULL THEN talk_secs ELSE 0 END),
            sum(CASE WHEN deal_status = 'won' AND deal_currency = ?3 THEN deal_amount_minor ELSE 0 END),
            sum(deal_status IS 'won' AND deal_currency IS NOT ?3),
            sum(prev_started_at IS NOT NULL AND prev_started_at >= ?1),
            count(confidence), coalesce(sum(CAST(round(confidence * 1000) AS INTEGER)), 0),
            count(target), coalesce(sum(target), 0)
         FROM cdr INDEXED BY cdr_started_at
         WHERE started_at >= ?1 AND started_at < ?2 AND disposition <> 'rejected' AND {sites}
         GROUP BY {group}"
    );
    params.splice(0..0, window_params(q));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let n = q.columns.len() + 2;
    while let Some(row) = rows.next()? {
        let calls: i64 = row.get(n)?;
        let sums = Sums {
            calls,
            unique_callers: calls - row.get::<_, i64>(n + 10)?,
            first_time_calls: row.get(n + 1)?,
            answered: row.get(n + 2)?,
            missed: row.get(n + 3)?,
            missed_not_called_back: row.get(n + 4)?,
            quality_calls: row.get(n + 5)?,
            wait_secs: row.get(n + 6)?,
            talk_secs: row.get(n + 7)?,
            revenue_minor: row.get(n + 8)?,
            confident_calls: row.get(n + 11)?,
            confidence_milli: row.get(n + 12)?,
            scored_calls: row.get(n + 13)?,
            target_calls: row.get(n + 14)?,
            ..Sums::default()
        };
        facts.skipped.deals += row.get::<_, i64>(n + 9)?;
        facts.sums.push(fact(q, row, sums)?);
    }
    Ok(())
}

fn lead_sums(conn: &Connection, q: &FactQuery, facts: &mut Facts) -> Result<(), StoreError> {
    let (group, select) = grouping(q, "created_at", "NULL");
    let (sites, mut params) = site_clause(&q.sites, 4);
    let sql = format!(
        "SELECT {select}, count(*),
            sum(CASE WHEN deal_status = 'won' AND deal_currency = ?3 THEN deal_amount_minor ELSE 0 END),
            sum(deal_status IS 'won' AND deal_currency IS NOT ?3)
         FROM leads WHERE created_at >= ?1 AND created_at < ?2 AND {sites}
         GROUP BY {group}"
    );
    params.splice(0..0, window_params(q));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let n = q.columns.len() + 2;
    while let Some(row) = rows.next()? {
        let sums = Sums {
            leads: row.get(n)?,
            revenue_minor: row.get(n + 1)?,
            ..Sums::default()
        };
        facts.skipped.deals += row.get::<_, i64>(n + 2)?;
        facts.sums.push(fact(q, row, sums)?);
    }
    Ok(())
}

fn costs(conn: &Connection, q: &FactQuery, facts: &mut Facts) -> Result<(), StoreError> {
    let (sites, mut params) = site_clause(&q.sites, 4);
    let sql = format!(
        "SELECT day, site, source, medium, campaign, currency = ?3, amount_minor
         FROM costs WHERE day >= ?1 AND day <= ?2 AND {sites}"
    );
    let mut head = vec![
        Value::Text(q.first_day.to_string()),
        Value::Text(q.last_day.to_string()),
        Value::Text(q.currency.clone()),
    ];
    head.append(&mut params);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(head))?;
    while let Some(row) = rows.next()? {
        if !row.get::<_, bool>(5)? {
            facts.skipped.costs += 1;
            continue;
        }
        let day: String = row.get(0)?;
        let keys = [row.get(2)?, row.get(3)?, row.get(4)?];
        facts
            .costs
            .extend(super::costs::fact_of(&day, row.get(1)?, keys, row.get(6)?));
    }
    Ok(())
}

/// `(GROUP BY list, SELECT list)`: bucket, site, then the query's columns.
pub(super) fn grouping(q: &FactQuery, at: &str, tracking_number: &str) -> (String, String) {
    let bucket = match q.bucket {
        Bucket::None => "''".to_owned(),
        Bucket::Hour => format!("substr({at}, 1, 13)"),
        Bucket::Minute => format!("substr({at}, 1, 16)"),
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

fn window_params(q: &FactQuery) -> Vec<Value> {
    vec![
        Value::Text(bound(q.from)),
        Value::Text(bound(q.to)),
        Value::Text(q.currency.clone()),
    ]
}

/// `2026-12-01T21:00:00`: compares with stored RFC 3339 UTC text (`...Z`, optional fraction)
/// as the instant does.
pub(super) fn bound(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `site IN (?4, ?5)` or `site NOT IN (...)` with its values, placeholders from `first`.
pub(super) fn site_clause(sites: &SiteSet, first: usize) -> (String, Vec<Value>) {
    let (list, negate) = match sites {
        SiteSet::Only(list) => (list, ""),
        SiteSet::Except(list) => (list, "NOT "),
    };
    if list.is_empty() {
        return (
            (if negate.is_empty() { "0" } else { "1" }).to_owned(),
            Vec::new(),
        );
    }
    let marks: Vec<String> = (first..first + list.len())
        .map(|i| format!("?{i}"))
        .collect();
    let clause = format!("site {negate}IN ({})", marks.join(", "));
    (clause, list.iter().cloned().map(Value::Text).collect())
}

pub(super) fn fact(q: &FactQuery, row: &Row<'_>, sums: Sums) -> Result<Fact, StoreError> {
    let bucket = bucket_start(q.bucket, &row.get::<_, String>(0)?);
    let key = (0..q.columns.len())
        .map(|i| row.get::<_, Option<String>>(i + 2))
        .collect::<Result<_, _>>()?;
    Ok(Fact {
        site: row.get(1)?,
        bucket,
        key,
        sums,
    })
}

/// The start of a bucket read as the prefix of stored RFC 3339 UTC text (`2026-12-01T21`,
/// `2026-12-01T21:30`); `None` without buckets.
pub(super) fn bucket_start(bucket: Bucket, text: &str) -> Option<Timestamp> {
    match bucket {
        Bucket::None => None,
        Bucket::Hour => format!("{text}:00:00Z").parse().ok(),
        Bucket::Minute => format!("{text}:00Z").parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportInput, ReportRequest, Zones};

    #[test]
    fn facts_of_an_empty_store_and_of_one_call() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
                ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, site, source, missed)
             VALUES ('a', 'a', '1', '79', 'sip:x', '2026-12-01T10:00:00Z', '2026-12-01T10:01:00Z',
                3, 0, 'no_answer', 480, 'caller', 'shop', 'google', 1)",
            [],
        )
        .unwrap();
        let mut zones = Zones::default();
        zones.0.insert("shop".into(), jiff::tz::TimeZone::UTC);
        for by in ["", "source,day", "term,hour"] {
            let input = ReportInput {
                from: Some("2026-12-01".into()),
                to: Some("2026-12-01".into()),
                by: Some(by.into()),
                ..ReportInput::default()
            };
            let request = ReportRequest::parse(&input, &zones, "RUB").unwrap();
            let facts = facts_of(&conn, &request.queries(&zones)).unwrap();
            let total = crate::report::build::total_of(facts);
            assert_eq!(
                (total.calls, total.unique_callers, total.missed),
                (1, 1, 1),
                "{by}"
            );
        }
    }

    #[test]
    fn the_rollup_and_the_rows_agree_on_demo_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let zone = jiff::tz::TimeZone::get("Europe/Moscow").unwrap();
        let plan = crate::cli::demo::DemoPlan {
            calls: 4000,
            days: 20,
            until: jiff::civil::date(2026, 12, 20),
            seed: 3,
            sites: vec![("shop".into(), zone.clone())],
        };
        crate::cli::demo::generate(&mut conn, &plan).unwrap();
        let mut zones = Zones::default();
        zones.0.insert("shop".into(), zone);
        let total = |by: &str| {
            let input = ReportInput {
                from: Some("2026-12-05".into()),
                to: Some("2026-12-14".into()),
                by: Some(by.into()),
                ..ReportInput::default()
            };
            let request = ReportRequest::parse(&input, &zones, "RUB").unwrap();
            let queries = request.queries(&zones);
            (
                rolled_up(&queries[0]),
                crate::report::build::total_of(facts_of(&conn, &queries).unwrap()),
            )
        };
        let (rolled, from_rollup) = total("source,day");
        let (scanned, from_rows) = total("device,region");
        assert!(rolled && !scanned);
        assert_eq!(from_rollup, from_rows);
        assert!(
            from_rollup.unique_callers < from_rollup.calls,
            "{from_rollup:?}"
        );
        assert!(from_rollup.calls > 1000 && from_rollup.revenue_minor > 0);
    }
}
