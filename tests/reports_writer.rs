//! Reports over what the real store writer wrote: CDRs through `StoreCommand::CallEnded`
//! (one written late, after a later call of the same caller, one twice) and costs through
//! `StoreCommand::ReplaceCosts`, read back through the rollup path and the row path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::report::{ReportInput, ReportRequest, Sums, Zones};
use calltrack::store::costs::CostRow;
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer};

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}

fn cdr(id: &str, caller: &str, at: &str, answered: bool) -> CallDetailRecord {
    let attribution = calltrack::call::attribution::Attribution {
        source: Some("google".into()),
        ..Default::default()
    };
    let mut live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: caller.into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: ts(at),
        answered_at: None,
        attribution,
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let (disposition, status) = if answered {
        live.answered_at = Some(live.started_at + jiff::SignedDuration::from_secs(4));
        (Disposition::Answered, 200)
    } else {
        (Disposition::NoAnswer, 480)
    };
    let end = live.started_at + jiff::SignedDuration::from_secs(90);
    CallDetailRecord::from_live(&live, end, disposition, status, HangupSide::Caller)
}

fn total(path: &std::path::Path, by: &str) -> Sums {
    let conn = calltrack::store::open_read_only(path).unwrap();
    let zones = Zones::default();
    let input = ReportInput {
        from: Some("2026-12-01".into()),
        to: Some("2026-12-01".into()),
        by: Some(by.into()),
        ..ReportInput::default()
    };
    let request = ReportRequest::parse(&input, &zones, "RUB").unwrap();
    let facts = calltrack::store::report_facts::facts_of(&conn, &request.queries(&zones)).unwrap();
    calltrack::report::build::total_of(facts)
}

#[tokio::test]
async fn what_the_writer_writes_is_what_reports_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr.sqlite");
    let options = WriterOptions {
        queue_capacity: 64,
        batch_max_records: 2,
        flush_interval: Duration::from_millis(1),
        ..WriterOptions::default()
    };
    let (sender, handle) = spawn_writer(&path, options).unwrap();
    for record in [
        cdr("a", "79160000001", "2026-12-01T09:00:00Z", true),
        cdr("c", "79160000001", "2026-12-01T11:00:00Z", false),
        cdr("b", "79160000001", "2026-12-01T10:00:00Z", true),
        cdr("b", "79160000001", "2026-12-01T10:00:00Z", true),
        cdr("d", "79160000002", "2026-12-01T12:00:00Z", true),
        cdr("e", "79160000003", "2026-11-30T12:00:00Z", true),
    ] {
        sender.send(StoreCommand::CallEnded(record)).await.unwrap();
    }
    let row = CostRow {
        day: jiff::civil::date(2026, 12, 1),
        site: String::new(),
        source: "google".into(),
        medium: String::new(),
        campaign: String::new(),
        amount_minor: 12_345,
        currency: "RUB".into(),
    };
    let stored = sender
        .request(|done| StoreCommand::ReplaceCosts {
            rows: vec![row],
            imported_at: ts("2026-12-02T00:00:00Z"),
            done,
        })
        .await
        .unwrap();
    assert!(stored);
    drop(sender);
    tokio::task::spawn_blocking(move || handle.shutdown())
        .await
        .unwrap()
        .unwrap();

    let rolled = total(&path, "source");
    let scanned = total(&path, "device");
    assert_eq!(rolled, scanned);
    assert_eq!(rolled.calls, 4);
    assert_eq!(rolled.unique_callers, 2);
    assert_eq!(rolled.answered, 3);
    assert_eq!(rolled.missed, 1);
    assert_eq!(rolled.cost_minor, 12_345);
}
