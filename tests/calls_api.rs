//! The calls API over real HTTP against an in-process server on loopback: filters, keyset
//! pages through every call in both orders (no duplicates, no gaps, ties on `started_at`
//! broken by `seq`), one call with its trail, PATCH and read back, the CSV export equal to
//! the JSON pages, every bad input a 400 listing its problems, and the bearer token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;

use std::collections::HashSet;
use std::path::Path;

use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::trail::{TrailOutcome, TrailStep};
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer};
use http_support::{TestServer, agent, config_toml};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const TOKEN: &str = "calls-api-token-0123456789";
const CALLS: usize = 120;
const SOURCES: [Option<&str>; 3] = [Some("google"), Some("yandex"), None];
const DISPOSITIONS: [Disposition; 4] = [
    Disposition::Answered,
    Disposition::NoAnswer,
    Disposition::Busy,
    Disposition::Answered,
];

/// Call `i`: every third pair of calls shares a start time (ties), spread over three days.
fn cdr(i: usize) -> CallDetailRecord {
    let base: Timestamp = "2026-11-20T10:00:00Z".parse().unwrap();
    let started_at = base + SignedDuration::from_mins(i64::try_from((i / 2) * 37).unwrap());
    let disposition = DISPOSITIONS[i % 4];
    let answered = disposition == Disposition::Answered;
    let live = LiveCall {
        id: format!("call{i:04}"),
        call_id: format!("{i}@carrier"),
        tracking_number: if i % 5 == 0 {
            "74950000001"
        } else {
            "74950000100"
        }
        .into(),
        caller: format!("7916000{:04}", i % 17),
        destination: "sip:127.0.0.1:5080".into(),
        started_at,
        answered_at: answered.then(|| started_at + SignedDuration::from_secs(4)),
        attribution: Attribution {
            site: "demo".into(),
            number_kind: NumberKindTag::Dynamic,
            source: SOURCES[i % 3].map(str::to_owned),
            medium: SOURCES[i % 3].map(|_| "cpc".to_owned()),
            campaign: Some(format!("c{}", i % 4)),
            device: Some(if i % 2 == 0 { "mobile" } else { "desktop" }.into()),
            ..Attribution::default()
        },
        first_time_caller: i < 17,
        scheme: Some("forward_to".into()),
        answered_step: None,
        answered_target: None,
    };
    let talk = SignedDuration::from_secs(if i % 8 == 0 { 90 } else { 10 });
    let end = live.answered_at.unwrap_or(started_at) + talk;
    let status = if answered { 200 } else { 486 };
    let mut cdr = CallDetailRecord::from_live(&live, end, disposition, status, HangupSide::Caller)
        .judge_quality(std::time::Duration::from_secs(30));
    if i == 7 {
        cdr.trail = vec![TrailStep {
            at: started_at,
            step: 1,
            target: "sip:127.0.0.1:5080".into(),
            outcome: TrailOutcome::Answered,
            sip_status: Some(200),
        }];
    }
    cdr
}

/// Writes every call through a writer of its own (with callback marking), then starts the
/// server on the same database.
fn server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cdr.db");
    seed(&db);
    let mut toml = config_toml("74950000100-74950000101", 100);
    toml = toml.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
    toml.push_str(&format!("\n[store]\npath = \"{}\"\n", db.display()));
    toml = toml.replace("origins = [", "utc_offset = \"+03:00\"\norigins = [");
    (TestServer::start(&toml), dir)
}

fn seed(db: &Path) {
    let (sender, handle) = spawn_writer(db, WriterOptions::default()).unwrap();
    for i in 0..CALLS {
        sender.try_send(StoreCommand::CallEnded(cdr(i))).unwrap();
    }
    drop(sender);
    handle.shutdown().unwrap();
}

fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let mut resp = agent()
        .get(server.url(path))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    (resp.status().as_u16(), resp.body_mut().read_json().unwrap())
}

/// Every call the query matches, page by page; also the number of pages.
fn all_pages(server: &TestServer, query: &str) -> (Vec<Value>, usize) {
    let mut calls = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/calls?{query}&cursor={c}"),
            None => format!("/v1/calls?{query}"),
        };
        let (status, body) = get(server, &path);
        assert_eq!(status, 200, "{body}");
        pages += 1;
        calls.extend(body["calls"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (calls, pages),
        }
    }
}

fn ids(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Ids of the seeded calls `keep` selects, newest first (`(started_at, seq)` descending).
fn expected(keep: impl Fn(&CallDetailRecord) -> bool) -> Vec<String> {
    let mut calls: Vec<(Timestamp, usize, String)> = (0..CALLS)
        .map(|i| (i, cdr(i)))
        .filter(|(_, c)| keep(c))
        .map(|(i, c)| (c.started_at, i, c.id))
        .collect();
    calls.sort();
    calls.reverse();
    calls.into_iter().map(|(_, _, id)| id).collect()
}

#[test]
fn pages_walk_every_call_once_in_both_orders() {
    let (server, _dir) = server();
    let (newest, pages) = all_pages(&server, "limit=7");
    assert_eq!(pages, CALLS.div_ceil(7));
    let newest = ids(&newest);
    assert_eq!(
        newest.iter().collect::<HashSet<_>>().len(),
        CALLS,
        "no duplicates"
    );
    assert_eq!(newest, expected(|_| true), "no gaps, ties broken by seq");

    let (oldest, _) = all_pages(&server, "sort=started_at&limit=9");
    let mut reversed = ids(&oldest);
    reversed.reverse();
    assert_eq!(reversed, newest);

    let (status, body) = get(&server, "/v1/calls");
    assert_eq!(status, 200);
    assert_eq!(body["calls"].as_array().unwrap().len(), 50, "default limit");
    assert!(
        body["calls"][0].get("trail").is_none(),
        "the trail is for one call"
    );
}

/// Which seeded calls a filter should select.
type Keep = Box<dyn Fn(&CallDetailRecord) -> bool>;

#[test]
fn every_filter_selects_what_it_says() {
    let (server, _dir) = server();
    let cases: Vec<(&str, Keep)> = vec![
        (
            "source=google",
            Box::new(|c| c.attribution.source.as_deref() == Some("google")),
        ),
        (
            "medium=cpc&campaign=c1",
            Box::new(|c| {
                c.attribution.medium.is_some() && c.attribution.campaign.as_deref() == Some("c1")
            }),
        ),
        (
            "tracking_number=74950000001",
            Box::new(|c| c.tracking_number == "74950000001"),
        ),
        (
            "caller=79160000003",
            Box::new(|c| c.caller == "79160000003"),
        ),
        (
            "disposition=busy",
            Box::new(|c| c.disposition == Disposition::Busy),
        ),
        ("missed=true", Box::new(|c| c.missed)),
        ("quality=true", Box::new(|c| c.quality)),
        ("first_time=false", Box::new(|c| !c.first_time_caller)),
        (
            "site=demo&source=yandex&missed=false",
            Box::new(|c| c.attribution.source.as_deref() == Some("yandex") && !c.missed),
        ),
        (
            "from=2026-11-21T00:00:00Z&to=2026-11-21",
            Box::new(|c| {
                c.started_at >= "2026-11-21T00:00:00Z".parse().unwrap()
                    && c.started_at < "2026-11-22T00:00:00Z".parse().unwrap()
            }),
        ),
        // A date with `site` is midnight in the site's zone (+03:00).
        (
            "site=demo&from=2026-11-21&to=2026-11-21",
            Box::new(|c| {
                c.started_at >= "2026-11-20T21:00:00Z".parse().unwrap()
                    && c.started_at < "2026-11-21T21:00:00Z".parse().unwrap()
            }),
        ),
    ];
    for (query, keep) in cases {
        let want = expected(keep);
        assert!(!want.is_empty(), "{query} selects something");
        assert!(want.len() < CALLS, "{query} leaves something out");
        let (calls, _) = all_pages(&server, &format!("{query}&limit=11"));
        assert_eq!(ids(&calls), want, "{query}");
    }
    let (_, body) = get(&server, "/v1/calls?missed=true&limit=500");
    let call = &body["calls"][0];
    assert_eq!(call["missed"], true);
    assert!(call["attribution"]["device"].as_str().is_some());
    assert_eq!(call["recording_url"], Value::Null);
}

#[test]
fn one_call_has_its_visit_and_trail_and_patches_read_back() {
    let (server, _dir) = server();
    let (status, call) = get(&server, "/v1/calls/call0007");
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["attribution"]["source"], "yandex");
    assert_eq!(call["attribution"]["device"], "desktop");
    assert_eq!(call["counted"], true);
    assert_eq!(
        call["trail"],
        json!([{"at": "2026-11-20T11:51:00.000Z", "step": 1, "target": "sip:127.0.0.1:5080",
                "outcome": "answered", "sip_status": 200}])
    );
    assert_eq!(get(&server, "/v1/calls/nope").0, 404);

    let patch = |body: Value, id: &str| {
        let mut resp = agent()
            .patch(server.url(&format!("/v1/calls/{id}")))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send_json(body)
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_json::<Value>().unwrap(),
        )
    };
    let deal = json!({"amount": "1500.50", "currency": "RUB", "status": "won"});
    let (status, patched) = patch(
        json!({"tags": ["lead", "vip"], "note": "called about a sofa", "deal": deal}),
        "call0007",
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["tags"], json!(["lead", "vip"]));
    assert_eq!(patched["deal"], deal);
    assert!(patched["updated_at"].as_str().is_some());
    let (_, read) = get(&server, "/v1/calls/call0007");
    assert_eq!(read["note"], "called about a sofa");
    assert_eq!(read["deal"]["amount"], "1500.50");

    let (status, cleared) = patch(json!({"note": null}), "call0007");
    assert_eq!(status, 200);
    assert_eq!(cleared["note"], Value::Null);
    assert_eq!(
        cleared["tags"],
        json!(["lead", "vip"]),
        "absent fields are kept"
    );

    let (status, error) = patch(
        json!({"tags": [""], "deal": {"amount": "1.234", "currency": "rubles", "status": "won"}}),
        "call0007",
    );
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "invalid_body");
    assert_eq!(
        error["error"]["problems"].as_array().unwrap().len(),
        2,
        "{error}"
    );
    assert_eq!(patch(json!({"note": "x"}), "nope").0, 404);
    assert_eq!(patch(json!({"colour": "red"}), "call0007").0, 422);

    // The scorer's label: kept with who set it and when; a bad value is one listed problem.
    assert_eq!(call["label"], Value::Null);
    assert_eq!(call["target_probability"], Value::Null);
    let (status, labelled) = patch(json!({"label": "not_target"}), "call0007");
    assert_eq!(status, 200, "{labelled}");
    assert_eq!(labelled["label"], "not_target");
    assert_eq!(labelled["label_by"], "admin:bearer");
    assert!(labelled["label_at"].as_str().is_some());
    assert_eq!(
        labelled["tags"],
        json!(["lead", "vip"]),
        "a label keeps the rest"
    );
    let (status, error) = patch(json!({"label": "maybe"}), "call0007");
    assert_eq!(status, 400, "{error}");
    let problems = error["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{error}");
    assert!(
        problems[0].as_str().unwrap().starts_with("label:"),
        "{error}"
    );
    assert_eq!(get(&server, "/v1/calls/call0007").1["label"], "not_target");
    let (_, cleared) = patch(json!({"label": null}), "call0007");
    assert_eq!(
        (cleared["label"].clone(), cleared["label_by"].clone()),
        (Value::Null, Value::Null)
    );
}

#[test]
fn the_csv_export_holds_the_same_calls_as_the_json_pages() {
    let (server, _dir) = server();
    let query = "source=google&sort=started_at";
    let (json_calls, _) = all_pages(&server, &format!("{query}&limit=13"));
    let mut resp = agent()
        .get(server.url(&format!("/v1/calls.csv?{query}")))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = resp.body_mut().read_to_string().unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), json_calls.len());
    let cell = |row: &csv::StringRecord, name: &str| {
        row[header.iter().position(|h| h == name).unwrap()].to_owned()
    };
    for (row, call) in rows.iter().zip(&json_calls) {
        for name in [
            "id",
            "started_at",
            "disposition",
            "caller",
            "tracking_number",
        ] {
            assert_eq!(cell(row, name), call[name].as_str().unwrap(), "{name}");
        }
        assert_eq!(
            cell(row, "source"),
            call["attribution"]["source"].as_str().unwrap()
        );
        assert_eq!(
            cell(row, "device"),
            call["attribution"]["device"].as_str().unwrap()
        );
        assert_eq!(cell(row, "missed"), call["missed"].to_string());
        assert_eq!(cell(row, "talk_secs"), call["talk_secs"].to_string());
    }
    // More than one batch of the export (500 rows) is streamed whole.
    let mut all = agent()
        .get(server.url("/v1/calls.csv"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let text = all.body_mut().read_to_string().unwrap();
    assert_eq!(text.lines().count(), CALLS + 1, "header and every call");
}

#[test]
fn bad_filters_are_one_400_listing_every_problem() {
    let (server, _dir) = server();
    for path in ["/v1/calls", "/v1/calls.csv"] {
        let (status, body) = get(
            &server,
            &format!("{path}?form=2026-11-01&disposition=hung&limit=501&missed=yes&cursor=zz"),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_query");
        let problems: Vec<&str> = body["error"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems[0].contains("allowed: from, to, site, source"),
            "{problems:?}"
        );
        assert!(problems[1].contains("no_answer"), "{problems:?}");
        assert!(problems[2].contains("1 to 500"), "{problems:?}");
    }
}

#[test]
fn without_the_bearer_token_it_is_401() {
    let (server, _dir) = server();
    for path in ["/v1/calls", "/v1/calls.csv", "/v1/calls/call0001"] {
        let mut resp = agent().get(server.url(path)).call().unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        let body: Value = resp.body_mut().read_json().unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    let resp = agent()
        .patch(server.url("/v1/calls/call0001"))
        .header("Authorization", "Bearer wrong")
        .send_json(json!({"note": "x"}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[test]
fn the_openapi_document_describes_the_calls_routes() {
    let (server, _dir) = server();
    let (status, doc) = get(&server, "/v1/openapi.json");
    assert_eq!(status, 200);
    for path in ["/v1/calls", "/v1/calls.csv", "/v1/calls/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path} in {}", doc["paths"]);
    }
    assert!(doc["paths"]["/v1/calls/{id}"]["patch"].is_object());
    let schemas = &doc["components"]["schemas"];
    for name in ["CallView", "CallPatch", "TrailStep", "DealView"] {
        assert!(schemas[name].is_object(), "{name}");
    }
}
