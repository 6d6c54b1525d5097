//! Parser and encoder throughput on a typical carrier INVITE, calltrack against `rsip` (the
//! baseline that was measured and rejected as the parser) in the same run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use calltrack::sip::message::{HeaderName, Limits, MessageBuilder};
use calltrack::sip::{Method, SipMessage};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// What a carrier's SBC typically sends: 12 headers, P-Asserted-Identity, an SDP offer.
const CARRIER_INVITE: &str = "INVITE sip:74950000001@203.0.113.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---a5d1c1ba5fe3b8a1;rport\r\n\
Max-Forwards: 69\r\n\
Contact: <sip:79161234567@198.51.100.7:5060>\r\n\
To: <sip:74950000001@203.0.113.10>\r\n\
From: \"79161234567\" <sip:79161234567@198.51.100.7>;tag=b1e6f4a5\r\n\
Call-ID: 8f3c2b1e6a7d4c9e0f1a2b3c4d5e6f70@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO\r\n\
Supported: 100rel, timer, replaces\r\n\
P-Asserted-Identity: <sip:+79161234567@198.51.100.7;user=phone>\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 230\r\n\
\r\n\
v=0\r\n\
o=- 3912345678 3912345678 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 31000 RTP/AVP 8 0 18 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

/// Framing and header index: what every received message costs before any header is read.
fn bench_parse(c: &mut Criterion) {
    let bytes = Bytes::from_static(CARRIER_INVITE.as_bytes());
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_invite");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("calltrack", |b| {
        b.iter(|| black_box(SipMessage::parse(black_box(bytes.clone()), &limits).unwrap()));
    });
    group.bench_function("rsip", |b| {
        b.iter(|| black_box(rsip::SipMessage::try_from(black_box(bytes.clone())).unwrap()));
    });
    group.finish();
}

/// Parse plus the typed reads a B2BUA does on an INVITE: Call-ID, CSeq, top Via, From, To.
fn bench_parse_and_read(c: &mut Criterion) {
    use rsip::prelude::*;
    let bytes = Bytes::from_static(CARRIER_INVITE.as_bytes());
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_and_read_invite");
    group.bench_function("calltrack", |b| {
        b.iter(|| {
            let msg = SipMessage::parse(black_box(bytes.clone()), &limits).unwrap();
            let via = msg.top_via().unwrap();
            let from = msg.from().unwrap();
            let to = msg.to().unwrap();
            black_box((
                msg.call_id(),
                msg.cseq().unwrap().seq,
                via.branch(),
                from.tag(),
                to.uri,
            ));
        });
    });
    group.bench_function("rsip", |b| {
        b.iter(|| {
            let msg = rsip::Request::try_from(black_box(bytes.clone())).unwrap();
            let via = msg.via_header().unwrap().typed().unwrap();
            let from = msg.from_header().unwrap().typed().unwrap();
            let to = msg.to_header().unwrap().typed().unwrap();
            let cseq = msg.cseq_header().unwrap().typed().unwrap();
            black_box((
                msg.call_id_header().unwrap().value(),
                cseq.seq,
                via.branch().cloned(),
                from.tag().cloned(),
                to.uri,
            ));
        });
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let bytes = Bytes::from_static(CARRIER_INVITE.as_bytes());
    let parsed = SipMessage::parse(bytes.clone(), &Limits::default()).unwrap();
    let rsip_msg = rsip::SipMessage::try_from(bytes).unwrap();
    let mut group = c.benchmark_group("encode_invite");
    group.bench_function("calltrack", |b| {
        b.iter(|| {
            let mut m = MessageBuilder::request(&Method::Invite, "sip:74950000001@127.0.0.1:5080");
            for field in parsed.headers() {
                if field.name != HeaderName::ContentLength && field.name != HeaderName::ContentType
                {
                    m.raw_header(parsed.field_name(field), parsed.field_value(field));
                }
            }
            black_box(m.body(parsed.header(&HeaderName::ContentType), parsed.body()));
        });
    });
    group.bench_function("rsip", |b| b.iter(|| black_box(rsip_msg.to_string())));
    group.finish();
}

criterion_group!(benches, bench_parse, bench_parse_and_read, bench_encode);
criterion_main!(benches);
