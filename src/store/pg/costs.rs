//! Ad costs on PostgreSQL, as `store::costs` keeps them on SQLite: an import replaces every
//! `(day, site)` it names, wholly, in the batch's transaction (all or nothing; re-importing a
//! file changes nothing), and reports read the period's local days back as cost facts.

use std::collections::BTreeSet;

use jiff::Timestamp;
use postgres::GenericClient;
use postgres::types::ToSql;

use crate::report::{FactQuery, Facts, SiteSet};
use crate::store::StoreError;
use crate::store::costs::{CostRow, CostsReplaced, fact_of};

/// Replaces every `(day, site)` that `rows` names with `rows`: one delete and one multi-row
/// insert.
pub fn replace(
    client: &mut impl GenericClient,
    rows: &[CostRow],
    imported_at: Timestamp,
) -> Result<CostsReplaced, StoreError> {
    let days: BTreeSet<(String, &str)> = rows
        .iter()
        .map(|r| (r.day.to_string(), r.site.as_str()))
        .collect();
    let (day_keys, site_keys): (Vec<&str>, Vec<&str>) =
        days.iter().map(|(d, s)| (d.as_str(), *s)).unzip();
    client.execute(
        "DELETE FROM costs c USING unnest($1::text[], $2::text[]) AS k(day, site) \
         WHERE c.day = k.day AND c.site = k.site",
        &[&day_keys, &site_keys],
    )?;
    let column = |f: fn(&CostRow) -> String| -> Vec<String> { rows.iter().map(f).collect() };
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount_minor).collect();
    client.execute(
        "INSERT INTO costs (day, site, source, medium, campaign, amount_minor, currency, \
         imported_at) SELECT d, s, so, m, ca, a, cu, $8::text::timestamptz \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::bigint[], $7::text[]) AS t(d, s, so, m, ca, a, cu)",
        &[
            &column(|r| r.day.to_string()),
            &column(|r| r.site.clone()),
            &column(|r| r.source.clone()),
            &column(|r| r.medium.clone()),
            &column(|r| r.campaign.clone()),
            &amounts,
            &column(|r| r.currency.clone()),
            &imported_at.to_string(),
        ],
    )?;
    Ok(CostsReplaced::of(rows))
}

/// The costs of `q`'s local days in its currency; lines in another currency are counted
/// as skipped (as on SQLite).
pub fn costs(
    client: &mut impl GenericClient,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<(), StoreError> {
    let sites = match &q.sites {
        SiteSet::Only(_) => "site = ANY($4)",
        SiteSet::Except(_) => "site <> ALL($4)",
    };
    let sql = format!(
        "SELECT day, site, source, medium, campaign, currency = $3, amount_minor
         FROM costs WHERE day >= $1 AND day <= $2 AND {sites}"
    );
    let (SiteSet::Only(list) | SiteSet::Except(list)) = &q.sites;
    let (first, last) = (q.first_day.to_string(), q.last_day.to_string());
    let params: [&(dyn ToSql + Sync); 4] = [&first, &last, &q.currency, list];
    for row in client.query(&sql, &params)? {
        if !row.try_get::<_, bool>(5)? {
            facts.skipped.costs += 1;
            continue;
        }
        let day: String = row.try_get(0)?;
        let keys = [row.try_get(2)?, row.try_get(3)?, row.try_get(4)?];
        facts
            .costs
            .extend(fact_of(&day, row.try_get(1)?, keys, row.try_get(6)?));
    }
    Ok(())
}
