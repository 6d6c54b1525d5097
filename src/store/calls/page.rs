//! Reading calls a page at a time: the filter as SQL over the `(column, started_at)` indexes
//! and keyset pagination on `(started_at, seq)`, so a deep page costs what the first does.

use std::sync::OnceLock;

use rusqlite::types::Value;
use rusqlite::{Connection, Row};

use super::filter::{CallFilter, CallQuery, Cursor, Sort};
use super::view::{CallView, Extras};
use crate::call::record::rfc3339;
use crate::store::columns::{cdr_from_row, cdr_select};
use crate::store::deal::{Deal, DealStatus};
use crate::store::flat;
use crate::store::scoring::{SCORING_COLUMNS, scoring_from_row};
use crate::store::{StoreError, StoredCdr};

/// One page of calls and where the next starts (`None`: this is the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    pub calls: Vec<CallView>,
    pub next_cursor: Option<Cursor>,
}

/// Columns kept beside the flat CDR columns, read after them.
const EXTRA_COLUMNS: &str = "tags, note, deal_amount_minor, deal_currency, deal_status, updated_at";

fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns = flat::cdr_columns().join(", ");
        format!(
            "SELECT seq, {columns}, {EXTRA_COLUMNS}, trail, {SCORING_COLUMNS}, \
             (SELECT tags FROM transcripts WHERE call_id = cdr.id) FROM cdr"
        )
    })
}

/// The page `query` asks for.
pub fn page(conn: &Connection, query: &CallQuery) -> Result<CallPage, StoreError> {
    let mut params: Vec<Value> = Vec::new();
    let mut conditions = filter_sql(&query.filter, &mut params);
    let (op, dir) = match query.sort {
        Sort::Newest => ("<", "DESC"),
        Sort::Oldest => (">", "ASC"),
    };
    if let Some(cursor) = &query.cursor {
        params.push(Value::Text(cursor.started_at.clone()));
        params.push(Value::Integer(cursor.seq));
        let (a, s) = (params.len() - 1, params.len());
        // The `started_at {op}= ?` half is a range the index can seek to; the rest breaks
        // ties on the same start time by `seq`.
        conditions.push(format!(
            "started_at {op}= ?{a} AND (started_at {op} ?{a} OR seq {op} ?{s})"
        ));
    }
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    params.push(Value::Integer(limit.saturating_add(1)));
    let sql = format!(
        "{} {} ORDER BY started_at {dir}, seq {dir} LIMIT ?{}",
        select_sql(),
        where_clause(&conditions),
        params.len()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut calls = Vec::with_capacity(query.limit.min(64));
    let mut last = None;
    let mut more = false;
    while let Some(row) = rows.next()? {
        if calls.len() == query.limit {
            more = true;
            break;
        }
        let (seq, view) = view_from_row(row, false)?;
        last = Some(Cursor {
            started_at: view.started_at.clone(),
            seq,
        });
        calls.push(view);
    }
    Ok(CallPage {
        calls,
        next_cursor: if more { last } else { None },
    })
}

/// The CDRs of the page `query` asks for (the `cdr list` CLI prints whole records), in the
/// query's order.
pub fn cdrs(conn: &Connection, query: &CallQuery) -> Result<Vec<StoredCdr>, StoreError> {
    let mut params: Vec<Value> = Vec::new();
    let conditions = filter_sql(&query.filter, &mut params);
    let dir = match query.sort {
        Sort::Newest => "DESC",
        Sort::Oldest => "ASC",
    };
    params.push(Value::Integer(
        i64::try_from(query.limit).unwrap_or(i64::MAX),
    ));
    let sql = format!(
        "{} {} ORDER BY started_at {dir}, seq {dir} LIMIT ?{}",
        cdr_select(),
        where_clause(&conditions),
        params.len()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |row| {
        cdr_from_row(row).map(|(seq, cdr)| StoredCdr { seq, cdr })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One call with its trail.
pub fn call(conn: &Connection, id: &str) -> Result<Option<CallView>, StoreError> {
    let sql = format!("{} WHERE id = ?1", select_sql());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(view_from_row(row, true)?.1)),
        None => Ok(None),
    }
}

/// `WHERE` conditions for the filter, their values appended to `params`.
pub(super) fn filter_sql(f: &CallFilter, params: &mut Vec<Value>) -> Vec<String> {
    let mut conditions = Vec::new();
    let mut add = |sql: &str, value: Value| {
        params.push(value);
        conditions.push(sql.replace('?', &format!("?{}", params.len())));
    };
    if let Some(from) = f.from {
        add("started_at >= ?", Value::Text(rfc3339::format(from)));
    }
    if let Some(to) = f.to {
        add("started_at < ?", Value::Text(rfc3339::format(to)));
    }
    let texts = [
        ("site", &f.site),
        ("source", &f.source),
        ("medium", &f.medium),
        ("campaign", &f.campaign),
        ("tracking_number", &f.tracking_number),
        ("caller", &f.caller),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            add(&format!("{column} = ?"), Value::Text(value.clone()));
        }
    }
    if let Some(d) = f.disposition {
        add("disposition = ?", Value::Text(d.as_str().to_owned()));
    }
    let flags = [
        ("first_time_caller", f.first_time),
        ("quality", f.quality),
        ("missed", f.missed),
    ];
    for (column, value) in flags {
        if let Some(value) = value {
            add(&format!("{column} = ?"), Value::Integer(i64::from(value)));
        }
    }
    conditions
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

fn view_from_row(row: &Row<'_>, with_trail: bool) -> Result<(i64, CallView), StoreError> {
    let (seq, cdr) = cdr_from_row(row)?;
    let at = flat::cdr_columns().len() + 1;
    let tags: String = row.get(at)?;
    let deal = match (
        row.get::<_, Option<i64>>(at + 2)?,
        row.get::<_, Option<String>>(at + 3)?,
        row.get::<_, Option<String>>(at + 4)?,
    ) {
        (Some(amount_minor), Some(currency), Some(status)) => {
            DealStatus::parse(&status).map(|status| Deal {
                amount_minor,
                currency,
                status,
            })
        }
        _ => None,
    };
    let trail = if with_trail {
        let text: String = row.get(at + 6)?;
        Some(serde_json::from_str(&text)?)
    } else {
        None
    };
    let extras = Extras {
        tags: serde_json::from_str(&tags)?,
        note: row.get(at + 1)?,
        deal,
        updated_at: row.get(at + 5)?,
        trail,
        scoring: scoring_from_row(row, at + 7)?,
        speech_tags: row
            .get::<_, Option<String>>(at + 12)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    };
    Ok((seq, CallView::new(cdr, extras)))
}
