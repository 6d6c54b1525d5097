//! Dashboard access over real HTTP: sign-in sets an HttpOnly, SameSite=Strict session cookie
//! (Secure when configured), sign-out ends it, the viewer role reads but gets 403 JSON on the
//! admin routes, cookie writes need this origin, the app's files are served from the binary,
//! and `GET /v1/pools/usage` answers per the contract.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;

use http_support::{TestServer, agent, config_toml};
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";

fn server(dir: &tempfile::TempDir, extra_http: &str) -> TestServer {
    let toml = config_toml("74950000100-74950000101", 1000).replace(
        "[http]\n",
        &format!(
            "[http]\nadmin_token = \"{ADMIN}\"\nviewer_tokens = [\"{VIEWER}\"]\n{extra_http}\n"
        ),
    );
    let toml = format!(
        "{toml}\n[store]\npath = \"{}\"\n",
        dir.path().join("calltrack.db").display()
    );
    TestServer::start(&toml)
}

/// Signs in; returns the status, the Set-Cookie header and the body.
fn login(server: &TestServer, token: &str, origin: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = agent().post(server.url("/v1/auth/login"));
    if let Some(origin) = origin {
        req = req.header("Origin", origin);
    }
    let mut resp = req.send_json(json!({ "token": token })).unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        resp.status().as_u16(),
        cookie,
        resp.body_mut().read_json().unwrap(),
    )
}

/// `calltrack_session=<id>` from a Set-Cookie value.
fn session_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

fn get(server: &TestServer, path: &str, header: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = agent().get(server.url(path));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

#[test]
fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "session_ttl_hours = 2");
    let (status, cookie, body) = login(&server, VIEWER, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "viewer");
    let cookie = cookie.expect("Set-Cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=7200"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let pair = session_pair(&cookie);
    let id = pair.strip_prefix("calltrack_session=").unwrap();
    assert_eq!(id.len(), 32, "128-bit id as hex");
    assert!(!id.contains(VIEWER));

    let (status, body) = get(&server, "/v1/auth/session", Some(("Cookie", &pair)));
    assert_eq!(
        (status, &body["role"], &body["via"]),
        (200, &json!("viewer"), &json!("cookie"))
    );
    let (status, _) = get(&server, "/v1/pools/usage", Some(("Cookie", &pair)));
    assert_eq!(status, 200);

    let mut resp = agent()
        .post(server.url("/v1/auth/logout"))
        .header("Cookie", &pair)
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let cleared = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.starts_with("calltrack_session=;") && cleared.contains("Max-Age=0"));
    let _ = resp.body_mut().read_to_string();
    let (status, body) = get(&server, "/v1/pools/usage", Some(("Cookie", &pair)));
    assert_eq!(status, 401, "signed out: {body}");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[test]
fn a_wrong_token_or_a_foreign_origin_does_not_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "secure_cookies = true");
    let (status, cookie, body) = login(&server, "not-a-token-not-a-token", None);
    assert_eq!((status, cookie), (401, None));
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, cookie, body) = login(&server, ADMIN, Some("https://evil.example"));
    assert_eq!((status, cookie), (403, None));
    assert_eq!(body["error"]["code"], "cross_origin");
    let origin = server.url("");
    let (status, cookie, body) = login(&server, ADMIN, Some(&origin));
    assert_eq!((status, &body["role"]), (200, &json!("admin")));
    assert!(
        cookie.unwrap().ends_with("; Secure"),
        "secure_cookies = true"
    );
    let (status, body) = get(&server, "/v1/pools/usage", None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
}

#[test]
fn the_viewer_reads_but_may_not_use_admin_or_blacklist_routes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "");
    let viewer = format!("Bearer {VIEWER}");
    let (status, _) = get(&server, "/v1/pools/usage", Some(("Authorization", &viewer)));
    assert_eq!(status, 200);
    for path in ["/v1/admin/pools", "/v1/admin/blacklist", "/v1/admin/health"] {
        let (status, body) = get(&server, path, Some(("Authorization", &viewer)));
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["error"]["code"], "read_only", "{path}");
    }
    let mut resp = agent()
        .post(server.url("/v1/admin/blacklist"))
        .header("Authorization", &viewer)
        .send_json(json!({"number": "79990000000"}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["error"]["code"], "read_only");
    let (status, cookie, _) = login(&server, VIEWER, None);
    assert_eq!(status, 200);
    let pair = session_pair(&cookie.unwrap());
    let (status, _) = get(&server, "/v1/admin/pools", Some(("Cookie", &pair)));
    assert_eq!(status, 403);
    // The admin token still opens everything.
    let (status, _) = get(
        &server,
        "/v1/admin/pools",
        Some(("Authorization", &format!("Bearer {ADMIN}"))),
    );
    assert_eq!(status, 200);
}

#[test]
fn a_cookie_write_needs_this_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "");
    let (_, cookie, _) = login(&server, ADMIN, None);
    let pair = session_pair(&cookie.unwrap());
    let post = |origin: Option<&str>| {
        let mut req = agent()
            .post(server.url("/v1/admin/blacklist"))
            .header("Cookie", &pair);
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        let mut resp = req.send_json(json!({"number": "79990000001"})).unwrap();
        let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (resp.status().as_u16(), body)
    };
    let (status, body) = post(None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("cross_origin"))
    );
    let (status, body) = post(Some("https://evil.example"));
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("cross_origin"))
    );
    let (status, body) = post(Some(&server.url("")));
    assert!(status < 300, "same-origin cookie write: {status} {body}");
}

#[test]
fn the_dashboard_is_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "");
    let mut resp = agent().get(server.url("/dashboard")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let headers = resp.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let page = resp.body_mut().read_to_string().unwrap();
    assert!(page.contains("/dashboard/app.js") && !page.contains("https://"));
    for (path, kind) in [
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/dashboard/style.css", "text/css"),
    ] {
        let resp = agent().get(server.url(path)).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
    }
    let (status, body) = get(&server, "/dashboard/secrets.txt", None);
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
}

#[test]
fn pool_usage_answers_per_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "");
    let db = rusqlite::Connection::open(dir.path().join("calltrack.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    for (minute, leased, exhausted) in [(0, 1, 0), (1, 2, 1), (2, 2, 1), (3, 0, 0)] {
        db.execute(
            "INSERT INTO pool_usage (at, site, pool, size, leased, exhausted)
             VALUES (?1, 'demo', 'web', 2, ?2, ?3)",
            rusqlite::params![
                format!("2026-03-01T12:0{minute}:00.000Z"),
                leased,
                exhausted
            ],
        )
        .unwrap();
    }
    // Calls of that day to the pool: two held (confidence 0.9 and 0.7), one unheld (0).
    for (id, kind, confidence) in [
        ("c1", "dynamic", Some(0.9)),
        ("c2", "dynamic", Some(0.7)),
        ("c3", "unattributed", None),
    ] {
        db.execute(
            "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
             ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, site,
             number_kind, confidence)
             VALUES (?1, ?1, '74950000100', '79160000001', 'sip:pbx', '2026-03-01T12:00:00.000Z',
             '2026-03-01T12:01:00.000Z', 5, 55, 'answered', 200, 'caller', 'demo', ?2, ?3)",
            rusqlite::params![id, kind, confidence],
        )
        .unwrap();
    }
    let admin = format!("Bearer {ADMIN}");
    let auth = Some(("Authorization", admin.as_str()));
    let (status, body) = get(
        &server,
        "/v1/pools/usage?site=demo&from=2026-03-01&to=2026-03-01",
        auth,
    );
    assert_eq!(status, 200, "{body}");
    let pool = &body["pools"][0];
    assert_eq!(
        (&pool["site"], &pool["pool"], &pool["size"]),
        (&json!("demo"), &json!("web"), &json!(2))
    );
    assert_eq!(pool["exhaustion_minutes"], 2);
    assert_eq!(pool["quarantined"], 0);
    let accuracy = pool["estimated_accuracy"].as_f64().unwrap();
    assert!((accuracy - 1.6 / 3.0).abs() < 1e-9, "{body}");
    assert_eq!(
        pool["samples"][1],
        json!({"at": "2026-03-01T12:01:00.000Z", "leased": 2, "exhausted": true})
    );
    let (_, body) = get(
        &server,
        "/v1/pools/usage?site=other&from=2026-03-01&to=2026-03-01",
        auth,
    );
    assert_eq!(body, json!({"pools": []}));
    let (status, body) = get(&server, "/v1/pools/usage?from=March&pool=web", auth);
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["problems"].as_array().unwrap().len(),
        2,
        "{body}"
    );
}

#[test]
fn the_viewer_may_not_write_calls_or_costs() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, "");
    let viewer = format!("Bearer {VIEWER}");
    let (status, body) = get(&server, "/v1/calls", Some(("Authorization", &viewer)));
    assert_eq!(status, 200, "the viewer reads calls: {body}");
    let (_, cookie, _) = login(&server, VIEWER, None);
    let viewer_cookie = session_pair(&cookie.unwrap());
    let (_, cookie, _) = login(&server, ADMIN, None);
    let admin_cookie = session_pair(&cookie.unwrap());
    let send = |method: &str, path: &str, header: (&str, &str), body: Value| {
        let req = match method {
            "PATCH" => agent().patch(server.url(path)),
            _ => agent().post(server.url(path)),
        };
        let mut resp = req.header(header.0, header.1).send_json(body).unwrap();
        let answer: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        (resp.status().as_u16(), answer["error"]["code"].clone())
    };
    let tags = json!({"tags": ["vip"]});
    let costs = json!({"rows": []});
    for header in [
        ("Authorization", viewer.as_str()),
        ("Cookie", viewer_cookie.as_str()),
    ] {
        assert_eq!(
            send("PATCH", "/v1/calls/any-id", header, tags.clone()),
            (403, json!("read_only")),
            "{header:?}"
        );
        assert_eq!(
            send("POST", "/v1/costs", header, costs.clone()),
            (403, json!("read_only")),
            "{header:?}"
        );
    }
    // The admin's cookie may write, from this origin only.
    let admin = ("Cookie", admin_cookie.as_str());
    assert_eq!(
        send("PATCH", "/v1/calls/any-id", admin, tags.clone()),
        (403, json!("cross_origin"))
    );
    let origin = server.url("");
    let mut resp = agent()
        .patch(server.url("/v1/calls/any-id"))
        .header("Cookie", &admin_cookie)
        .header("Origin", &origin)
        .send_json(tags)
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        404,
        "past the access checks: no such call"
    );
    let _ = resp.body_mut().read_to_string();
}
