//! Target health through the B2BUA core on a virtual clock: a PBX that stops answering
//! OPTIONS goes down after the configured failures and its calls get 503 without a B-leg;
//! when it answers again it comes back up and calls bridge. No sockets, no sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::call::attribution::NumberKindTag;
use calltrack::call::record::{CallDetailRecord, Disposition};
use calltrack::config::Config;
use calltrack::health::HealthState;
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, Peer, SipMessage, Transport};

const CARRIER: &str = "127.0.0.1:40000";
const PBX: &str = "127.0.0.1:5080";

/// Probes every 10 s; T1 = 50 ms, so Timer F (64*T1) ends a silent probe after 3.2 s.
fn config(health: &str) -> Arc<Config> {
    let defaults = [
        "interval_secs = 10",
        "failures_to_down = 3",
        "successes_to_up = 2",
    ];
    let overridden = |line: &&str| {
        let key = line.split('=').next().unwrap_or_default();
        health.lines().any(|l| l.starts_with(key))
    };
    let defaults: Vec<&str> = defaults.into_iter().filter(|l| !overridden(l)).collect();
    let defaults = defaults.join("\n");
    let toml = format!(
        r#"[sip]
udp_listen = ["127.0.0.1:5060"]
tcp_listen = []
[sip.timers]
t1_ms = 50
t2_ms = 400
[store]
path = "/nonexistent/cdr.db"
[health]
{defaults}
{health}
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

struct Harness {
    core: B2bua,
    start: Instant,
    now: Instant,
    to_carrier: Vec<SipMessage>,
    to_pbx: Vec<SipMessage>,
    events: Vec<CallEvent>,
}

impl Harness {
    fn new(health: &str) -> Harness {
        let local = core_harness::loopback_endpoint(false);
        let now = Instant::now();
        let core = B2bua::new(
            config(health),
            Default::default(),
            local,
            now,
            ts("2026-11-23T10:00:00Z"),
            7,
        );
        let mut h = Harness {
            core,
            start: now,
            now,
            to_carrier: vec![],
            to_pbx: vec![],
            events: vec![],
        };
        h.advance_to(0.0);
        h
    }

    fn advance_to(&mut self, secs: f64) {
        let end = self.start + Duration::from_secs_f64(secs);
        core_harness::run_until(&mut self.core, &mut self.now, end);
        self.collect();
    }

    fn collect(&mut self) {
        let carrier: SocketAddr = CARRIER.parse().unwrap();
        for (to, msg) in core_harness::sent(&mut self.core) {
            if to == carrier {
                self.to_carrier.push(msg);
            } else {
                assert_eq!(to, PBX.parse::<SocketAddr>().unwrap());
                self.to_pbx.push(msg);
            }
        }
        self.events.extend(core_harness::events(&mut self.core));
    }

    /// The CDRs written so far.
    fn records(&self) -> Vec<&CallDetailRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended(cdr) => Some(cdr),
                _ => None,
            })
            .collect()
    }

    /// The PBX answers the latest B-leg INVITE with `status` (e.g. `180 Ringing`).
    fn pbx_answers_invite(&mut self, status: &str) {
        let invite = self
            .to_pbx
            .iter()
            .rev()
            .find(|m| m.method() == Some(&Method::Invite))
            .unwrap()
            .clone();
        let header = |name| invite.header(&name).unwrap().to_string();
        let text = format!(
            "SIP/2.0 {status}\nVia: {}\nFrom: {}\nTo: {};tag=pbx\nCall-ID: {}\nCSeq: {}\nContact: <sip:{PBX}>\nContent-Length: 0\n\n",
            header(HeaderName::Via),
            header(HeaderName::From),
            header(HeaderName::To),
            invite.call_id().unwrap(),
            header(HeaderName::CSeq),
        );
        self.feed(&text, PBX);
    }

    fn feed(&mut self, text: &str, from: &str) {
        core_harness::feed(&mut self.core, self.now, text, from.parse().unwrap());
        self.collect();
    }

    /// Distinct probes sent so far (retransmissions counted once), oldest first.
    fn probes(&self) -> Vec<SipMessage> {
        let mut seen: Vec<SipMessage> = Vec::new();
        for m in &self.to_pbx {
            if m.method() == Some(&Method::Options)
                && !seen.iter().any(|s| s.call_id() == m.call_id())
            {
                seen.push(m.clone());
            }
        }
        seen
    }

    /// B-leg INVITEs sent (retransmissions counted once).
    fn invites_to_pbx(&self) -> usize {
        let mut calls: Vec<&str> = self
            .to_pbx
            .iter()
            .filter(|m| m.method() == Some(&Method::Invite))
            .filter_map(SipMessage::call_id)
            .collect();
        calls.sort_unstable();
        calls.dedup();
        calls.len()
    }

    /// The PBX answers the latest probe.
    fn pbx_answers_probe(&mut self, status: u16) {
        let probe = self.probes().pop().unwrap();
        let header = |name| probe.header(&name).unwrap().to_string();
        let text = format!(
            "SIP/2.0 {status} Whatever\nVia: {}\nFrom: {}\nTo: {};tag=pbx\nCall-ID: {}\nCSeq: {}\nContent-Length: 0\n\n",
            header(HeaderName::Via),
            header(HeaderName::From),
            header(HeaderName::To),
            probe.call_id().unwrap(),
            header(HeaderName::CSeq),
        );
        self.feed(&text, PBX);
    }

    fn state(&self) -> HealthState {
        let peer = Peer::new(Transport::Udp, PBX.parse().unwrap());
        self.core.health().get(&peer).unwrap().state
    }

    fn call(&mut self, n: u32) {
        let text = format!(
            "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcall{n};rport
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c{n}
To: <sip:74950000001@127.0.0.1>
Call-ID: call-{n}@carrier
CSeq: 1 INVITE
Contact: <sip:79161234567@{CARRIER}>
Content-Length: 0

"
        );
        self.feed(&text, CARRIER);
    }

    fn last_final_to_carrier(&self) -> &SipMessage {
        self.to_carrier
            .iter()
            .rev()
            .find(|m| m.status().is_some_and(|s| s >= 200))
            .unwrap()
    }
}

#[test]
fn probes_are_well_formed_options_to_the_forward_to_target() {
    let h = Harness::new("");
    let probes = h.probes();
    assert_eq!(probes.len(), 1, "the first probe goes out at start-up");
    let p = &probes[0];
    assert_eq!(p.request_uri(), Some("sip:127.0.0.1:5080"));
    assert!(
        p.top_via()
            .unwrap()
            .branch()
            .unwrap()
            .starts_with("z9hG4bK")
    );
    assert_eq!(p.header(&HeaderName::MaxForwards), Some("70"));
    assert!(p.from().unwrap().tag().is_some());
    assert_eq!(p.header(&HeaderName::CSeq), Some("1 OPTIONS"));
    assert_eq!(p.header(&HeaderName::UserAgent), Some("calltrack"));
    assert_eq!(p.header(&HeaderName::ContentLength), Some("0"));
}

#[test]
fn silent_target_goes_down_refuses_calls_then_comes_back() {
    let mut h = Harness::new("");
    // Probes at 0, 10 and 20 s each time out 3.2 s later: down at 23.2 s, not before.
    h.advance_to(23.1);
    assert_eq!(h.probes().len(), 3);
    assert_eq!(h.state(), HealthState::Unknown);
    h.call(1);
    assert_eq!(h.invites_to_pbx(), 1, "not down yet: the call is bridged");
    h.advance_to(23.3);
    assert_eq!(h.state(), HealthState::Down);

    h.call(2);
    let refusal = h.last_final_to_carrier();
    assert_eq!(refusal.status(), Some(503));
    assert_eq!(refusal.call_id(), Some("call-2@carrier"));
    assert_eq!(refusal.header(&HeaderName::RetryAfter), Some("10"));
    assert_eq!(h.invites_to_pbx(), 1, "no B-leg toward a down target");

    // The PBX answers again: two successes in a row bring it back.
    h.advance_to(30.0);
    h.pbx_answers_probe(200);
    assert_eq!(h.state(), HealthState::Down);
    h.advance_to(40.0);
    h.pbx_answers_probe(200);
    assert_eq!(h.state(), HealthState::Up);
    let invites = h.invites_to_pbx();
    h.call(3);
    assert_eq!(
        h.invites_to_pbx(),
        invites + 1,
        "an up target is rung again"
    );
}

#[test]
fn a_probe_answer_goes_to_the_prober_not_to_a_call() {
    let mut h = Harness::new("");
    h.call(1);
    h.pbx_answers_probe(200);
    assert_eq!(h.state(), HealthState::Up);
    let peer = Peer::new(Transport::Udp, PBX.parse().unwrap());
    let health = h.core.health().get(&peer).unwrap();
    assert_eq!(health.last_status, Some(200));
    assert_eq!(h.core.active_calls(), 1);
    assert!(h.to_carrier.iter().all(|m| m.status() != Some(200)));
}

#[test]
fn error_statuses_count_as_failures_and_alive_codes_as_successes() {
    let mut h = Harness::new("failures_to_down = 1\nalive_codes = [404]");
    h.pbx_answers_probe(404);
    assert_eq!(h.state(), HealthState::Up);
    h.advance_to(10.0);
    h.pbx_answers_probe(503);
    assert_eq!(h.state(), HealthState::Down);
}

#[test]
fn no_probe_is_sent_after_shutdown_begins() {
    let mut h = Harness::new("");
    h.pbx_answers_probe(200);
    h.core.begin_shutdown(h.now);
    h.advance_to(120.0);
    assert_eq!(h.probes().len(), 1);
}

#[test]
fn disabled_probing_sends_nothing_and_routes_everything() {
    let mut h = Harness::new("enabled = false");
    h.advance_to(100.0);
    assert!(h.probes().is_empty());
    assert!(h.core.health().is_empty());
    h.call(1);
    assert_eq!(h.invites_to_pbx(), 1);
}

#[test]
fn reload_applies_a_new_health_config() {
    let mut h = Harness::new("failures_to_down = 1");
    h.advance_to(3.3);
    assert_eq!(h.state(), HealthState::Down);
    h.core.reload(config("enabled = false"));
    assert!(
        h.core.health().is_empty(),
        "disabling probing forgets every state"
    );
    h.call(1);
    assert_eq!(h.invites_to_pbx(), 1);
}

#[test]
fn a_down_target_that_answers_a_call_is_up_again() {
    let mut h = Harness::new("");
    h.advance_to(23.1);
    h.call(1);
    assert_eq!(h.invites_to_pbx(), 1, "not down yet: the call is bridged");
    h.advance_to(23.3);
    assert_eq!(h.state(), HealthState::Down);
    // The probes were lost, but the PBX rings the call it got: it is alive.
    h.pbx_answers_invite("180 Ringing");
    assert_eq!(
        h.state(),
        HealthState::Up,
        "an answered INVITE clears the mark"
    );
    h.call(2);
    assert_eq!(h.invites_to_pbx(), 2, "an up target is rung again");
}

#[test]
fn a_call_refused_for_a_down_target_keeps_its_attribution() {
    let mut h = Harness::new("failures_to_down = 1");
    h.advance_to(3.3);
    assert_eq!(h.state(), HealthState::Down);
    h.call(1);
    assert_eq!(h.last_final_to_carrier().status(), Some(503));
    let records = h.records();
    assert_eq!(records.len(), 1, "the refused call is recorded");
    let cdr = records[0];
    assert_eq!(
        (cdr.disposition, cdr.sip_status),
        (Disposition::Rejected, 503)
    );
    assert_eq!(cdr.tracking_number, "74950000001");
    assert_eq!(cdr.caller, "79161234567");
    assert_eq!(cdr.attribution.site, "demo");
    assert_eq!(cdr.attribution.number_kind, NumberKindTag::Static);
    assert_eq!(cdr.attribution.source.as_deref(), Some("billboard"));
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
