//! Distribution schemes end to end through the real binary, with sipp as the caller and as
//! several PBX targets: sequential hunting past a target that never answers, parallel
//! ringing where the losers get CANCEL, round robin over calls, failover on 503. Each is
//! checked against the CDR (`scheme`, `answered_step`, `answered_target`).
//!
//! Needs `sipp` (Debian package `sip-tester`); without it every test says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use calltrack::call::record::Disposition;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";

fn skip() -> bool {
    support::skip_without_sipp("distribution end-to-end tests")
}

fn uri(port: u16) -> String {
    format!("sip:127.0.0.1:{port}")
}

/// A `[[schemes]]` entry named `sales` plus the route that sends the billboard number to it.
/// `steps` are (strategy, ring_timeout_secs, target ports).
fn sales_scheme(steps: &[(&str, u64, &[u16])]) -> String {
    let mut s = format!("\n[[routes]]\nnumber = \"{BILLBOARD}\"\nscheme = \"sales\"\n");
    s.push_str("\n[[schemes]]\nid = \"sales\"\n");
    for (strategy, ring, ports) in steps {
        s.push_str(&format!(
            "[[schemes.steps]]\nstrategy = \"{strategy}\"\nring_timeout_secs = {ring}\n"
        ));
        for port in *ports {
            s.push_str(&format!(
                "[[schemes.steps.targets]]\nuri = \"{}\"\n",
                uri(*port)
            ));
        }
    }
    s.push_str("\n[calls]\nshutdown_grace_secs = 2\n");
    s
}

fn start(steps: &[(&str, u64, &[u16])]) -> Calltrack {
    let scheme = sales_scheme(steps);
    Calltrack::start(Leg::Udp, Leg::Udp, move |cfg| cfg.push_str(&scheme))
}

/// One caller dialling the billboard number, talking 300 ms.
fn dial(ct: &Calltrack) -> Sipp {
    Sipp::uac("uac_call_scheme.xml", Leg::Udp, ct.sip_port, BILLBOARD).pause_ms(300)
}

#[test]
fn sequential_hunting_skips_a_target_that_never_answers() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let (silent, answers) = (support::free_port(), support::free_port());
    let ct = start(&[("sequential", 2, &[silent, answers])]);
    let first = Sipp::uas("uas_ring.xml", Leg::Udp, silent).spawn();
    let second = Sipp::uas("uas_answer.xml", Leg::Udp, answers).spawn();
    dial(&ct).run_ok();
    let first_trace = first.wait_ok();
    second.wait_ok();
    assert!(
        first_trace.contains("CANCEL sip:"),
        "the first target got CANCEL"
    );
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.scheme.as_deref(), Some("sales"));
    assert_eq!(cdr.answered_step, Some(1));
    assert_eq!(cdr.answered_target, Some(uri(answers)));
    assert!(cdr.wait_secs >= 2, "waited {} s", cdr.wait_secs);
}

#[test]
fn parallel_ringing_cancels_the_losers() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ports = [
        support::free_port(),
        support::free_port(),
        support::free_port(),
    ];
    let ct = start(&[("parallel", 10, &ports)]);
    let losers = [
        Sipp::uas("uas_ring.xml", Leg::Udp, ports[0]).spawn(),
        Sipp::uas("uas_ring.xml", Leg::Udp, ports[1]).spawn(),
    ];
    let winner = Sipp::uas("uas_answer.xml", Leg::Udp, ports[2]).spawn();
    dial(&ct).run_ok();
    winner.wait_ok();
    for loser in losers {
        // uas_ring.xml only completes after CANCEL, its 200 and the 487 it sends.
        let trace = loser.wait_ok();
        assert!(trace.contains("CANCEL sip:"));
        assert!(trace.contains("487 Request Terminated"));
    }
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.answered_target, Some(uri(ports[2])));
}

#[test]
fn round_robin_shares_four_calls_between_two_targets() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ports = [support::free_port(), support::free_port()];
    let ct = start(&[("round_robin", 10, &ports)]);
    let pbxs = ports.map(|p| Sipp::uas("uas_answer.xml", Leg::Udp, p).calls(2).spawn());
    for _ in 0..4 {
        dial(&ct).run_ok();
    }
    for pbx in pbxs {
        pbx.wait_ok();
    }
    let cdrs = ct.stop().cdrs();
    let targets: Vec<_> = cdrs
        .iter()
        .map(|c| c.answered_target.clone().unwrap())
        .collect();
    let (a, b) = (uri(ports[0]), uri(ports[1]));
    assert_eq!(targets, [a.clone(), b.clone(), a, b]);
}

#[test]
fn failover_on_503_rings_the_next_step() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let (broken, answers) = (support::free_port(), support::free_port());
    let ct = start(&[
        ("sequential", 10, &[broken]),
        ("sequential", 10, &[answers]),
    ]);
    let first = Sipp::uas("uas_unavailable.xml", Leg::Udp, broken).spawn();
    let second = Sipp::uas("uas_answer.xml", Leg::Udp, answers).spawn();
    dial(&ct).run_ok();
    first.wait_ok();
    second.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.answered_step, Some(2));
    assert_eq!(cdr.answered_target, Some(uri(answers)));
}

#[test]
fn digest_challenge_from_a_gateway_is_answered() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pbx = support::free_port();
    let config = format!(
        r#"
[[routes]]
number = "{BILLBOARD}"
scheme = "sales"

[[gateways]]
id = "pbx"
uri = "sip:127.0.0.1:{pbx}"
auth_user = "calltrack"
auth_password = "s3cret-pw"
auth_realm = "pbx.example"

[[schemes]]
id = "sales"
[[schemes.steps]]
[[schemes.steps.targets]]
number = "100"
gateway = "pbx"
"#
    );
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, move |cfg| cfg.push_str(&config));
    let uas = Sipp::uas("uas_digest.xml", Leg::Udp, pbx).spawn();
    dial(&ct).run_ok();
    let trace = uas.wait_ok();
    assert!(trace.contains("Authorization: Digest username=\"calltrack\""));
    assert!(!trace.contains("s3cret-pw"), "the password never travels");
    let stopped = ct.stop();
    assert!(!stopped.log.contains("s3cret-pw"), "nor is it logged");
    let cdr = stopped.single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.answered_target.as_deref(), Some("100@pbx"));
}
