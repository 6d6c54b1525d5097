//! Several nodes on one PostgreSQL server (started by the harness): heartbeats, the takeover
//! of a dead node's live calls (exactly once between concurrent survivors, each call one
//! `interrupted` CDR with one `call.ended` outbox row), a dead node that comes back, and
//! `check-config --connect` against the server and against a closed port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::store::outbox::{Outbox, Subscription};
use calltrack::store::pg::{self, cdr, nodes, takeover};
use calltrack::store::{StoreCommand, StoreSender, WriterHandle};
use jiff::Timestamp;
use support::pg_server::PgServer;
use support::pg_store::{client, config};

const DEAD_AFTER: Duration = Duration::from_secs(10);
/// Dead nodes in the concurrent test, and the live calls each leaves.
const DEAD_NODES: usize = 3;
const CALLS_EACH: usize = 20;

fn writer(url: &str, node: &str) -> (StoreSender, WriterHandle) {
    let outbox = Outbox::new(vec![Subscription::everything("hook")]);
    support::pg_store::writer(url, node, outbox)
}

fn live(id: &str, started: Timestamp) -> LiveCall {
    LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: format!("7916{:07}", id.len() * 7919 % 10_000_000),
        destination: "sip:sales@pbx.example".into(),
        started_at: started,
        answered_at: None,
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}

/// Node `node` starts `CALLS_EACH` calls (the even ones answered) through its own writer and
/// beats once; the writer is then shut down (flushed), as if the process had been killed
/// right after. Returns the call ids.
fn node_with_live_calls(url: &str, node: &str) -> Vec<String> {
    let (sender, handle) = writer(url, node);
    let started = Timestamp::now() - jiff::SignedDuration::from_secs(120);
    let ids: Vec<String> = (0..CALLS_EACH)
        .map(|i| format!("{node}-call-{i}"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        sender
            .try_send(StoreCommand::CallStarted(live(id, started)))
            .unwrap();
        if i % 2 == 0 {
            let answered_at = started + jiff::SignedDuration::from_secs(5);
            sender
                .try_send(StoreCommand::CallAnswered {
                    id: id.clone(),
                    answered_at,
                })
                .unwrap();
        }
    }
    handle.shutdown().unwrap();
    nodes::beat(&mut client(url), node, 0, None).unwrap();
    ids
}

/// Moves `node`'s heartbeat `ms` into the past (it stopped beating that long ago).
fn silence(c: &mut postgres::Client, node: &str, ms: i64) {
    let n = c
        .execute(
            "UPDATE nodes SET heartbeat_at = heartbeat_at - $2 WHERE node_id = $1",
            &[&node, &ms],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn concurrent_survivors_take_each_dead_node_over_exactly_once() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_nodes") else {
        return;
    };
    let url = server.create_db("takeover");
    let dead: Vec<String> = (0..DEAD_NODES).map(|i| format!("node-a{i}")).collect();
    for node in &dead {
        node_with_live_calls(&url, node);
    }
    let mut c = client(&url);
    for node in &dead {
        silence(&mut c, node, 60_000);
    }
    let survivors = ["node-b", "node-c", "node-d"];
    for node in survivors {
        nodes::beat(&mut c, node, 0, None).unwrap();
    }
    let ringing_facts = count(&mut c, "SELECT count(*) FROM outbox");
    assert_eq!(ringing_facts, (DEAD_NODES * CALLS_EACH * 3 / 2) as i64);

    let barrier = Arc::new(Barrier::new(survivors.len()));
    let sweeps: Vec<_> = survivors
        .iter()
        .map(|me| {
            let (url, barrier, me) = (url.clone(), barrier.clone(), me.to_string());
            std::thread::spawn(move || {
                let mut c = client(&url);
                let subscriptions = [Subscription::everything("hook")];
                barrier.wait();
                takeover::sweep(&mut c, &me, DEAD_AFTER, &subscriptions).unwrap()
            })
        })
        .collect();
    let sweeps: Vec<takeover::Sweep> = sweeps.into_iter().map(|t| t.join().unwrap()).collect();

    let mut taken: Vec<&takeover::TakenOver> = sweeps.iter().flat_map(|s| &s.taken_over).collect();
    taken.sort_by(|a, b| a.node.cmp(&b.node));
    let names: Vec<&str> = taken.iter().map(|t| t.node.as_str()).collect();
    assert_eq!(names, dead, "each dead node taken over once: {sweeps:#?}");
    for t in &taken {
        assert_eq!((t.calls, t.facts), (CALLS_EACH, CALLS_EACH), "{t:?}");
    }
    for s in &sweeps {
        assert_eq!(s.live_nodes, survivors.len(), "{s:?}");
    }
    let total = (DEAD_NODES * CALLS_EACH) as i64;
    assert_eq!(count(&mut c, "SELECT count(*) FROM live_calls"), 0);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM cdr WHERE disposition = 'interrupted' AND node_id LIKE 'node-a%'"
        ),
        total
    );
    assert_eq!(cdr::count(&mut c).unwrap(), total as u64);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(DISTINCT subject) FROM outbox WHERE event = 'call.ended'"
        ),
        total
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM outbox WHERE event = 'call.ended'"
        ),
        total,
        "one fact per call"
    );
    let claimed = c
        .query(
            "SELECT taken_over_by FROM nodes WHERE node_id LIKE 'node-a%' AND taken_over_at IS NOT NULL",
            &[],
        )
        .unwrap();
    assert_eq!(claimed.len(), DEAD_NODES);

    // Again: nothing left to take over, nothing written.
    let subscriptions = [Subscription::everything("hook")];
    let again = takeover::sweep(&mut c, "node-b", DEAD_AFTER, &subscriptions).unwrap();
    assert!(again.taken_over.is_empty(), "{again:?}");
    assert_eq!(cdr::count(&mut c).unwrap(), total as u64);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM outbox WHERE event = 'call.ended'"
        ),
        total
    );
}

#[test]
fn a_dead_node_that_comes_back_replaces_the_interrupted_cdr_with_its_own_once() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_nodes") else {
        return;
    };
    let url = server.create_db("comeback");
    let ids = node_with_live_calls(&url, "node-a");
    let mut c = client(&url);
    // A fresh node is not taken over.
    let subscriptions = [Subscription::everything("hook")];
    let early = takeover::sweep(&mut c, "node-b", DEAD_AFTER, &subscriptions).unwrap();
    assert!(
        early.taken_over.is_empty() && early.live_nodes == 1,
        "{early:?}"
    );
    silence(&mut c, "node-a", 30_000);
    let (_, beats) = nodes::read(&mut c).unwrap();
    let last_beat = Timestamp::from_millisecond(beats[0].heartbeat_at_ms).unwrap();
    let swept = takeover::sweep(&mut c, "node-b", DEAD_AFTER, &subscriptions).unwrap();
    assert_eq!(swept.taken_over.len(), 1);
    assert_eq!(swept.taken_over[0].calls, CALLS_EACH);
    // The call ends at the dead node's last heartbeat.
    let first = cdr::by_id(&mut c, &ids[0]).unwrap().unwrap().cdr;
    assert_eq!(first.disposition, Disposition::Interrupted);
    assert_eq!(first.ended_at, last_beat);

    // Node A was only frozen: it beats again (and hears it was taken over), then its writer
    // ends a call it still held in memory.
    let by = nodes::beat(&mut c, "node-a", 0, None).unwrap();
    assert_eq!(by.as_deref(), Some("node-b"));
    assert_eq!(
        nodes::beat(&mut c, "node-a", 0, None).unwrap(),
        None,
        "said once"
    );
    let (sender, handle) = writer(&url, "node-a");
    let held = live(&ids[0], first.started_at);
    let end = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();
    let cdr_a =
        CallDetailRecord::from_live(&held, end, Disposition::Answered, 200, HangupSide::Caller);
    sender.try_send(StoreCommand::CallEnded(cdr_a)).unwrap();
    let stats = handle.shutdown().unwrap();
    assert_eq!((stats.cdrs_written, stats.duplicate_cdrs), (1, 0));
    let kept = cdr::by_id(&mut c, &ids[0]).unwrap().unwrap().cdr;
    assert_eq!(
        (kept.disposition, kept.ended_at),
        (Disposition::Answered, end),
        "the call's own CDR replaces the takeover's guess"
    );
    let rows = count(
        &mut c,
        &format!("SELECT count(*) FROM cdr WHERE id = '{}'", ids[0]),
    );
    assert_eq!(rows, 1, "still one CDR");
    let ended = count(
        &mut c,
        "SELECT count(*) FROM outbox WHERE event = 'call.ended'",
    );
    assert_eq!(ended, CALLS_EACH as i64, "no second call.ended");
    let updated = count(
        &mut c,
        "SELECT count(*) FROM outbox WHERE event = 'call.updated'",
    );
    assert_eq!(updated, 1, "the correction goes out as call.updated");
    // The same CDR again (a spool replayed twice) changes nothing more.
    let (sender, handle) = writer(&url, "node-a");
    let again =
        CallDetailRecord::from_live(&held, end, Disposition::Answered, 200, HangupSide::Caller);
    sender.try_send(StoreCommand::CallEnded(again)).unwrap();
    let stats = handle.shutdown().unwrap();
    assert_eq!((stats.cdrs_written, stats.duplicate_cdrs), (0, 1));
    let updated = count(
        &mut c,
        "SELECT count(*) FROM outbox WHERE event = 'call.updated'",
    );
    assert_eq!(updated, 1);
    // Alive again: not taken over while it beats; a clean stop removes its row.
    let later = takeover::sweep(&mut c, "node-b", DEAD_AFTER, &subscriptions).unwrap();
    assert!(later.taken_over.is_empty(), "{later:?}");
    assert!(nodes::leave(&mut c, "node-a").unwrap());
}

fn write_config(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("calltrack.toml");
    let toml = format!(
        "[store]\npath = \"{db}\"\nbackend = \"postgres\"\nurl = \"{url}\"\nconnect_timeout_ms = 1000\n\n\
         [[sites]]\nid = \"demo\"\nforward_to = \"sip:127.0.0.1:5099\"\n\
         default_number = \"74950000000\"\nreserve_number = \"74950000099\"\n",
        db = dir.join("cdr.db").display()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn check_config(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args(["check-config", "--connect"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn check_config_connect_reports_the_server_and_a_closed_port() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_nodes") else {
        return;
    };
    let url = server.create_db("checked");
    let dir = tempfile::tempdir().unwrap();
    let fresh = check_config(&write_config(dir.path(), &url));
    let out = String::from_utf8_lossy(&fresh.stdout);
    eprintln!("{out}");
    assert!(fresh.status.success(), "{fresh:?}");
    let latest = pg::schema::latest_version();
    assert!(out.contains("ok: store on postgres://"), "{out}");
    assert!(out.contains("(PostgreSQL 1"), "{out}");
    assert!(
        out.contains(&format!("schema version 0 of {latest}, {latest} pending")),
        "{out}"
    );
    pg::open(&config(&url)).unwrap();
    let migrated = check_config(&write_config(dir.path(), &url));
    let out = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        out.contains(&format!("schema version {latest} of {latest}, 0 pending")),
        "{out}"
    );

    let closed = format!("postgres://calltrack@127.0.0.1:{}/x", support::free_port());
    let down = check_config(&write_config(dir.path(), &closed));
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let err = String::from_utf8_lossy(&down.stderr);
    eprintln!("{err}");
    assert!(
        err.contains("unreachable: store.url postgres://calltrack@127.0.0.1:"),
        "{err}"
    );
}
