//! The B2BUA core with the RTP relay (`media = "relay"`) on a virtual clock: the SDP of both
//! legs (offer, answer, early media, re-INVITE, late offer in the 200 and its answer in the
//! ACK) rewritten to the relay's ports, direct calls untouched, and the port pool full again
//! after every way a call ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::b2bua::{B2bua, ShardSeat, Shared};
use calltrack::call::record::CallDetailRecord;
use calltrack::config::Config;
use calltrack::media::stream::{Forward, Socket};
use calltrack::media::table::SharedStream;
use calltrack::media::{MediaTable, Side};
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
        Harness::sharded(media, rtp_ports, on_no_ports, None, ShardSeat::default())
    }

    /// The same as shard `seat`, sharing `table` (with the other shards) when given.
    fn sharded(
        media: &str,
        rtp_ports: &str,
        on_no_ports: &str,
        table: Option<Arc<MediaTable>>,
        seat: ShardSeat,
    ) -> Harness {
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
        let media = table.unwrap_or_else(|| Arc::new(MediaTable::new(&config.media)));
        let shared = Shared {
            media: media.clone(),
            seat,
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
            rig: Rig::around(core, now),
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

/// The PBX re-INVITEs the answered call with `sdp` (CSeq `cseq`); the carrier answers the
/// relayed re-INVITE 200 with `carrier_sdp`. Returns the carrier's re-INVITE's body and the
/// body of the 200 relayed to the PBX.
fn pbx_reinvite(h: &mut Harness, cseq: u32, sdp: &str, carrier_sdp: &str) -> (String, String) {
    let b = h
        .to_pbx
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .cloned()
        .unwrap();
    let reinvite = format!(
        "INVITE sip:79161234567@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKpbxre{cseq}
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {cid}
CSeq: {cseq} INVITE
Contact: <sip:pbx@{PBX}>
Content-Length: 0

",
        to = b.header(&HeaderName::To).unwrap(),
        from = b.header(&HeaderName::From).unwrap(),
        cid = b.call_id().unwrap()
    );
    h.to_carrier.clear();
    h.to_pbx.retain(|m| m.method() == Some(&Method::Invite));
    h.feed(&with_sdp(&reinvite, sdp), PBX);
    let a_re = h
        .to_carrier
        .iter()
        .rev()
        .find(|m| m.method() == Some(&Method::Invite))
        .cloned()
        .unwrap();
    let a_ok = core_harness::rig::carrier_response(&a_re, "200 OK");
    h.feed(&with_sdp(&a_ok, carrier_sdp), CARRIER);
    let relayed = h
        .to_pbx
        .iter()
        .rev()
        .find(|m| m.status() == Some(200))
        .cloned()
        .unwrap();
    // The PBX ACKs the 200 of its re-INVITE (RFC 3261 §13.2.2.4).
    let ack = format!(
        "ACK sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {PBX};branch=z9hG4bKpbxack{cseq}
Max-Forwards: 70
From: {to};tag=pbx1
To: {from}
Call-ID: {cid}
CSeq: {cseq} ACK
Content-Length: 0

",
        to = b.header(&HeaderName::To).unwrap(),
        from = b.header(&HeaderName::From).unwrap(),
        cid = b.call_id().unwrap()
    );
    h.feed(&ack, PBX);
    (body(&a_re), body(&relayed))
}

#[test]
fn a_reinvite_to_hold_keeps_the_streams_and_its_answer_comes_back_rewritten() {
    let mut h = Harness::new("relay");
    answered(&mut h);
    let hold = PBX_SDP.replace("RTP/AVP 8\n", "RTP/AVP 8\na=sendonly\n");
    let recvonly = CARRIER_SDP.replace("RTP/AVP 8 0\n", "RTP/AVP 8 0\na=recvonly\n");
    let (held, relayed) = pbx_reinvite(&mut h, 2, &hold, &recvonly);
    assert!(
        held.contains("m=audio 30000 RTP/AVP 8\r\na=sendonly\r\n"),
        "{held}"
    );
    assert!(relayed.contains("m=audio 30002 RTP/AVP 8 0\r\na=recvonly\r\n"));
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
fn a_thousand_calls_cancelled_busy_timed_out_or_hung_up_leave_the_pool_full() {
    let mut h = Harness::new("relay");
    for i in 0..1000 {
        h.to_carrier.clear();
        h.to_pbx.clear();
        h.feed(&call_no(&with_sdp(&invite(), CARRIER_SDP), i), CARRIER);
        let b = h.last_to_pbx(Method::Invite);
        assert!(!h.pool_full(), "call {i} relayed");
        match i % 5 {
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
            2 => {
                // Nobody answers: the ring timeout (60 s) ends it.
                h.feed(&pbx_response(&b, "180 Ringing"), PBX);
                h.advance(Duration::from_secs(61));
            }
            3 => {
                // Answered, but the carrier never ACKs: the 2xx retransmissions give up
                // (64·T1, RFC 3261 §13.3.1.4) and both legs are hung up.
                h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
                h.advance(Duration::from_secs(33));
                if let Some(bye) = h
                    .to_pbx
                    .iter()
                    .rev()
                    .find(|m| m.method() == Some(&Method::Bye))
                {
                    let ok = pbx_response(&bye.clone(), "200 OK");
                    h.feed(&ok, PBX);
                }
            }
            _ => {
                h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
                let tag = h.carrier_tag();
                h.feed(&call_no(&carrier_request("ACK", 10, &tag), i), CARRIER);
                h.feed(&call_no(&carrier_request("BYE", 11, &tag), i), CARRIER);
                let bye = h.last_to_pbx(Method::Bye);
                h.feed(&pbx_response(&bye, "200 OK"), PBX);
            }
        }
        h.advance(Duration::from_secs(1));
        assert!(h.pool_full(), "call {i} ({})", i % 5);
    }
    h.advance(Duration::from_secs(40));
    assert_eq!(h.core.active_calls(), 0);
    assert!(h.pool_full());
    assert_eq!(h.media.calls(), 0, "no call entry left behind");
    assert_eq!(h.ended().len(), 1000, "one CDR a call");
}

#[test]
fn out_of_ports_a_relayed_call_is_refused_with_a_reason_or_bridged_direct() {
    // Two pairs: one call's stream.
    for (mode, refused) in [("refuse", true), ("direct", false)] {
        let mut h = Harness::with("relay", "30000-30003", mode);
        answered(&mut h);
        assert_eq!(h.media.port_pairs(), (0, 2));
        h.to_carrier.clear();
        h.to_pbx.clear();
        h.feed(&call_no(&with_sdp(&invite(), CARRIER_SDP), 2), CARRIER);
        if refused {
            let answer = h.last_to_carrier(503);
            let reason = answer.header(&HeaderName::Reason).unwrap();
            assert!(reason.starts_with("SIP;cause=503;text="), "{reason}");
            assert!(answer.header(&HeaderName::RetryAfter).is_none());
            assert!(h.to_pbx.is_empty(), "nothing rang");
            let cdr = h.ended()[0].clone();
            assert_eq!(cdr.reject_reason.as_deref(), Some("no_media_ports"));
            assert_eq!(cdr.sip_status, 503);
            assert_eq!(cdr.tracking_number, "74950000001");
        } else {
            let offer = body(&h.last_to_pbx(Method::Invite));
            assert_eq!(offer, CARRIER_SDP.replace('\n', "\r\n"), "bridged direct");
            assert!(h.ended().is_empty());
        }
        assert_eq!(h.core.active_calls(), if refused { 1 } else { 2 });
    }
}

#[test]
fn refusing_a_late_offer_takes_its_ports_before_any_sdp() {
    let mut h = Harness::with("relay", "30000-30003", "refuse");
    h.feed(&invite(), CARRIER);
    assert_eq!(h.media.port_pairs(), (0, 2), "reserved at the INVITE");
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
    assert!(body(&h.last_to_carrier(200)).contains("m=audio 30000 RTP/AVP 8\r\n"));
    let tag = h.carrier_tag();
    h.feed(
        &with_sdp(&carrier_request("ACK", 10, &tag), CARRIER_SDP),
        CARRIER,
    );
    assert!(body(&h.last_to_pbx(Method::Ack)).contains("m=audio 30002 RTP/AVP 8 0\r\n"));
    h.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    assert_eq!(h.media.port_pairs(), (2, 2));
}

// Packets through the relay's streams, on the virtual clock: the table's streams are taken as
// a driver would (`attach`, `poll_opened`) and fed packets by hand, no sockets.

const CALLER_MEDIA: &str = "192.0.2.10:4000";
const PBX_MEDIA: &str = "10.1.1.5:6000";

/// A relayed call whose streams the test drives like the media driver.
fn driven() -> Harness {
    let h = Harness::new("relay");
    h.media.attach(Box::new(|| {}));
    h
}

/// The one stream the relay opened since the last call.
fn opened(h: &Harness) -> SharedStream {
    let opened = h.media.poll_opened().expect("a stream opened");
    assert!(h.media.poll_opened().is_none(), "one stream");
    opened.stream
}

/// The driver closes what the table released: the ports come back.
fn close_sockets(h: &Harness) {
    while let Some(ports) = h.media.poll_closing() {
        h.media.sockets_closed(ports);
    }
}

/// RTP version 2, payload type 8 (PCMA), SSRC `ssrc`.
fn rtp(seq: u16, ts: u32, ssrc: u32, payload: u8) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[payload; 160]);
    p
}

/// A-law bytes: 0x80 decodes to 5504 (loud), 0xd5 to 8 (silence).
const LOUD: u8 = 0x80;
const QUIET: u8 = 0xd5;

/// `side` sends RTP packet `i` (20 ms apart from `t0`); where the relay sends it.
fn send(stream: &SharedStream, t0: Instant, side: Side, i: u32, payload: u8) -> Option<Forward> {
    send_seq(stream, t0, side, i, i as u16, payload)
}

/// The same with sequence number `seq` (a sender that paused continues its sequence).
fn send_seq(
    stream: &SharedStream,
    t0: Instant,
    side: Side,
    i: u32,
    seq: u16,
    payload: u8,
) -> Option<Forward> {
    let (from, ssrc) = match side {
        Side::Caller => (CALLER_MEDIA, 0xca11),
        Side::Callee => (PBX_MEDIA, 0xb0b),
    };
    let at = t0 + Duration::from_millis(u64::from(i) * 20);
    let on = Socket {
        facing: side,
        rtcp: false,
    };
    let packet = rtp(seq, i * 160, ssrc, payload);
    let mut relay = stream.lock().unwrap();
    relay.handle_packet(at, on, from.parse().unwrap(), &packet)
}

fn rtcp(stream: &SharedStream, at: Instant, side: Side, bytes: &[u8]) -> Option<Forward> {
    let from: std::net::SocketAddr = match side {
        Side::Caller => "192.0.2.10:4001",
        Side::Callee => "10.1.1.5:6001",
    }
    .parse()
    .unwrap();
    let on = Socket {
        facing: side,
        rtcp: true,
    };
    stream.lock().unwrap().handle_packet(at, on, from, bytes)
}

fn write_rtcp(b: rtcp_types::CompoundBuilder<'_>) -> Vec<u8> {
    use rtcp_types::RtcpPacketWriterExt;
    let mut buf = vec![0; 1500];
    let n = b.write_into(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn every_twentieth_packet_lost_is_five_percent_in_the_cdr_with_rtcp_and_mos() {
    use rtcp_types::{Compound, ReceiverReport, ReportBlock, SenderReport};
    let mut h = driven();
    answered(&mut h);
    let stream = opened(&h);
    let t0 = h.now;
    // 20 s of loud audio from the caller, every 20th packet lost on its way in; the callee
    // sends 20 s of silence.
    for i in 0..1000 {
        if i % 20 != 10 {
            let out = send(&stream, t0, Side::Caller, i, LOUD).unwrap();
            assert_eq!(out.to, PBX_MEDIA.parse().unwrap(), "to the PBX's address");
        }
        let back = send(&stream, t0, Side::Callee, i, QUIET).unwrap();
        assert_eq!(back.to, CALLER_MEDIA.parse().unwrap());
    }
    // The caller's SR passes; the callee reports 100 ms later, having held it 60 ms (DLSR)
    // and counted the same 50 lost (5 % = 13/256) with 2 ms of jitter (16 units at 8 kHz).
    let ntp: u64 = 0xe8a1_b2c3_d4e5_f607;
    let t_sr = t0 + Duration::from_secs(5);
    let sr = write_rtcp(
        Compound::builder().add_packet(SenderReport::builder(0xca11).ntp_timestamp(ntp)),
    );
    assert!(
        rtcp(&stream, t_sr, Side::Caller, &sr).is_some(),
        "RTCP relayed"
    );
    let block = ReportBlock::builder(0xca11)
        .fraction_lost(13)
        .cumulative_lost(50)
        .interarrival_jitter(16)
        .last_sender_report_timestamp(((ntp >> 16) & 0xffff_ffff) as u32)
        .delay_since_last_sender_report_timestamp(65536 * 60 / 1000);
    let rr = write_rtcp(
        Compound::builder().add_packet(ReceiverReport::builder(0xb0b).add_report_block(block)),
    );
    let t_rr = t_sr + Duration::from_millis(100);
    assert!(rtcp(&stream, t_rr, Side::Callee, &rr).is_some());
    // A malformed RTCP packet is relayed all the same.
    assert!(rtcp(&stream, t_rr, Side::Callee, b"\x80\xc9\x00\x09junk").is_some());
    h.now = t0 + Duration::from_secs(20);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.rtp_caller_packets, Some(950));
    assert_eq!(cdr.rtp_caller_lost, Some(50), "5 % of 1000");
    assert_eq!(cdr.rtp_callee_packets, Some(1000));
    assert_eq!(cdr.rtp_callee_lost, Some(0));
    assert_eq!(cdr.one_way_audio, Some(false));
    assert_eq!(cdr.rtp_caller_jitter_us, Some(0));
    assert_eq!(
        (cdr.rtp_caller_media_secs, cdr.rtp_callee_media_secs),
        (Some(20), Some(20))
    );
    assert_eq!(cdr.rtp_caller_voice_secs, Some(20), "loud all along");
    assert_eq!(cdr.rtp_callee_voice_secs, Some(0), "silence is not talk");
    // What the callee reported about the caller's audio, and the callee leg's round trip.
    assert_eq!(cdr.rtcp_caller_lost, Some(50));
    assert_eq!(cdr.rtcp_caller_loss_permille, Some(51));
    assert_eq!(cdr.rtcp_caller_jitter_us, Some(2000));
    let rtt = cdr.rtcp_caller_rtt_ms.unwrap();
    assert!((39..=41).contains(&rtt), "{rtt}");
    assert_eq!(cdr.rtcp_callee_lost, None, "the caller sent no report");
    // MOS: 5 % loss with PLC, d = 40 ms / 2 + 20 ms jitter buffer.
    let expected = calltrack::media::mos::estimate(&calltrack::media::mos::MosInputs {
        loss_percent: 5.0,
        jitter: Duration::from_millis(2),
        rtt: Some(Duration::from_millis(40)),
        plc: true,
    });
    let mos = cdr.rtp_caller_mos_x100.unwrap();
    assert!(
        (mos as f64 - expected * 100.0).abs() <= 1.0,
        "{mos} vs {expected}"
    );
    assert!((385..=392).contains(&mos), "{mos}");
    assert_eq!(
        cdr.rtp_callee_mos_x100,
        Some(439),
        "clean: the G.711 ceiling less the callee leg's 40 ms round trip"
    );
    close_sockets(&h);
    assert!(h.pool_full());
}

#[test]
fn audio_keeps_flowing_through_hold_and_back() {
    let mut h = driven();
    answered(&mut h);
    let stream = opened(&h);
    let tag = h.carrier_tag();
    let t0 = h.now;
    for i in 0..50 {
        assert!(send(&stream, t0, Side::Caller, i, LOUD).is_some());
        assert!(send(&stream, t0, Side::Callee, i, LOUD).is_some());
    }
    let hold = PBX_SDP.replace("RTP/AVP 8\n", "RTP/AVP 8\na=sendonly\n");
    let recvonly = CARRIER_SDP.replace("RTP/AVP 8 0\n", "RTP/AVP 8 0\na=recvonly\n");
    pbx_reinvite(&mut h, 2, &hold, &recvonly);
    // On hold the PBX plays music; the caller is silent.
    for i in 50..100 {
        let out = send(&stream, t0, Side::Callee, i, LOUD).unwrap();
        assert_eq!(out.to, CALLER_MEDIA.parse().unwrap());
    }
    pbx_reinvite(&mut h, 3, PBX_SDP, CARRIER_SDP);
    assert!(
        h.media.poll_opened().is_none(),
        "the same stream throughout"
    );
    for i in 100..150 {
        let out = send_seq(&stream, t0, Side::Caller, i, i as u16 - 50, LOUD).unwrap();
        assert_eq!(out.to, PBX_MEDIA.parse().unwrap(), "back from hold");
        let back = send(&stream, t0, Side::Callee, i, LOUD).unwrap();
        assert_eq!(back.to, CALLER_MEDIA.parse().unwrap());
    }
    h.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.rtp_caller_packets, Some(100));
    assert_eq!(cdr.rtp_caller_lost, Some(0), "a pause is no loss");
    assert_eq!(
        (cdr.rtp_callee_packets, cdr.rtp_callee_lost),
        (Some(150), Some(0))
    );
    assert_eq!(cdr.rtp_caller_max_gap_ms, Some(1020));
}

#[test]
fn a_late_offer_call_carries_audio_both_ways() {
    let mut h = driven();
    h.feed(&invite(), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&with_sdp(&pbx_response(&b, "200 OK"), PBX_SDP), PBX);
    let tag = h.carrier_tag();
    h.feed(
        &with_sdp(&carrier_request("ACK", 10, &tag), CARRIER_SDP),
        CARRIER,
    );
    let stream = opened(&h);
    let t0 = h.now;
    for i in 0..100 {
        let out = send(&stream, t0, Side::Caller, i, LOUD).unwrap();
        assert_eq!(out.to, PBX_MEDIA.parse().unwrap());
        let back = send(&stream, t0, Side::Callee, i, QUIET).unwrap();
        assert_eq!(back.to, CALLER_MEDIA.parse().unwrap());
    }
    h.now = t0 + Duration::from_secs(2);
    h.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    let cdr = h.cdr();
    assert_eq!(
        (cdr.rtp_caller_packets, cdr.rtp_callee_packets),
        (Some(100), Some(100))
    );
    assert_eq!(cdr.rtp_caller_voice_secs, Some(2));
    close_sockets(&h);
    assert!(h.pool_full());
}

#[test]
fn shards_sharing_the_relay_never_mix_their_calls() {
    // Two shards' first calls: each its own streams, and one ending leaves the other's alone.
    let config = Config::from_toml_str(
        "[media]\nrtp_ports = \"30000-30099\"\nadvertised_ip = \"203.0.113.7\"\n",
    )
    .unwrap();
    let table = Arc::new(MediaTable::new(&config.media));
    let mut seats = ShardSeat::all(2);
    let mut b = Harness::sharded(
        "relay",
        "30000-30099",
        "direct",
        Some(table.clone()),
        seats.pop().unwrap(),
    );
    let mut a = Harness::sharded(
        "relay",
        "30000-30099",
        "direct",
        Some(table.clone()),
        seats.pop().unwrap(),
    );
    answered(&mut a);
    answered(&mut b);
    assert_eq!(table.calls(), 2, "one entry per call");
    assert_eq!(table.port_pairs().0, PAIRS - 4, "two streams");
    let tag = a.carrier_tag();
    a.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    assert_eq!(a.cdr().rtp_caller_packets, Some(0));
    assert_eq!(table.calls(), 1, "the other shard's call is still relayed");
    let tag = b.carrier_tag();
    b.feed(&carrier_request("BYE", 11, &tag), CARRIER);
    assert_eq!(
        b.cdr().rtp_caller_packets,
        Some(0),
        "its facts were still there"
    );
    assert_eq!(table.port_pairs().0, PAIRS);
}
