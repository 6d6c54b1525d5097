//! `calltrack outbox` against the running daemon (the real binary, a real receiver): a
//! receiver answering 400 makes three leads' events dead letters; `outbox status` and
//! `outbox list --dead` (table and JSON) show them with the last error; `outbox replay
//! --destination crm --since ...` sends them again once the receiver answers 200, and they
//! arrive with the same `webhook-id`s. Exit codes: 2 for bad arguments (an unknown
//! destination, a bad --since, neither --id nor --since), 1 when the daemon is not running
//! or refuses the token. No sipp needed: leads make the events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use export_support::{Answer, Receiver};
use serde_json::{Value, json};
use support::{Calltrack, Leg};

const TOKEN: &str = "outbox-cli-token-0123456789";

fn exports(url: &str) -> String {
    format!(
        r#"
[exports]
retry_min_ms = 50

[[exports.webhooks]]
id = "crm"
url = "{url}/hooks"
events = ["lead.created"]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#
    )
}

/// `calltrack --config FILE outbox ARGS`; returns (exit code, stdout, stderr).
fn outbox(config: &Path, args: &[&str], env_token: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calltrack"));
    cmd.arg("--config").arg(config).arg("outbox").args(args);
    cmd.env_remove("CALLTRACK_ADMIN_TOKEN");
    if let Some(token) = env_token {
        cmd.env("CALLTRACK_ADMIN_TOKEN", token);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = outbox(config, args, None);
    assert_eq!(code, 0, "outbox {args:?}\nstdout {out}\nstderr {err}");
    out
}

fn lead(http_port: u16, n: u32) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{http_port}");
    let session: Value = agent
        .post(format!("{base}/v1/sites/demo/sessions"))
        .send_json(json!({"visitor_id": format!("v{n}"), "page_url": "https://shop.example/"}))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let sid = session["session_id"].as_str().unwrap();
    let reply = agent
        .post(format!("{base}/v1/sessions/{sid}/leads"))
        .send_json(json!({"phone": format!("+7 916 000-00-0{n}")}))
        .unwrap();
    assert_eq!(reply.status().as_u16(), 201);
}

fn status_json(config: &Path) -> Value {
    serde_json::from_str(&ok(config, &["status", "--format", "json"])).unwrap()
}

fn wait_crm(config: &Path, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = status_json(config);
        if done(&status["destinations"][0]) {
            return status;
        }
        assert!(Instant::now() < deadline, "never got there: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hook_ids(received: &[export_support::Received], status: u16) -> HashSet<String> {
    received
        .iter()
        .filter(|r| r.status == status)
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect()
}

#[test]
fn dead_letters_are_listed_and_replayed_from_the_command_line() {
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer("/hooks", Answer::status(400).delay(Duration::ZERO));
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        *toml = toml.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        toml.push_str(&exports(&receiver.url()));
    });
    let config = ct.config_path();
    let before = jiff::Timestamp::now().to_string();
    for n in 1..=3 {
        lead(ct.http_port, n);
    }
    receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 3);
    wait_crm(&config, |crm| crm["dead"] == 3);

    let table = ok(&config, &["status"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DESTINATION  KIND"), "{table}");
    assert!(lines[1].starts_with("crm          webhook"), "{table}");
    assert!(lines[1].contains("HTTP 400"), "{table}");

    let dead = ok(&config, &["list", "--dead"]);
    assert_eq!(
        dead.lines().filter(|l| l.contains(" dead ")).count(),
        3,
        "{dead}"
    );
    assert_eq!(dead.matches("HTTP 400").count(), 3, "{dead}");
    assert!(dead.contains("lead.created"), "{dead}");
    let page: Value = serde_json::from_str(&ok(
        &config,
        &[
            "list",
            "--dead",
            "--destination",
            "crm",
            "--limit",
            "2",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let more = ok(
        &config,
        &["list", "--dead", "--limit", "2", "--cursor", cursor],
    );
    assert_eq!(more.lines().count(), 2, "header and one event:\n{more}");
    let dead_ids = hook_ids(&receiver.received(), 400);
    assert_eq!(dead_ids.len(), 3);

    // Bad arguments are exit 2, with the reason.
    let (code, _, err) = outbox(
        &config,
        &["replay", "--destination", "erp", "--since", "1h"],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("erp"), "{err}");
    let (code, _, err) = outbox(
        &config,
        &["replay", "--destination", "crm", "--since", "soon"],
        None,
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = outbox(&config, &["replay", "--destination", "crm"], None);
    assert_eq!(code, 2);
    // A wrong token (the environment beats the config) is a runtime failure.
    let (code, _, err) = outbox(&config, &["status"], Some("wrong-token-wrong-token-000"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("401"), "{err}");

    receiver.answer("/hooks", Answer::status(200));
    let out = ok(
        &config,
        &["replay", "--destination", "crm", "--since", &before],
    );
    assert_eq!(out.trim(), "replayed 3 event(s) to crm");
    let got = receiver.wait_until(Duration::from_secs(10), |r| hook_ids(r, 200).len() >= 3);
    assert_eq!(
        hook_ids(&got, 200),
        dead_ids,
        "the same webhook-ids arrive again"
    );
    let status = wait_crm(&config, |crm| crm["delivered"] == 3);
    assert_eq!(status["destinations"][0]["dead"], 0);
    assert!(ok(&config, &["list", "--dead"]).contains("(no events)"));
    drop(ct.stop());

    // Nobody listening any more: a clear message and exit 1.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calltrack.toml");
    let port = support::free_port();
    std::fs::write(&file, format!("[http]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let (code, _, err) = outbox(&file, &["status"], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is it running?"), "{err}");
}
