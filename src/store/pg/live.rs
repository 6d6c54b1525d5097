//! The `live_calls` rows on PostgreSQL: one per call in progress, tagged with the node that
//! holds it, so start-up recovery closes only that node's calls.

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

/// Records a call in progress on `node` with what the batch learnt of it; a repeated start
/// is ignored. Returns whether a row was inserted.
pub(in crate::store) fn insert(
    client: &mut impl GenericClient,
    live: &LiveCall,
    change: LiveChange<'_>,
    node: &str,
) -> Result<bool, StoreError> {
    let [a, b] = dialogs(change)?;
    let answered = change.answered_at.or(live.answered_at).map(rfc3339::format);
    let n = client.execute(
        "INSERT INTO live_calls (id, call_id, tracking_number, caller, destination, started_at, \
         answered_at, attribution, first_time_caller, scheme, a_dialog, b_dialog, node_id) \
         VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::timestamptz, \
         $8::text::jsonb, $9, $10, $11::text::jsonb, $12::text::jsonb, $13) \
         ON CONFLICT (id) DO NOTHING",
        &[
            &live.id,
            &live.call_id,
            &live.tracking_number,
            &live.caller,
            &live.destination,
            &rfc3339::format(live.started_at),
            &answered,
            &json(&live.attribution)?,
            &i64::from(live.first_time_caller),
            &live.scheme,
            &a,
            &b,
            &node,
        ],
    )?;
    Ok(n > 0)
}

/// Applies `change` to a live call; false if there is none (it has ended).
pub(in crate::store) fn update(
    client: &mut impl GenericClient,
    id: &str,
    change: LiveChange<'_>,
) -> Result<bool, StoreError> {
    let [a, b] = dialogs(change)?;
    let answered = change.answered_at.map(rfc3339::format);
    let n = client.execute(
        "UPDATE live_calls SET answered_at = coalesce($2::text::timestamptz, answered_at), \
         a_dialog = coalesce($3::text::jsonb, a_dialog), \
         b_dialog = coalesce($4::text::jsonb, b_dialog) WHERE id = $1",
        &[&id, &answered, &a, &b],
    )?;
    Ok(n > 0)
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

/// One live call (None once its CDR is written).
pub fn by_id(client: &mut impl GenericClient, id: &str) -> Result<Option<LiveCall>, StoreError> {
    let sql = format!("{} WHERE id = $1", live_select());
    let row = client.query_opt(&sql, &[&id])?;
    Ok(row
        .as_ref()
        .map(live_from_row)
        .transpose()?
        .map(|(live, _)| live))
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
