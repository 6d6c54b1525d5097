//! The outbox through the writer's batch path: which facts each command yields, that they
//! commit with their rows, per-subject order of due events, settlements and replay.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;

use super::admin::{self, Replay};
use super::delivery::{self, Settled, Settlement};
use super::enqueue::Enqueue;
use super::{EventKind, EventSet, Subscription};
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use crate::store::batch::apply_batch;
use crate::store::calls::CallChange;
use crate::store::commands::StoreCommand;
use crate::store::schema;

const DAY: Duration = Duration::from_secs(86_400);

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

fn live(id: &str, caller: &str, started: &str) -> LiveCall {
    LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: caller.into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: ts(started),
        answered_at: None,
        attribution: crate::call::attribution::Attribution {
            site: "shop".into(),
            source: Some("google".into()),
            ..Default::default()
        },
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}

fn ended(call: &LiveCall, disposition: Disposition) -> CallDetailRecord {
    let end = call.started_at + jiff::SignedDuration::from_secs(60);
    let status = if disposition == Disposition::Answered {
        200
    } else {
        480
    };
    CallDetailRecord::from_live(call, end, disposition, status, HangupSide::Callee)
}

fn apply(conn: &mut Connection, subs: &[Subscription], batch: &[StoreCommand]) -> usize {
    let mut events = Enqueue::new(subs, ts("2026-12-05T10:00:00Z"));
    apply_batch(conn, batch, DAY, &mut events).unwrap();
    events.added
}

/// (destination, event, subject) of every row, in seq order.
fn rows(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT destination, event, subject FROM outbox ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn row(d: &str, e: &str, s: &str) -> (String, String, String) {
    (d.into(), e.into(), s.into())
}

#[test]
fn a_call_in_one_batch_yields_ringing_answered_and_ended_with_its_cdr() {
    let mut conn = conn();
    let subs = [Subscription::everything("crm")];
    let call = live("a", "79160000001", "2026-12-05T09:00:00Z");
    let mut done = call.clone();
    done.answered_at = Some(ts("2026-12-05T09:00:05Z"));
    let batch = [
        StoreCommand::CallStarted(call),
        StoreCommand::CallAnswered {
            id: "a".into(),
            answered_at: ts("2026-12-05T09:00:05Z"),
        },
        StoreCommand::CallEnded(ended(&done, Disposition::Answered)),
    ];
    assert_eq!(apply(&mut conn, &subs, &batch), 3);
    assert_eq!(
        rows(&conn),
        [
            row("crm", "call.ringing", "a"),
            row("crm", "call.answered", "a"),
            row("crm", "call.ended", "a")
        ]
    );
    let payload: String = conn
        .query_row(
            "SELECT payload FROM outbox WHERE event = 'call.answered'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let fact: super::CallFact = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        fact.answered_at.as_deref(),
        Some("2026-12-05T09:00:05.000Z")
    );
    assert_eq!(fact.attribution.source.as_deref(), Some("google"));
}

#[test]
fn an_answer_in_a_later_batch_reads_the_live_row() {
    let mut conn = conn();
    let subs = [Subscription::everything("crm")];
    apply(
        &mut conn,
        &subs,
        &[StoreCommand::CallStarted(live(
            "a",
            "7916",
            "2026-12-05T09:00:00Z",
        ))],
    );
    let answer = StoreCommand::CallAnswered {
        id: "a".into(),
        answered_at: ts("2026-12-05T09:00:03Z"),
    };
    assert_eq!(apply(&mut conn, &subs, &[answer]), 1);
    assert_eq!(rows(&conn)[1], row("crm", "call.answered", "a"));
}

#[test]
fn nobody_subscribed_writes_nothing_and_filters_apply_per_destination() {
    let mut conn = conn();
    let call = live("a", "7916", "2026-12-05T09:00:00Z");
    assert_eq!(
        apply(&mut conn, &[], &[StoreCommand::CallStarted(call.clone())]),
        0
    );
    let only_ended = Subscription {
        events: EventSet::of(&[EventKind::CallEnded]),
        ..Subscription::everything("ga4")
    };
    let other_site = Subscription {
        sites: vec!["elsewhere".into()],
        ..Subscription::everything("crm2")
    };
    let subs = [only_ended, other_site];
    let batch = [StoreCommand::CallEnded(ended(&call, Disposition::NoAnswer))];
    assert_eq!(apply(&mut conn, &subs, &batch), 1);
    assert_eq!(rows(&conn), [row("ga4", "call.ended", "a")]);
}

#[test]
fn patches_and_callbacks_yield_call_updated() {
    let mut conn = conn();
    let subs = [Subscription::everything("crm")];
    let missed = live("m", "79160000009", "2026-12-05T08:00:00Z");
    apply(
        &mut conn,
        &subs,
        &[StoreCommand::CallEnded(ended(
            &missed,
            Disposition::NoAnswer,
        ))],
    );
    let mut back = live("b", "79160000009", "2026-12-05T09:00:00Z");
    back.answered_at = Some(ts("2026-12-05T09:00:02Z"));
    apply(
        &mut conn,
        &subs,
        &[StoreCommand::CallEnded(ended(&back, Disposition::Answered))],
    );
    let (done, _answer) = tokio::sync::oneshot::channel();
    let patch = StoreCommand::PatchCall {
        id: "b".into(),
        change: CallChange {
            tags: Some(vec!["vip".into()]),
            ..CallChange::default()
        },
        at: ts("2026-12-05T09:30:00Z"),
        done,
    };
    apply(&mut conn, &subs, &[patch]);
    assert_eq!(
        rows(&conn),
        [
            row("crm", "call.ended", "m"),
            row("crm", "call.ended", "b"),
            row("crm", "call.updated", "m"),
            row("crm", "call.updated", "b")
        ]
    );
    let payload: String = conn
        .query_row(
            "SELECT payload FROM outbox WHERE event = 'call.updated' AND subject = 'm'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let fact: super::CallFact = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        fact.called_back_at.as_deref(),
        Some("2026-12-05T09:00:02.000Z")
    );
}

fn settle(conn: &Connection, seq: i64, outcome: Settlement) {
    let s = Settled {
        seq,
        at: ts("2026-12-05T10:00:01Z"),
        attempted: true,
        outcome,
    };
    delivery::settle(conn, &[s]).unwrap();
}

#[test]
fn events_of_one_subject_are_due_in_order_and_kept_answers_follow() {
    let mut conn = conn();
    let subs = [Subscription::everything("crm")];
    let a = live("a", "7916", "2026-12-05T09:00:00Z");
    let b = live("b", "7917", "2026-12-05T09:00:00Z");
    apply(
        &mut conn,
        &subs,
        &[
            StoreCommand::CallStarted(a.clone()),
            StoreCommand::CallStarted(b),
        ],
    );
    apply(
        &mut conn,
        &subs,
        &[StoreCommand::CallEnded(ended(&a, Disposition::NoAnswer))],
    );
    let now = ts("2026-12-05T10:00:00Z");
    let due = |busy: &HashSet<String>| {
        delivery::due(&conn, "crm", now, 10, busy)
            .unwrap()
            .into_iter()
            .map(|e| (e.subject, e.kind))
            .collect::<Vec<_>>()
    };
    // a's end waits behind a's ringing; b is due beside it; a subject in flight is skipped.
    assert_eq!(
        due(&HashSet::new()),
        [
            ("a".into(), EventKind::CallRinging),
            ("b".into(), EventKind::CallRinging)
        ]
    );
    assert_eq!(
        due(&HashSet::from(["a".to_owned()])),
        [("b".into(), EventKind::CallRinging)]
    );
    // a retry later keeps a's end waiting, and shows as the next due time.
    let later = ts("2026-12-05T10:05:00Z");
    settle(
        &conn,
        1,
        Settlement::Retry {
            at: later,
            error: "HTTP 503".into(),
        },
    );
    assert_eq!(due(&HashSet::new()), [("b".into(), EventKind::CallRinging)]);
    assert_eq!(delivery::next_due(&conn, "crm").unwrap(), Some(now));
    settle(
        &conn,
        1,
        Settlement::Delivered {
            kept: Some("CALL-1".into()),
        },
    );
    let next = delivery::due(&conn, "crm", now, 10, &HashSet::new()).unwrap();
    let end = next.iter().find(|e| e.subject == "a").unwrap();
    assert_eq!(
        (end.kind, end.kept.as_deref()),
        (EventKind::CallEnded, Some("CALL-1"))
    );
    let attempts: u32 = conn
        .query_row("SELECT attempts FROM outbox WHERE seq = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(attempts, 2);
}

#[test]
fn dead_letters_count_in_the_backlog_and_replay_brings_them_back() {
    let mut conn = conn();
    let subs = [Subscription::everything("crm")];
    apply(
        &mut conn,
        &subs,
        &[StoreCommand::CallStarted(live(
            "a",
            "7916",
            "2026-12-05T09:00:00Z",
        ))],
    );
    settle(
        &conn,
        1,
        Settlement::Dead {
            error: "HTTP 400".into(),
        },
    );
    let b = admin::backlog(&conn, "crm").unwrap();
    assert_eq!((b.pending, b.dead, b.oldest_pending), (0, 1, None));
    let replay = Replay::Since {
        destination: "crm".into(),
        since: ts("2026-12-05T00:00:00Z"),
    };
    assert_eq!(
        admin::replay(&conn, &replay, ts("2026-12-05T10:10:00Z")).unwrap(),
        1
    );
    let again = delivery::due(
        &conn,
        "crm",
        ts("2026-12-05T10:10:00Z"),
        10,
        &HashSet::new(),
    )
    .unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 0));
    let by_id = Replay::Id {
        destination: "other".into(),
        id: again[0].id.clone(),
    };
    assert_eq!(
        admin::replay(&conn, &by_id, ts("2026-12-05T10:10:00Z")).unwrap(),
        0,
        "wrong destination"
    );
}

#[test]
fn a_failed_batch_leaves_no_outbox_row() {
    let mut conn = conn();
    conn.execute_batch("DROP TABLE cdr").unwrap();
    let subs = [Subscription::everything("crm")];
    let call = live("a", "7916", "2026-12-05T09:00:00Z");
    let batch = [
        StoreCommand::CallStarted(call.clone()),
        StoreCommand::CallEnded(ended(&call, Disposition::NoAnswer)),
    ];
    let mut events = Enqueue::new(&subs, ts("2026-12-05T10:00:00Z"));
    assert!(apply_batch(&mut conn, &batch, DAY, &mut events).is_err());
    assert!(
        rows(&conn).is_empty(),
        "the ringing row rolled back with the failed CDR"
    );
}
