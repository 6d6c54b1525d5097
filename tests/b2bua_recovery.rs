//! Crash recovery in the B2BUA core on a virtual clock: an answered call reports its two
//! dialogs (and again after a target refresh), and a fresh core handed those dialogs at
//! start-up sends BYE on both legs (right Call-ID, tags, CSeq, Route, Request-URI and next
//! hop, retransmitted until answered), answers the peers' requests in those dialogs (BYE 200,
//! others 481), and forgets them after a bounded time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::call::live_dialog::{CallDialogs, InterruptedCall};
use calltrack::config::Config;
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, SipMessage};

const CARRIER: &str = "127.0.0.1:40000";
/// The carrier's record-routing proxy (the A leg's route set).
const CARRIER_PROXY: &str = "127.0.0.1:40001";
const PBX: &str = "127.0.0.1:5080";
/// The PBX side's proxies, nearest to calltrack first.
const PBX_PROXY_NEAR: &str = "127.0.0.1:5090";
const PBX_PROXY_FAR: &str = "127.0.0.1:5091";

fn config() -> Arc<Config> {
    let toml = format!(
        r#"[sip]
udp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[health]
enabled = false
[store]
path = "/nonexistent/cdr.db"
[[sites]]
id = "demo"
forward_to = "sip:{PBX}"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
"#
    );
    Arc::new(Config::from_toml_str(&toml).unwrap())
}

/// A core on a virtual clock, with everything it sent (by destination) and reported.
struct Core {
    core: B2bua,
    now: Instant,
    sent: Vec<(SocketAddr, SipMessage)>,
    events: Vec<CallEvent>,
}

impl Core {
    fn new(now: Instant, seed: u64) -> Core {
        let core = B2bua::new(
            config(),
            Default::default(),
            core_harness::loopback_endpoint(false),
            now,
            ts("2026-11-23T10:00:00Z"),
            seed,
        );
        Core {
            core,
            now,
            sent: vec![],
            events: vec![],
        }
    }

    fn feed(&mut self, text: &str, from: &str) {
        core_harness::feed(&mut self.core, self.now, text, from.parse().unwrap());
        self.collect();
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        core_harness::run_until(&mut self.core, &mut self.now, end);
        self.collect();
    }

    fn collect(&mut self) {
        self.sent.extend(core_harness::sent(&mut self.core));
        self.events.extend(core_harness::events(&mut self.core));
    }

    /// Takes what was sent to `to` so far.
    fn take_sent_to(&mut self, to: &str) -> Vec<SipMessage> {
        let to: SocketAddr = to.parse().unwrap();
        let (mine, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(addr, _)| *addr == to);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    fn last_dialogs(&self) -> CallDialogs {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                CallEvent::Dialogs { dialogs, .. } => Some(dialogs.clone()),
                _ => None,
            })
            .expect("the answered call reported its dialogs")
    }

    fn dialog_reports(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, CallEvent::Dialogs { .. }))
            .count()
    }
}

fn invite() -> String {
    format!(
        "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER_PROXY};branch=z9hG4bKproxy1
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier1;rport
Record-Route: <sip:{CARRIER_PROXY};lr>
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 INVITE
Contact: <sip:79161234567@{CARRIER}>
Content-Type: application/sdp
Content-Length: 5

v=0
"
    )
}

/// The PBX's response to the B-leg INVITE, through two record-routing proxies.
fn pbx_response(req: &SipMessage, status: &str, contact: &str) -> String {
    let via = req.header(&HeaderName::Via).unwrap();
    let from = req.header(&HeaderName::From).unwrap();
    let to = req.header(&HeaderName::To).unwrap();
    let call_id = req.call_id().unwrap();
    let cseq = req.header(&HeaderName::CSeq).unwrap();
    format!(
        "SIP/2.0 {status}
Via: {via}
Record-Route: <sip:{PBX_PROXY_FAR};lr>, <sip:{PBX_PROXY_NEAR};lr>
From: {from}
To: {to};tag=pbx1
Call-ID: {call_id}
CSeq: {cseq}
Contact: <sip:pbx@{contact}>
Content-Length: 0

"
    )
}

/// A request from the carrier in the A-leg dialog (our tag `to_tag`).
fn carrier_request(method: &str, cseq: u32, to_tag: &str) -> String {
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKc{method}{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={to_tag}
Call-ID: a-leg-1@carrier
CSeq: {cseq} {method}
Content-Length: 0

"
    )
}

/// A request from the PBX in the B-leg dialog.
fn pbx_request(b_invite: &SipMessage, method: &str, cseq: u32, contact: &str) -> String {
    let from = b_invite.header(&HeaderName::From).unwrap();
    let to = b_invite.header(&HeaderName::To).unwrap();
    let call_id = b_invite.call_id().unwrap();
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKp{method}{cseq}
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:pbx@{contact}>
Content-Length: 0

"
    )
}

/// The response to `req` from its recipient.
fn ok_to(req: &SipMessage) -> String {
    let via = req.header(&HeaderName::Via).unwrap();
    format!(
        "SIP/2.0 200 OK
Via: {via}
From: {}
To: {}
Call-ID: {}
CSeq: {}
Content-Length: 0

",
        req.header(&HeaderName::From).unwrap(),
        req.header(&HeaderName::To).unwrap(),
        req.call_id().unwrap(),
        req.header(&HeaderName::CSeq).unwrap(),
    )
}

fn statuses(msgs: &[SipMessage]) -> Vec<u16> {
    msgs.iter().filter_map(SipMessage::status).collect()
}

fn routes(msg: &SipMessage) -> Vec<&str> {
    msg.values(&HeaderName::Route).collect()
}

/// An answered call on `c`: returns the B-leg INVITE and our A-leg tag.
fn answer_a_call(c: &mut Core) -> (SipMessage, String) {
    c.feed(&invite(), CARRIER);
    let b_invite = c.take_sent_to(PBX).pop().unwrap();
    c.feed(&pbx_response(&b_invite, "200 OK", PBX), PBX_PROXY_NEAR);
    let to_carrier = c.take_sent_to(CARRIER);
    let ok = to_carrier.iter().find(|m| m.status() == Some(200)).unwrap();
    let tag = ok.to().unwrap().tag().unwrap().to_string();
    c.take_sent_to(PBX_PROXY_NEAR); // the ACK
    (b_invite, tag)
}

#[test]
fn an_answered_call_reports_its_dialogs_and_again_after_a_target_refresh() {
    let mut c = Core::new(Instant::now(), 42);
    let (b_invite, a_tag) = answer_a_call(&mut c);
    assert_eq!(c.dialog_reports(), 1, "reported once, when answered");
    let d = c.last_dialogs();
    assert_eq!(d.a.call_id, "a-leg-1@carrier");
    assert_eq!(d.a.local_tag, a_tag);
    assert_eq!(d.a.remote_tag.as_deref(), Some("c1"));
    assert_eq!(d.a.remote_target, format!("sip:79161234567@{CARRIER}"));
    assert_eq!(d.a.route_set, [format!("<sip:{CARRIER_PROXY};lr>")]);
    assert_eq!(d.a.peer, CARRIER_PROXY.parse::<SocketAddr>().unwrap());
    assert_eq!(d.a.transport, "UDP");
    assert_eq!(d.a.local_contact, "<sip:127.0.0.1:5060>");
    assert_eq!(Some(d.b.call_id.as_str()), b_invite.call_id());
    assert_eq!(Some(d.b.local_tag.as_str()), b_invite.from().unwrap().tag());
    assert_eq!(d.b.remote_tag.as_deref(), Some("pbx1"));
    assert_eq!(d.b.local_seq, b_invite.cseq().unwrap().seq);
    assert_eq!(
        d.b.route_set,
        [
            format!("<sip:{PBX_PROXY_NEAR};lr>"),
            format!("<sip:{PBX_PROXY_FAR};lr>")
        ],
        "Record-Route reversed for the UAC (RFC 3261 §12.1.2)"
    );

    // Ordinary messages change nothing: no new report.
    c.feed(&carrier_request("ACK", 10, &a_tag), CARRIER);
    c.advance(Duration::from_secs(5));
    assert_eq!(c.dialog_reports(), 1);

    // The PBX refreshes its target with a re-INVITE: relayed to the caller with our next
    // CSeq on the A leg; both changes are reported.
    c.feed(&pbx_request(&b_invite, "INVITE", 1, "127.0.0.1:5081"), PBX);
    assert_eq!(c.dialog_reports(), 2);
    let d2 = c.last_dialogs();
    assert_eq!(d2.b.remote_target, "sip:pbx@127.0.0.1:5081");
    assert_eq!(d2.a.local_seq, d.a.local_seq + 1);
    let reinvite = c
        .take_sent_to(CARRIER_PROXY)
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .unwrap();
    assert_eq!(reinvite.cseq().unwrap().seq, d2.a.local_seq);
}

#[test]
fn a_restarted_core_byes_both_legs_and_answers_their_requests() {
    // The call as the crashed process left it.
    let mut before = Core::new(Instant::now(), 42);
    let (b_invite, a_tag) = answer_a_call(&mut before);
    let dialogs = before.last_dialogs();
    let call = InterruptedCall {
        id: "0123456789abcdef".into(),
        dialogs: dialogs.clone(),
    };

    // A new process: the BYEs go out at the first timer, due at once.
    let start = before.now + Duration::from_secs(60);
    let mut c = Core::new(start, 7);
    c.core.recover(start, vec![call]);
    assert_eq!(c.core.poll_timeout(), Some(start));
    c.advance(Duration::ZERO);

    let a_bye = c
        .take_sent_to(CARRIER_PROXY)
        .pop()
        .expect("BYE to the caller");
    assert_eq!(a_bye.method(), Some(&Method::Bye));
    assert_eq!(
        a_bye.request_uri(),
        Some(format!("sip:79161234567@{CARRIER}").as_str())
    );
    assert_eq!(routes(&a_bye), [format!("<sip:{CARRIER_PROXY};lr>")]);
    assert_eq!(a_bye.call_id(), Some("a-leg-1@carrier"));
    assert_eq!(a_bye.from().unwrap().tag(), Some(a_tag.as_str()));
    assert_eq!(a_bye.to().unwrap().tag(), Some("c1"));
    assert_eq!(a_bye.cseq().unwrap().seq, dialogs.a.local_seq + 1);

    let b_bye = c
        .take_sent_to(PBX_PROXY_NEAR)
        .pop()
        .expect("BYE to the PBX");
    assert_eq!(b_bye.method(), Some(&Method::Bye));
    assert_eq!(b_bye.request_uri(), Some(format!("sip:pbx@{PBX}").as_str()));
    assert_eq!(
        routes(&b_bye),
        [
            format!("<sip:{PBX_PROXY_NEAR};lr>"),
            format!("<sip:{PBX_PROXY_FAR};lr>")
        ]
    );
    assert_eq!(b_bye.call_id(), b_invite.call_id());
    assert_eq!(b_bye.from().unwrap().tag(), b_invite.from().unwrap().tag());
    assert_eq!(b_bye.to().unwrap().tag(), Some("pbx1"));
    assert_eq!(b_bye.cseq().unwrap().seq, b_invite.cseq().unwrap().seq + 1);
    assert!(c.sent.is_empty(), "nothing else sent: {:?}", c.sent);

    // The PBX answers; the caller's side is silent, so its BYE is retransmitted (UDP).
    c.feed(&ok_to(&b_bye), PBX_PROXY_NEAR);
    c.advance(Duration::from_secs(2));
    assert!(
        c.take_sent_to(CARRIER_PROXY).len() >= 2,
        "Timer E retransmits"
    );
    assert!(
        c.take_sent_to(PBX_PROXY_NEAR).is_empty(),
        "answered: no more"
    );

    // The caller's own BYE (crossing ours) gets 200, its re-INVITE 481; an unknown dialog
    // still gets 481.
    c.feed(&carrier_request("BYE", 11, &a_tag), CARRIER);
    c.feed(&carrier_request("INVITE", 12, &a_tag), CARRIER);
    c.feed(&carrier_request("BYE", 13, "not-ours"), CARRIER);
    let answers = statuses(&c.take_sent_to(CARRIER));
    assert_eq!(answers, [200, 100, 481, 481]);
    // The PBX's dialog is kept a while after its BYE was answered: a crossing BYE gets 200.
    c.feed(&pbx_request(&b_invite, "BYE", 2, PBX), PBX);
    assert_eq!(statuses(&c.take_sent_to(PBX)), [200]);

    // Timer F ends the caller's BYE; 64·T1 later both dialogs are forgotten.
    c.advance(Duration::from_secs(32 + 33));
    c.take_sent_to(CARRIER_PROXY);
    c.take_sent_to(CARRIER); // the re-INVITE's 481, retransmitted for want of an ACK
    c.feed(&carrier_request("BYE", 14, &a_tag), CARRIER);
    c.feed(&pbx_request(&b_invite, "BYE", 3, PBX), PBX);
    assert_eq!(statuses(&c.take_sent_to(CARRIER)), [481]);
    assert_eq!(statuses(&c.take_sent_to(PBX)), [481]);
    assert_eq!(c.core.active_calls(), 0);
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
