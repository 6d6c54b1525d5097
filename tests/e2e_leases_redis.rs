//! Two calltrack daemons on one Redis (`[leases] backend = "redis"`): a lease granted through
//! node A's HTTP API attributes a sipp call that arrives on node B (A's visitor in the X-CT
//! headers at the PBX); both nodes report the backend up in `/health`; `check-config --connect`
//! reaches Redis and reports a dead one.
//!
//! Needs `sipp` and `redis-server` (CI installs both); without them the test says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::redis_server::{RedisServer, skip_without_redis};
use support::{Calltrack, Leg, Sipp};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn leases_section(redis: &RedisServer) -> String {
    format!(
        "\n[leases]\nbackend = \"redis\"\nurl = \"{}\"\nkey_prefix = \"e2e:\"\n",
        redis.url()
    )
}

fn health(http_port: u16) -> serde_json::Value {
    ureq::get(&format!("http://127.0.0.1:{http_port}/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

fn header_line<'a>(trace: &'a str, name: &str) -> Option<&'a str> {
    trace.lines().map(str::trim).find(|l| {
        l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l[name.len()..].starts_with(':')
    })
}

#[test]
fn a_lease_granted_on_node_a_attributes_a_call_on_node_b() {
    if support::skip_without_sipp("two nodes on Redis e2e")
        || skip_without_redis("two nodes on Redis e2e")
    {
        return;
    }
    let _serial = support::serial();
    let redis = RedisServer::start();
    let section = leases_section(&redis);
    let a = Calltrack::start(Leg::Udp, Leg::Udp, |toml| toml.push_str(&section));
    let b = Calltrack::start(Leg::Udp, Leg::Udp, |toml| toml.push_str(&section));
    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while health(node.http_port)["leases"]["up"] != true {
            assert!(Instant::now() < deadline, "{}", node.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(health(node.http_port)["leases"]["backend"], "redis");
    }

    let session: serde_json::Value = ureq::post(&format!(
        "http://127.0.0.1:{}/v1/sites/demo/sessions",
        a.http_port
    ))
    .header("User-Agent", BROWSER)
    .send_json(serde_json::json!({
        "visitor_id": "visitor-on-a",
        "page_url": "https://shop.example/?utm_source=node-a&utm_campaign=shared",
    }))
    .unwrap()
    .body_mut()
    .read_json()
    .unwrap();
    assert_eq!(session["kind"], "dynamic", "{session}");
    let number = session["number"].as_str().unwrap();
    let session_id = session["session_id"].as_str().unwrap();

    // The call arrives on node B; B's PBX sees A's visitor.
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, b.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, b.sip_port, number)
        .pause_ms(300)
        .run_ok();
    let trace = uas.wait_ok();
    assert_eq!(
        header_line(&trace, "X-CT-Source"),
        Some("X-CT-Source: node-a"),
        "{trace}\n{}",
        b.log()
    );
    assert_eq!(
        header_line(&trace, "X-CT-Campaign"),
        Some("X-CT-Campaign: shared")
    );
    let stamped = format!("X-CT-Session: {session_id}");
    assert_eq!(header_line(&trace, "X-CT-Session"), Some(stamped.as_str()));

    // check-config --connect reaches this Redis, and reports a dead one with exit 1.
    let check = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_calltrack"))
            .args(["check-config", "--connect"])
            .arg(path)
            .output()
            .unwrap()
    };
    let ok = check(&a.config_path());
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok: leases on redis://"));
    drop(redis);
    let down = check(&a.config_path());
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("unreachable: leases.url"));
    let plain = Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .arg("check-config")
        .arg(a.config_path())
        .output()
        .unwrap();
    assert!(
        plain.status.success(),
        "plain check-config connects to nothing"
    );
}
