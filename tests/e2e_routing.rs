//! Route selection end to end through the real binary, with sipp as the caller and as two
//! PBXs (a day PBX and a night PBX on their own ports): a call while the route's schedule is
//! closed reaches the night scheme, a call while it is open reaches the day scheme.
//!
//! The schedules are deterministic whenever CI runs: "never" has no open hours at all, and
//! "always" is open 00:00-24:00 every day. Needs `sipp`; without it the tests say so and skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use calltrack::call::record::Disposition;
use support::{Calltrack, Leg, Sipp};

fn skip() -> bool {
    support::skip_without_sipp("routing e2e")
}

/// Routes the billboard number through a closed schedule and the radio number through an
/// open one; both pick "day" in hours and "night" after hours.
fn routing(day: u16, night: u16) -> String {
    let every_day: String = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| format!("{d} = [\"00:00-24:00\"]\n"))
        .collect();
    format!(
        r#"
[[schemes]]
id = "day"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:day@127.0.0.1:{day}"

[[schemes]]
id = "night"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:night@127.0.0.1:{night}"

[[schedules]]
id = "never"
time_zone = "Europe/Moscow"

[[schedules]]
id = "always"
time_zone = "Pacific/Auckland"
{every_day}
[[routes]]
number = "74950000001"
scheme = "day"
schedule = "never"
after_hours_scheme = "night"

[[routes]]
number = "74950000002"
scheme = "day"
schedule = "always"
after_hours_scheme = "night"
"#
    )
}

#[test]
fn after_hours_call_takes_the_night_scheme_and_open_hours_the_day_scheme() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let (day, night) = (support::free_port(), support::free_port());
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&routing(day, night))
    });

    // After hours: only the night PBX is up; the call must reach it.
    let night_pbx = Sipp::uas("uas_answer.xml", Leg::Udp, night).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .pause_ms(300)
        .run_ok();
    let trace = night_pbx.wait_ok();
    assert!(
        trace.contains(&format!("INVITE sip:night@127.0.0.1:{night}")),
        "{trace}"
    );

    // Open hours: the day PBX answers.
    let day_pbx = Sipp::uas("uas_answer.xml", Leg::Udp, day).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000002")
        .pause_ms(300)
        .run_ok();
    let trace = day_pbx.wait_ok();
    assert!(
        trace.contains(&format!("INVITE sip:day@127.0.0.1:{day}")),
        "{trace}"
    );

    let stopped = ct.stop();
    let mut cdrs = stopped.cdrs();
    cdrs.sort_by(|a, b| a.tracking_number.cmp(&b.tracking_number));
    assert_eq!(cdrs.len(), 2, "{cdrs:#?}\n{}", stopped.log);
    assert_eq!(cdrs[0].tracking_number, "74950000001");
    assert_eq!(cdrs[0].destination, format!("sip:night@127.0.0.1:{night}"));
    assert_eq!(cdrs[0].disposition, Disposition::Answered);
    assert_eq!(cdrs[1].tracking_number, "74950000002");
    assert_eq!(cdrs[1].destination, format!("sip:day@127.0.0.1:{day}"));
    assert_eq!(cdrs[1].disposition, Disposition::Answered);
}

#[test]
fn a_number_without_a_route_keeps_the_sites_forward_to() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let (day, night) = (support::free_port(), support::free_port());
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&routing(day, night))
    });
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000100")
        .pause_ms(300)
        .run_ok();
    pbx.wait_ok();
    let pbx_port = ct.pbx_port;
    let cdr = ct.stop().single_cdr();
    assert_eq!(
        cdr.destination,
        format!("sip:74950000100@127.0.0.1:{pbx_port}")
    );
    assert_eq!(cdr.disposition, Disposition::Answered);
}
