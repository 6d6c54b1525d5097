//! Every call ends, whatever its peers do (issue 18, "phantom calls"): on the virtual clock, a
//! PBX or a carrier that goes silent at each point of a call never leaves the call in memory.
//! For every silent-peer path the session and all its transactions are freed by RFC timers
//! (Timer B, Timer C, 64*T1 after a CANCEL, Timer F), so `active_calls` and the live
//! transactions return to 0; a call whose CDR is written no longer counts against
//! `max_concurrent_calls` and no longer holds up a shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::B2bua;
use calltrack::call::record::{Disposition, HangupSide};
use calltrack::config::Config;
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, SipMessage};

use core_harness::rig::{CARRIER, PBX, Rig};
/// 64*T1 with the default T1 of 500 ms: Timer B, Timer F, and the wait after a CANCEL.
const T64: Duration = Duration::from_secs(32);

fn config(extra: &str) -> Arc<Config> {
    let toml = format!(
        r#"[sip]
udp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[store]
path = "/nonexistent/cdr.db"
[health]
enabled = false
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
            core_harness::loopback_endpoint(false),
            now,
            ts("2026-12-04T10:00:00Z"),
            18,
        );
        Rig::pbx_only(core, now)
    }

    /// The last request of `method` the PBX got for call `n`.
    fn pbx_request(&self, n: u32, method: Method) -> SipMessage {
        let invite_call_id = self
            .to_pbx
            .iter()
            .find(|m| m.method() == Some(&Method::Invite) && carries_call(m, n))
            .and_then(SipMessage::call_id)
            .map(str::to_string)
            .unwrap();
        self.to_pbx
            .iter()
            .rev()
            .find(|m| m.method() == Some(&method) && m.call_id() == Some(&invite_call_id))
            .cloned()
            .unwrap()
    }

    fn carrier_request(&self, method: Method) -> SipMessage {
        self.to_carrier
            .iter()
            .rev()
            .find(|m| m.method() == Some(&method))
            .cloned()
            .unwrap()
    }

    /// Final statuses the carrier got for call `n`'s INVITE.
    fn carrier_finals(&self, n: u32) -> Vec<u16> {
        let call_id = a_call_id(n);
        self.to_carrier
            .iter()
            .filter(|m| m.call_id() == Some(call_id.as_str()))
            .filter(|m| m.cseq().unwrap().method == Method::Invite)
            .filter_map(SipMessage::status)
            .filter(|s| *s >= 200)
            .fold(Vec::new(), |mut finals, s| {
                if finals.last() != Some(&s) {
                    finals.push(s); // a retransmission (Timer G) is not another final
                }
                finals
            })
    }

    /// Requests of `method` the PBX got, retransmissions left out (one per Via branch).
    fn count_pbx(&self, method: Method) -> usize {
        let mut branches: Vec<String> = self
            .to_pbx
            .iter()
            .filter(|m| m.method() == Some(&method))
            .map(|m| m.top_via().unwrap().branch().unwrap().to_string())
            .collect();
        branches.dedup();
        branches.sort();
        branches.dedup();
        branches.len()
    }

    fn live_transactions(&self) -> usize {
        self.core.transactions().len()
    }

    /// Nothing left: no call, no transaction, no timer.
    fn assert_all_freed(&self, what: &str) {
        assert_eq!(self.core.active_calls(), 0, "{what}: the call is freed");
        assert_eq!(
            self.live_transactions(),
            0,
            "{what}: every transaction is freed"
        );
        assert_eq!(
            self.core.stats().calls_reaped,
            0,
            "{what}: the RFC timers freed it, not the audit"
        );
    }

    // ---- the carrier's side ------------------------------------------------------------------

    /// Call `n`: the carrier's INVITE (no SDP).
    fn call(&mut self, n: u32) {
        self.carrier_sends(&invite(n));
    }

    fn carrier_cancels(&mut self, n: u32) {
        self.carrier_sends(&carrier_cancel(n));
    }

    /// The carrier's To tag for call `n` (from our responses).
    fn a_tag(&self, n: u32) -> String {
        let call_id = a_call_id(n);
        self.to_carrier
            .iter()
            .filter(|m| m.call_id() == Some(call_id.as_str()))
            .find_map(|m| m.to().ok().and_then(|t| t.tag().map(str::to_string)))
            .unwrap()
    }

    /// The carrier ACKs call `n`'s 2xx (a new transaction, RFC 3261 §13.2.2.4).
    fn carrier_acks(&mut self, n: u32) {
        let tag = self.a_tag(n);
        self.carrier_sends(&a_leg_request(n, "ACK", 10, &tag));
    }

    /// The carrier ACKs call `n`'s failure response (the INVITE's branch, §17.1.1.3).
    fn carrier_acks_failure(&mut self, n: u32) {
        let tag = self.a_tag(n);
        let ack = a_leg_request(n, "ACK", 10, &tag).replace(
            &format!("branch=z9hG4bKcarrier{n}ACK10"),
            &format!("branch=z9hG4bKcarrier{n}"),
        );
        self.carrier_sends(&ack);
    }

    // ---- the PBX's side ----------------------------------------------------------------------

    /// The PBX answers call `n`'s latest B-leg INVITE with `status`.
    fn pbx_answers(&mut self, n: u32, status: &str) {
        let b = self.pbx_request(n, Method::Invite);
        self.pbx_sends(&response_to(&b, status, PBX));
    }

    /// Call 1 answered (180, 200) and ACKed by the carrier.
    fn answered(extra: &str) -> Harness {
        let mut h = Harness::new(extra);
        h.call(1);
        h.pbx_answers(1, "180 Ringing");
        h.pbx_answers(1, "200 OK");
        h.carrier_acks(1);
        assert_eq!(h.count_pbx(Method::Ack), 1, "the 2xx is ACKed to the PBX");
        h
    }

    /// Call `n` rang (180 relayed), then the carrier CANCELled it and the PBX never answers
    /// anything again: a phantom on today's main.
    fn phantom(&mut self, n: u32) {
        self.call(n);
        self.pbx_answers(n, "180 Ringing");
        self.carrier_cancels(n);
        self.carrier_acks_failure(n);
        let cancel = self.pbx_request(n, Method::Cancel);
        assert_eq!(
            cancel.top_via().unwrap().branch(),
            self.pbx_request(n, Method::Invite)
                .top_via()
                .unwrap()
                .branch()
        );
    }
}

fn a_call_id(n: u32) -> String {
    format!("a-leg-{n}@carrier")
}

/// Whether a B-leg message belongs to call `n` (by the caller number stamped in From).
fn carries_call(m: &SipMessage, n: u32) -> bool {
    m.from()
        .is_ok_and(|f| f.uri.starts_with(&format!("sip:7916123456{n}@")))
}

fn invite(n: u32) -> String {
    format!(
        "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{n};rport
Max-Forwards: 70
From: <sip:7916123456{n}@carrier.example>;tag=c{n}
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-{n}@carrier
CSeq: 10 INVITE
Contact: <sip:7916123456{n}@{CARRIER}>
Content-Length: 0

"
    )
}

/// The carrier's CANCEL of call `n`'s INVITE (same branch, RFC 3261 §9.1).
fn carrier_cancel(n: u32) -> String {
    format!(
        "CANCEL sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{n};rport
Max-Forwards: 70
From: <sip:7916123456{n}@carrier.example>;tag=c{n}
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-{n}@carrier
CSeq: 10 CANCEL
Content-Length: 0

"
    )
}

fn a_leg_request(n: u32, method: &str, cseq: u32, to_tag: &str) -> String {
    format!(
        "{method} sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{n}{method}{cseq}
Max-Forwards: 70
From: <sip:7916123456{n}@carrier.example>;tag=c{n}
To: <sip:74950000001@127.0.0.1>;tag={to_tag}
Call-ID: a-leg-{n}@carrier
CSeq: {cseq} {method}
Contact: <sip:7916123456{n}@{CARRIER}>
Content-Length: 0

"
    )
}

/// A response to `req` from `from` (our own To tag added to a request that had none).
fn response_to(req: &SipMessage, status: &str, from: &str) -> String {
    let to = req.header(&HeaderName::To).unwrap();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag=pbx1")
    };
    format!(
        "SIP/2.0 {status}
Via: {via}
From: {from_h}
To: {to}
Call-ID: {call_id}
CSeq: {cseq}
Contact: <sip:peer@{from}>
Content-Length: 0

",
        via = req.header(&HeaderName::Via).unwrap(),
        from_h = req.header(&HeaderName::From).unwrap(),
        call_id = req.call_id().unwrap(),
        cseq = req.header(&HeaderName::CSeq).unwrap(),
    )
}

// ---- no answer to the INVITE --------------------------------------------------------------------

#[test]
fn invite_never_answered_at_all_ends_on_timer_b() {
    let mut h = Harness::new("");
    h.call(1);
    h.advance(T64 + Duration::from_secs(1));
    assert_eq!(h.carrier_finals(1), [408]);
    assert_eq!(h.ended()[0].disposition, Disposition::Failed);
    h.carrier_acks_failure(1);
    h.advance(T64);
    h.assert_all_freed("silent PBX, no provisional");
}

#[test]
fn pbx_silent_after_180_is_cancelled_at_the_ring_timeout_and_freed() {
    let mut h = Harness::new("[calls]\nring_timeout_secs = 20\n");
    h.call(1);
    h.pbx_answers(1, "180 Ringing");
    h.advance(Duration::from_secs(21));
    assert_eq!(h.carrier_finals(1), [480]);
    assert_eq!(h.count_pbx(Method::Cancel), 1);
    h.carrier_acks_failure(1);
    // RFC 3261 §9.1: no final response to the INVITE 64*T1 after the CANCEL: the INVITE
    // transaction is considered cancelled and destroyed.
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("PBX silent after 180, ring timeout");
    let cdr = h.ended()[0];
    assert_eq!(
        (cdr.disposition, cdr.hangup_side),
        (Disposition::NoAnswer, HangupSide::System)
    );
}

#[test]
fn pbx_silent_after_100_trying_is_cancelled_and_freed() {
    let mut h = Harness::new("[calls]\nring_timeout_secs = 20\n");
    h.call(1);
    h.pbx_answers(1, "100 Trying");
    h.advance(Duration::from_secs(21));
    assert_eq!(h.carrier_finals(1), [480]);
    assert_eq!(h.count_pbx(Method::Cancel), 1);
    h.carrier_acks_failure(1);
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("PBX silent after 100 Trying");
}

// ---- no answer to our CANCEL --------------------------------------------------------------------

/// The probe's case: 180, then the caller's CANCEL, and the PBX answers nothing more.
#[test]
fn caller_cancel_toward_a_silent_pbx_frees_the_call_64_t1_after_the_cancel() {
    let mut h = Harness::new("");
    h.phantom(1);
    assert_eq!(h.carrier_finals(1), [487]);
    let cdr = h.ended()[0];
    assert_eq!(cdr.disposition, Disposition::Cancelled);
    h.advance(T64 - Duration::from_secs(1));
    assert_eq!(
        h.core.active_calls(),
        1,
        "still waiting for the INVITE's final"
    );
    h.advance(Duration::from_secs(2));
    h.assert_all_freed("CANCEL unanswered");
    assert_eq!(h.ended().len(), 1, "one CDR");
    assert!(h.core.is_idle());
}

#[test]
fn cancel_answered_but_invite_never_finished_is_freed_64_t1_after_the_cancel() {
    let mut h = Harness::new("");
    h.call(1);
    h.pbx_answers(1, "180 Ringing");
    h.carrier_cancels(1);
    let cancel = h.pbx_request(1, Method::Cancel);
    h.pbx_sends(&response_to(&cancel, "200 OK", PBX));
    h.carrier_acks_failure(1);
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("200 to CANCEL, no 487");
}

// ---- no answer to our BYE -------------------------------------------------------------------------

#[test]
fn silent_carrier_after_the_pbx_hangs_up_is_freed_on_timer_f() {
    let mut h = Harness::answered("");
    let b = h.pbx_request(1, Method::Invite);
    let bye = format!(
        "BYE sip:79161234561@127.0.0.1:5060 SIP/2.0
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
    assert_eq!(
        h.carrier_request(Method::Bye).call_id(),
        Some("a-leg-1@carrier")
    );
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("BYE to the carrier unanswered");
    assert_eq!(h.ended()[0].hangup_side, HangupSide::Callee);
}

#[test]
fn silent_pbx_after_the_caller_hangs_up_is_freed_on_timer_f() {
    let mut h = Harness::answered("");
    let tag = h.a_tag(1);
    h.carrier_sends(&a_leg_request(1, "BYE", 11, &tag));
    assert_eq!(h.count_pbx(Method::Bye), 1);
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("BYE to the PBX unanswered");
    assert_eq!(h.ended()[0].hangup_side, HangupSide::Caller);
}

#[test]
fn both_legs_silent_after_max_call_duration_are_freed() {
    let mut h = Harness::answered("[calls]\nmax_call_secs = 60\n");
    h.advance(Duration::from_secs(61));
    assert_eq!(h.count_pbx(Method::Bye), 1);
    assert_eq!(
        h.carrier_request(Method::Bye).call_id(),
        Some("a-leg-1@carrier")
    );
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("both BYEs unanswered");
    assert_eq!(h.ended()[0].hangup_side, HangupSide::System);
}

// ---- no answer to a relayed re-INVITE ------------------------------------------------------------

fn caller_reinvites(h: &mut Harness) {
    let tag = h.a_tag(1);
    h.carrier_sends(&a_leg_request(1, "INVITE", 11, &tag));
    assert_eq!(h.count_pbx(Method::Invite), 2, "the re-INVITE is relayed");
}

#[test]
fn relayed_reinvite_never_answered_gets_408_and_the_call_still_ends() {
    let mut h = Harness::answered("");
    caller_reinvites(&mut h);
    h.advance(T64 + Duration::from_secs(1));
    let answers: Vec<u16> = h
        .to_carrier
        .iter()
        .filter(|m| m.cseq().is_ok_and(|c| c.seq == 11))
        .filter_map(SipMessage::status)
        .collect();
    assert_eq!(answers.last(), Some(&408));
    let tag = h.a_tag(1);
    h.carrier_sends(&a_leg_request(1, "BYE", 12, &tag));
    let bye = h.pbx_request(1, Method::Bye);
    h.pbx_sends(&response_to(&bye, "200 OK", PBX));
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("re-INVITE unanswered");
}

/// The PBX answers the re-INVITE with 100 Trying and nothing more: the INVITE client
/// transaction sits in Proceeding, where Timer B no longer runs. Timer C (RFC 3261 §16.6
/// step 11, more than 3 minutes) ends it, and the call ends as it should.
#[test]
fn relayed_reinvite_stuck_after_100_trying_ends_on_timer_c() {
    let mut h = Harness::answered("");
    caller_reinvites(&mut h);
    let re = h.pbx_request(1, Method::Invite);
    h.pbx_sends(&response_to(&re, "100 Trying", PBX));
    let tag = h.a_tag(1);
    h.carrier_sends(&a_leg_request(1, "BYE", 12, &tag));
    let bye = h.pbx_request(1, Method::Bye);
    h.pbx_sends(&response_to(&bye, "200 OK", PBX));
    assert_eq!(h.ended().len(), 1);
    h.advance(Duration::from_secs(180));
    assert_eq!(h.core.active_calls(), 1, "Timer C is more than 3 minutes");
    h.advance(Duration::from_secs(2 * 64));
    h.assert_all_freed("re-INVITE stuck in Proceeding");
    let answers: Vec<u16> = h
        .to_carrier
        .iter()
        .filter(|m| m.cseq().is_ok_and(|c| c.seq == 11))
        .filter_map(SipMessage::status)
        .collect();
    assert_eq!(
        answers.last(),
        Some(&408),
        "the re-INVITE gets a final answer"
    );
}

// ---- capacity and shutdown -------------------------------------------------------------------------

/// With `max_concurrent_calls = 2`, two calls that are over (CDR written) but whose PBX
/// went silent must not make every new call get 503.
#[test]
fn two_phantoms_do_not_take_the_last_two_call_slots() {
    let mut h = Harness::new("[calls]\nmax_concurrent_calls = 2\n");
    h.phantom(1);
    h.phantom(2);
    assert_eq!(h.ended().len(), 2, "both calls are recorded as over");
    for n in [3, 4] {
        h.call(n);
        assert!(
            h.carrier_finals(n).is_empty(),
            "call {n} is not refused for two calls that are over"
        );
        let b = h.pbx_request(n, Method::Invite);
        assert!(carries_call(&b, n), "call {n} rings the PBX");
        h.pbx_answers(n, "180 Ringing");
    }
    h.call(5);
    assert_eq!(
        h.carrier_finals(5),
        [503],
        "two calls really live: the limit holds"
    );
    h.advance(T64 + Duration::from_secs(1));
    assert_eq!(
        h.core.active_calls(),
        2,
        "the phantoms are freed, calls 3 and 4 ring on"
    );
}

#[test]
fn shutdown_does_not_wait_for_a_phantom() {
    let mut h = Harness::new("");
    h.phantom(1);
    h.core.begin_shutdown(h.now);
    assert!(
        h.core.is_idle(),
        "a call that is recorded and only waits for a silent PBX does not hold up shutdown"
    );
}

#[test]
fn shutdown_still_waits_for_a_live_call() {
    let mut h = Harness::answered("");
    h.core.begin_shutdown(h.now);
    assert!(!h.core.is_idle());
    h.advance(Duration::from_secs(31));
    assert_eq!(h.ended()[0].hangup_side, HangupSide::System);
    h.advance(T64 + Duration::from_secs(1));
    h.assert_all_freed("shutdown with silent peers");
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
