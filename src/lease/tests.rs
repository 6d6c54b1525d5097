//! Lease table behaviour on a virtual clock: freeze, heartbeats, LRU with cool-down, calls in
//! progress, exhaustion, returning visitors, restore, stats, and concurrent use.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use jiff::{SignedDuration, Timestamp};

use super::*;

const T0: Timestamp = Timestamp::constant(1772366400, 0) /* 2026-03-01T12:00:00Z */;
const FREEZE: SignedDuration = SignedDuration::from_mins(10);

fn at(secs: i64) -> Timestamp {
    T0 + SignedDuration::from_secs(secs)
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("7495000{i:04}")).collect()
}

fn table(n: usize) -> LeaseTable {
    LeaseTable::new(vec![PoolSpec {
        site: "shop".into(),
        pool: "web".into(),
        numbers: numbers(n),
        freeze: StdDuration::from_secs(600),
        cooldown: StdDuration::from_secs(60),
    }])
}

fn request(session: &str, visitor: Option<&str>) -> GrantRequest {
    GrantRequest {
        session_id: session.into(),
        site: "shop".into(),
        pool: "web".into(),
        visitor_id: visitor.map(Into::into),
        visit: VisitFields {
            utm_source: Some("google".into()),
            ..VisitFields::default()
        }
        .into(),
    }
}

fn grant(t: &LeaseTable, session: &str, now: Timestamp) -> Result<Lease, LeaseError> {
    t.grant(request(session, None), now)
}

fn holder(t: &LeaseTable, number: &str, now: Timestamp) -> Option<String> {
    t.holder_of(number, now).map(|l| l.session_id)
}

#[test]
fn lease_freezes_for_the_freeze_time_after_the_grant() {
    let t = table(2);
    let lease = grant(&t, "a", T0).unwrap();
    assert_eq!(
        (lease.number.as_str(), lease.expires_at),
        ("74950000000", T0 + FREEZE)
    );
    assert_eq!(lease.visit.utm_source(), Some("google"));
    assert_eq!(holder(&t, "74950000000", at(599)).as_deref(), Some("a"));
    assert_eq!(holder(&t, "74950000000", at(600)), None);
    assert_eq!(t.expire(at(599)), 0);
    assert_eq!(t.expire(at(600)), 1);
    assert!(t.session("a").is_none() && t.is_empty());
}

#[test]
fn heartbeat_extends_and_a_late_one_is_refused() {
    let t = table(1);
    grant(&t, "a", T0).unwrap();
    let lease = t.heartbeat("a", at(300)).unwrap();
    assert_eq!((lease.last_seen, lease.expires_at), (at(300), at(900)));
    assert_eq!(t.expire(at(899)), 0);
    assert_eq!(holder(&t, "74950000000", at(899)).as_deref(), Some("a"));
    assert!(
        t.heartbeat("a", at(900)).is_none(),
        "over, though not swept yet"
    );
    assert!(t.heartbeat("nobody", at(900)).is_none());
    assert_eq!(t.expire(at(900)), 1);
}

#[test]
fn release_starts_the_freeze_now() {
    let t = table(1);
    grant(&t, "a", T0).unwrap();
    t.heartbeat("a", at(300)).unwrap();
    let lease = t.release("a", at(360)).unwrap();
    assert_eq!(lease.expires_at, at(960));
    assert_eq!(holder(&t, "74950000000", at(959)).as_deref(), Some("a"));
    assert_eq!(t.expire(at(960)), 1);
}

#[test]
fn a_free_number_remembers_its_last_holder_until_someone_else_holds_it() {
    let t = table(1);
    let number = grant(&t, "a", T0).unwrap().number;
    let last = |now| {
        t.last_holder(&number, now)
            .map(|(l, ended)| (l.session_id, ended))
    };
    assert_eq!(last(at(10)), None, "a holds it");
    t.release("a", at(60));
    assert_eq!(
        last(at(660)),
        Some(("a".into(), at(660))),
        "freeze over, not swept yet"
    );
    t.expire(at(700));
    assert_eq!(last(at(700)), Some(("a".into(), at(660))), "swept");
    grant(&t, "b", at(800)).unwrap();
    assert_eq!(last(at(800)), None, "b holds it");
    t.release("b", at(810));
    t.expire(at(1500));
    assert_eq!(
        last(at(1500)),
        Some(("b".into(), at(1410))),
        "b, not a, held it last"
    );
    assert_eq!(t.last_holder("nope", at(1500)), None);
}

#[test]
fn number_free_longest_goes_first() {
    let t = table(3);
    for s in ["a", "b", "c"] {
        grant(&t, s, T0).unwrap();
    }
    t.heartbeat("c", at(60)).unwrap(); // ends at 660
    t.heartbeat("a", at(120)).unwrap(); // ends at 720; b ends at 600
    assert_eq!(t.expire(at(780)), 3);
    let order: Vec<String> = ["d", "e", "f"]
        .iter()
        .map(|s| grant(&t, s, at(1200)).unwrap().number)
        .collect();
    assert_eq!(order, ["74950000001", "74950000002", "74950000000"]);
}

#[test]
fn released_number_rests_for_the_cooldown() {
    let t = table(1);
    grant(&t, "a", T0).unwrap();
    assert_eq!(t.expire(at(600)), 1);
    assert!(matches!(
        grant(&t, "b", at(659)),
        Err(LeaseError::Exhausted)
    ));
    assert_eq!(grant(&t, "b", at(660)).unwrap().number, "74950000000");
}

#[test]
fn ringing_number_is_neither_expired_nor_reissued() {
    let t = table(1);
    grant(&t, "a", T0).unwrap();
    t.call_started("74950000000");
    assert_eq!(t.expire(at(3600)), 0, "a call is on it");
    assert_eq!(holder(&t, "74950000000", at(3600)).as_deref(), Some("a"));
    assert!(matches!(
        grant(&t, "b", at(3600)),
        Err(LeaseError::Exhausted)
    ));
    t.call_ended("74950000000", at(3700));
    assert_eq!(holder(&t, "74950000000", at(3700)), None);
    assert_eq!(t.expire(at(3700)), 1);
    assert!(
        grant(&t, "b", at(3759)).is_err(),
        "rests from the call's end"
    );
    assert!(grant(&t, "b", at(3760)).is_ok());
}

#[test]
fn call_to_a_free_number_blocks_it_until_it_ends() {
    let t = table(1);
    t.call_started("74950000000");
    t.call_started("79990000000"); // not a pool number: ignored
    assert!(grant(&t, "a", T0).is_err());
    t.call_ended("74950000000", at(10));
    assert!(grant(&t, "a", at(69)).is_err());
    assert!(grant(&t, "a", at(70)).is_ok());
}

#[test]
fn exhaustion_is_an_error_and_counted() {
    let t = table(1);
    grant(&t, "a", T0).unwrap();
    assert!(matches!(grant(&t, "b", T0), Err(LeaseError::Exhausted)));
    assert_eq!(
        t.stats(T0)[0].exhausted_total,
        0,
        "a refused grant is not counted: the reserve number shown is"
    );
    t.count_exhausted("shop", "web");
    t.count_exhausted("shop", "nope");
    assert_eq!(t.stats(T0)[0].exhausted_total, 1);
    let unknown = GrantRequest {
        pool: "nope".into(),
        ..request("c", None)
    };
    assert!(matches!(t.grant(unknown, T0), Err(LeaseError::UnknownPool)));
}

#[test]
fn returning_visitor_with_a_live_lease_gets_that_lease() {
    let t = table(2);
    let first = t.grant(request("s1", Some("v")), T0).unwrap();
    let again = t.grant(request("s2", Some("v")), at(60)).unwrap();
    assert_eq!(again.session_id, "s1", "the original session id");
    assert_eq!((again.number, again.expires_at), (first.number, at(660)));
    assert_eq!(t.len(), 1);
    let same_id = grant(&t, "s1", at(120)).unwrap();
    assert_eq!(same_id.expires_at, at(720));
    assert_eq!(t.stats(at(120))[0].granted_total, 1);
}

#[test]
fn returning_visitor_gets_its_last_number_back_when_free() {
    let t = table(3);
    let first = t.grant(request("s1", Some("v")), T0).unwrap();
    assert_eq!(t.expire(at(600)), 1);
    // Within the cool-down, and although two numbers have been free longer.
    let back = t.grant(request("s2", Some("v")), at(610)).unwrap();
    assert_eq!(
        (back.session_id.as_str(), back.number),
        ("s2", first.number)
    );
}

#[test]
fn returning_visitor_whose_number_is_taken_gets_the_lru_one() {
    let t = table(2);
    t.grant(request("s1", Some("v")), T0).unwrap(); // number 0
    grant(&t, "y", T0).unwrap(); // number 1
    t.heartbeat("y", at(500)).unwrap(); // until 1100
    assert_eq!(t.expire(at(600)), 1);
    assert_eq!(grant(&t, "x", at(700)).unwrap().number, "74950000000");
    assert_eq!(t.expire(at(1100)), 1);
    let back = t.grant(request("s2", Some("v")), at(1200)).unwrap();
    assert_eq!(back.number, "74950000001");
    assert!(t.grant(request("s3", Some("w")), at(1200)).is_err());
}

#[test]
fn restore_after_restart_keeps_live_leases_only() {
    let before = table(3);
    before.grant(request("a", Some("va")), T0).unwrap();
    grant(&before, "b", at(100)).unwrap();
    let snapshot = before.snapshot();
    let after = table(3);
    after.restore(snapshot.clone(), at(650));
    assert_eq!(after.len(), 1, "a expired at 600");
    assert_eq!(holder(&after, "74950000001", at(650)).as_deref(), Some("b"));
    after.restore(snapshot, at(650));
    assert_eq!(after.len(), 1, "restoring twice changes nothing");
    let c = grant(&after, "c", at(650)).unwrap();
    assert_ne!(c.number, "74950000001");
}

#[test]
fn restore_drops_leases_of_unknown_pools_and_numbers() {
    let t = table(1);
    let mut lease = grant(&table(1), "a", T0).unwrap();
    lease.number = "70000000000".into();
    t.restore(vec![lease.clone()], T0);
    lease.pool = "gone".into();
    t.restore(vec![lease], T0);
    assert!(t.is_empty());
}

#[test]
fn stats_count_each_state() {
    let t = table(5);
    grant(&t, "a", T0).unwrap(); // number 0: leased
    grant(&t, "b", T0).unwrap(); // number 1: released below
    t.release("b", at(0)).unwrap();
    t.heartbeat("a", at(550)).unwrap();
    assert_eq!(t.expire(at(600)), 1);
    t.call_started("74950000002"); // ringing, no lease
    t.call_started("74950000000"); // ringing, leased
    let s = &t.stats(at(630))[0];
    assert_eq!(
        (s.site.as_str(), s.pool.as_str(), s.size),
        ("shop", "web", 5)
    );
    assert_eq!((s.leased, s.ringing, s.cooling, s.free), (1, 2, 1, 2));
    assert_eq!((s.granted_total, s.exhausted_total), (2, 0));
    assert_eq!(t.stats(at(660))[0].cooling, 0);
}

#[test]
fn duplicate_pools_and_numbers_are_ignored() {
    let spec = |pool: &str, numbers: Vec<String>| PoolSpec {
        site: "shop".into(),
        pool: pool.into(),
        numbers,
        freeze: StdDuration::from_secs(60),
        cooldown: StdDuration::ZERO,
    };
    let t = LeaseTable::new(vec![
        spec("a", numbers(2)),
        spec("a", numbers(5)),
        spec("b", numbers(3)),
    ]);
    let sizes: Vec<usize> = t.stats(T0).iter().map(|s| s.size).collect();
    assert_eq!(sizes, [2, 1]);
}

#[test]
fn concurrent_grants_never_share_a_number() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 3000;
    let t = Arc::new(table(64));
    let clock = Arc::new(AtomicI64::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|w| {
            let (t, clock) = (t.clone(), clock.clone());
            std::thread::spawn(move || {
                let mut granted = 0;
                for i in 0..ROUNDS {
                    let now =
                        T0 + SignedDuration::from_millis(clock.fetch_add(50, Ordering::Relaxed));
                    let visitor = format!("v{}", (w * 7 + i) % 100);
                    let session = format!("w{w}-{i}");
                    if let Ok(lease) = t.grant(request(&session, Some(&visitor)), now) {
                        granted += 1;
                        t.heartbeat(&lease.session_id, now);
                        if i % 3 == 0 {
                            t.release(&lease.session_id, now);
                        }
                        if i % 50 == 0 {
                            t.call_started(&lease.number);
                            t.call_ended(&lease.number, now);
                        }
                    }
                    if i % 10 == 0 {
                        t.expire(now);
                    }
                }
                granted
            })
        })
        .collect();
    let granted: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(granted > 0);
    let leases = t.snapshot();
    let distinct: HashSet<&str> = leases.iter().map(|l| l.number.as_str()).collect();
    assert_eq!(distinct.len(), leases.len(), "a number held twice");
    for lease in &leases {
        let held = t.holder_of(
            &lease.number,
            lease.expires_at - SignedDuration::from_millis(1),
        );
        assert_eq!(held.map(|l| l.session_id), Some(lease.session_id.clone()));
    }
    let now = T0 + SignedDuration::from_millis(clock.load(Ordering::Relaxed));
    let s = &t.stats(now)[0];
    assert_eq!(s.leased, leases.len());
    assert_eq!(s.leased + s.cooling + s.free, s.size);
}
