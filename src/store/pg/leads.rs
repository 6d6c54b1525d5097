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
use crate::store::deal::{Deal, DealStatus};
use crate::store::leads::read::{LeadFilter, LeadPage};
use crate::store::leads::{LeadPatch, NewLead, StoredLead, UniqueWindow, attribution_columns};

/// `pg_advisory_xact_lock` key of lead inserts ("ct-leads" in ASCII).
const LEADS_LOCK: i64 = 0x63742d6c65616473;

/// The columns an insert writes, in order.
fn insert_columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut columns: Vec<String> = [
            "id",
            "created_at",
            "name",
            "phone",
            "email",
            "message",
            "fields",
        ]
        .map(String::from)
        .to_vec();
        columns.extend(attribution_columns().iter().cloned());
        columns.push("first_time".into());
        columns
    })
}

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
            "INSERT INTO leads ({}) VALUES ({})",
            columns.join(", "),
            values.join(", ")
        )
    })
}

/// Inserts `lead`; answers whether it is first-time.
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
    let mut add = |clause: &str, cast: &str, value: String| {
        values.push(Some(value));
        clauses.push(format!("{clause} ${}::text::{cast}", values.len()));
    };
    if let Some(from) = filter.from {
        add("created_at >=", "timestamptz", rfc3339::format(from));
    }
    if let Some(to) = filter.to {
        add("created_at <", "timestamptz", rfc3339::format(to));
    }
    let text = [
        ("site =", &filter.site),
        ("source =", &filter.source),
        ("phone =", &filter.phone),
        ("email =", &filter.email),
    ];
    for (clause, value) in text {
        if let Some(value) = value {
            add(clause, "text", value.clone());
        }
    }
    if let Some(before) = before {
        add("seq <", "bigint", before.to_string());
    }
    let wanted = limit.saturating_add(1);
    values.push(Some(wanted.to_string()));
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
    let mut leads = client
        .query(&sql, &params)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = match leads.len() > limit {
        true => {
            leads.truncate(limit);
            leads.last().map(|l| l.seq)
        }
        false => None,
    };
    Ok(LeadPage { leads, next })
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

/// `SELECT` of every lead column, in the order [`from_row`] reads them; times and
/// attribution as SQLite hands them out (text).
fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let attribution: Vec<String> = attribution_columns()
            .iter()
            .map(|c| format!("{c}::text"))
            .collect();
        format!(
            "SELECT seq, id, {}, name, phone, email, message, fields, {}, first_time, \
             tags, note, deal_amount_minor, deal_currency, deal_status, {} FROM leads",
            time_text("created_at"),
            attribution.join(", "),
            time_text("updated_at"),
        )
    })
}

/// Index of the first attribution column in [`select_sql`].
const ATTRIBUTION_AT: usize = 8;

fn from_row(row: &postgres::Row) -> Result<StoredLead, StoreError> {
    let bad =
        |what: &str, e: &dyn std::fmt::Display| StoreError::PgValue(format!("lead {what}: {e}"));
    let mut attribution = serde_json::Map::new();
    for (i, name) in attribution_columns().iter().enumerate() {
        let value: Option<String> = row.try_get(ATTRIBUTION_AT + i)?;
        attribution.insert(
            name.clone(),
            value.map_or(serde_json::Value::Null, serde_json::Value::String),
        );
    }
    let attribution = serde_json::from_value(serde_json::Value::Object(attribution))
        .map_err(|e| bad("attribution", &e))?;
    let at = ATTRIBUTION_AT + attribution_columns().len();
    let created: String = row.try_get(2)?;
    let fields: String = row.try_get(7)?;
    let tags: String = row.try_get(at + 1)?;
    let lead = NewLead {
        id: row.try_get(1)?,
        created_at: rfc3339::parse(&created).map_err(|e| bad("created_at", &e))?,
        name: row.try_get(3)?,
        phone: row.try_get(4)?,
        email: row.try_get(5)?,
        message: row.try_get(6)?,
        fields: serde_json::from_str(&fields).map_err(|e| bad("fields", &e))?,
        attribution,
    };
    let deal = match (
        row.try_get::<_, Option<i64>>(at + 3)?,
        row.try_get::<_, Option<String>>(at + 4)?,
        row.try_get::<_, Option<String>>(at + 5)?
            .as_deref()
            .and_then(DealStatus::parse),
    ) {
        (Some(amount_minor), Some(currency), Some(status)) => Some(Deal {
            amount_minor,
            currency,
            status,
        }),
        _ => None,
    };
    Ok(StoredLead {
        seq: row.try_get(0)?,
        lead,
        first_time: row.try_get::<_, i64>(at)? != 0,
        tags: serde_json::from_str(&tags).map_err(|e| bad("tags", &e))?,
        note: row.try_get(at + 2)?,
        deal,
        updated_at: row
            .try_get::<_, Option<String>>(at + 6)?
            .and_then(|t| rfc3339::parse(&t).ok()),
    })
}
