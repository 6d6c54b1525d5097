//! Tests of the Bitrix24 encoder: both methods' parameters, status codes per disposition,
//! refusals and how answers are judged.

use std::time::Duration;

use super::*;

const URL: &str = "https://acme.bitrix24.ru/rest/1/s3cr3t-t0ken/";

fn destination() -> Bitrix24 {
    let mut crm_sources = BTreeMap::new();
    crm_sources.insert("billboard".to_owned(), "UC_BILLBOARD".to_owned());
    Bitrix24::new(
        &Bitrix24Config {
            id: "bitrix".into(),
            webhook_url: Secret::new(URL),
            user_id: 7,
            create_crm: true,
            show_card: false,
            crm_sources,
            sites: Vec::new(),
        },
        "RUB",
    )
}

fn ringing() -> CallFact {
    serde_json::from_str(
        r#"{"id":"c1","call_id":"x@h","site":"shop","tracking_number":"74950000001",
            "number_kind":"static","caller":"79161234567","destination":"sip:pbx",
            "started_at":"2026-12-05T10:00:00.250Z","first_time_caller":true,
            "attribution":{"source":"Billboard"}}"#,
    )
    .unwrap()
}

fn ended(disposition: &str, sip_status: u16, talk_secs: u32) -> CallFact {
    let mut call = ringing();
    call.ended_at = Some("2026-12-05T10:01:00.000Z".into());
    call.disposition = Some(disposition.into());
    call.sip_status = Some(sip_status);
    call.talk_secs = Some(talk_secs);
    if disposition == "answered" {
        call.answered_at = Some("2026-12-05T10:00:05.000Z".into());
    }
    call
}

fn event(kind: EventKind, call: &CallFact, kept: Option<&str>) -> OutboxEvent {
    OutboxEvent {
        seq: 1,
        id: "evt_1".into(),
        destination: "bitrix".into(),
        kind,
        subject: call.id.clone(),
        occurred_at: "2026-12-05T10:00:00Z".parse().unwrap(),
        created_at: "2026-12-05T10:00:00Z".parse().unwrap(),
        attempts: 0,
        payload: serde_json::to_string(call).unwrap(),
        kept: kept.map(str::to_owned),
    }
}

fn now() -> Timestamp {
    "2026-12-05T10:02:00Z".parse().unwrap()
}

fn params(req: &HttpRequest) -> Value {
    let Body::Json(body) = &req.body else {
        panic!("a JSON body")
    };
    serde_json::from_slice(body).unwrap()
}

fn answer(status: u16, body: &str) -> HttpAnswer {
    HttpAnswer {
        status,
        retry_after: Some(Duration::from_secs(2)),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn ringing_registers_an_inbound_call_with_its_line_and_source() {
    let b = destination();
    let req = b
        .request(&[event(EventKind::CallRinging, &ringing(), None)], now())
        .unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url,
        format!("{URL}telephony.externalcall.register.json")
    );
    assert_eq!(
        params(&req),
        json!({
            "USER_ID": 7,
            "PHONE_NUMBER": "79161234567",
            "TYPE": 2,
            "CALL_START_DATE": "2026-12-05T10:00:00+00:00",
            "CRM_CREATE": 1,
            "SHOW": 0,
            "LINE_NUMBER": "74950000001",
            "CRM_SOURCE": "UC_BILLBOARD",
        })
    );
}

#[test]
fn an_unmapped_source_is_registered_without_crm_source() {
    let mut call = ringing();
    call.attribution.source = Some("google".into());
    assert!(destination().register(&call).get("CRM_SOURCE").is_none());
    call.attribution.source = None;
    assert!(destination().register(&call).get("CRM_SOURCE").is_none());
}

#[test]
fn ended_finishes_the_registered_call() {
    let b = destination();
    let mut call = ended("answered", 200, 42);
    call.recording_url = Some("https://calltrack.example/rec/c1.mp3".into());
    let req = b
        .request(
            &[event(EventKind::CallEnded, &call, Some("externalCall.abc"))],
            now(),
        )
        .unwrap();
    assert_eq!(req.url, format!("{URL}telephony.externalcall.finish.json"));
    assert_eq!(
        params(&req),
        json!({
            "CALL_ID": "externalCall.abc",
            "USER_ID": 7,
            "DURATION": 42,
            "STATUS_CODE": "200",
            "RECORD_URL": "https://calltrack.example/rec/c1.mp3",
        })
    );
}

#[test]
fn an_unanswered_finish_says_why() {
    let p = destination().finish(&ended("busy", 486, 0), "externalCall.abc");
    assert_eq!(p["STATUS_CODE"], "486");
    assert_eq!(p["DURATION"], 0);
    assert_eq!(p["FAILED_REASON"], "busy (SIP 486)");
    assert!(p.get("RECORD_URL").is_none());
}

#[test]
fn status_codes_follow_the_disposition() {
    let cases = [
        ("answered", 200, "200"),
        ("no_answer", 480, "304"),
        ("no_answer", 408, "304"),
        ("cancelled", 487, "304"),
        ("voicemail", 200, "304"),
        ("busy", 486, "486"),
        ("busy", 600, "486"),
        ("busy", 603, "603"),
        ("failed", 404, "404"),
        ("failed", 484, "484"),
        ("failed", 403, "403"),
        ("failed", 502, "503"),
        ("failed", 415, "OTHER"),
        ("interrupted", 0, "304"),
    ];
    for (disposition, sip, code) in cases {
        assert_eq!(
            status_code(&ended(disposition, sip, 0)),
            code,
            "{disposition} {sip}"
        );
    }
    let mut talked = ended("interrupted", 0, 30);
    talked.answered_at = Some("2026-12-05T10:00:05.000Z".into());
    assert_eq!(status_code(&talked), "200");
}

#[test]
fn an_end_without_call_id_is_refused_not_sent() {
    let b = destination();
    let reason = b
        .refuse(
            &event(EventKind::CallEnded, &ended("answered", 200, 5), None),
            now(),
        )
        .unwrap();
    assert!(reason.contains("no Bitrix24 CALL_ID"), "{reason}");
    assert!(
        b.refuse(
            &event(EventKind::CallEnded, &ended("answered", 200, 5), Some("x")),
            now()
        )
        .is_none()
    );
    assert!(
        b.refuse(&event(EventKind::CallRinging, &ringing(), None), now())
            .is_none()
    );
    assert!(
        b.refuse(&event(EventKind::CallUpdated, &ringing(), Some("x")), now())
            .is_some()
    );
}

#[test]
fn register_keeps_the_call_id() {
    let ok = answer(
        200,
        r#"{"result":{"CALL_ID":"externalCall.abc","CRM_CREATED_LEAD":12},"time":{}}"#,
    );
    assert_eq!(
        judge(REGISTER, &ok),
        Verdict::Delivered {
            keep: Some("externalCall.abc".into())
        }
    );
    assert_eq!(judge(FINISH, &ok), Verdict::Delivered { keep: None });
    assert_eq!(
        judge(FINISH, &answer(200, r#"{"result":[]}"#)),
        Verdict::Delivered { keep: None }
    );
}

#[test]
fn register_without_call_id_is_dead_with_the_body() {
    for body in [
        r#"{"result":{}}"#,
        r#"{"result":true}"#,
        "<html>ok</html>",
        "",
    ] {
        let Verdict::Dead { error } = judge(REGISTER, &answer(200, body)) else {
            panic!("dead for {body:?}")
        };
        assert!(error.contains("without result.CALL_ID"), "{error}");
        assert!(error.contains(body), "{error}");
    }
}

#[test]
fn rate_limits_and_portal_failures_are_retried() {
    let limit = answer(
        503,
        r#"{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}"#,
    );
    assert_eq!(
        judge(REGISTER, &limit),
        Verdict::Retry {
            error: format!("{REGISTER}: HTTP 503 QUERY_LIMIT_EXCEEDED: Too many requests"),
            after: Some(Duration::from_secs(2)),
        }
    );
    let internal = answer(
        500,
        r#"{"error":"INTERNAL_SERVER_ERROR","error_description":""}"#,
    );
    assert!(matches!(judge(FINISH, &internal), Verdict::Retry { .. }));
    assert!(matches!(
        judge(FINISH, &answer(502, "Bad gateway")),
        Verdict::Retry { .. }
    ));
    // A rate limit reported with 200 is still a rate limit.
    let in_200 = answer(200, r#"{"error":"QUERY_LIMIT_EXCEEDED"}"#);
    assert!(matches!(judge(REGISTER, &in_200), Verdict::Retry { .. }));
}

#[test]
fn auth_and_parameter_errors_are_dead() {
    let cases = [
        (401, "NO_AUTH_FOUND", "Wrong authorization data"),
        (
            401,
            "expired_token",
            "The access token provided has expired",
        ),
        (
            403,
            "insufficient_scope",
            "The request requires higher privileges",
        ),
        (400, "INVALID_REQUEST", "Https required."),
        (404, "ERROR_METHOD_NOT_FOUND", "Method not found!"),
        (200, "ERROR_CALL_NOT_FOUND", "Call not found"),
    ];
    for (status, code, description) in cases {
        let body = json!({"error": code, "error_description": description}).to_string();
        assert_eq!(
            judge(FINISH, &answer(status, &body)),
            Verdict::Dead {
                error: format!("{FINISH}: HTTP {status} {code}: {description}")
            }
        );
    }
}

#[test]
fn errors_never_carry_the_webhook_url() {
    let b = destination();
    let events = [event(EventKind::CallRinging, &ringing(), None)];
    for a in [
        answer(401, r#"{"error":"NO_AUTH_FOUND"}"#),
        answer(200, "{}"),
        answer(500, "oops"),
    ] {
        let text = format!("{:?}", b.judge(&events, &a));
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    assert!(!format!("{b:?}").contains("s3cr3t"));
}

#[test]
fn a_payload_that_is_not_a_call_is_a_dead_letter_reason() {
    let mut e = event(EventKind::CallRinging, &ringing(), None);
    e.payload = "{}".into();
    let error = destination().request(&[e], now()).unwrap_err();
    assert!(error.contains("not a call"), "{error}");
}
