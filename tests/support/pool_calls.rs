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

/// Edits the test config: the pool cut to its first number (`74950000100`), a 3-s freeze
/// (1-s heartbeats), no cool-down, plus `extra` site keys (lines).
pub fn one_number_short_freeze(toml: &mut String, extra: &str) {
    let keys = format!(
        "reserve_number = \"74950000099\"\nfreeze_secs = 3\nheartbeat_secs = 1\nlease_cooldown_secs = 0\n{extra}"
    );
    *toml = toml
        .replace(
            r#"numbers = ["74950000100-74950000149"]"#,
            r#"numbers = ["74950000100"]"#,
        )
        .replace(r#"reserve_number = "74950000099""#, keys.trim_end());
}
