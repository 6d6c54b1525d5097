//! Tests of the calls filter parser.

use super::*;

fn parse(pairs: &[(&str, &str)]) -> Result<CallQuery, Vec<String>> {
    let moscow = |site: &str| (site == "msk").then(|| TimeZone::fixed(jiff::tz::offset(3)));
    CallQuery::parse(pairs.iter().copied(), &moscow)
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn no_pairs_is_the_newest_fifty() {
    let q = parse(&[]).unwrap();
    assert_eq!(q, CallQuery::default());
    assert_eq!((q.sort, q.limit), (Sort::Newest, DEFAULT_LIMIT));
}

#[test]
fn every_filter_is_read() {
    let q = parse(&[
        ("from", "2026-11-01T00:00:00+03:00"),
        ("to", "2026-11-30"),
        ("source", "google"),
        ("medium", "cpc"),
        ("campaign", "winter"),
        ("tracking_number", "+74951234567"),
        ("caller", "79161112233"),
        ("disposition", "no_answer"),
        ("first_time", "true"),
        ("quality", "0"),
        ("missed", "false"),
        ("sort", "started_at"),
        ("limit", "500"),
    ])
    .unwrap();
    let f = &q.filter;
    assert_eq!(f.from, Some(at("2026-10-31T21:00:00Z")));
    assert_eq!(
        f.to,
        Some(at("2026-12-01T00:00:00Z")),
        "a to date includes the day"
    );
    assert_eq!(f.tracking_number.as_deref(), Some("74951234567"));
    assert_eq!(f.disposition, Some(Disposition::NoAnswer));
    assert_eq!(
        (f.first_time, f.quality, f.missed),
        (Some(true), Some(false), Some(false))
    );
    assert_eq!((q.sort, q.limit), (Sort::Oldest, 500));
}

#[test]
fn dates_are_midnight_in_the_sites_zone() {
    let q = parse(&[
        ("from", "2026-11-23"),
        ("site", "msk"),
        ("to", "2026-11-23"),
    ])
    .unwrap();
    assert_eq!(q.filter.from, Some(at("2026-11-22T21:00:00Z")));
    assert_eq!(q.filter.to, Some(at("2026-11-23T21:00:00Z")));
    let utc = parse(&[("from", "2026-11-23"), ("site", "other")]).unwrap();
    assert_eq!(utc.filter.from, Some(at("2026-11-23T00:00:00Z")));
}

#[test]
fn every_problem_is_listed_with_what_is_allowed() {
    let problems = parse(&[
        ("form", "2026-11-01"),
        ("from", "yesterday"),
        ("disposition", "hung"),
        ("limit", "501"),
        ("sort", "caller"),
        ("missed", "yes"),
        ("cursor", "abc"),
        ("source", ""),
        ("source", "google"),
    ])
    .unwrap_err();
    assert_eq!(problems.len(), 9, "{problems:#?}");
    assert!(problems[0].starts_with("form: unknown filter; allowed: from, to, site"));
    assert!(problems[2].contains("answered, no_answer, busy"));
    assert!(problems[3].contains("from 1 to 500"));
    assert!(problems[8].contains("more than once"));
}

#[test]
fn to_must_follow_from() {
    let problems = parse(&[("from", "2026-11-23"), ("to", "2026-11-22")]).unwrap_err();
    assert!(
        problems[0].starts_with("to: must be after from"),
        "{problems:?}"
    );
}

#[test]
fn cursors_round_trip() {
    let cursor = Cursor {
        started_at: "2026-11-23T03:20:00.123Z".into(),
        seq: 42,
    };
    let q = parse(&[("cursor", &cursor.encode())]).unwrap();
    assert_eq!(q.cursor, Some(cursor));
}
