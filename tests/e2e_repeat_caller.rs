//! The repeat-caller rule end to end through the real binary: visitor A leases the pool's one
//! number, a caller dials it and the PBX (sipp UAS) sees A's visit; A leaves, the short freeze
//! runs out and visitor B gets the number; the same caller dials it again and the PBX, the CDR
//! and `GET /v1/calls` carry A's visit, while a different caller dialling it now gets B's.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use calltrack::call::attribution::NumberKindTag;
use serde_json::Value;
use support::pool_calls::{self, call_from, header_value, listed_calls, url};
use support::{Calltrack, Leg};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
/// The pool's only number, so visitor B must get the number A held.
const NUMBER: &str = "74950000100";
const REPEAT_CALLER: &str = "79161234567";
const OTHER_CALLER: &str = "79169876543";

/// One pool number, a 3-s freeze (1-s heartbeats), no cool-down: a released lease ends
/// within seconds and its number goes straight to the next visitor.
fn one_number_short_freeze(toml: &mut String) {
    pool_calls::one_number_short_freeze(toml, "");
}

/// A snippet session for `visitor` landing from `campaign` (utm_source `source`).
fn session(ct: &Calltrack, visitor: &str, source: &str, campaign: &str) -> Value {
    let mut resp = ureq::post(&url(ct, "/v1/sites/demo/sessions"))
        .header("User-Agent", BROWSER)
        .send_json(serde_json::json!({
            "visitor_id": visitor,
            "page_url": format!("https://shop.example/landing?utm_source={source}&utm_medium=cpc&utm_campaign={campaign}"),
            "referrer": "https://www.google.com/",
        }))
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.body_mut().read_json().unwrap()
}

/// The snippet's heartbeat: the session's page is still open (its freeze starts again).
fn heartbeat(ct: &Calltrack, session_id: &str) {
    let resp = ureq::post(&url(ct, &format!("/v1/sessions/{session_id}/heartbeat")))
        .header("User-Agent", BROWSER)
        .send_empty()
        .unwrap();
    assert_eq!(resp.status(), 200, "heartbeat of {session_id}");
}

/// The visit the PBX was told about: (`X-CT-Session`, `X-CT-Campaign`).
fn stamped(trace: &str) -> (String, String) {
    let value = |name| {
        header_value(trace, name)
            .unwrap_or_else(|| panic!("{name} missing from the PBX's INVITE:\n{trace}"))
            .to_owned()
    };
    (value("X-CT-Session"), value("X-CT-Campaign"))
}

/// Visitor B's session once A's released lease has ended and the number is free again.
fn session_once_free(ct: &Calltrack, visitor: &str, source: &str, campaign: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = session(ct, visitor, source, campaign);
        if got["kind"] == "dynamic" {
            return got;
        }
        assert_eq!(got["kind"], "reserve", "{got}");
        assert!(Instant::now() < deadline, "the number never came free");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_repeat_caller_keeps_its_earlier_visit_after_the_number_passed_to_another_visitor() {
    if support::skip_without_sipp("repeat-caller e2e") {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, one_number_short_freeze);

    let a = session(&ct, "visitor-a", "google", "alpha");
    assert_eq!(
        (a["kind"].as_str(), a["number"].as_str()),
        (Some("dynamic"), Some(NUMBER))
    );
    let a_id = a["session_id"].as_str().unwrap().to_owned();
    heartbeat(&ct, &a_id);
    let first = call_from(&ct, NUMBER, REPEAT_CALLER);
    assert_eq!(stamped(&first), (a_id.clone(), "alpha".into()), "{first}");
    assert_eq!(header_value(&first, "X-CT-First-Call"), Some("1"));

    let released = ureq::delete(&url(&ct, &format!("/v1/sessions/{a_id}")))
        .call()
        .unwrap();
    assert_eq!(released.status(), 204);
    let b = session_once_free(&ct, "visitor-b", "bing", "beta");
    assert_eq!(b["number"], NUMBER, "B holds the number A held: {b}");
    let b_id = b["session_id"].as_str().unwrap().to_owned();
    assert_ne!(a_id, b_id);

    heartbeat(&ct, &b_id);
    let repeat = call_from(&ct, NUMBER, REPEAT_CALLER);
    assert_eq!(
        stamped(&repeat),
        (a_id.clone(), "alpha".into()),
        "the repeat caller gets A's visit, not B's: {repeat}"
    );
    assert_eq!(header_value(&repeat, "X-CT-Source"), Some("google"));
    assert_eq!(header_value(&repeat, "X-CT-Number-Kind"), Some("dynamic"));
    assert_eq!(header_value(&repeat, "X-CT-First-Call"), Some("0"));

    heartbeat(&ct, &b_id);
    let other = call_from(&ct, NUMBER, OTHER_CALLER);
    assert_eq!(
        stamped(&other),
        (b_id.clone(), "beta".into()),
        "a new caller gets the number's holder: {other}"
    );
    assert_eq!(header_value(&other, "X-CT-Source"), Some("bing"));

    let expected = [
        (REPEAT_CALLER, &a_id, "google"),
        (REPEAT_CALLER, &a_id, "google"),
        (OTHER_CALLER, &b_id, "bing"),
    ];
    let api = listed_calls(&ct, NUMBER, 3);
    assert_eq!(api.len(), 3, "{api:#?}");
    for (call, (caller, session, source)) in api.iter().zip(expected) {
        assert_eq!(call["caller"], caller, "{call}");
        assert_eq!(
            call["attribution"]["session_id"],
            session.as_str(),
            "{call}"
        );
        assert_eq!(call["attribution"]["source"], source, "{call}");
    }

    let cdrs = ct.stop().cdrs();
    assert_eq!(cdrs.len(), 3, "{cdrs:#?}");
    for (cdr, (caller, session, source)) in cdrs.iter().zip(expected) {
        assert_eq!(cdr.caller, caller);
        assert_eq!(cdr.attribution.number_kind, NumberKindTag::Dynamic);
        assert_eq!(
            cdr.attribution.session_id.as_deref(),
            Some(session.as_str())
        );
        assert_eq!(cdr.attribution.source.as_deref(), Some(source));
    }
    assert_eq!(cdrs[1].attribution.campaign.as_deref(), Some("alpha"));
    assert!(!cdrs[1].first_time_caller && cdrs[2].first_time_caller);
}
