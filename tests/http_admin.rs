//! The admin API's bearer token and the blacklist API, on loopback against an in-process
//! server: no or wrong token is a 401 JSON error, the right token works, and blacklist edits
//! reach the table the SIP core reads and the SQLite store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;

use http_support::{TestServer, agent, config_toml};
use serde_json::{Value, json};

const TOKEN: &str = "test-admin-token-0123456789";

fn server(dir: &tempfile::TempDir, token: Option<&str>) -> TestServer {
    let mut toml = config_toml("74950000100-74950000101", 100);
    if let Some(token) = token {
        toml = toml.replace("[http]\n", &format!("[http]\nadmin_token = \"{token}\"\n"));
    }
    toml.push_str(&format!(
        "\n[store]\npath = \"{}\"\n\n[blacklist]\nnumbers = [\"7800*\"]\nstatus = 486\n",
        dir.path().join("cdr.db").display()
    ));
    TestServer::start(&toml)
}

fn get(server: &TestServer, path: &str, auth: Option<&str>) -> (u16, Value, Option<String>) {
    let mut req = agent().get(server.url(path));
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let mut resp = req.call().unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap(), challenge)
}

#[test]
fn missing_or_wrong_token_is_a_401_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, Some(TOKEN));
    for auth in [None, Some("Bearer wrong-token-wrong-token"), Some(TOKEN)] {
        for path in ["/v1/admin/pools", "/v1/admin/blacklist"] {
            let (status, body, challenge) = get(&server, path, auth);
            assert_eq!(status, 401, "{path} with {auth:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
            assert_eq!(challenge.as_deref(), Some("Bearer"));
        }
    }
    // The public API needs no token.
    let resp = agent().get(server.url("/health")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[test]
fn the_right_token_opens_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, Some(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    let (status, body, _) = get(&server, "/v1/admin/pools", Some(&bearer));
    assert_eq!(status, 200);
    assert_eq!(body["pools"][0]["pool"], "web");
    let (status, body, _) = get(&server, "/v1/admin/blacklist", Some(&bearer));
    assert_eq!(status, 200);
    assert_eq!(body["status"], 486);
    assert_eq!(
        body["entries"],
        json!([{"pattern": "7800*", "origin": "config"}])
    );
}

#[test]
fn blacklist_edits_reach_the_core_table_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, Some(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    let post = |number: &str| {
        agent()
            .post(server.url("/v1/admin/blacklist"))
            .header("Authorization", &bearer)
            .send_json(json!({ "number": number }))
            .unwrap()
    };
    let mut resp = post("+7 916 123-45-67");
    assert_eq!(resp.status().as_u16(), 201);
    let entry: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(entry, json!({"pattern": "79161234567", "origin": "api"}));
    assert_eq!(post("79161234567").status().as_u16(), 200, "already listed");
    assert_eq!(post("not-a-number").status().as_u16(), 422);
    assert_eq!(
        server.blacklist.matching("79161234567").as_deref(),
        Some("79161234567")
    );
    let conn = calltrack::store::open(&dir.path().join("cdr.db")).unwrap();
    assert_eq!(
        calltrack::store::blacklist::load(&conn).unwrap(),
        vec!["79161234567"]
    );

    let delete = |path: &str| {
        agent()
            .delete(server.url(path))
            .header("Authorization", &bearer)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        delete("/v1/admin/blacklist/7800*"),
        409,
        "config entries stay"
    );
    assert_eq!(delete("/v1/admin/blacklist/79161234567"), 204);
    assert_eq!(delete("/v1/admin/blacklist/79161234567"), 404);
    assert_eq!(server.blacklist.matching("79161234567"), None);
    assert!(calltrack::store::blacklist::load(&conn).unwrap().is_empty());
    let unauthorized = agent()
        .delete(server.url("/v1/admin/blacklist/7800*"))
        .call()
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
}

#[test]
fn without_a_token_a_loopback_listener_serves_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, None);
    let (status, _, _) = get(&server, "/v1/admin/blacklist", None);
    assert_eq!(status, 200);
}

/// `calltrack pool status --format json` against `server`, with this config token, flag
/// and environment; returns (exit code, stdout, stderr).
fn pool_status(
    server: &TestServer,
    config_token: Option<&str>,
    flag: Option<&str>,
    env: Option<&str>,
) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calltrack.toml");
    let mut toml = format!("[http]\nlisten = \"{}\"\n", server.addr);
    if let Some(token) = config_token {
        toml.push_str(&format!("admin_token = \"{token}\"\n"));
    }
    std::fs::write(&file, toml).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_calltrack"));
    cmd.arg("--config")
        .arg(&file)
        .args(["pool", "status", "--format", "json"]);
    if let Some(flag) = flag {
        cmd.args(["--token", flag]);
    }
    cmd.env_remove("CALLTRACK_ADMIN_TOKEN");
    if let Some(env) = env {
        cmd.env("CALLTRACK_ADMIN_TOKEN", env);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pool_status_sends_the_admin_token_flag_then_env_then_config() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, Some(TOKEN));
    const WRONG: &str = "wrong-token-wrong-token-0000";
    let ok = |(code, out, err): (i32, String, String)| {
        assert_eq!(code, 0, "stdout {out}\nstderr {err}");
        let body: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(body["pools"][0]["pool"], "web", "{out}");
    };
    ok(pool_status(&server, Some(TOKEN), None, None));
    ok(pool_status(&server, Some(WRONG), None, Some(TOKEN)));
    ok(pool_status(&server, Some(WRONG), Some(TOKEN), Some(WRONG)));
    let (code, _, err) = pool_status(&server, Some(TOKEN), Some(WRONG), None);
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
}
