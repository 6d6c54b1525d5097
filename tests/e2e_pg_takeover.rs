//! Two daemons on one PostgreSQL server: a call held up through node A, A killed with
//! `kill -9`; node B notices A's heartbeat stop, closes the call as one `interrupted` CDR
//! within `dead_after_ms` and a margin, and keeps serving calls; `/health` on B shows the
//! store and the live nodes.
//!
//! Needs `sipp` and PostgreSQL (CI installs both); without them the test skips loudly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use calltrack::call::record::Disposition;
use calltrack::store::pg::cdr;
use support::pg_server::PgServer;
use support::{Calltrack, Leg, Sipp};

const HEARTBEAT_MS: u64 = 200;
const DEAD_AFTER_MS: u64 = 1_000;

fn node(url: &str, id: &str) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace(
            "flush_interval_ms = 5\n",
            &format!("flush_interval_ms = 5\nbackend = \"postgres\"\nurl = \"{url}\"\n"),
        );
        cfg.push_str(&format!(
            "\n[node]\nid = \"{id}\"\nheartbeat_ms = {HEARTBEAT_MS}\ndead_after_ms = {DEAD_AFTER_MS}\n"
        ));
    })
}

fn health(http_port: u16) -> serde_json::Value {
    ureq::get(&format!("http://127.0.0.1:{http_port}/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// Polls `probe` every 20 ms until it is true or `limit` passes; the time it took.
fn wait_for(limit: Duration, mut probe: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn a_killed_nodes_call_is_closed_once_by_the_survivor_which_keeps_serving() {
    if support::skip_without_sipp("e2e_pg_takeover") {
        return;
    }
    let _serial = support::serial();
    let Some(server) = PgServer::start("e2e_pg_takeover") else {
        return;
    };
    let url = server.create_db("calltrack");
    let mut a = node(&url, "node-a");
    let b = node(&url, "node-b");
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let both = wait_for(Duration::from_secs(5), || {
        health(b.http_port)["store"]["live_nodes"] == 2
    });
    assert!(
        both.is_some(),
        "B sees two live nodes: {}",
        health(b.http_port)
    );

    // A call held up through A.
    let _pbx_a = Sipp::uas("uas_answer.xml", Leg::Udp, a.pbx_port).spawn();
    let _caller = Sipp::uac("uac_call.xml", Leg::Udp, a.sip_port, "74950000002")
        .pause_ms(60_000)
        .spawn();
    let held =
        "SELECT count(*) FROM live_calls WHERE node_id = 'node-a' AND answered_at IS NOT NULL";
    let up = wait_for(Duration::from_secs(15), || count(&mut pg, held) == 1);
    assert!(up.is_some(), "the call is up through A\n{}", a.log());

    a.kill9();
    let closed =
        "SELECT count(*) FROM cdr WHERE node_id = 'node-a' AND disposition = 'interrupted'";
    let limit = Duration::from_millis(DEAD_AFTER_MS + 4 * HEARTBEAT_MS) + Duration::from_secs(3);
    let took = wait_for(limit, || count(&mut pg, closed) == 1);
    let Some(took) = took else {
        panic!("B did not close A's call within {limit:?}\n{}", b.log());
    };
    eprintln!("kill -9 of node A to its interrupted CDR written by node B: {took:?}");
    assert!(
        took >= Duration::from_millis(DEAD_AFTER_MS - HEARTBEAT_MS),
        "not before A was dead: {took:?}"
    );
    let log = b.wait_for_log("node silent past node.dead_after_ms", 1);
    assert!(log.contains("dead_node=node-a"), "{log}");
    assert_eq!(count(&mut pg, "SELECT count(*) FROM live_calls"), 0);
    let store = &health(b.http_port)["store"];
    assert_eq!(store["backend"], "postgres", "{store}");
    assert_eq!(store["node_id"], "node-b");
    assert_eq!(store["reachable"], true);
    assert_eq!(store["live_nodes"], 1, "{store}");

    // B serves the next call at once.
    let pbx_b = Sipp::uas("uas_answer.xml", Leg::Udp, b.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, b.sip_port, "74950000002")
        .pause_ms(200)
        .run_ok();
    pbx_b.wait_ok();
    let served = wait_for(Duration::from_secs(5), || {
        count(
            &mut pg,
            "SELECT count(*) FROM cdr WHERE node_id = 'node-b' AND disposition = 'answered'",
        ) == 1
    });
    assert!(served.is_some(), "{}", b.log());
    let store = health(b.http_port)["store"].clone();
    eprintln!("GET /health on B after the takeover: \"store\":{store}");
    assert!(store["last_write_age_ms"].is_u64(), "{store}");
    let stopped = b.stop();
    assert!(
        stopped.log.contains("node left the heartbeat table"),
        "{}",
        stopped.log
    );

    // Exactly one CDR for A's call, and nothing left to do for anyone.
    let cdrs = cdr::list_recent(&mut pg, 10).unwrap();
    assert_eq!(cdrs.len(), 2, "{cdrs:#?}");
    let interrupted = cdrs
        .iter()
        .filter(|c| c.cdr.disposition == Disposition::Interrupted)
        .count();
    assert_eq!(interrupted, 1);
    let rows = count(&mut pg, "SELECT count(*) FROM nodes");
    assert_eq!(rows, 1, "A's row stays, claimed; B left cleanly");
}
