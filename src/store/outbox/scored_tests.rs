//! `send = "target"`: GA4 and Metrica take a call only once it is scored, exactly once; a
//! call scored not target is dropped with its reason kept in the outbox; an unscored call is
//! held (nothing is written for it).

use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;

use super::enqueue::Enqueue;
use super::{EventKind, EventSet, Need, Subscription};
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use crate::call::scoring::Score;
use crate::config::exports::Send;
use crate::store::batch::apply_batch;
use crate::store::commands::StoreCommand;
use crate::store::schema;
use crate::store::transcripts::SpeechOutcome;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn reply<T>() -> tokio::sync::oneshot::Sender<T> {
    tokio::sync::oneshot::channel().0
}

/// A recorded, answered call with a GA client id, its transcript queued.
fn recorded_call(conn: &mut Connection, subs: &[Subscription], id: &str) {
    let live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: "79161112233".into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: ts("2026-12-05T09:00:00Z"),
        answered_at: Some(ts("2026-12-05T09:00:05Z")),
        attribution: crate::call::attribution::Attribution {
            site: "shop".into(),
            ga_client_id: Some("123.456".into()),
            ..Default::default()
        },
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let end = ts("2026-12-05T09:01:00Z");
    let cdr =
        CallDetailRecord::from_live(&live, end, Disposition::Answered, 200, HangupSide::Callee);
    apply(conn, subs, vec![StoreCommand::CallEnded(cdr)]);
    conn.execute(
        "UPDATE cdr SET recording_status = 'recorded', recording_path = '/r/' || id || '.wav' \
         WHERE id = ?1",
        [id],
    )
    .unwrap();
}

fn transcribed(id: &str, score: Option<Score>) -> StoreCommand {
    StoreCommand::Transcribed {
        call_id: id.into(),
        outcome: SpeechOutcome::Done {
            transcript: Box::default(),
            engine: "http",
            score,
        },
        at: ts("2026-12-05T09:05:00Z"),
        done: reply(),
    }
}

fn score(p: f64) -> Option<Score> {
    Some(Score {
        target_probability: p,
        target: p >= 0.5,
        model_id: 1,
    })
}

fn apply(conn: &mut Connection, subs: &[Subscription], batch: Vec<StoreCommand>) -> usize {
    let mut events = Enqueue::new(subs, ts("2026-12-05T10:00:00Z"));
    apply_batch(conn, &batch, Duration::from_secs(86_400), &mut events).unwrap();
    events.added
}

/// (event, subject, state, last_error) of one destination's rows, in order.
fn rows(conn: &Connection, destination: &str) -> Vec<(String, String, String, Option<String>)> {
    let mut stmt = conn
        .prepare(
            "SELECT event, subject, state, last_error FROM outbox WHERE destination = ?1 \
             ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([destination], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn target_only_exports_send_scored_target_calls_once_and_drop_the_rest_with_a_reason() {
    let ga4 = Subscription {
        destination: "ga4".into(),
        events: EventSet::of(&[EventKind::CallScored]),
        sites: Vec::new(),
        qualifier: Send::Target,
        need: Some(Need::GaClientId),
    };
    let hook = Subscription::everything("hook");
    let subs = [ga4, hook];
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    for id in ["buyer", "spam", "unscored"] {
        recorded_call(&mut conn, &subs, id);
    }
    // Ended calls are held: nothing for GA4 before the score.
    assert!(rows(&conn, "ga4").is_empty());

    let batch = vec![
        transcribed("buyer", score(0.91)),
        transcribed("spam", score(0.12)),
        transcribed("unscored", None),
    ];
    let added = apply(&mut conn, &subs, batch);
    assert_eq!(added, 3, "ga4 buyer + the webhook's two call.scored");
    let ga4_rows = rows(&conn, "ga4");
    assert_eq!(ga4_rows.len(), 2, "{ga4_rows:?}");
    assert_eq!(
        (
            ga4_rows[0].0.as_str(),
            ga4_rows[0].1.as_str(),
            ga4_rows[0].2.as_str()
        ),
        ("call.scored", "buyer", "pending")
    );
    assert_eq!(
        (ga4_rows[1].1.as_str(), ga4_rows[1].2.as_str()),
        ("spam", "dead")
    );
    let reason = ga4_rows[1].3.as_deref().unwrap();
    assert!(reason.starts_with("dropped: scored not target"), "{reason}");

    // The webhook's payload carries the verdict.
    let payload: String = conn
        .query_row(
            "SELECT payload FROM outbox WHERE destination = 'hook' AND subject = 'buyer' \
             AND event = 'call.scored'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let fact: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(fact["target"], true);
    assert_eq!(fact["target_probability"], 0.91);

    // A repeated outcome (a job that is gone) scores and sends nothing again.
    assert_eq!(
        apply(&mut conn, &subs, vec![transcribed("buyer", score(0.95))]),
        0
    );
    assert_eq!(rows(&conn, "ga4").len(), 2);
}

fn rescored(id: &str, p: f64) -> StoreCommand {
    StoreCommand::Rescored {
        call_id: id.into(),
        score: Score {
            target_probability: p,
            target: p >= 0.5,
            model_id: 2,
        },
        at: ts("2026-12-06T03:00:00Z"),
        done: reply(),
    }
}

#[test]
fn calls_transcribed_before_a_model_are_released_once_when_scored_later() {
    let ga4 = Subscription {
        destination: "ga4".into(),
        events: EventSet::of(&[EventKind::CallScored]),
        sites: Vec::new(),
        qualifier: Send::Target,
        need: Some(Need::GaClientId),
    };
    let subs = [ga4];
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    for id in ["early-buyer", "early-spam", "old-verdict"] {
        recorded_call(&mut conn, &subs, id);
    }
    // Transcribed while no model applied (and one scored by an older model, not target).
    let batch = vec![
        transcribed("early-buyer", None),
        transcribed("early-spam", None),
        transcribed("old-verdict", score(0.2)),
    ];
    apply(&mut conn, &subs, batch);
    assert_eq!(rows(&conn, "ga4").len(), 1, "only the old verdict's drop");
    let unscored = crate::store::scoring::unscored(&conn, 0, 10).unwrap();
    let ids: Vec<&str> = unscored.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["early-buyer", "early-spam"]);

    // A model is kept: the unscored calls are scored; the old verdict stays.
    let batch = vec![
        rescored("early-buyer", 0.8),
        rescored("early-spam", 0.1),
        rescored("old-verdict", 0.9),
    ];
    assert_eq!(
        apply(&mut conn, &subs, batch),
        1,
        "the buyer's (a drop is not added)"
    );
    let ga4_rows = rows(&conn, "ga4");
    let of = |id: &str| -> Vec<(String, Option<String>)> {
        ga4_rows
            .iter()
            .filter(|r| r.1 == id)
            .map(|r| (r.2.clone(), r.3.clone()))
            .collect()
    };
    assert_eq!(of("early-buyer"), [("pending".to_owned(), None)]);
    let spam = of("early-spam");
    assert_eq!(spam.len(), 1);
    assert_eq!(spam[0].0, "dead");
    assert!(
        spam[0]
            .1
            .as_deref()
            .unwrap()
            .starts_with("dropped: scored not target")
    );
    assert_eq!(
        of("old-verdict").len(),
        1,
        "no second row for a scored call"
    );
    let target: Option<bool> = conn
        .query_row("SELECT target FROM cdr WHERE id = 'old-verdict'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(target, Some(false), "an older model's verdict is kept");

    // Scoring again (a second model kept) writes nothing: exactly once.
    assert_eq!(
        apply(&mut conn, &subs, vec![rescored("early-buyer", 0.99)]),
        0
    );
    assert_eq!(rows(&conn, "ga4").len(), 3);
    assert!(
        crate::store::scoring::unscored(&conn, 0, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_dropped_dead_letter_is_never_replayed() {
    use crate::store::outbox::admin::{self, Replay};
    let ga4 = Subscription {
        destination: "ga4".into(),
        events: EventSet::of(&[EventKind::CallScored]),
        sites: Vec::new(),
        qualifier: Send::Target,
        need: Some(Need::GaClientId),
    };
    let subs = [ga4];
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    recorded_call(&mut conn, &subs, "spam");
    recorded_call(&mut conn, &subs, "buyer");
    apply(
        &mut conn,
        &subs,
        vec![
            transcribed("spam", score(0.1)),
            transcribed("buyer", score(0.9)),
        ],
    );
    conn.execute(
        "UPDATE outbox SET state = 'dead', settled_at = 1, last_error = 'HTTP 500' \
         WHERE subject = 'buyer'",
        [],
    )
    .unwrap();
    let id_of = |subject: &str| -> String {
        conn.query_row("SELECT id FROM outbox WHERE subject = ?1", [subject], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (spam, buyer) = (id_of("spam"), id_of("buyer"));
    assert!(admin::is_dropped(&conn, "ga4", &spam).unwrap());
    assert!(!admin::is_dropped(&conn, "ga4", &buyer).unwrap());
    let now = ts("2026-12-06T00:00:00Z");
    let one = |id: &str| Replay::Id {
        destination: "ga4".into(),
        id: id.into(),
    };
    assert_eq!(admin::replayable(&conn, &one(&spam), now).unwrap(), 0);
    assert_eq!(admin::replay(&conn, &one(&spam), now).unwrap(), 0);
    let since = Replay::Since {
        destination: "ga4".into(),
        since: ts("2026-01-01T00:00:00Z"),
    };
    assert_eq!(admin::replayable(&conn, &since, now).unwrap(), 1);
    assert_eq!(
        admin::replay(&conn, &since, now).unwrap(),
        1,
        "only the failed one"
    );
    let states: Vec<(String, String)> =
        rows(&conn, "ga4").into_iter().map(|r| (r.1, r.2)).collect();
    assert!(
        states.contains(&("spam".into(), "dead".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("buyer".into(), "pending".into())),
        "{states:?}"
    );
}
