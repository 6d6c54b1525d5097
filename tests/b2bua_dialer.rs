//! The dialer through the whole B2BUA core on a virtual clock: schemes from the config ring
//! several scripted PBX targets (loopback ports 5081-5083) in memory: hunting after a ring
//! timeout, parallel ringing with CANCEL to the losers, round robin and stickiness over
//! calls, failover, final statuses, the fallback and digest authentication.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::call::record::{CallDetailRecord, Disposition};
use calltrack::config::Config;
use calltrack::sip::digest::{self, Challenge};
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, SipMessage};

const CARRIER: &str = "127.0.0.1:40000";
const T1: u16 = 5081;
const T2: u16 = 5082;
const T3: u16 = 5083;

fn config(routing: &str) -> Arc<Config> {
    let toml = format!(
        r#"[sip]
udp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[store]
path = "/nonexistent/cdr.db"
[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
[[routes]]
number = "74950000001"
scheme = "sales"
{routing}"#
    );
    Arc::new(Config::from_toml_str(&toml).unwrap())
}

/// One step: strategy, (port, weight) of each target, extra step keys.
type Step<'a> = (&'a str, &'a [(u16, u32)], &'a str);

/// A scheme `sales` with these steps and extra scheme keys.
fn scheme(steps: &[Step<'_>], extra: &str) -> String {
    let mut s = format!("[[schemes]]\nid = \"sales\"\n{extra}\n");
    for (strategy, targets, keys) in steps {
        s.push_str(&format!(
            "[[schemes.steps]]\nstrategy = \"{strategy}\"\nring_timeout_secs = 5\n{keys}\n"
        ));
        for (port, weight) in *targets {
            s.push_str(&format!(
                "[[schemes.steps.targets]]\nuri = \"sip:127.0.0.1:{port}\"\nweight = {weight}\n"
            ));
        }
    }
    s
}

fn label(port: u16) -> String {
    format!("sip:127.0.0.1:{port}")
}

/// The core plus a virtual clock and everything it sent.
struct Harness {
    core: B2bua,
    now: Instant,
    t0: Instant,
    to_carrier: Vec<SipMessage>,
    to_pbx: Vec<(u16, SipMessage)>,
    events: Vec<CallEvent>,
}

impl Harness {
    fn new(routing: &str) -> Harness {
        let local = core_harness::loopback_endpoint(false);
        let now = Instant::now();
        let wall = ts("2026-11-23T10:00:00Z");
        let core = B2bua::new(config(routing), Default::default(), local, now, wall, 7);
        Harness {
            core,
            now,
            t0: now,
            to_carrier: vec![],
            to_pbx: vec![],
            events: vec![],
        }
    }

    fn feed(&mut self, text: &str, from: SocketAddr) {
        core_harness::feed(&mut self.core, self.now, text, from);
        self.collect();
    }

    fn carrier_sends(&mut self, text: &str) {
        self.feed(text, CARRIER.parse().unwrap());
    }

    /// Target `port` answers its latest INVITE (or `req`) with `status`.
    fn answer(&mut self, port: u16, status: &str) {
        let req = self.last(port, Method::Invite);
        self.respond(port, &req, status, "");
    }

    fn respond(&mut self, port: u16, req: &SipMessage, status: &str, extra: &str) {
        let text = response(req, status, port, extra);
        self.feed(&text, SocketAddr::from(([127, 0, 0, 1], port)));
    }

    fn advance_to(&mut self, secs: u64) {
        let end = self.t0 + Duration::from_secs(secs);
        core_harness::run_until(&mut self.core, &mut self.now, end);
        self.collect();
    }

    fn collect(&mut self) {
        let carrier: SocketAddr = CARRIER.parse().unwrap();
        for (to, msg) in core_harness::sent(&mut self.core) {
            if to == carrier {
                self.to_carrier.push(msg);
            } else {
                self.to_pbx.push((to.port(), msg));
            }
        }
        self.events.extend(core_harness::events(&mut self.core));
    }

    fn sent(&self, port: u16, method: Method) -> Vec<SipMessage> {
        self.to_pbx
            .iter()
            .filter(|(p, m)| *p == port && m.method() == Some(&method))
            .map(|(_, m)| m.clone())
            .collect()
    }

    fn last(&self, port: u16, method: Method) -> SipMessage {
        self.sent(port, method.clone())
            .pop()
            .unwrap_or_else(|| panic!("no {method} to {port}"))
    }

    /// Ports that got an INVITE, in order.
    fn invited(&self) -> Vec<u16> {
        self.to_pbx
            .iter()
            .filter(|(_, m)| m.method() == Some(&Method::Invite))
            .map(|(p, _)| *p)
            .collect()
    }

    fn carrier_finals(&self) -> Vec<u16> {
        self.to_carrier
            .iter()
            .filter_map(SipMessage::status)
            .filter(|s| *s >= 200)
            .collect()
    }

    fn cdr(&self) -> CallDetailRecord {
        let cdrs: Vec<_> = self
            .events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended(cdr) => Some(cdr.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
        cdrs.into_iter().next().unwrap()
    }
}

fn invite(call: u32, caller: &str) -> String {
    format!(
        "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{call};rport
Max-Forwards: 70
From: <sip:{caller}@carrier.example>;tag=c{call}
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-{call}@carrier
CSeq: 10 INVITE
Contact: <sip:{caller}@{CARRIER}>
Content-Type: application/sdp
Content-Length: 5

v=0
"
    )
}

fn carrier_cancel(call: u32) -> String {
    format!(
        "CANCEL sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{call};rport
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c{call}
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-{call}@carrier
CSeq: 10 CANCEL
Content-Length: 0

"
    )
}

/// A response from target `port` to `req`, To-tagged per target.
fn response(req: &SipMessage, status: &str, port: u16, extra: &str) -> String {
    let to = req.header(&HeaderName::To).unwrap();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag=pbx{port}")
    };
    format!(
        "SIP/2.0 {status}
Via: {}
From: {}
To: {to}
Call-ID: {}
CSeq: {}
Contact: <sip:pbx@127.0.0.1:{port}>
{extra}Content-Length: 0

",
        req.header(&HeaderName::Via).unwrap(),
        req.header(&HeaderName::From).unwrap(),
        req.call_id().unwrap(),
        req.header(&HeaderName::CSeq).unwrap(),
    )
}

fn from_tag(m: &SipMessage) -> String {
    m.from().unwrap().tag().unwrap().to_string()
}

fn branch(m: &SipMessage) -> String {
    m.top_via().unwrap().branch().unwrap().to_string()
}

#[path = "b2bua_dialer/cases.rs"]
mod cases;

#[path = "b2bua_dialer/auth.rs"]
mod auth;

#[path = "b2bua_dialer/rotation.rs"]
mod rotation;

#[path = "b2bua_dialer/timers.rs"]
mod timers;

#[path = "b2bua_dialer/trail.rs"]
mod trail;

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
