//! Edge security in the sans-IO core on a virtual clock: carrier and PBX ACLs, the caller
//! blacklist and its `reject_reason`, overload (503 + Retry-After), scanners, and the flood
//! guard's ban and its expiry. No sockets, no sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::Shared;
use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::call::record::{CallDetailRecord, Disposition};
use calltrack::config::Config;
use calltrack::edge::blacklist::{Blacklist, Origin};
use calltrack::sip::dialog::LocalEndpoint;
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, SipMessage};

const CARRIER: &str = "10.1.0.1:5060";
const PBX: &str = "10.2.0.1:5080";
const STRANGER: &str = "203.0.113.9:5060";

fn config(forward_to: &str, extra: &str) -> Arc<Config> {
    let toml = format!(
        r#"[carriers]
trusted = ["10.1.0.0/16"]
[pbx]
trusted = ["10.2.0.0/16"]
[store]
path = "/nonexistent/cdr.db"
[[sites]]
id = "demo"
forward_to = "{forward_to}"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
{extra}"#
    );
    Arc::new(Config::from_toml_str(&toml).unwrap())
}

struct Harness {
    core: B2bua,
    now: Instant,
    sent: Vec<(SocketAddr, SipMessage)>,
    events: Vec<CallEvent>,
}

impl Harness {
    fn new(extra: &str) -> Harness {
        Harness::with(&format!("sip:{PBX}"), extra, Arc::new(Blacklist::default()))
    }

    fn with(forward_to: &str, extra: &str, blacklist: Arc<Blacklist>) -> Harness {
        let config = config(forward_to, extra);
        let blacklist = {
            for pattern in &config.blacklist.numbers {
                blacklist.insert(pattern, Origin::Config);
            }
            blacklist
        };
        let local = LocalEndpoint {
            udp: Some("10.0.0.5:5060".parse().unwrap()),
            tcp: None,
            advertised_host: None,
            advertised_port: None,
        };
        let shared = Shared {
            blacklist,
            ..Shared::default()
        };
        let now = Instant::now();
        let core = B2bua::new(config, shared, local, now, ts("2026-11-23T10:00:00Z"), 7);
        Harness {
            core,
            now,
            sent: vec![],
            events: vec![],
        }
    }

    fn feed(&mut self, from: &str, text: &str) {
        core_harness::feed(&mut self.core, self.now, text, from.parse().unwrap());
        self.sent.extend(core_harness::sent(&mut self.core));
        self.events.extend(core_harness::events(&mut self.core));
    }

    fn statuses_to(&self, to: &str) -> Vec<u16> {
        let to: SocketAddr = to.parse().unwrap();
        self.sent
            .iter()
            .filter(|(peer, _)| *peer == to)
            .filter_map(|(_, m)| m.status())
            .filter(|status| *status >= 200)
            .collect()
    }

    fn requests_to(&self, to: &str) -> Vec<SipMessage> {
        let to: SocketAddr = to.parse().unwrap();
        self.sent
            .iter()
            .filter(|(peer, m)| *peer == to && m.is_request())
            .map(|(_, m)| m.clone())
            .collect()
    }

    fn ended(&self) -> Vec<&CallDetailRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended(cdr) => Some(cdr),
                _ => None,
            })
            .collect()
    }
}

fn invite(from: &str, caller: &str, n: u32, extra: &str) -> String {
    format!(
        "INVITE sip:74950000001@10.0.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP {from};branch=z9hG4bKinv{n}
Max-Forwards: 70
From: <sip:{caller}@carrier.example>;tag=c{n}
To: <sip:74950000001@10.0.0.5>
Call-ID: call-{n}@carrier
CSeq: 1 INVITE
Contact: <sip:{caller}@{from}>
{extra}Content-Length: 0

"
    )
}

fn options(from: &str, n: u32, user_agent: &str) -> String {
    format!(
        "OPTIONS sip:10.0.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP {from};branch=z9hG4bKopt{n}
Max-Forwards: 70
From: <sip:probe@{from}>;tag=o{n}
To: <sip:10.0.0.5:5060>
Call-ID: opt-{n}@probe
CSeq: 1 OPTIONS
User-Agent: {user_agent}
Content-Length: 0

"
    )
}

/// A response from the PBX to our B-leg request.
fn response(req: &SipMessage, status: &str) -> String {
    let h = |n| req.header(&n).unwrap().to_string();
    let to = h(HeaderName::To);
    let to = if to.contains("tag=") {
        to
    } else {
        format!("{to};tag=pbx1")
    };
    format!(
        "SIP/2.0 {status}
Via: {}
From: {}
To: {to}
Call-ID: {}
CSeq: {}
Contact: <sip:pbx@{PBX}>
Content-Length: 0

",
        h(HeaderName::Via),
        h(HeaderName::From),
        req.call_id().unwrap(),
        h(HeaderName::CSeq)
    )
}

#[test]
fn blacklisted_callers_get_the_configured_status_and_a_rejected_record() {
    let mut h = Harness::new("[blacklist]\nnumbers = [\"7916*\"]\nstatus = 486\n");
    h.feed(CARRIER, &invite(CARRIER, "79161234567", 1, ""));
    assert_eq!(h.statuses_to(CARRIER), [486]);
    assert!(h.requests_to(PBX).is_empty(), "no B-leg");
    let cdrs = h.ended();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].disposition, Disposition::Rejected);
    assert_eq!(cdrs[0].sip_status, 486);
    assert_eq!(cdrs[0].reject_reason.as_deref(), Some("blacklist"));
    // Another caller still gets through.
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 2, ""));
    assert_eq!(h.requests_to(PBX).len(), 1);
}

#[test]
fn a_runtime_blacklist_entry_applies_to_the_next_invite() {
    let blacklist = Arc::new(Blacklist::default());
    let mut h = Harness::with(&format!("sip:{PBX}"), "", blacklist.clone());
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    assert_eq!(h.requests_to(PBX).len(), 1);
    blacklist.insert("79031112233", Origin::Api);
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 2, ""));
    assert_eq!(h.requests_to(PBX).len(), 1, "no second B-leg");
    assert!(h.statuses_to(CARRIER).contains(&403));
}

#[test]
fn every_recorded_refusal_names_its_reason() {
    let mut h = Harness::new("");
    let unknown = invite(CARRIER, "79031112233", 1, "")
        .replace("INVITE sip:74950000001@", "INVITE sip:74959999999@");
    h.feed(
        CARRIER,
        &unknown.replace("To: <sip:74950000001@", "To: <sip:74959999999@"),
    );
    let hops = invite(CARRIER, "79031112233", 2, "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.feed(CARRIER, &hops);
    assert_eq!(h.statuses_to(CARRIER), [404, 483]);
    let reasons: Vec<_> = h.ended().iter().map(|c| c.reject_reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            Some("unknown_number".to_owned()),
            Some("too_many_hops".to_owned())
        ]
    );
}

#[test]
fn untrusted_sources_get_403_for_invites_and_silence_for_the_rest() {
    let mut h = Harness::new("");
    h.feed(STRANGER, &invite(STRANGER, "79031112233", 1, ""));
    assert_eq!(h.statuses_to(STRANGER), [403]);
    assert_eq!(
        h.core.transactions().len(),
        0,
        "refused statelessly: no retransmissions"
    );
    h.now += Duration::from_secs(2);
    h.core.handle_timeout(h.now);
    let stranger: SocketAddr = STRANGER.parse().unwrap();
    while let Some(t) = h.core.poll_transmit() {
        assert_ne!(
            t.peer.addr, stranger,
            "nothing retransmitted to the stranger"
        );
    }
    h.feed(STRANGER, &options(STRANGER, 2, "probe"));
    assert_eq!(h.statuses_to(STRANGER), [403], "OPTIONS dropped");
    assert!(h.ended().is_empty(), "untrusted refusals are not recorded");
    assert!(h.requests_to(PBX).is_empty());
    // The PBX's keep-alives are answered.
    h.feed(PBX, &options(PBX, 3, "Asterisk"));
    assert_eq!(h.statuses_to(PBX), [200]);
}

#[test]
fn over_capacity_is_503_with_retry_after_and_only_counted() {
    let mut h = Harness::new("[calls]\nmax_concurrent_calls = 1\n");
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    h.feed(CARRIER, &invite(CARRIER, "79031112234", 2, ""));
    let refused = h
        .sent
        .iter()
        .find(|(_, m)| m.status() == Some(503))
        .map(|(_, m)| m.clone())
        .unwrap();
    assert!(refused.header(&HeaderName::RetryAfter).is_some());
    assert_eq!(h.requests_to(PBX).len(), 1);
    assert!(h.ended().is_empty());
}

#[test]
fn a_target_outside_the_pbx_networks_is_never_called() {
    let mut h = Harness::with("sip:198.51.100.7:5060", "", Arc::new(Blacklist::default()));
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    assert_eq!(h.statuses_to(CARRIER), [500]);
    assert!(h.requests_to("198.51.100.7:5060").is_empty());
    assert_eq!(
        h.ended()[0].reject_reason.as_deref(),
        Some("untrusted_target")
    );
    let config = Config::from_toml_str(
        "[pbx]\ntrusted = [\"10.2.0.0/16\"]\n[[sites]]\nid = \"d\"\nforward_to = \"sip:198.51.100.7\"\n",
    )
    .unwrap();
    assert_eq!(config.security_warnings().len(), 1, "check-config warns");
}

#[test]
fn b_leg_answers_count_only_from_the_pbx() {
    let mut h = Harness::new("");
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    let b_invite = h.requests_to(PBX).remove(0);
    // A stranger forging the PBX's answer is ignored.
    h.feed(STRANGER, &response(&b_invite, "200 OK"));
    assert!(!h.statuses_to(CARRIER).contains(&200));
    h.feed(PBX, &response(&b_invite, "200 OK"));
    assert!(h.statuses_to(CARRIER).contains(&200));
    // The caller's ACK reaches the PBX as the B-leg ACK.
    let answer = h
        .sent
        .iter()
        .find(|(_, m)| m.status() == Some(200))
        .map(|(_, m)| m.clone())
        .unwrap();
    let ack = format!(
        "ACK sip:10.0.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKack1
Max-Forwards: 70
From: {}
To: {}
Call-ID: call-1@carrier
CSeq: 1 ACK
Content-Length: 0

",
        answer.header(&HeaderName::From).unwrap(),
        answer.header(&HeaderName::To).unwrap()
    );
    h.feed(CARRIER, &ack);
    let acked = h
        .requests_to(PBX)
        .iter()
        .any(|m| m.method() == Some(&Method::Ack));
    assert!(acked, "B-leg ACK sent");
    // An in-dialog BYE on the B leg from a carrier address is refused; the call goes on.
    let bye = format!(
        "BYE sip:10.0.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKbye1
Max-Forwards: 70
From: <sip:74950000001@10.2.0.1>;tag=pbx1
To: {}
Call-ID: {}
CSeq: 2 BYE
Content-Length: 0

",
        b_invite.header(&HeaderName::From).unwrap(),
        b_invite.call_id().unwrap()
    );
    h.feed(CARRIER, &bye);
    assert!(h.statuses_to(CARRIER).contains(&403));
    assert_eq!(h.core.active_calls(), 1);
    h.feed(
        PBX,
        &bye.replace(&format!("UDP {CARRIER}"), &format!("UDP {PBX}")),
    );
    assert!(
        h.statuses_to(PBX).contains(&200),
        "the PBX's own BYE is taken"
    );
    let hung_up = h
        .requests_to(CARRIER)
        .iter()
        .any(|m| m.method() == Some(&Method::Bye));
    assert!(hung_up, "and passed on to the caller");
}

/// The caller's ACK for the A leg's 200, sent from `from`.
fn a_leg_ack(h: &Harness, from: &str, n: u32) -> String {
    let answer = h
        .sent
        .iter()
        .find(|(_, m)| m.status() == Some(200))
        .map(|(_, m)| m.clone())
        .unwrap();
    format!(
        "ACK sip:10.0.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP {from};branch=z9hG4bKack{n}
Max-Forwards: 70
From: {}
To: {}
Call-ID: call-1@carrier
CSeq: 1 ACK
Content-Length: 0

",
        answer.header(&HeaderName::From).unwrap(),
        answer.header(&HeaderName::To).unwrap()
    )
}

/// Issue 18: one rule for every in-dialog request, ACK included. An ACK for the A leg from
/// outside the carrier networks (here the PBX's, known but not a carrier) neither confirms
/// the 200 nor stops its retransmissions; a BYE from there gets 403; the carrier's own ACK
/// then does both.
#[test]
fn an_ack_from_outside_the_legs_networks_is_refused_like_bye() {
    let mut h = Harness::new("");
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    let b_invite = h.requests_to(PBX).remove(0);
    h.feed(PBX, &response(&b_invite, "200 OK"));
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    let oks_to_carrier = |h: &Harness| {
        h.sent
            .iter()
            .filter(|(to, m)| *to == carrier && m.status() == Some(200))
            .count()
    };
    assert_eq!(oks_to_carrier(&h), 1);
    let forged = a_leg_ack(&h, PBX, 1);
    h.feed(PBX, &forged);
    let b_acks = |h: &Harness| {
        h.requests_to(PBX)
            .iter()
            .filter(|m| m.method() == Some(&Method::Ack))
            .count()
    };
    assert_eq!(b_acks(&h), 0, "the forged ACK is not carried to the PBX");
    let end = h.now + Duration::from_millis(1600);
    core_harness::run_until(&mut h.core, &mut h.now, end);
    h.sent.extend(core_harness::sent(&mut h.core));
    assert!(
        oks_to_carrier(&h) >= 2,
        "the 200 is still retransmitted: the forged ACK did not confirm it"
    );
    let bye = a_leg_ack(&h, PBX, 2)
        .replace("ACK sip", "BYE sip")
        .replace("CSeq: 1 ACK", "CSeq: 2 BYE");
    h.feed(PBX, &bye);
    assert!(h.statuses_to(PBX).contains(&403), "BYE refused alike");
    assert_eq!(h.core.active_calls(), 1);
    h.feed(CARRIER, &a_leg_ack(&h, CARRIER, 3));
    assert_eq!(b_acks(&h), 1, "the carrier's ACK is taken");
    let before = oks_to_carrier(&h);
    let end = h.now + Duration::from_secs(4);
    core_harness::run_until(&mut h.core, &mut h.now, end);
    h.sent.extend(core_harness::sent(&mut h.core));
    assert_eq!(oks_to_carrier(&h), before, "and ends the retransmissions");
}

#[test]
fn scanners_are_dropped_without_state() {
    let mut h = Harness::new("");
    h.feed(CARRIER, &options(CARRIER, 1, "friendly-scanner"));
    h.feed(
        CARRIER,
        &invite(CARRIER, "100", 2, "User-Agent: SIPVicious\n"),
    );
    assert!(h.sent.is_empty());
    assert_eq!(h.core.transactions().len(), 0);
}

#[test]
fn a_flood_is_banned_then_forgiven_when_the_ban_ends() {
    let extra = "[security.flood]\nmessages_per_sec = 5\nburst = 10\nban_secs = 30\nexempt_trusted = false\n";
    let mut h = Harness::new(extra);
    for n in 0..10 {
        h.feed(CARRIER, &options(CARRIER, n, "probe"));
    }
    assert_eq!(h.statuses_to(CARRIER).len(), 10, "the burst is answered");
    for n in 10..50 {
        h.feed(CARRIER, &options(CARRIER, n, "probe"));
    }
    assert_eq!(h.statuses_to(CARRIER).len(), 10, "over the limit: silence");
    // Another address is not affected.
    h.feed(PBX, &options(PBX, 99, "probe"));
    assert_eq!(h.statuses_to(PBX), [200]);
    // Still banned after 29 s, even when quiet.
    h.now += Duration::from_secs(29);
    h.feed(CARRIER, &options(CARRIER, 100, "probe"));
    assert_eq!(h.statuses_to(CARRIER).len(), 10);
    h.now += Duration::from_secs(2);
    h.feed(CARRIER, &options(CARRIER, 101, "probe"));
    assert_eq!(
        h.statuses_to(CARRIER).len(),
        11,
        "answered once the ban ended"
    );
}

#[test]
fn trusted_networks_are_exempt_from_the_flood_guard_by_default() {
    let extra = "[security.flood]\nmessages_per_sec = 1\nburst = 1\n";
    let mut h = Harness::new(extra);
    for n in 0..20 {
        h.feed(CARRIER, &options(CARRIER, n, "probe"));
    }
    assert_eq!(h.statuses_to(CARRIER).len(), 20);
}

#[test]
fn a_scheme_reaching_outside_the_pbx_networks_is_refused_whole() {
    let extra = r#"
[[schemes]]
id = "sales"
fallback = "sip:voicemail@198.51.100.8:5060"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:101@10.2.0.1:5080"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:102@10.2.0.2:5080"

[[routes]]
number = "74950000001"
scheme = "sales"
"#;
    let mut h = Harness::new(&format!("[health]\nenabled = false\n{extra}"));
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    assert_eq!(h.statuses_to(CARRIER), [500], "the fallback is outside");
    assert!(
        h.requests_to(PBX).is_empty(),
        "not even the first step is rung"
    );
    assert_eq!(
        h.ended()[0].reject_reason.as_deref(),
        Some("untrusted_target")
    );
    let config = Config::from_toml_str(&format!(
        "[pbx]\ntrusted = [\"10.2.0.0/16\"]\n[[sites]]\nid = \"demo\"\nforward_to = \"sip:10.2.0.1\"\n[[sites.static_numbers]]\nnumber = \"74950000001\"\nsource = \"b\"\n{extra}"
    ))
    .unwrap();
    let warnings = config.security_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("schemes[0].fallback"),
        "{warnings:?}"
    );
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn count_status(h: &Harness, to: &str, status: u16) -> usize {
    h.statuses_to(to).iter().filter(|s| **s == status).count()
}

/// Issue 12: while every message of 100 ms waited too long for the core, a new INVITE gets
/// 503 with Retry-After and leaves no transaction and no record; a retransmitted INVITE of a
/// call already taken and the messages of calls in progress go through; one quick message
/// ends the refusals.
#[test]
fn overload_refuses_new_invites_before_any_state_and_lets_calls_in_progress_finish() {
    let mut h =
        Harness::new("[calls]\noverload_queue_delay_ms = 20\noverload_retry_after_secs = 3\n");
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    let b_invite = h.requests_to(PBX).remove(0);
    let t0 = h.now;
    h.core.observe_queue_delay(t0, ms(30));
    h.core.observe_queue_delay(t0 + ms(99), ms(30));
    h.feed(CARRIER, &invite(CARRIER, "79031112234", 2, ""));
    assert_eq!(
        h.requests_to(PBX).len(),
        2,
        "not behind for a whole interval yet"
    );

    h.core.observe_queue_delay(t0 + ms(100), ms(30));
    let transactions = h.core.transactions().len();
    h.feed(CARRIER, &invite(CARRIER, "79031112235", 3, ""));
    let refused = h
        .sent
        .iter()
        .find(|(_, m)| m.status() == Some(503))
        .map(|(_, m)| m.clone())
        .unwrap();
    assert_eq!(
        refused
            .header(&HeaderName::RetryAfter)
            .map(|v| v.to_string()),
        Some("3".to_string())
    );
    assert_eq!(h.core.transactions().len(), transactions, "no state made");
    assert_eq!(h.requests_to(PBX).len(), 2);

    // The first call's INVITE again (its 100 Trying was lost): absorbed, not refused.
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    assert_eq!(count_status(&h, CARRIER, 503), 1);
    // The first call goes on and is answered.
    h.feed(PBX, &response(&b_invite, "200 OK"));
    assert!(h.statuses_to(CARRIER).contains(&200));
    assert!(
        h.ended().is_empty(),
        "a refusal for overload is not recorded"
    );

    // One message that waited less than the target: new calls are taken again.
    h.core.observe_queue_delay(t0 + ms(150), ms(5));
    h.feed(CARRIER, &invite(CARRIER, "79031112236", 4, ""));
    assert_eq!(h.requests_to(PBX).len(), 3);
    assert_eq!(count_status(&h, CARRIER, 503), 1);
}

/// Issue 12: the CDR store more than half its queue behind refuses new calls the same way,
/// until it is below a quarter again.
#[test]
fn a_store_backlog_refuses_new_invites_until_it_drains() {
    let mut h = Harness::new(""); // [store] queue_capacity = 10000
    h.core.observe_store_backlog(5_001);
    h.feed(CARRIER, &invite(CARRIER, "79031112233", 1, ""));
    assert_eq!(h.statuses_to(CARRIER), [503]);
    assert!(h.requests_to(PBX).is_empty());
    h.core.observe_store_backlog(3_000);
    h.feed(CARRIER, &invite(CARRIER, "79031112234", 2, ""));
    assert_eq!(h.statuses_to(CARRIER), [503, 503], "hysteresis");
    h.core.observe_store_backlog(2_000);
    h.feed(CARRIER, &invite(CARRIER, "79031112235", 3, ""));
    assert_eq!(h.requests_to(PBX).len(), 1);
}
