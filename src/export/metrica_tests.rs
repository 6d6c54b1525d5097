//! Unit tests of the Metrica destination: the upload request, id type grouping, the 21-day
//! refusal, and what answers mean.

use super::*;
use crate::config::exports::{EventKind, Send};

fn metrica() -> Metrica {
    Metrica::new(
        &MetricaConfig {
            id: "ym".into(),
            counter_id: 12345678,
            oauth_token: Secret::new("y0_token"),
            every: Duration::from_secs(300),
            send: Send::All,
            sites: Vec::new(),
            call_tracker_url: Some("https://ct.example/#call=".into()),
            endpoint: "http://127.0.0.1:9/".into(),
        },
        "RUB",
    )
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn event(seq: i64, started_at: &str, attribution: serde_json::Value) -> OutboxEvent {
    let payload = serde_json::json!({
        "id": format!("c{seq}"), "call_id": "x", "site": "shop",
        "tracking_number": "74950000101", "number_kind": "dynamic",
        "caller": "79161112233", "destination": "sip:sales@pbx",
        "started_at": started_at, "wait_secs": 5, "talk_secs": 42,
        "disposition": "answered", "first_time_caller": true, "missed": false,
        "attribution": attribution,
    });
    OutboxEvent {
        seq,
        id: format!("evt_{seq}"),
        destination: "ym".into(),
        kind: EventKind::CallEnded,
        subject: format!("c{seq}"),
        occurred_at: ts(started_at),
        created_at: ts(started_at),
        attempts: 0,
        payload: payload.to_string(),
        kept: None,
    }
}

fn client(seq: i64) -> OutboxEvent {
    event(
        seq,
        "2026-12-05T10:00:00Z",
        serde_json::json!({"ym_client_id": format!("17000{seq}")}),
    )
}

fn click(seq: i64) -> OutboxEvent {
    event(
        seq,
        "2026-12-05T10:00:00Z",
        serde_json::json!({"yclid": format!("99{seq}")}),
    )
}

#[test]
fn the_upload_is_multipart_csv_with_the_oauth_header() {
    let m = metrica();
    let req = m
        .request(&[client(1), client(2)], ts("2026-12-05T10:05:00Z"))
        .unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url,
        "http://127.0.0.1:9/management/v1/counter/12345678/offline_conversions/upload_calls\
         ?client_id_type=CLIENT_ID&comment=calltrack"
    );
    assert_eq!(
        req.headers,
        vec![("Authorization".to_owned(), "OAuth y0_token".to_owned())]
    );
    let Body::Multipart {
        field,
        content_type,
        bytes,
        ..
    } = &req.body
    else {
        panic!("multipart body")
    };
    assert_eq!(
        (field.as_str(), content_type.as_str()),
        ("file", "text/csv")
    );
    let text = std::str::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("ClientId,DateTime,StaticCall,PhoneNumber,"));
    assert!(lines[1].starts_with("170001,1796464800,0,+79161112233,42,5,0,"));
    assert!(lines[2].ends_with("https://ct.example/#call=c2,,"));
}

#[test]
fn a_yclid_upload_says_so_in_the_query_and_the_header() {
    let req = metrica()
        .request(&[click(1)], ts("2026-12-05T10:05:00Z"))
        .unwrap();
    assert!(req.url.contains("client_id_type=YCLID"), "{}", req.url);
    let Body::Multipart { bytes, .. } = &req.body else {
        panic!("multipart body")
    };
    assert!(bytes.starts_with(b"Yclid,DateTime,"));
}

#[test]
fn calls_travel_together_only_with_the_same_id_type() {
    let m = metrica();
    assert!(m.same_request(&client(1), &client(2)));
    assert!(m.same_request(&click(1), &click(2)));
    assert!(!m.same_request(&client(1), &click(2)));
    assert!(
        m.request(&[client(1), click(2)], Timestamp::UNIX_EPOCH)
            .is_err()
    );
    assert_eq!(m.max_batch(), MAX_ROWS);
    assert_eq!(m.linger(), Duration::from_secs(300));
}

#[test]
fn calls_older_than_21_days_are_refused_with_the_reason() {
    let m = metrica();
    let call = client(1);
    let now = ts("2026-12-26T09:59:59Z");
    assert_eq!(m.refuse(&call, now), None, "20 days, 23:59:59");
    let reason = m.refuse(&call, ts("2026-12-26T10:00:01Z")).unwrap();
    assert!(reason.contains("older than 21 days"), "{reason}");
    let none = event(3, "2026-12-05T10:00:00Z", serde_json::json!({}));
    assert!(m.refuse(&none, now).is_some());
}

#[test]
fn an_accepted_upload_keeps_its_id() {
    let m = metrica();
    let answer = |status: u16, body: &str| HttpAnswer {
        status,
        retry_after: None,
        body: body.as_bytes().to_vec(),
    };
    let ok = r#"{"uploading":{"id":4711,"create_time":"2026-12-05T10:00:00Z",
        "source_quantity":2,"line_quantity":2,"client_id_type":"CLIENT_ID","status":"UPLOADED"}}"#;
    assert_eq!(
        m.judge(&[], &answer(200, ok)),
        Verdict::Delivered {
            keep: Some("4711".into())
        }
    );
    assert_eq!(
        m.judge(&[], &answer(200, "not json")),
        Verdict::Delivered { keep: None }
    );
    assert!(matches!(
        m.judge(
            &[],
            &answer(400, r#"{"errors":[{"error_type":"invalid_parameter"}]}"#)
        ),
        Verdict::Dead { .. }
    ));
    assert!(matches!(
        m.judge(&[], &answer(429, "")),
        Verdict::Retry { .. }
    ));
}

#[test]
fn the_status_request_and_answer() {
    let req = metrica().status_request("4711");
    assert_eq!(req.method, Method::Get);
    assert_eq!(
        req.url,
        "http://127.0.0.1:9/management/v1/counter/12345678/offline_conversions/calls_uploading/4711"
    );
    assert_eq!(req.body, Body::Empty);
    let u = Uploading::parse(br#"{"uploading":{"id":"4711","status":"LINKAGE_FAILURE"}}"#).unwrap();
    assert_eq!(
        (u.id.as_str(), u.status.as_str()),
        ("4711", "LINKAGE_FAILURE")
    );
    assert!(Uploading::is_final(&u.status));
    assert!(Uploading::is_final("PROCESSED"));
    for open in ["PREPARED", "UPLOADED", "EXPORTED", "MATCHED", ""] {
        assert!(!Uploading::is_final(open), "{open}");
    }
    assert_eq!(Uploading::parse(b"{}"), None);
}
