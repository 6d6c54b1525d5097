//! The daemon on PostgreSQL through an outage (issue 16): PostgreSQL stopped for about 30 s
//! under sipp calls, the daemon killed with `kill -9` mid-call while it is still down, then
//! PostgreSQL and the daemon started again: every call's CDR arrives in PostgreSQL exactly
//! once (the one cut by the kill as `interrupted`), and every webhook event once.
//!
//! Needs `sipp` and PostgreSQL (CI installs both); without them the test skips loudly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use export_support::Receiver;
use support::pg_server::PgServer;
use support::{Calltrack, Leg, Sipp};

/// `n` answered calls at `cps` calls per second, each held 300 ms.
fn answered_calls(ct: &Calltrack, n: u32, cps: u32) {
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port)
        .calls(n)
        .spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000002")
        .calls(n)
        .rate(cps)
        .pause_ms(300)
        .run_ok();
    uas.wait_ok();
}

/// The `store` entry of `GET /health`.
fn store_health(ct: &Calltrack) -> serde_json::Value {
    let health: serde_json::Value = ureq::get(&format!("http://127.0.0.1:{}/health", ct.http_port))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    health["store"].clone()
}

fn cdr_count(url: &str) -> i64 {
    postgres::Client::connect(url, postgres::NoTls)
        .and_then(|mut c| c.query_one("SELECT count(*) FROM cdr", &[]))
        .map_or(-1, |r| r.get(0))
}

#[test]
fn postgres_down_for_30_s_under_calls_and_a_kill_9_lose_and_repeat_nothing() {
    if support::skip_without_sipp("e2e_pg_outage") {
        return;
    }
    let _serial = support::serial();
    let Some(server) = PgServer::start("e2e_pg_outage") else {
        return;
    };
    let url = server.create_db("calltrack");
    let receiver = Receiver::start();
    let hooks = receiver.url();
    let mut ct = Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace(
            "flush_interval_ms = 5\n",
            &format!("flush_interval_ms = 5\nbackend = \"postgres\"\nurl = \"{url}\"\nconnect_timeout_ms = 1000\n"),
        );
        cfg.push_str(&format!(
            "\n[node]\nid = \"node-a\"\n\n[exports]\nretry_min_ms = 50\n\n\
             [[exports.webhooks]]\nid = \"crm\"\nurl = \"{hooks}/hooks\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
        ));
    });
    answered_calls(&ct, 3, 10);
    receiver.wait_until(Duration::from_secs(20), |r| r.len() >= 9);
    let up = store_health(&ct);
    assert_eq!(up["spooled"], 0, "{up}");
    assert!(up["last_write_age_ms"].as_u64().is_some(), "{up}");

    server.stop();
    let down = Instant::now();
    // About 30 s of calls while PostgreSQL is away: three rounds of ten at one per second.
    for _ in 0..3 {
        answered_calls(&ct, 10, 1);
    }
    // A call in progress when the daemon dies, PostgreSQL still away.
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    let uac = Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000002")
        .pause_ms(60_000)
        .spawn();
    std::thread::sleep(Duration::from_secs(2));
    // What an operator sees mid-outage: the spool growing and the last commit to PostgreSQL
    // as old as the outage (spooled batches are not commits).
    let during = store_health(&ct);
    assert!(during["spooled"].as_u64().unwrap_or(0) > 0, "{during}");
    let age = during["last_write_age_ms"].as_u64().unwrap_or(0);
    assert!(
        age >= 25_000,
        "last commit {age} ms ago, PostgreSQL down 30 s: {during}"
    );
    let outage_log = ct.log();
    ct.kill9();
    drop((uac, uas));
    let outage = down.elapsed();
    assert!(outage >= Duration::from_secs(28), "down for {outage:?}");
    assert!(
        outage_log.contains("spooling store commands"),
        "the writer spooled:\n{outage_log}"
    );

    server.restart();
    ct.restart();
    // 3 + 30 answered calls and the one interrupted by the kill.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cdr_count(&url) < 34 {
        assert!(Instant::now() < deadline, "CDRs missing:\n{}", ct.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // ringing, answered and ended per completed call; ringing and answered for the cut one
    // (recovery writes its CDR and no event).
    let got = receiver.wait_until(Duration::from_secs(30), |r| r.len() >= 33 * 3 + 2);
    std::thread::sleep(Duration::from_secs(1));
    let log = ct.log();
    drop(ct.stop());

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = client
        .query("SELECT id, disposition FROM cdr ORDER BY seq", &[])
        .unwrap();
    let ids: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        (rows.len(), ids.len()),
        (34, 34),
        "one CDR per call:\n{log}"
    );
    let interrupted = rows
        .iter()
        .filter(|r| r.get::<_, String>(1) == "interrupted")
        .count();
    assert_eq!(interrupted, 1, "the call cut by kill -9");
    let live: i64 = client
        .query_one("SELECT count(*) FROM live_calls", &[])
        .unwrap()
        .get(0);
    assert_eq!(live, 0);

    let received = receiver.received();
    assert_eq!(received.len(), 33 * 3 + 2, "{got:#?}");
    let webhook_ids: HashSet<&str> = received
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(webhook_ids.len(), received.len(), "each event once");
    let mut per_call: HashMap<(String, String), usize> = HashMap::new();
    for r in &received {
        let json = r.json();
        let kind = json["type"].as_str().unwrap_or_default().to_owned();
        let call = json["data"]["id"].as_str().unwrap_or_default().to_owned();
        *per_call.entry((kind, call)).or_default() += 1;
    }
    assert!(per_call.values().all(|&n| n == 1), "{per_call:#?}");
    let ended = per_call.keys().filter(|(k, _)| k == "call.ended").count();
    assert_eq!(ended, 33);
}
