//! The pool usage service in the real daemon: `calltrack serve` samples every pool as it
//! starts (then once a minute) through the store writer, `GET /v1/pools/usage` serves the
//! samples, the dashboard page is served, and the daemon still stops cleanly with the
//! service in its task tree.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Calltrack, Leg};

#[test]
fn the_daemon_samples_pool_usage_and_serves_the_dashboard() {
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{}", ct.http_port);
    // The first sample is taken when the service starts; it is committed shortly after.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pool = loop {
        let mut resp = agent.get(format!("{base}/v1/pools/usage")).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{}", ct.log());
        let body: Value = resp.body_mut().read_json().unwrap();
        if let Some(pool) = body["pools"].get(0) {
            break pool.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no pool usage sampled; log:\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(pool["site"], "demo");
    assert_eq!(pool["pool"], "web");
    assert!(pool["size"].as_u64().unwrap() > 0, "{pool}");
    assert_eq!(pool["samples"][0]["leased"], 0);
    assert_eq!(pool["exhaustion_minutes"], 0);

    let resp = agent.get(format!("{base}/dashboard")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let stopped = ct.stop();
    assert!(
        !stopped.log.contains("cannot store pool usage"),
        "{}",
        stopped.log
    );
}
