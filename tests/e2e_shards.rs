//! The SIP core in two shards (`[sip] workers = 2`) through the real binary, with sipp as the
//! caller and the PBX: every call's messages on both legs meet in one shard (calltrack draws
//! B-leg Call-IDs that hash to the shard of the caller's), both shards take calls, and every
//! call is answered and recorded once.
//!
//! Needs `sipp` (Debian package `sip-tester`); without it the test says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;

use calltrack::call::record::Disposition;
use support::{Calltrack, Leg, Sipp};

const CALLS: u32 = 60;

/// One sample's value (0 when absent), `name` with its labels as printed.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn scrape(http_port: u16) -> String {
    let url = format!("http://127.0.0.1:{http_port}/metrics");
    ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

#[test]
fn two_shards_share_the_calls_and_record_every_one() {
    if support::skip_without_sipp("the sharded core test") {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replacen("[sip]\n", "[sip]\nworkers = 2\n", 1);
    });
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port)
        .calls(CALLS)
        .spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .calls(CALLS)
        .rate(30)
        .pause_ms(100)
        .run_ok();
    uas.wait_ok();
    let text = scrape(ct.http_port);
    let shard = |n: u32| {
        metric(
            &text,
            &format!("calltrack_core_messages_total{{shard=\"{n}\"}}"),
        )
    };
    // Each call brings at least INVITE, 200, ACK, BYE and 200 per leg; a shard taking a fair
    // share is far from zero (60 calls spread by a hash: the odds of fewer than 15 on one
    // side are below one in a thousand).
    assert!(shard(0) >= 15.0 * 5.0, "shard 0 took {}\n{text}", shard(0));
    assert!(shard(1) >= 15.0 * 5.0, "shard 1 took {}\n{text}", shard(1));
    assert_eq!(metric(&text, "calltrack_active_calls"), 0.0, "{text}");
    let cdrs = ct.stop().cdrs();
    assert_eq!(cdrs.len(), CALLS as usize);
    assert!(cdrs.iter().all(|c| c.disposition == Disposition::Answered));
    let ids: HashSet<&str> = cdrs.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), CALLS as usize, "one CDR per call");
}
