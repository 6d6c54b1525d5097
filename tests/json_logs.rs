//! `[log] format = "json"`: the real binary writes one JSON object per stderr line, and the
//! events of a call carry the call span's fields (`call_id`, `tracking_number`). The call is
//! made with raw UDP on loopback (a caller and a PBX that answers 486), so no sipp is needed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Calltrack, Leg};

const CALL_ID: &str = "json-log-call@test";

fn recv_starting(sock: &UdpSocket, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(prefix) {
                return text;
            }
        }
    }
    panic!("nothing starting with {prefix:?} arrived");
}

/// Copies the headers a response or ACK needs from `message`.
fn copied(message: &str, names: &[&str]) -> String {
    message
        .lines()
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
            names.contains(&name.as_str())
        })
        .map(|l| format!("{}\r\n", l.trim_end()))
        .collect()
}

#[test]
fn json_log_lines_parse_and_carry_the_call_span() {
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str("\n[log]\nformat = \"json\"\n");
    });
    let pbx = UdpSocket::bind(("127.0.0.1", ct.pbx_port)).unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    for sock in [&pbx, &caller] {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    let (me, sip) = (caller.local_addr().unwrap(), ct.sip_port);
    let invite = format!(
        "INVITE sip:74950000001@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKjson\r\n\
From: <sip:79161234567@{me}>;tag=c1\r\nTo: <sip:74950000001@127.0.0.1:{sip}>\r\nCall-ID: {CALL_ID}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:79161234567@{me}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    caller
        .send_to(invite.as_bytes(), ("127.0.0.1", sip))
        .unwrap();
    let b_leg = recv_starting(&pbx, "INVITE ");
    let busy = format!(
        "SIP/2.0 486 Busy Here\r\n{}{};tag=pbx\r\nContent-Length: 0\r\n\r\n",
        copied(&b_leg, &["via", "from", "call-id", "cseq"]),
        copied(&b_leg, &["to"]).trim_end()
    );
    pbx.send_to(busy.as_bytes(), ("127.0.0.1", sip)).unwrap();
    let relayed = recv_starting(&caller, "SIP/2.0 486");
    let ack = format!(
        "ACK sip:74950000001@127.0.0.1:{sip} SIP/2.0\r\n{}CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        copied(&relayed, &["via", "from", "to", "call-id"])
    );
    caller.send_to(ack.as_bytes(), ("127.0.0.1", sip)).unwrap();

    let log = ct.stop().log;
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{log}")))
        .collect();
    assert!(lines.len() > 5, "{log}");
    for line in &lines {
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
    let in_call: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["call_id"] == CALL_ID)
        .collect();
    assert!(
        in_call
            .iter()
            .any(|l| l["fields"]["message"] == "bridging call"
                && l["span"]["tracking_number"] == "74950000001"
                && l["span"]["name"] == "call"),
        "no call-span event for {CALL_ID}:\n{log}"
    );
}
