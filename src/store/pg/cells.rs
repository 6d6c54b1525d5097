//! Flat cells ([`crate::store::flat`]) to PostgreSQL and back. Values travel as text
//! parameters (one `text[]` per column for multi-row writes) cast to the column's type in
//! SQL, so one typed path serves every column; reads cast back to what SQLite hands out
//! (RFC 3339 text with milliseconds for times, JSON text), so the same deserializer reads
//! rows from either backend.

use postgres::Row;

use super::mirror::{PgType, type_of};
use crate::store::flat::Cell;

/// A cell as a text parameter (`None`: SQL NULL); booleans are 0/1 like on SQLite.
pub fn text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Cell::Int(n) => Some(n.to_string()),
        Cell::Real(x) => Some(x.to_string()),
        Cell::Text(s) => Some(s.clone()),
    }
}

/// The SQL that reads `table.column` back as a cell-shaped value.
pub fn select_expr(table: &str, column: &str) -> String {
    match type_of(table, column) {
        PgType::Timestamptz => time_text(column),
        PgType::Jsonb | PgType::Json => format!("{column}::text"),
        PgType::Text | PgType::BigInt | PgType::Double => column.to_owned(),
    }
}

/// A `timestamptz` expression as RFC 3339 text in UTC with milliseconds (as SQLite keeps it).
pub fn time_text(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// `$n::text[]` unnested and cast to `table.column`'s type (for `INSERT ... SELECT`).
pub fn cast_expr(table: &str, column: &str, alias: &str) -> String {
    match type_of(table, column) {
        PgType::Text => alias.to_owned(),
        ty => format!("{alias}::{}", ty.sql()),
    }
}

/// Column `i` of `row`, selected with [`select_expr`], as a cell.
pub fn cell(row: &Row, i: usize, ty: PgType) -> Result<Cell, postgres::Error> {
    Ok(match ty {
        PgType::BigInt => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Cell::Null, Cell::Int),
        PgType::Double => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Cell::Null, Cell::Real),
        _ => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Cell::Null, Cell::Text),
    })
}
