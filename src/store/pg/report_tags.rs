//! `GET /v1/reports/tags` on PostgreSQL: the tag report's facts over the report's windows,
//! as `store::report_tags` answers them on SQLite: calls per keyword tag of a done transcript
//! (`jsonb_array_elements_text(transcripts.tags)`) per site and group-by key, and the
//! period's call, transcribed and tagged counts. Calls refused by calltrack itself are left
//! out, as in reports.

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::report::tags::{TagFact, TagFacts, TagTotals};
use crate::report::{FactQuery, SiteSet};
use crate::store::StoreError;

/// The tag facts of every query, added together.
pub fn tag_facts_of(
    client: &mut impl GenericClient,
    queries: &[FactQuery],
) -> Result<TagFacts, StoreError> {
    let mut all = TagFacts::default();
    for q in queries {
        all.extend(TagFacts {
            tags: per_tag(client, q)?,
            totals: totals(client, q)?,
        });
    }
    Ok(all)
}

/// The window and site condition on `c`, with its three parameters.
const WINDOW: &str = "c.started_at >= $1 AND c.started_at < $2 AND c.disposition <> 'rejected'";

fn sites(q: &FactQuery) -> &'static str {
    match &q.sites {
        SiteSet::Only(_) => "c.site = ANY($3)",
        SiteSet::Except(_) => "c.site <> ALL($3)",
    }
}

/// Runs `sql` with the window and sites of `q`.
fn query(
    client: &mut impl GenericClient,
    sql: &str,
    q: &FactQuery,
) -> Result<Vec<postgres::Row>, StoreError> {
    let (SiteSet::Only(list) | SiteSet::Except(list)) = &q.sites;
    let (from, to) = (
        std::time::SystemTime::from(q.from),
        std::time::SystemTime::from(q.to),
    );
    let params: [&(dyn ToSql + Sync); 3] = [&from, &to, list];
    Ok(client.query(sql, &params)?)
}

fn per_tag(client: &mut impl GenericClient, q: &FactQuery) -> Result<Vec<TagFact>, StoreError> {
    let columns: Vec<String> = q
        .columns
        .iter()
        .filter_map(|f| f.column())
        .map(|c| format!("c.{c}::text"))
        .collect();
    let select: Vec<String> = ["j.tag".to_owned(), "c.site".to_owned()]
        .into_iter()
        .chain(columns)
        .collect();
    let group = (1..=select.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {}, count(*), coalesce(sum(c.target), 0)::bigint \
         FROM cdr AS c JOIN transcripts t ON t.call_id = c.id AND t.status = 'done' \
         CROSS JOIN LATERAL jsonb_array_elements_text(t.tags) AS j(tag) \
         WHERE {WINDOW} AND {} GROUP BY {group}",
        select.join(", "),
        sites(q)
    );
    let n = q.columns.len() + 2;
    query(client, &sql, q)?
        .iter()
        .map(|row| {
            Ok(TagFact {
                tag: row.try_get(0)?,
                site: row.try_get(1)?,
                key: (2..n)
                    .map(|i| row.try_get::<_, Option<String>>(i))
                    .collect::<Result<_, _>>()?,
                calls: row.try_get(n)?,
                target_calls: row.try_get(n + 1)?,
            })
        })
        .collect()
}

fn totals(client: &mut impl GenericClient, q: &FactQuery) -> Result<TagTotals, StoreError> {
    let sql = format!(
        "SELECT count(*), count(t.call_id), \
         count(*) FILTER (WHERE jsonb_array_length(t.tags) > 0) \
         FROM cdr AS c LEFT JOIN transcripts t ON t.call_id = c.id AND t.status = 'done' \
         WHERE {WINDOW} AND {}",
        sites(q)
    );
    let rows = query(client, &sql, q)?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::PgValue("no tag totals row".to_owned()))?;
    Ok(TagTotals {
        calls: row.try_get(0)?,
        transcribed_calls: row.try_get(1)?,
        calls_with_tags: row.try_get(2)?,
    })
}
