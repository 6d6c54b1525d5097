//! Leads end to end on loopback: a visitor's session (created with UTM tags like the snippet
//! does) posts a lead, and `GET /v1/leads` serves it with the attribution the call pipeline
//! gives a call to the visitor's number at that moment; first-time by phone or email within
//! the uniqueness window; every bad body a JSON error; filters and cursor pages; PATCH of
//! tags, note and deal; CORS and the rate limit like session creation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;

use std::path::Path;

use calltrack::call::{attribution, lease_lookup};
use calltrack::config::Config;
use http_support::{BROWSER_UA, TestServer, agent, config_toml};
use serde_json::{Value, json};
use ureq::http::Response;

type Reply = Response<ureq::Body>;

fn toml(dir: &Path, rate_limit_per_minute: u32) -> String {
    let mut toml = config_toml("74950000100-74950000109", rate_limit_per_minute);
    toml.push_str(&format!(
        "\n[store]\npath = \"{}\"\n\n[tracking]\nunique_window_days = 30\n",
        dir.join("cdr.db").display()
    ));
    toml
}

fn session(server: &TestServer, page_url: &str) -> String {
    let body = json!({
        "visitor_id": "v1",
        "page_url": page_url,
        "referrer": "https://www.google.com/",
        "ga_client_id": "123.456",
    });
    let mut reply = agent()
        .post(server.url("/v1/sites/demo/sessions"))
        .header("User-Agent", BROWSER_UA)
        .send_json(body)
        .unwrap();
    assert_eq!(reply.status(), 201);
    let view: Value = reply.body_mut().read_json().unwrap();
    view["session_id"].as_str().unwrap().to_owned()
}

fn post_lead(server: &TestServer, session: &str, body: Value) -> Reply {
    agent()
        .post(server.url(&format!("/v1/sessions/{session}/leads")))
        .send_json(body)
        .unwrap()
}

fn json_of(mut reply: Reply) -> Value {
    reply.body_mut().read_json().unwrap()
}

/// `(status, body)` of a lead post that must succeed.
fn created(server: &TestServer, session: &str, body: Value) -> Value {
    let reply = post_lead(server, session, body);
    assert_eq!(reply.status(), 201);
    json_of(reply)
}

fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let reply = agent().get(server.url(path)).call().unwrap();
    (reply.status().as_u16(), json_of(reply))
}

fn patch(server: &TestServer, id: &str, body: Value) -> (u16, Value) {
    let reply = agent()
        .patch(server.url(&format!("/v1/leads/{id}")))
        .send_json(body)
        .unwrap();
    (reply.status().as_u16(), json_of(reply))
}

const PAID: &str = "https://shop.example/promo?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=shoes&gclid=abc";

#[test]
fn a_lead_is_attributed_like_a_call_to_the_visitors_number() {
    let dir = tempfile::tempdir().unwrap();
    let toml = toml(dir.path(), 1000);
    let server = TestServer::start(&toml);
    let id = session(&server, PAID);
    let body = json!({
        "name": " Anna ",
        "phone": "+7 (916) 111-22-33",
        "email": "Anna@Example.COM",
        "message": "call me after 6",
        "fields": {"city": "Moscow"},
    });
    let answer = created(&server, &id, body);
    assert_eq!(answer["first_time"], true);
    let lead_id = answer["id"].as_str().unwrap();

    // What the call pipeline records for a call to this visitor's number right now.
    let config = Config::from_toml_str(&toml).unwrap();
    let lease = server.leases.session(&id).unwrap();
    let tracking = config.tracking_number(&lease.number).unwrap();
    let now = jiff::Timestamp::now();
    let call = attribution::attribute(
        &tracking.site,
        lease_lookup::holder_of(tracking, &server.leases, now),
    );

    let (status, list) = get(&server, "/v1/leads");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["next_cursor"], Value::Null);
    let lead = &list["leads"][0];
    assert_eq!(lead["id"], lead_id);
    assert_eq!(lead["phone"], "79161112233");
    assert_eq!(lead["email"], "anna@example.com");
    assert_eq!(lead["name"], "Anna");
    assert_eq!(lead["fields"], json!({"city": "Moscow"}));
    assert_eq!(lead["first_time"], true);
    assert_eq!(lead["site"], call.site);
    assert_eq!(lead["number_kind"], call.number_kind.as_str());
    let mut expected = serde_json::to_value(&call).unwrap();
    let expected = expected.as_object_mut().unwrap();
    expected.remove("site");
    expected.remove("number_kind");
    assert_eq!(lead["attribution"], Value::Object(expected.clone()));
    assert_eq!(lead["attribution"]["source"], "google");
    assert_eq!(lead["attribution"]["campaign"], "brand");
    assert_eq!(lead["attribution"]["term"], "shoes");
    assert_eq!(lead["attribution"]["gclid"], "abc");
    assert_eq!(lead["attribution"]["ga_client_id"], "123.456");
    assert_eq!(lead["attribution"]["region"], "moscow");
    assert_eq!(lead["attribution"]["device"], "desktop");
    assert_eq!(lead["attribution"]["session_id"], id.as_str());
}

#[test]
fn a_visitor_shown_the_default_number_leaves_a_default_lead() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&toml(dir.path(), 1000));
    let id = session(&server, "https://shop.example/");
    created(&server, &id, json!({"email": "a@b.ru"}));
    let (_, list) = get(&server, "/v1/leads");
    let lead = &list["leads"][0];
    assert_eq!(lead["number_kind"], "default");
    assert_eq!(lead["attribution"]["source"], Value::Null);
}

/// Seeds an earlier lead straight into the store, `days_ago` days back.
fn seed_lead(dir: &Path, days_ago: i64, phone: &str) {
    let conn = rusqlite_open(dir);
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days_ago);
    conn.execute(
        "INSERT INTO leads (id, created_at, phone, site) VALUES (?1, ?2, ?3, 'demo')",
        [
            format!("seed{days_ago}{phone}"),
            calltrack::call::record::rfc3339::format(at),
            phone.to_owned(),
        ],
    )
    .unwrap();
}

fn rusqlite_open(dir: &Path) -> rusqlite::Connection {
    calltrack::store::open(&dir.join("cdr.db")).unwrap()
}

#[test]
fn first_time_by_phone_or_email_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&toml(dir.path(), 1000));
    let id = session(&server, PAID);
    let first = |body| created(&server, &id, body)["first_time"].clone();
    assert_eq!(
        first(json!({"phone": "8 916 000-00-01", "email": "x@y.ru"})),
        true
    );
    assert_eq!(first(json!({"phone": "89160000001"})), false, "same phone");
    assert_eq!(first(json!({"email": "X@Y.RU"})), false, "same email");
    assert_eq!(
        first(json!({"phone": "89160000002", "email": "z@y.ru"})),
        true
    );

    // The window is 30 days: a lead 40 days ago is history, one 10 days ago is not.
    seed_lead(dir.path(), 40, "79160000003");
    assert_eq!(
        first(json!({"phone": "+7 916 000-00-03"})),
        true,
        "outside the window"
    );
    seed_lead(dir.path(), 10, "79160000004");
    assert_eq!(
        first(json!({"phone": "+7 916 000-00-04"})),
        false,
        "inside the window"
    );
}

fn error(reply: Reply) -> (u16, Value) {
    let status = reply.status().as_u16();
    let content_type = reply.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    (status, json_of(reply)["error"].clone())
}

#[test]
fn bad_bodies_and_unknown_sessions_are_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&toml(dir.path(), 1000));
    let id = session(&server, PAID);
    let (status, e) = error(post_lead(&server, &id, json!({"name": "no contact"})));
    assert_eq!((status, e["code"].as_str()), (400, Some("invalid_lead")));
    assert_eq!(e["problems"], json!(["phone or email is required"]));
    let bad = json!({"phone": "call me", "email": "nobody", "name": "x".repeat(201)});
    let (status, e) = error(post_lead(&server, &id, bad));
    assert_eq!(status, 400);
    assert_eq!(e["problems"].as_array().unwrap().len(), 3, "{e}");
    for body in [
        json!({"phone": 79160000000_u64}),
        json!({"email": "a@b.ru", "extra": 1}),
    ] {
        let (status, e) = error(post_lead(&server, &id, body));
        assert_eq!(
            (status, e["code"].as_str()),
            (400, Some("invalid_json")),
            "{e}"
        );
    }
    let raw = agent()
        .post(server.url(&format!("/v1/sessions/{id}/leads")))
        .header("Content-Type", "application/json")
        .send("{not json")
        .unwrap();
    assert_eq!(error(raw).0, 400);
    let form = agent()
        .post(server.url(&format!("/v1/sessions/{id}/leads")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("phone=1")
        .unwrap();
    assert_eq!(error(form).0, 415);
    // A beacon sends JSON as text/plain.
    let beacon = agent()
        .post(server.url(&format!("/v1/sessions/{id}/leads")))
        .header("Content-Type", "text/plain;charset=UTF-8")
        .send(r#"{"phone": "+7 916 555 44 33"}"#)
        .unwrap();
    assert_eq!(beacon.status(), 201);
    let gone = "0123456789abcdef0123456789abcdef";
    for session in [gone, "not-a-session"] {
        let (status, e) = error(post_lead(&server, session, json!({"phone": "79160000000"})));
        assert_eq!((status, e["code"].as_str()), (404, Some("unknown_session")));
    }
}

#[test]
fn filters_and_cursor_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&toml(dir.path(), 1000));
    let paid = session(&server, PAID);
    let direct = session(&server, "https://shop.example/");
    for i in 0..3 {
        created(&server, &paid, json!({"phone": format!("7916000000{i}")}));
    }
    created(&server, &direct, json!({"email": "Direct@Shop.example"}));
    let ids = |list: &Value| -> Vec<String> {
        let leads = list["leads"].as_array().unwrap();
        leads
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = get(&server, "/v1/leads");
    assert_eq!(ids(&all).len(), 4);
    let (_, page1) = get(&server, "/v1/leads?limit=3");
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = get(&server, &format!("/v1/leads?limit=3&cursor={cursor}"));
    assert_eq!(page2["next_cursor"], Value::Null);
    assert_eq!(
        [ids(&page1), ids(&page2)].concat(),
        ids(&all),
        "newest first, no gaps"
    );
    let (_, google) = get(&server, "/v1/leads?source=google&site=demo");
    assert_eq!(ids(&google).len(), 3);
    let (_, phone) = get(&server, "/v1/leads?phone=%2B7%20916%20000-00-01");
    assert_eq!(phone["leads"][0]["phone"], "79160000001");
    let (_, email) = get(&server, "/v1/leads?email=DIRECT@shop.example");
    assert_eq!(ids(&email).len(), 1);
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let (_, dated) = get(&server, &format!("/v1/leads?from={today}&to={today}"));
    assert_eq!(ids(&dated).len(), 4, "to is inclusive for a date");
    let (_, none) = get(&server, &format!("/v1/leads?to={today}T00:00:00Z"));
    assert!(ids(&none).is_empty());
    let (status, e) = get(&server, "/v1/leads?limit=0&from=yesterday&cursor=x");
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "invalid_query");
    assert_eq!(e["error"]["problems"].as_array().unwrap().len(), 3, "{e}");
    let (status, e) = get(&server, "/v1/leads?colour=red");
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
}

#[test]
fn a_crm_patches_tags_note_and_deal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&toml(dir.path(), 1000));
    let id = session(&server, PAID);
    let lead = created(&server, &id, json!({"phone": "79160000000"}));
    let lead_id = lead["id"].as_str().unwrap();
    let body = json!({
        "tags": ["vip", "vip", "callback"],
        "note": "wants delivery",
        "deal": {"amount": "1500.50", "currency": "rub", "status": "won"},
    });
    let (status, view) = patch(&server, lead_id, body);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["tags"], json!(["vip", "callback"]));
    assert_eq!(view["note"], "wants delivery");
    assert_eq!(
        view["deal"],
        json!({"amount": "1500.50", "currency": "RUB", "status": "won"})
    );
    assert!(view["updated_at"].is_string());
    let (_, view) = patch(&server, lead_id, json!({"deal": null}));
    assert_eq!(view["deal"], Value::Null);
    assert_eq!(view["note"], "wants delivery", "untouched");
    let bad =
        json!({"deal": {"amount": "1.234", "currency": "RUB", "status": "won"}, "tags": [""]});
    let (status, e) = patch(&server, lead_id, bad);
    assert_eq!(status, 400);
    assert_eq!(e["error"]["problems"].as_array().unwrap().len(), 2, "{e}");
    let (status, e) = patch(
        &server,
        "ffffffffffffffffffffffffffffffff",
        json!({"note": "x"}),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (_, list) = get(&server, "/v1/leads");
    assert_eq!(list["leads"][0]["tags"], json!(["vip", "callback"]));
}

#[test]
fn cors_and_rate_limit_like_session_creation() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&toml(dir.path(), 3));
    let id = session(&server, PAID);
    let from = |origin: &str| {
        agent()
            .post(server.url(&format!("/v1/sessions/{id}/leads")))
            .header("Origin", origin)
            .send_json(json!({"phone": "79160000000"}))
            .unwrap()
    };
    let allowed = from("https://shop.example");
    assert_eq!(allowed.status(), 201);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert_eq!(error(from("https://evil.example")).0, 403);
    // Three requests a minute from this address: the session and one lead used two.
    assert_eq!(from("https://shop.example").status(), 201);
    let (status, e) = error(from("https://shop.example"));
    assert_eq!((status, e["code"].as_str()), (429, Some("rate_limited")));
}
