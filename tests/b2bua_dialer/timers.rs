//! Ring timeouts and Timer B across attempts (see `b2bua_dialer.rs`).

use super::*;

#[test]
fn the_calls_ring_timeout_still_caps_the_whole_scheme() {
    let steps = [("sequential", &[(T1, 1), (T2, 1)][..], "")];
    let mut h = Harness::new(&format!(
        "{}\n[calls]\nring_timeout_secs = 8\n",
        scheme(&steps, "")
    ));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    h.advance_to(5);
    assert_eq!(h.invited(), [T1, T2]);
    h.answer(T2, "180 Ringing");
    h.advance_to(8);
    assert_eq!(h.carrier_finals(), [480]);
    assert_eq!(h.sent(T2, Method::Cancel).len(), 1);
    assert_eq!(h.cdr().disposition, Disposition::NoAnswer);
}

#[test]
fn a_sequential_answer_crossing_the_timeout_cancel_is_hung_up() {
    let mut h = Harness::new(&scheme(&[("sequential", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    let t1 = h.last(T1, Method::Invite);
    h.advance_to(5);
    assert_eq!(h.sent(T1, Method::Cancel).len(), 1);
    h.respond(T1, &t1, "200 OK", "");
    assert_eq!(h.sent(T1, Method::Ack).len(), 1);
    assert_eq!(h.sent(T1, Method::Bye).len(), 1);
    assert!(h.carrier_finals().is_empty(), "the call keeps ringing T2");
    h.answer(T2, "200 OK");
    assert_eq!(h.carrier_finals(), [200]);
}

#[test]
fn a_silent_target_is_passed_over_and_its_timer_b_changes_nothing() {
    let mut h = Harness::new(&scheme(&[("sequential", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.advance_to(5);
    assert_eq!(h.invited().iter().filter(|p| **p == T2).count(), 1);
    assert!(
        h.sent(T1, Method::Cancel).is_empty(),
        "no CANCEL before a provisional"
    );
    h.answer(T2, "200 OK");
    let tag = h
        .to_carrier
        .last()
        .unwrap()
        .to()
        .unwrap()
        .tag()
        .unwrap()
        .to_string();
    h.carrier_sends(&format!(
        "ACK sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKack1
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={tag}
Call-ID: a-leg-1@carrier
CSeq: 10 ACK
Content-Length: 0

"
    ));
    h.advance_to(40);
    assert!(
        h.sent(T1, Method::Invite).len() > 1,
        "T1 got retransmissions until Timer B"
    );
    assert!(h.sent(T1, Method::Cancel).is_empty());
    assert_eq!(h.carrier_finals(), [200]);
    assert!(h.events.iter().all(|e| !matches!(e, CallEvent::Ended(_))));
    assert_eq!(h.core.active_calls(), 1, "the answered call goes on");
}

/// A loser of parallel ringing that rang (180) and then never answers our CANCEL, nor the
/// INVITE: 64*T1 after the CANCEL its INVITE is given up (RFC 3261 §9.1), so once the winner's
/// call ends nothing is left in memory.
#[test]
fn a_parallel_loser_silent_after_our_cancel_does_not_outlive_the_call() {
    let mut h = Harness::new(&scheme(&[("parallel", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    h.answer(T2, "180 Ringing");
    h.answer(T2, "200 OK");
    assert_eq!(
        h.sent(T1, Method::Cancel).len(),
        1,
        "the loser is cancelled"
    );
    let tag = h
        .to_carrier
        .last()
        .unwrap()
        .to()
        .unwrap()
        .tag()
        .unwrap()
        .to_string();
    let in_dialog = |method: &str, branch: &str| {
        format!(
            "{method} sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch={branch}
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={tag}
Call-ID: a-leg-1@carrier
CSeq: {} {method}
Content-Length: 0

",
            if method == "ACK" { 10 } else { 11 }
        )
    };
    h.carrier_sends(&in_dialog("ACK", "z9hG4bKack1"));
    h.advance_to(3);
    h.carrier_sends(&in_dialog("BYE", "z9hG4bKbye1"));
    let bye = h.last(T2, Method::Bye);
    h.respond(T2, &bye, "200 OK", "");
    assert_eq!(h.cdr().disposition, Disposition::Answered);
    h.advance_to(31);
    assert_eq!(
        h.core.active_calls(),
        1,
        "T1's INVITE still waits for its final"
    );
    h.advance_to(33);
    assert_eq!(h.core.active_calls(), 0, "given up 64*T1 after the CANCEL");
}
