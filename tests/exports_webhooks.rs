//! Webhooks end to end through the real binary: a sipp caller dials a static number, the
//! stand-in PBX answers, and a local receiver gets `call.ringing`, `call.answered` and
//! `call.ended` for the call, in that order, each signed per Standard Webhooks (checked here
//! with an independent HMAC implementation) and carrying the call and its attribution.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use export_support::{Received, Receiver};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::{Calltrack, Leg, Sipp};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const SECRET_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn webhook(url: &str) -> String {
    format!(
        r#"
[exports]
retry_min_ms = 50

[[exports.webhooks]]
id = "crm"
url = "{url}/hooks"
secret = "whsec_{SECRET_B64}"
"#
    )
}

/// Verifies the Standard Webhooks signature the way a receiver would, with `hmac` over the
/// raw body (not calltrack's own `sign`).
fn verify(r: &Received) {
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    let key = STANDARD.decode(SECRET_B64).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let given = r.header("webhook-signature").unwrap();
    assert!(
        given.split(' ').any(|s| s == format!("v1,{expected}")),
        "signature {given:?} does not verify"
    );
    let age = jiff::Timestamp::now().as_second() - ts.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "timestamp {ts} is not now");
}

#[test]
fn an_answered_call_sends_ringing_answered_and_ended_signed() {
    if support::skip_without_sipp("webhook exports e2e") {
        return;
    }
    let _serial = support::serial();
    let receiver = Receiver::start();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&webhook(&receiver.url()))
    });
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .pause_ms(300)
        .run_ok();
    pbx.wait_ok();

    let got = receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 3);
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["call.ringing", "call.answered", "call.ended"]);
    for r in &got {
        assert_eq!((r.method.as_str(), r.uri.as_str()), ("POST", "/hooks"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        verify(r);
        let data = &r.json()["data"];
        assert_eq!(data["tracking_number"], "74950000001");
        assert_eq!(data["site"], "demo");
        assert_eq!(data["attribution"]["source"], "billboard");
    }
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "each event has its own id");
    let ended = got[2].json();
    assert_eq!(ended["data"]["disposition"], "answered");
    assert!(ended["data"]["talk_secs"].is_u64());
    assert!(
        got[0].json()["data"]["disposition"].is_null(),
        "ringing has no outcome yet"
    );
    let subject = ended["data"]["id"].clone();
    assert!(got.iter().all(|r| r.json()["data"]["id"] == subject));

    // A CRM posts a deal on the call: call.updated carries it.
    let id = subject.as_str().unwrap();
    let patched = ureq::patch(&format!("http://127.0.0.1:{}/v1/calls/{id}", ct.http_port))
        .send_json(serde_json::json!({"tags": ["vip"], "deal": {"amount": "1500.50", "currency": "RUB", "status": "won"}}))
        .unwrap();
    assert_eq!(patched.status(), 200);
    let got = receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 4);
    let updated = got[3].json();
    assert_eq!(updated["type"], "call.updated");
    assert_eq!(updated["data"]["tags"], serde_json::json!(["vip"]));
    assert_eq!(updated["data"]["deal"]["amount"], "1500.50");
    verify(&got[3]);
    let _stopped = ct.stop();
}

#[test]
fn a_web_form_lead_is_sent_with_its_visit() {
    let _serial = support::serial();
    let receiver = Receiver::start();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&webhook(&receiver.url()))
    });
    let base = format!("http://127.0.0.1:{}", ct.http_port);
    let mut session = ureq::post(&format!("{base}/v1/sites/demo/sessions"))
        .header("User-Agent", BROWSER)
        .send_json(serde_json::json!({
            "visitor_id": "v1",
            "page_url": "https://shop.example/offer?utm_source=yandex&utm_medium=cpc&utm_campaign=winter",
            "ym_client_id": "1700000000123456789",
        }))
        .unwrap();
    let session: serde_json::Value = session.body_mut().read_json().unwrap();
    let sid = session["session_id"].as_str().unwrap();
    let lead = ureq::post(&format!("{base}/v1/sessions/{sid}/leads"))
        .send_json(serde_json::json!({"name": "Anna", "phone": "+7 916 000-00-01"}))
        .unwrap();
    assert_eq!(lead.status(), 201);
    let got = receiver.wait_until(Duration::from_secs(10), |r| !r.is_empty());
    verify(&got[0]);
    let body = got[0].json();
    assert_eq!(body["type"], "lead.created");
    assert_eq!(body["data"]["phone"], "79160000001");
    assert_eq!(body["data"]["first_time"], true);
    let visit = &body["data"]["attribution"];
    assert_eq!(
        (visit["source"].as_str(), visit["campaign"].as_str()),
        (Some("yandex"), Some("winter"))
    );
    assert_eq!(visit["ym_client_id"], "1700000000123456789");
    assert_eq!(
        visit["landing_page"],
        "https://shop.example/offer?utm_source=yandex&utm_medium=cpc&utm_campaign=winter"
    );
    let _stopped = ct.stop();
}
