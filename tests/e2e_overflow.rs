//! The overflow code on the call side, end to end through the real binary: a visitor whose
//! site's pool is exhausted gets the reserve number and a code from the snippet API; a call to
//! the reserve number hears "enter your code", the caller keys the code in (RFC 4733
//! telephone-events the test sends into calltrack's caller-facing port), and the PBX receives
//! the visit's X-CT-* headers; the CDR says `number_kind = "overflow_code"` with the visit's
//! source and session, and a per-call confidence (also stamped). A wrong code leaves the call
//! unattributed (a reserve-number call).
//!
//! Needs `sipp` (Debian package `sip-tester`); without it each test says so loudly and skips
//! (under `CI=true` that is a failure). Only loopback addresses are used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use calltrack::call::attribution::NumberKindTag;
use calltrack::call::record::{CallDetailRecord, Disposition};
use support::{Calltrack, Leg, Sipp};

const RESERVE: &str = "74950000099";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn skip() -> bool {
    support::skip_without_sipp("overflow code end-to-end tests")
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
fn free_pool() -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 104 + 78) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

/// calltrack whose demo site has a one-number pool and overflow codes (the reserve-number
/// call is relayed for it without any media key).
fn coded(pool: u16) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg
            .replace("\"74950000100-74950000149\"", "\"74950000100\"")
            .replace(
                "reserve_number = \"74950000099\"\n",
                "reserve_number = \"74950000099\"\noverflow_code = true\n",
            );
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n",
            pool + 3
        ));
    })
}

/// A visitor session as the snippet opens it.
fn session(http_port: u16, visitor: &str, source: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "visitor_id": visitor,
        "page_url": format!("https://shop.example/landing?utm_source={source}&utm_medium=email&utm_campaign=winter"),
    });
    let mut response = ureq::post(&format!(
        "http://127.0.0.1:{http_port}/v1/sites/demo/sessions"
    ))
    .header("User-Agent", BROWSER)
    .send_json(&body)
    .unwrap();
    response.body_mut().read_json().unwrap()
}

/// The keys of `digits` as RFC 4733 telephone-events (payload type 101), one event each
/// (three packets, then three end packets, one timestamp per key, RFC 4733 §2.5).
fn key_in(socket: &UdpSocket, to: SocketAddr, digits: &str) {
    let mut seq = 1u16;
    for (n, key) in digits.bytes().enumerate() {
        let timestamp = 8000 * (n as u32 + 1);
        for i in 0..6u16 {
            let mut p = vec![0x80, if i == 0 { 0x80 | 101 } else { 101 }];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&timestamp.to_be_bytes());
            p.extend_from_slice(&0xau32.to_be_bytes());
            let end = if i >= 3 { 0x80 } else { 0x00 };
            p.extend_from_slice(&[key - b'0', end | 10]);
            p.extend_from_slice(&(160 * (i.min(3) + 1)).to_be_bytes());
            socket.send_to(&p, to).unwrap();
            seq += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn header<'a>(trace: &'a str, name: &str) -> Option<&'a str> {
    trace.lines().map(str::trim).find(|l| {
        l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l[name.len()..].starts_with(':')
    })
}

/// A call to the reserve number keying `digits` in: the PBX's message trace and the CDR.
fn reserve_call(ct: Calltrack, pool: u16, digits: &str) -> (String, CallDetailRecord) {
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uas = Sipp::uas("uas_rtp.xml", Leg::Udp, ct.pbx_port)
        .key("media_b", &callee.local_addr().unwrap().port().to_string())
        .spawn();
    let uac = Sipp::uac("uac_menu.xml", Leg::Udp, ct.sip_port, RESERVE)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .pause_ms(3_500)
        .spawn();
    std::thread::sleep(Duration::from_millis(700));
    key_in(&caller, ([127, 0, 0, 1], pool).into(), digits);
    uac.wait_ok();
    let trace = uas.wait_ok();
    (trace, ct.stop().single_cdr())
}

/// The code a visitor gets once the one pool number is taken by another.
fn issued_code(ct: &Calltrack) -> (String, String) {
    let first = session(ct.http_port, "visitor-1", "google");
    assert_eq!(first["kind"], "dynamic", "{first}");
    let coded = session(ct.http_port, "visitor-2", "newsletter");
    assert_eq!(coded["number"], RESERVE, "{coded}");
    let code = coded["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {coded}"));
    (
        code.to_owned(),
        coded["session_id"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_right_code_attributes_the_reserve_call_to_the_visit() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = coded(pool);
    let (code, session_id) = issued_code(&ct);
    let (trace, cdr) = reserve_call(ct, pool, &code);
    assert_eq!(
        header(&trace, "X-CT-Source"),
        Some("X-CT-Source: newsletter"),
        "{trace}"
    );
    assert_eq!(header(&trace, "X-CT-Medium"), Some("X-CT-Medium: email"));
    assert_eq!(
        header(&trace, "X-CT-Number-Kind"),
        Some("X-CT-Number-Kind: overflow_code")
    );
    let stamped = format!("X-CT-Session: {session_id}");
    assert_eq!(header(&trace, "X-CT-Session"), Some(stamped.as_str()));
    assert_eq!(cdr.attribution.number_kind, NumberKindTag::OverflowCode);
    assert_eq!(cdr.attribution.source.as_deref(), Some("newsletter"));
    assert_eq!(cdr.attribution.campaign.as_deref(), Some("winter"));
    assert_eq!(
        cdr.attribution.session_id.as_deref(),
        Some(session_id.as_str())
    );
    assert_eq!(cdr.tracking_number, RESERVE);
    assert_eq!(cdr.disposition, Disposition::Answered);
    // The visit was seen a moment ago and the code is its own: a confidence like a lease hit's.
    let confidence = cdr
        .attribution
        .confidence
        .expect("a code call has a confidence");
    assert!(confidence.get() > 0.9, "{confidence:?}");
    let stamped = format!("X-CT-Confidence: {}", confidence.header_value());
    assert_eq!(header(&trace, "X-CT-Confidence"), Some(stamped.as_str()));
}

#[test]
fn a_wrong_code_goes_through_unattributed() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = coded(pool);
    let (code, _) = issued_code(&ct);
    // A first key no live code starts with: nothing can match, the scheme rings at once.
    let first = code.as_bytes()[0];
    let wrong = if first == b'9' { "8" } else { "9" };
    let (trace, cdr) = reserve_call(ct, pool, wrong);
    assert_eq!(
        header(&trace, "X-CT-Number-Kind"),
        Some("X-CT-Number-Kind: reserve"),
        "{trace}"
    );
    assert_eq!(header(&trace, "X-CT-Source"), None);
    assert_eq!(cdr.attribution.number_kind, NumberKindTag::Reserve);
    assert_eq!(cdr.attribution.session_id, None);
    assert_eq!(cdr.disposition, Disposition::Answered);
}
