//! Re-scoring through the daemon's own speech service and store writer: calls transcribed
//! before any scoring model are scored once a model is kept (as `calltrack speech train`
//! keeps one, writing it to the database), and GA4 with `send = "target"` gets each call
//! exactly once: the target call as a pending `call.scored`, the other as a dropped dead
//! letter. A call scored by an older model keeps its verdict; a second model kept later
//! writes nothing more. No speech engine needed (`engine` stays off). And the outbox admin
//! API never replays a dropped dead letter as if the call were target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::call::scoring::{FEATURES_VERSION, Metrics, ScoringModel};
use calltrack::config::Config;
use calltrack::speech::SpeechService;
use calltrack::store::{
    BackendReader, StoreReader, WriterOptions, outbox, scoring, spawn_writer_with,
};
use rusqlite::{Connection, params};
use tokio_util::sync::CancellationToken;

fn config(db: &Path) -> Config {
    let toml = format!(
        r#"
[store]
path = "{}"

[speech]
poll_secs = 1

[[sites]]
id = "shop"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"

[[exports.ga4]]
id = "ga"
measurement_id = "G-TEST123"
api_secret = "secret-0123456789"
endpoint = "http://127.0.0.1:9"
send = "target"
"#,
        db.display()
    );
    Config::from_toml_str(&toml).unwrap()
}

/// An answered call with a GA client id, started an hour ago, and its transcript; scored
/// when `score` is given (by "an older model").
fn call(conn: &Connection, id: &str, caller_words: &str, score: Option<(f64, bool)>) {
    let started = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let ended = started + jiff::SignedDuration::from_secs(60);
    conn.execute(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
            answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side,
            site, number_kind, ga_client_id, first_time_caller, quality, missed,
            target_probability, target, scored_by_model)
         VALUES (?1, ?1, '74950000001', '79160000000', 'sip:pbx', ?2, ?2, ?3, 1, 59,
            'answered', 200, 'caller', 'shop', 'dynamic', '123.456', 1, 1, 0, ?4, ?5, ?6)",
        params![
            id,
            started.to_string(),
            ended.to_string(),
            score.map(|s| s.0),
            score.map(|s| s.1),
            score.map(|_| 1),
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO transcripts (call_id, status, engine, caller, agent, attempts, created_at)
         VALUES (?1, 'done', 'http', ?2, 'hello shop', 1, ?3)",
        params![id, caller_words, ended.to_string()],
    )
    .unwrap();
}

/// A model that says target when the caller says "price", not otherwise.
fn model() -> ScoringModel {
    ScoringModel {
        features_version: FEATURES_VERSION,
        vocabulary: vec!["c:price".into()],
        weights: vec![20.0],
        intercept: -3.0,
        metrics: Metrics {
            accuracy: 0.95,
            precision: 0.95,
            recall: 0.95,
            folds: 5,
            labels: 60,
            targets: 30,
        },
    }
}

/// (subject, state, last_error) of the GA4 rows.
fn ga_rows(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut stmt = conn
        .prepare(
            "SELECT subject, state, last_error FROM outbox WHERE destination = 'ga' ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn unscored(conn: &Connection) -> usize {
    scoring::unscored(conn, 0, 100).unwrap().len()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_kept_model_scores_the_calls_transcribed_before_it_and_exports_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    let config = Arc::new(config(&db));
    let subscriptions = outbox::subscriptions(&config.exports);
    let (store, writer) = spawn_writer_with(
        &db,
        WriterOptions::default(),
        outbox::Outbox::new(subscriptions),
    )
    .unwrap();
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    call(&conn, "buyer", "what is the price of delivery", None);
    call(&conn, "wrong", "sorry wrong number", None);
    call(&conn, "old", "price please", Some((0.2, false)));
    assert_eq!(unscored(&conn), 2);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stop = CancellationToken::new();
    let service = SpeechService {
        config: Arc::new(arc_swap::ArcSwap::new(config.clone())),
        store: store.clone(),
        reader: BackendReader::Sqlite(StoreReader::new(&db)),
    };
    let task = runtime.spawn(service.run(jiff::Timestamp::now, stop.clone()));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        ga_rows(&conn).is_empty(),
        "no model, nothing scored or sent"
    );

    // `calltrack speech train` keeps a model: it writes it to the database.
    let at = jiff::Timestamp::now().to_string();
    scoring::save_model(&conn, &model(), true, &at).unwrap();
    wait_until("both unscored calls scored", || unscored(&conn) == 0);
    wait_until("both GA4 rows written", || ga_rows(&conn).len() == 2);
    let rows = ga_rows(&conn);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("buyer", "pending")
    );
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), ("wrong", "dead"));
    let reason = rows[1].2.as_deref().unwrap();
    assert!(reason.starts_with("dropped: scored not target"), "{reason}");
    let old: (f64, bool) = conn
        .query_row(
            "SELECT target_probability, target FROM cdr WHERE id = 'old'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(old, (0.2, false), "an older model's verdict stays");

    // A second model kept: nothing is unscored, nothing more is written.
    scoring::save_model(&conn, &model(), true, &at).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        ga_rows(&conn).len(),
        2,
        "exactly once: {:?}",
        ga_rows(&conn)
    );

    stop.cancel();
    runtime.block_on(task).unwrap();
    drop(store);
    writer.shutdown().unwrap();
}

const TOKEN: &str = "rescore-admin-token-0123456789";

/// One GA4 row: `dropped` is a "scored not target" drop, else a delivery that failed.
fn outbox_row(conn: &Connection, id: &str, dropped: bool) {
    let error = if dropped {
        "dropped: scored not target (target_probability 0.100); send = \"target\""
    } else {
        "HTTP 500"
    };
    conn.execute(
        "INSERT INTO outbox (id, destination, event, subject, occurred_at, created_at, payload,
            state, next_attempt_at, last_error, settled_at)
         VALUES (?1, 'ga', 'call.scored', ?1, '2026-12-06T00:00:00Z', 1700000000000, '{}', 'dead', 1000,
            ?2, 2000)",
        params![id, error],
    )
    .unwrap();
}

#[test]
fn replaying_a_dropped_dead_letter_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    drop(calltrack::store::open(&db).unwrap());
    let conn = Connection::open(&db).unwrap();
    outbox_row(&conn, "evt-spam", true);
    outbox_row(&conn, "evt-failed", false);
    let toml = format!("[http]\nlisten = \"127.0.0.1:0\"\nadmin_token = \"{TOKEN}\"\n")
        + &format!(
            r#"
[store]
path = "{}"

[[exports.ga4]]
id = "ga"
measurement_id = "G-TEST123"
api_secret = "secret-0123456789"
endpoint = "http://127.0.0.1:9"
send = "target"
"#,
            db.display()
        );
    let server = http_support::TestServer::start(&toml);
    let replay = |body: serde_json::Value| -> (u16, serde_json::Value) {
        let mut answer = http_support::agent()
            .post(server.url("/v1/admin/outbox/replay"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(body)
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.body_mut().read_json().unwrap())
    };
    let (status, body) = replay(serde_json::json!({"destination": "ga", "id": "evt-spam"}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "dropped_event", "{body}");
    let (status, body) =
        replay(serde_json::json!({"destination": "ga", "since": "2020-01-01T00:00:00Z"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 1, "only the failed one: {body}");
    let state = |id: &str| -> String {
        conn.query_row("SELECT state FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(state("evt-spam"), "dead");
    assert_eq!(state("evt-failed"), "pending");
}
