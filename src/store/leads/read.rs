//! Reading leads back: one by id, or a filtered page, newest first, continued with a cursor
//! (the last row's storage sequence number).

use std::sync::OnceLock;

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use super::{NewLead, StoredLead, attribution_columns};
use crate::call::attribution::Attribution;
use crate::call::record::rfc3339;
use crate::store::StoreError;
use crate::store::deal::{Deal, DealStatus};

/// Which leads to list. Every field is optional; `to` is exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub site: Option<String>,
    pub source: Option<String>,
    /// Digits, as stored.
    pub phone: Option<String>,
    /// Lower-case, as stored.
    pub email: Option<String>,
}

/// One page of leads and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadPage {
    pub leads: Vec<StoredLead>,
    /// The `before` of the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// Up to `limit` leads matching `filter` stored before sequence number `before`, newest first.
pub fn page(
    conn: &Connection,
    filter: &LeadFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<LeadPage, StoreError> {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut add = |clause: &str, value: Value| {
        values.push(value);
        clauses.push(format!("{clause} ?{}", values.len()));
    };
    if let Some(from) = filter.from {
        add("created_at >=", Value::Text(rfc3339::format(from)));
    }
    if let Some(to) = filter.to {
        add("created_at <", Value::Text(rfc3339::format(to)));
    }
    let text = [
        ("site =", &filter.site),
        ("source =", &filter.source),
        ("phone =", &filter.phone),
        ("email =", &filter.email),
    ];
    for (clause, value) in text {
        if let Some(value) = value {
            add(clause, Value::Text(value.clone()));
        }
    }
    if let Some(before) = before {
        add("seq <", Value::Integer(before));
    }
    let wanted = limit.saturating_add(1);
    values.push(Value::Integer(i64::try_from(wanted).unwrap_or(i64::MAX)));
    let filter_sql = match clauses.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", clauses.join(" AND ")),
    };
    let sql = format!(
        "{}{filter_sql} ORDER BY seq DESC LIMIT ?{}",
        select_sql(),
        values.len()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), from_row)?;
    let mut leads = rows.collect::<Result<Vec<_>, _>>()?;
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
pub fn by_id(conn: &Connection, id: &str) -> Result<Option<StoredLead>, StoreError> {
    let sql = format!("{} WHERE id = ?1", select_sql());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map([id], from_row)?;
    Ok(rows.next().transpose()?)
}

/// `SELECT` of every lead column, in the order [`from_row`] reads them.
fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT seq, id, created_at, name, phone, email, message, fields, {}, first_time, \
             tags, note, deal_amount_minor, deal_currency, deal_status, updated_at FROM leads",
            attribution_columns().join(", ")
        )
    })
}

/// Index of the first attribution column in [`select_sql`].
const ATTRIBUTION_AT: usize = 8;

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredLead> {
    let mut attribution = serde_json::Map::new();
    for (i, name) in attribution_columns().iter().enumerate() {
        let value: Option<String> = row.get(ATTRIBUTION_AT + i)?;
        attribution.insert(
            name.clone(),
            value.map_or(serde_json::Value::Null, serde_json::Value::String),
        );
    }
    let attribution: Attribution =
        serde_json::from_value(serde_json::Value::Object(attribution)).map_err(bad_json)?;
    let at = ATTRIBUTION_AT + attribution_columns().len();
    let fields: String = row.get(7)?;
    let tags: String = row.get(at + 1)?;
    let lead = NewLead {
        id: row.get(1)?,
        created_at: time(row, 2)?,
        name: row.get(3)?,
        phone: row.get(4)?,
        email: row.get(5)?,
        message: row.get(6)?,
        fields: serde_json::from_str(&fields).map_err(bad_json)?,
        attribution,
    };
    Ok(StoredLead {
        seq: row.get(0)?,
        lead,
        first_time: row.get(at)?,
        tags: serde_json::from_str(&tags).map_err(bad_json)?,
        note: row.get(at + 2)?,
        deal: deal(row, at + 3)?,
        updated_at: row
            .get::<_, Option<String>>(at + 6)?
            .and_then(|t| rfc3339::parse(&t).ok()),
    })
}

fn time(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let text: String = row.get(index)?;
    rfc3339::parse(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The deal columns (amount, currency, status) starting at `index`, when all three are set.
fn deal(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Deal>> {
    let amount: Option<i64> = row.get(index)?;
    let currency: Option<String> = row.get(index + 1)?;
    let status: Option<String> = row.get(index + 2)?;
    Ok(
        match (
            amount,
            currency,
            status.as_deref().and_then(DealStatus::parse),
        ) {
            (Some(amount_minor), Some(currency), Some(status)) => Some(Deal {
                amount_minor,
                currency,
                status,
            }),
            _ => None,
        },
    )
}

fn bad_json(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}
