//! CDR store end to end: writer thread under load, crash recovery across a reopen, CLI output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::cli::cdr::{CdrArgs, CdrCommand, CdrPrinter, OutputFormat, run_to, tail};
use calltrack::store::{
    self, StoreCommand, StoreError, WriterHandle, WriterOptions, WriterStats, spawn_writer,
};

fn live(i: usize) -> LiveCall {
    LiveCall {
        id: format!("{i:016x}"),
        call_id: format!("{i}-a-leg@carrier.example"),
        tracking_number: "74951234567".into(),
        caller: format!("7916{i:07}"),
        destination: "sip:sales@pbx.example".into(),
        started_at: ts("2026-11-23T03:20:00.250Z"),
        answered_at: None,
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}

fn answered_cdr(i: usize) -> CallDetailRecord {
    let mut call = live(i);
    call.answered_at = Some(ts("2026-11-23T03:20:05Z"));
    let end = ts("2026-11-23T03:22:00Z");
    CallDetailRecord::from_live(&call, end, Disposition::Answered, 200, HangupSide::Callee)
}

fn test_options() -> WriterOptions {
    WriterOptions {
        queue_capacity: 64,
        batch_max_records: 50,
        flush_interval: Duration::from_millis(1),
        ..WriterOptions::default()
    }
}

async fn shutdown(handle: WriterHandle) -> Result<WriterStats, StoreError> {
    tokio::task::spawn_blocking(move || handle.shutdown())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_thousand_cdrs_from_a_task_are_all_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var/cdr.sqlite");
    let (sender, handle) = spawn_writer(&path, test_options()).unwrap();

    let producer = tokio::spawn(async move {
        for i in 0..1000 {
            sender
                .send(StoreCommand::CallEnded(answered_cdr(i)))
                .await
                .unwrap();
        }
    });
    producer.await.unwrap();
    let stats = shutdown(handle).await.unwrap();

    assert_eq!(stats.cdrs_written, 1000);
    assert!(stats.batches >= 20, "batches bounded by batch_max_records");
    assert!(stats.largest_batch <= 50);
    let conn = store::open_existing(&path).unwrap();
    assert_eq!(store::count(&conn).unwrap(), 1000);
    assert!(store::integrity_check(&conn).unwrap());
}

#[tokio::test]
async fn a_call_live_at_a_crash_becomes_one_interrupted_cdr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr.sqlite");
    let answered_at = ts("2026-11-23T03:20:04.900Z");
    let (sender, handle) = spawn_writer(&path, test_options()).unwrap();
    sender
        .send(StoreCommand::CallStarted(live(7)))
        .await
        .unwrap();
    let answer = StoreCommand::CallAnswered {
        id: live(7).id,
        answered_at,
    };
    sender.send(answer).await.unwrap();
    // The process "dies": no CallEnded ever comes.
    drop(sender);
    shutdown(handle).await.unwrap();

    let now = ts("2026-11-23T03:30:00Z");
    let conn = store::open(&path).unwrap();
    assert_eq!(store::recover_interrupted(&conn, now).unwrap(), 1);
    assert_eq!(store::recover_interrupted(&conn, now).unwrap(), 0);

    let cdrs = store::list_recent(&conn, 10).unwrap();
    assert_eq!(cdrs.len(), 1);
    let cdr = &cdrs[0].cdr;
    assert_eq!(cdr.disposition, Disposition::Interrupted);
    assert_eq!(cdr.hangup_side, HangupSide::System);
    assert_eq!(cdr.answered_at, Some(answered_at));
    assert_eq!(cdr.ended_at, now);
    assert_eq!((cdr.wait_secs, cdr.talk_secs), (4, 595));
}

/// Writes CDRs `ids` through a writer of its own and waits until they are committed.
fn seed(path: &Path, ids: std::ops::Range<usize>) {
    let (sender, handle) = spawn_writer(path, test_options()).unwrap();
    for i in ids {
        sender
            .try_send(StoreCommand::CallEnded(answered_cdr(i)))
            .unwrap();
    }
    drop(sender);
    handle.shutdown().unwrap();
}

fn list_json(db: &Path, limit: usize) -> Vec<serde_json::Value> {
    let args = CdrArgs {
        command: CdrCommand::List {
            db: Some(db.to_path_buf()),
            limit,
            filter: Default::default(),
            format: OutputFormat::Json,
        },
    };
    let mut out = Vec::new();
    run_to(args, Path::new("/nonexistent/default.sqlite"), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn cdr_list_prints_the_newest_n_oldest_first_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr.sqlite");
    seed(&path, 0..5);
    let rows = list_json(&path, 3);
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["0000000000000002", "0000000000000003", "0000000000000004"]
    );
    assert_eq!(rows[0]["started_at"], "2026-11-23T03:20:00.250Z");
    assert_eq!(rows[0]["hangup_side"], "callee");
}

#[test]
fn cdr_list_on_a_missing_database_is_a_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.sqlite");
    let args = CdrArgs {
        command: CdrCommand::List {
            db: None,
            limit: 20,
            filter: Default::default(),
            format: OutputFormat::Table,
        },
    };
    let err = run_to(args, &path, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no CDR database at {}", path.display())
    );
    assert!(!path.exists());
}

#[test]
fn tail_prints_the_backlog_then_follows_new_cdrs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr.sqlite");
    seed(&path, 0..12);
    let reader = store::open_existing(&path).unwrap();

    let mut out = Vec::new();
    let mut polls = 0;
    let mut printer = CdrPrinter::new(&mut out, OutputFormat::Csv);
    tail(&reader, Duration::ZERO, &mut printer, || {
        polls += 1;
        if polls == 1 {
            seed(&path, 100..101);
        }
        polls <= 3
    })
    .unwrap();

    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,call_id,"));
    assert!(
        lines[1].starts_with("0000000000000002,"),
        "backlog is the last 10"
    );
    assert_eq!(lines.len(), 1 + 10 + 1);
    assert!(
        lines[11].starts_with("0000000000000064,"),
        "followed the new CDR"
    );
}

#[test]
fn timestamps_with_offsets_are_stored_as_utc() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr.sqlite");
    let mut cdr = answered_cdr(1);
    cdr.started_at = "2026-11-23T06:20:00.250+03:00".parse().unwrap();
    let (sender, handle) = spawn_writer(&path, test_options()).unwrap();
    sender.try_send(StoreCommand::CallEnded(cdr)).unwrap();
    drop(sender);
    handle.shutdown().unwrap();
    let rows = list_json(&path, 1);
    assert_eq!(rows[0]["started_at"], "2026-11-23T03:20:00.250Z");
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
