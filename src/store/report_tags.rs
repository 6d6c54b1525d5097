//! Answers the tag report's questions from SQLite: calls per keyword tag (each tag of a
//! finished transcript, `json_each(transcripts.tags)`) per site and group-by key, and the
//! period's call, transcribed and tagged counts that reconcile them, over the report's
//! windows (one per time zone). Calls refused by calltrack itself are left out, as in reports.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::StoreError;
use super::report_facts::{bound, site_clause};
use crate::report::FactQuery;
use crate::report::tags::{TagFact, TagFacts, TagTotals};

/// The tag facts of every query, added together.
pub fn tag_facts_of(conn: &Connection, queries: &[FactQuery]) -> Result<TagFacts, StoreError> {
    let mut all = TagFacts::default();
    for query in queries {
        all.extend(TagFacts {
            tags: per_tag(conn, query)?,
            totals: totals(conn, query)?,
        });
    }
    Ok(all)
}

fn per_tag(conn: &Connection, q: &FactQuery) -> Result<Vec<TagFact>, StoreError> {
    let columns: Vec<String> = q
        .columns
        .iter()
        .filter_map(|f| f.column())
        .map(|c| format!("c.{c}"))
        .collect();
    let select = std::iter::once("j.value".to_owned())
        .chain(std::iter::once("c.site".to_owned()))
        .chain(columns)
        .collect::<Vec<_>>();
    let group = (1..=select.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (sites, params) = window(q);
    let sql = format!(
        "SELECT {}, count(*), coalesce(sum(c.target), 0)
         FROM cdr AS c JOIN transcripts t ON t.call_id = c.id AND t.status = 'done',
              json_each(t.tags) j
         WHERE c.started_at >= ?1 AND c.started_at < ?2 AND c.disposition <> 'rejected'
           AND {sites}
         GROUP BY {group}",
        select.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let n = q.columns.len() + 2;
    let mut facts = Vec::new();
    while let Some(row) = rows.next()? {
        facts.push(TagFact {
            tag: row.get(0)?,
            site: row.get(1)?,
            key: (2..n)
                .map(|i| row.get::<_, Option<String>>(i))
                .collect::<Result<_, _>>()?,
            calls: row.get(n)?,
            target_calls: row.get(n + 1)?,
        });
    }
    Ok(facts)
}

fn totals(conn: &Connection, q: &FactQuery) -> Result<TagTotals, StoreError> {
    let (sites, params) = window(q);
    let sql = format!(
        "SELECT count(*), count(t.call_id),
            coalesce(sum(coalesce(json_array_length(t.tags), 0) > 0), 0)
         FROM cdr AS c LEFT JOIN transcripts t ON t.call_id = c.id AND t.status = 'done'
         WHERE c.started_at >= ?1 AND c.started_at < ?2 AND c.disposition <> 'rejected'
           AND {sites}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(params_from_iter(params), |r| {
        Ok(TagTotals {
            calls: r.get(0)?,
            transcribed_calls: r.get(1)?,
            calls_with_tags: r.get(2)?,
        })
    })?)
}

/// The site clause (on `c.site`) and every parameter: the window, then the sites.
fn window(q: &FactQuery) -> (String, Vec<Value>) {
    let (sites, mut params) = site_clause(&q.sites, 3);
    params.splice(0..0, [Value::Text(bound(q.from)), Value::Text(bound(q.to))]);
    (sites.replacen("site ", "c.site ", 1), params)
}
