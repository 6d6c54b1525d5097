//! Calls to one pool number through sipp and what the PBX and the calls API saw of them:
//! shared by the attribution end-to-end tests (repeat caller, last holder).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Calltrack, Leg, Sipp};

/// A header's value in the PBX's trace of the INVITE (first match, any case).
pub fn header_value<'a>(trace: &'a str, name: &str) -> Option<&'a str> {
    trace.lines().map(str::trim).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `http://127.0.0.1:PORT{path}` of calltrack's HTTP listener.
pub fn url(ct: &Calltrack, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", ct.http_port)
}

/// `caller` dials `number` once through a fresh UAS; the INVITE as the PBX saw it.
pub fn call_from(ct: &Calltrack, number: &str, caller: &str) -> String {
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call_from.xml", Leg::Udp, ct.sip_port, number)
        .key("caller", caller)
        .pause_ms(100)
        .run_ok();
    uas.wait_ok()
}

/// `GET /v1/calls` for `number`, oldest first, once it lists `count` calls.
pub fn listed_calls(ct: &Calltrack, number: &str, count: usize) -> Vec<Value> {
    let path = format!("/v1/calls?tracking_number={number}&sort=started_at");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut resp = ureq::get(&url(ct, &path)).call().unwrap();
        let page: Value = resp.body_mut().read_json().unwrap();
        let calls = page["calls"].as_array().cloned().unwrap_or_default();
        if calls.len() >= count {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "{count} calls never listed: {page}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
