//! Attribution end to end: a website session leases a pool number over HTTP, a sipp call to
//! that number reaches the PBX (sipp UAS) with the `X-CT-*` headers, and the CDR carries the
//! visit; a static number carries its source; a repeat caller is not a first-time caller.
//!
//! Needs `sipp` (CI installs it); without it the tests say so loudly and skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use calltrack::call::attribution::NumberKindTag;
use calltrack::call::record::Disposition;
use support::{Calltrack, Leg, Sipp};

fn skip() -> bool {
    support::skip_without_sipp("attribution e2e")
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

/// Creates a visitor session as the website snippet would; returns the JSON answer.
fn create_session(http_port: u16, page_url: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "visitor_id": "visitor-1",
        "page_url": page_url,
        "referrer": "https://www.google.com/",
        "ga_client_id": "GA1.1.1234.5678",
        "ym_client_id": "170000000000000001",
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

fn header_line<'a>(trace: &'a str, name: &str) -> Option<&'a str> {
    trace.lines().map(str::trim).find(|l| {
        l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l[name.len()..].starts_with(':')
    })
}

#[test]
fn leased_number_call_carries_the_visit_to_the_pbx_and_the_cdr() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let session = create_session(
        ct.http_port,
        "https://shop.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=shoes&gclid=abc123",
    );
    assert_eq!(session["kind"], "dynamic");
    let number = session["number"].as_str().unwrap().to_string();
    let session_id = session["session_id"].as_str().unwrap().to_string();
    assert!(number.starts_with("749500001"), "a pool number: {number}");

    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, &number)
        .pause_ms(300)
        .run_ok();
    let pbx_trace = uas.wait_ok();
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Source"),
        Some("X-CT-Source: google"),
        "{pbx_trace}"
    );
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Medium"),
        Some("X-CT-Medium: cpc")
    );
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Campaign"),
        Some("X-CT-Campaign: brand")
    );
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Term"),
        Some("X-CT-Term: shoes")
    );
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Number-Kind"),
        Some("X-CT-Number-Kind: dynamic")
    );
    assert_eq!(
        header_line(&pbx_trace, "X-CT-First-Call"),
        Some("X-CT-First-Call: 1")
    );
    let stamped_session = format!("X-CT-Session: {session_id}");
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Session"),
        Some(stamped_session.as_str())
    );
    assert!(
        !pbx_trace.contains("forged-by-caller"),
        "X-CT-* from the carrier must be stripped"
    );

    // The same caller now dials the billboard number: its source, and not a first-time caller.
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .pause_ms(300)
        .run_ok();
    let pbx_trace = uas.wait_ok();
    assert_eq!(
        header_line(&pbx_trace, "X-CT-Source"),
        Some("X-CT-Source: billboard")
    );
    assert_eq!(
        header_line(&pbx_trace, "X-CT-First-Call"),
        Some("X-CT-First-Call: 0")
    );

    let cdrs = ct.stop().cdrs();
    assert_eq!(cdrs.len(), 2, "{cdrs:#?}");
    let web = &cdrs[0];
    assert_eq!(web.disposition, Disposition::Answered);
    assert_eq!(web.tracking_number, number);
    assert_eq!(web.attribution.number_kind, NumberKindTag::Dynamic);
    assert_eq!(web.attribution.site, "demo");
    assert_eq!(web.attribution.source.as_deref(), Some("google"));
    assert_eq!(web.attribution.medium.as_deref(), Some("cpc"));
    assert_eq!(web.attribution.campaign.as_deref(), Some("brand"));
    assert_eq!(web.attribution.term.as_deref(), Some("shoes"));
    assert_eq!(web.attribution.gclid.as_deref(), Some("abc123"));
    assert_eq!(
        web.attribution.ga_client_id.as_deref(),
        Some("GA1.1.1234.5678")
    );
    assert_eq!(
        web.attribution.ym_client_id.as_deref(),
        Some("170000000000000001")
    );
    assert_eq!(
        web.attribution.referrer.as_deref(),
        Some("https://www.google.com/")
    );
    assert!(
        web.attribution
            .landing_page
            .as_deref()
            .unwrap()
            .starts_with("https://shop.example/landing")
    );
    assert_eq!(
        web.attribution.session_id.as_deref(),
        Some(session_id.as_str())
    );
    assert!(web.first_time_caller);
    let billboard = &cdrs[1];
    assert_eq!(billboard.attribution.number_kind, NumberKindTag::Static);
    assert_eq!(billboard.attribution.source.as_deref(), Some("billboard"));
    assert!(
        !billboard.first_time_caller,
        "second call from the same caller"
    );
}

#[test]
fn quality_follows_the_talk_threshold() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        cfg.push_str("\n[tracking]\nquality_min_talk_secs = 1\n");
    });
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000002")
        .pause_ms(1500)
        .run_ok();
    uas.wait_ok();
    let uas = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_486.xml", Leg::Udp, ct.sip_port, "74950000002").run_ok();
    uas.wait_ok();
    let cdrs = ct.stop().cdrs();
    assert!(cdrs[0].quality, "answered, talked 1 s or more");
    assert_eq!(cdrs[0].attribution.source.as_deref(), Some("radio"));
    assert!(!cdrs[1].quality, "busy is never a quality call");
}
