//! End to end through the real binary with sipp as an independent caller (UAC) and PBX (UAS):
//! calls over UDP and TCP, CANCEL, BYE from each side, busy, ring timeout, rejections, each
//! checked against the CDR calltrack wrote.
//!
//! Needs `sipp` (Debian package `sip-tester`; CI installs it). Without it every test says so
//! loudly and skips. Only loopback addresses are used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use calltrack::call::record::{Disposition, HangupSide};
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";

fn skip() -> bool {
    support::skip_without_sipp("end-to-end tests")
}

#[test]
fn udp_call_answered_and_caller_hangs_up() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let uas = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .pause_ms(1200)
        .run_ok();
    uas.wait_ok();
    let pbx_port = ct.pbx_port;
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert_eq!(cdr.sip_status, 200);
    assert_eq!(cdr.tracking_number, BILLBOARD);
    assert_eq!(cdr.caller, "79161234567");
    assert!(cdr.answered_at.is_some());
    assert!(cdr.talk_secs >= 1, "talked {} s", cdr.talk_secs);
    assert_eq!(
        cdr.destination,
        format!("sip:{BILLBOARD}@127.0.0.1:{pbx_port}")
    );
}

#[test]
fn udp_call_answered_and_callee_hangs_up() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let uas = Sipp::uas("uas_hangup.xml", Leg::Udp, ct.pbx_port)
        .pause_ms(1200)
        .spawn();
    Sipp::uac("uac_callee_hangup.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.hangup_side, HangupSide::Callee);
    assert!(cdr.talk_secs >= 1);
}

#[test]
fn udp_caller_cancels_while_ringing() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let uas = Sipp::uas("uas_ring.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_cancel.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Cancelled);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert_eq!(cdr.sip_status, 487);
    assert!(cdr.answered_at.is_none());
    assert_eq!(cdr.talk_secs, 0);
}

#[test]
fn udp_callee_busy() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let uas = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_486.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Busy);
    assert_eq!(cdr.hangup_side, HangupSide::Callee);
    assert_eq!(cdr.sip_status, 486);
}

#[test]
fn udp_callee_never_answers_and_ring_timeout_ends_the_call() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        cfg.push_str("\n[calls]\nring_timeout_secs = 2\nshutdown_grace_secs = 2\n");
    });
    let uas = Sipp::uas("uas_ring.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_480.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::NoAnswer);
    assert_eq!(cdr.hangup_side, HangupSide::System);
    assert_eq!(cdr.sip_status, 480);
    assert!(cdr.wait_secs >= 2, "waited {} s", cdr.wait_secs);
}

#[test]
fn tcp_call_answered_and_caller_hangs_up() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Tcp, Leg::Tcp, |_| {});
    let uas = Sipp::uas("uas_answer.xml", Leg::Tcp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Tcp, ct.sip_port, BILLBOARD)
        .pause_ms(1200)
        .run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert!(cdr.talk_secs >= 1);
}

#[test]
fn tcp_callee_hangs_up() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Tcp, Leg::Tcp, |_| {});
    let uas = Sipp::uas("uas_hangup.xml", Leg::Tcp, ct.pbx_port)
        .pause_ms(500)
        .spawn();
    Sipp::uac("uac_callee_hangup.xml", Leg::Tcp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.hangup_side, HangupSide::Callee);
}

#[test]
fn tcp_caller_cancels_while_ringing() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Tcp, Leg::Tcp, |_| {});
    let uas = Sipp::uas("uas_ring.xml", Leg::Tcp, ct.pbx_port).spawn();
    Sipp::uac("uac_cancel.xml", Leg::Tcp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Cancelled);
}

#[test]
fn tcp_callee_busy_and_ring_timeout() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Tcp, Leg::Tcp, |cfg| {
        cfg.push_str("\n[calls]\nring_timeout_secs = 2\nshutdown_grace_secs = 2\n");
    });
    let uas = Sipp::uas("uas_busy.xml", Leg::Tcp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_486.xml", Leg::Tcp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let uas = Sipp::uas("uas_ring.xml", Leg::Tcp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_480.xml", Leg::Tcp, ct.sip_port, BILLBOARD).run_ok();
    uas.wait_ok();
    let cdrs = ct.stop().cdrs();
    let dispositions: Vec<_> = cdrs.iter().map(|c| c.disposition).collect();
    assert_eq!(dispositions, [Disposition::Busy, Disposition::NoAnswer]);
}

#[test]
fn unknown_number_gets_404_and_a_rejected_cdr() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    Sipp::uac("uac_expect_404.xml", Leg::Udp, ct.sip_port, "74959999999").run_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Rejected);
    assert_eq!(cdr.sip_status, 404);
}

#[test]
fn untrusted_source_gets_403_and_no_b_leg() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace(
            r#"trusted = ["127.0.0.0/8", "::1/128"]"#,
            r#"trusted = ["127.0.0.2/32"]"#,
        );
    });
    // A stand-in PBX socket: if a B-leg were created, its INVITE would land here.
    let pbx = std::net::UdpSocket::bind(("127.0.0.1", ct.pbx_port)).unwrap();
    pbx.set_read_timeout(Some(std::time::Duration::from_millis(800)))
        .unwrap();
    Sipp::uac("uac_expect_403.xml", Leg::Udp, ct.sip_port, BILLBOARD).run_ok();
    let mut buf = [0u8; 4096];
    match pbx.recv_from(&mut buf) {
        Ok((n, _)) => panic!(
            "the PBX received something for an untrusted caller:\n{}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
    }
    let result = ct.stop();
    assert!(
        result.cdrs().is_empty(),
        "refusals of untrusted sources are not recorded"
    );
}

#[test]
fn large_udp_invite_moves_to_tcp_toward_the_pbx() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    // calltrack's forward_to has no transport; the PBX listens on TCP only, so the call can
    // only succeed if the >1300-byte INVITE is sent over TCP (RFC 3261 §18.1.1).
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |_| {});
    let uas = Sipp::uas("uas_answer.xml", Leg::Tcp, ct.pbx_port).spawn();
    Sipp::uac("uac_call_large.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .pause_ms(300)
        .run_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
}
