//! Target health end to end through the real binary: a UDP socket plays the PBX and answers
//! OPTIONS or falls silent; `GET /v1/admin/health` follows it up, down and up again, and a
//! call to the down PBX is refused with 503 without reaching it. Loopback only, no sipp.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Calltrack, Leg};

/// A stand-in PBX: answers OPTIONS with 200 while `answering`, counts INVITEs.
struct Pbx {
    answering: Arc<AtomicBool>,
    invites: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pbx {
    fn start(port: u16) -> Pbx {
        let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let answering = Arc::new(AtomicBool::new(true));
        let invites = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, i, s) = (answering.clone(), invites.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if text.starts_with("INVITE ") {
                    i.fetch_add(1, Ordering::Relaxed);
                } else if text.starts_with("OPTIONS ") && a.load(Ordering::Relaxed) {
                    let _ = sock.send_to(ok_for(&text).as_bytes(), from);
                }
            }
        });
        Pbx {
            answering,
            invites,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `200 OK` echoing the request's Via, From, To, Call-ID and CSeq.
fn ok_for(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in request.split("\r\n") {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=pbx\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

fn targets(http_port: u16) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{http_port}/v1/admin/health");
    let mut response = ureq::get(&url).call().unwrap();
    let body: Value = response.body_mut().read_json().unwrap();
    assert_eq!(body["enabled"], Value::Bool(true));
    body["targets"].as_array().unwrap().clone()
}

/// Polls the admin API until the only target is in `state`; returns it.
fn wait_for_state(ct: &Calltrack, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = targets(ct.http_port);
        assert_eq!(list.len(), 1, "one forward_to, one target: {list:?}");
        if list[0]["state"] == state {
            return list[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "target never became {state}: {list:?}\nlog:\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An INVITE to the billboard number; returns calltrack's final answer.
fn call(ct: &Calltrack) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:74950000001@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKe2ehealth\r\n\
Max-Forwards: 70\r\nFrom: <sip:79161234567@127.0.0.1>;tag=c1\r\nTo: <sip:74950000001@127.0.0.1>\r\n\
Call-ID: e2e-health@test\r\nCSeq: 1 INVITE\r\nContact: <sip:79161234567@{local}>\r\nContent-Length: 0\r\n\r\n",
        port = ct.sip_port
    );
    sock.send_to(invite.as_bytes(), ("127.0.0.1", ct.sip_port))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}

#[test]
fn admin_api_follows_the_pbx_down_and_up_and_down_pbx_calls_get_503() {
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replace(
            "[health]\nenabled = false",
            "[health]\nenabled = true\ninterval_secs = 1\nfailures_to_down = 2\nsuccesses_to_up = 2",
        );
        toml.push_str("\n[sip.timers]\nt1_ms = 50\nt2_ms = 400\n");
    });
    let pbx = Pbx::start(ct.pbx_port);

    let up = wait_for_state(&ct, "up");
    assert_eq!(up["destination"], format!("127.0.0.1:{}", ct.pbx_port));
    assert_eq!(up["uri"], format!("sip:127.0.0.1:{}", ct.pbx_port));
    assert_eq!(up["last_status"], 200);
    assert!(up["last_rtt_ms"].as_u64().unwrap() < 1000);

    // Silent: two probes time out (Timer F = 64*T1 = 3.2 s each), then it is down.
    pbx.answering.store(false, Ordering::Relaxed);
    let down = wait_for_state(&ct, "down");
    assert_eq!(down["last_status"], Value::Null);
    assert!(down["consecutive_failures"].as_u64().unwrap() >= 2);

    let answer = call(&ct);
    assert!(answer.starts_with("SIP/2.0 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1\r\n"), "{answer}");
    assert_eq!(
        pbx.invites.load(Ordering::Relaxed),
        0,
        "no B-leg to a down PBX"
    );

    pbx.answering.store(true, Ordering::Relaxed);
    let up = wait_for_state(&ct, "up");
    assert!(up["consecutive_successes"].as_u64().unwrap() >= 2);
    drop(pbx);
    ct.stop();
}
