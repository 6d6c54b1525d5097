//! The B2BUA core without I/O, per call: the bytes one answered call keeps while it is held
//! (after every transaction of its set-up has ended), counted by a counting global allocator,
//! and the CPU time of one whole call (INVITE, 200, ACK, BYE, 200 on both legs) through the
//! core. Issue 12's targets: at most 4 KiB per held call; CPU per call well under Kamailio's.
//!
//! `cargo bench --bench call_memory` prints the memory table first, then criterion's timing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::b2bua::{B2bua, Shared};
use calltrack::config::Config;
use calltrack::sip::dialog::LocalEndpoint;
use calltrack::sip::message::{HeaderName, Limits};
use calltrack::sip::{Peer, SipMessage, Transport};
use criterion::{Criterion, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CARRIER: &str = "127.0.0.1:5070";
const PBX: &str = "127.0.0.1:5080";
/// Held calls measured at once.
const HELD: usize = 2_000;

fn core() -> B2bua {
    let config = Config::from_toml_str(&format!(
        r#"[carriers]
trusted = ["127.0.0.0/8"]
[pbx]
trusted = ["127.0.0.0/8"]
[health]
enabled = false
[[sites]]
id = "demo"
forward_to = "sip:{PBX}"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
"#
    ))
    .unwrap();
    let local = LocalEndpoint {
        udp: Some("127.0.0.1:5060".parse().unwrap()),
        tcp: None,
        advertised_host: None,
        advertised_port: None,
    };
    let now = Instant::now();
    let wall = jiff::Timestamp::from_second(1_796_000_000).unwrap();
    B2bua::new(Arc::new(config), Shared::default(), local, now, wall, 7)
}

/// A carrier-sized INVITE (about 900 bytes with its SDP).
fn invite(n: usize) -> String {
    let sdp = "v=0\r\no=carrier 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0 18 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";
    format!(
        "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bK-{n}-1---a5d1c1ba5fe3b8a1;rport\r\n\
Max-Forwards: 69\r\n\
Contact: <sip:79161234567@{CARRIER};transport=udp>\r\n\
To: <sip:74950000001@127.0.0.1>\r\n\
From: \"79161234567\" <sip:79161234567@127.0.0.1>;tag=b1e6f4a5-{n}\r\n\
Call-ID: 8f3c2b1e6a7d4c9e0f1a2b3c4d5e6f70-{n}@127.0.0.1\r\n\
CSeq: 102 INVITE\r\n\
User-Agent: Carrier SBC 4.2\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO\r\n\
Supported: 100rel, timer, replaces\r\n\
Session-Expires: 1800\r\n\
P-Asserted-Identity: <sip:79161234567@127.0.0.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn feed(core: &mut B2bua, now: Instant, text: &str, from: &str) {
    let peer = Peer::new(Transport::Udp, from.parse::<SocketAddr>().unwrap());
    core.handle_datagram(now, Bytes::from(text.to_owned()), peer);
}

/// Every transmit since the last call, parsed, with its destination.
fn sent(core: &mut B2bua) -> Vec<(SocketAddr, SipMessage)> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|t| {
            (
                t.peer.addr,
                SipMessage::parse(t.bytes, &Limits::default()).unwrap(),
            )
        })
        .collect()
}

fn request_to(sent: &[(SocketAddr, SipMessage)], to: &str) -> SipMessage {
    let to: SocketAddr = to.parse().unwrap();
    sent.iter()
        .find(|(peer, m)| *peer == to && m.is_request())
        .map(|(_, m)| m.clone())
        .expect("a request to the peer")
}

fn final_to(sent: &[(SocketAddr, SipMessage)], to: &str) -> SipMessage {
    let to: SocketAddr = to.parse().unwrap();
    sent.iter()
        .find(|(peer, m)| *peer == to && m.status().is_some_and(|s| s >= 200))
        .map(|(_, m)| m.clone())
        .expect("a final response to the peer")
}

/// The PBX's (or the carrier's) answer to one of calltrack's requests.
fn answer(req: &SipMessage, status: &str, contact: &str, sdp: bool) -> String {
    let h = |n| req.header(&n).unwrap().to_string();
    let to = h(HeaderName::To);
    let to = if to.contains("tag=") {
        to
    } else {
        format!("{to};tag=pbx-{}", req.call_id().unwrap().len())
    };
    let body = if sdp {
        "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    } else {
        ""
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{contact}>\r\n{}Content-Length: {}\r\n\r\n{body}",
        h(HeaderName::Via),
        h(HeaderName::From),
        req.call_id().unwrap(),
        h(HeaderName::CSeq),
        if sdp {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        },
        body.len()
    )
}

/// The carrier's ACK to the A leg's 200 (n: the call).
fn ack(ok: &SipMessage, n: usize) -> String {
    format!(
        "ACK sip:74950000001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bK-ack-{n}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 102 ACK\r\nContent-Length: 0\r\n\r\n",
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
        ok.call_id().unwrap()
    )
}

/// The carrier hangs up call `n`.
fn bye(ok: &SipMessage, n: usize) -> String {
    format!(
        "BYE sip:74950000001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bK-bye-{n}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 103 BYE\r\nContent-Length: 0\r\n\r\n",
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
        ok.call_id().unwrap()
    )
}

/// Sets up call `n` to answered and confirmed; returns the A leg's 200 (for the BYE).
fn answered_call(core: &mut B2bua, now: Instant, n: usize) -> SipMessage {
    feed(core, now, &invite(n), CARRIER);
    let b_invite = request_to(&sent(core), PBX);
    feed(core, now, &answer(&b_invite, "200 OK", PBX, true), PBX);
    let ok = final_to(&sent(core), CARRIER);
    feed(core, now, &ack(&ok, n), CARRIER);
    let _ = sent(core);
    while core.poll_event().is_some() {}
    ok
}

/// The carrier's BYE, relayed to the PBX and answered there.
fn hang_up(core: &mut B2bua, now: Instant, ok: &SipMessage, n: usize) {
    feed(core, now, &bye(ok, n), CARRIER);
    let b_bye = request_to(&sent(core), PBX);
    feed(core, now, &answer(&b_bye, "200 OK", PBX, false), PBX);
    let _ = sent(core);
    while core.poll_event().is_some() {}
}

/// Runs every timer up to `end`.
fn run_until(core: &mut B2bua, end: Instant) {
    while let Some(due) = core.poll_timeout().filter(|t| *t <= end) {
        core.handle_timeout(due);
    }
    core.handle_timeout(end);
    let _ = sent(core);
    while core.poll_event().is_some() {}
}

/// Live heap bytes since `region` began (a realloc's growth counts as allocated, its
/// shrinking as deallocated).
fn live(region: &Region<'_, System>) -> isize {
    let s = region.change();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

/// Bytes per held call, and per call ended (what stays after the BYE until the timers end).
fn memory_table() {
    let t0 = Instant::now();
    let region = Region::new(GLOBAL);
    let mut core = core();
    run_until(&mut core, t0 + Duration::from_secs(1));
    let base = live(&region);
    let oks: Vec<SipMessage> = (0..HELD)
        .map(|n| answered_call(&mut core, t0 + Duration::from_secs(1), n))
        .collect();
    let with_transactions = live(&region) - base;
    // Every set-up transaction ends within 64*T1 (Timer L/M/K/J); the calls stay up.
    run_until(&mut core, t0 + Duration::from_secs(40));
    let held = live(&region) - base;
    let oks_bytes: isize = oks.iter().map(|m| m.as_bytes().len() as isize).sum();
    let t1 = t0 + Duration::from_secs(41);
    for (n, ok) in oks.iter().enumerate() {
        hang_up(&mut core, t1, ok, n);
    }
    let after_bye = live(&region) - base;
    run_until(&mut core, t1 + Duration::from_secs(40));
    let after_all = live(&region) - base;
    // A second round on the same core: what stays after it is capacity kept by the maps
    // (the same figure again), or a leak (twice the figure).
    let t2 = t1 + Duration::from_secs(41);
    for n in 0..HELD {
        let ok = answered_call(&mut core, t2, HELD + n);
        hang_up(&mut core, t2, &ok, HELD + n);
    }
    run_until(&mut core, t2 + Duration::from_secs(40));
    let after_second = live(&region) - base;
    let per = |bytes: isize| bytes as f64 / HELD as f64;
    println!("call_memory ({HELD} calls through the core, counting allocator, bytes per call):");
    println!(
        "  answered, set-up transactions still held : {:>8.0} B",
        per(with_transactions - oks_bytes)
    );
    println!(
        "  held call (transactions ended)           : {:>8.0} B",
        per(held - oks_bytes)
    );
    println!(
        "  just hung up (BYE transactions held)     : {:>8.0} B",
        per(after_bye - oks_bytes)
    );
    println!(
        "  after every timer                        : {:>8.0} B",
        per(after_all - oks_bytes)
    );
    println!(
        "  ... and after a second round of as many  : {:>8.0} B",
        per(after_second - oks_bytes)
    );
    assert!(core.active_calls() == 0, "every call ended");
}

fn whole_call(c: &mut Criterion) {
    memory_table();
    let t0 = Instant::now();
    let mut core = core();
    let mut n = 0usize;
    c.bench_function("whole_call_through_core", |b| {
        b.iter(|| {
            n += 1;
            let now = t0 + Duration::from_millis(n as u64 / 100);
            let ok = answered_call(&mut core, now, n);
            hang_up(&mut core, now, &ok, n);
            if n % 10_000 == 0 {
                run_until(&mut core, now);
            }
        });
    });
}

criterion_group!(benches, whole_call);
criterion_main!(benches);
