//! `GET /v1/reports/tags` on PostgreSQL: the tag report's facts over the report's windows,
//! as `store::report_tags` answers them on SQLite. Keyword tags come from transcripts, which
//! PostgreSQL does not keep yet: every call of the period is counted (calls refused by
//! calltrack itself left out), none transcribed, no tag lines.

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::report::tags::{TagFacts, TagTotals};
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
            tags: Vec::new(),
            totals: totals(client, q)?,
        });
    }
    Ok(all)
}

fn totals(client: &mut impl GenericClient, q: &FactQuery) -> Result<TagTotals, StoreError> {
    let sites = match &q.sites {
        SiteSet::Only(_) => "site = ANY($3)",
        SiteSet::Except(_) => "site <> ALL($3)",
    };
    let sql = format!(
        "SELECT count(*) FROM cdr WHERE started_at >= $1 AND started_at < $2 \
         AND disposition <> 'rejected' AND {sites}"
    );
    let (SiteSet::Only(list) | SiteSet::Except(list)) = &q.sites;
    let (from, to) = (
        std::time::SystemTime::from(q.from),
        std::time::SystemTime::from(q.to),
    );
    let params: [&(dyn ToSql + Sync); 3] = [&from, &to, list];
    let calls: i64 = client.query_one(&sql, &params)?.try_get(0)?;
    Ok(TagTotals {
        calls,
        transcribed_calls: 0,
        calls_with_tags: 0,
    })
}
