//! The speech queue, transcripts, their search and tag counts on a migrated in-memory store.

use rusqlite::Connection;

use super::*;
use crate::call::transcript::{Channel, ConversationFacts};
use crate::store::schema;

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

/// A CDR row with just what the queue reads.
fn cdr(conn: &Connection, id: &str, ended_at: &str) {
    conn.execute(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at, \
         ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, \
         recording_status) VALUES (?1, ?1, '74950000100', '79161112233', 'sip:pbx', ?2, ?2, \
         0, 10, 'answered', 200, 'caller', 'pending')",
        params![id, ended_at],
    )
    .unwrap();
}

fn settle(conn: &Connection, id: &str, status: &str, path: Option<&str>) {
    conn.execute(
        "UPDATE cdr SET recording_status = ?2, recording_path = ?3 WHERE id = ?1",
        params![id, status, path],
    )
    .unwrap();
}

fn transcript(caller: &str) -> Transcript {
    Transcript {
        caller: caller.into(),
        agent: "how can I help".into(),
        language: Some("en".into()),
        words: vec![Word {
            channel: Channel::Caller,
            word: "delivery".into(),
            start_ms: 100,
            end_ms: 400,
        }],
        tags: vec!["delivery".into()],
        ..Transcript::default()
    }
}

#[test]
fn recorded_wavs_are_queued_once_and_pcaps_never() {
    let conn = conn();
    cdr(&conn, "a", "2026-12-06T10:00:00Z");
    cdr(&conn, "b", "2026-12-06T10:01:00Z");
    settle(&conn, "a", "recorded", Some("/rec/a.wav"));
    settle(&conn, "a", "recorded", Some("/rec/a.wav"));
    settle(&conn, "b", "recorded", Some("/rec/b.pcap"));
    let jobs = due(&conn, "2026-12-06T11:00:00Z", 10).unwrap();
    assert_eq!(
        jobs,
        [SpeechJob {
            call_id: "a".into(),
            path: "/rec/a.wav".into(),
            attempts: 0
        }]
    );
    assert!(due(&conn, "2026-12-06T09:00:00Z", 10).unwrap().is_empty());
    assert_eq!(
        queue(&conn).unwrap(),
        (1, Some("2026-12-06T10:00:00Z".to_owned()))
    );
}

#[test]
fn retries_wait_and_a_transcript_is_searchable_until_its_recording_expires() {
    let conn = conn();
    cdr(&conn, "a", "2026-12-06T10:00:00Z");
    settle(&conn, "a", "recorded", Some("/rec/a.wav"));
    let retry = SpeechOutcome::Retry {
        due_at: "2026-12-06T10:05:00Z".into(),
        error: "engine unavailable: 503".into(),
    };
    apply(&conn, "a", &retry, "2026-12-06T10:00:30Z").unwrap();
    assert!(due(&conn, "2026-12-06T10:04:59Z", 10).unwrap().is_empty());
    let queued = of_call(&conn, "a").unwrap().unwrap();
    assert_eq!((queued.status.as_str(), queued.attempts), ("queued", 1));
    let done = SpeechOutcome::Done {
        transcript: Box::new(transcript("what is the price of delivery")),
        engine: "http",
        score: None,
    };
    apply(&conn, "a", &done, "2026-12-06T10:05:10Z").unwrap();
    assert!(due(&conn, "2026-12-06T12:00:00Z", 10).unwrap().is_empty());
    let view = of_call(&conn, "a").unwrap().unwrap();
    assert_eq!((view.status.as_str(), view.attempts), ("done", 2));
    assert_eq!(view.caller, "what is the price of delivery");
    assert_eq!(view.words.len(), 1);
    assert_eq!(view.tags, ["delivery"]);
    assert_eq!(view.facts, Some(ConversationFacts::default()));
    let counts = tag_counts(&conn, "2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z", None).unwrap();
    assert_eq!(
        counts,
        [TagCount {
            tag: "delivery".into(),
            source: None,
            calls: 1
        }]
    );
    let other_site = tag_counts(
        &conn,
        "2026-12-06T00:00:00Z",
        "2026-12-07T00:00:00Z",
        Some("x"),
    );
    assert!(other_site.unwrap().is_empty());

    let matching = |q: &str| -> Vec<String> {
        let q = fts_query(q).unwrap();
        let sql = format!("SELECT id FROM cdr WHERE {MATCHING_CALLS}");
        let mut stmt = conn.prepare(&sql).unwrap();
        stmt.query_map([q], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(matching("Delivery price"), ["a"]);
    assert_eq!(matching("deliv*"), ["a"]);
    assert_eq!(matching("help"), ["a"]);
    assert!(matching("refund").is_empty());
    assert!(
        matching("\"unbalanced OR NEAR(").is_empty(),
        "FTS5 syntax is never let through"
    );

    settle(&conn, "a", "expired", None);
    assert_eq!(of_call(&conn, "a").unwrap(), None);
    assert!(matching("delivery").is_empty());
    // An outcome for a job that is gone does not bring it back.
    apply(&conn, "a", &done, "2026-12-06T10:06:00Z").unwrap();
    assert_eq!(of_call(&conn, "a").unwrap(), None);
}

#[test]
fn a_failure_is_kept_with_its_reason() {
    let conn = conn();
    cdr(&conn, "a", "2026-12-06T10:00:00Z");
    settle(&conn, "a", "recorded", Some("/rec/a.wav"));
    let failed = SpeechOutcome::Failed {
        error: "recording not readable: no such file".into(),
        engine: "http",
    };
    apply(&conn, "a", &failed, "2026-12-06T10:00:30Z").unwrap();
    let view = of_call(&conn, "a").unwrap().unwrap();
    assert_eq!(view.status, "failed");
    assert!(view.error.unwrap().contains("no such file"));
    assert!(due(&conn, "2026-12-06T12:00:00Z", 10).unwrap().is_empty());
}

#[test]
fn search_words_become_a_safe_fts_query() {
    assert_eq!(
        fts_query("price  delivery").as_deref(),
        Some("\"price\" \"delivery\"")
    );
    assert_eq!(fts_query("deliv*").as_deref(), Some("\"deliv\"*"));
    assert_eq!(fts_query("\" OR ( )").as_deref(), Some("\"OR\""));
    assert_eq!(fts_query("  ** () "), None);
}
