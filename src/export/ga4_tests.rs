//! The GA4 encoder on a virtual clock: request shape, limits, grouping, refusals, values.

use serde_json::{Value, json};

use super::*;
use crate::config::exports::{EventKind, Send};

const STARTED: &str = "2026-12-05T10:00:00.000Z";

fn config(value_from: ValueFrom) -> Ga4Config {
    Ga4Config {
        id: "ga".into(),
        measurement_id: "G-TEST123".into(),
        api_secret: Secret::new("s3cr&t=x"),
        event_name: "phone_call".into(),
        send: Send::All,
        value_from,
        sites: Vec::new(),
        endpoint: "http://127.0.0.1:9".into(),
    }
}

fn ga4(value_from: ValueFrom) -> Ga4 {
    Ga4::new(&config(value_from), "RUB")
}

/// A `call.ended` fact; `edit` changes its JSON before it is stored.
fn call(edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = json!({
        "id": "call_01", "call_id": "abc@host", "site": "shop",
        "tracking_number": "74950000001", "number_kind": "dynamic",
        "caller": "79161234567", "destination": "sip:sales@pbx",
        "started_at": STARTED, "answered_at": "2026-12-05T10:00:07.000Z",
        "ended_at": "2026-12-05T10:01:07.000Z", "wait_secs": 7, "talk_secs": 60,
        "disposition": "answered", "first_time_caller": true, "quality": true,
        "attribution": {
            "source": "google", "medium": "cpc", "campaign": "winter", "term": "sofa",
            "content": "ad1", "ga_client_id": "GA1.1.123456789.1764900000",
            "ga_session_id": "1764928800"
        }
    });
    edit(&mut v);
    v
}

fn event(seq: i64, payload: &Value) -> OutboxEvent {
    let at: Timestamp = "2026-12-05T10:01:07Z".parse().unwrap();
    OutboxEvent {
        seq,
        id: format!("evt_{seq}"),
        destination: "ga".into(),
        kind: EventKind::CallEnded,
        subject: format!("call_{seq}"),
        occurred_at: at,
        created_at: at,
        attempts: 0,
        payload: payload.to_string(),
        kept: None,
    }
}

fn now() -> Timestamp {
    "2026-12-05T10:05:00Z".parse().unwrap()
}

fn body(request: &HttpRequest) -> Value {
    let Body::Json(bytes) = &request.body else {
        panic!("json body")
    };
    serde_json::from_slice(bytes).unwrap()
}

fn micros(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_microsecond()
}

#[test]
fn one_call_becomes_one_event_in_the_visitors_session() {
    let g = ga4(ValueFrom::Fixed(None));
    let req = g.request(&[event(1, &call(|_| {}))], now()).unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url,
        "http://127.0.0.1:9/mp/collect?measurement_id=G-TEST123&api_secret=s3cr%26t%3Dx"
    );
    let b = body(&req);
    assert_eq!(b["client_id"], "123456789.1764900000");
    assert_eq!(b["timestamp_micros"], micros(STARTED));
    let events = b["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "phone_call");
    assert_eq!(events[0]["timestamp_micros"], micros(STARTED));
    assert_eq!(
        events[0]["params"],
        json!({
            "session_id": "1764928800", "engagement_time_msec": 1, "call_id": "call_01",
            "tracking_number": "74950000001", "number_kind": "dynamic",
            "source": "google", "medium": "cpc", "campaign": "winter", "term": "sofa",
            "content": "ad1", "disposition": "answered", "talk_secs": 60, "wait_secs": 7,
            "first_time": 1, "quality": 1
        })
    );
    let text = serde_json::to_string(&b).unwrap();
    assert!(
        !text.contains("79161234567"),
        "the caller's number never leaves"
    );
    assert!(!format!("{g:?}").contains("s3cr"), "Debug hides the secret");
}

#[test]
fn params_stay_within_the_limits() {
    let long = "я".repeat(150);
    let payload = call(|c| {
        for key in ["source", "medium", "campaign", "term", "content"] {
            c["attribution"][key] = json!(long);
        }
        c["deal"] = json!({"amount": "1500.50", "currency": "USD", "status": "won"});
    });
    let g = ga4(ValueFrom::Deal);
    let b = body(&g.request(&[event(1, &payload)], now()).unwrap());
    let params = b["events"][0]["params"].as_object().unwrap();
    assert!(params.len() <= MAX_PARAMS);
    for (name, value) in params {
        assert!(name.chars().count() <= MAX_NAME_CHARS, "{name}");
        if let Some(text) = value.as_str() {
            assert!(text.chars().count() <= MAX_VALUE_CHARS, "{name}");
        }
    }
    assert_eq!(
        params["term"].as_str().unwrap(),
        "я".repeat(MAX_VALUE_CHARS)
    );
    assert_eq!(g.max_batch(), 25);
}

#[test]
fn absent_facts_are_left_out_and_odd_session_ids_dropped() {
    let payload = call(|c| {
        c["attribution"] = json!({"ga_client_id": "123.456", "ga_session_id": "s17", "term": " "});
        c["quality"] = Value::Null;
        c["talk_secs"] = Value::Null;
        c["first_time_caller"] = json!(false);
    });
    let b = body(
        &ga4(ValueFrom::Fixed(None))
            .request(&[event(1, &payload)], now())
            .unwrap(),
    );
    assert_eq!(b["client_id"], "123.456");
    let params = b["events"][0]["params"].as_object().unwrap();
    for absent in [
        "session_id",
        "source",
        "term",
        "quality",
        "talk_secs",
        "value",
    ] {
        assert!(!params.contains_key(absent), "{absent}");
    }
    assert_eq!(params["first_time"], 0);
    assert_eq!(params["engagement_time_msec"], ENGAGEMENT_TIME_MSEC);
}

#[test]
fn client_ids_are_normalised_from_the_ga_cookie() {
    assert_eq!(client_id("GA1.1.123.456").as_deref(), Some("123.456"));
    assert_eq!(client_id(" GA1.2.987.654 ").as_deref(), Some("987.654"));
    assert_eq!(client_id("123.456").as_deref(), Some("123.456"));
    assert_eq!(client_id("  "), None);
}

#[test]
fn one_clients_calls_share_a_request_others_do_not() {
    let g = ga4(ValueFrom::Fixed(None));
    let a = event(1, &call(|_| {}));
    let b = event(
        2,
        &call(|c| {
            c["attribution"]["ga_client_id"] = json!("123456789.1764900000");
            c["started_at"] = json!("2026-12-05T09:30:00.000Z");
        }),
    );
    let other = event(
        3,
        &call(|c| c["attribution"]["ga_client_id"] = json!("GA1.1.5.6")),
    );
    assert!(
        g.same_request(&a, &b),
        "the same client in two cookie forms"
    );
    assert!(!g.same_request(&a, &other));
    let body = body(&g.request(&[a, b], now()).unwrap());
    let times: Vec<&Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["timestamp_micros"])
        .collect();
    assert_eq!(times, [micros(STARTED), micros("2026-12-05T09:30:00Z")]);
    assert_eq!(body["timestamp_micros"], micros(STARTED));
}

#[test]
fn a_request_never_carries_more_than_25_events() {
    let g = ga4(ValueFrom::Fixed(None));
    let many: Vec<OutboxEvent> = (0..30).map(|i| event(i, &call(|_| {}))).collect();
    let b = body(&g.request(&many, now()).unwrap());
    assert_eq!(b["events"].as_array().unwrap().len(), MAX_EVENTS);
}

#[test]
fn calls_older_than_72_hours_are_refused_with_the_reason() {
    let g = ga4(ValueFrom::Fixed(None));
    let e = event(1, &call(|_| {}));
    let started: Timestamp = STARTED.parse().unwrap();
    let just_in = started + SignedDuration::from_hours(72);
    assert_eq!(g.refuse(&e, just_in), None);
    let too_late = just_in + SignedDuration::from_secs(1);
    assert_eq!(g.refuse(&e, too_late).as_deref(), Some(TOO_OLD));
    assert_eq!(
        TOO_OLD,
        "older than 72 hours (GA4 accepts events up to 72 h back)"
    );
}

#[test]
fn malformed_payloads_and_calls_without_a_client_are_refused() {
    let g = ga4(ValueFrom::Fixed(None));
    let mut broken = event(1, &call(|_| {}));
    broken.payload = "{not json".into();
    assert!(g.refuse(&broken, now()).unwrap().contains("not a call"));
    assert!(g.request(&[broken], now()).is_err());
    let anonymous = event(2, &call(|c| c["attribution"] = json!({})));
    assert_eq!(
        g.refuse(&anonymous, now()).as_deref(),
        Some("the call carries no GA client id")
    );
}

#[test]
fn a_call_in_the_future_is_sent_as_now() {
    let g = ga4(ValueFrom::Fixed(None));
    let early: Timestamp = "2026-12-05T09:59:00Z".parse().unwrap();
    let b = body(&g.request(&[event(1, &call(|_| {}))], early).unwrap());
    assert_eq!(b["events"][0]["timestamp_micros"], early.as_microsecond());
}

#[test]
fn value_comes_from_the_won_deal_or_the_fixed_amount() {
    let won =
        call(|c| c["deal"] = json!({"amount": "1500.50", "currency": "USD", "status": "won"}));
    let open = call(|c| c["deal"] = json!({"amount": 99, "currency": "USD", "status": "open"}));
    let params = |g: &Ga4, payload: &Value| {
        let b = body(&g.request(&[event(1, payload)], now()).unwrap());
        b["events"][0]["params"].clone()
    };
    let deal = ga4(ValueFrom::Deal);
    let p = params(&deal, &won);
    assert_eq!(
        (p["value"].clone(), p["currency"].clone()),
        (json!(1500.5), json!("USD"))
    );
    assert!(
        params(&deal, &open).get("value").is_none(),
        "open deals have no value"
    );
    assert!(params(&deal, &call(|_| {})).get("value").is_none());
    let number = call(|c| c["deal"] = json!({"amount": 70, "currency": "EUR", "status": "won"}));
    assert_eq!(params(&deal, &number)["value"], json!(70.0));

    let fixed = ga4(ValueFrom::Fixed(Some(50_000)));
    let p = params(&fixed, &won);
    assert_eq!(
        (p["value"].clone(), p["currency"].clone()),
        (json!(500.0), json!("RUB"))
    );
    assert!(
        params(&ga4(ValueFrom::Fixed(None)), &won)
            .get("value")
            .is_none()
    );
}
