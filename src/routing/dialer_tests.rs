//! Dialer rules on hand-built plans and a virtual clock.

use std::time::{Duration, Instant};

use super::super::rotation::tests::target;
use super::super::{FailoverRules, RoutePlan, StepPlan, Strategy, TargetPlan};
use super::*;

fn step(strategy: Strategy, targets: &[(&str, u64)]) -> StepPlan {
    StepPlan {
        strategy,
        targets: targets
            .iter()
            .map(|(label, secs)| TargetPlan {
                ring_timeout: Duration::from_secs(*secs),
                ..target(label, 1)
            })
            .collect(),
        step_timeout: None,
        sticky: false,
    }
}

fn plan(steps: Vec<StepPlan>, fallback: Option<&str>) -> RoutePlan {
    RoutePlan {
        scheme: "sales".into(),
        reason: "test".into(),
        after_hours: false,
        steps,
        fallback: fallback.map(|l| target(l, 1)),
        failover: FailoverRules::default(),
        counted: true,
    }
}

/// The dialer plus its clock and rotation; actions rendered as text for short asserts.
struct Run {
    d: Dialer,
    rot: Rotation,
    t0: Instant,
}

impl Run {
    fn new(p: RoutePlan) -> (Run, String) {
        let mut run = Run {
            d: Dialer::new(p, "79161234567"),
            rot: Rotation::default(),
            t0: Instant::now(),
        };
        let out = run.d.start(run.t0, &mut run.rot);
        let text = run.show(&out);
        (run, text)
    }

    fn show(&self, actions: &[Action]) -> String {
        let name = |id: AttemptId| self.d.target(id).unwrap().label.clone();
        actions
            .iter()
            .map(|a| match a {
                Action::Ring(id) => format!("ring {}", name(*id)),
                Action::Cancel(id) => format!("cancel {}", name(*id)),
                Action::GiveUp(f) => format!("give up {}", f.caller_status().0),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn fail(&mut self, id: AttemptId, code: u16) -> String {
        let out = self
            .d
            .on_outcome(self.t0, id, Outcome::Status(code), &mut self.rot);
        self.show(&out)
    }

    fn at(&mut self, secs: u64) -> String {
        let out = self
            .d
            .on_timeout(self.t0 + Duration::from_secs(secs), &mut self.rot);
        self.show(&out)
    }
}

#[test]
fn sequential_hunts_after_each_ring_timeout() {
    let (mut r, first) = Run::new(plan(
        vec![step(Strategy::Sequential, &[("a", 5), ("b", 7)])],
        None,
    ));
    assert_eq!(first, "ring a");
    assert_eq!(r.d.next_deadline(), Some(r.t0 + Duration::from_secs(5)));
    assert_eq!(r.at(4), "");
    assert_eq!(r.at(5), "cancel a, ring b");
    assert_eq!(r.d.next_deadline(), Some(r.t0 + Duration::from_secs(12)));
    assert_eq!(r.at(12), "cancel b, give up 480");
    assert_eq!(r.d.next_deadline(), None);
}

#[test]
fn late_outcome_of_a_cancelled_attempt_is_ignored() {
    let (mut r, _) = Run::new(plan(
        vec![step(Strategy::Sequential, &[("a", 5), ("b", 5)])],
        None,
    ));
    r.at(5);
    assert_eq!(r.fail(0, 487), "", "our own CANCEL's 487 changes nothing");
    assert!(r.d.is_live(1));
}

#[test]
fn parallel_rings_all_and_the_answer_cancels_the_rest() {
    let (mut r, first) = Run::new(plan(
        vec![step(Strategy::Parallel, &[("a", 9), ("b", 9), ("c", 9)])],
        None,
    ));
    assert_eq!(first, "ring a, ring b, ring c");
    assert_eq!(r.fail(0, 486), "", "siblings still ring");
    let out = r.d.on_answer(2, &mut r.rot);
    assert_eq!(r.show(&out), "cancel b");
    assert_eq!(r.d.position(2), Some((1, "c".into())));
    assert_eq!(r.d.next_deadline(), None);
}

#[test]
fn parallel_step_fails_over_when_every_target_failed() {
    let steps = vec![
        step(Strategy::Parallel, &[("a", 9), ("b", 9)]),
        step(Strategy::Sequential, &[("c", 9)]),
    ];
    let (mut r, _) = Run::new(plan(steps, None));
    assert_eq!(r.fail(1, 503), "");
    assert_eq!(r.fail(0, 480), "ring c");
    assert_eq!(r.d.position(2), Some((2, "c".into())));
}

#[test]
fn failover_on_503_goes_to_the_next_step() {
    let steps = vec![
        step(Strategy::Sequential, &[("a", 9)]),
        step(Strategy::Sequential, &[("b", 9)]),
    ];
    let (mut r, _) = Run::new(plan(steps, None));
    assert_eq!(r.fail(0, 503), "ring b");
    assert_eq!(
        r.fail(1, 503),
        "give up 500",
        "a 503 is never relayed upstream"
    );
}

#[test]
fn status_outside_the_failover_list_ends_the_call_and_cancels_siblings() {
    let (mut r, _) = Run::new(plan(
        vec![step(Strategy::Parallel, &[("a", 9), ("b", 9)])],
        Some("vm"),
    ));
    assert_eq!(r.fail(0, 404), "cancel b, give up 404");
    let (mut r, _) = Run::new(plan(
        vec![step(Strategy::Sequential, &[("a", 9), ("b", 9)])],
        Some("vm"),
    ));
    assert_eq!(
        r.fail(0, 603),
        "give up 603",
        "603 is not a failover status"
    );
}

#[test]
fn busy_from_the_last_target_ends_the_call_instead_of_the_fallback() {
    let (mut r, _) = Run::new(plan(
        vec![step(Strategy::Sequential, &[("a", 9), ("b", 9)])],
        Some("vm"),
    ));
    assert_eq!(
        r.fail(0, 486),
        "ring b",
        "busy fails over to the next target"
    );
    assert_eq!(r.fail(1, 486), "give up 486");
}

#[test]
fn fallback_is_rung_after_the_last_step_fails() {
    let steps = vec![
        step(Strategy::Sequential, &[("a", 5)]),
        step(Strategy::Sequential, &[("b", 5)]),
    ];
    let (mut r, _) = Run::new(plan(steps, Some("vm")));
    assert_eq!(r.fail(0, 500), "ring b");
    assert_eq!(r.at(5), "cancel b, ring vm");
    assert_eq!(
        r.d.position(2),
        Some((3, "vm".into())),
        "the fallback is step 3"
    );
    assert_eq!(r.fail(2, 480), "give up 480", "the fallback is rung once");
}

#[test]
fn configured_final_statuses_and_timeouts() {
    let mut p = plan(vec![step(Strategy::Sequential, &[("a", 5)])], Some("vm"));
    p.failover.final_statuses = vec![];
    let (mut r, _) = Run::new(p.clone());
    assert_eq!(r.fail(0, 486), "ring vm", "486 not final: fallback rung");
    p.failover.failover_on_timeout = false;
    let (mut r, _) = Run::new(p.clone());
    assert_eq!(r.at(5), "cancel a, give up 480");
    let (mut r, _) = Run::new(p);
    let out = r.d.on_outcome(r.t0, 0, Outcome::Unreachable, &mut r.rot);
    assert_eq!(r.show(&out), "give up 408");
}

#[test]
fn step_timeout_cancels_the_step_and_moves_on() {
    let mut first = step(Strategy::Sequential, &[("a", 5), ("b", 5), ("c", 5)]);
    first.step_timeout = Some(Duration::from_secs(8));
    let (mut r, _) = Run::new(plan(
        vec![first, step(Strategy::Sequential, &[("d", 5)])],
        None,
    ));
    assert_eq!(r.at(5), "cancel a, ring b");
    assert_eq!(r.d.next_deadline(), Some(r.t0 + Duration::from_secs(8)));
    assert_eq!(r.at(8), "cancel b, ring d");
}

#[test]
fn round_robin_rotates_across_calls_with_weights() {
    let mut rr = step(Strategy::RoundRobin, &[("a", 5), ("b", 5)]);
    rr.targets[0].weight = 2;
    let p = plan(vec![rr], None);
    let mut rot = Rotation::default();
    let mut firsts = String::new();
    for _ in 0..6 {
        let mut d = Dialer::new(p.clone(), "7000");
        let out = d.start(Instant::now(), &mut rot);
        assert_eq!(out, vec![Action::Ring(0)]);
        firsts.push_str(&d.target(0).unwrap().label);
    }
    assert_eq!(firsts, "abaaba");
}

#[test]
fn round_robin_hunts_the_rest_after_the_first() {
    let (mut r, first) = Run::new(plan(
        vec![step(Strategy::RoundRobin, &[("a", 5), ("b", 5), ("c", 5)])],
        None,
    ));
    assert_eq!(first, "ring a");
    assert_eq!(r.fail(0, 480), "ring b");
    assert_eq!(r.fail(1, 480), "ring c");
}

#[test]
fn sticky_round_robin_offers_the_last_answering_target_first() {
    let mut rr = step(Strategy::RoundRobin, &[("a", 5), ("b", 5)]);
    rr.sticky = true;
    let p = plan(vec![rr], None);
    let mut rot = Rotation::default();
    let now = Instant::now();
    let mut d = Dialer::new(p.clone(), "7916");
    d.start(now, &mut rot);
    d.on_outcome(now, 0, Outcome::Status(480), &mut rot);
    assert_eq!(d.target(1).unwrap().label, "b");
    d.on_answer(1, &mut rot);
    for _ in 0..3 {
        let mut d = Dialer::new(p.clone(), "7916");
        d.start(now, &mut rot);
        assert_eq!(d.target(0).unwrap().label, "b", "repeat caller goes to b");
    }
    let mut d = Dialer::new(p, "7000");
    d.start(now, &mut rot);
    assert_eq!(d.target(0).unwrap().label, "b", "others keep rotating");
}

#[test]
fn stop_lists_every_live_attempt() {
    let (mut r, _) = Run::new(plan(
        vec![step(Strategy::Parallel, &[("a", 5), ("b", 5)])],
        None,
    ));
    assert_eq!(r.d.stop(), vec![0, 1]);
    assert_eq!(r.at(9), "");
    assert_eq!(r.fail(0, 503), "");
}
