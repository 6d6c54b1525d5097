//! The writer's side of leads: insert one (judging first-time in the same transaction, so
//! two leads of one person can never both be first) and apply a patch.

use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use super::{LeadPatch, NewLead, UniqueWindow, attribution_columns, insert_columns};
use crate::call::record::rfc3339;

/// Inserts `lead`; answers whether it is first-time: no earlier lead with the same phone or
/// email and no call from the same number within `window` before it.
pub fn insert(conn: &Connection, lead: &NewLead, window: UniqueWindow) -> rusqlite::Result<bool> {
    let first_time = is_first(conn, lead, window)?;
    let fields = serde_json::to_string(&lead.fields).map_err(to_sql_error)?;
    let mut values = vec![
        Value::Text(lead.id.clone()),
        Value::Text(rfc3339::format(lead.created_at)),
        text(&lead.name),
        text(&lead.phone),
        text(&lead.email),
        text(&lead.message),
        Value::Text(fields),
    ];
    values.extend(attribution_values(lead)?);
    values.push(Value::Integer(i64::from(first_time)));
    conn.prepare_cached(insert_sql())?
        .execute(params_from_iter(values))?;
    Ok(first_time)
}

fn insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns = insert_columns();
        let slots: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        format!(
            "INSERT INTO leads ({}) VALUES ({})",
            columns.join(", "),
            slots.join(", ")
        )
    })
}

/// The attribution's cells in [`attribution_columns`] order.
fn attribution_values(lead: &NewLead) -> rusqlite::Result<Vec<Value>> {
    let json = serde_json::to_value(&lead.attribution).map_err(to_sql_error)?;
    Ok(attribution_columns()
        .iter()
        .map(|name| match json.get(name) {
            Some(serde_json::Value::String(s)) => Value::Text(s.clone()),
            Some(serde_json::Value::Number(n)) => n.as_i64().map_or(Value::Null, Value::Integer),
            Some(serde_json::Value::Bool(b)) => Value::Integer(i64::from(*b)),
            _ => Value::Null,
        })
        .collect())
}

/// No lead with this phone or email and no call from this phone since `window` before it.
fn is_first(conn: &Connection, lead: &NewLead, window: UniqueWindow) -> rusqlite::Result<bool> {
    let since = match window.and_then(|w| SignedDuration::try_from(w).ok()) {
        Some(w) => lead
            .created_at
            .checked_sub(w)
            .map_or_else(|_| String::new(), rfc3339::format),
        None => String::new(),
    };
    let seen: bool = conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM leads WHERE phone = ?1 AND created_at >= ?3) \
             OR EXISTS(SELECT 1 FROM leads WHERE email = ?2 AND created_at >= ?3) \
             OR EXISTS(SELECT 1 FROM cdr WHERE caller = ?1 AND started_at >= ?3)",
        )?
        .query_row(params![lead.phone, lead.email, since], |row| row.get(0))?;
    Ok(!seen)
}

/// Applies `patch` to the lead `id`; false when there is no such lead.
pub fn patch(
    conn: &Connection,
    id: &str,
    patch: &LeadPatch,
    at: Timestamp,
) -> rusqlite::Result<bool> {
    let tags = match &patch.tags {
        Some(tags) => Some(serde_json::to_string(tags).map_err(to_sql_error)?),
        None => None,
    };
    let deal = patch.deal.as_ref();
    let deal_value = deal.and_then(Option::as_ref);
    let changed = conn
        .prepare_cached(
            "UPDATE leads SET tags = COALESCE(?2, tags), \
             note = CASE WHEN ?3 THEN ?4 ELSE note END, \
             deal_amount_minor = CASE WHEN ?5 THEN ?6 ELSE deal_amount_minor END, \
             deal_currency = CASE WHEN ?5 THEN ?7 ELSE deal_currency END, \
             deal_status = CASE WHEN ?5 THEN ?8 ELSE deal_status END, \
             updated_at = ?9 WHERE id = ?1",
        )?
        .execute(params![
            id,
            tags,
            patch.note.is_some(),
            patch.note.clone().flatten(),
            deal.is_some(),
            deal_value.map(|d| d.amount_minor),
            deal_value.map(|d| d.currency.clone()),
            deal_value.map(|d| d.status.as_str()),
            rfc3339::format(at),
        ])?;
    Ok(changed > 0)
}

fn text(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::Text)
}

fn to_sql_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}
