//! Per-call confidence end to end through the real binary: a website session leases a pool
//! number, a sipp caller dials it and the PBX (sipp UAS) gets `X-CT-Confidence` with two
//! decimals, the CDR and `GET /v1/calls` carry the same value to three; a static number's
//! call and a call to a pool number nobody holds get no header and `null`.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use calltrack::call::attribution::NumberKindTag;
use serde_json::Value;
use support::{Calltrack, Leg, Sipp};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn header_value<'a>(trace: &'a str, name: &str) -> Option<&'a str> {
    trace.lines().map(str::trim).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn get(http_port: u16, path: &str) -> Value {
    let mut resp = ureq::get(&format!("http://127.0.0.1:{http_port}{path}"))
        .call()
        .unwrap();
    resp.body_mut().read_json().unwrap()
}

/// Calls `number` once through a fresh UAS; the INVITE as the PBX saw it.
fn call(ct: &Calltrack, number: &str) -> String {
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, number)
        .pause_ms(200)
        .run_ok();
    uas.wait_ok()
}

#[test]
fn a_leased_numbers_call_carries_its_confidence_to_the_pbx_the_cdr_and_the_api() {
    if support::skip_without_sipp("confidence e2e") {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let mut session = ureq::post(&format!(
        "http://127.0.0.1:{}/v1/sites/demo/sessions",
        ct.http_port
    ))
    .header("User-Agent", BROWSER)
    .send_json(serde_json::json!({
        "visitor_id": "visitor-1",
        "page_url": "https://shop.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid=abc123",
        "referrer": "https://www.google.com/",
    }))
    .unwrap();
    assert_eq!(session.status(), 201);
    let session: Value = session.body_mut().read_json().unwrap();
    assert_eq!(session["kind"], "dynamic", "{session}");
    let number = session["number"].as_str().unwrap().to_owned();

    let leased = call(&ct, &number);
    let stamped = header_value(&leased, "X-CT-Confidence")
        .unwrap_or_else(|| panic!("header on a leased call: {leased}"));
    assert!(
        stamped.len() == 4 && stamped.starts_with("0.") || stamped == "1.00",
        "two decimals: {stamped}"
    );
    let stamped: f64 = stamped.parse().unwrap();
    assert!(stamped > 0.9, "page open, pool nearly empty: {stamped}");

    let billboard = call(&ct, "74950000001");
    assert_eq!(
        header_value(&billboard, "X-CT-Confidence"),
        None,
        "{billboard}"
    );
    let free = "74950000149";
    assert_ne!(free, number);
    let unheld = call(&ct, free);
    assert_eq!(header_value(&unheld, "X-CT-Confidence"), None, "{unheld}");

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
    let api = listed["calls"][0]["attribution"]["confidence"]
        .as_f64()
        .unwrap();

    let cdrs = ct.stop().cdrs();
    assert_eq!(cdrs.len(), 3, "{cdrs:#?}");
    let kept = cdrs[0]
        .attribution
        .confidence
        .expect("CDR confidence")
        .get();
    assert_eq!(cdrs[0].attribution.number_kind, NumberKindTag::Dynamic);
    assert_eq!(kept, api);
    assert_eq!(format!("{kept:.2}").parse::<f64>().unwrap(), stamped);
    assert_eq!(cdrs[1].attribution.number_kind, NumberKindTag::Static);
    assert_eq!(cdrs[2].attribution.number_kind, NumberKindTag::Unattributed);
    assert!(cdrs[1].attribution.confidence.is_none() && cdrs[2].attribution.confidence.is_none());
}
