//! What the transaction layer keeps per completed transaction (issue 12): a counting global
//! allocator measures the live heap bytes and blocks a `TransactionLayer` holds once N
//! transactions of one kind have reached the state where they only absorb retransmissions
//! (RFC 3261 §17, RFC 6026 §7), driven through the public API with carrier-sized messages.
//! The table is printed first; criterion then times a whole server and client INVITE cycle
//! on a virtual clock (steady state: about 64*T1 of completed transactions kept).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::sip::dialog::{Dialog, LocalEndpoint};
use calltrack::sip::message::{Limits, response_to};
use calltrack::sip::transaction::{TimerConfig, TransactionLayer, TxEvent, TxId, TxState};
use calltrack::sip::{Peer, SipMessage, Transport};
use criterion::{Criterion, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Transactions per kind in the memory table (enough to amortise the index maps).
const N: usize = 10_000;

/// A carrier's audio offer: four payload types, G.729 without annex B, DTMF events.
fn sdp() -> String {
    let mut sdp = String::from(
        "v=0\r\no=- 3918239457 3918239457 IN IP4 203.0.113.10\r\ns=-\r\n\
         c=IN IP4 203.0.113.10\r\nt=0 0\r\nm=audio 16384 RTP/AVP 8 0 18 101\r\n",
    );
    let codecs = [
        (8, "PCMA"),
        (0, "PCMU"),
        (18, "G729"),
        (101, "telephone-event"),
    ];
    for (pt, name) in codecs {
        sdp.push_str(&format!("a=rtpmap:{pt} {name}/8000\r\n"));
    }
    sdp + "a=fmtp:18 annexb=no\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
}

fn parse(text: String) -> SipMessage {
    SipMessage::parse(Bytes::from(text), &Limits::default()).expect("bench message parses")
}

/// A carrier's INVITE with SDP (about 900 bytes), unique per `i`.
fn invite(i: usize, from_carrier: bool) -> SipMessage {
    let sdp = sdp();
    let host = if from_carrier {
        "198.51.100.7"
    } else {
        "192.0.2.10"
    };
    parse(format!(
        "INVITE sip:74950000001@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bK-{i:08}-7f3a9c21e4;rport\r\n\
Max-Forwards: 69\r\n\
Record-Route: <sip:198.51.100.7;lr;ftag=as5e1c{i:08}>\r\n\
From: \"79161234567\" <sip:79161234567@198.51.100.7>;tag=as5e1c{i:08}\r\n\
To: <sip:74950000001@192.0.2.10>\r\n\
Call-ID: 5b0d7a1f{i:08}c4e94b7c9a3e@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:79161234567@198.51.100.7:5060>\r\n\
P-Asserted-Identity: <sip:79161234567@198.51.100.7>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n\
Supported: replaces, timer\r\n\
Session-Expires: 1800\r\n\
User-Agent: CarrierSBC 4.2.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ))
}

/// An in-dialog request without a body (BYE, or the ACK for a 2xx), unique per `i`.
fn in_dialog(method: &str, i: usize, branch: &str, cseq: u32) -> SipMessage {
    parse(format!(
        "{method} sip:79161234567@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-{branch}-{i:08};rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:198.51.100.7;lr;ftag=as5e1c{i:08}>\r\n\
From: \"79161234567\" <sip:79161234567@198.51.100.7>;tag=as5e1c{i:08}\r\n\
To: <sip:74950000001@192.0.2.10>;tag=ct{i:08}\r\n\
Call-ID: 5b0d7a1f{i:08}c4e94b7c9a3e@198.51.100.7\r\n\
CSeq: {cseq} {method}\r\n\
User-Agent: CarrierSBC 4.2.1\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

/// The response a peer sends for `request` (as received from the network), with SDP for 2xx.
fn peer_response(request: &SipMessage, code: u16, reason: &str) -> SipMessage {
    let mut b = response_to(request, code, reason, Some("pbx7c1e"), None);
    b.header(
        calltrack::sip::HeaderName::Contact,
        "<sip:101@192.0.2.20:5060>",
    );
    let message = if code == 200 && request.method() == Some(&calltrack::sip::Method::Invite) {
        b.body(Some("application/sdp"), sdp().as_bytes())
    } else {
        b.finish()
    };
    // Re-parse from an exact-size buffer, as a datagram would arrive.
    parse(String::from_utf8_lossy(&message.wire_bytes()).into_owned())
}

/// Our response to a server transaction's request, built as the B2BUA builds it.
/// As calltrack answers: a Contact on responses to an INVITE only (the 200 to a BYE is
/// `response_to` and nothing more, `b2bua::session::relay`).
fn our_response(request: &SipMessage, code: u16, reason: &str, peer: Peer) -> SipMessage {
    let mut b = response_to(request, code, reason, Some("ct7c1e"), Some(peer.addr));
    let invite = request.method() == Some(&calltrack::sip::Method::Invite);
    if invite {
        b.header(
            calltrack::sip::HeaderName::Contact,
            "<sip:74950000001@192.0.2.10:5060>",
        );
    }
    if code == 200 && invite {
        b.body(Some("application/sdp"), sdp().as_bytes())
    } else {
        b.finish()
    }
}

fn drain(layer: &mut TransactionLayer) -> Option<TxId> {
    while layer.poll_transmit().is_some() {}
    let mut created = None;
    while let Some(event) = layer.poll_event() {
        if let TxEvent::Request { tx, .. } = event {
            created = Some(tx);
        }
    }
    created
}

fn carrier() -> Peer {
    Peer::new(Transport::Udp, "198.51.100.7:5060".parse().unwrap())
}

fn pbx() -> Peer {
    Peer::new(Transport::Udp, "192.0.2.20:5060".parse().unwrap())
}

/// One kind of completed transaction: how to drive it there and the state it rests in.
struct Kind {
    name: &'static str,
    rests_in: TxState,
    drive: fn(&mut TransactionLayer, Instant, usize) -> TxId,
}

fn server_invite(layer: &mut TransactionLayer, now: Instant, i: usize, code: u16) -> TxId {
    let request = invite(i, true);
    layer.handle_request(now, request.clone(), carrier());
    let tx = drain(layer).expect("INVITE opens a server transaction");
    let ringing = our_response(&request, 180, "Ringing", carrier());
    layer.respond(now, tx, ringing).unwrap();
    let reason = if code == 200 { "OK" } else { "Busy Here" };
    layer
        .respond(now, tx, our_response(&request, code, reason, carrier()))
        .unwrap();
    drain(layer);
    tx
}

fn server_invite_2xx(layer: &mut TransactionLayer, now: Instant, i: usize) -> TxId {
    let tx = server_invite(layer, now, i, 200);
    layer.handle_request(now, in_dialog("ACK", i, "ack", 102), carrier());
    drain(layer);
    tx
}

fn server_invite_non_2xx(layer: &mut TransactionLayer, now: Instant, i: usize) -> TxId {
    let tx = server_invite(layer, now, i, 486);
    // The ACK for a non-2xx has the INVITE's branch (§17.1.1.3).
    let request = invite(i, true);
    let busy = our_response(&request, 486, "Busy Here", carrier());
    let ack = calltrack_ack(&request, &busy);
    layer.handle_request(now, ack, carrier());
    drain(layer);
    tx
}

/// The ACK a UAC's transaction builds for a non-2xx: the INVITE's top Via, the response's To.
fn calltrack_ack(invite: &SipMessage, response: &SipMessage) -> SipMessage {
    let via = invite.header(&calltrack::sip::HeaderName::Via).unwrap();
    let to = response.header(&calltrack::sip::HeaderName::To).unwrap();
    let from = invite.header(&calltrack::sip::HeaderName::From).unwrap();
    let call_id = invite.call_id().unwrap();
    parse(format!(
        "ACK {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
Call-ID: {call_id}\r\nCSeq: 102 ACK\r\nContent-Length: 0\r\n\r\n",
        invite.request_uri().unwrap()
    ))
}

fn server_bye(layer: &mut TransactionLayer, now: Instant, i: usize) -> TxId {
    let bye = in_dialog("BYE", i, "bye", 103);
    layer.handle_request(now, bye.clone(), carrier());
    let tx = drain(layer).expect("BYE opens a server transaction");
    layer
        .respond(now, tx, our_response(&bye, 200, "OK", carrier()))
        .unwrap();
    drain(layer);
    tx
}

fn client_invite(layer: &mut TransactionLayer, now: Instant, i: usize, code: u16) -> TxId {
    let request = invite(i, false);
    let tx = layer.send_request(now, request.clone(), pbx()).unwrap();
    layer.handle_response(now, peer_response(&request, 100, "Trying"), pbx());
    layer.handle_response(now, peer_response(&request, 180, "Ringing"), pbx());
    let reason = if code == 200 { "OK" } else { "Busy Here" };
    layer.handle_response(now, peer_response(&request, code, reason), pbx());
    drain(layer);
    tx
}

fn client_invite_2xx(layer: &mut TransactionLayer, now: Instant, i: usize) -> TxId {
    let tx = client_invite(layer, now, i, 200);
    let request = invite(i, false);
    let ack = our_ack(&request, &peer_response(&request, 200, "OK"), i);
    layer.send_ack(now, tx, ack, pbx()).unwrap();
    drain(layer);
    tx
}

/// The ACK for a 2xx as the B2BUA builds it (`b2bua::bridge::ack_for`): from the dialog the
/// 2xx established (RFC 3261 §13.2.2.4, §12.2.1.1), with a fresh branch.
fn our_ack(invite: &SipMessage, ok: &SipMessage, i: usize) -> SipMessage {
    let from = invite.from().unwrap();
    let to = ok.to().unwrap();
    let contact = ok.header(&calltrack::sip::HeaderName::Contact).unwrap();
    let mut dialog = Dialog {
        call_id: invite.call_id().unwrap().to_string(),
        local_tag: from.tag().unwrap().to_string(),
        remote_tag: to.tag().map(str::to_string),
        local_uri: "\"79161234567\" <sip:79161234567@198.51.100.7>".to_string(),
        remote_uri: "<sip:74950000001@192.0.2.10>".to_string(),
        local_seq: invite.cseq().unwrap().seq,
        remote_seq: None,
        remote_target: contact.trim_matches(['<', '>']).to_string(),
        route_set: Vec::new(),
        peer: pbx(),
        transport: Transport::Udp,
    };
    let local = LocalEndpoint {
        udp: Some("192.0.2.10:5060".parse().unwrap()),
        tcp: None,
        advertised_host: None,
        advertised_port: None,
    };
    let branch = format!("z9hG4bK-uac-ack-{i:08}");
    let ack = dialog.request(&calltrack::sip::Method::Ack, &local, &branch);
    parse(String::from_utf8_lossy(&ack.finish().wire_bytes()).into_owned())
}

fn client_invite_non_2xx(layer: &mut TransactionLayer, now: Instant, i: usize) -> TxId {
    client_invite(layer, now, i, 486)
}

fn client_bye(layer: &mut TransactionLayer, now: Instant, i: usize) -> TxId {
    let bye = in_dialog("BYE", i, "uac-bye", 2);
    let tx = layer.send_request(now, bye.clone(), pbx()).unwrap();
    layer.handle_response(now, peer_response(&bye, 200, "OK"), pbx());
    drain(layer);
    tx
}

fn kinds() -> [Kind; 6] {
    [
        Kind {
            name: "server INVITE 2xx + ACK (Accepted, Timer L)",
            rests_in: TxState::Accepted,
            drive: server_invite_2xx,
        },
        Kind {
            name: "server INVITE 486 + ACK (Confirmed, Timer I)",
            rests_in: TxState::Confirmed,
            drive: server_invite_non_2xx,
        },
        Kind {
            name: "server BYE 200 (Completed, Timer J)",
            rests_in: TxState::Completed,
            drive: server_bye,
        },
        Kind {
            name: "client INVITE 2xx + ACK (Accepted, Timer M)",
            rests_in: TxState::Accepted,
            drive: client_invite_2xx,
        },
        Kind {
            name: "client INVITE 486 (Completed, Timer D)",
            rests_in: TxState::Completed,
            drive: client_invite_non_2xx,
        },
        Kind {
            name: "client BYE 200 (Completed, Timer K)",
            rests_in: TxState::Completed,
            drive: client_bye,
        },
    ]
}

/// Live heap bytes and blocks right now, relative to `region`'s start (stats_alloc already
/// counts a realloc's growth as allocated and its shrinking as deallocated).
fn live(region: &Region<'_, System>) -> (isize, isize) {
    let s = region.change();
    let bytes = s.bytes_allocated as isize - s.bytes_deallocated as isize;
    let blocks = s.allocations as isize - s.deallocations as isize;
    (bytes, blocks)
}

/// Bytes and blocks held per completed transaction of `kind`, and what is left once every
/// timer has run out, after one round and after a second one on the same layer (the index
/// maps and the timer slab keep their capacity; the same figure twice means nothing leaks).
fn measure(kind: &Kind) -> (f64, f64, isize, isize) {
    let start = Instant::now();
    let region = Region::new(GLOBAL);
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut last = None;
    for i in 0..N {
        last = Some((kind.drive)(&mut layer, start, i));
    }
    let (bytes, blocks) = live(&region);
    assert_eq!(layer.len(), N, "{}: every transaction is kept", kind.name);
    let state = last.and_then(|tx| layer.state(tx));
    assert_eq!(state, Some(kind.rests_in), "{}", kind.name);
    let now = run_out(&mut layer, start);
    assert!(layer.is_empty(), "{}: all reaped", kind.name);
    let (left, _) = live(&region);
    for i in N..2 * N {
        (kind.drive)(&mut layer, now, i);
    }
    run_out(&mut layer, now);
    let (left_again, _) = live(&region);
    drop(layer);
    (
        bytes as f64 / N as f64,
        blocks as f64 / N as f64,
        left,
        left_again,
    )
}

/// Fires every timer in order; the time of the last one.
fn run_out(layer: &mut TransactionLayer, mut now: Instant) -> Instant {
    while let Some(deadline) = layer.poll_timeout() {
        now = deadline.max(now);
        layer.handle_timeout(now);
        drain(layer);
    }
    now
}

fn print_table() {
    println!("\ntransaction layer memory per completed transaction (N = {N}, UDP)");
    println!(
        "{:<48} {:>10} {:>8} {:>16} {:>16}",
        "kind", "bytes/tx", "blocks", "left after 64*T1", "after 2nd round"
    );
    for kind in kinds() {
        let (bytes, blocks, left, again) = measure(&kind);
        println!(
            "{:<48} {:>10.0} {:>8.1} {:>16} {:>16}",
            kind.name, bytes, blocks, left, again
        );
    }
    println!();
}

/// A whole cycle on one layer whose virtual clock moves 1 ms per cycle, so about 32 000
/// completed transactions are kept at steady state and the timers fire as in production.
fn cycle(c: &mut Criterion, name: &str, drive: fn(&mut TransactionLayer, Instant, usize) -> TxId) {
    let start = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut i = 0usize;
    c.bench_function(name, |b| {
        b.iter(|| {
            i += 1;
            let now = start + Duration::from_millis(i as u64);
            black_box(drive(&mut layer, now, i));
            layer.handle_timeout(now);
            drain(&mut layer);
        })
    });
}

fn benches(c: &mut Criterion) {
    print_table();
    cycle(c, "tx_cycle/server_invite_2xx_ack", server_invite_2xx);
    cycle(c, "tx_cycle/client_invite_2xx_ack", client_invite_2xx);
    cycle(c, "tx_cycle/server_bye", server_bye);
}

criterion_group! {
    name = transaction_memory;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(transaction_memory);
