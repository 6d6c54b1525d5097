//! Leads on PostgreSQL, as `store::leads` keeps them on SQLite: inserted with their
//! first-time judgement (no lead with the same phone or email and no call from the phone
//! within the window before it), patched (tags, note, deal), read one by id or a filtered
//! page newest first with the storage sequence number as cursor. The columns are SQLite's
//! ([`super::mirror`]); values travel as text cast to each column's type ([`super::cells`]).
//!
//! Several nodes insert leads: each insert takes one transaction-scoped advisory lock before
//! judging, so two leads of one person arriving on two nodes at once are never both
//! first-time (leads are few; one lock for all of them costs nothing).

use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp};
use postgres::GenericClient;

use super::cells::{cast_expr, time_text};
use crate::call::record::rfc3339;
use crate::store::StoreError;
use crate::store::leads::read::{
    Bound, LeadFilter, LeadPage, LeadRow, conditions, page_of, select_of,
};
use crate::store::leads::{
    LeadPatch, NewLead, StoredLead, UniqueWindow, attribution_columns, insert_columns,
};

/// `pg_advisory_xact_lock` key of lead inserts ("ct-leads" in ASCII).
const LEADS_LOCK: i64 = 0x63742d6c65616473;

fn insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns = insert_columns();
        let values: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| cast_expr("leads", c, &format!("${}::text", i + 1)))
            .collect();
        format!(
            "INSERT INTO leads ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
            columns.join(", "),
            values.join(", ")
        )
    })
}

/// Inserts `lead`; answers whether it is first-time. A lead already stored (a spooled one
/// replayed again after a crash between PostgreSQL's commit and the spool's delete) is left
/// as it is.
pub fn insert(
    client: &mut impl GenericClient,
    lead: &NewLead,
    window: UniqueWindow,
) -> Result<bool, StoreError> {
    client.execute("SELECT pg_advisory_xact_lock($1)", &[&LEADS_LOCK])?;
    let first_time = is_first(client, lead, window)?;
    let json = |e: serde_json::Error| StoreError::PgValue(e.to_string());
    let mut values = vec![
        Some(lead.id.clone()),
        Some(rfc3339::format(lead.created_at)),
        lead.name.clone(),
        lead.phone.clone(),
        lead.email.clone(),
        lead.message.clone(),
        Some(serde_json::to_string(&lead.fields).map_err(json)?),
    ];
    let attribution = serde_json::to_value(&lead.attribution).map_err(json)?;
    values.extend(attribution_columns().iter().map(|name| {
        match attribution.get(name) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            // As on SQLite: integers kept, anything else (a lead has no confidence) null.
            Some(serde_json::Value::Number(n)) => n.as_i64().map(|n| n.to_string()),
            Some(serde_json::Value::Bool(b)) => Some(i64::from(*b).to_string()),
            _ => None,
        }
    }));
    values.push(Some(i64::from(first_time).to_string()));
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect();
    client.execute(insert_sql(), &params)?;
    Ok(first_time)
}

/// No lead with this phone or email and no call from this phone since `window` before it.
fn is_first(
    client: &mut impl GenericClient,
    lead: &NewLead,
    window: UniqueWindow,
) -> Result<bool, StoreError> {
    let since = window
        .and_then(|w| SignedDuration::try_from(w).ok())
        .and_then(|w| lead.created_at.checked_sub(w).ok())
        .map(rfc3339::format);
    let row = client.query_one(
        "WITH s AS (SELECT coalesce($3::text::timestamptz, '-infinity') AS since) \
         SELECT EXISTS(SELECT 1 FROM leads, s WHERE phone = $1 AND created_at >= s.since) \
         OR EXISTS(SELECT 1 FROM leads, s WHERE email = $2 AND created_at >= s.since) \
         OR EXISTS(SELECT 1 FROM cdr, s WHERE caller = $1 AND started_at >= s.since)",
        &[&lead.phone, &lead.email, &since],
    )?;
    Ok(!row.try_get::<_, bool>(0)?)
}

/// Applies `patch` to the lead `id`; false when there is no such lead.
pub fn patch(
    client: &mut impl GenericClient,
    id: &str,
    patch: &LeadPatch,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let tags = patch
        .tags
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::PgValue(e.to_string()))?;
    let deal = patch.deal.as_ref().and_then(Option::as_ref);
    let changed = client.execute(
        "UPDATE leads SET tags = coalesce($2, tags), \
         note = CASE WHEN $3 THEN $4 ELSE note END, \
         deal_amount_minor = CASE WHEN $5 THEN $6 ELSE deal_amount_minor END, \
         deal_currency = CASE WHEN $5 THEN $7 ELSE deal_currency END, \
         deal_status = CASE WHEN $5 THEN $8 ELSE deal_status END, \
         updated_at = $9::text::timestamptz WHERE id = $1",
        &[
            &id,
            &tags,
            &patch.note.is_some(),
            &patch.note.clone().flatten(),
            &patch.deal.is_some(),
            &deal.map(|d| d.amount_minor),
            &deal.map(|d| d.currency.as_str()),
            &deal.map(|d| d.status.as_str()),
            &rfc3339::format(at),
        ],
    )?;
    Ok(changed > 0)
}

/// Up to `limit` leads matching `filter` stored before sequence number `before`, newest first.
pub fn page(
    client: &mut impl GenericClient,
    filter: &LeadFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<LeadPage, StoreError> {
    let mut clauses = Vec::new();
    let mut values: Vec<Option<String>> = Vec::new();
    for (clause, bound) in conditions(filter, before) {
        let (value, cast) = match bound {
            Bound::Time(at) => (rfc3339::format(at), "timestamptz"),
            Bound::Text(text) => (text, "text"),
            Bound::Seq(seq) => (seq.to_string(), "bigint"),
        };
        values.push(Some(value));
        clauses.push(format!("{clause} ${}::text::{cast}", values.len()));
    }
    values.push(Some(limit.saturating_add(1).to_string()));
    let filter_sql = match clauses.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", clauses.join(" AND ")),
    };
    let sql = format!(
        "{}{filter_sql} ORDER BY seq DESC LIMIT ${}::text::bigint",
        select_sql(),
        values.len()
    );
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect();
    let leads = client
        .query(&sql, &params)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page_of(leads, limit))
}

/// The lead with this id, if any.
pub fn by_id(client: &mut impl GenericClient, id: &str) -> Result<Option<StoredLead>, StoreError> {
    let sql = format!("{} WHERE id = $1", select_sql());
    client
        .query_opt(&sql, &[&id])?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// `SELECT` of every lead column, times and attribution as text as SQLite hands them out.
fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| select_of(&time_text, &|c| format!("{c}::text")))
}

fn from_row(row: &postgres::Row) -> Result<StoredLead, StoreError> {
    let lead = LeadRow::read(row)?;
    lead.into_lead()
        .map_err(|e| StoreError::PgValue(e.to_string()))
}
