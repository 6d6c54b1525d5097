//! The B2BUA core on a virtual clock: a scripted carrier and PBX exchange messages with
//! `B2bua` in memory (no sockets, no sleeps), covering bridging, CANCEL, BYE from each side,
//! timers, re-INVITE, rejections and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::call::record::{Disposition, HangupSide};
use calltrack::call::{B2bua, CallEvent};
use calltrack::config::Config;
use calltrack::sip::dialog::LocalEndpoint;
use calltrack::sip::message::{HeaderName, Limits};
use calltrack::sip::{Method, Peer, SipMessage, Transport};
use time::macros::datetime;

const CARRIER: &str = "127.0.0.1:40000";
const PBX: &str = "127.0.0.1:5080";

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

/// The core plus a virtual clock and what it sent, split by destination.
struct Harness {
    core: B2bua,
    now: Instant,
    to_carrier: Vec<SipMessage>,
    to_pbx: Vec<SipMessage>,
    events: Vec<CallEvent>,
}

impl Harness {
    fn new(extra: &str) -> Harness {
        let local = LocalEndpoint {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: Some("127.0.0.1:5060".parse().unwrap()),
            advertised_host: None,
            advertised_port: None,
        };
        let now = Instant::now();
        let core = B2bua::new(
            config(extra),
            Default::default(),
            local,
            now,
            datetime!(2026-11-23 10:00 UTC),
            42,
        );
        Harness {
            core,
            now,
            to_carrier: vec![],
            to_pbx: vec![],
            events: vec![],
        }
    }

    fn carrier_sends(&mut self, text: &str) {
        self.feed(text, CARRIER);
    }

    fn pbx_sends(&mut self, text: &str) {
        self.feed(text, PBX);
    }

    fn feed(&mut self, text: &str, from: &str) {
        let peer = Peer::new(Transport::Udp, from.parse().unwrap());
        let bytes = Bytes::from(text.replace('\n', "\r\n"));
        self.core.handle_datagram(self.now, bytes, peer);
        self.collect();
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(due) = self.core.poll_timeout().filter(|t| *t <= end) {
            self.now = due.max(self.now);
            self.core.handle_timeout(self.now);
            self.collect();
        }
        self.now = end;
        self.core.handle_timeout(self.now);
        self.collect();
    }

    fn collect(&mut self) {
        let carrier: SocketAddr = CARRIER.parse().unwrap();
        while let Some(t) = self.core.poll_transmit() {
            let msg = SipMessage::parse(t.bytes, &Limits::default()).unwrap();
            if t.peer.addr == carrier {
                self.to_carrier.push(msg);
            } else {
                assert_eq!(t.peer.addr, PBX.parse::<SocketAddr>().unwrap());
                self.to_pbx.push(msg);
            }
        }
        while let Some(e) = self.core.poll_event() {
            self.events.push(e);
        }
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

    fn last_pbx_request(&self, method: Method) -> SipMessage {
        self.to_pbx
            .iter()
            .rev()
            .find(|m| m.method() == Some(&method))
            .cloned()
            .unwrap()
    }

    fn ended(&self) -> Vec<&calltrack::call::record::CallDetailRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended(cdr) => Some(cdr),
                _ => None,
            })
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

/// A response from the PBX to the B-leg INVITE we sent.
fn pbx_response(req: &SipMessage, status: &str, extra: &str) -> String {
    let via = req.header(&HeaderName::Via).unwrap();
    let from = req.header(&HeaderName::From).unwrap();
    let to = req.header(&HeaderName::To).unwrap();
    let call_id = req.call_id().unwrap();
    let cseq = req.header(&HeaderName::CSeq).unwrap();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag=pbx1")
    };
    format!(
        "SIP/2.0 {status}
Via: {via}
From: {from}
To: {to}
Call-ID: {call_id}
CSeq: {cseq}
Contact: <sip:pbx@{PBX}>
{extra}Content-Length: 0

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

fn carrier_to_tag(h: &Harness) -> String {
    h.to_carrier
        .iter()
        .find_map(|m| m.to().ok().and_then(|t| t.tag().map(str::to_string)))
        .unwrap()
}

/// Carrier INVITE, PBX 180 + 200: an answered call.
fn answered_call() -> Harness {
    let mut h = Harness::new("");
    h.carrier_sends(&invite("74950000001", ""));
    let b_invite = h.last_pbx_request(Method::Invite);
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
    let b = h.last_pbx_request(Method::Invite);
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
    let bye = h.last_pbx_request(Method::Bye);
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
    let b = h.last_pbx_request(Method::Invite);
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
    let b = h.last_pbx_request(Method::Invite);
    h.pbx_sends(&pbx_response(&b, "180 Ringing", ""));
    let cancel = format!(
        "CANCEL sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier1;rport
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 CANCEL
Content-Length: 0

"
    );
    h.carrier_sends(&cancel);
    assert!(
        h.carrier_statuses().ends_with(&[200, 487]) || h.carrier_statuses().ends_with(&[487, 200])
    );
    let pbx_cancel = h.last_pbx_request(Method::Cancel);
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
    let b = h.last_pbx_request(Method::Invite);
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
    let b = h.last_pbx_request(Method::Invite);
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
    let b = h.last_pbx_request(Method::Invite);
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
    let a_ok = format!(
        "SIP/2.0 200 OK
Via: {via}
From: {from}
To: {to}
Call-ID: a-leg-1@carrier
CSeq: {cseq}
Contact: <sip:79161234567@{CARRIER}>
Content-Length: 0

",
        via = a_re.header(&HeaderName::Via).unwrap(),
        from = a_re.header(&HeaderName::From).unwrap(),
        to = a_re.header(&HeaderName::To).unwrap(),
        cseq = a_re.header(&HeaderName::CSeq).unwrap()
    );
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
