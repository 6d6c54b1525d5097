//! Security at the edge, end to end through the real binary: a blacklisted caller refused with
//! no B-leg, an untrusted source refused, a scanner dropped without an answer, and a flood
//! from one address banned while the carrier's calls still go through.
//!
//! sipp is the caller and PBX; raw UDP sockets play the scanner and the flooder (only
//! loopback addresses, bounded bursts).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use calltrack::call::record::Disposition;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";

fn skip() -> bool {
    support::skip_without_sipp("edge end-to-end tests")
}

/// A raw SIP peer on `ip` (any free port).
fn peer(ip: &str) -> UdpSocket {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    sock
}

fn request(sock: &UdpSocket, method: &str, port: u16, user_agent: &str, n: u32) -> String {
    let local = sock.local_addr().unwrap();
    let body = if method == "INVITE" {
        "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    } else {
        ""
    };
    format!(
        "{method} sip:{BILLBOARD}@127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bKedge{n}\r\n\
From: <sip:79161234567@{ip}>;tag=t{n}\r\nTo: <sip:{BILLBOARD}@127.0.0.1:{port}>\r\n\
Call-ID: edge-{n}-{local}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
User-Agent: {user_agent}\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
        ip = local.ip(),
        len = body.len()
    )
}

fn send(sock: &UdpSocket, port: u16, text: &str) {
    sock.send_to(text.as_bytes(), ("127.0.0.1", port)).unwrap();
}

/// Every datagram received within `wait`.
fn received(sock: &UdpSocket, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

/// The first status line received within `wait`, if any.
fn answer(sock: &UdpSocket, wait: Duration) -> Option<String> {
    received(sock, wait)
        .into_iter()
        .next()
        .map(|m| m.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn blacklisted_caller_is_refused_before_any_b_leg() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str("\n[blacklist]\nnumbers = [\"7916*\"]\nstatus = 403\n");
    });
    let pbx = UdpSocket::bind(("127.0.0.1", ct.pbx_port)).unwrap();
    pbx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    Sipp::uac("uac_expect_403.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    let at_pbx = received(&pbx, Duration::from_millis(800));
    assert!(at_pbx.is_empty(), "the PBX saw {at_pbx:#?}");
    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    assert_eq!(cdr.disposition, Disposition::Rejected);
    assert_eq!(cdr.sip_status, 403);
    assert_eq!(cdr.reject_reason.as_deref(), Some("blacklist"));
    assert_eq!(cdr.caller, "79161234567");
    assert_eq!(cdr.destination, "");
}

#[test]
fn untrusted_source_address_is_refused() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replace(
            "trusted = [\"127.0.0.0/8\", \"::1/128\"]",
            "trusted = [\"127.0.0.1/32\"]",
        );
        toml.push_str("\n[pbx]\ntrusted = [\"127.0.0.1/32\"]\n");
    });
    let pbx = UdpSocket::bind(("127.0.0.1", ct.pbx_port)).unwrap();
    pbx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    Sipp::uac("uac_expect_403.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .local_ip("127.0.0.2")
        .run_ok();
    // Other requests from that address are not even answered.
    let stranger = peer("127.0.0.2");
    send(
        &stranger,
        ct.sip_port,
        &request(&stranger, "OPTIONS", ct.sip_port, "probe", 1),
    );
    assert_eq!(answer(&stranger, Duration::from_secs(1)), None);
    assert!(received(&pbx, Duration::from_millis(200)).is_empty());
    let stopped = ct.stop();
    assert!(
        stopped.cdrs().is_empty(),
        "untrusted refusals are counted, not recorded"
    );
}

#[test]
fn scanner_user_agents_get_no_answer_at_all() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let sock = peer("127.0.0.1");
    let port = ct.sip_port;
    send(
        &sock,
        port,
        &request(&sock, "INVITE", port, "friendly-scanner", 1),
    );
    send(
        &sock,
        port,
        &request(&sock, "OPTIONS", port, "sipvicious 0.3", 2),
    );
    send(
        &sock,
        port,
        &request(&sock, "REGISTER", port, "SIPCLI/v1.8", 3),
    );
    let got = received(&sock, Duration::from_secs(2));
    assert!(got.is_empty(), "a scanner was answered: {got:#?}");
    // The same socket with an ordinary user agent is answered: the silence was the drop list.
    send(
        &sock,
        port,
        &request(&sock, "OPTIONS", port, "Asterisk PBX", 4),
    );
    let ok = answer(&sock, Duration::from_secs(2));
    assert_eq!(ok.as_deref(), Some("SIP/2.0 200 OK"));
    assert!(ct.stop().cdrs().is_empty());
}

#[test]
fn a_flooding_address_is_banned_while_the_carrier_still_calls() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(
            "\n[security.flood]\nmessages_per_sec = 20\nburst = 40\nban_secs = 60\nexempt_trusted = false\n",
        );
    });
    let port = ct.sip_port;
    let flooder = peer("127.0.0.3");
    send(
        &flooder,
        port,
        &request(&flooder, "OPTIONS", port, "probe", 0),
    );
    assert_eq!(
        answer(&flooder, Duration::from_secs(2)).as_deref(),
        Some("SIP/2.0 200 OK"),
        "answered before the flood"
    );
    for n in 1..=300 {
        send(
            &flooder,
            port,
            &request(&flooder, "OPTIONS", port, "probe", n),
        );
        if n % 50 == 0 {
            send(&flooder, port, "garbage\r\n\r\n");
        }
    }
    let _ = received(&flooder, Duration::from_millis(500));
    send(
        &flooder,
        port,
        &request(&flooder, "OPTIONS", port, "probe", 1000),
    );
    assert_eq!(
        answer(&flooder, Duration::from_secs(1)),
        None,
        "banned address answered"
    );
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, port, BILLBOARD)
        .pause_ms(300)
        .run_ok();
    uas.wait_ok();
    let stopped = ct.stop();
    assert_eq!(stopped.single_cdr().disposition, Disposition::Answered);
    let bans: Vec<&str> = stopped
        .log
        .lines()
        .filter(|l| l.contains("SIP flood: source banned"))
        .collect();
    assert_eq!(bans.len(), 1, "one warn line per ban, not per packet");
    assert!(bans[0].contains("127.0.0.3"), "{}", bans[0]);
}
