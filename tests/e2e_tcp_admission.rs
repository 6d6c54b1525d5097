//! TCP admission end to end through the real binary: an untrusted host that opens more
//! connections than it may cannot lock a trusted carrier's TCP calls out, a source the flood
//! guard has banned has its TCP connects closed at once, without a byte read, and the
//! per-source limit and the whole-message deadline are read from the config file.
//!
//! The carrier and the stand-in PBX (sipp over TCP, `-t t1`) are 127.0.0.1, the only trusted
//! address; the untrusted host is 127.0.0.2 (loopback only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use calltrack::call::record::Disposition;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";
const UNTRUSTED: &str = "127.0.0.2";

fn skip() -> bool {
    support::skip_without_sipp("TCP admission end-to-end tests")
}

/// Only 127.0.0.1 is a carrier and the PBX; `sip` lines go into `[sip]`.
fn trust_only_localhost(toml: &mut String, sip: &str, extra: &str) {
    *toml = toml.replace(
        "trusted = [\"127.0.0.0/8\", \"::1/128\"]",
        "trusted = [\"127.0.0.1/32\"]",
    );
    *toml = toml.replacen("[sip]\n", &format!("[sip]\n{sip}"), 1);
    toml.push_str("\n[pbx]\ntrusted = [\"127.0.0.1/32\"]\n");
    toml.push_str(extra);
}

/// A TCP connection to calltrack from `ip` (bound before connecting).
fn connect_from(ip: &str, port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{ip}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket
        .connect_timeout(&to.into(), Duration::from_secs(2))
        .unwrap();
    socket.into()
}

fn options(from: SocketAddr, port: u16, n: u32) -> String {
    format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/TCP {from};branch=z9hG4bKadm{n}\r\n\
From: <sip:probe@{ip}>;tag=a{n}\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: adm-{n}@{ip}\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        ip = from.ip()
    )
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

/// Waits until the metric reaches `at_least`; returns the last scrape.
fn wait_for_metric(ct: &Calltrack, name: &str, at_least: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(ct.http_port);
        if metric(&text, name) >= at_least {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {at_least}:\n{text}\nlog:\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when the server closed `stream` (EOF or reset) within `wait`, having sent nothing.
fn closed_silently(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn an_untrusted_host_holding_tcp_slots_does_not_lock_out_a_trusted_tcp_call() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    // Only the connection limit is set: the reserved share and the per-source limit are the
    // defaults (25 % of 8 = 2 slots kept for carriers and the PBX).
    let ct = Calltrack::start(Leg::Tcp, Leg::Tcp, |toml| {
        trust_only_localhost(toml, "tcp_max_connections = 8\n", "");
    });
    let hoard: Vec<TcpStream> = (0..12)
        .map(|_| connect_from(UNTRUSTED, ct.sip_port))
        .collect();
    // Untrusted connections get at most the unreserved 6 slots; the other 6 are closed.
    let refused = r#"calltrack_tcp_connections_refused_total{reason="untrusted_share"}"#;
    let metrics = wait_for_metric(&ct, refused, 6.0);
    assert_eq!(metric(&metrics, refused), 6.0, "{metrics}");

    let uas = Sipp::uas("uas_answer.xml", Leg::Tcp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Tcp, ct.sip_port, BILLBOARD)
        .pause_ms(300)
        .run_ok();
    uas.wait_ok();
    drop(hoard);
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
}

#[test]
fn a_banned_source_has_its_tcp_connects_closed_unread() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        let flood = "\n[security.flood]\nmessages_per_sec = 1\nburst = 3\nban_secs = 60\n";
        trust_only_localhost(toml, "", flood);
    });
    // A UDP flood from the untrusted address gets it banned.
    let flooder = UdpSocket::bind((UNTRUSTED, 0)).unwrap();
    let from = flooder.local_addr().unwrap();
    for n in 0..10 {
        let text = options(from, ct.sip_port, n);
        flooder
            .send_to(text.as_bytes(), ("127.0.0.1", ct.sip_port))
            .unwrap();
    }
    wait_for_metric(&ct, "calltrack_flood_bans_total", 1.0);

    // Its TCP connect is closed at once, whatever it sends.
    let started = Instant::now();
    let mut banned = connect_from(UNTRUSTED, ct.sip_port);
    let local = banned.local_addr().unwrap();
    let _ = banned.write_all(options(local, ct.sip_port, 100).as_bytes());
    assert!(
        closed_silently(&mut banned, Duration::from_secs(3)),
        "the banned source's TCP connection stayed open"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let reason = r#"calltrack_tcp_connections_refused_total{reason="banned"}"#;
    wait_for_metric(&ct, reason, 1.0);

    // The trusted address still talks over TCP.
    let mut carrier = connect_from("127.0.0.1", ct.sip_port);
    let local = carrier.local_addr().unwrap();
    carrier
        .write_all(options(local, ct.sip_port, 200).as_bytes())
        .unwrap();
    carrier
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 12];
    carrier.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"SIP/2.0 200 ");
    ct.stop();
}

#[test]
fn per_source_limit_and_message_deadline_come_from_the_config_file() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let sip = "tcp_max_connections_per_source = 2\ntcp_message_timeout_ms = 600\n";
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        trust_only_localhost(toml, sip, "");
    });
    let mut first = connect_from(UNTRUSTED, ct.sip_port);
    let _second = connect_from(UNTRUSTED, ct.sip_port);
    let mut third = connect_from(UNTRUSTED, ct.sip_port);
    assert!(closed_silently(&mut third, Duration::from_secs(3)));
    let per_source = r#"calltrack_tcp_connections_refused_total{reason="per_source"}"#;
    wait_for_metric(&ct, per_source, 1.0);

    // One byte every 200 ms never idles the connection, but the message is overdue at 600 ms.
    let text = options(first.local_addr().unwrap(), ct.sip_port, 1);
    let started = Instant::now();
    for byte in text.bytes().take(10) {
        if first.write_all(&[byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed_silently(&mut first, Duration::from_secs(3)));
    assert!(started.elapsed() < Duration::from_secs(4));
    wait_for_metric(&ct, "calltrack_tcp_message_timeouts_total", 1.0);
    ct.stop();
}
