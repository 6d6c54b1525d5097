//! Delivery holds under failure, through the real binary and a real receiver: a receiver down
//! for 30 s gets every event exactly once (by `webhook-id`) and in per-call order once it is
//! back; a `kill -9` with 100 events pending loses none and sends none twice after the
//! restart; `429` with `Retry-After: 5` is honoured; a slow receiver (5 s per request) lags
//! behind while calls go on normally.
//!
//! Calls come from sipp (needs `sipp`; without it those tests say so loudly and skip), the
//! bulk of events from leads (`POST /v1/sessions/{id}/leads`), which are faster to make.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use export_support::{Answer, Received, Receiver};
use serde_json::{Value, json};
use support::{Calltrack, Leg, Sipp};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// A calltrack whose one webhook `crm` posts `events` to `{url}/hooks`, retrying fast
/// (50 ms doubling up to 2 s) and never giving up within a test; leads are not rate limited.
fn daemon(url: &str, events: &str, concurrency: u32) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replace("[http]\n", "[http]\nrate_limit_per_minute = 100000\n");
        toml.push_str(&format!(
            r#"
[exports]
retry_min_ms = 50
retry_max_secs = 2
max_attempts = 1000
concurrency = {concurrency}

[[exports.webhooks]]
id = "crm"
url = "{url}/hooks"
secret = "{SECRET}"
events = {events}
"#
        ));
    })
}

/// A visitor session on the demo site (the snippet's `POST /v1/sites/demo/sessions`).
fn session(ct: &Calltrack) -> String {
    let url = format!("http://127.0.0.1:{}/v1/sites/demo/sessions", ct.http_port);
    let mut reply = ureq::post(&url)
        .header("User-Agent", BROWSER_UA)
        .send_json(json!({
            "visitor_id": "v-resilience",
            "page_url": "https://shop.example/?utm_source=google&utm_medium=cpc",
        }))
        .unwrap();
    assert_eq!(reply.status(), 201);
    let view: Value = reply.body_mut().read_json().unwrap();
    view["session_id"].as_str().unwrap().to_owned()
}

/// Posts `n` leads on `session`; each answer comes after its commit (outbox row included).
/// Returns the lead ids.
fn leads(ct: &Calltrack, session: &str, n: usize) -> Vec<String> {
    let url = format!(
        "http://127.0.0.1:{}/v1/sessions/{session}/leads",
        ct.http_port
    );
    (0..n)
        .map(|i| {
            let mut reply = ureq::post(&url)
                .send_json(json!({"name": format!("Lead {i}"), "phone": format!("7916{i:07}")}))
                .unwrap();
            assert_eq!(reply.status(), 201);
            let body: Value = reply.body_mut().read_json().unwrap();
            body["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// `(pending, delivered, dead, most attempts)` of the outbox rows, read while the daemon runs.
fn outbox(db: &Path) -> (u64, u64, u64, u64) {
    let conn = calltrack::store::open_read_only(db).unwrap();
    conn.query_row(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'delivered'), 0), \
         COALESCE(SUM(state = 'dead'), 0), COALESCE(MAX(attempts), 0) FROM outbox",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )
    .unwrap()
}

/// Polls `done` every 20 ms for at most `within`.
fn wait_for(within: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn accepted(received: &[Received]) -> Vec<&Received> {
    received.iter().filter(|r| r.status == 200).collect()
}

/// The ids of `requests`, asserting none came twice.
fn once_each(requests: &[&Received]) -> HashSet<String> {
    let mut seen = HashSet::new();
    for r in requests {
        let id = r.header("webhook-id").unwrap().to_owned();
        assert!(seen.insert(id.clone()), "{id} was accepted twice");
    }
    seen
}

/// The `type`s each subject (`data.id`) got, in arrival order.
fn types_per_subject(requests: &[&Received]) -> HashMap<String, Vec<String>> {
    let mut per: HashMap<String, Vec<String>> = HashMap::new();
    for r in requests {
        let body = r.json();
        let subject = body["data"]["id"].as_str().unwrap().to_owned();
        per.entry(subject)
            .or_default()
            .push(body["type"].as_str().unwrap().to_owned());
    }
    per
}

/// Waits out `within` after the condition held and returns what arrived then: later
/// arrivals would be duplicates.
fn settled_after(receiver: &Receiver, within: Duration) -> Vec<Received> {
    std::thread::sleep(within);
    receiver.received()
}

#[test]
fn a_receiver_down_for_30_s_gets_every_event_once_and_in_order() {
    const CALLS: usize = 5;
    if support::skip_without_sipp("exports_delivery: receiver down") {
        return;
    }
    let _serial = support::serial();
    let port = Receiver::start().shut_down();
    let down_at = Instant::now();
    let url = format!("http://127.0.0.1:{port}");
    let ct = daemon(
        &url,
        r#"["call.ringing", "call.answered", "call.ended"]"#,
        4,
    );
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port)
        .calls(CALLS as u32)
        .spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .pause_ms(300)
        .calls(CALLS as u32)
        .run_ok();
    pbx.wait_ok();

    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    let (pending, delivered, dead, attempts) = outbox(&ct.db_path());
    assert_eq!((pending, delivered, dead), (3 * CALLS as u64, 0, 0));
    assert!(attempts >= 3, "retried while down ({attempts} attempts)");

    let receiver = Receiver::start_on(port);
    receiver.wait_until(Duration::from_secs(15), |r| r.len() >= 3 * CALLS);
    let got = settled_after(&receiver, Duration::from_secs(1));
    let ok = accepted(&got);
    assert_eq!(ok.len(), got.len(), "the receiver accepts everything");
    assert_eq!(once_each(&ok).len(), 3 * CALLS);
    let per_call = types_per_subject(&ok);
    assert_eq!(per_call.len(), CALLS);
    for (call, types) in per_call {
        assert_eq!(
            types,
            ["call.ringing", "call.answered", "call.ended"],
            "order of {call}"
        );
    }
    wait_for(Duration::from_secs(5), "nothing pending", || {
        outbox(&ct.db_path()).0 == 0
    });
    let _stopped = ct.stop();
}

#[test]
fn kill_9_with_100_events_pending_loses_none_and_sends_none_twice() {
    const LEADS: usize = 100;
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer("", Answer::status(503));
    let mut ct = daemon(&receiver.url(), r#"["lead.created"]"#, 4);
    let session = session(&ct);
    let ids: HashSet<String> = leads(&ct, &session, LEADS).into_iter().collect();
    assert_eq!(ids.len(), LEADS);
    receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 10);
    let (pending, delivered, dead, _) = outbox(&ct.db_path());
    assert_eq!((pending, delivered, dead), (LEADS as u64, 0, 0));

    ct.kill9();
    let conn = calltrack::store::open_read_only(&ct.db_path()).unwrap();
    assert!(calltrack::store::integrity_check(&conn).unwrap());
    drop(conn);
    let refused_before = receiver.received().len();
    receiver.answer("", Answer::status(200));
    ct.restart();

    receiver.wait_until(Duration::from_secs(20), |r| accepted(r).len() >= LEADS);
    let got = settled_after(&receiver, Duration::from_secs(1));
    assert!(got[..refused_before].iter().all(|r| r.status == 503));
    let ok = accepted(&got);
    assert_eq!(ok.len(), LEADS, "every event once, none twice");
    assert_eq!(once_each(&ok).len(), LEADS);
    let leads: HashSet<String> = ok
        .iter()
        .map(|r| {
            assert_eq!(r.json()["type"], "lead.created");
            r.json()["data"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(leads, ids);
    wait_for(Duration::from_secs(5), "all settled delivered", || {
        let (pending, delivered, dead, _) = outbox(&ct.db_path());
        (pending, delivered, dead) == (0, LEADS as u64, 0)
    });
    let _stopped = ct.stop();
}

#[test]
fn retry_after_5_s_on_429_is_honoured() {
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer("", Answer::status(429).retry_after("5"));
    let ct = daemon(&receiver.url(), r#"["lead.created"]"#, 4);
    let session = session(&ct);
    leads(&ct, &session, 1);
    receiver.wait_until(Duration::from_secs(5), |r| !r.is_empty());
    receiver.answer("", Answer::status(200));

    let got = receiver.wait_until(Duration::from_secs(15), |r| r.len() >= 2);
    let got = {
        let later = settled_after(&receiver, Duration::from_millis(500));
        assert_eq!(later.len(), got.len(), "one retry, then delivered");
        later
    };
    assert_eq!((got[0].status, got[1].status), (429, 200));
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_secs(5), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(8), "retried only after {gap:?}");
    let _stopped = ct.stop();
}

#[test]
fn a_slow_receiver_lags_while_calls_go_on_normally() {
    const CALLS: usize = 10;
    if support::skip_without_sipp("exports_delivery: slow receiver") {
        return;
    }
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer("", Answer::status(200).delay(Duration::from_secs(5)));
    let ct = daemon(
        &receiver.url(),
        r#"["call.ringing", "call.answered", "call.ended"]"#,
        1,
    );
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port)
        .calls(CALLS as u32)
        .spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .pause_ms(300)
        .rate(10)
        .calls(CALLS as u32)
        .run_ok();
    pbx.wait_ok();

    // Every call completed (sipp exits 0 only then) while the receiver took at most a couple
    // of the 30 events: deliveries lag behind, calls do not wait for them.
    wait_for(Duration::from_secs(5), "every fact in the outbox", || {
        let (pending, delivered, ..) = outbox(&ct.db_path());
        pending + delivered == 3 * CALLS as u64
    });
    let (pending, _, dead, _) = outbox(&ct.db_path());
    assert_eq!(dead, 0);
    assert!(pending >= 25, "deliveries lag: {pending} pending");
    assert!(receiver.received().len() <= 3);

    let stopped = ct.stop();
    let cdrs = stopped.cdrs();
    assert_eq!(cdrs.len(), CALLS);
    assert!(
        cdrs.iter()
            .all(|c| c.disposition == calltrack::call::record::Disposition::Answered),
        "every call answered normally"
    );
    let conn = calltrack::store::open_existing(&stopped.db).unwrap();
    let rows: u64 = conn
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE state != 'dead'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 3 * CALLS as u64, "what was not sent stays pending");
}
