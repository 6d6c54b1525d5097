//! The outbox admin API through the real binary and a real receiver: a webhook receiver that
//! answers 400 turns three leads' `lead.created` into dead letters; `GET /v1/admin/outbox`
//! shows them per destination (every configured one, also with nothing queued, no secrets),
//! `GET /v1/admin/outbox/events` lists them newest first with the last error and cursor pages,
//! `/metrics` shows `calltrack_export_dead`; bad replay bodies are 400 with every problem and
//! an unknown destination 404; once the receiver answers 200, `POST /v1/admin/outbox/replay`
//! with `since` sends them again and they arrive with the same `webhook-id`s, and one event
//! replays by its id. No sipp needed: leads make the events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use export_support::{Answer, Receiver};
use serde_json::{Value, json};
use support::{Calltrack, Leg};

const TOKEN: &str = "outbox-admin-token-0123456789";
const GA4_SECRET: &str = "ga4-api-secret-never-shown";
const HOOK_SECRET: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn exports(url: &str) -> String {
    format!(
        r#"
[exports]
retry_min_ms = 50
max_attempts = 3

[[exports.webhooks]]
id = "crm"
url = "{url}/hooks"
events = ["lead.created"]
secret = "whsec_{HOOK_SECRET}"

[[exports.ga4]]
id = "ga"
measurement_id = "G-TEST123"
api_secret = "{GA4_SECRET}"
endpoint = "{url}"
"#
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

struct Api {
    base: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>, token: bool) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {TOKEN}");
        let mut reply = match (method, body) {
            ("GET", _) => {
                let mut req = agent().get(&url);
                if token {
                    req = req.header("Authorization", &auth);
                }
                req.call().unwrap()
            }
            (_, body) => {
                let mut req = agent().post(&url);
                if token {
                    req = req.header("Authorization", &auth);
                }
                req.send_json(body.unwrap_or(Value::Null)).unwrap()
            }
        };
        let status = reply.status().as_u16();
        (status, reply.body_mut().read_to_string().unwrap())
    }

    fn get(&self, path: &str) -> Value {
        let (status, text) = self.call("GET", path, None, true);
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, text) = self.call("POST", path, Some(body), true);
        (status, serde_json::from_str(&text).unwrap())
    }

    /// A visitor session on the demo site and one lead from it; returns the lead id.
    fn lead(&self, n: u32) -> String {
        let session: Value = agent()
            .post(format!("{}/v1/sites/demo/sessions", self.base))
            .send_json(json!({"visitor_id": format!("v{n}"), "page_url": "https://shop.example/?utm_source=google"}))
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let sid = session["session_id"].as_str().unwrap();
        let mut reply = agent()
            .post(format!("{}/v1/sessions/{sid}/leads", self.base))
            .send_json(json!({"name": format!("Lead {n}"), "phone": format!("+7 916 000-00-0{n}")}))
            .unwrap();
        assert_eq!(reply.status().as_u16(), 201);
        let lead: Value = reply.body_mut().read_json().unwrap();
        lead["id"].as_str().unwrap().to_owned()
    }

    /// Waits (at most 15 s) until `done` holds for the `crm` row of the status.
    fn wait_status(&self, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status = self.get("/v1/admin/outbox");
            if done(&status["destinations"][0]) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "status never got there: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn hook_ids(received: &[export_support::Received], status: u16) -> Vec<String> {
    received
        .iter()
        .filter(|r| r.uri == "/hooks" && r.status == status)
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect()
}

#[test]
fn dead_letters_are_listed_and_replayed_once_the_receiver_is_fixed() {
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer("/hooks", Answer::status(400));
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        toml.push_str(&exports(&receiver.url()));
    });
    let api = Api {
        base: format!("http://127.0.0.1:{}", ct.http_port),
    };
    for path in ["/v1/admin/outbox", "/v1/admin/outbox/events"] {
        assert_eq!(api.call("GET", path, None, false).0, 401, "{path}");
    }
    let (status, _) = api.call("POST", "/v1/admin/outbox/replay", Some(json!({})), false);
    assert_eq!(status, 401);

    let before = jiff::Timestamp::now();
    let leads: Vec<String> = (1..=3).map(|n| api.lead(n)).collect();
    receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 3);
    let status = api.wait_status(|crm| crm["dead"] == 3);
    let text = status.to_string();
    assert!(
        !text.contains(GA4_SECRET) && !text.contains(HOOK_SECRET),
        "{text}"
    );
    let crm = &status["destinations"][0];
    assert_eq!(crm["id"], "crm");
    assert_eq!(crm["kind"], "webhook");
    assert_eq!(
        (crm["pending"].as_u64(), crm["delivered"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(crm["oldest_pending_at"].is_null() && crm["oldest_pending_secs"].is_null());
    assert!(
        crm["last_error"].as_str().unwrap().starts_with("HTTP 400"),
        "{crm}"
    );
    let ga = &status["destinations"][1];
    assert_eq!(
        (ga["id"].as_str(), ga["kind"].as_str()),
        (Some("ga"), Some("ga4"))
    );
    assert_eq!(
        (ga["pending"].as_u64(), ga["dead"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(ga["last_error"].is_null());

    // Dead letters, newest first, in pages; the payload only when asked for.
    let page = api.get("/v1/admin/outbox/events?destination=crm&state=dead&limit=2");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["seq"].as_i64() > events[1]["seq"].as_i64());
    for e in events {
        assert_eq!(e["type"], "lead.created");
        assert_eq!(e["state"], "dead");
        assert!(
            e["last_error"].as_str().unwrap().starts_with("HTTP 400"),
            "{e}"
        );
        assert!(e.get("payload").is_none());
        assert!(e["settled_at"].is_string() && e["next_attempt_at"].is_null());
    }
    assert_eq!(events[0]["subject"], leads[2].as_str());
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = api.get(&format!(
        "/v1/admin/outbox/events?destination=crm&state=dead&limit=2&cursor={cursor}&payload=true"
    ));
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    assert_eq!(rest["events"][0]["payload"]["id"], leads[0].as_str());
    assert_eq!(rest["events"][0]["payload"]["name"], "Lead 1");
    let dead_ids: HashSet<String> = hook_ids(&receiver.received(), 400).into_iter().collect();
    assert_eq!(dead_ids.len(), 3);

    // The gauges are refreshed every few seconds.
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let (_, metrics) = api.call("GET", "/metrics", None, false);
        if metrics.contains("calltrack_export_dead{destination=\"crm\"} 3") {
            break;
        }
        assert!(Instant::now() < deadline, "no dead gauge:\n{metrics}");
        std::thread::sleep(Duration::from_millis(250));
    }

    // Bad requests list every problem; an unknown destination is 404.
    let (status, error) = api.post(
        "/v1/admin/outbox/replay",
        json!({"since": "yesterday", "id": "x"}),
    );
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        error["error"]["problems"].as_array().unwrap().len(),
        3,
        "{error}"
    );
    let (status, error) = api.post(
        "/v1/admin/outbox/replay",
        json!({"destination": "erp", "id": "x"}),
    );
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("unknown_destination"))
    );
    let (status, text) = api.call(
        "GET",
        "/v1/admin/outbox/events?state=lost&limit=0",
        None,
        true,
    );
    assert_eq!(status, 400, "{text}");

    // Fixed: replay since before the leads sends all three again, with their ids.
    receiver.answer("/hooks", Answer::status(200));
    let (status, replayed) = api.post(
        "/v1/admin/outbox/replay",
        json!({"destination": "crm", "since": before.to_string()}),
    );
    assert_eq!(
        (status, replayed["replayed"].as_u64()),
        (200, Some(3)),
        "{replayed}"
    );
    let got = receiver.wait_until(Duration::from_secs(10), |r| hook_ids(r, 200).len() >= 3);
    let delivered: HashSet<String> = hook_ids(&got, 200).into_iter().collect();
    assert_eq!(delivered, dead_ids, "the same webhook-ids arrive again");
    let status = api.wait_status(|crm| crm["delivered"] == 3);
    let crm = &status["destinations"][0];
    assert_eq!(
        (crm["dead"].as_u64(), crm["pending"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(crm["last_delivered_at"].is_string() && crm["last_error"].is_null());

    // One event by its id (delivered ones replay too).
    let one = dead_ids.iter().next().unwrap().clone();
    let (status, replayed) = api.post(
        "/v1/admin/outbox/replay",
        json!({"destination": "crm", "id": one}),
    );
    assert_eq!((status, replayed["replayed"].as_u64()), (200, Some(1)));
    let got = receiver.wait_until(Duration::from_secs(10), |r| hook_ids(r, 200).len() >= 4);
    assert_eq!(hook_ids(&got, 200)[3], one);
    let (_, none) = api.post(
        "/v1/admin/outbox/replay",
        json!({"destination": "crm", "id": "evt_none"}),
    );
    assert_eq!(none["replayed"], 0);
    let _stopped = ct.stop();
}
