//! Reading calls a page at a time: the filter as SQL over the `(column, started_at)` indexes
//! and keyset pagination on `(started_at, seq)`, so a deep page costs what the first does.

use std::sync::OnceLock;

use rusqlite::{Connection, Row};

use super::conditions::{Clause, listing};
use super::filter::{CallQuery, Cursor};
use super::row::{columns, view_from_cells};
use super::view::CallView;
use crate::store::columns::{cdr_from_row, cdr_select, cell};
use crate::store::{StoreError, StoredCdr};

/// One page of calls and where the next starts (`None`: this is the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    pub calls: Vec<CallView>,
    pub next_cursor: Option<Cursor>,
}

fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT seq, {}, (SELECT tags FROM transcripts WHERE call_id = cdr.id) FROM cdr",
            columns().join(", ")
        )
    })
}

/// A parameter on SQLite: `?n` (the value's own type compares as stored).
fn mark(n: usize, _column: &str) -> String {
    format!("?{n}")
}

/// The page `query` asks for.
pub fn page(conn: &Connection, query: &CallQuery) -> Result<CallPage, StoreError> {
    let Clause { sql, values } = listing(
        select_sql(),
        &query.filter,
        query.sort,
        query.cursor.as_ref(),
        query.limit.saturating_add(1),
        &mark,
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    let mut seen = Vec::with_capacity(query.limit.min(64));
    while let Some(row) = rows.next()? {
        if seen.len() == query.limit {
            return Ok(CallPage::of(seen, true));
        }
        seen.push(view_from_row(row, false)?);
    }
    Ok(CallPage::of(seen, false))
}

impl CallPage {
    /// A page from its calls, read in order with their `seq`; with `more` (the query found
    /// one call beyond the page) the next page starts after the last of them.
    pub(crate) fn of(seen: Vec<(i64, CallView)>, more: bool) -> CallPage {
        let next_cursor = more
            .then(|| seen.last())
            .flatten()
            .map(|(seq, view)| Cursor {
                started_at: view.started_at.clone(),
                seq: *seq,
            });
        CallPage {
            calls: seen.into_iter().map(|(_, view)| view).collect(),
            next_cursor,
        }
    }
}

/// The CDRs of the page `query` asks for (the `cdr list` CLI prints whole records), in the
/// query's order.
pub fn cdrs(conn: &Connection, query: &CallQuery) -> Result<Vec<StoredCdr>, StoreError> {
    let Clause { sql, values } = listing(
        cdr_select(),
        &query.filter,
        query.sort,
        None,
        query.limit,
        &mark,
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(values), |row| {
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

fn view_from_row(row: &Row<'_>, with_trail: bool) -> Result<(i64, CallView), StoreError> {
    let cells = (1..=columns().len() + 1)
        .map(|i| cell(row, i))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((row.get(0)?, view_from_cells(cells, with_trail)?))
}
