//! The B2BUA core on a virtual clock: a scripted carrier and PBX exchange messages with
//! `B2bua` in memory (no sockets, no sleeps), covering bridging, CANCEL, BYE from each side,
//! timers, re-INVITE, PRACK, UPDATE/INFO/OPTIONS, glare and races, rejections and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::call::record::{Disposition, HangupSide};
use calltrack::config::Config;
use calltrack::sip::message::{HeaderName, Limits};
use calltrack::sip::{Method, Peer, SipMessage, Transport};

use core_harness::rig::{CARRIER, PBX, Rig, pbx_response};

fn config(extra: &str) -> Arc<Config> {
    let toml = format!(
        r#"[sip]
udp_listen = ["127.0.0.1:5060"]
tcp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[store]
path = "/nonexistent/cdr.db"
[[sites]]
id = "demo"
forward_to = "sip:{PBX}"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
{extra}"#
    );
    Arc::new(Config::from_toml_str(&toml).unwrap())
}

/// The shared carrier-and-PBX rig (`core_harness::rig`).
type Harness = Rig;

impl Rig {
    fn new(extra: &str) -> Harness {
        let now = Instant::now();
        let core = B2bua::new(
            config(extra),
            Default::default(),
            core_harness::loopback_endpoint(true),
            now,
            ts("2026-11-23T10:00:00Z"),
            42,
        );
        Rig::pbx_only(core, now)
    }

    fn carrier_statuses(&self) -> Vec<u16> {
        self.to_carrier
            .iter()
            .filter_map(SipMessage::status)
            .collect()
    }

    fn pbx_methods(&self) -> Vec<String> {
        self.to_pbx
            .iter()
            .filter_map(|m| m.method().map(|m| m.to_string()))
            .collect()
    }
}

fn invite(number: &str, extra: &str) -> String {
    format!(
        "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier1;rport
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:{number}@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 INVITE
Contact: <sip:79161234567@{CARRIER}>
X-CT-Source: forged
P-Asserted-Identity: <sip:+79161234567@carrier.example>
{extra}Content-Type: application/sdp
Content-Length: 5

v=0
"
    )
}

fn a_leg_request(method: &str, cseq: u32, to_tag: &str) -> String {
    format!(
        "{method} sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{method}{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={to_tag}
Call-ID: a-leg-1@carrier
CSeq: {cseq} {method}
Content-Length: 0

"
    )
}

/// The carrier's CANCEL of its INVITE (same branch, RFC 3261 §9.1).
fn carrier_cancel() -> String {
    format!(
        "CANCEL sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier1;rport
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 CANCEL
Content-Length: 0

"
    )
}

fn carrier_to_tag(h: &Harness) -> String {
    h.to_carrier
        .iter()
        .find_map(|m| m.to().ok().and_then(|t| t.tag().map(str::to_string)))
        .unwrap()
}

/// Carrier INVITE, PBX 180 + 200: an answered call.
fn answered_call() -> Harness {
    answered_call_with("")
}

/// An answered call on a core configured with `extra`.
fn answered_call_with(extra: &str) -> Harness {
    let mut h = Harness::new(extra);
    h.carrier_sends(&invite("74950000001", ""));
    let b_invite = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(&b_invite, "180 Ringing", ""));
    h.pbx_sends(&pbx_response(&b_invite, "200 OK", ""));
    let tag = carrier_to_tag(&h);
    h.carrier_sends(&a_leg_request("ACK", 10, &tag));
    h
}

#[test]
fn bridges_a_call_with_a_fresh_b_leg() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    assert_eq!(h.carrier_statuses(), [100]);
    let b = h.last_to_pbx(Method::Invite);
    assert_eq!(b.request_uri(), Some("sip:74950000001@127.0.0.1:5080"));
    assert_ne!(
        b.call_id(),
        Some("a-leg-1@carrier"),
        "topology hidden: fresh Call-ID"
    );
    assert_eq!(b.max_forwards().unwrap().unwrap(), 69);
    assert_eq!(b.values(&HeaderName::Via).count(), 1, "only our Via");
    assert!(b.top_via().unwrap().has_rfc3261_branch());
    let from = b.from().unwrap();
    assert_eq!(from.uri, "sip:79161234567@127.0.0.1:5060");
    assert!(from.tag().is_some());
    assert!(
        !b.as_bytes().windows(6).any(|w| w == b"forged"),
        "the carrier's X-CT-* header is dropped"
    );
    let stamped = |name: &str| {
        b.headers()
            .iter()
            .find(|f| b.field_name(f).eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|f| b.field_str(f))
    };
    assert_eq!(stamped("X-CT-Source"), Some("billboard"));
    assert_eq!(stamped("X-CT-Number-Kind"), Some("static"));
    assert_eq!(stamped("X-CT-First-Call"), Some("1"));
    assert!(
        b.as_bytes()
            .windows(19)
            .any(|w| w == b"P-Asserted-Identity")
    );
    assert_eq!(b.body(), b"v=0\r\n");
    assert!(matches!(h.events[0], CallEvent::Started(_)));
}

#[test]
fn answered_call_then_caller_hangs_up() {
    let mut h = answered_call();
    assert_eq!(h.carrier_statuses(), [100, 180, 200]);
    let ok = h.to_carrier.last().unwrap();
    assert_eq!(ok.contact().unwrap().unwrap().uri, "sip:127.0.0.1:5060");
    assert_eq!(h.pbx_methods(), ["INVITE", "ACK"]);
    h.advance(Duration::from_secs(42));
    let tag = carrier_to_tag(&h);
    h.carrier_sends(&a_leg_request("BYE", 11, &tag));
    assert_eq!(h.carrier_statuses().last(), Some(&200));
    let bye = h.last_to_pbx(Method::Bye);
    h.pbx_sends(&pbx_response(&bye, "200 OK", ""));
    let cdrs = h.ended();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].disposition, Disposition::Answered);
    assert_eq!(cdrs[0].hangup_side, HangupSide::Caller);
    assert_eq!(cdrs[0].talk_secs, 42);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn callee_hangs_up() {
    let mut h = answered_call();
    let b = h.last_to_pbx(Method::Invite);
    let bye = format!(
        "BYE sip:79161234567@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKpbxbye
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {cid}
CSeq: 1 BYE
Content-Length: 0

",
        to = b.header(&HeaderName::To).unwrap(),
        from = b.header(&HeaderName::From).unwrap(),
        cid = b.call_id().unwrap()
    );
    h.pbx_sends(&bye);
    assert!(
        h.to_pbx.last().unwrap().status() == Some(200),
        "BYE answered"
    );
    let a_bye = h
        .to_carrier
        .iter()
        .rev()
        .find(|m| m.method() == Some(&Method::Bye))
        .unwrap();
    assert_eq!(a_bye.call_id(), Some("a-leg-1@carrier"));
    assert_eq!(a_bye.to().unwrap().tag(), Some("c1"));
    assert_eq!(
        a_bye.request_uri(),
        Some(format!("sip:79161234567@{CARRIER}").as_str())
    );
    assert_eq!(h.ended()[0].hangup_side, HangupSide::Callee);
}

#[test]
fn caller_cancel_is_carried_to_the_callee() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(&b, "180 Ringing", ""));
    h.carrier_sends(&carrier_cancel());
    assert!(
        h.carrier_statuses().ends_with(&[200, 487]) || h.carrier_statuses().ends_with(&[487, 200])
    );
    let pbx_cancel = h.last_to_pbx(Method::Cancel);
    assert_eq!(
        pbx_cancel.top_via().unwrap().branch(),
        b.top_via().unwrap().branch()
    );
    h.pbx_sends(&pbx_response(&pbx_cancel, "200 OK", ""));
    h.pbx_sends(&pbx_response(&b, "487 Request Terminated", ""));
    assert_eq!(h.pbx_methods().last().map(String::as_str), Some("ACK"));
    let cdr = h.ended()[0];
    assert_eq!(
        (cdr.disposition, cdr.hangup_side, cdr.sip_status),
        (Disposition::Cancelled, HangupSide::Caller, 487)
    );
    h.advance(Duration::from_secs(40));
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn ring_timeout_cancels_the_callee_and_tells_the_caller() {
    let mut h = Harness::new("[calls]\nring_timeout_secs = 20\n");
    h.carrier_sends(&invite("74950000001", ""));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(&b, "180 Ringing", ""));
    h.advance(Duration::from_secs(19));
    assert!(h.ended().is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.carrier_statuses().last(), Some(&480));
    assert_eq!(h.pbx_methods().last().map(String::as_str), Some("CANCEL"));
    let cdr = h.ended()[0];
    assert_eq!(
        (cdr.disposition, cdr.hangup_side),
        (Disposition::NoAnswer, HangupSide::System)
    );
    assert_eq!(cdr.wait_secs, 20);
}

#[test]
fn silent_callee_times_out_with_retransmissions() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    h.advance(Duration::from_secs(33));
    let invites = h.pbx_methods().iter().filter(|m| *m == "INVITE").count();
    assert_eq!(
        invites, 7,
        "Timer A retransmits at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
    assert_eq!(h.carrier_statuses().last(), Some(&408));
    assert_eq!(h.ended()[0].disposition, Disposition::Failed);
}

#[test]
fn busy_callee_is_relayed_and_acked() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(&b, "486 Busy Here", ""));
    assert_eq!(h.carrier_statuses().last(), Some(&486));
    let reason = h.to_carrier.last().unwrap().reason().unwrap().to_vec();
    assert_eq!(reason, b"Busy Here");
    assert_eq!(h.pbx_methods().last().map(String::as_str), Some("ACK"));
    let cdr = h.ended()[0];
    assert_eq!((cdr.disposition, cdr.sip_status), (Disposition::Busy, 486));
}

#[test]
fn rejections_create_no_b_leg() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74959999999", ""));
    h.carrier_sends(
        &invite("74950000001", "")
            .replace("Max-Forwards: 70", "Max-Forwards: 0")
            .replace("carrier1", "carrier2")
            .replace("a-leg-1", "a-leg-2"),
    );
    assert!(h.to_pbx.is_empty());
    let finals: Vec<u16> = h
        .carrier_statuses()
        .into_iter()
        .filter(|s| *s >= 200)
        .collect();
    assert_eq!(finals, [404, 483]);
    let dispositions: Vec<_> = h
        .ended()
        .iter()
        .map(|c| (c.disposition, c.sip_status))
        .collect();
    assert_eq!(
        dispositions,
        [(Disposition::Rejected, 404), (Disposition::Rejected, 483)]
    );
}

#[test]
fn untrusted_source_is_refused_without_a_record() {
    let mut h = Harness::new("");
    let text = invite("74950000001", "");
    let peer = Peer::new(Transport::Udp, "192.0.2.66:5060".parse().unwrap());
    h.core
        .handle_datagram(h.now, Bytes::from(text.replace('\n', "\r\n")), peer);
    let mut statuses = vec![];
    while let Some(t) = h.core.poll_transmit() {
        assert_eq!(t.peer, peer, "nothing goes to the PBX");
        statuses.push(
            SipMessage::parse(t.bytes, &Limits::default())
                .unwrap()
                .status()
                .unwrap(),
        );
    }
    assert_eq!(statuses.last(), Some(&403));
    assert!(h.core.poll_event().is_none());
}

#[test]
fn options_to_calltrack_get_200_with_allow() {
    let mut h = Harness::new("");
    let options = a_leg_request("OPTIONS", 1, "x")
        .replace(";tag=x", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.carrier_sends(&options);
    let ok = h.to_carrier.last().unwrap();
    assert_eq!(ok.status(), Some(200));
    assert!(ok.header(&HeaderName::Allow).unwrap().contains("INVITE"));
}

#[test]
fn malformed_request_gets_400_and_stray_in_dialog_request_481() {
    let mut h = Harness::new("");
    h.carrier_sends(
        &invite("74950000001", "").replace("CSeq: 10 INVITE", "CSeq: 99999999999 INVITE"),
    );
    assert_eq!(h.carrier_statuses(), [400]);
    h.carrier_sends(&a_leg_request("BYE", 5, "nosuchdialog"));
    assert_eq!(h.carrier_statuses().last(), Some(&481));
    assert!(h.to_pbx.is_empty());
}

#[test]
fn reinvite_from_the_callee_is_relayed_both_ways() {
    let mut h = answered_call();
    let b = h.last_to_pbx(Method::Invite);
    let reinvite = format!(
        "INVITE sip:79161234567@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKpbxre
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {cid}
CSeq: 2 INVITE
Contact: <sip:pbx@{PBX}>
Content-Type: application/sdp
Content-Length: 8

v=0 re
",
        to = b.header(&HeaderName::To).unwrap(),
        from = b.header(&HeaderName::From).unwrap(),
        cid = b.call_id().unwrap()
    );
    h.pbx_sends(&reinvite);
    let a_re = h
        .to_carrier
        .iter()
        .rev()
        .find(|m| m.method() == Some(&Method::Invite))
        .unwrap()
        .clone();
    assert_eq!(a_re.body(), b"v=0 re\r\n");
    assert_eq!(a_re.call_id(), Some("a-leg-1@carrier"));
    let a_ok = core_harness::rig::carrier_response(&a_re, "200 OK");
    h.carrier_sends(&a_ok);
    let relayed = h.to_pbx.last().unwrap();
    assert_eq!(relayed.status(), Some(200));
    assert_eq!(relayed.cseq().unwrap().seq, 2);
    let ack = reinvite
        .replace("INVITE sip", "ACK sip")
        .replace("2 INVITE", "2 ACK")
        .replace("z9hG4bKpbxre", "z9hG4bKpbxack");
    h.pbx_sends(&ack);
    let a_ack = h.to_carrier.last().unwrap();
    assert_eq!(a_ack.method(), Some(&Method::Ack));
    assert_eq!(a_ack.cseq().unwrap().seq, a_re.cseq().unwrap().seq);
}

#[test]
fn shutdown_refuses_new_calls_and_ends_live_ones_after_grace() {
    // Default grace: 30 s.
    let mut h = answered_call();
    h.core.begin_shutdown(h.now);
    h.carrier_sends(
        &invite("74950000001", "")
            .replace("a-leg-1", "a-leg-2")
            .replace("carrier1", "carrier9"),
    );
    let refused = h.to_carrier.last().unwrap();
    assert_eq!(refused.status(), Some(503));
    assert!(refused.header(&HeaderName::RetryAfter).is_some());
    assert!(!h.core.is_idle());
    h.advance(Duration::from_secs(31));
    assert_eq!(h.ended().len(), 1);
    assert_eq!(h.ended()[0].hangup_side, HangupSide::System);
    assert!(
        h.to_carrier
            .iter()
            .any(|m| m.method() == Some(&Method::Bye))
    );
    assert!(h.to_pbx.iter().any(|m| m.method() == Some(&Method::Bye)));
}

// ---- helpers for in-dialog traffic ---------------------------------------------------------

/// `text` with `body` (an SDP line) instead of an empty body.
fn with_body(text: &str, body: &str) -> String {
    let len = body.len() + 2; // "\n" becomes "\r\n"
    text.replace(
        "Content-Length: 0\n\n",
        &format!("Content-Type: application/sdp\nContent-Length: {len}\n\n{body}\n"),
    )
}

/// `text` with `headers` (each ending in "\n") added before Content-Length.
fn with_headers(text: &str, headers: &str) -> String {
    text.replacen("Content-Length:", &format!("{headers}Content-Length:"), 1)
}

/// A request from the PBX inside the B-leg dialog set up by `b_invite`.
fn pbx_request(b_invite: &SipMessage, method: &str, cseq: u32) -> String {
    format!(
        "{method} sip:79161234567@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKpbx{method}{cseq}
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {cid}
CSeq: {cseq} {method}
Content-Length: 0

",
        to = b_invite.header(&HeaderName::To).unwrap(),
        from = b_invite.header(&HeaderName::From).unwrap(),
        cid = b_invite.call_id().unwrap()
    )
}

fn last_carrier_request(h: &Harness, method: Method) -> SipMessage {
    h.to_carrier
        .iter()
        .rev()
        .find(|m| m.method() == Some(&method))
        .cloned()
        .unwrap()
}

/// Responses sent to the carrier for requests of `method`, as (status, CSeq number).
fn carrier_answers(h: &Harness, method: Method) -> Vec<(u16, u32)> {
    h.to_carrier
        .iter()
        .filter(|m| m.status().is_some() && m.cseq().unwrap().method == method)
        .map(|m| (m.status().unwrap(), m.cseq().unwrap().seq))
        .collect()
}

fn count_pbx(h: &Harness, method: Method) -> usize {
    h.to_pbx
        .iter()
        .filter(|m| m.method() == Some(&method))
        .count()
}

fn to_tag(m: &SipMessage) -> Option<String> {
    m.to().unwrap().tag().map(str::to_string)
}

fn from_tag(m: &SipMessage) -> Option<String> {
    m.from().unwrap().tag().map(str::to_string)
}

// ---- RFC 3262: reliable provisional responses ----------------------------------------------

#[test]
fn reliable_183_and_prack_are_bridged_with_rack_renumbered() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", "Supported: 100rel\n"));
    let b = h.last_to_pbx(Method::Invite);
    let p183 = pbx_response(&b, "183 Session Progress", "Require: 100rel\nRSeq: 1\n");
    h.pbx_sends(&with_body(&p183, "v=0 early"));

    let a183 = h.to_carrier.last().unwrap().clone();
    assert_eq!(a183.status(), Some(183));
    assert_eq!(a183.header(&HeaderName::Require), Some("100rel"));
    assert_eq!(a183.header(&HeaderName::RSeq), Some("1"));
    assert_eq!(a183.body(), b"v=0 early\r\n");
    assert_eq!(a183.cseq().unwrap().seq, 10);
    let tag = to_tag(&a183).expect("early dialog tag toward the carrier");

    let prack = with_headers(&a_leg_request("PRACK", 11, &tag), "RAck: 1 10 INVITE\n");
    h.carrier_sends(&prack);
    let b_prack = h.last_to_pbx(Method::Prack);
    let b_seq = b.cseq().unwrap().seq;
    assert_eq!(
        b_prack.header(&HeaderName::RAck),
        Some(format!("1 {b_seq} INVITE").as_str())
    );
    assert_eq!(b_prack.call_id(), b.call_id());
    assert_eq!(to_tag(&b_prack).as_deref(), Some("pbx1"));
    assert_eq!(from_tag(&b_prack), from_tag(&b));
    assert!(b_prack.cseq().unwrap().seq > b_seq);

    h.pbx_sends(&pbx_response(&b_prack, "200 OK", ""));
    let ok = h.to_carrier.last().unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.cseq().unwrap().method, Method::Prack);
    assert_eq!(ok.cseq().unwrap().seq, 11);
    assert_eq!(to_tag(ok).as_deref(), Some(tag.as_str()));
    assert_eq!(ok.call_id(), Some("a-leg-1@carrier"));

    h.pbx_sends(&pbx_response(&b, "200 OK", ""));
    assert_eq!(carrier_answers(&h, Method::Invite).last(), Some(&(200, 10)));
}

/// A failure while a relayed PRACK is unanswered keeps the session alive past the ring
/// timeout; the ring timer must not fire forever (it used to spin in `fire_deadlines`).
#[test]
fn failure_with_a_relay_in_flight_outlives_the_ring_timeout() {
    // On a thread with a deadline: the bug was a busy loop, which must fail, not hang.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        failure_with_a_relay_in_flight();
        let _ = done.send(());
    });
    let outcome = finished.recv_timeout(Duration::from_secs(30));
    assert!(
        outcome.is_ok(),
        "the core did not return (or the scenario panicked)"
    );
}

fn failure_with_a_relay_in_flight() {
    let mut h = Harness::new("[calls]\nring_timeout_secs = 20\n");
    h.carrier_sends(&invite("74950000001", "Supported: 100rel\n"));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(
        &b,
        "183 Session Progress",
        "Require: 100rel\nRSeq: 1\n",
    ));
    let tag = carrier_to_tag(&h);
    h.carrier_sends(&with_headers(
        &a_leg_request("PRACK", 11, &tag),
        "RAck: 1 10 INVITE\n",
    ));
    assert_eq!(count_pbx(&h, Method::Prack), 1);
    h.pbx_sends(&pbx_response(&b, "486 Busy Here", ""));
    assert_eq!(carrier_answers(&h, Method::Invite).last(), Some(&(486, 10)));
    h.advance(Duration::from_secs(25));
    assert_eq!(h.core.active_calls(), 1, "the PRACK is still in flight");
    h.advance(Duration::from_secs(10));
    assert_eq!(carrier_answers(&h, Method::Prack), [(408, 11)]);
    assert_eq!(h.core.active_calls(), 0);
    assert_eq!(h.ended().len(), 1);
    assert_eq!(h.ended()[0].disposition, Disposition::Busy);
}

// ---- in-dialog requests from the caller ----------------------------------------------------

#[test]
fn update_and_info_from_the_caller_are_relayed_with_their_answers() {
    let mut h = answered_call();
    let tag = carrier_to_tag(&h);
    let b = h.last_to_pbx(Method::Invite);
    let update = with_headers(
        &a_leg_request("UPDATE", 11, &tag),
        &format!("Contact: <sip:79161234567@{CARRIER}>\n"),
    );
    h.carrier_sends(&with_body(&update, "v=0 upd"));
    let b_update = h.last_to_pbx(Method::Update);
    assert_eq!(b_update.call_id(), b.call_id());
    assert_eq!(to_tag(&b_update).as_deref(), Some("pbx1"));
    assert_eq!(from_tag(&b_update), from_tag(&b));
    assert_eq!(b_update.body(), b"v=0 upd\r\n");
    assert_eq!(
        b_update.contact().unwrap().unwrap().uri,
        "sip:127.0.0.1:5060"
    );
    let b_seq = b_update.cseq().unwrap().seq;
    h.pbx_sends(&with_body(
        &pbx_response(&b_update, "200 OK", ""),
        "v=0 ans",
    ));
    let ok = h.to_carrier.last().unwrap().clone();
    assert_eq!((ok.status(), ok.cseq().unwrap().seq), (Some(200), 11));
    assert_eq!(ok.cseq().unwrap().method, Method::Update);
    assert_eq!(to_tag(&ok).as_deref(), Some(tag.as_str()));
    assert_eq!(from_tag(&ok).as_deref(), Some("c1"));
    assert_eq!(ok.body(), b"v=0 ans\r\n");
    assert_eq!(ok.contact().unwrap().unwrap().uri, "sip:127.0.0.1:5060");

    h.carrier_sends(&with_headers(
        &a_leg_request("INFO", 12, &tag),
        "Info-Package: dtmf\n",
    ));
    let b_info = h.last_to_pbx(Method::Info);
    assert_eq!(b_info.cseq().unwrap().seq, b_seq + 1);
    assert!(b_info.as_bytes().windows(12).any(|w| w == b"Info-Package"));
    h.pbx_sends(&pbx_response(&b_info, "200 OK", ""));
    assert_eq!(carrier_answers(&h, Method::Info), [(200, 12)]);
    let info_ok = h.to_carrier.last().unwrap();
    assert_eq!(to_tag(info_ok).as_deref(), Some(tag.as_str()));
}

#[test]
fn in_dialog_options_is_relayed_to_the_callee() {
    let mut h = answered_call();
    let tag = carrier_to_tag(&h);
    h.carrier_sends(&a_leg_request("OPTIONS", 11, &tag));
    let b_options = h.last_to_pbx(Method::Options);
    assert_eq!(to_tag(&b_options).as_deref(), Some("pbx1"));
    let ok = pbx_response(&b_options, "200 OK", "Allow: INVITE, ACK, BYE\n");
    h.pbx_sends(&ok);
    let relayed = h.to_carrier.last().unwrap();
    assert_eq!(relayed.status(), Some(200));
    assert_eq!(relayed.cseq().unwrap().seq, 11);
    assert_eq!(relayed.cseq().unwrap().method, Method::Options);
    assert_eq!(relayed.header(&HeaderName::Allow), Some("INVITE, ACK, BYE"));
    assert_eq!(to_tag(relayed).as_deref(), Some(tag.as_str()));
}

// ---- endings that cross ----------------------------------------------------------------------

#[test]
fn bye_glare_answers_both_byes_and_records_once() {
    let mut h = answered_call();
    let tag = carrier_to_tag(&h);
    let b = h.last_to_pbx(Method::Invite);
    h.carrier_sends(&a_leg_request("BYE", 11, &tag));
    h.pbx_sends(&pbx_request(&b, "BYE", 1));
    assert_eq!(carrier_answers(&h, Method::Bye), [(200, 11)]);
    let pbx_ok = h.to_pbx.last().unwrap();
    assert_eq!(pbx_ok.status(), Some(200));
    assert_eq!(pbx_ok.cseq().unwrap().method, Method::Bye);
    assert_eq!(pbx_ok.cseq().unwrap().seq, 1);
    assert_eq!(count_pbx(&h, Method::Bye), 1, "our BYE crossed the PBX's");
    let our_bye = h.last_to_pbx(Method::Bye);
    h.pbx_sends(&pbx_response(&our_bye, "200 OK", ""));
    assert!(
        h.to_carrier
            .iter()
            .all(|m| m.method() != Some(&Method::Bye))
    );
    assert_eq!(h.ended().len(), 1);
    assert_eq!(h.ended()[0].hangup_side, HangupSide::Caller);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn answer_crossing_the_cancel_is_acked_and_hung_up() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(&b, "180 Ringing", ""));
    h.carrier_sends(&carrier_cancel());
    let b_cancel = h.last_to_pbx(Method::Cancel);
    h.pbx_sends(&pbx_response(&b, "200 OK", ""));
    h.pbx_sends(&pbx_response(&b_cancel, "200 OK", ""));

    let ack = h.last_to_pbx(Method::Ack);
    assert_eq!(ack.cseq().unwrap().seq, b.cseq().unwrap().seq);
    assert_eq!(to_tag(&ack).as_deref(), Some("pbx1"));
    let bye = h.last_to_pbx(Method::Bye);
    assert_eq!(bye.call_id(), b.call_id());
    assert_eq!(to_tag(&bye).as_deref(), Some("pbx1"));
    let finals: Vec<_> = carrier_answers(&h, Method::Invite)
        .into_iter()
        .filter(|(s, _)| *s >= 200)
        .collect();
    assert_eq!(
        finals,
        [(487, 10)],
        "the late 200 is not relayed to the caller"
    );
    h.pbx_sends(&pbx_response(&bye, "200 OK", ""));
    let cdrs = h.ended();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(
        (cdrs[0].disposition, cdrs[0].sip_status),
        (Disposition::Cancelled, 487)
    );
    assert_eq!(h.core.active_calls(), 0);
}

// ---- timers on the virtual clock -------------------------------------------------------------

#[test]
fn max_call_duration_hangs_up_both_legs() {
    let mut h = answered_call_with("[calls]\nmax_call_secs = 60\n");
    h.advance(Duration::from_secs(59));
    assert_eq!(count_pbx(&h, Method::Bye), 0);
    h.advance(Duration::from_secs(2));
    let a_bye = last_carrier_request(&h, Method::Bye);
    assert_eq!(a_bye.call_id(), Some("a-leg-1@carrier"));
    assert_eq!(to_tag(&a_bye).as_deref(), Some("c1"));
    let b_bye = h.last_to_pbx(Method::Bye);
    assert_eq!(to_tag(&b_bye).as_deref(), Some("pbx1"));
    let cdr = h.ended()[0];
    assert_eq!(
        (cdr.disposition, cdr.hangup_side, cdr.talk_secs),
        (Disposition::Answered, HangupSide::System, 60)
    );
    h.carrier_sends(&pbx_response(&a_bye, "200 OK", ""));
    h.pbx_sends(&pbx_response(&b_bye, "200 OK", ""));
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn missing_ack_from_the_caller_hangs_up_both_legs_after_64_t1() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(&b, "200 OK", ""));
    h.advance(Duration::from_secs(31));
    assert!(
        carrier_answers(&h, Method::Invite)
            .iter()
            .filter(|(s, _)| *s == 200)
            .count()
            > 3,
        "the 2xx is retransmitted while no ACK comes"
    );
    assert_eq!(count_pbx(&h, Method::Bye), 0);
    h.advance(Duration::from_secs(2));
    let a_bye = last_carrier_request(&h, Method::Bye);
    assert_eq!(a_bye.call_id(), Some("a-leg-1@carrier"));
    let b_bye = h.last_to_pbx(Method::Bye);
    assert_eq!(b_bye.call_id(), b.call_id());
    assert_eq!(h.ended().len(), 1);
    assert_eq!(h.ended()[0].hangup_side, HangupSide::System);
}

// ---- answers from the PBX ---------------------------------------------------------------------

#[test]
fn unavailable_callee_becomes_500_upstream_and_recorded_failed() {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    let b = h.last_to_pbx(Method::Invite);
    h.pbx_sends(&pbx_response(
        &b,
        "503 Service Unavailable",
        "Retry-After: 120\n",
    ));
    // RFC 3261 §16.7: a 503 upstream would tell the carrier calltrack is down for all calls.
    assert_eq!(carrier_answers(&h, Method::Invite).last(), Some(&(500, 10)));
    let answer = h.to_carrier.last().unwrap();
    assert_eq!(answer.header(&HeaderName::RetryAfter), None);
    assert_eq!(h.pbx_methods().last().map(String::as_str), Some("ACK"));
    let cdr = h.ended()[0];
    assert_eq!(
        (cdr.disposition, cdr.sip_status, cdr.hangup_side),
        (Disposition::Failed, 500, HangupSide::Callee)
    );
}

#[test]
fn retransmitted_answer_is_re_acked_not_relayed_again() {
    let mut h = answered_call();
    let b = h.last_to_pbx(Method::Invite);
    let first_ack = h.last_to_pbx(Method::Ack);
    let answers = carrier_answers(&h, Method::Invite);
    h.pbx_sends(&pbx_response(&b, "200 OK", ""));
    assert_eq!(count_pbx(&h, Method::Ack), 2, "re-ACKed");
    let second_ack = h.to_pbx.last().unwrap();
    assert_eq!(second_ack.as_bytes(), first_ack.as_bytes());
    assert_eq!(carrier_answers(&h, Method::Invite), answers);
    assert_eq!(h.ended().len(), 0);
}

#[test]
fn second_forked_answer_is_acked_and_hung_up_without_touching_the_call() {
    let mut h = answered_call();
    let b = h.last_to_pbx(Method::Invite);
    let carrier_before = h.to_carrier.len();
    let fork = pbx_response(&b, "200 OK", "").replace("tag=pbx1", "tag=pbx2");
    h.pbx_sends(&fork);
    let ack = h.last_to_pbx(Method::Ack);
    assert_eq!(
        ack.to().unwrap().tag(),
        Some("pbx2"),
        "the extra branch is ACKed"
    );
    let bye = h.last_to_pbx(Method::Bye);
    assert_eq!(bye.to().unwrap().tag(), Some("pbx2"), "and hung up");
    assert_eq!(
        h.to_carrier.len(),
        carrier_before,
        "the caller hears nothing of it"
    );
    assert!(h.ended().is_empty(), "the call goes on");
    let tag = carrier_to_tag(&h);
    h.carrier_sends(&a_leg_request("BYE", 11, &tag));
    let bye = h.last_to_pbx(Method::Bye);
    assert_eq!(
        bye.to().unwrap().tag(),
        Some("pbx1"),
        "the call's own dialog is kept"
    );
    assert_eq!(h.ended().len(), 1);
}

// ---- what reaches the PBX (issue 18) ---------------------------------------------------

fn raw_values<'a>(msg: &'a SipMessage, name: &str) -> Vec<&'a str> {
    msg.headers()
        .iter()
        .filter(|f| msg.field_name(f).eq_ignore_ascii_case(name.as_bytes()))
        .filter_map(|f| msg.field_str(f))
        .collect()
}

#[test]
fn calltracks_diversion_goes_on_top_of_the_carriers() {
    let carrier_diversion = "Diversion: <sip:forged@carrier.example>;reason=user-busy\n";
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", carrier_diversion));
    let b = h.last_to_pbx(Method::Invite);
    assert_eq!(
        raw_values(&b, "Diversion"),
        [
            "<sip:74950000001@127.0.0.1:5060>;reason=unconditional",
            "<sip:forged@carrier.example>;reason=user-busy"
        ],
        "RFC 5806: the newest diversion (calltrack's) first"
    );
    let mut h = Harness::new("[tracking]\nkeep_carrier_diversion = false\n");
    h.carrier_sends(&invite("74950000001", carrier_diversion));
    let b = h.last_to_pbx(Method::Invite);
    assert_eq!(
        raw_values(&b, "Diversion"),
        ["<sip:74950000001@127.0.0.1:5060>;reason=unconditional"]
    );
}

#[test]
fn oversized_values_do_not_reach_the_pbx() {
    let mut h = Harness::new("");
    let name = "N".repeat(20_000);
    let text = invite("74950000001", &format!("X-Huge: {}\n", "h".repeat(1025)))
        .replace("\"Alice\"", &format!("\"{name}\""));
    h.carrier_sends(&text);
    let b = h.last_to_pbx(Method::Invite);
    assert_eq!(
        b.header(&HeaderName::From).unwrap().split(";tag=").next(),
        Some("<sip:79161234567@127.0.0.1:5060>"),
        "the display name is dropped, the number kept"
    );
    assert!(raw_values(&b, "X-Huge").is_empty());
    assert_eq!(
        raw_values(&b, "P-Asserted-Identity"),
        ["<sip:+79161234567@carrier.example>"]
    );
    // A Content-Type over the bound cannot be dropped with its body: the caller gets 400.
    let mut h = Harness::new("");
    let long_type = format!("application/sdp;x={}", "t".repeat(1100));
    h.carrier_sends(&invite("74950000001", "").replace("application/sdp", &long_type));
    assert!(h.to_pbx.is_empty());
    assert_eq!(h.carrier_statuses().last(), Some(&400));
}

#[test]
fn cseq_of_2_pow_31_gets_400() {
    let mut h = Harness::new("");
    h.carrier_sends(
        &invite("74950000001", "").replace("CSeq: 10 INVITE", "CSeq: 2147483648 INVITE"),
    );
    assert_eq!(h.carrier_statuses(), [400]);
    assert!(h.to_pbx.is_empty());
}

#[test]
fn dialog_creating_responses_carry_the_record_route_back() {
    let mut h = Harness::new("");
    let rr = "Record-Route: <sip:127.0.0.3:5070;lr;ftag=c1>\nRecord-Route: <sip:10.9.9.9;lr>\n";
    h.carrier_sends(&invite("74950000001", rr));
    let b_invite = h.last_to_pbx(Method::Invite);
    assert_eq!(
        b_invite.count(&HeaderName::RecordRoute),
        0,
        "never to the PBX"
    );
    h.pbx_sends(&pbx_response(&b_invite, "180 Ringing", ""));
    h.pbx_sends(&pbx_response(&b_invite, "200 OK", ""));
    for status in [180, 200] {
        let resp = h
            .to_carrier
            .iter()
            .find(|m| m.status() == Some(status))
            .unwrap();
        let routes: Vec<&str> = resp.values(&HeaderName::RecordRoute).collect();
        assert_eq!(
            routes,
            ["<sip:127.0.0.3:5070;lr;ftag=c1>", "<sip:10.9.9.9;lr>"],
            "{status}: RFC 3261 §12.1.1, in order"
        );
    }
    let trying = h.to_carrier.iter().find(|m| m.status() == Some(100));
    assert!(trying.is_none_or(|m| m.count(&HeaderName::RecordRoute) == 0));
}

/// A B-leg INVITE too large for UDP goes over TCP; when TCP fails it is retried over UDP
/// (RFC 3261 §18.1.1), and then its Contact must not say `transport=tcp` any more.
#[test]
fn large_invite_retried_over_udp_advertises_a_udp_contact() {
    let mut h = Harness::new("");
    let filler: String = (0..4)
        .map(|i| format!("X-Filler-{i}: {}\n", "f".repeat(400)))
        .collect();
    h.carrier_sends(&invite("74950000001", &filler));
    let over_tcp = h.last_to_pbx(Method::Invite);
    assert!(
        over_tcp
            .top_via()
            .unwrap()
            .transport
            .eq_ignore_ascii_case("TCP")
    );
    assert!(
        over_tcp
            .header(&HeaderName::Contact)
            .unwrap()
            .contains("transport=tcp")
    );
    let before = h.to_pbx.len();
    h.core
        .handle_transport_error(h.now, Peer::new(Transport::Tcp, PBX.parse().unwrap()));
    h.collect();
    let retry = h.to_pbx[before..]
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("retried over UDP");
    assert!(
        retry
            .top_via()
            .unwrap()
            .transport
            .eq_ignore_ascii_case("UDP")
    );
    assert_eq!(
        retry.header(&HeaderName::Contact),
        Some("<sip:127.0.0.1:5060>")
    );
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}

/// `request` carrying a DTMF key in SIP INFO, as carriers that signal keys in SIP send it.
fn with_dtmf_relay(request: &str, key: char) -> String {
    // The rig turns each "\n" into "\r\n": 24 bytes on the wire.
    let body = format!("Signal={key}\nDuration=160\n");
    request.replace(
        "Content-Length: 0\n\n",
        &format!("Content-Type: application/dtmf-relay\nContent-Length: 24\n\n{body}"),
    )
}

#[test]
fn dtmf_in_info_is_relayed_unchanged_both_ways_and_answered() {
    use calltrack::media::dtmf_info::parse_info;
    let mut h = answered_call();
    let tag = carrier_to_tag(&h);
    let b = h.last_to_pbx(Method::Invite);
    h.carrier_sends(&with_dtmf_relay(&a_leg_request("INFO", 12, &tag), '5'));
    let b_info = h.last_to_pbx(Method::Info);
    assert_eq!(b_info.body(), b"Signal=5\r\nDuration=160\r\n");
    let content_type = raw_values(&b_info, "Content-Type");
    assert_eq!(content_type, ["application/dtmf-relay"]);
    assert_eq!(
        parse_info(content_type[0], b_info.body()).map(|d| d.as_char()),
        Ok('5')
    );
    h.pbx_sends(&pbx_response(&b_info, "200 OK", ""));
    assert_eq!(carrier_answers(&h, Method::Info), [(200, 12)]);

    h.pbx_sends(&with_dtmf_relay(&pbx_request(&b, "INFO", 7), '#'));
    let a_info = last_carrier_request(&h, Method::Info);
    assert_eq!(a_info.body(), b"Signal=#\r\nDuration=160\r\n");
    assert_eq!(
        raw_values(&a_info, "Content-Type"),
        ["application/dtmf-relay"]
    );
}
