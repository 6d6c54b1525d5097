//! The INVITE -> Decision path without I/O: screen (parse + validate) and plan (admission,
//! number lookup, lease lookup, attribution, route selection), on the embedded default config
//! (the site's `forward_to`) and on a config where a scheduled route picks a two-step scheme;
//! and the flood guard's per-packet check, which runs before parsing.

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

/// A route with a schedule (always open, Europe/Moscow) to a parallel step and a weighted
/// round-robin step with a fallback: the whole of `select` is exercised.
const SCHEME: &str = r#"
[[schemes]]
id = "sales"
fallback = "sip:vm@127.0.0.1:5080"
[[schemes.steps]]
strategy = "parallel"
[[schemes.steps.targets]]
uri = "sip:101@127.0.0.1:5080"
[[schemes.steps.targets]]
uri = "sip:102@127.0.0.1:5080"
[[schemes.steps]]
strategy = "round_robin"
[[schemes.steps.targets]]
uri = "sip:201@127.0.0.1:5080"
weight = 2
[[schemes.steps.targets]]
uri = "sip:202@127.0.0.1:5080"

[[schedules]]
id = "always"
time_zone = "Europe/Moscow"
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]

[[routes]]
site = "demo"
scheme = "sales"
schedule = "always"
after_hours_scheme = "sales"
"#;

fn bench_decision(c: &mut Criterion) {
    let default = Config::embedded_default().unwrap();
    let scheme = Config::from_toml_str(&format!("{}{SCHEME}", Config::DEFAULT_TOML)).unwrap();
    bench_plan(c, "invite_to_decision", &default);
    bench_plan(c, "invite_to_decision_scheme", &scheme);
}

fn bench_plan(c: &mut Criterion, name: &str, config: &Config) {
    let hosts = calltrack::routing::HostTable::default();
    let health = calltrack::health::HealthTable::default();
    let leases = calltrack::lease::LeaseTable::from_config(config);
    let blacklist = calltrack::edge::blacklist::Blacklist::default();
    let history = calltrack::call::history::CallerHistory::new(None);
    let local = calltrack::sip::dialog::LocalEndpoint {
        udp: Some("127.0.0.1:5060".parse().unwrap()),
        tcp: Some("127.0.0.1:5060".parse().unwrap()),
        advertised_host: None,
        advertised_port: None,
    };
    let now = jiff::Timestamp::now();
    let peer = Peer::new(Transport::Udp, "127.0.0.1:5070".parse().unwrap());
    let bytes = Bytes::from_static(INVITE.as_bytes());
    let limits = Limits::default();
    c.bench_function(name, |b| {
        b.iter(|| {
            let Screened::Request(invite) = screen(black_box(bytes.clone()), &limits, &["100rel"])
            else {
                panic!("screened out");
            };
            let ctx = CallContext {
                invite: &invite,
                source: peer,
                config,
                hosts: &hosts,
                health: &health,
                leases: &leases,
                blacklist: &blacklist,
                history: &history,
                local: &local,
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

/// One check per datagram from 1024 rotating sources, under the limit (no bans).
fn bench_flood(c: &mut Criterion) {
    use calltrack::edge::flood::FloodGuard;
    let config = calltrack::config::FloodConfig {
        enabled: true,
        messages_per_sec: 1_000_000,
        burst: 1_000_000,
        ban: std::time::Duration::from_secs(300),
        max_tracked_ips: 65_536,
        exempt_trusted: false,
    };
    let mut guard = FloodGuard::new(&config);
    let start = std::time::Instant::now();
    let ips: Vec<std::net::IpAddr> = (0..1024u32)
        .map(|i| std::net::IpAddr::from((0x0a00_0000 | i).to_be_bytes()))
        .collect();
    let mut i = 0usize;
    c.bench_function("flood_guard_check", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            let now = start + std::time::Duration::from_micros(i as u64);
            black_box(guard.check(now, black_box(ips[i])));
        });
    });
}

criterion_group!(benches, bench_decision, bench_flood);
criterion_main!(benches);
