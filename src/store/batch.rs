//! Applies one batch of store commands in a single transaction, in queue order: each command
//! goes to the handler of its table (`columns` for calls, `leases`, `blacklist`, `leads`).

use std::time::Duration;

use rusqlite::Connection;

use super::commands::StoreCommand;
use super::live_fold::{LivePlan, LiveStep};
use super::live_rows::LiveRows;
use super::outbox::enqueue::Enqueue;
use super::{
    blacklist, calls, columns, costs, leads, leases, outbox, pool_usage, recordings, scoring,
    transcripts,
};
use crate::call::record::rfc3339;
use crate::call::recording::RecordingStatus;

/// What one committed batch changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchOutcome {
    pub cdrs_written: u64,
    pub duplicate_cdrs: u64,
    pub unknown_answers: u64,
}

/// [`apply_tracked`] for a one-off batch that does not know which live rows exist.
#[cfg(test)]
pub(super) fn apply_batch(
    conn: &mut Connection,
    batch: &[StoreCommand],
    callback_window: Duration,
    events: &mut Enqueue<'_>,
) -> rusqlite::Result<(BatchOutcome, Vec<bool>)> {
    let mut live = LiveRows::untracked();
    apply_tracked(conn, batch, callback_window, events, &mut live)
}

/// All or nothing: on error the transaction rolls back and the batch can be retried as is.
/// An answered CDR marks its caller's missed calls within `callback_window` called back.
/// The facts the batch writes go to the outbox through `events`, in the same transaction.
/// Each call's live-row commands are folded into one write (see [`super::live_fold`]), and
/// `live` (which live rows exist) spares the statements that would find no row; it follows
/// the commit. Also returns, per command, whether it changed a row (the answer for commands
/// that wait; for an inserted lead: whether it is first-time).
pub(super) fn apply_tracked(
    conn: &mut Connection,
    batch: &[StoreCommand],
    callback_window: Duration,
    events: &mut Enqueue<'_>,
    live: &mut LiveRows,
) -> rusqlite::Result<(BatchOutcome, Vec<bool>)> {
    live.begin();
    let tx = conn.transaction()?;
    let mut outcome = BatchOutcome::default();
    let plan = LivePlan::new(batch);
    let mut facts = outbox::from_batch::Facts::new(batch, events);
    let mut called_back = Vec::new();
    let mut changed = Vec::with_capacity(batch.len());
    for (index, cmd) in batch.iter().enumerate() {
        called_back.clear();
        let done = match plan.step(index, cmd) {
            LiveStep::Folded => true,
            LiveStep::Write(fold) => write_live(&tx, fold, live, &mut outcome)?,
            LiveStep::None => apply(
                &tx,
                cmd,
                callback_window,
                &mut outcome,
                &mut called_back,
                live,
            )?,
        };
        facts.record(&tx, cmd, done, &called_back)?;
        changed.push(done);
    }
    tx.commit()?;
    live.committed();
    Ok((outcome, changed))
}

/// Writes one call's folded live row: inserted whole if it started in this batch, else
/// updated (when it may exist); returns whether a row was written.
fn write_live(
    conn: &Connection,
    fold: &super::live_fold::LiveFold<'_>,
    live: &mut LiveRows,
    outcome: &mut BatchOutcome,
) -> rusqlite::Result<bool> {
    let id = fold.id();
    let mut written = false;
    if let Some(started) = fold.started {
        written = columns::insert_live(conn, started, fold.change)?;
        if written {
            live.inserted(id);
        }
    }
    if !written && live.may_exist(id) {
        written = columns::update_live(conn, id, fold.change)?;
    }
    if fold.change.answered_at.is_some() && !written {
        outcome.unknown_answers += 1;
        tracing::debug!(call = %id, "answer for a call that is not live; ignored");
    }
    Ok(written)
}

/// Applies one command; an answered CDR's callback marks land in `called_back` (their ids).
fn apply(
    conn: &Connection,
    cmd: &StoreCommand,
    callback_window: Duration,
    outcome: &mut BatchOutcome,
    called_back: &mut Vec<String>,
    live: &mut LiveRows,
) -> rusqlite::Result<bool> {
    match cmd {
        // Live-row commands go through the batch's fold (`write_live`).
        StoreCommand::CallStarted(_)
        | StoreCommand::CallAnswered { .. }
        | StoreCommand::DialogsChanged { .. } => Ok(true),
        StoreCommand::CallEnded(cdr) => {
            let written = columns::insert_cdr(conn, cdr)?;
            if written {
                outcome.cdrs_written += 1;
                *called_back = calls::mark_called_back(conn, cdr, callback_window)?;
                if cdr.recording_status == Some(RecordingStatus::Pending) {
                    recordings::adopt(conn, &cdr.id)?;
                }
            } else {
                outcome.duplicate_cdrs += 1;
                tracing::warn!(call = %cdr.id, "duplicate CDR ignored");
            }
            if live.may_exist(&cdr.id) {
                columns::delete_live(conn, &cdr.id)?;
                live.deleted(&cdr.id);
            }
            Ok(written)
        }
        StoreCommand::SaveLeases { snapshot, .. } => {
            leases::replace_snapshot(conn, snapshot).map(|()| true)
        }
        StoreCommand::BlacklistAdd {
            pattern, added_at, ..
        } => blacklist::insert(conn, pattern, *added_at),
        StoreCommand::BlacklistRemove { pattern, .. } => blacklist::remove(conn, pattern),
        StoreCommand::PatchCall { id, change, at, .. } => {
            calls::patch::apply(conn, id, change, *at)
        }
        StoreCommand::SavePoolUsage {
            samples,
            prune_before,
            ..
        } => pool_usage::record(conn, samples, *prune_before).map(|()| true),
        StoreCommand::ReplaceCosts {
            rows, imported_at, ..
        } => costs::replace(conn, rows, *imported_at).map(|_| true),
        StoreCommand::InsertLead { lead, window, .. } => leads::insert(conn, lead, *window),
        StoreCommand::PatchLead { id, patch, at, .. } => leads::patch(conn, id, patch, *at),
        StoreCommand::OutboxSettle { settled, .. } => {
            outbox::delivery::settle(conn, settled).map(|()| true)
        }
        StoreCommand::MetricaUploads { uploads, .. } => {
            outbox::metrica_uploads::record(conn, uploads).map(|()| true)
        }
        StoreCommand::OutboxReplay { replay, at, .. } => {
            outbox::admin::replay(conn, replay, *at).map(|n| n > 0)
        }
        StoreCommand::OutboxPrune { before, .. } => {
            outbox::delivery::prune_delivered(conn, *before).map(|n| n > 0)
        }
        StoreCommand::RecordingSettled { id, settled, .. } => recordings::settle(conn, id, settled),
        StoreCommand::RecordingsExpired { ids, reason, .. } => {
            recordings::expire(conn, ids, *reason).map(|n| n > 0)
        }
        StoreCommand::Transcribed {
            call_id,
            outcome,
            at,
            ..
        } => transcripts::apply(conn, call_id, outcome, &rfc3339::format(*at)),
        StoreCommand::Rescored { call_id, score, .. } => {
            scoring::set_score_if_unscored(conn, call_id, score)
        }
        StoreCommand::SaveScoringModel {
            model, kept, at, ..
        } => scoring::save_model(conn, model, *kept, &rfc3339::format(*at)).map(|_| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
    use crate::store::{query, schema};

    const DAY: Duration = Duration::from_secs(86_400);

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn conn() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        conn
    }

    fn live(id: &str) -> LiveCall {
        LiveCall {
            id: id.into(),
            call_id: format!("{id}@carrier"),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:sales@pbx.example".into(),
            started_at: ts("2026-11-23T03:20:00Z"),
            answered_at: None,
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        }
    }

    fn ended(id: &str) -> CallDetailRecord {
        CallDetailRecord::from_live(
            &live(id),
            ts("2026-11-23T03:21:00Z"),
            Disposition::Answered,
            200,
            HangupSide::Callee,
        )
    }

    fn live_rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM live_calls", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn start_answer_end_leaves_one_cdr_and_no_live_row() {
        let mut conn = conn();
        let batch = [
            StoreCommand::CallStarted(live("a")),
            StoreCommand::CallAnswered {
                id: "a".into(),
                answered_at: ts("2026-11-23T03:20:05Z"),
            },
        ];
        apply_batch(
            &mut conn,
            &batch,
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        let answered: Option<String> = conn
            .query_row(
                "SELECT answered_at FROM live_calls WHERE id = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(answered.as_deref(), Some("2026-11-23T03:20:05.000Z"));

        let (out, _) = apply_batch(
            &mut conn,
            &[StoreCommand::CallEnded(ended("a"))],
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        assert_eq!(out.cdrs_written, 1);
        assert_eq!(live_rows(&conn), 0);
        assert_eq!(query::list_recent(&conn, 10).unwrap()[0].cdr, ended("a"));
    }

    #[test]
    fn a_call_that_starts_and_ends_in_one_batch_writes_only_its_cdr() {
        let mut conn = conn();
        let batch = [
            StoreCommand::CallStarted(live("a")),
            StoreCommand::CallAnswered {
                id: "a".into(),
                answered_at: ts("2026-11-23T03:20:05Z"),
            },
            StoreCommand::CallStarted(live("b")),
            StoreCommand::CallEnded(ended("a")),
        ];
        let (out, changed) = apply_batch(
            &mut conn,
            &batch,
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        assert_eq!(out.cdrs_written, 1);
        assert_eq!(out.unknown_answers, 0);
        assert_eq!(changed, [true, true, true, true]);
        let live_ids: Vec<String> = conn
            .prepare("SELECT id FROM live_calls")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(live_ids, ["b"], "the call still going keeps its live row");
        assert_eq!(query::list_recent(&conn, 10).unwrap()[0].cdr, ended("a"));
    }

    /// A call held across batches, as the writer sees it (tracked live rows): one insert
    /// carries the start, the answer and the dialogs; the CDR's batch deletes the row; an
    /// answer or a CDR for a call with no live row costs no statement and is still counted.
    #[test]
    fn a_held_call_gets_one_live_row_write_and_its_delete() {
        use crate::call::live_dialog::{CallDialogs, LegDialog};
        let leg = LegDialog {
            call_id: "a@carrier".into(),
            local_tag: "l".into(),
            remote_tag: None,
            local_uri: "<sip:a@x>".into(),
            remote_uri: "<sip:b@y>".into(),
            local_seq: 1,
            remote_target: "sip:b@127.0.0.1:5080".into(),
            route_set: vec![],
            transport: "UDP".into(),
            peer: "127.0.0.1:5080".parse().unwrap(),
            local_contact: "<sip:127.0.0.1:5060>".into(),
        };
        let mut conn = conn();
        let mut rows = LiveRows::load(&conn).unwrap();
        let mut apply = |conn: &mut Connection, batch: &[StoreCommand]| {
            let mut events = Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH);
            apply_tracked(conn, batch, DAY, &mut events, &mut rows).unwrap()
        };
        let answered = |id: &str| StoreCommand::CallAnswered {
            id: id.into(),
            answered_at: ts("2026-11-23T03:20:05Z"),
        };
        let batch = [
            StoreCommand::CallStarted(live("a")),
            answered("a"),
            StoreCommand::DialogsChanged {
                id: "a".into(),
                dialogs: CallDialogs {
                    a: leg.clone(),
                    b: leg,
                },
            },
        ];
        assert_eq!(apply(&mut conn, &batch).1, [true, true, true]);
        let (answered_at, a_dialog): (Option<String>, Option<String>) = conn
            .query_row(
                "SELECT answered_at, a_dialog FROM live_calls WHERE id = 'a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(answered_at.as_deref(), Some("2026-11-23T03:20:05.000Z"));
        assert!(a_dialog.is_some_and(|d| d.contains("a@carrier")));

        let batch = [
            answered("ghost"),
            StoreCommand::CallEnded(ended("a")),
            StoreCommand::CallEnded(ended("never-live")),
        ];
        let (out, changed) = apply(&mut conn, &batch);
        assert_eq!((out.cdrs_written, out.unknown_answers), (2, 1));
        assert_eq!(changed, [false, true, true]);
        assert_eq!(live_rows(&conn), 0);
    }

    #[test]
    fn duplicate_call_ended_is_ignored() {
        let mut conn = conn();
        let batch = [
            StoreCommand::CallEnded(ended("a")),
            StoreCommand::CallEnded(ended("a")),
        ];
        let (out, _) = apply_batch(
            &mut conn,
            &batch,
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        apply_batch(
            &mut conn,
            &[StoreCommand::CallEnded(ended("a"))],
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        assert_eq!((out.cdrs_written, out.duplicate_cdrs), (1, 1));
        assert_eq!(query::count(&conn).unwrap(), 1);
    }

    #[test]
    fn answer_for_unknown_call_is_counted_not_fatal() {
        let mut conn = conn();
        let batch = [StoreCommand::CallAnswered {
            id: "ghost".into(),
            answered_at: ts("2026-11-23T03:20:05Z"),
        }];
        assert_eq!(
            apply_batch(
                &mut conn,
                &batch,
                DAY,
                &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH)
            )
            .unwrap()
            .0
            .unknown_answers,
            1
        );
    }

    #[test]
    fn dialogs_are_kept_on_the_live_row_until_the_call_ends() {
        use crate::call::live_dialog::{CallDialogs, LegDialog};
        let leg = |call_id: &str| LegDialog {
            call_id: call_id.into(),
            local_tag: "l".into(),
            remote_tag: Some("r".into()),
            local_uri: "<sip:a@x>".into(),
            remote_uri: "<sip:b@y>".into(),
            local_seq: 3,
            remote_target: "sip:b@127.0.0.1:5080".into(),
            route_set: vec![],
            transport: "UDP".into(),
            peer: "127.0.0.1:5080".parse().unwrap(),
            local_contact: "<sip:127.0.0.1:5060>".into(),
        };
        let dialogs = CallDialogs {
            a: leg("a@carrier"),
            b: leg("b@calltrack"),
        };
        let changed = |id: &str| StoreCommand::DialogsChanged {
            id: id.into(),
            dialogs: dialogs.clone(),
        };
        let mut conn = conn();
        apply_batch(
            &mut conn,
            &[StoreCommand::CallStarted(live("a")), changed("a")],
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        let a_dialog: String = conn
            .query_row("SELECT a_dialog FROM live_calls WHERE id = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(a_dialog.contains("a@carrier"));
        let batch = [
            StoreCommand::CallEnded(ended("a")),
            changed("a"),
            changed("ghost"),
        ];
        apply_batch(
            &mut conn,
            &batch,
            DAY,
            &mut Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH),
        )
        .unwrap();
        assert_eq!(live_rows(&conn), 0);
    }
}
