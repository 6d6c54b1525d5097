//! Leads in SQLite: insert with the first-time judgement, patch, filtered pages.

use std::time::Duration;

use rusqlite::Connection;

use super::read::{LeadFilter, by_id, page};
use super::*;
use crate::call::attribution::NumberKindTag;
use crate::store::deal::DealStatus;
use crate::store::schema;

const DAY: Duration = Duration::from_secs(86_400);

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

fn lead(id: &str, at: &str, phone: Option<&str>, email: Option<&str>) -> NewLead {
    NewLead {
        id: id.into(),
        created_at: at.parse().unwrap(),
        name: Some("Ann".into()),
        phone: phone.map(Into::into),
        email: email.map(Into::into),
        message: None,
        fields: [("city".to_string(), "Moscow".to_string())].into(),
        attribution: Attribution {
            site: "demo".into(),
            number_kind: NumberKindTag::Dynamic,
            source: Some("google".into()),
            campaign: Some("brand".into()),
            session_id: Some("s1".into()),
            device: Some("mobile".into()),
            ..Attribution::default()
        },
    }
}

#[test]
fn a_lead_round_trips_with_its_attribution() {
    let conn = conn();
    let new = lead("a", "2026-11-23T10:00:00Z", Some("79161112233"), None);
    assert!(insert(&conn, &new, Some(DAY)).unwrap());
    let stored = by_id(&conn, "a").unwrap().unwrap();
    assert_eq!(stored.lead, new);
    assert!(stored.first_time);
    assert!(stored.tags.is_empty());
    assert_eq!(
        (stored.note, stored.deal, stored.updated_at),
        (None, None, None)
    );
    assert!(by_id(&conn, "b").unwrap().is_none());
}

#[test]
fn first_time_by_phone_or_email_within_the_window() {
    let conn = conn();
    let window = Some(30 * DAY);
    let at = |d: u32| format!("2026-11-{d:02}T10:00:00Z");
    assert!(
        insert(
            &conn,
            &lead("a", &at(1), Some("7916"), Some("a@x.ru")),
            window
        )
        .unwrap()
    );
    assert!(!insert(&conn, &lead("b", &at(2), Some("7916"), None), window).unwrap());
    assert!(!insert(&conn, &lead("c", &at(3), None, Some("a@x.ru")), window).unwrap());
    assert!(
        insert(
            &conn,
            &lead("d", &at(3), Some("7999"), Some("b@x.ru")),
            window
        )
        .unwrap()
    );
    let later = "2027-01-15T10:00:00Z";
    assert!(insert(&conn, &lead("e", later, None, Some("a@x.ru")), window).unwrap());
    assert!(
        !insert(&conn, &lead("f", later, Some("7999"), None), None).unwrap(),
        "forever"
    );
}

#[test]
fn an_earlier_call_from_the_number_makes_a_lead_not_first() {
    let conn = conn();
    conn.execute(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at, \
         ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, site) \
         VALUES ('c', 'c@x', '74950000001', '7916', 'sip:x', '2026-11-01T10:00:00.000Z', \
         '2026-11-01T10:01:00.000Z', 0, 60, 'answered', 200, 'caller', 'demo')",
        [],
    )
    .unwrap();
    let new = lead("a", "2026-11-02T10:00:00Z", Some("7916"), None);
    assert!(!insert(&conn, &new, Some(DAY * 30)).unwrap());
}

#[test]
fn a_patch_changes_only_what_it_names() {
    let conn = conn();
    insert(
        &conn,
        &lead("a", "2026-11-01T10:00:00Z", Some("7916"), None),
        None,
    )
    .unwrap();
    let at = "2026-11-02T10:00:00Z".parse().unwrap();
    let deal = Deal {
        amount_minor: 150_050,
        currency: "RUB".into(),
        status: DealStatus::Won,
    };
    let full = LeadPatch {
        tags: Some(vec!["vip".into()]),
        note: Some(Some("called back".into())),
        deal: Some(Some(deal.clone())),
    };
    assert!(patch(&conn, "a", &full, at).unwrap());
    assert!(!patch(&conn, "nope", &full, at).unwrap());
    let only_note = LeadPatch {
        note: Some(None),
        ..LeadPatch::default()
    };
    assert!(patch(&conn, "a", &only_note, at).unwrap());
    let stored = by_id(&conn, "a").unwrap().unwrap();
    assert_eq!(stored.tags, ["vip"]);
    assert_eq!(stored.note, None);
    assert_eq!(stored.deal, Some(deal));
    assert_eq!(stored.updated_at, Some(at));
    let clear = LeadPatch {
        deal: Some(None),
        ..LeadPatch::default()
    };
    patch(&conn, "a", &clear, at).unwrap();
    assert_eq!(by_id(&conn, "a").unwrap().unwrap().deal, None);
}

#[test]
fn pages_are_newest_first_filtered_and_continue_with_a_cursor() {
    let conn = conn();
    for i in 0..5 {
        let mut new = lead(
            &format!("l{i}"),
            &format!("2026-11-0{}T10:00:00Z", i + 1),
            None,
            Some("a@x.ru"),
        );
        if i == 2 {
            new.attribution.source = Some("yandex".into());
        }
        insert(&conn, &new, None).unwrap();
    }
    let all = LeadFilter::default();
    let first = page(&conn, &all, None, 2).unwrap();
    let ids: Vec<&str> = first.leads.iter().map(|l| l.lead.id.as_str()).collect();
    assert_eq!(ids, ["l4", "l3"]);
    let second = page(&conn, &all, first.next, 2).unwrap();
    let third = page(&conn, &all, second.next, 2).unwrap();
    assert_eq!(third.leads.len(), 1);
    assert_eq!(third.next, None);
    let google_from_2nd = LeadFilter {
        source: Some("google".into()),
        from: Some("2026-11-02T00:00:00Z".parse().unwrap()),
        to: Some("2026-11-05T00:00:00Z".parse().unwrap()),
        ..LeadFilter::default()
    };
    let found = page(&conn, &google_from_2nd, None, 10).unwrap();
    let ids: Vec<&str> = found.leads.iter().map(|l| l.lead.id.as_str()).collect();
    assert_eq!(ids, ["l3", "l1"]);
}
