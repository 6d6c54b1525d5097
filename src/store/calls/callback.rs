//! Missed calls and their callbacks, kept by the writer: when it writes an answered CDR, the
//! same caller's earlier missed calls within the callback window that have not been called
//! back yet get `called_back_at`, in the same transaction as the answered CDR.

use std::time::Duration;

use rusqlite::Connection;

use crate::call::record::{CallDetailRecord, Disposition, rfc3339};

/// Marks the missed calls `answered` calls back; returns the ids of those marked. A call with
/// no caller number (anonymous) calls nobody back.
pub(in crate::store) fn mark_called_back(
    conn: &Connection,
    answered: &CallDetailRecord,
    window: Duration,
) -> rusqlite::Result<Vec<String>> {
    if answered.disposition != Disposition::Answered || answered.caller.is_empty() {
        return Ok(Vec::new());
    }
    let window = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
    let since = answered
        .started_at
        .checked_sub(window)
        .unwrap_or(jiff::Timestamp::MIN);
    let (since, started) = (rfc3339::format(since), rfc3339::format(answered.started_at));
    // The partial index `cdr_missed_open (caller, started_at)` holds exactly these rows. Most
    // answered calls call nobody back: a read-only probe finds that without the UPDATE's write
    // cursors on `cdr` and its indexes (issue 12: the UPDATE was 3 % of the daemon's CPU).
    let mut probe = conn.prepare_cached(
        "SELECT 1 FROM cdr WHERE caller = ?1 AND missed = 1 AND called_back_at IS NULL \
         AND started_at >= ?2 AND started_at < ?3 LIMIT 1",
    )?;
    if !probe.exists((&answered.caller, &since, &started))? {
        return Ok(Vec::new());
    }
    let at = answered.answered_at.unwrap_or(answered.started_at);
    let mut stmt = conn.prepare_cached(
        "UPDATE cdr SET called_back_at = ?1 \
         WHERE caller = ?2 AND missed = 1 AND called_back_at IS NULL \
         AND started_at >= ?3 AND started_at < ?4 RETURNING id",
    )?;
    let ids = stmt.query_map(
        (rfc3339::format(at), &answered.caller, &since, &started),
        |row| row.get(0),
    )?;
    ids.collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;

    use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
    use crate::store::batch::apply_batch;
    use crate::store::commands::StoreCommand;
    use crate::store::schema;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn cdr(id: &str, caller: &str, started: &str, disposition: Disposition) -> CallDetailRecord {
        let started_at: jiff::Timestamp = started.parse().unwrap();
        let answered = disposition == Disposition::Answered;
        let live = LiveCall {
            id: id.into(),
            call_id: format!("{id}@carrier"),
            tracking_number: "74951234567".into(),
            caller: caller.into(),
            destination: "sip:sales@pbx.example".into(),
            started_at,
            answered_at: answered.then(|| started_at + jiff::SignedDuration::from_secs(5)),
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        };
        let end = started_at + jiff::SignedDuration::from_secs(60);
        let status = if answered { 200 } else { 480 };
        CallDetailRecord::from_live(&live, end, disposition, status, HangupSide::System)
    }

    fn called_back(conn: &Connection, id: &str) -> Option<String> {
        conn.query_row("SELECT called_back_at FROM cdr WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    }

    fn write(conn: &mut Connection, cdrs: Vec<CallDetailRecord>) {
        let batch: Vec<StoreCommand> = cdrs.into_iter().map(StoreCommand::CallEnded).collect();
        apply_batch(
            conn,
            &batch,
            DAY,
            &mut crate::store::outbox::enqueue::Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
    }

    #[test]
    fn an_answered_call_calls_back_the_same_callers_missed_calls_in_the_window() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let a = "79161112233";
        write(
            &mut conn,
            vec![
                cdr("old", a, "2026-11-21T09:00:00Z", Disposition::NoAnswer),
                cdr("busy", a, "2026-11-22T10:00:00Z", Disposition::Busy),
                cdr(
                    "other",
                    "79990000000",
                    "2026-11-22T11:00:00Z",
                    Disposition::NoAnswer,
                ),
                cdr("refused", a, "2026-11-22T11:30:00Z", Disposition::Rejected),
            ],
        );
        // Same batch: the missed call and the answered one that calls it back.
        write(
            &mut conn,
            vec![
                cdr("missed", a, "2026-11-23T08:00:00Z", Disposition::Cancelled),
                cdr("back", a, "2026-11-23T09:00:00Z", Disposition::Answered),
            ],
        );
        assert_eq!(
            called_back(&conn, "missed").as_deref(),
            Some("2026-11-23T09:00:05.000Z"),
            "called back at the answer"
        );
        assert!(
            called_back(&conn, "busy").is_some(),
            "23 h before: within 24 h"
        );
        assert_eq!(called_back(&conn, "old"), None, "48 h before: outside");
        assert_eq!(called_back(&conn, "other"), None, "another caller");
        assert_eq!(
            called_back(&conn, "refused"),
            None,
            "refused calls are not missed"
        );
        assert_eq!(
            called_back(&conn, "back"),
            None,
            "an answered call is not missed"
        );

        // A second answered call does not move a callback already set.
        write(
            &mut conn,
            vec![cdr(
                "again",
                a,
                "2026-11-23T10:00:00Z",
                Disposition::Answered,
            )],
        );
        assert_eq!(
            called_back(&conn, "missed").as_deref(),
            Some("2026-11-23T09:00:05.000Z")
        );
    }

    #[test]
    fn a_later_missed_call_is_not_called_back_by_an_earlier_answer() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let a = "79161112233";
        write(
            &mut conn,
            vec![
                cdr("back", a, "2026-11-23T09:00:00Z", Disposition::Answered),
                cdr("missed", a, "2026-11-23T09:30:00Z", Disposition::NoAnswer),
                cdr("anon", "", "2026-11-23T09:40:00Z", Disposition::NoAnswer),
                cdr("anon2", "", "2026-11-23T09:50:00Z", Disposition::Answered),
            ],
        );
        assert_eq!(called_back(&conn, "missed"), None);
        assert_eq!(called_back(&conn, "anon"), None, "no number, no callback");
    }
}
