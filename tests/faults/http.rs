//! The few HTTP calls the fault tests make: visitor sessions (leases) and health.

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

/// Creates a paid-traffic visitor session (a pool lease); `(session_id, number)`.
pub fn lease(http_port: u16, visitor: &str) -> (String, String) {
    let body = serde_json::json!({
        "visitor_id": visitor,
        "page_url": format!("https://shop.example/landing?utm_source=google&utm_medium=cpc&gclid={visitor}"),
    });
    let mut response = ureq::post(&format!(
        "http://127.0.0.1:{http_port}/v1/sites/demo/sessions"
    ))
    .header("User-Agent", BROWSER)
    .send_json(&body)
    .unwrap();
    assert_eq!(response.status(), 201);
    let v: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(v["kind"], "dynamic", "{v}");
    (
        v["session_id"].as_str().unwrap().to_owned(),
        v["number"].as_str().unwrap().to_owned(),
    )
}

/// Heartbeats a session: `Some(number)` while its lease lives, `None` on 404.
pub fn heartbeat(http_port: u16, session_id: &str) -> Option<String> {
    let response = ureq::post(&format!(
        "http://127.0.0.1:{http_port}/v1/sessions/{session_id}/heartbeat"
    ))
    .header("User-Agent", BROWSER)
    .config()
    .http_status_as_error(false)
    .build()
    .send_empty()
    .unwrap();
    if response.status() == 404 {
        return None;
    }
    assert_eq!(response.status(), 200);
    let v: serde_json::Value = response.into_body().read_json().unwrap();
    v["number"].as_str().map(str::to_owned)
}

/// `active_calls` from `GET /health`.
pub fn active_calls(http_port: u16) -> u64 {
    let v: serde_json::Value = ureq::get(&format!("http://127.0.0.1:{http_port}/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    v["active_calls"].as_u64().unwrap()
}
