//! The audit on a virtual clock: calls made to escape every timer (their timers or their
//! transactions taken away behind their back, as a bug would) are reaped once past their
//! deadline plus the teardown margin, get their CDR, are logged at WARN and counted.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::super::{B2bua, CallEvent, CallKey, Shared};
use super::{AUDIT_EVERY, teardown_margin};
use crate::call::record::{CallDetailRecord, Disposition, HangupSide};
use crate::config::Config;
use crate::sip::dialog::LocalEndpoint;
use crate::sip::message::{HeaderName, Limits, Method, SipMessage};
use crate::sip::{Peer, Transport};

use std::time::{Duration, Instant};

const CARRIER: &str = "127.0.0.1:40000";
const PBX: &str = "127.0.0.1:5080";

/// The core, a virtual clock, and everything it sent and reported.
struct Rig {
    core: B2bua,
    now: Instant,
    sent: Vec<(SocketAddr, SipMessage)>,
    events: Vec<CallEvent>,
}

impl Rig {
    fn new() -> Rig {
        let toml = format!(
            r#"[sip]
udp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[store]
path = "/nonexistent/cdr.db"
[health]
enabled = false
[calls]
max_call_secs = 60
[[sites]]
id = "demo"
forward_to = "sip:{PBX}"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
"#
        );
        let config = Arc::new(Config::from_toml_str(&toml).unwrap());
        let local = LocalEndpoint {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: None,
            advertised_host: None,
            advertised_port: None,
        };
        let now = Instant::now();
        let wall = ts("2026-12-04T10:00:00Z");
        let core = B2bua::new(config, Shared::default(), local, now, wall, 18);
        Rig {
            core,
            now,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn feed(&mut self, text: &str, from: &str) {
        let bytes = Bytes::from(text.replace('\n', "\r\n"));
        let peer = Peer::new(Transport::Udp, from.parse().unwrap());
        self.core.handle_datagram(self.now, bytes, peer);
        self.collect();
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(due) = self.core.poll_timeout().filter(|t| *t <= end) {
            self.now = due.max(self.now);
            self.core.handle_timeout(self.now);
        }
        self.now = end;
        self.core.handle_timeout(end);
        self.collect();
    }

    fn collect(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            let msg = SipMessage::parse(t.bytes, &Limits::default()).unwrap();
            self.sent.push((t.peer.addr, msg));
        }
        self.events
            .extend(std::iter::from_fn(|| self.core.poll_event()));
    }

    fn last_to(&self, to: &str, method: Method) -> SipMessage {
        let to: SocketAddr = to.parse().unwrap();
        let found = self.sent.iter().rev();
        let mut found = found.filter(|(addr, m)| *addr == to && m.method() == Some(&method));
        found.next().map(|(_, m)| m.clone()).unwrap()
    }

    fn statuses_to_carrier(&self) -> Vec<u16> {
        let carrier: SocketAddr = CARRIER.parse().unwrap();
        let sent = self.sent.iter().filter(|(addr, _)| *addr == carrier);
        sent.filter_map(|(_, m)| m.status()).collect()
    }

    fn ended(&self) -> Vec<&CallDetailRecord> {
        let ended = self.events.iter().filter_map(|e| match e {
            CallEvent::Ended(cdr) => Some(cdr),
            _ => None,
        });
        ended.collect()
    }

    /// The carrier's INVITE and the PBX's 180.
    fn ringing(&mut self) {
        self.feed(INVITE, CARRIER);
        let b = self.last_to(PBX, Method::Invite);
        self.feed(&response(&b, "180 Ringing"), PBX);
    }

    /// The escape: the call's timers are lost (ring timeout, maximum duration).
    fn lose_timers(&mut self) {
        self.core.armed.clear();
        self.core.deadlines.clear();
    }

    /// The escape: the call's client transactions vanish without a word to the session.
    fn lose_client_transactions(&mut self, key: CallKey) {
        for tx in self.core.owners.take_call(key) {
            if !self.core.layer.abandon(tx) {
                self.core.owners.insert(tx, key);
            }
        }
    }

    /// Runs to just before and just after the first audit past `deadline + margin`.
    fn run_to_the_reaping(&mut self, deadline: Instant) {
        let limit = deadline + teardown_margin(self.core.layer.timer_config());
        self.advance(limit - self.now - Duration::from_secs(1));
        assert_eq!(self.core.active_calls(), 1, "not reaped before its time");
        assert_eq!(self.core.stats().calls_reaped, 0);
        self.advance(AUDIT_EVERY + Duration::from_secs(1));
    }
}

const INVITE: &str = "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKcarrier1;rport
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 INVITE
Contact: <sip:79161234567@127.0.0.1:40000>
Content-Length: 0

";

fn response(req: &SipMessage, status: &str) -> String {
    let to = req.header(&HeaderName::To).unwrap();
    format!(
        "SIP/2.0 {status}\nVia: {via}\nFrom: {from}\nTo: {to};tag=pbx1\nCall-ID: {cid}\n\
CSeq: {cseq}\nContact: <sip:pbx@{PBX}>\nContent-Length: 0\n\n",
        via = req.header(&HeaderName::Via).unwrap(),
        from = req.header(&HeaderName::From).unwrap(),
        cid = req.call_id().unwrap(),
        cseq = req.header(&HeaderName::CSeq).unwrap(),
    )
}

/// The caller's ACK for our 2xx (the To tag of that 2xx, a new branch).
fn caller_ack(rig: &Rig) -> String {
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    let ok = rig
        .sent
        .iter()
        .rev()
        .find(|(addr, m)| *addr == carrier && m.status() == Some(200));
    let to = ok.unwrap().1.header(&HeaderName::To).unwrap().to_string();
    INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("10 INVITE", "10 ACK")
        .replace("z9hG4bKcarrier1", "z9hG4bKcarrierack")
        .replace("To: <sip:74950000001@127.0.0.1>", &format!("To: {to}"))
}

/// Everything logged while `f` runs, as text.
fn logs_of(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_answered_call_that_lost_its_timers_is_reaped_with_an_answered_cdr() {
    let mut rig = Rig::new();
    rig.ringing();
    let b = rig.last_to(PBX, Method::Invite);
    rig.feed(&response(&b, "200 OK"), PBX);
    rig.feed(&caller_ack(&rig), CARRIER);
    assert_eq!(rig.last_to(PBX, Method::Ack).call_id(), b.call_id());
    let answered_at = rig.now;
    rig.lose_timers();
    let logs = logs_of(|| rig.run_to_the_reaping(answered_at + Duration::from_secs(60)));
    assert_eq!(rig.core.active_calls(), 0, "reaped");
    assert_eq!(rig.core.stats().calls_reaped, 1);
    let cdrs = rig.ended();
    assert_eq!(cdrs.len(), 1, "one CDR");
    assert_eq!(
        (cdrs[0].disposition, cdrs[0].hangup_side),
        (Disposition::Answered, HangupSide::System),
        "an answered call always ends as an answered CDR"
    );
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("reaped"), "{logs}");
    assert!(
        logs.contains("a-leg-1@carrier"),
        "the call id is logged: {logs}"
    );
    let bye = rig.last_to(PBX, Method::Bye);
    assert_eq!(bye.call_id(), b.call_id(), "the PBX leg is hung up");
    rig.last_to(CARRIER, Method::Bye);
    rig.advance(Duration::from_secs(40));
    assert!(rig.core.transactions().is_empty(), "every transaction ends");
}

#[test]
fn a_ringing_call_whose_transactions_vanished_is_reaped_and_answered() {
    let mut rig = Rig::new();
    let opened = rig.now;
    rig.ringing();
    rig.lose_timers();
    rig.lose_client_transactions(CallKey(0));
    let logs = logs_of(|| rig.run_to_the_reaping(opened + Duration::from_secs(60)));
    assert_eq!(rig.core.active_calls(), 0, "reaped");
    assert_eq!(rig.core.stats().calls_reaped, 1);
    assert!(logs.contains("reaped"), "{logs}");
    assert_eq!(
        rig.statuses_to_carrier().last(),
        Some(&408),
        "the caller hears a final"
    );
    let cdrs = rig.ended();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].disposition, Disposition::Failed);
    assert_eq!(
        rig.last_to(PBX, Method::Cancel).call_id(),
        rig.last_to(PBX, Method::Invite).call_id(),
        "the ringing PBX leg is cancelled"
    );
}

#[test]
fn the_audit_sleeps_while_no_call_is_in_memory() {
    let mut rig = Rig::new();
    assert_eq!(rig.core.poll_timeout(), None);
    rig.feed(INVITE, CARRIER);
    let due = rig.core.poll_timeout().unwrap();
    assert!(due <= rig.now + AUDIT_EVERY);
}

/// Calls that end long before their maximum duration leave no entry behind in the deadline
/// heap: it stays proportional to the calls that are armed, not to the call rate times
/// `max_call_secs`.
#[test]
fn ended_calls_leave_no_deadlines_behind() {
    let mut rig = Rig::new();
    for n in 0..500 {
        let invite = INVITE
            .replace("a-leg-1@carrier", &format!("a-leg-{n}@carrier"))
            .replace("z9hG4bKcarrier1", &format!("z9hG4bKcarrier-{n}"))
            .replace("tag=c1", &format!("tag=c-{n}"));
        rig.feed(&invite, CARRIER);
        let b = rig.last_to(PBX, Method::Invite);
        rig.feed(&response(&b, "486 Busy Here"), PBX);
        rig.advance(Duration::from_millis(10));
    }
    assert_eq!(rig.ended().len(), 500);
    let (heap, armed) = (rig.core.deadlines.len(), rig.core.armed.len());
    assert!(
        heap <= 64 + 2 * armed,
        "{heap} heap entries for {armed} armed calls"
    );
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
