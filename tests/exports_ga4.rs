//! GA4 Measurement Protocol end to end through the real binary: a visitor session with GA
//! client and session ids leases a pool number, a sipp caller dials it, the stand-in PBX
//! answers, and a local receiver standing in for `www.google-analytics.com` gets one
//! `/mp/collect` request with the measurement id and API secret in the query and the call as
//! one event in the visitor's session. A call to a static number (no GA client id) sends
//! nothing to GA4; a webhook beside it shows both calls ended.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::time::Duration;

use export_support::{Received, Receiver};
use support::{Calltrack, Leg, Sipp};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn exports(url: &str) -> String {
    format!(
        r#"
[exports]
retry_min_ms = 50

[[exports.webhooks]]
id = "crm"
url = "{url}/hooks"
events = ["call.ended"]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

[[exports.ga4]]
id = "ga"
measurement_id = "G-E2ETEST1"
api_secret = "e2e-secret"
value = 500.0
endpoint = "{url}"
"#
    )
}

/// A visitor session as the snippet creates it, with the `_ga` and `_ga_<stream>` ids.
fn create_session(http_port: u16) -> serde_json::Value {
    let body = serde_json::json!({
        "visitor_id": "visitor-ga4",
        "page_url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=sofa",
        "referrer": "https://www.google.com/",
        "ga_client_id": "GA1.1.1234567.1764900000",
        "ga_session_id": "1764928800",
    });
    let mut response = ureq::post(&format!(
        "http://127.0.0.1:{http_port}/v1/sites/demo/sessions"
    ))
    .header("User-Agent", BROWSER)
    .send_json(&body)
    .unwrap();
    assert_eq!(response.status(), 201);
    response.body_mut().read_json().unwrap()
}

fn call(ct: &Calltrack, number: &str) {
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, number)
        .pause_ms(300)
        .run_ok();
    pbx.wait_ok();
}

fn to_ga(r: &Received) -> bool {
    r.uri.starts_with("/mp/collect")
}

fn to_crm(r: &Received) -> bool {
    r.uri == "/hooks"
}

#[test]
fn a_web_call_reaches_ga4_in_the_visitors_session_and_a_static_call_does_not() {
    if support::skip_without_sipp("GA4 exports e2e") {
        return;
    }
    let _serial = support::serial();
    let receiver = Receiver::start();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&exports(&receiver.url()))
    });

    call(&ct, "74950000001");
    let session = create_session(ct.http_port);
    assert_eq!(session["kind"], "dynamic");
    let number = session["number"].as_str().unwrap().to_owned();
    call(&ct, &number);

    receiver.wait_until(Duration::from_secs(15), |r| {
        r.iter().filter(|r| to_crm(r)).count() >= 2 && r.iter().any(to_ga)
    });
    // Both calls ended (the webhook saw them); give a stray GA4 request time to show up.
    std::thread::sleep(Duration::from_millis(700));
    let got = receiver.received();
    let ended: Vec<serde_json::Value> = got
        .iter()
        .filter(|r| to_crm(r))
        .map(|r| r.json()["data"].clone())
        .collect();
    let web_call = ended
        .iter()
        .find(|d| d["tracking_number"] == number.as_str())
        .expect("the web call ended");
    let ga: Vec<&Received> = got.iter().filter(|r| to_ga(r)).collect();
    assert_eq!(ga.len(), 1, "one GA4 request, none for the static call");

    let r = ga[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.uri,
        "/mp/collect?measurement_id=G-E2ETEST1&api_secret=e2e-secret"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["client_id"], "1234567.1764900000");
    let started: jiff::Timestamp = web_call["started_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["timestamp_micros"], started.as_microsecond());
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "phone_call");
    assert_eq!(events[0]["timestamp_micros"], started.as_microsecond());
    let p = &events[0]["params"];
    assert_eq!(p["session_id"], "1764928800");
    assert_eq!(p["engagement_time_msec"], 1);
    assert_eq!(p["call_id"], web_call["id"]);
    assert_eq!(p["tracking_number"], number.as_str());
    assert_eq!(p["number_kind"], "dynamic");
    assert_eq!(p["source"], "google");
    assert_eq!(p["medium"], "cpc");
    assert_eq!(p["campaign"], "brand");
    assert_eq!(p["term"], "sofa");
    assert_eq!(p["disposition"], "answered");
    assert_eq!(p["talk_secs"], web_call["talk_secs"]);
    assert_eq!(p["wait_secs"], web_call["wait_secs"]);
    // The same sipp caller dialled the static number first.
    assert_eq!(web_call["first_time_caller"], false);
    assert_eq!(p["first_time"], 0);
    assert_eq!(p["quality"], 0, "a short call is not a quality call");
    assert_eq!(p["value"], 500.0);
    assert_eq!(p["currency"], "RUB");
    let caller = web_call["caller"].as_str().unwrap();
    assert!(
        !r.text().contains(caller),
        "the caller's number never goes to GA"
    );
    let _stopped = ct.stop();
}
