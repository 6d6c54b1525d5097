//! A recording's late facts through the writer's batches: exactly once, in either order.

use std::time::Duration;

use rusqlite::Connection;

use super::*;
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use crate::store::batch::apply_batch;
use crate::store::commands::StoreCommand;
use crate::store::outbox::enqueue::Enqueue;
use crate::store::schema;

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

fn pending(id: &str) -> CallDetailRecord {
    let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    let live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: "79161112233".into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: at("2026-11-23T03:20:00Z"),
        answered_at: Some(at("2026-11-23T03:20:05Z")),
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let mut cdr = CallDetailRecord::from_live(
        &live,
        at("2026-11-23T03:21:00Z"),
        Disposition::Answered,
        200,
        HangupSide::Callee,
    );
    cdr.recording_status = Some(RecordingStatus::Pending);
    cdr
}

fn run(conn: &mut Connection, batch: &[StoreCommand]) -> Vec<bool> {
    let mut events = Enqueue::new(&[], jiff::Timestamp::UNIX_EPOCH);
    apply_batch(conn, batch, Duration::from_secs(60), &mut events)
        .unwrap()
        .1
}

fn recorded(path: &str) -> RecordingSettled {
    RecordingSettled::Recorded {
        path: path.into(),
        bytes: 1044,
        secs: 2,
    }
}

type Row = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn row(conn: &Connection, id: &str) -> Row {
    conn.query_row(
        "SELECT recording_status, recording_reason, recording_path, recording_bytes, \
         recording_secs FROM cdr WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .unwrap()
}

fn settled(id: &str, settled: RecordingSettled) -> StoreCommand {
    StoreCommand::RecordingSettled {
        id: id.into(),
        settled,
        at: jiff::Timestamp::UNIX_EPOCH,
    }
}

#[test]
fn the_cdr_names_the_file_once_written_and_only_once() {
    let mut conn = conn();
    run(&mut conn, &[StoreCommand::CallEnded(pending("a"))]);
    assert_eq!(
        row(&conn, "a"),
        (Some("pending".into()), None, None, None, None)
    );
    let changed = run(&mut conn, &[settled("a", recorded("/r/a.wav"))]);
    assert_eq!(changed, [true]);
    let written = (
        Some("recorded".into()),
        None,
        Some("/r/a.wav".into()),
        Some(1044),
        Some(2),
    );
    assert_eq!(row(&conn, "a"), written);
    let again = run(
        &mut conn,
        &[settled(
            "a",
            RecordingSettled::Failed(RecordingReason::Interrupted),
        )],
    );
    assert_eq!(again, [false], "a settled CDR is never settled again");
    assert_eq!(row(&conn, "a"), written);
}

#[test]
fn an_outcome_that_beats_its_cdr_waits_for_it() {
    let mut conn = conn();
    let failed = RecordingSettled::Failed(RecordingReason::DiskFull);
    assert_eq!(run(&mut conn, &[settled("b", failed)]), [false]);
    run(&mut conn, &[StoreCommand::CallEnded(pending("b"))]);
    assert_eq!(
        row(&conn, "b"),
        (
            Some("failed".into()),
            Some("disk_full".into()),
            None,
            None,
            None
        )
    );
    let waiting: i64 = conn
        .query_row("SELECT count(*) FROM recording_settled", [], |r| r.get(0))
        .unwrap();
    assert_eq!(waiting, 0, "the waiting outcome is used up");
    // Both in one batch, the outcome first.
    run(
        &mut conn,
        &[
            settled("c", recorded("/r/c.pcap")),
            StoreCommand::CallEnded(pending("c")),
        ],
    );
    assert_eq!(row(&conn, "c").0.as_deref(), Some("recorded"));
}

#[test]
fn expiry_clears_the_path_and_wins_over_a_late_outcome() {
    let mut conn = conn();
    run(
        &mut conn,
        &[
            StoreCommand::CallEnded(pending("d")),
            settled("d", recorded("/r/d.wav")),
        ],
    );
    let (done, _answer) = tokio::sync::oneshot::channel();
    let expire = StoreCommand::RecordingsExpired {
        ids: vec!["d".into(), "e".into(), "nobody".into()],
        reason: RecordingReason::DiskBudget,
        done,
    };
    // "e" ends pending, and its file is removed before its outcome arrives.
    run(&mut conn, &[StoreCommand::CallEnded(pending("e")), expire]);
    let expired = (
        Some("expired".into()),
        Some("disk_budget".into()),
        None,
        Some(1044),
        Some(2),
    );
    assert_eq!(row(&conn, "d"), expired);
    run(&mut conn, &[settled("e", recorded("/r/e.wav"))]);
    assert_eq!(row(&conn, "e").0.as_deref(), Some("expired"));
    assert_eq!(row(&conn, "e").2, None, "never the removed file's path");
    let late = pending_before(&conn, "2030-01-01T00:00:00.000Z").unwrap();
    assert!(late.is_empty());
}

#[test]
fn a_crash_leaves_rows_pending_for_the_janitor() {
    let mut conn = conn();
    run(&mut conn, &[StoreCommand::CallEnded(pending("f"))]);
    assert_eq!(
        pending_before(&conn, "2026-11-23T03:30:00.000Z").unwrap(),
        ["f"]
    );
    assert!(
        pending_before(&conn, "2026-11-23T03:20:00.000Z")
            .unwrap()
            .is_empty(),
        "a call that ended after the cut is still being written"
    );
    let found = of_call(&conn, "f").unwrap().unwrap();
    let pending = CallRecording {
        status: Some("pending".into()),
        reason: None,
        path: None,
        node: None,
        node_url: None,
    };
    assert_eq!(found, pending);
    assert_eq!(of_call(&conn, "nobody").unwrap(), None);
}

#[test]
fn a_written_recording_is_announced_once_with_its_url() {
    let mut conn = conn();
    let subs = [crate::store::outbox::Subscription::everything("crm")];
    let mut apply = |batch: &[StoreCommand]| {
        let mut events = Enqueue::new(&subs, jiff::Timestamp::UNIX_EPOCH);
        apply_batch(&mut conn, batch, Duration::from_secs(60), &mut events).unwrap();
    };
    apply(&[StoreCommand::CallEnded(pending("g"))]);
    apply(&[settled("g", recorded("/r/g.wav"))]);
    apply(&[settled("g", recorded("/r/other.wav"))]);
    let mut stmt = conn
        .prepare("SELECT event, payload FROM outbox ORDER BY seq")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let events: Vec<&str> = rows.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(events, ["call.ended", "call.updated"], "once");
    let ended: crate::store::outbox::CallFact = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(
        ended.recording_url, None,
        "not written yet when the call ended"
    );
    let updated: crate::store::outbox::CallFact = serde_json::from_str(&rows[1].1).unwrap();
    assert_eq!(
        updated.recording_url.as_deref(),
        Some("/v1/calls/g/recording")
    );
}

#[test]
fn the_janitors_lookup_reads_only_pending_rows() {
    let conn = conn();
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {PENDING_BEFORE}"))
        .unwrap()
        .query_map(["2030-01-01T00:00:00.000Z"], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter()
            .any(|step| step.contains("cdr_recording_pending")),
        "{plan:?}"
    );
}
