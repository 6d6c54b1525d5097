//! SIGHUP reload through the real binary, with sipp as caller and PBXs: a live call survives
//! a reload that moves the site's forwarding target to a second PBX, the next call goes to
//! the second PBX, and an invalid file is refused (every problem logged) while the running
//! config stays.
//!
//! Needs `sipp`; without it the test says so loudly and skips. Loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use calltrack::call::record::{Disposition, HangupSide};
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";

fn get(url: &str) -> String {
    ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// Waits until `/health` reports `n` active calls.
fn wait_active_calls(ct: &Calltrack, n: u64) {
    let url = format!("http://127.0.0.1:{}/health", ct.http_port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health: serde_json::Value = serde_json::from_str(&get(&url)).unwrap();
        if health["active_calls"] == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never {n} active calls: {health}\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(ct: &Calltrack, key: &str) -> f64 {
    let text = get(&format!("http://127.0.0.1:{}/metrics", ct.http_port));
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn live_call_survives_sighup_next_call_follows_new_config_invalid_file_is_refused() {
    if support::skip_without_sipp("the reload end-to-end test") {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let (pbx_a, pbx_b) = (ct.pbx_port, support::free_port());
    let original = std::fs::read_to_string(ct.config_path()).unwrap();

    // Call 1 is up on PBX A when the config changes.
    let uas_a = Sipp::uas("uas_answer.xml", Leg::Udp, pbx_a).spawn();
    let call_1 = Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .pause_ms(3000)
        .spawn();
    wait_active_calls(&ct, 1);
    std::thread::sleep(Duration::from_millis(300));
    let moved = original.replace(
        &format!("sip:127.0.0.1:{pbx_a}"),
        &format!("sip:127.0.0.1:{pbx_b}"),
    );
    assert_ne!(moved, original);
    std::fs::write(ct.config_path(), &moved).unwrap();
    ct.signal("HUP");
    let log = ct.wait_for_log("config reloaded", 1);
    assert!(log.contains("changed=[\"sites\"]"), "{log}");
    call_1.wait_ok();
    uas_a.wait_ok();

    // Call 2 follows the new config.
    let uas_b = Sipp::uas("uas_answer.xml", Leg::Udp, pbx_b).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .pause_ms(200)
        .run_ok();
    uas_b.wait_ok();

    // An invalid file is refused with every problem; the running config stays.
    let broken = format!("{moved}\n[calls]\nring_timeout_secs = \"soon\"\nno_such_key = 1\n");
    std::fs::write(ct.config_path(), broken).unwrap();
    ct.signal("HUP");
    let log = ct.wait_for_log("invalid config not applied", 1);
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("config reload refused"))
        .collect();
    assert!(refused.len() >= 2, "each problem logged:\n{log}");
    assert!(
        refused.iter().any(|l| l.contains("ring_timeout_secs")),
        "{log}"
    );
    assert!(refused.iter().any(|l| l.contains("no_such_key")), "{log}");
    assert_eq!(
        metric(&ct, r#"calltrack_config_reloads_total{result="applied"}"#),
        1.0
    );
    assert_eq!(
        metric(&ct, r#"calltrack_config_reloads_total{result="refused"}"#),
        1.0
    );

    // Call 3 still goes to PBX B.
    let uas_b = Sipp::uas("uas_answer.xml", Leg::Udp, pbx_b).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .pause_ms(200)
        .run_ok();
    uas_b.wait_ok();

    let stopped = ct.stop();
    let cdrs = stopped.cdrs();
    assert_eq!(cdrs.len(), 3, "{cdrs:#?}\n{}", stopped.log);
    let to = |port: u16| format!("sip:{BILLBOARD}@127.0.0.1:{port}");
    assert_eq!(cdrs[0].destination, to(pbx_a));
    assert_eq!(cdrs[0].disposition, Disposition::Answered);
    assert_eq!(cdrs[0].hangup_side, HangupSide::Caller);
    assert!(cdrs[0].talk_secs >= 2, "talked {} s", cdrs[0].talk_secs);
    assert_eq!(cdrs[1].destination, to(pbx_b));
    assert_eq!(cdrs[1].disposition, Disposition::Answered);
    assert_eq!(cdrs[2].destination, to(pbx_b));
    assert_eq!(cdrs[2].disposition, Disposition::Answered);
}
