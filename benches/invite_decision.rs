//! The INVITE -> Decision path without I/O: screen (parse + validate) and plan (admission,
//! number lookup, lease lookup, attribution, routing) on the embedded default config.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use bytes::Bytes;
use calltrack::call::{CallContext, Decision, plan_invite};
use calltrack::config::Config;
use calltrack::sip::message::{Limits, Screened, screen};
use calltrack::sip::{Peer, Transport};
use criterion::{Criterion, criterion_group, criterion_main};

const INVITE: &str = "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-524287-1---a5d1c1ba5fe3b8a1;rport\r\n\
Max-Forwards: 69\r\n\
Contact: <sip:79161234567@127.0.0.1:5070>\r\n\
To: <sip:74950000001@127.0.0.1>\r\n\
From: \"79161234567\" <sip:79161234567@127.0.0.1>;tag=b1e6f4a5\r\n\
Call-ID: 8f3c2b1e6a7d4c9e0f1a2b3c4d5e6f70@127.0.0.1\r\n\
CSeq: 102 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r\n";

fn bench_decision(c: &mut Criterion) {
    let config = Config::embedded_default().unwrap();
    let hosts = calltrack::call::HostTable::default();
    let health = calltrack::call::health::HealthTable::default();
    let leases = calltrack::lease::LeaseTable::from_config(&config);
    let now = time::OffsetDateTime::now_utc();
    let peer = Peer::new(Transport::Udp, "127.0.0.1:5070".parse().unwrap());
    let bytes = Bytes::from_static(INVITE.as_bytes());
    let limits = Limits::default();
    c.bench_function("invite_to_decision", |b| {
        b.iter(|| {
            let Screened::Request(invite) = screen(black_box(bytes.clone()), &limits, &["100rel"])
            else {
                panic!("screened out");
            };
            let ctx = CallContext {
                invite: &invite,
                source: peer,
                config: &config,
                hosts: &hosts,
                health: &health,
                leases: &leases,
                now,
                active_calls: 10,
                shutting_down: false,
            };
            let decision = plan_invite(&ctx);
            assert!(matches!(decision, Decision::Bridge(_)));
            black_box(decision);
        });
    });
}

criterion_group!(benches, bench_decision);
criterion_main!(benches);
