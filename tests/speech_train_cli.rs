//! `calltrack speech train` on a database of labelled, transcribed calls (written here as the
//! speech worker and the calls API leave them; no speech engine needed): too few labels is
//! exit 2; the first model is kept; a worse one (trained after many labels were flipped) is
//! stored but not made current. `calltrack speech tags` counts calls per keyword tag and
//! source.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use rusqlite::{Connection, params};

const BUYING: [&str; 4] = [
    "how much is the sofa",
    "can you deliver it tomorrow",
    "i want to order the table",
    "what is the price with delivery",
];
const NOT_BUYING: [&str; 4] = [
    "sorry wrong number",
    "you have won a free cruise",
    "is this the pizza place",
    "press one for an operator",
];

/// `n` transcribed calls, every other one a buyer, labelled by the truth.
fn seed(db: &Path, n: usize) {
    let conn = calltrack::store::open(db).unwrap();
    for i in 0..n {
        let target = i % 2 == 0;
        let bank = if target { &BUYING } else { &NOT_BUYING };
        let caller = format!("{} {}", bank[i % 4], bank[(i / 2 + 1) % 4]);
        insert(&conn, &format!("c{i:03}"), &caller, target);
    }
}

fn insert(conn: &Connection, id: &str, caller: &str, target: bool) {
    conn.execute(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at, \
         ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, label, \
         label_by, label_at) VALUES (?1, ?1, '74950000100', '79161112233', 'sip:pbx', \
         '2026-12-06T10:00:00Z', '2026-12-06T10:01:00Z', 0, 40, 'answered', 200, 'caller', \
         ?2, 'admin:bearer', '2026-12-06T12:00:00Z')",
        params![id, if target { "target" } else { "not_target" }],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO transcripts (call_id, status, engine, caller, agent, attempts, created_at, \
         tags) VALUES (?1, 'done', 'http', ?2, 'hello how can i help', 1, \
         '2026-12-06T10:02:00Z', ?3)",
        params![id, caller, if target { r#"["price"]"# } else { "[]" }],
    )
    .unwrap();
}

fn train(db: &Path, format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args(["speech", "train", "--format", format, "--db"])
        .arg(db)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn training_needs_labels_keeps_the_first_model_and_refuses_a_worse_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cdr.db");
    seed(&db, 20);
    let refused = train(&db, "table");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("20 labelled calls with a transcript, at least 50 needed"),
        "{why}"
    );

    let conn = calltrack::store::open(&db).unwrap();
    conn.execute("DELETE FROM transcripts", []).unwrap();
    conn.execute("DELETE FROM cdr", []).unwrap();
    seed(&db, 60);
    let first = train(&db, "table");
    assert!(first.status.success(), "{first:?}");
    let text = stdout(&first);
    assert!(
        text.contains("labelled calls  60 (30 target, 30 not target)"),
        "{text}"
    );
    assert!(text.contains("accuracy   1.000"), "{text}");
    assert!(
        text.contains("kept: model 1 is now current (there was none)"),
        "{text}"
    );

    // Flip 24 of the labels: the new model cross-validates worse and is not made current.
    conn.execute(
        "UPDATE cdr SET label = CASE label WHEN 'target' THEN 'not_target' ELSE 'target' END \
         WHERE CAST(substr(id, 2) AS INTEGER) % 5 < 2",
        [],
    )
    .unwrap();
    let second = train(&db, "json");
    assert!(second.status.success(), "{second:?}");
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(report["kept"], false, "{report}");
    assert_eq!(report["model_id"], 2);
    assert!(
        report["metrics"]["accuracy"].as_f64().unwrap() < 1.0,
        "{report}"
    );
    let current: i64 = conn
        .query_row(
            "SELECT max(id) FROM scoring_models WHERE kept = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(current, 1, "the better model stays current");
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM scoring_models", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 2, "every training is kept for the record");

    let tags = Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args([
            "speech",
            "tags",
            "--from",
            "2026-12-06",
            "--to",
            "2026-12-06",
        ])
        .args(["--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(tags.status.success(), "{tags:?}");
    let counts: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(
        counts["tags"],
        serde_json::json!([{"tag": "price", "source": null, "calls": 30}])
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args([
            "speech",
            "tags",
            "--from",
            "yesterday",
            "--to",
            "2026-12-06",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}
