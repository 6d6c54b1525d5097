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
    let _stopped = ct.stop();
}
