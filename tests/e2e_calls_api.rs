//! The calls API end to end through the real binary: a phone visitor leases a pool number
//! over HTTP, a sipp caller dials it, the pool's route takes a support scheme that does not
//! count (`counted = false`) whose first step is busy and whose second answers; the CDR
//! holds the visitor's device, `counted = false` and the routing trail, and
//! `GET /v1/calls/{id}` on the running daemon returns them.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use calltrack::call::record::Disposition;
use serde_json::Value;
use support::{Calltrack, Leg, Sipp};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

fn support_scheme(busy: u16, answers: u16) -> String {
    format!(
        r#"
[[schemes]]
id = "support"
counted = false
[[schemes.steps]]
ring_timeout_secs = 10
[[schemes.steps.targets]]
uri = "sip:busy@127.0.0.1:{busy}"
[[schemes.steps]]
ring_timeout_secs = 10
[[schemes.steps.targets]]
uri = "sip:agent@127.0.0.1:{answers}"

[[routes]]
pool = "web"
scheme = "support"
"#
    )
}

fn get(http_port: u16, path: &str) -> Value {
    let mut resp = ureq::get(&format!("http://127.0.0.1:{http_port}{path}"))
        .call()
        .unwrap();
    resp.body_mut().read_json().unwrap()
}

#[test]
fn a_phone_visitors_call_has_its_device_counted_flag_and_trail() {
    if support::skip_without_sipp("calls API e2e") {
        return;
    }
    let _serial = support::serial();
    let (busy, answers) = (support::free_port(), support::free_port());
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&support_scheme(busy, answers))
    });
    let mut session = ureq::post(&format!(
        "http://127.0.0.1:{}/v1/sites/demo/sessions",
        ct.http_port
    ))
    .header("User-Agent", IPHONE)
    .send_json(serde_json::json!({
        "visitor_id": "phone-visitor",
        "page_url": "https://shop.example/?utm_source=google&utm_medium=cpc",
    }))
    .unwrap();
    assert_eq!(session.status(), 201);
    let session: Value = session.body_mut().read_json().unwrap();
    let number = session["number"].as_str().unwrap().to_owned();

    let first = Sipp::uas("uas_busy.xml", Leg::Udp, busy).spawn();
    let second = Sipp::uas("uas_answer.xml", Leg::Udp, answers).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, &number)
        .pause_ms(300)
        .run_ok();
    first.wait_ok();
    second.wait_ok();

    // The daemon's own API, once the writer has the CDR.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listed = loop {
        let page = get(ct.http_port, &format!("/v1/calls?tracking_number={number}"));
        if page["calls"].as_array().is_some_and(|c| !c.is_empty()) {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no CDR listed: {page}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let id = listed["calls"][0]["id"].as_str().unwrap().to_owned();
    let call = get(ct.http_port, &format!("/v1/calls/{id}"));
    assert_eq!(call["disposition"], "answered", "{call}");
    assert_eq!(call["attribution"]["device"], "mobile");
    assert_eq!(call["attribution"]["source"], "google");
    assert_eq!(call["counted"], false);
    assert_eq!(
        call["quality"], false,
        "a support line makes no quality call"
    );
    assert_eq!(call["scheme"], "support");
    let trail = call["trail"].as_array().unwrap();
    let steps: Vec<(u64, &str, &str, u64)> = trail
        .iter()
        .map(|s| {
            (
                s["step"].as_u64().unwrap(),
                s["target"].as_str().unwrap(),
                s["outcome"].as_str().unwrap(),
                s["sip_status"].as_u64().unwrap(),
            )
        })
        .collect();
    let (busy_uri, agent_uri) = (
        format!("sip:busy@127.0.0.1:{busy}"),
        format!("sip:agent@127.0.0.1:{answers}"),
    );
    assert_eq!(
        steps,
        [
            (1, busy_uri.as_str(), "busy", 486),
            (2, agent_uri.as_str(), "answered", 200)
        ],
        "{call}"
    );
    assert!(trail[0]["at"].as_str().unwrap() <= trail[1]["at"].as_str().unwrap());

    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.attribution.device.as_deref(), Some("mobile"));
    assert!(!cdr.counted && !cdr.quality);
    assert_eq!(cdr.answered_step, Some(2));
}
