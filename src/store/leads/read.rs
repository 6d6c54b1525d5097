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
use crate::store::deal::Deal;
use crate::store::row_cells::RowCells;

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

/// A value a listing compares a column with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) enum Bound {
    Time(Timestamp),
    Text(String),
    Seq(i64),
}

/// The conditions of a listing, in order: each a column and operator (`created_at >=`) and
/// the value it compares with (both backends write their own placeholders).
pub(in crate::store) fn conditions(
    filter: &LeadFilter,
    before: Option<i64>,
) -> Vec<(&'static str, Bound)> {
    let mut all = Vec::new();
    if let Some(from) = filter.from {
        all.push(("created_at >=", Bound::Time(from)));
    }
    if let Some(to) = filter.to {
        all.push(("created_at <", Bound::Time(to)));
    }
    let text = [
        ("site =", &filter.site),
        ("source =", &filter.source),
        ("phone =", &filter.phone),
        ("email =", &filter.email),
    ];
    for (clause, value) in text {
        if let Some(value) = value {
            all.push((clause, Bound::Text(value.clone())));
        }
    }
    if let Some(before) = before {
        all.push(("seq <", Bound::Seq(before)));
    }
    all
}

/// A page of `limit` from up to `limit + 1` leads read newest first.
pub(in crate::store) fn page_of(mut leads: Vec<StoredLead>, limit: usize) -> LeadPage {
    let next = match leads.len() > limit {
        true => {
            leads.truncate(limit);
            leads.last().map(|l| l.seq)
        }
        false => None,
    };
    LeadPage { leads, next }
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
    for (clause, bound) in conditions(filter, before) {
        values.push(match bound {
            Bound::Time(at) => Value::Text(rfc3339::format(at)),
            Bound::Text(text) => Value::Text(text),
            Bound::Seq(seq) => Value::Integer(seq),
        });
        clauses.push(format!("{clause} ?{}", values.len()));
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
    Ok(page_of(rows.collect::<Result<Vec<_>, _>>()?, limit))
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
    SQL.get_or_init(|| select_of(&|c| c.to_owned(), &|c| c.to_owned()))
}

/// `SELECT` of every lead column in [`LeadRow`]'s order, times read through `time` and
/// attribution columns through `attribution` (each backend hands them out as text).
pub(in crate::store) fn select_of(
    time: &dyn Fn(&str) -> String,
    attribution: &dyn Fn(&str) -> String,
) -> String {
    let attribution: Vec<String> = attribution_columns()
        .iter()
        .map(|c| attribution(c))
        .collect();
    format!(
        "SELECT seq, id, {}, name, phone, email, message, fields, {}, first_time, \
         tags, note, deal_amount_minor, deal_currency, deal_status, {} FROM leads",
        time("created_at"),
        attribution.join(", "),
        time("updated_at"),
    )
}

/// Index of the first attribution column in [`select_of`].
pub(in crate::store) const ATTRIBUTION_AT: usize = 8;

/// A lead row as either backend reads it ([`select_of`]'s columns; times as RFC 3339 text).
#[derive(Debug, Clone)]
pub(in crate::store) struct LeadRow {
    pub seq: i64,
    pub id: String,
    pub created_at: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    pub fields: String,
    pub attribution: Vec<Option<String>>,
    pub first_time: bool,
    pub tags: String,
    pub note: Option<String>,
    pub deal: Option<Deal>,
    pub updated_at: Option<String>,
}

impl LeadRow {
    /// The columns of [`select_of`]'s `SELECT`, in order, from either driver's row.
    pub(in crate::store) fn read<R: RowCells>(row: &R) -> Result<LeadRow, R::Error> {
        let at = ATTRIBUTION_AT + attribution_columns().len();
        let status = row.opt_text(at + 5)?;
        Ok(LeadRow {
            seq: row.int(0)?,
            id: row.text(1)?,
            created_at: row.text(2)?,
            name: row.opt_text(3)?,
            phone: row.opt_text(4)?,
            email: row.opt_text(5)?,
            message: row.opt_text(6)?,
            fields: row.text(7)?,
            attribution: (ATTRIBUTION_AT..at)
                .map(|i| row.opt_text(i))
                .collect::<Result<_, _>>()?,
            first_time: row.int(at)? != 0,
            tags: row.text(at + 1)?,
            note: row.opt_text(at + 2)?,
            deal: Deal::from_columns(
                row.opt_int(at + 3)?,
                row.opt_text(at + 4)?,
                status.as_deref(),
            ),
            updated_at: row.opt_text(at + 6)?,
        })
    }
}

/// Why a stored lead does not read back.
#[derive(Debug, thiserror::Error)]
pub(in crate::store) enum BadLead {
    #[error("lead {0}: {1}")]
    Json(&'static str, serde_json::Error),
    #[error("lead created_at {0:?} is not RFC 3339")]
    Time(String),
}

impl LeadRow {
    /// The stored lead this row holds.
    pub fn into_lead(self) -> Result<StoredLead, BadLead> {
        let attribution: serde_json::Map<String, serde_json::Value> = attribution_columns()
            .iter()
            .cloned()
            .zip(self.attribution)
            .map(|(name, value)| {
                let value = value.map_or(serde_json::Value::Null, serde_json::Value::String);
                (name, value)
            })
            .collect();
        let attribution: Attribution =
            serde_json::from_value(serde_json::Value::Object(attribution))
                .map_err(|e| BadLead::Json("attribution", e))?;
        let created_at =
            rfc3339::parse(&self.created_at).map_err(|_| BadLead::Time(self.created_at))?;
        let lead = NewLead {
            id: self.id,
            created_at,
            name: self.name,
            phone: self.phone,
            email: self.email,
            message: self.message,
            fields: serde_json::from_str(&self.fields).map_err(|e| BadLead::Json("fields", e))?,
            attribution,
        };
        Ok(StoredLead {
            seq: self.seq,
            lead,
            first_time: self.first_time,
            tags: serde_json::from_str(&self.tags).map_err(|e| BadLead::Json("tags", e))?,
            note: self.note,
            deal: self.deal,
            updated_at: self.updated_at.and_then(|t| rfc3339::parse(&t).ok()),
        })
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredLead> {
    let lead = LeadRow::read(row)?;
    lead.into_lead().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}
