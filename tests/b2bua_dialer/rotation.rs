//! Round robin and stickiness over calls (see `b2bua_dialer.rs`).

use super::*;

#[test]
fn round_robin_rotates_over_calls_with_weights() {
    let mut h = Harness::new(&scheme(&[("round_robin", &[(T1, 2), (T2, 1)], "")], ""));
    for call in 1..=6 {
        h.carrier_sends(&invite(call, "79161234567"));
    }
    assert_eq!(h.invited(), [T1, T2, T1, T1, T2, T1]);
}

#[test]
fn round_robin_hunts_the_next_target_after_a_failure() {
    let mut h = Harness::new(&scheme(
        &[("round_robin", &[(T1, 1), (T2, 1), (T3, 1)], "")],
        "",
    ));
    h.carrier_sends(&invite(1, "7000"));
    h.carrier_sends(&invite(2, "7001"));
    assert_eq!(h.invited(), [T1, T2]);
    h.answer(T2, "480 Temporarily Unavailable");
    assert_eq!(h.invited(), [T1, T2, T3], "call 2 hunts on from T2");
}

#[test]
fn sticky_round_robin_offers_a_repeat_caller_to_who_answered_them() {
    let steps = [(
        "round_robin",
        &[(T1, 1), (T2, 1), (T3, 1)][..],
        "sticky = true",
    )];
    let mut h = Harness::new(&scheme(&steps, ""));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, "486 Busy Here");
    assert_eq!(h.invited(), [T1, T2]);
    h.answer(T2, "200 OK");
    h.carrier_sends(&invite(2, "79161234567"));
    assert_eq!(
        h.invited(),
        [T1, T2, T2],
        "the repeat caller goes to T2 first"
    );
    h.carrier_sends(&invite(3, "74990000000"));
    assert_eq!(h.invited(), [T1, T2, T2, T2], "others keep the rotation");
}
