//! The dialer cases (see the harness in `b2bua_dialer.rs`).

use super::*;

#[test]
fn hunting_moves_on_after_a_targets_ring_timeout() {
    let mut h = Harness::new(&scheme(&[("sequential", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    assert_eq!(h.invited(), [T1]);
    h.answer(T1, "180 Ringing");
    h.advance_to(4);
    assert_eq!(h.invited(), [T1], "still ringing the first");
    h.advance_to(5);
    let cancel = h.last(T1, Method::Cancel);
    let first = h.last(T1, Method::Invite);
    assert_eq!(branch(&cancel), branch(&first));
    assert_eq!(h.invited(), [T1, T2]);
    let second = h.last(T2, Method::Invite);
    assert_ne!(second.call_id(), first.call_id(), "own Call-ID per attempt");
    assert_ne!(
        from_tag(&second),
        from_tag(&first),
        "own From tag per attempt"
    );
    h.respond(T1, &cancel, "200 OK", "");
    h.respond(T1, &first, "487 Request Terminated", "");
    assert_eq!(h.sent(T1, Method::Ack).len(), 1, "the 487 is ACKed");
    assert!(
        h.carrier_finals().is_empty(),
        "our own CANCEL's 487 is not relayed"
    );
    h.answer(T2, "180 Ringing");
    h.advance_to(7);
    h.answer(T2, "200 OK");
    assert_eq!(h.carrier_finals(), [200]);
    h.advance_to(9);
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
        "BYE sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKbye1
Max-Forwards: 70
From: <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={tag}
Call-ID: a-leg-1@carrier
CSeq: 11 BYE
Content-Length: 0

"
    ));
    let bye = h.last(T2, Method::Bye);
    assert_eq!(
        bye.call_id(),
        second.call_id(),
        "the BYE goes to the winner"
    );
    h.respond(T2, &bye, "200 OK", "");
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.scheme.as_deref(), Some("sales"));
    assert_eq!(cdr.answered_step, Some(1));
    assert_eq!(cdr.answered_target, Some(label(T2)));
    assert_eq!(cdr.destination, "sip:74950000001@127.0.0.1:5082");
    assert_eq!(cdr.wait_secs, 7);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn parallel_cancels_the_losers_and_hangs_up_an_answer_that_crossed_the_cancel() {
    let mut h = Harness::new(&scheme(
        &[("parallel", &[(T1, 1), (T2, 1), (T3, 1)], "")],
        "",
    ));
    h.carrier_sends(&invite(1, "79161234567"));
    assert_eq!(h.invited(), [T1, T2, T3]);
    let ids: Vec<_> = [T1, T2, T3]
        .map(|p| h.last(p, Method::Invite).call_id().unwrap().to_string())
        .into();
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    for port in [T1, T2, T3] {
        h.answer(port, "180 Ringing");
    }
    h.answer(T2, "200 OK");
    assert_eq!(h.carrier_finals(), [200]);
    assert_eq!(h.sent(T1, Method::Cancel).len(), 1);
    assert_eq!(h.sent(T3, Method::Cancel).len(), 1);
    assert!(
        h.sent(T2, Method::Cancel).is_empty(),
        "the winner is not cancelled"
    );
    // T3's 200 crossed our CANCEL: ACK and BYE it, the call stays with T2.
    h.answer(T3, "200 OK");
    assert_eq!(h.sent(T3, Method::Ack).len(), 1);
    let bye = h.last(T3, Method::Bye);
    assert_eq!(bye.call_id(), h.last(T3, Method::Invite).call_id());
    assert_eq!(h.carrier_finals(), [200], "the late 200 is not relayed");
    h.answer(T1, "487 Request Terminated");
    h.respond(T3, &bye, "200 OK", "");
    assert!(h.sent(T2, Method::Bye).is_empty());
    assert_eq!(h.core.active_calls(), 1);
    let answered = h
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::Answered { .. }))
        .count();
    assert_eq!(answered, 1);
}

#[test]
fn failover_on_503_goes_to_the_next_step() {
    let steps = [
        ("sequential", &[(T1, 1)][..], ""),
        ("sequential", &[(T2, 1)][..], ""),
    ];
    let mut h = Harness::new(&scheme(&steps, ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "503 Service Unavailable");
    assert_eq!(h.sent(T1, Method::Ack).len(), 1);
    assert_eq!(h.invited(), [T1, T2]);
    h.answer(T2, "200 OK");
    assert_eq!(h.carrier_finals(), [200]);
    h.advance_to(1);
    h.core.abandon_all(h.now);
    h.collect();
    let cdr = h.cdr();
    assert_eq!(
        (cdr.answered_step, cdr.answered_target),
        (Some(2), Some(label(T2)))
    );
}

#[test]
fn not_found_ends_the_call_at_once_and_cancels_the_siblings() {
    let fallback = format!("fallback = \"{}\"", label(T3));
    let mut h = Harness::new(&scheme(&[("parallel", &[(T1, 1), (T2, 1)], "")], &fallback));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T2, "180 Ringing");
    h.answer(T1, "404 Not Found");
    assert_eq!(h.carrier_finals(), [404]);
    assert_eq!(h.sent(T2, Method::Cancel).len(), 1);
    assert_eq!(h.invited(), [T1, T2], "no fallback after a final status");
    h.answer(T2, "487 Request Terminated");
    let cdr = h.cdr();
    assert_eq!(
        (cdr.disposition, cdr.sip_status),
        (Disposition::Failed, 404)
    );
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn busy_from_the_last_target_ends_the_call_without_the_fallback() {
    let fallback = format!("fallback = \"{}\"", label(T3));
    let mut h = Harness::new(&scheme(
        &[("sequential", &[(T1, 1), (T2, 1)], "")],
        &fallback,
    ));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "486 Busy Here");
    assert_eq!(h.invited(), [T1, T2], "busy moves on to the next target");
    h.answer(T2, "486 Busy Here");
    assert_eq!(h.carrier_finals(), [486]);
    assert_eq!(h.invited(), [T1, T2]);
    assert_eq!(h.cdr().disposition, Disposition::Busy);
}

#[test]
fn fallback_is_rung_when_every_step_failed() {
    let fallback = format!("fallback = \"{}\"", label(T3));
    let mut h = Harness::new(&scheme(&[("sequential", &[(T1, 1)], "")], &fallback));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    h.advance_to(5);
    assert_eq!(h.invited(), [T1, T3]);
    h.answer(T3, "200 OK");
    h.core.abandon_all(h.now);
    h.collect();
    let cdr = h.cdr();
    assert_eq!(
        (cdr.answered_step, cdr.answered_target),
        (Some(2), Some(label(T3)))
    );
}

#[test]
fn caller_cancel_cancels_every_attempt() {
    let mut h = Harness::new(&scheme(&[("parallel", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "180 Ringing");
    h.carrier_sends(&carrier_cancel(1));
    assert_eq!(
        h.carrier_finals(),
        [200, 487],
        "200 to the CANCEL, 487 to the INVITE"
    );
    assert_eq!(h.sent(T1, Method::Cancel).len(), 1);
    assert!(
        h.sent(T2, Method::Cancel).is_empty(),
        "no CANCEL before a provisional"
    );
    h.answer(T2, "100 Trying");
    assert_eq!(
        h.sent(T2, Method::Cancel).len(),
        1,
        "sent once T2 is heard from"
    );
}

#[test]
fn early_media_comes_from_one_attempt_at_a_time() {
    let mut h = Harness::new(&scheme(&[("parallel", &[(T1, 1), (T2, 1)], "")], ""));
    h.carrier_sends(&invite(1, "79161234567"));
    let reliable = "Require: 100rel\nRSeq: 1\n";
    let t1 = h.last(T1, Method::Invite);
    h.respond(T1, &t1, "183 Session Progress", reliable);
    h.answer(T2, "180 Ringing");
    let provisionals = |h: &Harness| {
        h.to_carrier
            .iter()
            .filter_map(SipMessage::status)
            .filter(|s| (101..200).contains(s))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        provisionals(&h),
        [183],
        "T1 owns early media; T2's 180 is held back"
    );
    h.respond(T1, &t1, "480 Temporarily Unavailable", "");
    h.answer(T2, "180 Ringing");
    assert_eq!(provisionals(&h), [183, 180], "T1 is gone: T2 is heard");
}
