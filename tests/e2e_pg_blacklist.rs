//! The caller blacklist shared by two daemons on one PostgreSQL server: an entry added through
//! node A's admin API is loaded by node B at start and refuses sipp's call on B (403, no
//! B-leg); removed through A, B lets the next call through; added again through A while B
//! runs, B refuses again (B follows A's edits over `LISTEN`/`NOTIFY`, within a round trip).
//!
//! Needs `sipp` and PostgreSQL (CI installs both); without them the test skips loudly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::pg_server::PgServer;
use support::{Calltrack, Leg, Sipp};

const TOKEN: &str = "test-admin-token-0123456789";
const CALLER: &str = "79161234567";
const NUMBER: &str = "74950000002";

fn node(url: &str, id: &str) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace(
            "flush_interval_ms = 5\n",
            &format!("flush_interval_ms = 5\nbackend = \"postgres\"\nurl = \"{url}\"\n"),
        );
        *cfg = cfg.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        cfg.push_str(&format!("\n[node]\nid = \"{id}\"\n"));
    })
}

fn admin(ct: &Calltrack, method: &str, number: &str) -> u16 {
    let url = format!("http://127.0.0.1:{}/v1/admin/blacklist", ct.http_port);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = serde_json::json!({ "number": number });
    let auth = format!("Bearer {TOKEN}");
    let resp = match method {
        "POST" => agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(body),
        _ => agent
            .delete(&url)
            .header("Authorization", &auth)
            .force_send_body()
            .send_json(body),
    };
    resp.unwrap().status().as_u16()
}

/// The API entries `ct` refuses callers by.
fn listed(ct: &Calltrack) -> Vec<String> {
    let url = format!("http://127.0.0.1:{}/v1/admin/blacklist", ct.http_port);
    let view: serde_json::Value = ureq::get(&url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["origin"] == "api")
        .map(|e| e["pattern"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `probe` every 2 ms until it is true or `limit` passes; the time it took.
fn wait_for(limit: Duration, mut probe: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn refused_on(ct: &Calltrack) {
    Sipp::uac("uac_expect_403.xml", Leg::Udp, ct.sip_port, NUMBER).run_ok();
}

fn answered_on(ct: &Calltrack) {
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, NUMBER)
        .pause_ms(100)
        .run_ok();
    pbx.wait_ok();
}

#[test]
fn an_entry_added_through_one_node_refuses_the_call_on_the_other() {
    if support::skip_without_sipp("e2e_pg_blacklist") {
        return;
    }
    let _serial = support::serial();
    let Some(server) = PgServer::start("e2e_pg_blacklist") else {
        return;
    };
    let url = server.create_db("calltrack");
    let a = node(&url, "node-a");
    assert_eq!(admin(&a, "POST", "+7 916 123-45-67"), 201, "{}", a.log());

    // B starts after the edit: it loads the entry from PostgreSQL.
    let b = node(&url, "node-b");
    assert_eq!(listed(&b), [CALLER]);
    refused_on(&b);

    // Removed through A: B follows and lets the caller through.
    assert_eq!(admin(&a, "DELETE", CALLER), 204);
    let limit = Duration::from_secs(3);
    let gone = wait_for(limit, || listed(&b).is_empty());
    let gone = gone.unwrap_or_else(|| panic!("B still lists the entry\n{}", b.log()));
    answered_on(&b);

    // Added again through A while B runs: B refuses again.
    assert_eq!(admin(&a, "POST", CALLER), 201);
    let came = wait_for(limit, || listed(&b) == [CALLER]);
    let came = came.unwrap_or_else(|| panic!("B does not list the entry\n{}", b.log()));
    refused_on(&b);
    eprintln!("an edit on node A seen by node B: removal {gone:?}, addition {came:?}");
    assert_eq!(admin(&b, "POST", CALLER), 200, "already listed, on B too");

    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = pg
        .query_one("SELECT pattern, added_by FROM blacklist", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), CALLER);
    assert_eq!(row.get::<_, String>(1), "node-a");
    drop((a.stop(), b.stop()));
    let rejected: Vec<(String, String)> = pg
        .query(
            "SELECT node_id, disposition FROM cdr WHERE reject_reason = 'blacklist' ORDER BY seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let b_refused = ("node-b".to_owned(), "rejected".to_owned());
    assert_eq!(rejected, [b_refused.clone(), b_refused]);
}
