//! How CDR and live-call fields map to SQLite columns, both ways.
//!
//! Timestamps are RFC 3339 TEXT in UTC with fixed millisecond width (see
//! [`crate::call::record::rfc3339`]); enums are their snake_case names.

use jiff::Timestamp;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, named_params};

use crate::call::attribution::{Attribution, NumberKindTag};
use crate::call::live_dialog::{CallDialogs, LegDialog};
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall, rfc3339};

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

/// Enums stored as their snake_case names: `as_str()` to write, `FromStr` to read.
macro_rules! text_enum_column {
    ($($ty:ty),+) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    )+};
}

text_enum_column!(Disposition, HangupSide, NumberKindTag);

/// Attribution of a live call, stored as JSON so recovery keeps it.
struct SqlAttribution(Attribution);

impl ToSql for SqlAttribution {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let json = serde_json::to_string(&self.0)
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

/// Columns read by [`cdr_from_row`], in table order.
pub(super) const CDR_SELECT: &str = "SELECT seq, id, call_id, tracking_number, caller, destination, \
     started_at, answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, \
     site, number_kind, source, medium, campaign, term, content, referrer, landing_page, gclid, \
     yclid, ga_client_id, ga_session_id, ym_client_id, region, session_id, first_time_caller, \
     quality, scheme, answered_step, answered_target, reject_reason FROM cdr";

/// Inserts a CDR unless one with the same `id` exists; returns whether a row was written.
pub(super) fn insert_cdr(conn: &Connection, cdr: &CallDetailRecord) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO cdr (id, call_id, tracking_number, caller, destination, \
         started_at, answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, \
         site, number_kind, source, medium, campaign, term, content, referrer, landing_page, gclid, \
         yclid, ga_client_id, ga_session_id, ym_client_id, region, session_id, first_time_caller, \
         quality, scheme, answered_step, answered_target, reject_reason) \
         VALUES (:id, :call_id, :tracking_number, :caller, :destination, :started_at, :answered_at, \
         :ended_at, :wait_secs, :talk_secs, :disposition, :sip_status, :hangup_side, :site, \
         :number_kind, :source, :medium, :campaign, :term, :content, :referrer, :landing_page, \
         :gclid, :yclid, :ga_client_id, :ga_session_id, :ym_client_id, :region, :session_id, \
         :first_time_caller, :quality, :scheme, :answered_step, :answered_target, :reject_reason)",
    )?;
    let written = stmt.execute(named_params! {
        ":id": cdr.id,
        ":call_id": cdr.call_id,
        ":tracking_number": cdr.tracking_number,
        ":caller": cdr.caller,
        ":destination": cdr.destination,
        ":started_at": SqlTime(cdr.started_at),
        ":answered_at": time_opt(cdr.answered_at),
        ":ended_at": SqlTime(cdr.ended_at),
        ":wait_secs": cdr.wait_secs,
        ":talk_secs": cdr.talk_secs,
        ":disposition": cdr.disposition,
        ":sip_status": cdr.sip_status,
        ":hangup_side": cdr.hangup_side,
        ":site": cdr.site,
        ":number_kind": cdr.number_kind,
        ":source": cdr.source,
        ":medium": cdr.medium,
        ":campaign": cdr.campaign,
        ":term": cdr.term,
        ":content": cdr.content,
        ":referrer": cdr.referrer,
        ":landing_page": cdr.landing_page,
        ":gclid": cdr.gclid,
        ":yclid": cdr.yclid,
        ":ga_client_id": cdr.ga_client_id,
        ":ga_session_id": cdr.ga_session_id,
        ":ym_client_id": cdr.ym_client_id,
        ":region": cdr.region,
        ":session_id": cdr.session_id,
        ":first_time_caller": cdr.first_time_caller,
        ":quality": cdr.quality,
        ":scheme": cdr.scheme,
        ":answered_step": cdr.answered_step,
        ":answered_target": cdr.answered_target,
        ":reject_reason": cdr.reject_reason,
    })?;
    Ok(written > 0)
}

/// Reads one row selected with [`CDR_SELECT`] as `(seq, cdr)`.
pub(super) fn cdr_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, CallDetailRecord)> {
    let cdr = CallDetailRecord {
        id: row.get("id")?,
        call_id: row.get("call_id")?,
        tracking_number: row.get("tracking_number")?,
        caller: row.get("caller")?,
        destination: row.get("destination")?,
        started_at: row.get::<_, SqlTime>("started_at")?.0,
        answered_at: row.get::<_, Option<SqlTime>>("answered_at")?.map(|t| t.0),
        ended_at: row.get::<_, SqlTime>("ended_at")?.0,
        wait_secs: row.get("wait_secs")?,
        talk_secs: row.get("talk_secs")?,
        disposition: row.get("disposition")?,
        sip_status: row.get("sip_status")?,
        hangup_side: row.get("hangup_side")?,
        site: row.get("site")?,
        number_kind: row.get("number_kind")?,
        source: row.get("source")?,
        medium: row.get("medium")?,
        campaign: row.get("campaign")?,
        term: row.get("term")?,
        content: row.get("content")?,
        referrer: row.get("referrer")?,
        landing_page: row.get("landing_page")?,
        gclid: row.get("gclid")?,
        yclid: row.get("yclid")?,
        ga_client_id: row.get("ga_client_id")?,
        ga_session_id: row.get("ga_session_id")?,
        ym_client_id: row.get("ym_client_id")?,
        region: row.get("region")?,
        session_id: row.get("session_id")?,
        first_time_caller: row.get("first_time_caller")?,
        quality: row.get("quality")?,
        scheme: row.get("scheme")?,
        answered_step: row.get("answered_step")?,
        answered_target: row.get("answered_target")?,
        reject_reason: row.get("reject_reason")?,
    };
    Ok((row.get("seq")?, cdr))
}

/// Records a call in progress; a repeated start for the same id is ignored.
pub(super) fn insert_live(conn: &Connection, live: &LiveCall) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO live_calls (id, call_id, tracking_number, caller, destination, \
         started_at, answered_at, attribution, first_time_caller, scheme) \
         VALUES (:id, :call_id, :tracking_number, :caller, :destination, :started_at, :answered_at, \
         :attribution, :first_time_caller, :scheme)",
    )?;
    stmt.execute(named_params! {
        ":id": live.id,
        ":call_id": live.call_id,
        ":tracking_number": live.tracking_number,
        ":caller": live.caller,
        ":destination": live.destination,
        ":started_at": SqlTime(live.started_at),
        ":answered_at": time_opt(live.answered_at),
        ":attribution": SqlAttribution(live.attribution.clone()),
        ":first_time_caller": live.first_time_caller,
        ":scheme": live.scheme,
    })?;
    Ok(())
}

/// Marks a live call answered; returns false if no such live call exists.
pub(super) fn mark_answered(
    conn: &Connection,
    id: &str,
    answered_at: Timestamp,
) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached("UPDATE live_calls SET answered_at = ?2 WHERE id = ?1")?;
    Ok(stmt.execute((id, SqlTime(answered_at)))? > 0)
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

/// Stores an answered call's dialogs on its live row (no row: the call has ended).
pub(super) fn set_dialogs(
    conn: &Connection,
    id: &str,
    dialogs: &CallDialogs,
) -> rusqlite::Result<()> {
    let json = |leg: &LegDialog| {
        serde_json::to_string(leg).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    };
    let mut stmt =
        conn.prepare_cached("UPDATE live_calls SET a_dialog = ?2, b_dialog = ?3 WHERE id = ?1")?;
    stmt.execute((id, json(&dialogs.a)?, json(&dialogs.b)?))?;
    Ok(())
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
