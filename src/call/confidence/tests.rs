//! The shipped confidence model: bounded, monotone in the obvious directions, and the facts
//! it is fed read from a lease and the lease table's ring context.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::lease::Visit;

const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);

fn base() -> RingFacts {
    RingFacts {
        pressure: 0.5,
        page_open: false,
        since_seen_secs: 600,
        other_holders: 1,
        earlier: Earlier::Unknown,
    }
}

fn p(facts: RingFacts) -> f64 {
    predict_with(&WEIGHTS, &facts)
}

#[test]
fn an_open_page_is_surer_than_a_closed_one() {
    let closed = base();
    let open = RingFacts {
        page_open: true,
        since_seen_secs: 30,
        ..base()
    };
    assert!(p(open) > p(closed));
}

#[test]
fn confidence_falls_with_time_since_seen_pressure_and_sharing() {
    for since in [60, 300, 900, 3600] {
        let sooner = RingFacts {
            since_seen_secs: since,
            ..base()
        };
        let later = RingFacts {
            since_seen_secs: since * 2,
            ..base()
        };
        assert!(p(sooner) > p(later), "since {since}");
    }
    for pressure in [0.0, 0.3, 0.6, 0.9] {
        let calm = RingFacts { pressure, ..base() };
        let busy = RingFacts {
            pressure: pressure + 0.1,
            ..base()
        };
        assert!(p(calm) > p(busy), "pressure {pressure}");
    }
    // The shipped fit found no signal in sharing once the rest is known (weight 0): never up.
    for others in 0..4 {
        let few = RingFacts {
            other_holders: others,
            ..base()
        };
        let more = RingFacts {
            other_holders: others + 1,
            ..base()
        };
        assert!(p(few) >= p(more), "others {others}");
    }
}

#[test]
fn a_repeat_caller_to_the_same_visitor_is_surer_than_a_new_one_and_a_changed_one_never_surer() {
    // A repeat caller dialling its earlier visit's number is attributed to that visit
    // (`call::repeat`), so "another visitor" is left for callers dialling a number their
    // earlier visit did not hold: the shipped fit finds no signal there (weight 0).
    let same = RingFacts {
        earlier: Earlier::Same,
        ..base()
    };
    let other = RingFacts {
        earlier: Earlier::Other,
        ..base()
    };
    assert!(p(same) > p(base()) && p(base()) >= p(other));
}

#[test]
fn every_shipped_weight_has_its_sign() {
    for (w, sign) in WEIGHTS.iter().zip(SIGNS) {
        assert!(w * sign >= 0.0, "{WEIGHTS:?}");
    }
}

#[test]
fn confidence_is_a_rounded_probability() {
    for facts in [
        base(),
        RingFacts {
            pressure: 1.0,
            other_holders: 9,
            since_seen_secs: 1 << 40,
            ..base()
        },
    ] {
        let c = confidence(&facts).get();
        assert!((0.0..=1.0).contains(&c));
        assert_eq!((c * 1000.0).round() / 1000.0, c);
    }
    assert_eq!(Confidence::new(f64::NAN).get(), 0.0);
    assert_eq!(Confidence::new(1.7).get(), 1.0);
    assert_eq!(Confidence::new(0.8764).header_value(), "0.88");
}

fn lease(visitor: Option<&str>, last_seen: Timestamp) -> Lease {
    Lease {
        session_id: "s1".into(),
        site: "shop".into(),
        pool: "web".into(),
        number: "74950000001".into(),
        visitor_id: visitor.map(str::to_owned),
        visit: Arc::new(Visit::default()),
        granted_at: T0,
        last_seen,
        expires_at: last_seen + SignedDuration::from_mins(15),
    }
}

#[test]
fn facts_from_a_lease_and_its_ring_context() {
    let ring = RingContext {
        pool_size: 10,
        busy: 8,
        other_holders: 2,
    };
    let now = T0 + SignedDuration::from_secs(100);
    let beat = Duration::from_secs(30);
    let l = lease(Some("v1"), T0 + SignedDuration::from_secs(50));
    let f = ring_facts(&l, &ring, beat, Some("v1"), now);
    assert_eq!(f.since_seen_secs, 50);
    assert!(f.page_open, "50 s <= two heartbeats of 30 s");
    assert_eq!((f.pressure, f.other_holders), (0.8, 2));
    assert_eq!(f.earlier, Earlier::Same);
    let f = ring_facts(
        &l,
        &ring,
        beat,
        Some("v2"),
        now + SignedDuration::from_secs(11),
    );
    assert!(!f.page_open);
    assert_eq!(f.earlier, Earlier::Other);
    let anonymous = lease(None, T0);
    assert_eq!(holder_key(&anonymous), "s1");
    assert_eq!(
        ring_facts(&anonymous, &ring, beat, None, now).earlier,
        Earlier::Unknown
    );
}

#[test]
fn a_code_is_its_visits_alone_and_ages_like_a_lease() {
    let beat = Duration::from_secs(30);
    let code = OverflowCode {
        session_id: "s9".into(),
        site: "shop".into(),
        code: "417".into(),
        visitor_id: Some("v9".into()),
        visit: Arc::new(Visit::default()),
        issued_at: T0,
        last_seen: T0 + SignedDuration::from_secs(20),
        expires_at: T0 + SignedDuration::from_mins(20),
        freeze: Duration::from_secs(1200),
        cooldown: Duration::from_secs(60),
    };
    let now = T0 + SignedDuration::from_secs(50);
    let f = code_facts(&code, beat, Some("v9"), now);
    assert_eq!(
        (f.pressure, f.other_holders),
        (0.0, 0),
        "nobody shares a code"
    );
    assert_eq!(f.since_seen_secs, 30);
    assert!(f.page_open);
    assert_eq!(f.earlier, Earlier::Same);
    let fresh = confidence(&f).get();
    let later = now + SignedDuration::from_mins(15);
    let stale = confidence(&code_facts(&code, beat, Some("v1"), later)).get();
    assert!(fresh > 0.95, "{fresh}");
    assert!(stale < fresh, "{stale} < {fresh}");
    assert_eq!(code_facts(&code, beat, None, now).earlier, Earlier::Unknown);
}

#[test]
fn only_lease_holders_get_facts() {
    let table = LeaseTable::new(Vec::new());
    for holder in [Holder::Nobody, Holder::Default, Holder::Reserve] {
        assert!(facts_of(&holder, &table, Duration::from_secs(30), None, T0).is_none());
    }
}
