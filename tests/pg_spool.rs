//! The PostgreSQL store's spool against a real server started by the harness: the server
//! stopped under calls (the writer keeps accepting and spools, in order), started again
//! (every CDR and outbox fact arrives once, in order); the spool replayed twice, as after a
//! crash between PostgreSQL's commit and the spool's delete (nothing duplicated); a command
//! PostgreSQL refuses is kept aside, not retried forever.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::config::PostgresConfig;
use calltrack::store::outbox::{Outbox, Subscription};
use calltrack::store::pg::spool::{SpoolFile, SpoolRecord};
use calltrack::store::pg::{self, PgWriterOptions};
use calltrack::store::{StoreCommand, StoreSender, WriterHandle, WriterOptions};
use jiff::Timestamp;
use support::pg_server::PgServer;

fn config(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: url.to_owned(),
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
    }
}

fn writer(url: &str, spool: &Path) -> (StoreSender, WriterHandle) {
    writer_with(url, spool, 16)
}

fn writer_with(url: &str, spool: &Path, batch_max_records: usize) -> (StoreSender, WriterHandle) {
    let opts = PgWriterOptions {
        writer: WriterOptions {
            flush_interval: Duration::from_millis(5),
            batch_max_records,
            queue_capacity: 10_000,
            ..WriterOptions::default()
        },
        node: "node-a".into(),
        unique_window: Some(Duration::from_secs(30 * 86_400)),
        spool_path: spool.to_path_buf(),
    };
    let outbox = Outbox::new(vec![Subscription::everything("hook")]);
    pg::spawn_pg_writer(&config(url), opts, outbox).unwrap()
}

fn live(id: &str) -> LiveCall {
    LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: format!(
            "7916{:07}",
            id.len() * 1000 + id.bytes().map(usize::from).sum::<usize>()
        ),
        destination: "sip:sales@pbx.example".into(),
        started_at: "2026-12-07T05:00:00Z".parse().unwrap(),
        answered_at: None,
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}

fn answered_at() -> Timestamp {
    "2026-12-07T05:00:04Z".parse().unwrap()
}

fn cdr(id: &str) -> CallDetailRecord {
    let answered = LiveCall {
        answered_at: Some(answered_at()),
        ..live(id)
    };
    let end = "2026-12-07T05:01:00Z".parse().unwrap();
    CallDetailRecord::from_live(
        &answered,
        end,
        Disposition::Answered,
        200,
        HangupSide::Caller,
    )
}

fn start(sender: &StoreSender, id: &str) {
    let answered = StoreCommand::CallAnswered {
        id: id.into(),
        answered_at: answered_at(),
    };
    for cmd in [StoreCommand::CallStarted(live(id)), answered] {
        sender.try_send(cmd).expect("the queue takes it at once");
    }
}

fn end(sender: &StoreSender, id: &str) {
    sender
        .try_send(StoreCommand::CallEnded(cdr(id)))
        .expect("the queue takes it at once");
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// Polls `done` every 20 ms for at most `limit`.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Commands waiting in the spool file, read beside the writer (WAL).
fn spooled(path: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(path) else {
        return -1;
    };
    conn.query_row("SELECT count(*) FROM spool", [], |r| r.get(0))
        .unwrap_or(-1)
}

/// Every call's facts once: one `call.ringing`, `call.answered` and `call.ended` each.
fn assert_facts_once(c: &mut postgres::Client, calls: i64) {
    let repeated = count(
        c,
        "SELECT count(*) FROM (SELECT 1 FROM outbox GROUP BY destination, event, subject \
         HAVING count(*) > 1) AS r",
    );
    assert_eq!(repeated, 0, "no fact twice");
    for event in ["call.ringing", "call.answered", "call.ended"] {
        let n: i64 = c
            .query_one("SELECT count(*) FROM outbox WHERE event = $1", &[&event])
            .unwrap()
            .get(0);
        assert_eq!(n, calls, "{event} once per call");
    }
}

fn spool_in(dir: &Path) -> PathBuf {
    dir.join("calltrack.spool.db")
}

#[test]
fn postgres_stopped_under_calls_every_cdr_and_fact_arrives_once_in_order() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_spool") else {
        return;
    };
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let url = server.create_db("outage");
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_in(dir.path());
    let (sender, handle) = writer(&url, &spool);
    let mut c = pg::connect(&config(&url)).unwrap();
    let mut order = Vec::new();

    for i in 0..20 {
        let id = format!("before{i:03}");
        start(&sender, &id);
        end(&sender, &id);
        order.push(id);
    }
    // Five calls in progress across the outage: they end while PostgreSQL is away.
    let across: Vec<String> = (0..5).map(|i| format!("across{i}")).collect();
    for id in &across {
        start(&sender, id);
    }
    wait_until(
        "the first calls in PostgreSQL",
        Duration::from_secs(20),
        || {
            count(&mut c, "SELECT count(*) FROM cdr") == 20
                && count(&mut c, "SELECT count(*) FROM live_calls") == 5
        },
    );
    drop(c);

    server.stop();
    let sent_at = Instant::now();
    for id in &across {
        end(&sender, id);
        order.push(id.clone());
    }
    for i in 0..30 {
        let id = format!("during{i:03}");
        start(&sender, &id);
        end(&sender, &id);
        order.push(id);
    }
    let took = sent_at.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "sending never waits: {took:?}"
    );
    // 5 ends and 30 calls of three commands each, all in the spool, the queue empty.
    wait_until(
        "the outage's commands spooled",
        Duration::from_secs(20),
        || spooled(&spool) == 5 + 30 * 3 && sender.queue_depth() == 0,
    );
    // Still accepting: more calls while the server is down.
    for i in 0..10 {
        let id = format!("late{i:03}");
        start(&sender, &id);
        end(&sender, &id);
        order.push(id);
    }
    wait_until("the late calls spooled", Duration::from_secs(20), || {
        spooled(&spool) == 5 + 40 * 3
    });

    server.restart();
    let mut c = pg::connect(&config(&url)).unwrap();
    let total = order.len() as i64;
    wait_until("the spool replayed", Duration::from_secs(30), || {
        spooled(&spool) == 0 && count(&mut c, "SELECT count(*) FROM cdr") == total
    });
    // A call after the outage goes straight to PostgreSQL, after the replayed ones.
    start(&sender, "after");
    end(&sender, "after");
    order.push("after".into());
    let stats = handle.shutdown().unwrap();
    assert_eq!(stats.lost_commands, 0);

    let ids: Vec<String> = c
        .query("SELECT id FROM cdr ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, order, "every CDR once, in the order the calls ended");
    assert_eq!(count(&mut c, "SELECT count(*) FROM live_calls"), 0);
    let answered = count(
        &mut c,
        "SELECT count(*) FROM cdr WHERE answered_at IS NOT NULL AND disposition = 'answered'",
    );
    assert_eq!(answered, total + 1);
    assert_facts_once(&mut c, total + 1);
}

/// The worst case of a crash between PostgreSQL's commit and the spool's delete: every
/// chunk committed, none deleted, the whole spool replayed again.
#[test]
fn a_spool_replayed_twice_duplicates_nothing() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_spool") else {
        return;
    };
    let url = server.create_db("twice");
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_in(dir.path());
    let mut records = Vec::new();
    for i in 0..40 {
        let id = format!("c{i:03}");
        records.push(SpoolRecord::Started { live: live(&id) });
        records.push(SpoolRecord::Answered {
            id: id.clone(),
            answered_at: answered_at(),
        });
        records.push(SpoolRecord::Ended {
            trail: Vec::new(),
            cdr: Box::new(cdr(&id)),
        });
    }
    records.push(SpoolRecord::Started {
        live: live("still-live"),
    });
    SpoolFile::open(&spool).unwrap().append(&records).unwrap();
    let copy = dir.path().join("before-replay.db");
    std::fs::copy(&spool, &copy).unwrap();

    let (_sender, handle) = writer(&url, &spool);
    handle.shutdown().unwrap();
    assert_eq!(
        SpoolFile::open(&spool).unwrap().depth(),
        0,
        "replayed at start"
    );
    let mut c = pg::connect(&config(&url)).unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM cdr"), 40);

    // As if the process died after every commit and before every delete.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", spool.display()));
    }
    std::fs::copy(&copy, &spool).unwrap();
    assert_eq!(
        SpoolFile::open(&spool).unwrap().depth(),
        records.len() as u64
    );
    let (_sender, handle) = writer(&url, &spool);
    handle.shutdown().unwrap();

    let file = SpoolFile::open(&spool).unwrap();
    assert_eq!(
        (file.depth(), file.rejected().unwrap()),
        (0, 0),
        "ignored, not refused"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM cdr"), 40);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM live_calls"),
        1,
        "no live row is left for an ended call; the live one is there once"
    );
    assert_facts_once_with_live(&mut c);
}

fn assert_facts_once_with_live(c: &mut postgres::Client) {
    let repeated = count(
        c,
        "SELECT count(*) FROM (SELECT 1 FROM outbox GROUP BY destination, event, subject \
         HAVING count(*) > 1) AS r",
    );
    assert_eq!(repeated, 0, "no fact twice");
    assert_eq!(
        count(c, "SELECT count(*) FROM outbox WHERE event = 'call.ended'"),
        40
    );
    assert_eq!(
        count(
            c,
            "SELECT count(*) FROM outbox WHERE event = 'call.ringing'"
        ),
        41
    );
}

#[test]
fn a_command_postgres_refuses_is_kept_aside_not_retried_forever() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_spool") else {
        return;
    };
    let url = server.create_db("refused");
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_in(dir.path());
    let (sender, handle) = writer(&url, &spool);
    let mut c = pg::connect(&config(&url)).unwrap();
    c.batch_execute("ALTER TABLE cdr ADD CONSTRAINT no_poison CHECK (call_id <> 'poison@carrier')")
        .unwrap();
    let poison = CallDetailRecord {
        call_id: "poison@carrier".into(),
        ..cdr("poison")
    };
    end(&sender, "good1");
    sender.try_send(StoreCommand::CallEnded(poison)).unwrap();
    end(&sender, "good2");
    let stats = handle.shutdown().unwrap();
    assert_eq!(stats.lost_commands, 0);
    let ids: Vec<String> = c
        .query("SELECT id FROM cdr ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, ["good1", "good2"]);
    let file = SpoolFile::open(&spool).unwrap();
    assert_eq!((file.depth(), file.rejected().unwrap()), (0, 1));
}

#[test]
fn start_up_while_postgres_is_down_is_refused_with_a_clear_error() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_spool") else {
        return;
    };
    let url = server.create_db("down");
    server.stop();
    let dir = tempfile::tempdir().unwrap();
    let opts = PgWriterOptions {
        writer: WriterOptions::default(),
        node: "node-a".into(),
        unique_window: None,
        spool_path: spool_in(dir.path()),
    };
    let error = pg::spawn_pg_writer(&config(&url), opts, Outbox::new(Vec::new()))
        .map(drop)
        .unwrap_err();
    assert!(
        error.to_string().starts_with("cannot reach PostgreSQL"),
        "{error}"
    );
}

/// The spool's cost and the replay's rate (printed; `--nocapture` shows them): 2,000
/// answered calls (start, answer, end) queued while PostgreSQL is down, then replayed.
#[test]
fn spool_append_and_replay_rates() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_spool") else {
        return;
    };
    let url = server.create_db("rates");
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_in(dir.path());
    let (sender, handle) = writer_with(&url, &spool, 256);
    start(&sender, "warm");
    end(&sender, "warm");
    let mut c = pg::connect(&config(&url)).unwrap();
    wait_until("the first call", Duration::from_secs(20), || {
        count(&mut c, "SELECT count(*) FROM cdr") == 1
    });
    drop(c);
    server.stop();
    const CALLS: usize = 2_000;
    let spooling = Instant::now();
    for i in 0..CALLS {
        let id = format!("r{i:05}");
        start(&sender, &id);
        end(&sender, &id);
    }
    wait_until("every call spooled", Duration::from_secs(120), || {
        spooled(&spool) == (CALLS * 3) as i64
    });
    let spooled_in = spooling.elapsed();
    server.restart();
    let replaying = Instant::now();
    let mut c = pg::connect(&config(&url)).unwrap();
    wait_until("the spool replayed", Duration::from_secs(120), || {
        spooled(&spool) == 0
    });
    let replayed_in = replaying.elapsed();
    handle.shutdown().unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM cdr"), CALLS as i64 + 1);
    assert_facts_once(&mut c, CALLS as i64 + 1);
    println!(
        "spooled {CALLS} calls ({} commands) in {} ms: {:.0} us per call; \
         replayed in {} ms (from the server's start): {:.0} calls/s",
        CALLS * 3,
        spooled_in.as_millis(),
        spooled_in.as_secs_f64() * 1e6 / CALLS as f64,
        replayed_in.as_millis(),
        CALLS as f64 / replayed_in.as_secs_f64()
    );
}
