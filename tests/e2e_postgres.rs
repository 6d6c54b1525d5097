//! The daemon on PostgreSQL end to end: `[store] backend = "postgres"` against a server the
//! harness starts, sipp calls to a static number, the CDRs read back from PostgreSQL with
//! their outcome, attribution, first-time judgement and node (and through the daemon's calls
//! API and reports), and every webhook event delivered once to a real HTTP receiver (claimed
//! from the shared outbox); `calltrack outbox status | list | replay` read and replay that
//! outbox, and the replayed events arrive again with their ids.
//!
//! Needs `sipp` and PostgreSQL (CI installs both); without them the test skips loudly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use calltrack::call::record::Disposition;
use calltrack::store::pg::cdr;
use export_support::Receiver;
use support::pg_server::PgServer;
use support::{Calltrack, Leg, Sipp};

const TOKEN: &str = "e2e-postgres-token-0123456789";

/// `calltrack --config FILE outbox ARGS` against the daemon; its stdout (it must succeed).
fn outbox(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .arg("--config")
        .arg(config)
        .arg("outbox")
        .args(args)
        .args(["--token", TOKEN])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "outbox {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn calls_land_in_postgres_and_each_webhook_event_is_delivered_once() {
    if support::skip_without_sipp("e2e_postgres") {
        return;
    }
    let _serial = support::serial();
    let Some(server) = PgServer::start("e2e_postgres") else {
        return;
    };
    let url = server.create_db("calltrack");
    let receiver = Receiver::start();
    let hooks = receiver.url();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace(
            "flush_interval_ms = 5\n",
            &format!("flush_interval_ms = 5\nbackend = \"postgres\"\nurl = \"{url}\"\n"),
        );
        *cfg = cfg.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        cfg.push_str(&format!(
            "\n[node]\nid = \"node-a\"\n\n[exports]\nretry_min_ms = 50\n\n\
             [[exports.webhooks]]\nid = \"crm\"\nurl = \"{hooks}/hooks\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
        ));
    });
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000002")
        .pause_ms(300)
        .run_ok();
    uas.wait_ok();
    let uas = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_486.xml", Leg::Udp, ct.sip_port, "74950000002").run_ok();
    uas.wait_ok();
    // ringing, answered, ended for the first call; ringing, ended for the busy one.
    let got = receiver.wait_until(Duration::from_secs(20), |r| r.len() >= 5);
    std::thread::sleep(Duration::from_millis(500));
    // The daemon's calls API and reports read PostgreSQL.
    let api = |path: &str| -> serde_json::Value {
        let mut resp = ureq::get(&format!("http://127.0.0.1:{}{path}", ct.http_port))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        resp.body_mut().read_json().unwrap()
    };
    let listed = api("/v1/calls?source=radio");
    let listed: Vec<(&str, &str)> = listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["disposition"].as_str().unwrap(),
                c["tracking_number"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("busy", "74950000002"), ("answered", "74950000002")]
    );
    // Three UTC days around now: a run at midnight still holds both calls.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (from, to) = (today.yesterday().unwrap(), today.tomorrow().unwrap());
    let report = api(&format!("/v1/reports?from={from}&to={to}&by=source"));
    assert_eq!(report["total"]["calls"], 2, "{report}");
    assert_eq!(report["total"]["answered"], 1, "{report}");
    // `calltrack outbox` reads and replays the outbox in PostgreSQL.
    let config = ct.config_path();
    let status: serde_json::Value =
        serde_json::from_str(&outbox(&config, &["status", "--format", "json"])).unwrap();
    let crm = &status["destinations"][0];
    assert_eq!(
        (&crm["id"], &crm["delivered"], &crm["pending"]),
        (&"crm".into(), &5.into(), &0.into()),
        "{status}"
    );
    let listed = outbox(&config, &["list", "--state", "delivered"]);
    assert_eq!(
        listed.lines().filter(|l| l.contains("call.")).count(),
        5,
        "{listed}"
    );
    let replayed = outbox(
        &config,
        &["replay", "--destination", "crm", "--since", "1h"],
    );
    assert_eq!(replayed, "replayed 5 event(s) to crm\n");
    let again = receiver.wait_until(Duration::from_secs(20), |r| r.len() >= 10);
    assert_eq!(again.len(), 10, "each event sent once more, by the replay");
    let log = ct.log();
    drop(ct.stop());

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut cdrs: Vec<_> = cdr::list_recent(&mut client, 10).unwrap();
    cdrs.reverse();
    assert_eq!(cdrs.len(), 2, "{log}");
    let (first, second) = (&cdrs[0].cdr, &cdrs[1].cdr);
    assert_eq!(first.disposition, Disposition::Answered);
    assert_eq!(second.disposition, Disposition::Busy);
    for c in [first, second] {
        assert_eq!(c.attribution.source.as_deref(), Some("radio"));
        assert_eq!(c.tracking_number, "74950000002");
    }
    assert!(
        first.first_time_caller && !second.first_time_caller,
        "judged in PostgreSQL"
    );
    let nodes: i64 = client
        .query_one("SELECT count(*) FROM cdr WHERE node_id = 'node-a'", &[])
        .unwrap()
        .get(0);
    assert_eq!(nodes, 2);
    let live: i64 = client
        .query_one("SELECT count(*) FROM live_calls", &[])
        .unwrap()
        .get(0);
    assert_eq!(live, 0, "no call left live");

    let received = receiver.received();
    assert_eq!(received.len(), 10, "{got:#?}");
    let ids: HashSet<&str> = received
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        5,
        "each event once, then once more with its id (the replay)"
    );
    let kinds: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        kinds[..5],
        [
            "call.ringing",
            "call.answered",
            "call.ended",
            "call.ringing",
            "call.ended"
        ],
    );
    let delivered: i64 = client
        .query_one(
            "SELECT count(*) FROM outbox WHERE state = 'delivered' AND attempts = 1 \
             AND claimed_by IS NULL AND settled_at IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(delivered, 5);
}
