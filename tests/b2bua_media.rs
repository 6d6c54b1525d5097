//! The B2BUA core with the RTP relay (`media = "relay"`) on a virtual clock: the SDP of both
//! legs (offer, answer, early media, re-INVITE, late offer in the 200 and its answer in the
//! ACK) rewritten to the relay's ports, direct calls untouched, and the port pool full again
//! after every way a call ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::{B2bua, Shared};
use calltrack::call::record::CallDetailRecord;
use calltrack::config::Config;
use calltrack::media::MediaTable;
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, SipMessage};
use core_harness::rig::{CARRIER, PBX, Rig};

/// 50 pairs: a stream takes two (caller-facing 30000, callee-facing 30002 for the first).
const PAIRS: usize = 50;

const CARRIER_SDP: &str = "v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\n\
m=audio 4000 RTP/AVP 8 0\na=rtpmap:8 PCMA/8000\n";
const PBX_SDP: &str = "v=0\no=- 2 1 IN IP4 10.1.1.5\ns=-\nc=IN IP4 10.1.1.5\nt=0 0\n\
m=audio 6000 RTP/AVP 8\n";

/// The shared rig with the relay's table beside it.
struct Harness {
    rig: Rig,
    media: Arc<MediaTable>,
}

impl Deref for Harness {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

impl DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Rig {
        &mut self.rig
    }
}

impl Harness {
    /// A core whose demo site says `media`.
    fn new(media: &str) -> Harness {
        Harness::with(media, "30000-30099", "direct")
    }

    /// A core whose demo site says `media`, with `rtp_ports` and `on_no_ports`.
    fn with(media: &str, rtp_ports: &str, on_no_ports: &str) -> Harness {
        let toml = format!(
            r#"[sip]
udp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[store]
path = "/nonexistent/cdr.db"
[media]
rtp_ports = "{rtp_ports}"
advertised_ip = "203.0.113.7"
on_no_ports = "{on_no_ports}"
[[sites]]
id = "demo"
forward_to = "sip:{PBX}"
media = "{media}"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
"#
        );
        let config = Arc::new(Config::from_toml_str(&toml).unwrap());
        let media = Arc::new(MediaTable::new(&config.media));
        let shared = Shared {
            media: media.clone(),
            ..Shared::default()
        };
        let now = Instant::now();
        let wall = "2026-11-23T10:00:00Z".parse().unwrap();
        let core = B2bua::new(
            config,
            shared,
            core_harness::loopback_endpoint(false),
            now,
            wall,
            42,
        );
        Harness {
            rig: Rig::new(core, now),
            media,
        }
    }

    fn cdr(&self) -> CallDetailRecord {
        let ended = self.ended();
        assert_eq!(ended.len(), 1, "one call ended");
        ended[0].clone()
    }

    fn pool_full(&self) -> bool {
        self.media.port_pairs() == (PAIRS, PAIRS)
    }

    fn carrier_tag(&self) -> String {
        let tagged = self
            .to_carrier
            .iter()
            .find_map(|m| m.to().ok()?.tag().map(str::to_string));
        tagged.unwrap()
    }
}

/// `\n`-separated SDP as the body of a message ending in an empty body.
fn with_sdp(text: &str, sdp: &str) -> String {
    let len = sdp.replace('\n', "\r\n").len();
    text.replace(
        "Content-Length: 0\n\n",
        &format!("Content-Type: application/sdp\nContent-Length: {len}\n\n{sdp}"),
    )
}

fn invite() -> String {
    format!(
        "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier1;rport
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 INVITE
Contact: <sip:79161234567@{CARRIER}>
Content-Length: 0

"
    )
}

fn pbx_response(req: &SipMessage, status: &str) -> String {
    core_harness::rig::pbx_response(req, status, "")
}

fn carrier_request(method: &str, cseq: u32, tag: &str) -> String {
    format!(
        "{method} sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{method}{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={tag}
Call-ID: a-leg-1@carrier
CSeq: {cseq} {method}
Content-Length: 0

"
    )
}

fn body(msg: &SipMessage) -> String {
    String::from_utf8(msg.body().to_vec()).unwrap()
}

/// INVITE with an offer, 183 with early media, 200 with the answer, ACK.
fn answered(h: &mut Harness) {
    h.feed(&with_sdp(&invite(), CARRIER_SDP), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(
        &with_sdp(&pbx_response(&b, "183 Session Progress"), PBX_SDP),
        PBX,
    );
    h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag), CARRIER);
}

#[test]
fn offer_and_answers_name_the_relay_on_each_leg_and_the_cdr_has_the_facts() {
    let mut h = Harness::new("relay");
    answered(&mut h);
    let offer = body(&h.last_to_pbx(Method::Invite));
    assert!(offer.contains("c=IN IP4 203.0.113.7\r\n"), "{offer}");
    assert!(offer.contains("m=audio 30002 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n"));
    assert!(
        offer.contains("o=- 1 1 IN IP4 192.0.2.10\r\n"),
        "origin kept"
    );
    for status in [183, 200] {
        let answer = body(&h.last_to_carrier(status));
        assert!(answer.contains("c=IN IP4 203.0.113.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\n"));
    }
    assert_eq!(h.media.port_pairs().0, PAIRS - 2);
    h.advance(Duration::from_secs(3));
    let tag = h.carrier_tag();
    h.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.rtp_caller_packets, Some(0));
    assert_eq!(cdr.rtp_callee_packets, Some(0));
    assert_eq!(
        cdr.one_way_audio,
        Some(false),
        "3 s of silence is under 5 s"
    );
    assert!(h.pool_full());
}

#[test]
fn a_direct_call_keeps_its_sdp_and_takes_no_ports() {
    let mut h = Harness::new("direct");
    answered(&mut h);
    let offer = body(&h.last_to_pbx(Method::Invite));
    assert_eq!(offer, CARRIER_SDP.replace('\n', "\r\n"));
    assert_eq!(body(&h.last_to_carrier(200)), PBX_SDP.replace('\n', "\r\n"));
    let tag = h.carrier_tag();
    h.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    assert_eq!(h.cdr().rtp_caller_packets, None);
    assert!(h.pool_full());
}

#[test]
fn a_late_offer_in_the_200_and_its_answer_in_the_ack_are_rewritten() {
    let mut h = Harness::new("relay");
    h.feed(&invite(), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    assert!(b.body().is_empty());
    h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
    assert!(body(&h.last_to_carrier(200)).contains("m=audio 30000 RTP/AVP 8\r\n"));
    let tag = h.carrier_tag();
    h.feed(
        &with_sdp(&carrier_request("ACK", 10, &tag), CARRIER_SDP),
        CARRIER,
    );
    let ack = body(&h.last_to_pbx(Method::Ack));
    assert!(ack.contains("m=audio 30002 RTP/AVP 8 0\r\n"), "{ack}");
}

#[test]
fn a_reinvite_to_hold_keeps_the_streams_and_its_answer_comes_back_rewritten() {
    let mut h = Harness::new("relay");
    answered(&mut h);
    let b = h.last_to_pbx(Method::Invite);
    let hold = PBX_SDP.replace("RTP/AVP 8\n", "RTP/AVP 8\na=sendonly\n");
    let reinvite = format!(
        "INVITE sip:79161234567@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKpbxre
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {cid}
CSeq: 2 INVITE
Contact: <sip:pbx@{PBX}>
Content-Length: 0

",
        to = b.header(&HeaderName::To).unwrap(),
        from = b.header(&HeaderName::From).unwrap(),
        cid = b.call_id().unwrap()
    );
    h.feed(&with_sdp(&reinvite, &hold), PBX);
    let a_re = h
        .to_carrier
        .iter()
        .rev()
        .find(|m| m.method() == Some(&Method::Invite))
        .cloned()
        .unwrap();
    let held = body(&a_re);
    assert!(
        held.contains("m=audio 30000 RTP/AVP 8\r\na=sendonly\r\n"),
        "{held}"
    );
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
    h.feed(
        &with_sdp(
            &a_ok,
            &CARRIER_SDP.replace("RTP/AVP 8 0\n", "RTP/AVP 8 0\na=recvonly\n"),
        ),
        CARRIER,
    );
    let relayed = h
        .to_pbx
        .iter()
        .rev()
        .find(|m| m.status() == Some(200))
        .cloned()
        .unwrap();
    assert!(body(&relayed).contains("m=audio 30002 RTP/AVP 8 0\r\na=recvonly\r\n"));
    assert_eq!(h.media.port_pairs().0, PAIRS - 2, "the same stream");
}

#[test]
fn every_way_a_call_ends_gives_its_ports_back() {
    // CANCEL while ringing.
    let mut h = Harness::new("relay");
    h.feed(&with_sdp(&invite(), CARRIER_SDP), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "180 Ringing"), PBX);
    assert!(!h.pool_full());
    let cancel = invite()
        .replace("INVITE sip", "CANCEL sip")
        .replace("10 INVITE", "10 CANCEL");
    h.feed(&cancel, CARRIER);
    assert!(h.pool_full(), "CANCEL");
    // Busy.
    let mut h = Harness::new("relay");
    h.feed(&with_sdp(&invite(), CARRIER_SDP), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "486 Busy Here"), PBX);
    assert!(h.pool_full(), "486");
    // Ring timeout (60 s by default).
    let mut h = Harness::new("relay");
    h.feed(&with_sdp(&invite(), CARRIER_SDP), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "180 Ringing"), PBX);
    h.advance(Duration::from_secs(61));
    assert!(h.pool_full(), "ring timeout");
    // Shutdown of an answered call, and the callee's BYE after a long silence.
    let mut h = Harness::new("relay");
    answered(&mut h);
    let now = h.now;
    h.core.begin_shutdown(now);
    h.advance(Duration::from_secs(31));
    assert!(h.pool_full(), "shutdown");
    assert_eq!(
        h.cdr().one_way_audio,
        Some(true),
        "31 s without RTP from anyone"
    );
    // The process stops with a call live.
    let mut h = Harness::new("relay");
    answered(&mut h);
    let now = h.now;
    h.core.abandon_all(now);
    assert!(h.pool_full(), "abandon");
}

/// `text` as call `i`'s: its own Call-ID and branches.
fn call_no(text: &str, i: usize) -> String {
    text.replace("a-leg-1@carrier", &format!("a-leg-{i}@carrier"))
        .replace("z9hG4bKcarrier", &format!("z9hG4bKcall{i}x"))
}

#[test]
fn hundreds_of_calls_ended_every_way_leave_the_pool_full() {
    let mut h = Harness::new("relay");
    for i in 0..300 {
        h.to_carrier.clear();
        h.to_pbx.clear();
        h.feed(&call_no(&with_sdp(&invite(), CARRIER_SDP), i), CARRIER);
        let b = h.last_to_pbx(Method::Invite);
        match i % 3 {
            0 => {
                h.feed(&pbx_response(&b, "180 Ringing"), PBX);
                let cancel = invite()
                    .replace("INVITE sip", "CANCEL sip")
                    .replace("10 INVITE", "10 CANCEL");
                h.feed(&call_no(&cancel, i), CARRIER);
                let cancelled = h.last_to_pbx(Method::Cancel);
                h.feed(&pbx_response(&cancelled, "200 OK"), PBX);
                h.feed(&pbx_response(&b, "487 Request Terminated"), PBX);
            }
            1 => h.feed(&pbx_response(&b, "486 Busy Here"), PBX),
            _ => {
                h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
                let tag = h.carrier_tag();
                h.feed(&call_no(&carrier_request("ACK", 10, &tag), i), CARRIER);
                h.feed(&call_no(&carrier_request("BYE", 11, &tag), i), CARRIER);
                let bye = h.last_to_pbx(Method::Bye);
                h.feed(&pbx_response(&bye, "200 OK"), PBX);
            }
        }
        assert!(h.pool_full(), "call {i}");
        h.advance(Duration::from_secs(1));
    }
    h.advance(Duration::from_secs(40));
    assert_eq!(h.core.active_calls(), 0);
    assert!(h.pool_full());
    assert_eq!(h.media.calls(), 0, "no call entry left behind");
}
