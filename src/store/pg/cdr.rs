//! CDRs on PostgreSQL: a batch's CDRs in one multi-row insert (`unnest` of one `text[]` per
//! column, one prepared statement whatever the batch size). A CDR id already stored is left
//! as it is, with one exception: an `interrupted` CDR gives way to the call's own CDR (not
//! itself interrupted). That happens only when another node took this node's calls over
//! while this node was cut off from PostgreSQL (or frozen) and the calls then ended here: the
//! takeover could only guess their end (the last heartbeat); the node that carried them
//! knows it. Reads in the flat mapping for the CLI and tests.

use std::collections::HashMap;
use std::sync::OnceLock;

use postgres::GenericClient;

use super::cells::{cast_expr, cell, select_expr, text};
use super::mirror::type_of;
use crate::call::record::CallDetailRecord;
use crate::store::StoreError;
use crate::store::flat::{self, Cell};
use crate::store::query::StoredCdr;

/// The columns a CDR insert writes: the flat ones, then `trail` and `node_id`.
fn insert_columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut columns = flat::cdr_columns().to_vec();
        columns.extend(["trail".to_owned(), "node_id".to_owned()]);
        columns
    })
}

fn insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns = insert_columns();
        let aliases: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
        let arrays: Vec<String> = (1..=columns.len())
            .map(|i| format!("${i}::text[]"))
            .collect();
        let casts: Vec<String> = columns
            .iter()
            .zip(&aliases)
            .map(|(c, a)| cast_expr("cdr", c, a))
            .collect();
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| *c != "id")
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        // `xmax = 0` on the returned row: inserted, not updated (the row version an update
        // writes carries the updating transaction's id in xmax).
        format!(
            "INSERT INTO cdr ({}) SELECT {} FROM unnest({}) WITH ORDINALITY AS t({}, n) \
             ORDER BY n ON CONFLICT (id) DO UPDATE SET {} \
             WHERE cdr.disposition = 'interrupted' AND EXCLUDED.disposition <> 'interrupted' \
             RETURNING id, (xmax = 0)",
            columns.join(", "),
            casts.join(", "),
            arrays.join(", "),
            aliases.join(", "),
            updates.join(", ")
        )
    })
}

/// A CDR's row as text cells, `first_time_caller` as judged across nodes.
pub fn row(
    cdr: &CallDetailRecord,
    first: bool,
    node: &str,
) -> Result<Vec<Option<String>>, StoreError> {
    let mut cells = flat::cdr_cells(cdr)?;
    if let Some(i) = flat::cdr_columns()
        .iter()
        .position(|c| c == "first_time_caller")
    {
        cells[i] = Cell::Bool(first);
    }
    let mut row: Vec<Option<String>> = cells.iter().map(text).collect();
    row.push(Some(serde_json::to_string(&cdr.trail)?));
    row.push(Some(node.to_owned()));
    Ok(row)
}

/// How a CDR of a batch was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new row.
    Inserted,
    /// It took the place of the `interrupted` CDR a takeover had written for the call.
    ReplacedInterrupted,
}

/// Inserts `rows` (from [`row`]) in one statement; returns the ids stored and how (not those
/// already stored, nor a repeat within `rows`: the first of an id is the one written).
pub fn insert(
    client: &mut impl GenericClient,
    rows: &[Vec<Option<String>>],
) -> Result<HashMap<String, Stored>, StoreError> {
    let id_at = insert_columns().iter().position(|c| c == "id");
    let mut seen = std::collections::HashSet::new();
    // One statement may not touch a row twice (`ON CONFLICT DO UPDATE`): repeats go first.
    let rows: Vec<&Vec<Option<String>>> = rows
        .iter()
        .filter(|r| seen.insert(id_at.and_then(|i| r[i].clone())))
        .collect();
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let width = insert_columns().len();
    let columns: Vec<Vec<Option<&str>>> = (0..width)
        .map(|i| rows.iter().map(|r| r[i].as_deref()).collect())
        .collect();
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = columns
        .iter()
        .map(|c| c as &(dyn postgres::types::ToSql + Sync))
        .collect();
    let stmt = client.prepare(insert_sql())?;
    let written = client.query(&stmt, &params)?;
    written
        .iter()
        .map(|r| {
            let stored = match r.try_get::<_, bool>(1)? {
                true => Stored::Inserted,
                false => Stored::ReplacedInterrupted,
            };
            Ok((r.try_get(0)?, stored))
        })
        .collect()
}

/// `SELECT seq, <flat columns> FROM cdr`, read with [`read`].
pub(super) fn select_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let exprs: Vec<String> = flat::cdr_columns()
            .iter()
            .map(|c| select_expr("cdr", c))
            .collect();
        format!("SELECT seq, {} FROM cdr", exprs.join(", "))
    })
}

/// A row selected with [`select_sql`].
pub(super) fn read(row: &postgres::Row) -> Result<StoredCdr, StoreError> {
    let cells = flat::cdr_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| cell(row, i + 1, type_of("cdr", c)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StoredCdr {
        seq: row.try_get(0)?,
        cdr: flat::cdr_from_cells(cells)?,
    })
}

/// The newest `limit` CDRs, newest first.
pub fn list_recent(
    client: &mut impl GenericClient,
    limit: usize,
) -> Result<Vec<StoredCdr>, StoreError> {
    let sql = format!("{} ORDER BY seq DESC LIMIT $1", select_sql());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    client.query(&sql, &[&limit])?.iter().map(read).collect()
}

/// The CDR stored under `id`.
pub fn by_id(client: &mut impl GenericClient, id: &str) -> Result<Option<StoredCdr>, StoreError> {
    let sql = format!("{} WHERE id = $1", select_sql());
    client
        .query_opt(&sql, &[&id])?
        .as_ref()
        .map(read)
        .transpose()
}

/// Number of stored CDRs.
pub fn count(client: &mut impl GenericClient) -> Result<u64, StoreError> {
    let n: i64 = client.query_one("SELECT count(*) FROM cdr", &[])?.get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Each caller's latest call at or after `since` (all of history when `None`), every node's:
/// the seed of the node's in-memory first-time judgement at ring time.
pub fn recent_callers(
    client: &mut impl GenericClient,
    since: Option<jiff::Timestamp>,
) -> Result<Vec<(String, jiff::Timestamp)>, StoreError> {
    let since = since.map_or(0, crate::store::outbox::millis);
    let rows = client.query(
        "SELECT caller, (extract(epoch FROM last_call_at) * 1000)::bigint FROM caller_history \
         WHERE last_call_at >= to_timestamp($1::bigint / 1000.0)",
        &[&since],
    )?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), crate::store::outbox::from_millis(r.get(1))))
        .collect())
}
