//! Yandex Metrica offline calls end to end through the real binary: a website visitor with a
//! Metrica client id leases a pool number, a sipp caller dials it (and, for contrast, a
//! static number without a visit), and a local receiver standing in for
//! `api-metrika.yandex.net` gets one multipart CSV upload with the OAuth header, answers like
//! Metrica, and is then asked for the upload's status, which calltrack stores.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::time::{Duration, Instant};

use calltrack::store::outbox::metrica_uploads::{self, MetricaUpload};
use export_support::{Answer, Received, Receiver};
use support::{Calltrack, Leg, Sipp};

const COUNTER: u64 = 12345678;
const TOKEN: &str = "y0_test_token";
const CLIENT_ID: &str = "170000000000000001";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const LANDING: &str = "https://shop.example/landing?utm_source=yandex&utm_medium=cpc";

fn metrica(url: &str) -> String {
    format!(
        r#"
[exports]
retry_min_ms = 50

[[exports.metrica]]
id = "ym"
counter_id = {COUNTER}
oauth_token = "{TOKEN}"
every_secs = 10
call_tracker_url = "https://ct.example/dashboard/#call="
endpoint = "{url}"
"#
    )
}

fn api(path: &str) -> String {
    format!("/management/v1/counter/{COUNTER}/offline_conversions/{path}")
}

/// A visitor session as the snippet creates it; returns the leased number.
fn lease_number(http_port: u16) -> String {
    let body = serde_json::json!({
        "visitor_id": "visitor-ym",
        "page_url": LANDING,
        "referrer": "https://yandex.ru/",
        "ym_client_id": CLIENT_ID,
    });
    let mut response = ureq::post(&format!(
        "http://127.0.0.1:{http_port}/v1/sites/demo/sessions"
    ))
    .header("User-Agent", BROWSER)
    .send_json(&body)
    .unwrap();
    assert_eq!(response.status(), 201);
    let session: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(session["kind"], "dynamic");
    session["number"].as_str().unwrap().to_owned()
}

/// The file part of a `multipart/form-data` body, read with the boundary of its header.
fn file_part(r: &Received) -> (String, String) {
    let content_type = r.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let body = r.text();
    let part = body
        .split(&format!("--{boundary}"))
        .find(|p| p.contains("name=\"file\""))
        .unwrap_or_else(|| panic!("no file part in {body}"));
    let (head, content) = part.split_once("\r\n\r\n").unwrap();
    (
        head.to_owned(),
        content.strip_suffix("\r\n").unwrap().to_owned(),
    )
}

fn stored_upload(ct: &Calltrack) -> Option<MetricaUpload> {
    let conn = calltrack::store::open_read_only(&ct.db_path()).ok()?;
    metrica_uploads::last(&conn, "ym").ok().flatten()
}

#[test]
fn a_visitors_call_is_uploaded_as_csv_and_its_status_polled_and_kept() {
    if support::skip_without_sipp("metrica exports e2e") {
        return;
    }
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer(
        &api("upload_calls"),
        Answer::json(
            200,
            serde_json::json!({"uploading": {
                "id": 4711, "create_time": "2026-12-05T10:00:00Z", "source_quantity": 1,
                "line_quantity": 1, "comment": "calltrack", "type": "CALLS",
                "client_id_type": "CLIENT_ID", "status": "UPLOADED"}}),
        ),
    );
    receiver.answer(
        &api("calls_uploading/4711"),
        Answer::json(
            200,
            serde_json::json!({"uploading": {"id": 4711, "status": "PROCESSED",
                "source_quantity": 1, "line_quantity": 1}}),
        ),
    );
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&metrica(&receiver.url()))
    });
    let number = lease_number(ct.http_port);
    for dialled in ["74950000001", number.as_str()] {
        let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
        Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, dialled)
            .pause_ms(300)
            .run_ok();
        pbx.wait_ok();
    }

    let got = receiver.wait_until(Duration::from_secs(15), |r| {
        r.iter().any(|r| r.method == "GET")
    });
    let uploads: Vec<&Received> = got.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(uploads.len(), 1, "one upload: {got:#?}");
    let upload = uploads[0];
    assert_eq!(
        upload.uri,
        format!(
            "{}?client_id_type=CLIENT_ID&comment=calltrack",
            api("upload_calls")
        )
    );
    assert_eq!(upload.header("authorization"), Some("OAuth y0_test_token"));
    let (head, csv) = file_part(upload);
    assert!(head.contains("filename=\"calls.csv\""), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "ClientId,DateTime,StaticCall,PhoneNumber,TalkDuration,HoldDuration,CallMissed,Tag,\
         FirstTimeCaller,URL,CallTrackerURL,Price,Currency"
    );
    assert_eq!(
        lines.len(),
        2,
        "only the visitor's call (the static one has no id): {csv}"
    );
    let cells: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(cells[0], CLIENT_ID);
    let at: i64 = cells[1].parse().unwrap();
    let age = jiff::Timestamp::now().as_second() - at;
    assert!((0..60).contains(&age), "DateTime {at} is the call's start");
    assert_eq!(cells[2], "0", "a pool number is a dynamic call");
    assert!(cells[3].starts_with('+'), "PhoneNumber {}", cells[3]);
    assert_eq!(cells[6], "0", "answered");
    assert_eq!(cells[8], "0", "the caller called the static number first");
    assert_eq!(cells[9], LANDING.split(',').next().unwrap());
    assert!(cells[10].starts_with("https://ct.example/dashboard/#call="));

    let poll = got.iter().find(|r| r.method == "GET").unwrap();
    assert_eq!(poll.uri, api("calls_uploading/4711"));
    assert_eq!(poll.header("authorization"), Some("OAuth y0_test_token"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let stored = loop {
        match stored_upload(&ct) {
            Some(u) if u.status.as_deref() == Some("PROCESSED") => break u,
            other => assert!(Instant::now() < deadline, "status not stored: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((stored.upload_id.as_str(), stored.rows), ("4711", 1));
    assert!(stored.checked_at.is_some());
    std::thread::sleep(Duration::from_millis(1500));
    let polls = receiver
        .received()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(polls, 1, "a processed upload is not asked about again");
    let _stopped = ct.stop();
}
