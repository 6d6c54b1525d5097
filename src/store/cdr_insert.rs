//! CDRs inserted many rows per statement: the writer's hot path.
//!
//! The report triggers on `cdr` make every insert a statement that needs a statement journal
//! (SQLite journals each page a statement touches, once per statement, so that the statement
//! alone can be undone). One row per statement journals the same hot pages (the rightmost
//! leaves of a dozen indexes, the rollup rows) again for every call; one statement of up to
//! [`CHUNKS`]`[0]` rows journals each of them once. Rows are inserted in the order given, so
//! `seq`, the triggers and `INSERT OR IGNORE` behave exactly as with one statement per row.
//!
//! Each row comes with its `prev_started_at` (the caller's previous call to the site, as the
//! report trigger computes it), so the trigger need not rewrite the row it just inserted
//! (schema V24); for a caller twice in one statement the trigger still corrects the value.

use std::collections::HashMap;
use std::sync::OnceLock;

use rusqlite::Connection;
use rusqlite::types::ToSql;

use super::flat::{self, Cell};
use crate::call::record::{CallDetailRecord, Disposition, rfc3339};

/// Rows per statement, largest first: a run of CDRs is cut into these sizes, so at most
/// this many statements are ever prepared (and cached). 64 rows of about 80 columns stay far
/// below SQLite's 32,766 parameters.
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// Inserts `cdrs` in order, each unless a CDR with its `id` exists (or came earlier in
/// `cdrs`); returns the `seq` of each row written, by id.
pub(super) fn insert_cdrs<'c>(
    conn: &Connection,
    cdrs: &[&'c CallDetailRecord],
) -> rusqlite::Result<HashMap<&'c str, i64>> {
    let mut written = HashMap::with_capacity(cdrs.len());
    let mut rest = cdrs;
    while !rest.is_empty() {
        let (size, sql) = chunk_for(rest.len());
        let (chunk, tail) = rest.split_at(size);
        let cells = chunk
            .iter()
            .map(|cdr| row_cells(conn, cdr))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let params: Vec<&dyn ToSql> = cells.iter().flatten().map(|c| c as &dyn ToSql).collect();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params.as_slice())?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let seq: i64 = row.get(1)?;
            if let Some(cdr) = chunk.iter().find(|c| c.id == id) {
                written.insert(cdr.id.as_str(), seq);
            }
        }
        rest = tail;
    }
    Ok(written)
}

/// The largest chunk size that fits `n` rows, and its statement.
fn chunk_for(n: usize) -> (usize, &'static str) {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let sql = SQL.get_or_init(|| CHUNKS.iter().map(|&rows| insert_sql(rows)).collect());
    let i = CHUNKS
        .iter()
        .position(|&size| size <= n)
        .unwrap_or(CHUNKS.len() - 1);
    (CHUNKS[i], sql[i].as_str())
}

/// `INSERT OR IGNORE INTO cdr (<columns>, trail) VALUES (...), ... RETURNING id, seq`.
fn insert_sql(rows: usize) -> String {
    let columns = flat::cdr_columns();
    let width = columns.len() + 2;
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let slots: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
            format!("({})", slots.join(", "))
        })
        .collect();
    // The trail (as JSON) and the previous call are kept beside the flat columns.
    format!(
        "INSERT OR IGNORE INTO cdr ({}, trail, prev_started_at) VALUES {} RETURNING id, seq",
        columns.join(", "),
        values.join(", ")
    )
}

/// One row's cells: the flat columns, the trail as JSON, the previous call.
fn row_cells(conn: &Connection, cdr: &CallDetailRecord) -> rusqlite::Result<Vec<Cell>> {
    let failed = |e| rusqlite::Error::ToSqlConversionFailure(e);
    let mut cells = flat::cdr_cells(cdr).map_err(|e| failed(Box::new(e)))?;
    let trail = serde_json::to_string(&cdr.trail).map_err(|e| failed(Box::new(e)))?;
    cells.push(Cell::Text(trail));
    cells.push(prev_started_at(conn, cdr)?.map_or(Cell::Null, Cell::Text));
    Ok(cells)
}

/// The start of the caller's latest earlier call to the same site stored so far, as the
/// report trigger computes it (`None` for a call calltrack refused: it has none).
fn prev_started_at(conn: &Connection, cdr: &CallDetailRecord) -> rusqlite::Result<Option<String>> {
    if cdr.disposition == Disposition::Rejected {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT max(started_at) FROM cdr WHERE caller = ?1 AND site = ?2 AND started_at < ?3 \
         AND disposition <> 'rejected'",
    )?;
    let started_at = rfc3339::format(cdr.started_at);
    stmt.query_row((&cdr.caller, &cdr.attribution.site, started_at), |row| {
        row.get(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{Disposition, HangupSide, LiveCall};
    use crate::store::{query, schema};

    fn cdr(i: usize) -> CallDetailRecord {
        let at: jiff::Timestamp = "2026-11-23T03:20:00Z".parse().unwrap();
        let live = LiveCall {
            id: format!("c{i}"),
            call_id: format!("c{i}@carrier"),
            tracking_number: "74951234567".into(),
            caller: format!("7916{i:07}"),
            destination: "sip:sales@pbx.example".into(),
            started_at: at + jiff::SignedDuration::from_secs(i as i64),
            answered_at: None,
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        };
        let end = live.started_at + jiff::SignedDuration::from_secs(30);
        CallDetailRecord::from_live(&live, end, Disposition::Busy, 486, HangupSide::Callee)
    }

    #[test]
    fn chunks_cover_any_run_in_order() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let cdrs: Vec<CallDetailRecord> = (0..87).map(cdr).collect();
        let refs: Vec<&CallDetailRecord> = cdrs.iter().collect();
        let written = insert_cdrs(&conn, &refs).unwrap();
        assert_eq!(written.len(), 87);
        // `seq` follows the order given, across chunk boundaries.
        for (i, c) in cdrs.iter().enumerate() {
            assert_eq!(written[c.id.as_str()], i as i64 + 1);
        }
        let stored = query::list_recent(&conn, 1).unwrap();
        assert_eq!(stored[0].cdr, cdrs[86]);
    }

    fn prev(conn: &rusqlite::Connection, id: &str) -> Option<String> {
        conn.query_row("SELECT prev_started_at FROM cdr WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    }

    /// Given or corrected by the trigger, `prev_started_at` is what a rebuild computes: the
    /// caller's previous call, also when it is in the same statement or written later.
    #[test]
    fn each_row_gets_the_callers_previous_call() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let call = |id: &str, secs: i64, disposition| {
            let mut c = cdr(0);
            c.id = id.into();
            c.started_at += jiff::SignedDuration::from_secs(secs);
            c.disposition = disposition;
            c
        };
        let first = call("first", 0, Disposition::Busy);
        insert_cdrs(&conn, &[&first]).unwrap();
        let (b, c, r) = (
            call("b", 20, Disposition::Answered),
            call("c", 30, Disposition::Busy),
            call("refused", 25, Disposition::Rejected),
        );
        insert_cdrs(&conn, &[&b, &r, &c]).unwrap();
        let late = call("late", 10, Disposition::Busy);
        insert_cdrs(&conn, &[&late]).unwrap();
        let at = |secs| Some(format!("2026-11-23T03:20:{secs:02}.000Z"));
        assert_eq!(prev(&conn, "first"), None);
        assert_eq!(prev(&conn, "late"), at(0));
        assert_eq!(prev(&conn, "b"), at(10), "corrected by the late call");
        assert_eq!(
            prev(&conn, "c"),
            at(20),
            "the call before it in the same statement"
        );
        assert_eq!(prev(&conn, "refused"), None);
        let kept: Vec<Option<String>> = ["first", "late", "b", "c", "refused"]
            .iter()
            .map(|id| prev(&conn, id))
            .collect();
        crate::store::rollup::bulk_load(&mut conn, |_| Ok(())).unwrap();
        let rebuilt: Vec<Option<String>> = ["first", "late", "b", "c", "refused"]
            .iter()
            .map(|id| prev(&conn, id))
            .collect();
        assert_eq!(kept, rebuilt);
    }

    #[test]
    fn existing_and_repeated_ids_are_not_written_again() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let (a, b) = (cdr(1), cdr(2));
        let first = insert_cdrs(&conn, &[&a]).unwrap();
        let written = insert_cdrs(&conn, &[&a, &b, &b]).unwrap();
        assert_eq!(written.len(), 1);
        // An ignored row still takes its AUTOINCREMENT number, as with one row per statement.
        assert!(written["c2"] > first["c1"]);
        assert_eq!(query::count(&conn).unwrap(), 2);
    }
}
