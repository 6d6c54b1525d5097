//! `calltrack outbox`: --since, the tables and error answers.
use super::*;

#[test]
fn since_takes_rfc3339_dates_and_ages() {
    let now: Timestamp = "2026-12-05T10:00:00Z".parse().unwrap();
    let at = |t: &str| since_at(t, now).map(rfc3339::format);
    assert_eq!(
        at("2026-12-05T09:00:00+03:00").unwrap(),
        "2026-12-05T06:00:00.000Z"
    );
    assert_eq!(at("2026-12-01").unwrap(), "2026-12-01T00:00:00.000Z");
    assert_eq!(at("90m").unwrap(), "2026-12-05T08:30:00.000Z");
    assert_eq!(at("2d").unwrap(), "2026-12-03T10:00:00.000Z");
    for bad in ["yesterday", "5x", "-3h", "h", ""] {
        assert!(at(bad).is_err(), "{bad}");
    }
}

#[test]
fn tables_align_and_show_the_next_cursor() {
    let d = DestinationView {
        id: "crm".into(),
        kind: "webhook".into(),
        pending: 0,
        dead: 3,
        delivered: 120,
        oldest_pending_at: None,
        oldest_pending_secs: None,
        last_delivered_at: Some("2026-12-05T09:00:00.000Z".into()),
        last_error: Some("HTTP 400: no".into()),
    };
    let text = status_table(&[d]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("DESTINATION  KIND     PENDING  DEAD  DELIVERED"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("crm          webhook        0     3        120  -"),
        "{text}"
    );
    assert!(lines[1].ends_with("HTTP 400: no"), "{text}");
    let page = OutboxEventsView {
        events: Vec::new(),
        next_cursor: None,
    };
    assert!(events_table(&page).ends_with("(no events)\n"));
    assert_eq!(short(Some(&"x".repeat(100))).chars().count(), 81);
}

#[test]
fn error_answers_print_every_problem() {
    let body = r#"{"error":{"code":"invalid_replay","message":"a; b","problems":["a","b"]}}"#;
    assert_eq!(refusal(body), "a\nb");
    assert_eq!(
        refusal(r#"{"error":{"message":"no destination"}}"#),
        "no destination"
    );
    assert_eq!(refusal("plain"), "plain");
}
