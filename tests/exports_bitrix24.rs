//! Bitrix24 end to end through the real binary: a local receiver stands in for the portal's
//! inbound webhook (`{receiver}/rest/1/<token>/`). Each call that rings is registered
//! (`telephony.externalcall.register`) and then finished with the CALL_ID the register
//! answered (`telephony.externalcall.finish`), in that order; a busy call finishes with 486;
//! a call refused before ringing sends nothing and leaves no dead letter; a register the
//! portal refuses dead-letters both events with their reasons. The webhook token never shows
//! in the log, the outbox's errors or `check-config` output.
//!
//! Needs `sipp` (CI installs it); without it the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export_support;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use export_support::{Answer, Received, Receiver};
use serde_json::json;
use support::{Calltrack, Leg, Sipp};

/// The webhook's secret part.
const TOKEN: &str = "t0ps3cr3t";
const REGISTER: &str = "telephony.externalcall.register.json";
const FINISH: &str = "telephony.externalcall.finish.json";

fn base() -> String {
    format!("/rest/1/{TOKEN}/")
}

fn bitrix(url: &str) -> String {
    format!(
        r#"
[exports]
retry_min_ms = 50

[[exports.bitrix24]]
id = "b24"
webhook_url = "{url}{base}"
user_id = 7
crm_sources = {{ Billboard = "UC_BILLBOARD" }}
"#,
        base = base()
    )
}

fn register_answers(receiver: &Receiver, call_id: &str) {
    receiver.answer(
        &format!("{}{REGISTER}", base()),
        Answer::json(
            200,
            json!({"result": {"CALL_ID": call_id, "CRM_CREATED_LEAD": 12}}),
        ),
    );
}

/// One outbox row of the destination: (event, state, kept, last_error).
type Row = (String, String, Option<String>, Option<String>);

fn outbox(db: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT event, state, kept, last_error FROM outbox WHERE destination = 'b24' \
             ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Waits (at most 10 s) until the outbox holds `n` rows and none is pending.
fn settled(db: &Path, n: usize) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = outbox(db);
        if rows.len() == n && rows.iter().all(|r| r.1 != "pending") {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "outbox did not settle: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn method(r: &Received) -> &str {
    r.uri.strip_prefix(&base()).unwrap_or(&r.uri)
}

#[test]
fn calls_are_registered_then_finished_with_their_call_id() {
    if support::skip_without_sipp("Bitrix24 exports e2e") {
        return;
    }
    let _serial = support::serial();
    let receiver = Receiver::start();
    receiver.answer(
        &format!("{}{FINISH}", base()),
        Answer::json(200, json!({"result": [{"CALL_ID": "x"}]})),
    );
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |toml| {
        toml.push_str(&bitrix(&receiver.url()))
    });

    // Refused before ringing (no such number): nothing is sent, nothing is dead.
    Sipp::uac("uac_expect_404.xml", Leg::Udp, ct.sip_port, "74959999999").run_ok();

    // Answered.
    register_answers(&receiver, "externalCall.abc");
    let pbx = Sipp::uas("uas_answer.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_call.xml", Leg::Udp, ct.sip_port, "74950000001")
        .pause_ms(300)
        .run_ok();
    pbx.wait_ok();
    let got = receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 2);
    let methods: Vec<&str> = got.iter().map(method).collect();
    assert_eq!(methods, [REGISTER, FINISH], "register, then finish");
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let register = got[0].json();
    assert_eq!(register["USER_ID"], 7);
    assert_eq!(register["TYPE"], 2);
    assert_eq!(register["PHONE_NUMBER"], "79161234567");
    assert_eq!(register["LINE_NUMBER"], "74950000001");
    assert_eq!(register["CRM_CREATE"], 1);
    assert_eq!(register["SHOW"], 1);
    assert_eq!(register["CRM_SOURCE"], "UC_BILLBOARD");
    let start = register["CALL_START_DATE"].as_str().unwrap();
    assert!(start.ends_with("+00:00") && start.len() == 25, "{start}");
    let finish = got[1].json();
    assert_eq!(finish["CALL_ID"], "externalCall.abc");
    assert_eq!(finish["USER_ID"], 7);
    assert_eq!(finish["STATUS_CODE"], "200");
    assert!(finish["DURATION"].is_u64());
    assert!(got[1].at >= got[0].at);

    // Busy: its own CALL_ID, finished with 486.
    register_answers(&receiver, "externalCall.busy");
    let uas = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_486.xml", Leg::Udp, ct.sip_port, "74950000002").run_ok();
    uas.wait_ok();
    let got = receiver.wait_until(Duration::from_secs(10), |r| r.len() >= 4);
    let methods: Vec<&str> = got[2..].iter().map(method).collect();
    assert_eq!(methods, [REGISTER, FINISH]);
    assert!(
        got[2].json().get("CRM_SOURCE").is_none(),
        "radio has no CRM source"
    );
    let finish = got[3].json();
    assert_eq!(finish["CALL_ID"], "externalCall.busy");
    assert_eq!(finish["STATUS_CODE"], "486");
    assert_eq!(finish["DURATION"], 0);
    assert_eq!(finish["FAILED_REASON"], "busy (SIP 486)");

    let rows = settled(&ct.db_path(), 4);
    assert!(rows.iter().all(|r| r.1 == "delivered"), "{rows:#?}");
    assert_eq!(rows[0].2.as_deref(), Some("externalCall.abc"));

    // The portal refuses the webhook: the register is dead with Bitrix24's reason, the
    // finish is refused (no CALL_ID) without a request.
    receiver.answer(
        &format!("{}{REGISTER}", base()),
        Answer::json(
            401,
            json!({"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}),
        ),
    );
    let busy = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    Sipp::uac("uac_expect_486.xml", Leg::Udp, ct.sip_port, "74950000001").run_ok();
    busy.wait_ok();
    let rows = settled(&ct.db_path(), 6);
    let (register, finish) = (&rows[4], &rows[5]);
    assert_eq!(
        (register.0.as_str(), register.1.as_str()),
        ("call.ringing", "dead")
    );
    let error = register.3.as_deref().unwrap();
    assert!(error.contains("401 NO_AUTH_FOUND"), "{error}");
    assert_eq!(
        (finish.0.as_str(), finish.1.as_str()),
        ("call.ended", "dead")
    );
    let error = finish.3.as_deref().unwrap();
    assert!(error.contains("no Bitrix24 CALL_ID"), "{error}");
    assert_eq!(receiver.received().len(), 5, "the finish was not sent");

    let stopped = ct.stop();
    assert!(
        !stopped.log.contains(TOKEN),
        "the webhook token leaked to the log"
    );
    let cdrs = stopped.cdrs();
    assert_eq!(cdrs.len(), 4, "the refused call has its CDR too");
    assert_eq!(cdrs[0].disposition.as_str(), "rejected");
    let all = outbox(&stopped.db);
    assert!(all.iter().all(|r| !format!("{r:?}").contains(TOKEN)));
}

#[test]
fn check_config_never_prints_the_webhook_url() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let good = "https://acme.bitrix24.ru/rest/1/abcdef123456/";
    assert!(text.contains(good), "the example's webhook_url changed");
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        format!("ftp://acme.bitrix24.ru/rest/1/{TOKEN}/"),
        format!("acme.bitrix24.ru/rest/1/{TOKEN}/"),
    ] {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text.replace(good, &bad)).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_calltrack"))
            .arg("check-config")
            .arg(&file)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{all}");
        assert!(all.contains("exports.bitrix24[0].webhook_url"), "{all}");
        assert!(
            !all.contains(TOKEN),
            "check-config printed the secret: {all}"
        );
    }
}
