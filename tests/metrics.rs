//! `GET /metrics` on an in-process calltrack: a busy call (raw UDP caller and PBX on
//! loopback), a retransmitted INVITE, an INVITE to an unknown number and a garbage datagram
//! must each move their metric; pool gauges come from the lease table. Two servers in one
//! process share the one Prometheus recorder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use calltrack::app::Server;
use calltrack::config::Config;
use tokio_util::sync::CancellationToken;

/// Every sample of the text exposition, `name{labels}` -> value.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(text: &str, key: &str) -> f64 {
    samples(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map_or(0.0, |(_, v)| v)
}

fn scrape(http: SocketAddr) -> String {
    let mut response = ureq::get(&format!("http://{http}/metrics")).call().unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.body_mut().read_to_string().unwrap()
}

fn config(dir: &std::path::Path, pbx: SocketAddr) -> Config {
    Config::from_toml_str(&format!(
        r#"
[sip]
udp_listen = ["127.0.0.1:0"]
tcp_listen = []

[carriers]
trusted = ["127.0.0.0/8"]

[health]
enabled = false

[http]
listen = "127.0.0.1:0"

[store]
path = "{db}"
flush_interval_ms = 1

[[sites]]
id = "demo"
forward_to = "sip:{pbx}"
default_number = "74950000000"

[[sites.static_numbers]]
number = "74950000001"
source = "billboard"

[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000109"]
"#,
        db = dir.join("cdr.db").display()
    ))
    .unwrap()
}

fn invite(to: &str, sip: SocketAddr, caller: SocketAddr, call_id: &str) -> String {
    format!(
        "INVITE sip:{to}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {caller};branch=z9hG4bK-{call_id}\r\n\
From: <sip:79161234567@{caller}>;tag=c1\r\nTo: <sip:{to}@{sip}>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:79161234567@{caller}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Receives datagrams until one starts with `prefix`.
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

/// The PBX's answer to `request`: `status` with Via, From, To (+ tag), Call-ID, CSeq copied.
fn answer(request: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.lines() {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line.trim_end());
                out.push_str("\r\n");
            }
            "to" | "t" => out.push_str(&format!("{};tag=pbx\r\n", line.trim_end())),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// The caller's ACK for a non-2xx final `response` (same Via branch, the response's To tag).
fn ack_for(response: &str, to: &str, sip: SocketAddr) -> String {
    let mut out = format!("ACK sip:{to}@{sip} SIP/2.0\r\n");
    for line in response.lines() {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if matches!(name.as_str(), "via" | "from" | "to" | "call-id") {
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        }
    }
    out.push_str("CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    out
}

struct Running {
    server: Server,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

fn start(runtime: &tokio::runtime::Runtime, pbx: SocketAddr) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let server = runtime
        .block_on(Server::start(config(dir.path(), pbx), stop.clone()))
        .unwrap();
    Running {
        server,
        stop,
        _dir: dir,
    }
}

#[test]
fn metrics_follow_calls_retransmissions_rejections_and_pools() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pbx = UdpSocket::bind("127.0.0.1:0").unwrap();
    pbx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let first = start(&runtime, pbx.local_addr().unwrap());
    // A second server in the same process reuses the installed recorder.
    let second = start(&runtime, pbx.local_addr().unwrap());
    let http = first.server.http.unwrap();
    let sip = first.server.sip.udp[0];
    let me = caller.local_addr().unwrap();

    let before = scrape(http);
    assert_eq!(
        value(&before, r#"calltrack_pool_numbers{site="demo",pool="web"}"#),
        10.0
    );
    assert_eq!(
        value(&before, r#"calltrack_pool_leased{site="demo",pool="web"}"#),
        0.0
    );

    // A busy call; the INVITE is sent twice (the copy is absorbed by the transaction).
    let msg = invite("74950000001", sip, me, "metrics-busy");
    caller.send_to(msg.as_bytes(), sip).unwrap();
    caller.send_to(msg.as_bytes(), sip).unwrap();
    let b_leg = recv_starting(&pbx, "INVITE ");
    pbx.send_to(answer(&b_leg, "486 Busy Here").as_bytes(), sip)
        .unwrap();
    let busy = recv_starting(&caller, "SIP/2.0 486");
    caller
        .send_to(ack_for(&busy, "74950000001", sip).as_bytes(), sip)
        .unwrap();

    // An INVITE to a number nobody owns, and a datagram that is not SIP.
    let unknown = invite("74959999999", sip, me, "metrics-unknown");
    caller.send_to(unknown.as_bytes(), sip).unwrap();
    recv_starting(&caller, "SIP/2.0 404");
    caller.send_to(b"garbage\r\n\r\n", sip).unwrap();

    let key = r#"calltrack_calls_total{disposition="busy"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = scrape(http);
    while value(&after, "calltrack_cdr_write_seconds_count")
        <= value(&before, "calltrack_cdr_write_seconds_count")
        || value(&after, key) <= value(&before, key)
        || value(&after, "calltrack_messages_discarded_total")
            <= value(&before, "calltrack_messages_discarded_total")
    {
        assert!(Instant::now() < deadline, "metrics did not move:\n{after}");
        std::thread::sleep(Duration::from_millis(50));
        after = scrape(http);
    }
    let grew = |k: &str| value(&after, k) - value(&before, k);
    assert_eq!(grew(key), 1.0, "{after}");
    assert!(grew(r#"calltrack_retransmissions_total{kind="absorbed"}"#) >= 1.0);
    assert!(grew("calltrack_transactions_created_total") >= 3.0);
    assert!(grew(r#"calltrack_invites_rejected_total{status="404"}"#) >= 1.0);
    assert!(grew("calltrack_messages_discarded_total") >= 1.0);
    assert!(
        after.contains("calltrack_cdr_write_seconds_bucket"),
        "{after}"
    );
    assert!(after.contains("calltrack_cdr_queue_depth"), "{after}");
    // Issue 12: the busy call's INVITE was relayed to the PBX and timed, well under a second.
    assert!(
        grew("calltrack_invite_relay_seconds_count") >= 1.0,
        "{after}"
    );
    assert!(
        value(&after, r#"calltrack_invite_relay_seconds_bucket{le="1"}"#)
            >= value(&after, "calltrack_invite_relay_seconds_count"),
        "{after}"
    );
    assert_eq!(value(&after, "calltrack_overloaded"), 0.0, "{after}");
    assert!(after.contains("calltrack_active_calls"), "{after}");
    assert!(after.contains("calltrack_transactions "), "{after}");
    assert!(
        after.contains("# HELP calltrack_calls_reaped_total"),
        "{after}"
    );

    // The estimated-accuracy job ran at start: no call in the last 24 h yet, so NaN.
    let accuracy = r#"calltrack_pool_estimated_accuracy{site="demo",pool="web"}"#;
    while !after.contains(accuracy) {
        assert!(Instant::now() < deadline, "no estimated accuracy:\n{after}");
        std::thread::sleep(Duration::from_millis(50));
        after = scrape(http);
    }
    let estimated = value(&after, accuracy);
    assert!(estimated.is_nan() || estimated == 0.0, "{after}");

    // The second server serves the same registry.
    let other = scrape(second.server.http.unwrap());
    assert!(other.contains("calltrack_calls_total"), "{other}");

    for running in [first, second] {
        running.stop.cancel();
        runtime.block_on(running.server.wait()).unwrap();
    }
}

#[test]
fn one_exhaustion_is_counted_once_in_metrics_and_pool_status() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Its own site id: the other test in this process publishes demo/web.
    let toml = format!(
        r#"
[sip]
udp_listen = ["127.0.0.1:0"]
tcp_listen = []
[health]
enabled = false
[http]
listen = "127.0.0.1:0"
[store]
path = "{db}"
[[sites]]
id = "exhaust"
forward_to = "sip:127.0.0.1:5080"
default_number = "74960000000"
reserve_number = "74960000099"
[[sites.pools]]
id = "web"
numbers = ["74960000100"]
"#,
        db = dir.path().join("cdr.db").display()
    );
    let stop = CancellationToken::new();
    let server = runtime
        .block_on(Server::start(
            Config::from_toml_str(&toml).unwrap(),
            stop.clone(),
        ))
        .unwrap();
    let http = server.http.unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let kinds: Vec<String> = ["a", "b"]
        .iter()
        .map(|visitor| {
            let mut reply = agent
                .post(&format!("http://{http}/v1/sites/exhaust/sessions"))
                .header(
                    "User-Agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0 Safari/537.36",
                )
                .send_json(serde_json::json!({
                    "visitor_id": visitor,
                    "page_url": "https://shop.example/?utm_source=google&utm_medium=cpc",
                }))
                .unwrap();
            let body: serde_json::Value = reply.body_mut().read_json().unwrap();
            body["kind"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(kinds, ["dynamic", "reserve"]);
    let text = scrape(http);
    assert_eq!(
        value(
            &text,
            r#"calltrack_pool_exhausted_total{site="exhaust",pool="web"}"#
        ),
        1.0,
        "{text}"
    );
    let mut reply = agent
        .get(&format!("http://{http}/v1/admin/pools"))
        .call()
        .unwrap();
    let pools: serde_json::Value = reply.body_mut().read_json().unwrap();
    assert_eq!(pools["pools"][0]["exhausted_total"], 1, "{pools}");
    stop.cancel();
    runtime.block_on(server.wait()).unwrap();
}
