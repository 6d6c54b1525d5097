//! The overflow code through the snippet API on loopback: when the pool is exhausted a site with
//! `overflow_code = true` answers the reserve number plus a code bound to the visitor's session;
//! heartbeats keep it, the same visitor gets it back, the code names the visit in the lease
//! table (what a call to the reserve number looks up), and release starts its freeze.

#![allow(clippy::expect_used)]

mod http_support;

use calltrack::lease::CodeMatch;
use http_support::{BROWSER_UA, TestServer, agent, config_toml};
use serde_json::{Value, json};

fn coded_config() -> String {
    config_toml("74950000100-74950000101", 1000).replace(
        "reserve_number = \"74950000099\"\n",
        "reserve_number = \"74950000099\"\noverflow_code = true\n",
    )
}

fn create(server: &TestServer, visitor: &str, source: &str) -> Value {
    let body = json!({
        "visitor_id": visitor,
        "page_url": format!("https://shop.example/p?utm_source={source}&utm_medium=cpc"),
    });
    agent()
        .post(server.url("/v1/sites/demo/sessions"))
        .header("User-Agent", BROWSER_UA)
        .send_json(body)
        .expect("create")
        .body_mut()
        .read_json()
        .expect("JSON")
}

fn post(server: &TestServer, path: &str) -> (u16, Option<Value>) {
    let mut reply = agent()
        .post(server.url(path))
        .send_empty()
        .expect("request");
    let status = reply.status().as_u16();
    (status, reply.body_mut().read_json().ok())
}

#[test]
fn an_exhausted_pool_answers_the_reserve_number_with_a_code_bound_to_the_visit() {
    let server = TestServer::start(&coded_config());
    assert_eq!(create(&server, "a", "one")["kind"], "dynamic");
    assert_eq!(create(&server, "b", "two")["kind"], "dynamic");
    let c = create(&server, "c", "three");
    assert_eq!(c["kind"], "reserve", "{c}");
    assert_eq!(c["number"], "74950000099");
    assert_eq!(c["reason"], "pool_exhausted");
    let code = c["code"].as_str().expect("a code").to_owned();
    assert_eq!(code.len(), 3, "the first codes are three digits: {code}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert!(c["lease_expires_at"].is_string(), "{c}");

    let again = create(&server, "c", "three");
    assert_eq!(again["code"], c["code"], "the same visitor keeps its code");
    let d = create(&server, "d", "four");
    let other = d["code"].as_str().expect("a second code");
    assert_ne!(other, code);
    assert!(!other.starts_with(&code) && !code.starts_with(other));

    let now = jiff::Timestamp::now();
    let CodeMatch::Found(held) = server.leases.codes().lookup("demo", &code, now) else {
        panic!("the code names a live session");
    };
    assert_eq!(held.visit.utm_source(), Some("three"));
    assert_eq!(held.visitor_id.as_deref(), Some("c"));
    assert_eq!(
        server.leases.codes().lookup("demo", &code[..2], now),
        CodeMatch::Partial
    );

    let id = c["session_id"].as_str().expect("id");
    let (status, beat) = post(&server, &format!("/v1/sessions/{id}/heartbeat"));
    assert_eq!(status, 200);
    let beat = beat.expect("JSON");
    assert_eq!(
        (beat["kind"].as_str(), beat["code"].as_str()),
        (Some("reserve"), Some(code.as_str()))
    );
    let (status, _) = post(&server, &format!("/v1/sessions/{id}/release"));
    assert_eq!(status, 204);
    assert!(
        matches!(
            server
                .leases
                .codes()
                .lookup("demo", &code, jiff::Timestamp::now()),
            CodeMatch::Found(_)
        ),
        "a released code stays bound for the freeze time"
    );
}

#[test]
fn without_overflow_code_the_reserve_number_comes_alone() {
    let server = TestServer::start(&config_toml("74950000100-74950000100", 1000));
    assert_eq!(create(&server, "a", "one")["kind"], "dynamic");
    let b = create(&server, "b", "two");
    assert_eq!(b["kind"], "reserve");
    assert!(b.get("code").is_none(), "{b}");
    assert!(server.leases.codes().live_by_site().is_empty());
}

#[test]
fn a_lead_from_a_coded_session_is_attributed_to_its_visit() {
    let dir = tempfile::tempdir().expect("dir");
    let mut toml = coded_config();
    toml.push_str(&format!(
        "\n[store]\npath = \"{}\"\n",
        dir.path().join("cdr.db").display()
    ));
    let server = TestServer::start(&toml);
    create(&server, "a", "one");
    create(&server, "b", "two");
    let c = create(&server, "c", "three");
    let id = c["session_id"].as_str().expect("id");
    let reply = agent()
        .post(server.url(&format!("/v1/sessions/{id}/leads")))
        .send_json(json!({"phone": "+7 916 111-22-33"}))
        .expect("lead");
    assert_eq!(reply.status(), 201);
    let list: Value = agent()
        .get(server.url("/v1/leads"))
        .call()
        .expect("leads")
        .body_mut()
        .read_json()
        .expect("JSON");
    let lead = &list["leads"][0];
    assert_eq!(lead["number_kind"], "overflow_code", "{lead}");
    assert_eq!(lead["attribution"]["source"], "three", "{lead}");
    assert_eq!(lead["attribution"]["session_id"], id, "{lead}");
}
