//! The calls API's reads on PostgreSQL: pages with keyset pagination, one call with its trail,
//! and whole CDRs for `calltrack cdr list`. The `WHERE` clause is the SQLite one
//! ([`crate::store::calls::conditions`]) with PostgreSQL parameters, each cast to its column's
//! type; the columns are those a view reads on SQLite ([`crate::store::calls::row`]), read
//! back as SQLite hands them out ([`super::cells`]), so both backends answer alike.
//!
//! A call's speech tags are its transcript's keyword tags, as on SQLite.

use std::sync::OnceLock;

use postgres::GenericClient;

use super::cdr::{read as stored_cdr, select_sql as cdr_select_sql};
use super::cells::{cast_expr, cell, select_expr, text};
use super::mirror::{PgType, type_of};
use crate::store::calls::conditions::{Clause, listing};
use crate::store::calls::row::{columns, view_from_cells};
use crate::store::calls::{CallPage, CallQuery, CallView};
use crate::store::flat::Cell;
use crate::store::{StoreError, StoredCdr};

/// `SELECT seq, <view columns>, <speech tags> FROM cdr`.
fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let exprs: Vec<String> = columns().iter().map(|c| select_expr("cdr", c)).collect();
        format!(
            "SELECT seq, {}, (SELECT tags::text FROM transcripts WHERE call_id = cdr.id) FROM cdr",
            exprs.join(", ")
        )
    })
}

/// A parameter on PostgreSQL: text, cast to `column`'s type.
fn mark(n: usize, column: &str) -> String {
    cast_expr("cdr", column, &format!("${n}::text"))
}

/// The page `query` asks for.
pub fn page(client: &mut impl GenericClient, query: &CallQuery) -> Result<CallPage, StoreError> {
    let Clause { sql, values } = listing(
        select_sql(),
        &query.filter,
        query.sort,
        query.cursor.as_ref(),
        query.limit.saturating_add(1),
        &mark,
    );
    let rows = query_rows(client, &sql, &values)?;
    let seen = rows
        .iter()
        .take(query.limit)
        .map(|row| view_of(row, false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CallPage::of(seen, rows.len() > query.limit))
}

/// One call with its trail.
pub fn call(client: &mut impl GenericClient, id: &str) -> Result<Option<CallView>, StoreError> {
    let sql = format!("{} WHERE id = $1", select_sql());
    match client.query_opt(&sql, &[&id])? {
        Some(row) => Ok(Some(view_of(&row, true)?.1)),
        None => Ok(None),
    }
}

/// The CDRs of the page `query` asks for (the `cdr list` CLI prints whole records), in the
/// query's order.
pub fn cdrs(
    client: &mut impl GenericClient,
    query: &CallQuery,
) -> Result<Vec<StoredCdr>, StoreError> {
    let Clause { sql, values } = listing(
        cdr_select_sql(),
        &query.filter,
        query.sort,
        None,
        query.limit,
        &mark,
    );
    query_rows(client, &sql, &values)?
        .iter()
        .map(stored_cdr)
        .collect()
}

/// CDRs written after `seq`, oldest first, at most `limit` (`calltrack cdr tail`).
pub fn after(
    client: &mut impl GenericClient,
    seq: i64,
    limit: usize,
) -> Result<Vec<StoredCdr>, StoreError> {
    let sql = format!("{} WHERE seq > $1 ORDER BY seq LIMIT $2", cdr_select_sql());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    client
        .query(&sql, &[&seq, &limit])?
        .iter()
        .map(stored_cdr)
        .collect()
}

fn query_rows(
    client: &mut impl GenericClient,
    sql: &str,
    values: &[Cell],
) -> Result<Vec<postgres::Row>, StoreError> {
    let texts: Vec<Option<String>> = values.iter().map(text).collect();
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = texts
        .iter()
        .map(|t| t as &(dyn postgres::types::ToSql + Sync))
        .collect();
    Ok(client.query(sql, &params)?)
}

fn view_of(row: &postgres::Row, with_trail: bool) -> Result<(i64, CallView), StoreError> {
    let names = columns();
    let mut cells = names
        .iter()
        .enumerate()
        .map(|(i, c)| cell(row, i + 1, type_of("cdr", c)))
        .collect::<Result<Vec<_>, _>>()?;
    cells.push(cell(row, names.len() + 1, PgType::Text)?);
    Ok((row.try_get(0)?, view_from_cells(cells, with_trail)?))
}
