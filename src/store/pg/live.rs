//! The `live_calls` rows on PostgreSQL: one per call in progress, tagged with the node that
//! holds it, so start-up recovery closes only that node's calls.

use std::collections::{HashMap, HashSet};

use postgres::{GenericClient, Row};

use super::cells::select_expr;
use crate::call::live_dialog::CallDialogs;
use crate::call::record::{LiveCall, rfc3339};
use crate::store::StoreError;
use crate::store::columns::LiveChange;

fn json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    Ok(serde_json::to_string(value)?)
}

fn dialogs(change: LiveChange<'_>) -> Result<[Option<String>; 2], StoreError> {
    let leg = |pick: fn(&CallDialogs) -> &crate::call::live_dialog::LegDialog| {
        change.dialogs.map(|d| json(pick(d))).transpose()
    };
    Ok([leg(|d| &d.a)?, leg(|d| &d.b)?])
}

/// A live row's columns as text parameters, in [`INSERT_SQL`] order (`node_id` apart).
const INSERT_WIDTH: usize = 12;

/// The batch's new live rows in one statement: one `text[]` per column, unnested and cast;
/// a call already stored is left as it is.
const INSERT_SQL: &str = "INSERT INTO live_calls (id, call_id, tracking_number, caller, \
     destination, started_at, answered_at, attribution, first_time_caller, scheme, a_dialog, \
     b_dialog, node_id) \
     SELECT id, call_id, tracking_number, caller, destination, started_at::timestamptz, \
     answered_at::timestamptz, attribution::jsonb, first_time_caller::bigint, scheme, \
     a_dialog::jsonb, b_dialog::jsonb, $13 \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) \
     AS t(id, call_id, tracking_number, caller, destination, started_at, answered_at, \
     attribution, first_time_caller, scheme, a_dialog, b_dialog) \
     ON CONFLICT (id) DO NOTHING RETURNING id";

/// The batch's answers and dialogs of calls started earlier, in one statement.
const UPDATE_SQL: &str = "UPDATE live_calls AS l SET \
     answered_at = coalesce(u.answered_at::timestamptz, l.answered_at), \
     a_dialog = coalesce(u.a_dialog::jsonb, l.a_dialog), \
     b_dialog = coalesce(u.b_dialog::jsonb, l.b_dialog) \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
     AS u(id, answered_at, a_dialog, b_dialog) WHERE l.id = u.id RETURNING l.id";

/// A call started in this batch, as its live row is to be inserted.
pub(in crate::store) struct NewLive<'a> {
    /// With `first_time_caller` as judged across nodes.
    pub live: LiveCall,
    pub change: LiveChange<'a>,
}

/// Records the calls in progress `rows` on `node` with what the batch learnt of them, in one
/// statement; a repeated start is ignored. Returns the ids inserted.
pub(in crate::store) fn insert(
    client: &mut impl GenericClient,
    rows: &[NewLive<'_>],
    node: &str,
) -> Result<HashSet<String>, StoreError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let mut columns: [Vec<Option<String>>; INSERT_WIDTH] = Default::default();
    for NewLive { live, change } in rows {
        let [a, b] = dialogs(*change)?;
        let answered = change.answered_at.or(live.answered_at).map(rfc3339::format);
        let cells = [
            Some(live.id.clone()),
            Some(live.call_id.clone()),
            Some(live.tracking_number.clone()),
            Some(live.caller.clone()),
            Some(live.destination.clone()),
            Some(rfc3339::format(live.started_at)),
            answered,
            Some(json(&live.attribution)?),
            Some(i64::from(live.first_time_caller).to_string()),
            live.scheme.clone(),
            a,
            b,
        ];
        for (column, cell) in columns.iter_mut().zip(cells) {
            column.push(cell);
        }
    }
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = columns
        .iter()
        .map(|c| c as &(dyn postgres::types::ToSql + Sync))
        .collect();
    params.push(&node);
    ids_of(client.query(INSERT_SQL, &params)?)
}

/// Applies each `(id, change)` to its live call in one statement; returns the ids of the
/// calls that had a row (the others have ended).
pub(in crate::store) fn update(
    client: &mut impl GenericClient,
    changes: &[(&str, LiveChange<'_>)],
) -> Result<HashSet<String>, StoreError> {
    if changes.is_empty() {
        return Ok(HashSet::new());
    }
    let mut columns: [Vec<Option<String>>; 4] = Default::default();
    for (id, change) in changes {
        let [a, b] = dialogs(*change)?;
        let cells = [
            Some((*id).to_owned()),
            change.answered_at.map(rfc3339::format),
            a,
            b,
        ];
        for (column, cell) in columns.iter_mut().zip(cells) {
            column.push(cell);
        }
    }
    let [ids, answered, a, b] = &columns;
    ids_of(client.query(UPDATE_SQL, &[ids, answered, a, b])?)
}

fn ids_of(rows: Vec<Row>) -> Result<HashSet<String>, StoreError> {
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(StoreError::from))
        .collect()
}

/// Forgets the live rows of calls whose CDRs are written.
pub fn delete(client: &mut impl GenericClient, ids: &[&str]) -> Result<(), StoreError> {
    if !ids.is_empty() {
        client.execute("DELETE FROM live_calls WHERE id = ANY($1)", &[&ids])?;
    }
    Ok(())
}

/// What a live-call select reads, in [`live_from_row`] order.
fn live_select() -> String {
    let t = |c: &str| select_expr("live_calls", c);
    format!(
        "SELECT id, call_id, tracking_number, caller, destination, {}, {}, attribution::text, \
         first_time_caller, scheme, a_dialog::text, b_dialog::text FROM live_calls",
        t("started_at"),
        t("answered_at")
    )
}

/// A live call and its two legs' dialogs as stored (JSON text, when both were kept).
pub type LiveRow = (LiveCall, Option<(String, String)>);

/// Every call `node` left live, oldest first, with its dialogs.
pub fn of_node(client: &mut impl GenericClient, node: &str) -> Result<Vec<LiveRow>, StoreError> {
    let sql = format!(
        "{} WHERE node_id = $1 ORDER BY started_at FOR UPDATE",
        live_select()
    );
    client
        .query(&sql, &[&node])?
        .iter()
        .map(live_from_row)
        .collect()
}

/// The live calls among `ids` that still have a row, by id.
pub fn by_ids(
    client: &mut impl GenericClient,
    ids: &[&str],
) -> Result<HashMap<String, LiveCall>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("{} WHERE id = ANY($1)", live_select());
    client
        .query(&sql, &[&ids])?
        .iter()
        .map(|row| live_from_row(row).map(|(live, _)| (live.id.clone(), live)))
        .collect()
}

fn live_from_row(row: &Row) -> Result<LiveRow, StoreError> {
    let time = |i: usize| -> Result<Option<jiff::Timestamp>, StoreError> {
        let text: Option<String> = row.try_get(i)?;
        text.map(|t| rfc3339::parse(&t).map_err(|e| StoreError::PgValue(e.to_string())))
            .transpose()
    };
    let started_at = time(5)?.unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let attribution: String = row.try_get(7)?;
    let first: i64 = row.try_get(8)?;
    let live = LiveCall {
        id: row.try_get(0)?,
        call_id: row.try_get(1)?,
        tracking_number: row.try_get(2)?,
        caller: row.try_get(3)?,
        destination: row.try_get(4)?,
        started_at,
        answered_at: time(6)?,
        attribution: serde_json::from_str(&attribution)?,
        first_time_caller: first != 0,
        scheme: row.try_get(9)?,
        answered_step: None,
        answered_target: None,
    };
    let a: Option<String> = row.try_get(10)?;
    let b: Option<String> = row.try_get(11)?;
    Ok((live, a.zip(b)))
}
