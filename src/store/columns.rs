//! How CDR and live-call fields map to SQLite columns, both ways. CDR columns come from
//! [`flat`] (the record's serde form), so they are never listed here by hand.
//!
//! Timestamps are RFC 3339 TEXT in UTC with fixed millisecond width (see
//! [`crate::call::record::rfc3339`]); enums are their snake_case names.

use std::sync::OnceLock;

use jiff::Timestamp;

use rusqlite::types::{
    FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Type, Value, ValueRef,
};
use rusqlite::{Connection, Row, named_params};

use super::flat::{self, Cell};
use crate::call::attribution::Attribution;
use crate::call::live_dialog::{CallDialogs, LegDialog};
use crate::call::record::{CallDetailRecord, LiveCall, rfc3339};

/// A timestamp as stored in a TEXT column.
struct SqlTime(Timestamp);

impl ToSql for SqlTime {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(rfc3339::format(self.0)))
    }
}

impl FromSql for SqlTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        rfc3339::parse(value.as_str()?)
            .map(SqlTime)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

fn time_opt(t: Option<Timestamp>) -> Option<SqlTime> {
    t.map(SqlTime)
}

/// Attribution of a live call, stored as JSON so recovery keeps it (read side).
struct SqlAttribution(Attribution);

/// A value written as JSON text (attribution, a leg's dialog), borrowed: no copy is made.
struct SqlJson<'a, T>(&'a T);

impl<T: serde::Serialize> ToSql for SqlJson<'_, T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let json = serde_json::to_string(self.0)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::from(json))
    }
}

impl FromSql for SqlAttribution {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(SqlAttribution)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// `SELECT seq, <every CDR column> FROM cdr`: read rows with [`cdr_from_row`].
pub(super) fn cdr_select() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| format!("SELECT seq, {} FROM cdr", flat::cdr_columns().join(", ")))
}

/// Inserts a CDR unless one with the same `id` exists; returns whether a row was written.
pub(super) fn insert_cdr(conn: &Connection, cdr: &CallDetailRecord) -> rusqlite::Result<bool> {
    static SQL: OnceLock<String> = OnceLock::new();
    let sql = SQL.get_or_init(insert_cdr_sql);
    let failed = |e| rusqlite::Error::ToSqlConversionFailure(e);
    let mut cells = flat::cdr_cells(cdr).map_err(|e| failed(Box::new(e)))?;
    let trail = serde_json::to_string(&cdr.trail).map_err(|e| failed(Box::new(e)))?;
    cells.push(Cell::Text(trail));
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(cells))? > 0)
}

/// The CDR insert: every flat column, the trail as JSON in the next slot, and the caller's
/// previous call to the site (`prev_started_at`, see `schema_reports`) computed in the same
/// statement. The V9 trigger would otherwise write the new row a second time to set it; since
/// V24 it does so only for rows inserted without the value (bulk loads, tests). A rejected
/// call has none, as the trigger leaves it.
fn insert_cdr_sql() -> String {
    let columns = flat::cdr_columns();
    let slot = |name: &str| {
        columns.iter().position(|c| c == name).map_or_else(
            || format!("NULL /* no {name} */"),
            |i| format!("?{}", i + 1),
        )
    };
    let slots: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let (caller, site, started, disposition) = (
        slot("caller"),
        slot("site"),
        slot("started_at"),
        slot("disposition"),
    );
    format!(
        "INSERT OR IGNORE INTO cdr ({}, trail, prev_started_at) VALUES ({}, ?{}, \
         CASE WHEN {disposition} <> 'rejected' THEN (SELECT max(p.started_at) FROM cdr AS p \
         WHERE p.caller = {caller} AND p.site = {site} AND p.started_at < {started} \
         AND p.disposition <> 'rejected') END)",
        columns.join(", "),
        slots.join(", "),
        columns.len() + 1
    )
}

/// Reads one row selected with [`cdr_select`] as `(seq, cdr)`.
pub(super) fn cdr_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, CallDetailRecord)> {
    let cells = (1..=flat::cdr_columns().len())
        .map(|i| cell(row, i))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let cdr = flat::cdr_from_cells(cells)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))?;
    Ok((row.get(0)?, cdr))
}

pub(super) fn cell(row: &Row<'_>, i: usize) -> rusqlite::Result<Cell> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Text(_) => Cell::Text(row.get(i)?),
        ValueRef::Real(x) => Cell::Real(x),
        ValueRef::Blob(_) => {
            return Err(rusqlite::Error::InvalidColumnType(
                i,
                flat::cdr_columns().get(i - 1).cloned().unwrap_or_default(),
                row.get_ref(i)?.data_type(),
            ));
        }
    })
}

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            Cell::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            Cell::Real(x) => ToSqlOutput::Owned(Value::Real(*x)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// What a batch learnt of a live call after its start: the answer and both legs' dialogs
/// (`None`: nothing new).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LiveChange<'a> {
    pub answered_at: Option<Timestamp>,
    pub dialogs: Option<&'a CallDialogs>,
}

impl LiveChange<'_> {
    /// The two legs' dialogs as JSON parameters.
    fn dialog_params(&self) -> [Option<SqlJson<'_, LegDialog>>; 2] {
        [
            self.dialogs.map(|d| SqlJson(&d.a)),
            self.dialogs.map(|d| SqlJson(&d.b)),
        ]
    }
}

/// Records a call in progress with what the batch already learnt of it (`change`); a
/// repeated start for the same id is ignored. Returns whether a row was inserted.
pub(super) fn insert_live(
    conn: &Connection,
    live: &LiveCall,
    change: LiveChange<'_>,
) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO live_calls (id, call_id, tracking_number, caller, destination, \
         started_at, answered_at, attribution, first_time_caller, scheme, a_dialog, b_dialog) \
         VALUES (:id, :call_id, :tracking_number, :caller, :destination, :started_at, \
         :answered_at, :attribution, :first_time_caller, :scheme, :a_dialog, :b_dialog)",
    )?;
    let [a_dialog, b_dialog] = change.dialog_params();
    let inserted = stmt.execute(named_params! {
        ":id": live.id,
        ":call_id": live.call_id,
        ":tracking_number": live.tracking_number,
        ":caller": live.caller,
        ":destination": live.destination,
        ":started_at": SqlTime(live.started_at),
        ":answered_at": time_opt(change.answered_at.or(live.answered_at)),
        ":attribution": SqlJson(&live.attribution),
        ":first_time_caller": live.first_time_caller,
        ":scheme": live.scheme,
        ":a_dialog": a_dialog,
        ":b_dialog": b_dialog,
    })?;
    Ok(inserted > 0)
}

/// Applies `change` to a live call (what is `None` stays as it is); returns false if no such
/// live call exists (it has ended).
pub(super) fn update_live(
    conn: &Connection,
    id: &str,
    change: LiveChange<'_>,
) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE live_calls SET answered_at = coalesce(?2, answered_at), \
         a_dialog = coalesce(?3, a_dialog), b_dialog = coalesce(?4, b_dialog) WHERE id = ?1",
    )?;
    let [a_dialog, b_dialog] = change.dialog_params();
    Ok(stmt.execute((id, time_opt(change.answered_at), a_dialog, b_dialog))? > 0)
}

/// Forgets a live call (its CDR has been written).
pub(super) fn delete_live(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM live_calls WHERE id = ?1")?;
    stmt.execute([id])?;
    Ok(())
}

/// Every call left in `live_calls`.
pub(super) fn all_live(conn: &Connection) -> rusqlite::Result<Vec<LiveCall>> {
    let mut stmt = conn.prepare(
        "SELECT id, call_id, tracking_number, caller, destination, started_at, answered_at, \
         attribution, first_time_caller, scheme FROM live_calls ORDER BY started_at",
    )?;
    let rows = stmt.query_map([], live_from_row)?;
    rows.collect()
}

/// One call in `live_calls` (None once its CDR is written).
pub(super) fn live_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<LiveCall>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, call_id, tracking_number, caller, destination, started_at, answered_at, \
         attribution, first_time_caller, scheme FROM live_calls WHERE id = ?1",
    )?;
    let mut rows = stmt.query_map([id], live_from_row)?;
    rows.next().transpose()
}

fn live_from_row(row: &Row<'_>) -> rusqlite::Result<LiveCall> {
    Ok(LiveCall {
        id: row.get("id")?,
        call_id: row.get("call_id")?,
        tracking_number: row.get("tracking_number")?,
        caller: row.get("caller")?,
        destination: row.get("destination")?,
        started_at: row.get::<_, SqlTime>("started_at")?.0,
        answered_at: row.get::<_, Option<SqlTime>>("answered_at")?.map(|t| t.0),
        attribution: row.get::<_, SqlAttribution>("attribution")?.0,
        first_time_caller: row.get("first_time_caller")?,
        scheme: row.get("scheme")?,
        answered_step: None,
        answered_target: None,
    })
}

/// The stored dialogs of one live call, as text: `None` unless both legs were kept.
pub(super) fn dialogs_text(
    conn: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a_dialog, b_dialog FROM live_calls WHERE id = ?1 \
         AND a_dialog IS NOT NULL AND b_dialog IS NOT NULL",
    )?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
        None => Ok(None),
    }
}

#[cfg(test)]
#[path = "columns_tests.rs"]
mod tests;
