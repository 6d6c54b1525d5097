//! Overflow codes on a virtual clock with a seeded random source.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::lease::VisitFields;

const FREEZE: Duration = Duration::from_secs(900);
const COOLDOWN: Duration = Duration::from_secs(600);

fn t0() -> Timestamp {
    "2026-12-06T12:00:00Z".parse().unwrap()
}

fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

fn request(session: &str, visitor: Option<&str>) -> CodeRequest {
    CodeRequest {
        session_id: session.into(),
        site: "shop".into(),
        visitor_id: visitor.map(Into::into),
        visit: Visit::from(VisitFields {
            utm_source: Some(format!("src-{session}")),
            ..VisitFields::default()
        }),
        freeze: FREEZE,
        cooldown: COOLDOWN,
    }
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

#[test]
fn a_code_names_its_visit_until_the_freeze_runs_out() {
    let codes = OverflowCodes::default();
    let held = codes.issue(request("a", None), t0(), &mut rng()).unwrap();
    assert_eq!(
        held.code.len(),
        3,
        "the first codes are short: {}",
        held.code
    );
    assert_eq!(held.expires_at, at(900));
    let CodeMatch::Found(found) = codes.lookup("shop", &held.code, at(899)) else {
        panic!("the live code is found");
    };
    assert_eq!(found.visit.utm_source(), Some("src-a"));
    assert_eq!(codes.lookup("shop", &held.code, at(900)), CodeMatch::None);
    assert_eq!(codes.lookup("other", &held.code, at(1)), CodeMatch::None);
}

#[test]
fn digits_so_far_wait_for_more_only_while_they_start_a_code() {
    let codes = OverflowCodes::default();
    let held = codes.issue(request("a", None), t0(), &mut rng()).unwrap();
    assert_eq!(
        codes.lookup("shop", &held.code[..1], t0()),
        CodeMatch::Partial
    );
    assert_eq!(
        codes.lookup("shop", &held.code[..2], t0()),
        CodeMatch::Partial
    );
    assert_eq!(codes.lookup("shop", "", t0()), CodeMatch::None);
    assert_eq!(codes.lookup("shop", "0", t0()), CodeMatch::None);
    assert_eq!(codes.lookup("shop", "12345", t0()), CodeMatch::None);
    assert_eq!(codes.lookup("shop", "4#", t0()), CodeMatch::None);
}

#[test]
fn heartbeats_keep_a_code_and_the_same_visitor_gets_it_back() {
    let codes = OverflowCodes::default();
    let held = codes
        .issue(request("a", Some("v1")), t0(), &mut rng())
        .unwrap();
    let beat = codes.heartbeat("a", at(800)).unwrap();
    assert_eq!(beat.expires_at, at(1700));
    let again = codes
        .issue(request("b", Some("v1")), at(1000), &mut rng())
        .unwrap();
    assert_eq!((again.code, again.session_id), (held.code, "a".to_owned()));
    assert!(codes.heartbeat("nobody", at(1000)).is_none());
    assert!(codes.heartbeat("a", at(2000)).is_none(), "over at 1900");
}

#[test]
fn an_ended_code_rests_before_anyone_else_gets_it() {
    let codes = OverflowCodes::default();
    let first = codes.issue(request("a", None), t0(), &mut rng()).unwrap();
    assert_eq!(codes.expire(at(899)), 0);
    assert_eq!(codes.expire(at(900)), 1);
    assert_eq!(codes.live("shop"), 0);
    // The same seed draws the same code first: it must be skipped while resting.
    let second = codes
        .issue(request("b", None), at(901), &mut rng())
        .unwrap();
    assert_ne!(second.code, first.code);
    // A caller with the ended code is not attributed to anyone.
    assert_eq!(codes.lookup("shop", &first.code, at(901)), CodeMatch::None);
    codes.expire(at(1500));
    let third = codes
        .issue(request("c", None), at(1501), &mut rng())
        .unwrap();
    assert_eq!(third.code, first.code, "free again after the cool-down");
}

#[test]
fn codes_stay_unique_and_prefix_free_as_they_grow_to_four_digits() {
    let codes = OverflowCodes::default();
    let mut rng = rng();
    let mut issued = Vec::new();
    for i in 0..3_000 {
        let held = codes
            .issue(request(&format!("s{i}"), None), t0(), &mut rng)
            .unwrap();
        issued.push(held.code);
    }
    assert_eq!(issued.iter().filter(|c| c.len() == 3).count(), 450);
    for (i, a) in issued.iter().enumerate() {
        for b in &issued[i + 1..] {
            assert!(
                !a.starts_with(b.as_str()) && !b.starts_with(a.as_str()),
                "{a} / {b}"
            );
        }
    }
    for code in issued.iter().step_by(97) {
        assert!(matches!(
            codes.lookup("shop", code, t0()),
            CodeMatch::Found(_)
        ));
    }
}

#[test]
fn a_full_site_says_so() {
    let codes = OverflowCodes::default();
    let mut rng = rng();
    let mut full = None;
    for i in 0..10_000 {
        if let Err(e) = codes.issue(request(&format!("s{i}"), None), t0(), &mut rng) {
            full = Some((i, e));
            break;
        }
    }
    let (issued, error) = full.expect("the codes run out");
    assert_eq!(error, CodeError::Full);
    assert!((4_000..=5_000).contains(&issued), "{issued} codes issued");
}

#[test]
fn a_snapshot_restores_live_codes_only() {
    let codes = OverflowCodes::default();
    let a = codes.issue(request("a", None), t0(), &mut rng()).unwrap();
    let b = codes
        .issue(request("b", None), at(500), &mut rng())
        .unwrap();
    let saved = codes.snapshot();
    assert_eq!(saved, vec![a.clone(), b.clone()]);
    let restarted = OverflowCodes::default();
    assert_eq!(
        restarted.restore(saved.clone(), at(1000)),
        1,
        "a ended at 900"
    );
    assert!(matches!(
        restarted.lookup("shop", &b.code, at(1000)),
        CodeMatch::Found(_)
    ));
    let mut forged = b.clone();
    forged.session_id = "c".into();
    forged.code = "0417".into();
    assert_eq!(restarted.restore(vec![forged], at(1000)), 0);
}
