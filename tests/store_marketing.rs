//! What the marketer adds, alike on both store backends (issue 16): call patches (tags,
//! note, deal, label), leads (created through a visitor's session, first-time across leads
//! and calls, patched), ad cost imports (all or nothing), and what they change in the calls
//! API, reports (leads, revenue, cost, ROI), the tag report and the leads API. The same
//! steps and assertions run over real HTTP on SQLite and on a PostgreSQL server the harness
//! starts (`sqlite::*`, `postgres::*`); `both_backends_answer_alike` compares every answer
//! and the outbox facts (`call.updated`, `lead.created`) between the two.
//! Without PostgreSQL the `postgres` half skips loudly (and fails under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;
mod support;

use std::collections::HashSet;

use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::config::Config;
use calltrack::store::outbox::{Outbox, subscriptions};
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer, spawn_writer_with};
use http_support::{BROWSER_UA, TestServer, agent, config_toml};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::backends::Backend;
use support::pg_server::PgServer;

const TOKEN: &str = "store-marketing-token-0123456789";
const DAY: &str = "2026-11-20";

/// Four calls on 2026-11-20 (UTC site): caller 1 twice from Google, caller 2 from Yandex
/// (missed), caller 3 on the static number.
fn calls() -> Vec<CallDetailRecord> {
    let base: Timestamp = "2026-11-20T09:00:00Z".parse().unwrap();
    let mut seen = HashSet::new();
    (0..4)
        .map(|i: i64| {
            let started_at = base + SignedDuration::from_mins(i * 40);
            let answered = i != 1;
            let source = ["google", "yandex", "google", "billboard"][i as usize];
            let live = LiveCall {
                id: format!("call{i:04}"),
                call_id: format!("{i}@carrier"),
                tracking_number: if i == 3 { "74950000001" } else { "74950000100" }.into(),
                caller: format!("7916000000{}", [1, 2, 1, 3][i as usize]),
                destination: "sip:127.0.0.1:5080".into(),
                started_at,
                answered_at: answered.then(|| started_at + SignedDuration::from_secs(5)),
                attribution: Attribution {
                    site: "demo".into(),
                    number_kind: if i == 3 {
                        NumberKindTag::Static
                    } else {
                        NumberKindTag::Dynamic
                    },
                    source: Some(source.into()),
                    medium: (i != 3).then(|| "cpc".to_owned()),
                    campaign: (i != 3).then(|| "c1".to_owned()),
                    device: Some("desktop".into()),
                    ..Attribution::default()
                },
                first_time_caller: false,
                scheme: Some("forward_to".into()),
                answered_step: answered.then_some(1),
                answered_target: answered.then(|| "sip:127.0.0.1:5080".to_owned()),
            };
            let end = live.answered_at.unwrap_or(started_at) + SignedDuration::from_secs(60);
            let (disposition, status) = match answered {
                true => (Disposition::Answered, 200),
                false => (Disposition::NoAnswer, 480),
            };
            let mut cdr =
                CallDetailRecord::from_live(&live, end, disposition, status, HangupSide::Caller)
                    .judge_quality(std::time::Duration::from_secs(30));
            cdr.first_time_caller = seen.insert(cdr.caller.clone());
            cdr
        })
        .collect()
}

/// A server on one backend, its calls seeded, its writer filling the outbox for one webhook.
struct Store {
    server: TestServer,
    backend: Backend,
    db: std::path::PathBuf,
    url: Option<String>,
    _dir: tempfile::TempDir,
    /// Dropped last: the server stops after everything that reads it.
    _pg: Option<PgServer>,
}

fn toml(db: &std::path::Path) -> String {
    let mut toml = config_toml("74950000100-74950000101", 1000)
        .replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
    toml.push_str(&format!(
        "\n[tracking]\nunique_window_days = 3650\n\n\
         [[exports.webhooks]]\nid = \"crm\"\nurl = \"http://127.0.0.1:9/hooks\"\n\
         secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\n\
         [store]\npath = \"{}\"\n",
        db.display()
    ));
    toml
}

/// `None` (after a loud message) when PostgreSQL is not installed.
fn start(backend: Backend) -> Option<Store> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    let mut toml = toml(&db);
    let seed = |sender: calltrack::store::StoreSender, handle: calltrack::store::WriterHandle| {
        for cdr in calls() {
            sender.try_send(StoreCommand::CallEnded(cdr)).unwrap();
        }
        drop(sender);
        assert_eq!(handle.shutdown().unwrap().cdrs_written, 4);
    };
    let (pg, url) = match backend {
        Backend::Sqlite => {
            let (sender, handle) = spawn_writer(&db, WriterOptions::default()).unwrap();
            seed(sender, handle);
            (None, None)
        }
        Backend::Postgres => {
            let server = PgServer::start("store_marketing")?;
            let url = server.create_db("marketing");
            seed_pg(&url, seed);
            toml.push_str(&format!("backend = \"postgres\"\nurl = \"{url}\"\n"));
            (Some(server), Some(url))
        }
    };
    std::fs::write(dir.path().join("calltrack.toml"), &toml).unwrap();
    let writer_url = url.clone();
    let server = TestServer::start_with(&toml, move |config: &Config| {
        let outbox = Outbox::new(subscriptions(&config.exports));
        match &writer_url {
            None => spawn_writer_with(&config.store.path, WriterOptions::default(), outbox)
                .expect("SQLite writer"),
            Some(url) => support::pg_store::writer(url, "node-a", outbox),
        }
    });
    Some(Store {
        server,
        backend,
        db,
        url,
        _dir: dir,
        _pg: pg,
    })
}

fn seed_pg(
    url: &str,
    seed: impl FnOnce(calltrack::store::StoreSender, calltrack::store::WriterHandle),
) {
    let (sender, handle) = support::pg_store::writer(url, "node-a", Outbox::new(Vec::new()));
    seed(sender, handle);
}

impl Store {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let url = self.server.url(path);
        let auth = format!("Bearer {TOKEN}");
        let mut resp = match (method, body) {
            ("GET", _) => agent().get(&url).header("Authorization", &auth).call(),
            ("PATCH", Some(b)) => agent()
                .patch(&url)
                .header("Authorization", &auth)
                .send_json(b),
            ("POST", Some(b)) => agent()
                .post(&url)
                .header("Authorization", &auth)
                .header("User-Agent", BROWSER_UA)
                .send_json(b),
            other => panic!("{other:?}"),
        }
        .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    fn json(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, text) = self.send(method, path, body);
        assert_eq!(status, want, "{:?} {method} {path}: {text}", self.backend);
        serde_json::from_str(&text).unwrap()
    }

    fn get(&self, path: &str) -> Value {
        self.json("GET", path, None, 200)
    }

    /// `(event, subject)` of every outbox row in order, a lead's id as `lead`.
    fn outbox(&self) -> Vec<(String, String)> {
        self.outbox_payloads()
            .into_iter()
            .map(|(event, subject, _)| (event, subject))
            .collect()
    }

    /// Every outbox row in order: event, subject (a lead's id as `lead`) and payload.
    fn outbox_payloads(&self) -> Vec<(String, String, Value)> {
        let sql = "SELECT event, subject, payload::text FROM outbox ORDER BY seq";
        let rows: Vec<(String, String, String)> = match &self.url {
            None => {
                let conn = calltrack::store::open_read_only(&self.db).unwrap();
                let mut stmt = conn.prepare(&sql.replace("::text", "")).unwrap();
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Some(url) => support::pg_store::client(url)
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
        };
        rows.into_iter()
            .map(|(event, subject, payload)| {
                let subject = match event.starts_with("lead.") {
                    true => "lead".to_owned(),
                    false => subject,
                };
                (event, subject, serde_json::from_str(&payload).unwrap())
            })
            .collect()
    }
}

/// The UTC day of today (leads are created now).
fn today() -> String {
    Timestamp::now().strftime("%Y-%m-%d").to_string()
}

/// Patches calls, creates and patches leads, imports costs: the same steps on each backend,
/// each answer checked. Returns the ids of the three leads.
fn mark_up(store: &Store) -> Vec<String> {
    let call = store.json(
        "PATCH",
        "/v1/calls/call0000",
        Some(
            json!({"tags": ["vip", " lead "], "note": "asked for a quote",
            "deal": {"amount": "1500.50", "currency": "rub", "status": "won"},
            "label": "target"}),
        ),
        200,
    );
    assert_eq!(call["tags"], json!(["vip", "lead"]));
    assert_eq!(call["note"], "asked for a quote");
    assert_eq!(
        call["deal"],
        json!({"amount": "1500.50", "currency": "RUB", "status": "won"})
    );
    assert_eq!(call["label"], "target");
    assert!(call["updated_at"].is_string(), "{call}");
    // A won deal in another currency: left out of revenue, counted as skipped.
    store.json(
        "PATCH",
        "/v1/calls/call0001",
        Some(json!({"deal": {"amount": 99, "currency": "USD", "status": "won"}})),
        200,
    );
    let noted = store.json(
        "PATCH",
        "/v1/calls/call0002",
        Some(json!({"note": "x", "tags": ["t"]})),
        200,
    );
    assert_eq!(noted["note"], "x");
    let cleared = store.json(
        "PATCH",
        "/v1/calls/call0002",
        Some(json!({"note": null})),
        200,
    );
    assert_eq!(cleared["note"], Value::Null, "null clears");
    assert_eq!(cleared["tags"], json!(["t"]), "absent stays");
    assert_eq!(
        store
            .send("PATCH", "/v1/calls/nope", Some(json!({"note": "x"})))
            .0,
        404
    );
    let listed = store.get("/v1/calls?caller=79160000001&limit=10");
    let first = listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "call0000")
        .unwrap();
    assert_eq!(
        first["tags"],
        json!(["vip", "lead"]),
        "pages carry the patch"
    );
    assert_eq!(first["deal"]["amount"], "1500.50");

    let session = store.json(
        "POST",
        "/v1/sites/demo/sessions",
        Some(
            json!({"visitor_id": "v1", "referrer": "https://www.google.com/",
            "page_url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=c1"}),
        ),
        201,
    )["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lead = |body: Value, first_time: bool| -> String {
        let created = store.json(
            "POST",
            &format!("/v1/sessions/{session}/leads"),
            Some(body.clone()),
            201,
        );
        assert_eq!(created["first_time"], first_time, "{body}");
        created["id"].as_str().unwrap().to_owned()
    };
    // Caller 1 called before: their lead is not first-time.
    let ann = lead(json!({"name": "Ann", "phone": "+7 916 000-00-01"}), false);
    let bob = lead(
        json!({"email": "Bob@Example.com", "message": "call me"}),
        true,
    );
    let again = lead(
        json!({"email": "bob@example.com", "phone": "79990000000"}),
        false,
    );
    let patched = store.json(
        "PATCH",
        &format!("/v1/leads/{bob}"),
        Some(json!({"tags": ["hot"], "note": "wants two",
            "deal": {"amount": "2000", "currency": "RUB", "status": "won"}})),
        200,
    );
    assert_eq!(patched["tags"], json!(["hot"]));
    assert_eq!(patched["deal"]["amount"], "2000.00");
    assert_eq!(
        store
            .send("PATCH", "/v1/leads/nope", Some(json!({"note": "x"})))
            .0,
        404
    );

    let today = today();
    let costs = json!({"rows": [
        {"day": DAY, "site": "demo", "source": "google", "medium": "cpc", "campaign": "c1", "amount": "300.00", "currency": "RUB"},
        {"day": today, "site": "demo", "source": "google", "medium": "cpc", "campaign": "c1", "amount": "50", "currency": "RUB"},
        {"day": DAY, "site": "demo", "source": "yandex", "amount": "10", "currency": "USD"},
    ]});
    let replaced = store.json("POST", "/v1/costs", Some(costs.clone()), 200);
    assert_eq!(replaced, json!({"days_replaced": 2, "rows": 3}));
    // All or nothing: one bad row and the good one is not kept either.
    let bad = json!({"rows": [
        {"day": DAY, "site": "demo", "source": "google", "amount": "999", "currency": "RUB"},
        {"day": "2026-11-31", "site": "demo", "amount": "1", "currency": "RUB"},
    ]});
    assert_eq!(store.send("POST", "/v1/costs", Some(bad)).0, 400);
    // The same file again replaces its days with the same rows.
    store.json("POST", "/v1/costs", Some(costs), 200);
    vec![ann, bob, again]
}

support::backends::on_both_backends!(
    reports_count_leads_revenue_and_costs,
    the_leads_api_serves_and_filters_leads,
    patches_and_leads_reach_the_outbox,
    the_cost_import_cli_writes_the_configured_store,
);

fn reports_count_leads_revenue_and_costs(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    mark_up(&store);
    let today = today();
    for by in ["source", "campaign,day", "device"] {
        let report = store.get(&format!("/v1/reports?from={DAY}&to={today}&by={by}"));
        let total = &report["total"];
        assert_eq!(total["calls"], 4, "{by}: {report:#}");
        assert_eq!(total["leads"], 3, "{by}");
        // 1500.50 on call 0 and 2000 on Bob's lead; the USD deal is skipped.
        assert_eq!(total["revenue"], "3500.50", "{by}");
        assert_eq!(total["cost"], "350.00", "{by}: the USD cost is skipped");
        assert_eq!(
            report["skipped_other_currency"]["deals"], 1,
            "{by}: {report:#}"
        );
        assert_eq!(report["skipped_other_currency"]["costs"], 1, "{by}");
        let roi = total["roi"].as_f64().unwrap();
        assert!(
            (roi - (3500.50 - 350.0) / 350.0).abs() < 1e-9,
            "{by}: {roi}"
        );
    }
    let google = store.get(&format!("/v1/reports?from={DAY}&to={today}&by=source"));
    let row = google["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["source"] == "google")
        .unwrap_or_else(|| panic!("{google:#}"));
    assert_eq!(row["figures"]["leads"], 3, "every lead came from Google");
    assert_eq!(row["figures"]["cost"], "350.00");
    let tags = store.get(&format!("/v1/reports/tags?from={DAY}&to={today}&by=source"));
    assert_eq!(tags["calls"], 4, "{tags:#}");
}

fn the_leads_api_serves_and_filters_leads(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let ids = mark_up(&store);
    let all = store.get("/v1/leads");
    let listed: Vec<&str> = all["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    let bob = &all["leads"][1];
    assert_eq!(bob["email"], "bob@example.com");
    assert_eq!(bob["first_time"], true);
    assert_eq!(bob["tags"], json!(["hot"]));
    assert_eq!(bob["note"], "wants two");
    assert_eq!(bob["attribution"]["source"], "google");
    assert_eq!(bob["attribution"]["campaign"], "c1");
    let by_email = store.get("/v1/leads?email=BOB@example.com");
    assert_eq!(by_email["leads"].as_array().unwrap().len(), 2);
    let by_phone = store.get("/v1/leads?phone=%2B7%20916%20000-00-01");
    assert_eq!(by_phone["leads"][0]["id"], ids[0].as_str());
    assert_eq!(by_phone["leads"][0]["first_time"], false);
    let first = store.get("/v1/leads?limit=2");
    assert_eq!(first["leads"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = store.get(&format!("/v1/leads?limit=2&cursor={cursor}"));
    assert_eq!(rest["leads"][0]["id"], ids[0].as_str());
    assert_eq!(rest["next_cursor"], Value::Null);
    let none = store.get(&format!("/v1/leads?from={DAY}&to={DAY}"));
    assert_eq!(none["leads"], json!([]), "no lead on the calls' day");
}

fn patches_and_leads_reach_the_outbox(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    mark_up(&store);
    let updated = |s: &str| ("call.updated".to_owned(), s.to_owned());
    let lead = ("lead.created".to_owned(), "lead".to_owned());
    assert_eq!(
        store.outbox(),
        vec![
            updated("call0000"),
            updated("call0001"),
            updated("call0002"),
            updated("call0002"),
            lead.clone(),
            lead.clone(),
            lead,
        ],
        "one call.updated per patch (none for an unknown call), one lead.created per lead"
    );
}

/// `calltrack costs import FILE.csv` writes where the config says the store is (PostgreSQL
/// with `backend = "postgres"` and no `--db`): reports on that store count the costs; a bad
/// line imports nothing.
fn the_cost_import_cli_writes_the_configured_store(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let dir = store._dir.path();
    let import = |csv: &str| {
        let file = dir.join("costs.csv");
        std::fs::write(&file, csv).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_calltrack"))
            .arg("-c")
            .arg(dir.join("calltrack.toml"))
            .args(["costs", "import"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let header = "day,site,source,medium,campaign,amount,currency\n";
    let bad = import(&format!(
        "{header}{DAY},demo,google,cpc,c1,5,RUB\n2026-11-31,demo,,,,1,RUB\n"
    ));
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let good = import(&format!(
        "{header}{DAY},demo,google,cpc,c1,120.50,RUB\n{DAY},demo,yandex,cpc,c1,30,RUB\n"
    ));
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{good:?}");
    assert_eq!(
        stdout,
        "imported 2 cost rows; 1 (day, site) pairs replaced\n"
    );
    let report = store.get(&format!("/v1/reports?from={DAY}&to={DAY}&by=source"));
    assert_eq!(report["total"]["cost"], "150.50", "{report:#}");
}

/// While PostgreSQL is down the writer spools the call path, but a call patch, a lead or a
/// cost import is not kept there: each is answered 500 `store_failed`, never 200 for
/// something not stored; once PostgreSQL is back they are written again.
#[test]
fn postgres_down_keeps_leads_and_refuses_what_people_can_send_again() {
    let _serial = support::serial();
    let Some(store) = start(Backend::Postgres) else {
        return;
    };
    let server = store._pg.as_ref().unwrap();
    let session = store.json(
        "POST",
        "/v1/sites/demo/sessions",
        Some(json!({"visitor_id": "v9", "page_url": "https://shop.example/?utm_source=google"})),
        201,
    )["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.stop();
    // A visitor's form is sent once: the lead is spooled and accepted, judged later.
    let mut spooled = Vec::new();
    for body in [
        json!({"name": "Ann", "phone": "+7 916 000-00-01"}),
        json!({"email": "new@example.com"}),
    ] {
        let accepted = store.json(
            "POST",
            &format!("/v1/sessions/{session}/leads"),
            Some(body),
            202,
        );
        assert_eq!(accepted["first_time"], Value::Null, "{accepted}");
        spooled.push(accepted["id"].as_str().unwrap().to_owned());
    }
    let patch = json!({"note": "during the outage"});
    let costs = json!({"rows": [{"day": DAY, "site": "demo", "amount": "1", "currency": "RUB"}]});
    for (method, path, body) in [
        ("PATCH", "/v1/calls/call0000", &patch),
        (
            "PATCH",
            "/v1/leads/0123456789abcdef0123456789abcdef",
            &patch,
        ),
        ("POST", "/v1/costs", &costs),
    ] {
        let (status, text) = store.send(method, path, Some(body.clone()));
        assert_eq!(status, 500, "{method} {path}: {text}");
        assert!(text.contains("store_failed"), "{text}");
    }
    server.restart();
    // The writer reconnects with backoff (at most 5 s): the next patch is written by then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let written = loop {
        let (status, text) = store.send(
            "PATCH",
            "/v1/calls/call0000",
            Some(json!({"tags": ["back"]})),
        );
        if status == 200 || std::time::Instant::now() > deadline {
            break (status, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(written.0, 200, "{}", written.1);
    let call: Value = serde_json::from_str(&written.1).unwrap();
    assert_eq!(call["tags"], json!(["back"]));
    assert_eq!(call["note"], Value::Null, "the refused patch was not kept");
    let report = store.get(&format!("/v1/reports?from={DAY}&to={DAY}"));
    assert_eq!(
        report["total"]["cost"], "0.00",
        "the refused import was not kept"
    );
    // The spooled leads were written in order and judged then: caller 1 called before.
    let leads = store.get("/v1/leads?limit=10");
    let judged: Vec<(String, Value)> = leads["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["first_time"].clone(),
            )
        })
        .collect();
    assert_eq!(judged.len(), 2, "{leads}");
    for (id, first_time) in [(&spooled[0], false), (&spooled[1], true)] {
        assert!(
            judged.contains(&(id.clone(), json!(first_time))),
            "{id} first_time {first_time}: {leads}"
        );
    }
    let created: Vec<_> = store
        .outbox()
        .into_iter()
        .filter(|(event, _)| event == "lead.created")
        .collect();
    assert_eq!(
        created.len(),
        2,
        "each spooled lead's fact once: {created:?}"
    );
}

/// `value` without what differs between two runs: lead ids, session ids and the times
/// patches and leads were made.
fn stable(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for key in ["updated_at", "label_at", "created_at", "session_id"] {
                    map.remove(key);
                }
                if map.contains_key("first_time") && map.contains_key("email") {
                    map.remove("id");
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

/// Every answer after the same steps, compared between the backends.
#[test]
fn both_backends_answer_alike() {
    let _serial = support::serial();
    let Some(pg) = start(Backend::Postgres) else {
        return;
    };
    let sqlite = start(Backend::Sqlite).unwrap();
    mark_up(&sqlite);
    mark_up(&pg);
    let today = today();
    let paths = [
        "/v1/calls?limit=50".to_owned(),
        "/v1/calls/call0000".to_owned(),
        "/v1/calls/call0002".to_owned(),
        format!("/v1/reports?from={DAY}&to={today}&by=source"),
        format!("/v1/reports?from={DAY}&to={today}&by=campaign,day"),
        format!("/v1/reports?from={DAY}&to={today}&by=device,medium"),
        format!("/v1/reports?from={DAY}&to={today}"),
        format!("/v1/reports/tags?from={DAY}&to={today}&by=source"),
        format!("/v1/reports/tags?from={DAY}&to={DAY}"),
        "/v1/leads".to_owned(),
        "/v1/leads?email=bob@example.com&limit=1".to_owned(),
    ];
    for path in &paths {
        let (a, b) = (sqlite.get(path), pg.get(path));
        assert_eq!(stable(a), stable(b), "{path}");
    }
    for path in [
        format!("/v1/reports?from={DAY}&to={today}&by=source&format=csv"),
        "/v1/calls.csv".to_owned(),
    ] {
        let (a, b) = (sqlite.send("GET", &path, None), pg.send("GET", &path, None));
        assert_eq!(a.0, 200, "{path}: {}", a.1);
        let column = |csv: &str| -> Vec<String> {
            // When a patch ran differs; every other cell must match.
            let mut reader = csv::Reader::from_reader(csv.as_bytes());
            let header = reader.headers().unwrap().clone();
            let skip: Vec<usize> = header
                .iter()
                .enumerate()
                .filter(|(_, h)| ["updated_at", "label_at"].contains(h))
                .map(|(i, _)| i)
                .collect();
            reader
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    r.iter()
                        .enumerate()
                        .filter(|(i, _)| !skip.contains(i))
                        .map(|(_, c)| c.to_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect()
        };
        assert_eq!(column(&a.1), column(&b.1), "{path}");
    }
    let payloads = |store: &Store| -> Vec<(String, String, Value)> {
        store
            .outbox_payloads()
            .into_iter()
            .map(|(event, subject, payload)| (event, subject, stable(payload)))
            .collect()
    };
    assert_eq!(
        payloads(&sqlite),
        payloads(&pg),
        "the same facts, the same payloads"
    );
    for path in [
        "/v1/leads".to_owned(),
        format!("/v1/reports?from={DAY}&to={today}&by=device"),
        format!("/v1/reports/tags?from={DAY}&to={today}"),
    ] {
        let median = |store: &Store| {
            support::backends::median_ms(|| assert_eq!(store.send("GET", &path, None).0, 200))
        };
        eprintln!(
            "median of 15, {path}: SQLite {:.2} ms, PostgreSQL {:.2} ms",
            median(&sqlite),
            median(&pg)
        );
    }
}
