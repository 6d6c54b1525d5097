//! The snippet and admin HTTP API end to end on loopback: sessions, heartbeats, release, bots,
//! pool exhaustion, CORS, rate limit, and JSON errors for every failure.

#![allow(clippy::expect_used)]

mod http_support;

use http_support::{BROWSER_UA, TestServer, agent, config_toml};
use serde_json::{Value, json};
use ureq::http::Response;

type Reply = Response<ureq::Body>;

fn create(server: &TestServer, body: Value, ua: &str) -> Reply {
    agent()
        .post(server.url("/v1/sites/demo/sessions"))
        .header("User-Agent", ua)
        .send_json(body)
        .expect("request")
}

fn paid(visitor: &str) -> Value {
    json!({
        "visitor_id": visitor,
        "page_url": "https://shop.example/promo?utm_source=google&utm_medium=cpc&gclid=abc",
        "referrer": "https://www.google.com/",
        "ga_client_id": "123.456",
    })
}

fn json_of(mut reply: Reply) -> Value {
    reply.body_mut().read_json().expect("JSON body")
}

/// Asserts the JSON error shape and returns the code.
fn error_code(reply: Reply) -> String {
    let content_type = header(&reply, "content-type");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = json_of(reply);
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().expect("code").to_owned()
}

fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn paid_visit_leases_heartbeats_and_releases() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let reply = create(&server, paid("v1"), BROWSER_UA);
    assert_eq!(reply.status(), 201);
    let session = json_of(reply);
    assert_eq!(session["kind"], "dynamic", "{session}");
    let number = session["number"].as_str().expect("number");
    assert!(number.starts_with("7495000010"), "{number}");
    assert!(
        session["display"]
            .as_str()
            .expect("display")
            .starts_with("+7 (495)")
    );
    assert!(session["lease_expires_at"].is_string());
    assert_eq!(session["heartbeat_secs"], 1);
    let id = session["session_id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32);
    let lease = server.leases.session(&id).expect("lease held");
    assert_eq!(lease.visit.utm_source(), Some("google"));
    assert_eq!(lease.visit.gclid(), Some("abc"));
    assert_eq!(lease.visit.region(), Some("moscow"));
    assert_eq!(lease.visit.device(), Some("desktop"));

    let beat = agent()
        .post(server.url(&format!("/v1/sessions/{id}/heartbeat")))
        .send_empty()
        .expect("heartbeat");
    assert_eq!(beat.status(), 200);
    let beat = json_of(beat);
    assert_eq!(beat["session_id"], id.as_str());
    assert_eq!(beat["number"], number);
    assert!(server.leases.session(&id).expect("lease").last_seen > lease.last_seen);

    let released = agent()
        .delete(server.url(&format!("/v1/sessions/{id}")))
        .call()
        .expect("release");
    assert_eq!(released.status(), 204);
    let beacon = agent()
        .post(server.url(&format!("/v1/sessions/{id}/release")))
        .send_empty()
        .expect("beacon");
    assert_eq!(beacon.status(), 204);
}

#[test]
fn unknown_session_site_and_route_are_json_404() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    for path in [
        "/v1/sessions/0123456789abcdef0123456789abcdef/heartbeat",
        "/v1/sessions/not-an-id/heartbeat",
    ] {
        let reply = agent().post(server.url(path)).send_empty().expect("req");
        assert_eq!(reply.status(), 404);
        assert_eq!(error_code(reply), "unknown_session");
    }
    let reply = agent()
        .post(server.url("/v1/sites/nope/sessions"))
        .header("User-Agent", BROWSER_UA)
        .send_json(paid("v"))
        .expect("req");
    assert_eq!(reply.status(), 404);
    assert_eq!(error_code(reply), "unknown_site");
    let reply = agent()
        .post(server.url("/v1/sessions/%FF%FE/heartbeat"))
        .send_empty()
        .expect("req");
    assert_eq!(reply.status(), 400);
    assert_eq!(error_code(reply), "bad_request");
    let reply = agent().get(server.url("/v1/nothing")).call().expect("req");
    assert_eq!(reply.status(), 404);
    assert_eq!(error_code(reply), "not_found");
    let reply = agent()
        .get(server.url("/v1/sites/demo/sessions"))
        .call()
        .expect("req");
    assert_eq!(reply.status(), 405);
    assert_eq!(error_code(reply), "method_not_allowed");
}

#[test]
fn bots_and_direct_visits_get_the_default_number_without_a_lease() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let bots = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "curl/8.5.0",
        "",
    ];
    for ua in bots {
        let session = json_of(create(&server, paid("bot"), ua));
        assert_eq!(session["kind"], "default", "{ua}");
        assert_eq!(session["number"], "74950000000");
        assert!(session["lease_expires_at"].is_null());
        let id = session["session_id"].as_str().expect("id");
        let beat = agent()
            .post(server.url(&format!("/v1/sessions/{id}/heartbeat")))
            .send_empty()
            .expect("heartbeat");
        assert_eq!(beat.status(), 200);
        assert_eq!(json_of(beat)["number"], "74950000000");
        let gone = agent()
            .delete(server.url(&format!("/v1/sessions/{id}")))
            .call()
            .expect("release");
        assert_eq!(gone.status(), 204);
    }
    let direct = json!({"page_url": "https://shop.example/"});
    assert_eq!(
        json_of(create(&server, direct, BROWSER_UA))["kind"],
        "default"
    );
    let stats = json_of(
        agent()
            .get(server.url("/v1/admin/pools"))
            .call()
            .expect("stats"),
    );
    assert_eq!(stats["pools"][0]["leased"], 0, "{stats}");
    assert_eq!(stats["pools"][0]["granted_total"], 0, "{stats}");
}

#[test]
fn exhausted_pool_shows_the_reserve_number() {
    let server = TestServer::start(&config_toml("74950000100-74950000101", 1000));
    let kinds: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|v| json_of(create(&server, paid(v), BROWSER_UA)))
        .collect();
    assert_eq!(kinds[0]["kind"], "dynamic");
    assert_eq!(kinds[1]["kind"], "dynamic");
    assert_ne!(kinds[0]["number"], kinds[1]["number"]);
    assert_eq!(kinds[2]["kind"], "reserve", "{}", kinds[2]);
    assert_eq!(kinds[2]["number"], "74950000099");
    let id = kinds[2]["session_id"].as_str().expect("id");
    let beat = agent()
        .post(server.url(&format!("/v1/sessions/{id}/heartbeat")))
        .send_empty()
        .expect("heartbeat");
    assert_eq!(json_of(beat)["kind"], "reserve");
    let stats = json_of(
        agent()
            .get(server.url("/v1/admin/pools"))
            .call()
            .expect("stats"),
    );
    let pool = &stats["pools"][0];
    assert_eq!(
        (pool["site"].as_str(), pool["pool"].as_str()),
        (Some("demo"), Some("web"))
    );
    assert_eq!(pool["size"], 2);
    assert_eq!(pool["leased"], 2);
    assert_eq!(
        pool["exhausted_total"], 1,
        "one reserve answer, one exhaustion: {stats}"
    );
}

#[test]
fn cors_preflight_allows_the_site_origin_only() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let preflight = |origin: &str| {
        agent()
            .options(server.url("/v1/sites/demo/sessions"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .call()
            .expect("preflight")
    };
    let ok = preflight("https://shop.example");
    assert_eq!(ok.status(), 204);
    assert_eq!(
        header(&ok, "access-control-allow-origin"),
        "https://shop.example"
    );
    assert!(header(&ok, "access-control-allow-methods").contains("POST"));
    assert!(
        header(&ok, "access-control-allow-headers")
            .to_lowercase()
            .contains("content-type")
    );
    let refused = preflight("https://evil.example");
    assert_eq!(refused.status(), 403);
    assert_eq!(header(&refused, "access-control-allow-origin"), "");
    assert_eq!(error_code(refused), "origin_not_allowed");

    let post = agent()
        .post(server.url("/v1/sites/demo/sessions"))
        .header("Origin", "https://shop.example")
        .header("User-Agent", BROWSER_UA)
        .send_json(paid("cors"))
        .expect("post");
    assert_eq!(post.status(), 201);
    assert_eq!(
        header(&post, "access-control-allow-origin"),
        "https://shop.example"
    );
    let id = json_of(post)["session_id"].as_str().expect("id").to_owned();
    let beat = agent()
        .options(server.url(&format!("/v1/sessions/{id}/heartbeat")))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .call()
        .expect("preflight");
    assert_eq!(beat.status(), 204);
    let foreign = agent()
        .post(server.url("/v1/sites/demo/sessions"))
        .header("Origin", "https://evil.example")
        .header("User-Agent", BROWSER_UA)
        .send_json(paid("evil"))
        .expect("post");
    assert_eq!(foreign.status(), 403);
}

#[test]
fn rate_limit_answers_429_json_with_retry_after() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 3));
    let direct = json!({"page_url": "https://shop.example/"});
    for _ in 0..3 {
        assert_eq!(create(&server, direct.clone(), BROWSER_UA).status(), 201);
    }
    let limited = create(&server, direct, BROWSER_UA);
    assert_eq!(limited.status(), 429);
    let retry: u64 = header(&limited, "retry-after")
        .parse()
        .expect("Retry-After");
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(error_code(limited), "rate_limited");
    let health = agent().get(server.url("/health")).call().expect("health");
    assert_eq!(health.status(), 200, "health is not rate limited");
    let beat = agent()
        .post(server.url("/v1/sessions/0123456789abcdef0123456789abcdef/heartbeat"))
        .send_empty()
        .expect("heartbeat");
    assert_eq!(beat.status(), 404, "heartbeats are not rate limited");
}

#[test]
fn malformed_bodies_get_json_errors() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let post = || {
        agent()
            .post(server.url("/v1/sites/demo/sessions"))
            .header("User-Agent", BROWSER_UA)
    };
    let broken = post()
        .content_type("application/json")
        .send("{\"page_url\": ")
        .expect("req");
    assert_eq!(broken.status(), 400);
    assert_eq!(error_code(broken), "invalid_json");
    let missing = post().send_json(json!({"visitor_id": "x"})).expect("req");
    assert_eq!(missing.status(), 422);
    assert_eq!(error_code(missing), "invalid_body");
    let text = post()
        .content_type("text/plain")
        .send("hello")
        .expect("req");
    assert_eq!(text.status(), 415);
    assert_eq!(error_code(text), "unsupported_media_type");
    let huge = json!({"page_url": format!("https://shop.example/?q={}", "x".repeat(10_000))});
    let big = post().send_json(huge).expect("req");
    assert_eq!(big.status(), 413);
    assert_eq!(error_code(big), "payload_too_large");
}

#[test]
fn snippet_and_demo_are_served() {
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let mut js = agent()
        .get(server.url("/v1/snippet.js"))
        .call()
        .expect("js");
    assert_eq!(js.status(), 200);
    assert!(header(&js, "content-type").starts_with("text/javascript"));
    assert!(header(&js, "cache-control").contains("max-age"));
    assert!(
        js.body_mut()
            .read_to_string()
            .expect("body")
            .contains("window.calltrack")
    );
    let mut demo = agent().get(server.url("/demo")).call().expect("demo");
    assert!(header(&demo, "content-type").starts_with("text/html"));
    assert!(
        demo.body_mut()
            .read_to_string()
            .expect("body")
            .contains("data-calltrack-noswap")
    );
}

#[test]
fn visitor_values_are_cleaned_where_they_enter_and_kept_alike() {
    use calltrack::call::attribution::{StampRules, attribute, stamp};
    use calltrack::call::lease_lookup::Holder;
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let body = json!({
        "visitor_id": "v\u{0}1",
        "page_url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring%09%C2%A0%20sale%00",
        "ga_client_id": "GA1.2\u{0}.34\r\n56",
        "ga_session_id": " 1700000000\u{7f} ",
        "ym_client_id": "17\u{1b}[31m0001",
    });
    let session = json_of(create(&server, body, BROWSER_UA));
    assert_eq!(session["kind"], "dynamic", "{session}");
    let id = session["session_id"].as_str().expect("session id");
    let lease = server.leases.session(id).expect("the lease");
    assert_eq!(lease.visitor_id.as_deref(), Some("v1"));
    let visit = &lease.visit;
    assert_eq!(visit.ga_client_id(), Some("GA1.2.3456"));
    assert_eq!(visit.ga_session_id(), Some("1700000000"));
    assert_eq!(visit.ym_client_id(), Some("17[31m0001"));
    assert_eq!(visit.utm_campaign(), Some("spring sale"));
    // What the CDR copies (the call's attribution) and what the PBX is told are the same.
    let attribution = attribute("demo", Holder::Lease(lease.clone()));
    assert_eq!(attribution.ga_client_id.as_deref(), Some("GA1.2.3456"));
    assert_eq!(attribution.ym_client_id.as_deref(), Some("17[31m0001"));
    let rules = StampRules {
        prefix: "X-CT-",
        diversion: false,
        tracking_number: &lease.number,
        host: "127.0.0.1:5060",
    };
    let headers = stamp(&attribution, true, &rules);
    let campaign = headers.iter().find(|(name, _)| name == "X-CT-Campaign");
    assert_eq!(
        campaign.map(|(_, v)| v.as_str()),
        attribution.campaign.as_deref()
    );
}

#[test]
fn the_answer_says_why_this_number() {
    let server = TestServer::start(&config_toml("74950000100", 1000));
    let reason = |body: Value, ua: &str| {
        let session = json_of(create(&server, body, ua));
        (
            session["kind"].as_str().unwrap_or_default().to_owned(),
            session["reason"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let pair = |kind: &str, reason: &str| (kind.to_owned(), reason.to_owned());
    assert_eq!(reason(paid("c"), "curl/8.5.0"), pair("default", "bot"));
    assert_eq!(
        reason(
            paid("h"),
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
        ),
        pair("default", "bot")
    );
    let direct = json!({"page_url": "https://shop.example/"});
    assert_eq!(reason(direct, BROWSER_UA), pair("default", "direct"));
    assert_eq!(reason(paid("a"), BROWSER_UA), pair("dynamic", "pool"));
    assert_eq!(
        reason(paid("b"), BROWSER_UA),
        pair("reserve", "pool_exhausted")
    );
}
