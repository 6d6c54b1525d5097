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

/// The Prometheus text from calltrack's `/metrics`.
fn scrape(http_port: u16) -> String {
    let url = format!("http://127.0.0.1:{http_port}/metrics");
    ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// One sample's value (0 when absent), `name` with its labels as printed.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
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
    let metrics = scrape(ct.http_port);
    let key = r#"calltrack_rejected_total{reason="blacklist"}"#;
    assert_eq!(metric(&metrics, key), 1.0, "{metrics}");
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
    let metrics = scrape(ct.http_port);
    assert_eq!(
        metric(&metrics, "calltrack_scanner_dropped_total"),
        3.0,
        "{metrics}"
    );
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
    let metrics = scrape(ct.http_port);
    assert_eq!(
        metric(&metrics, "calltrack_flood_bans_total"),
        1.0,
        "{metrics}"
    );
    assert!(metric(&metrics, "calltrack_flood_dropped_total") >= 200.0);
    assert_eq!(metric(&metrics, "calltrack_flood_banned_ips"), 1.0);
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

const TOKEN: &str = "e2e-admin-token-0123456789";

/// Points calltrack at `db` (shared across restarts) with an admin token.
fn with_db_and_token(toml: &mut String, db: &std::path::Path) {
    let start = toml.find("path = \"").unwrap();
    let end = start + toml[start..].find('\n').unwrap();
    toml.replace_range(start..end, &format!("path = \"{}\"", db.display()));
    *toml = toml.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
}

#[test]
fn a_blacklist_entry_added_through_the_api_refuses_the_next_call_and_survives_a_restart() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| with_db_and_token(toml, &db));
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let http: ureq::Agent = http.into();
    let url = format!("http://127.0.0.1:{}/v1/admin/blacklist", ct.http_port);
    let body = serde_json::json!({"number": "79161234567"});
    let denied = http.post(&url).send_json(&body).unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    let added = http
        .post(&url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(&body)
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    Sipp::uac("uac_expect_403.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    drop(ct.stop());

    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| with_db_and_token(toml, &db));
    Sipp::uac("uac_expect_403.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    let log = ct.stop().log;
    let conn = calltrack::store::open_existing(&db).unwrap();
    let cdrs = calltrack::store::list_recent(&conn, 10).unwrap();
    assert_eq!(cdrs.len(), 2, "log:\n{log}");
    for row in cdrs {
        assert_eq!(row.cdr.disposition, Disposition::Rejected);
        assert_eq!(row.cdr.reject_reason.as_deref(), Some("blacklist"));
    }
    assert!(!log.contains(TOKEN), "the admin token appeared in the log");
}

#[test]
fn with_default_exemptions_an_untrusted_flooder_is_banned_and_the_carrier_is_not_limited() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replace(
            "trusted = [\"127.0.0.0/8\", \"::1/128\"]",
            "trusted = [\"127.0.0.1/32\"]",
        );
        toml.push_str(
            "\n[pbx]\ntrusted = [\"127.0.0.1/32\"]\n\n[security.flood]\nmessages_per_sec = 1\nburst = 5\n",
        );
    });
    let port = ct.sip_port;
    let flooder = peer("127.0.0.3");
    send(
        &flooder,
        port,
        &request(&flooder, "INVITE", port, "probe", 0),
    );
    let refused = received(&flooder, Duration::from_secs(1));
    assert!(
        refused.iter().any(|m| m.starts_with("SIP/2.0 403")),
        "untrusted INVITE refused before the flood: {refused:#?}"
    );
    for n in 1..=50 {
        send(
            &flooder,
            port,
            &request(&flooder, "INVITE", port, "probe", n),
        );
    }
    let _ = received(&flooder, Duration::from_millis(500));
    send(
        &flooder,
        port,
        &request(&flooder, "INVITE", port, "probe", 100),
    );
    let after = received(&flooder, Duration::from_secs(1));
    assert!(
        !after.iter().any(|m| m.contains("Call-ID: edge-100-")),
        "banned: the new INVITE got an answer: {after:#?}"
    );
    // The carrier's traffic (far above 1 message/s with the ready probes) is exempt.
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, port, BILLBOARD)
        .pause_ms(300)
        .run_ok();
    uas.wait_ok();
    let stopped = ct.stop();
    assert_eq!(stopped.single_cdr().disposition, Disposition::Answered);
    assert_eq!(
        stopped.log.matches("SIP flood: source banned").count(),
        1,
        "one ban"
    );
}
