//! The routing trail the session records on the CDR, and `counted` from the scheme (see
//! `b2bua_dialer.rs`).

use calltrack::call::trail::TrailOutcome;

use super::*;

fn trail(cdr: &CallDetailRecord) -> Vec<(u32, String, TrailOutcome, Option<u16>, String)> {
    cdr.trail
        .iter()
        .map(|s| {
            let at = calltrack::call::record::rfc3339::format(s.at);
            (s.step, s.target.clone(), s.outcome, s.sip_status, at)
        })
        .collect()
}

#[test]
fn each_attempt_is_on_the_trail_with_its_outcome_and_the_scheme_is_not_counted() {
    let steps = [
        ("sequential", &[(T1, 1)][..], ""),
        ("parallel", &[(T2, 1), (T3, 1)][..], ""),
    ];
    let mut h = Harness::new(&scheme(&steps, "counted = false"));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    h.advance_to(5);
    assert_eq!(h.invited(), [T1, T2, T3]);
    h.answer(T2, "486 Busy Here");
    h.answer(T3, "200 OK");
    assert_eq!(h.carrier_finals(), [200]);
    let tag = h
        .to_carrier
        .last()
        .unwrap()
        .to()
        .unwrap()
        .tag()
        .unwrap()
        .to_string();
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bK{method}{cseq}
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={tag}
Call-ID: a-leg-1@carrier
CSeq: {cseq} {method}
Content-Length: 0

"
        )
    };
    h.carrier_sends(&in_dialog("ACK", 10));
    h.advance_to(70);
    h.carrier_sends(&in_dialog("BYE", 11));
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert!(cdr.talk_secs >= 60);
    assert!(!cdr.counted, "the scheme says counted = false");
    assert!(!cdr.quality, "so a long answered call is no quality call");
    let at = |s: &str| format!("2026-11-23T10:00:{s}.000Z");
    assert_eq!(
        trail(&cdr),
        [
            (1, label(T1), TrailOutcome::NoAnswer, None, at("00")),
            (2, label(T2), TrailOutcome::Busy, Some(486), at("05")),
            (2, label(T3), TrailOutcome::Answered, Some(200), at("05")),
        ]
    );
}

#[test]
fn a_caller_who_hangs_up_leaves_the_ringing_attempt_cancelled() {
    let mut h = Harness::new(&scheme(&[("sequential", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    h.advance_to(2);
    h.carrier_sends(&carrier_cancel(1));
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Cancelled);
    assert!(cdr.counted, "schemes count by default");
    assert_eq!(
        trail(&cdr),
        [(
            1,
            label(T1),
            TrailOutcome::Cancelled,
            None,
            "2026-11-23T10:00:00.000Z".to_owned()
        )]
    );
}
