//! Labels, scores, the training set and the models on a migrated in-memory store.

use rusqlite::Connection;

use super::*;
use crate::call::scoring::{FEATURES_VERSION, Metrics};
use crate::call::transcript::Transcript;
use crate::store::schema;
use crate::store::transcripts::{SpeechOutcome, apply};

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

/// A recorded call waiting for its transcript.
fn recorded(conn: &Connection, id: &str) {
    conn.execute(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at, \
         ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, \
         recording_status) VALUES (?1, ?1, '74950000100', '79161112233', 'sip:pbx', \
         '2026-12-06T10:00:00Z', '2026-12-06T10:01:00Z', 0, 60, 'answered', 200, 'caller', \
         'pending')",
        [id],
    )
    .unwrap();
    conn.execute(
        "UPDATE cdr SET recording_status = 'recorded', recording_path = '/r/' || id || '.wav' \
         WHERE id = ?1",
        [id],
    )
    .unwrap();
}

fn done(caller: &str, score: Option<Score>) -> SpeechOutcome {
    SpeechOutcome::Done {
        transcript: Box::new(Transcript {
            caller: caller.into(),
            agent: "hello".into(),
            ..Transcript::default()
        }),
        engine: "http",
        score,
    }
}

fn model(accuracy: f64) -> ScoringModel {
    ScoringModel {
        features_version: FEATURES_VERSION,
        vocabulary: vec!["c:price".into()],
        weights: vec![1.0],
        intercept: 0.0,
        metrics: Metrics {
            accuracy,
            precision: 1.0,
            recall: 1.0,
            folds: 5,
            labels: 60,
            targets: 30,
        },
    }
}

#[test]
fn labels_keep_who_and_when_and_only_transcribed_labelled_calls_train() {
    let conn = conn();
    for id in ["a", "b", "c"] {
        recorded(&conn, id);
    }
    let by = |label| LabelChange {
        label,
        by: "admin:cookie".into(),
    };
    assert!(set_label(&conn, "a", &by(Some(Label::Target)), "2026-12-06T11:00:00Z").unwrap());
    assert!(
        set_label(
            &conn,
            "b",
            &by(Some(Label::NotTarget)),
            "2026-12-06T11:00:01Z"
        )
        .unwrap()
    );
    assert!(set_label(&conn, "c", &by(Some(Label::Target)), "2026-12-06T11:00:02Z").unwrap());
    assert!(
        !set_label(
            &conn,
            "zz",
            &by(Some(Label::Target)),
            "2026-12-06T11:00:00Z"
        )
        .unwrap()
    );
    let (label, who, at): (String, String, String) = conn
        .query_row(
            "SELECT label, label_by, label_at FROM cdr WHERE id = 'b'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (label.as_str(), who.as_str()),
        ("not_target", "admin:cookie")
    );
    assert_eq!(at, "2026-12-06T11:00:01Z");
    assert_eq!(
        labels_since(&conn, Some("2026-12-06T11:00:00Z")).unwrap(),
        2
    );

    assert!(
        !apply(
            &conn,
            "a",
            &done("what is the price", None),
            "2026-12-06T11:01:00Z"
        )
        .unwrap()
    );
    assert!(
        !apply(
            &conn,
            "b",
            &done("wrong number", None),
            "2026-12-06T11:01:00Z"
        )
        .unwrap()
    );
    let set = training_set(&conn).unwrap();
    let ids: Vec<(&str, bool)> = set.iter().map(|c| (c.call_id.as_str(), c.target)).collect();
    assert_eq!(ids, [("a", true), ("b", false)], "c has no transcript yet");
    assert_eq!(set[0].caller, "what is the price");

    // Clearing takes who and when away too.
    set_label(&conn, "a", &by(None), "2026-12-06T12:00:00Z").unwrap();
    assert_eq!(training_set(&conn).unwrap().len(), 1);
}

#[test]
fn a_scored_transcript_stores_the_score_once() {
    let conn = conn();
    recorded(&conn, "a");
    let score = Score {
        target_probability: 0.8,
        target: true,
        model_id: 3,
    };
    assert!(
        apply(
            &conn,
            "a",
            &done("price", Some(score)),
            "2026-12-06T11:01:00Z"
        )
        .unwrap()
    );
    let (p, t, m): (f64, bool, i64) = conn
        .query_row(
            "SELECT target_probability, target, scored_by_model FROM cdr WHERE id = 'a'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((p, t, m), (0.8, true, 3));
    // The job is gone: a second outcome for it scores nothing again.
    assert!(
        !apply(
            &conn,
            "a",
            &done("price", Some(score)),
            "2026-12-06T11:02:00Z"
        )
        .unwrap()
    );
}

#[test]
fn the_current_model_is_the_newest_kept() {
    let conn = conn();
    assert_eq!(current_model(&conn).unwrap(), None);
    assert_eq!(current_model_id(&conn).unwrap(), None);
    let first = save_model(&conn, &model(0.9), true, "2026-12-06T01:00:00Z").unwrap();
    let _refused = save_model(&conn, &model(0.8), false, "2026-12-07T01:00:00Z").unwrap();
    let (id, current) = current_model(&conn).unwrap().unwrap();
    assert_eq!((id, current.metrics.accuracy), (first, 0.9));
    assert_eq!(current_model_id(&conn).unwrap(), Some(first));
    assert_eq!(
        last_training(&conn).unwrap().as_deref(),
        Some("2026-12-07T01:00:00Z")
    );
}
