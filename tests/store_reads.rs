//! What both store backends must answer alike (issue 16): the calls API (keyset pages in both
//! orders, every filter, one call with its visit, trail and callback), its CSV export,
//! reports, and `calltrack cdr list` / `calltrack report`, over real HTTP and the real binary.
//! The same CDRs are written through each backend's own writer; one suite with the same
//! assertions runs on SQLite and on a PostgreSQL server the harness starts (`sqlite::*`,
//! `postgres::*`), and `both_backends_answer_alike` compares every answer between the two;
//! the PostgreSQL reads also come back after a server restart.
//! Without PostgreSQL the `postgres` half skips loudly (and fails under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;
mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::confidence::Confidence;
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::trail::{TrailOutcome, TrailStep};
use calltrack::cli::cdr::{CdrPrinter, OutputFormat, tail};
use calltrack::store::outbox::Outbox;
use calltrack::store::{StoreCommand, StoreSender, WriterHandle, WriterOptions, spawn_writer};
use http_support::{TestServer, agent, config_toml};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use support::backends::Backend;
use support::pg_server::PgServer;

const TOKEN: &str = "store-reads-token-0123456789";
const CALLS: usize = 48;
const DISPOSITIONS: [Disposition; 6] = [
    Disposition::Answered,
    Disposition::NoAnswer,
    Disposition::Answered,
    Disposition::Busy,
    Disposition::Answered,
    Disposition::Cancelled,
];

/// Call `i` (before its first-time judgement): pairs share a start time (ties broken by
/// `seq`), 53 minutes apart, over two local days of a UTC+3 site; seven callers, so callers
/// call again (repeats, callbacks of missed calls); two calls refused (`rejected`).
fn call(i: usize) -> CallDetailRecord {
    let base: Timestamp = "2026-11-20T08:00:00Z".parse().unwrap();
    let started_at = base + SignedDuration::from_mins(i64::try_from((i / 2) * 53).unwrap());
    let disposition = if i % 13 == 5 {
        Disposition::Rejected
    } else {
        DISPOSITIONS[i % 6]
    };
    let answered = disposition == Disposition::Answered;
    let pool = i % 5 != 0;
    let source = [Some("google"), Some("yandex"), None][i % 3];
    let live = LiveCall {
        id: format!("call{i:04}"),
        call_id: format!("{i}@carrier"),
        tracking_number: if pool { "74950000100" } else { "74950000001" }.into(),
        caller: format!("7916000{:04}", i % 7),
        destination: "sip:127.0.0.1:5080".into(),
        started_at,
        answered_at: answered.then(|| started_at + SignedDuration::from_secs(4)),
        attribution: Attribution {
            site: "demo".into(),
            number_kind: if pool {
                NumberKindTag::Dynamic
            } else {
                NumberKindTag::Static
            },
            source: source.map(str::to_owned),
            medium: source.map(|_| "cpc".to_owned()),
            campaign: Some(format!("c{}", i % 4)),
            term: (i % 4 == 1).then(|| "=shoes".to_owned()),
            landing_page: Some(format!("https://shop.example/p{}", i % 3)),
            region: Some(if i % 2 == 0 { "moscow" } else { "spb" }.into()),
            device: Some(if i % 3 == 0 { "mobile" } else { "desktop" }.into()),
            session_id: pool.then(|| format!("s{i}")),
            // 0.0125 and the like: halves after `* 1000`, rounded alike on both backends.
            confidence: (pool && i % 3 != 2).then(|| {
                Confidence::new(0.0125 + 0.1125 * f64::from(u8::try_from(i % 8).unwrap()))
            }),
            ..Attribution::default()
        },
        first_time_caller: false,
        scheme: Some("forward_to".into()),
        answered_step: answered.then_some(1),
        answered_target: answered.then(|| "sip:127.0.0.1:5080".to_owned()),
    };
    let talk = SignedDuration::from_secs(if i % 8 == 0 { 95 } else { 12 });
    let end = live.answered_at.unwrap_or(started_at) + talk;
    let status = match disposition {
        Disposition::Answered => 200,
        Disposition::Busy => 486,
        Disposition::Cancelled => 487,
        Disposition::Rejected => 403,
        _ => 480,
    };
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

/// Every call, oldest first, each caller's first call first-time (as PostgreSQL's writer
/// judges across nodes, and as a node does in memory).
fn fixture() -> Vec<CallDetailRecord> {
    let mut seen = HashSet::new();
    (0..CALLS)
        .map(|i| {
            let mut cdr = call(i);
            cdr.first_time_caller = seen.insert(cdr.caller.clone());
            cdr
        })
        .collect()
}

fn seed(sender: StoreSender, handle: WriterHandle) {
    for cdr in fixture() {
        sender.try_send(StoreCommand::CallEnded(cdr)).unwrap();
    }
    drop(sender);
    let stats = handle.shutdown().unwrap();
    assert_eq!(stats.cdrs_written, CALLS as u64, "{stats:?}");
}

/// The HTTP server on a store holding the fixture, and the config file the CLI reads.
struct Store {
    server: TestServer,
    config: PathBuf,
    db: PathBuf,
    /// The PostgreSQL database, on that backend.
    url: Option<String>,
    _dir: tempfile::TempDir,
    /// Dropped last: the server stops after everything that reads it.
    pg: Option<PgServer>,
}

/// `None` (after a loud message) when PostgreSQL is not installed.
fn start(backend: Backend) -> Option<Store> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    let mut toml = config_toml("74950000100-74950000101", 100)
        .replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"))
        .replace("origins = [", "utc_offset = \"+03:00\"\norigins = [");
    toml.push_str(&format!("\n[store]\npath = \"{}\"\n", db.display()));
    let mut url = None;
    let pg = match backend {
        Backend::Sqlite => {
            let (sender, handle) = spawn_writer(&db, WriterOptions::default()).unwrap();
            seed(sender, handle);
            None
        }
        Backend::Postgres => {
            let server = PgServer::start("store_reads")?;
            let db_url = server.create_db("reads");
            let (sender, handle) =
                support::pg_store::writer(&db_url, "node-a", Outbox::new(Vec::new()));
            seed(sender, handle);
            toml.push_str(&format!("backend = \"postgres\"\nurl = \"{db_url}\"\n"));
            url = Some(db_url);
            Some(server)
        }
    };
    let config = dir.path().join("calltrack.toml");
    std::fs::write(&config, &toml).unwrap();
    Some(Store {
        server: TestServer::start(&toml),
        config,
        db,
        url,
        _dir: dir,
        pg,
    })
}

impl Store {
    fn get(&self, path: &str) -> (u16, String) {
        let mut resp = agent()
            .get(self.server.url(path))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Every call the query matches, page by page, and the number of pages.
    fn all_pages(&self, query: &str) -> (Vec<Value>, usize) {
        let mut calls = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/calls?{query}&cursor={c}"),
                None => format!("/v1/calls?{query}"),
            };
            let body = self.json(&path);
            pages += 1;
            calls.extend(body["calls"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (calls, pages),
            }
        }
    }

    /// `calltrack -c <config> <args>`: stdout, stderr; the command must succeed.
    fn cli(&self, args: &[&str]) -> (String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_calltrack"))
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{args:?}: {stderr}");
        (stdout, stderr)
    }
}

fn ids(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Ids of the fixture's calls `keep` selects, newest first (`(started_at, seq)` descending).
fn expected(keep: impl Fn(&CallDetailRecord) -> bool) -> Vec<String> {
    let mut calls: Vec<(Timestamp, usize, String)> = fixture()
        .into_iter()
        .enumerate()
        .filter(|(_, c)| keep(c))
        .map(|(i, c)| (c.started_at, i, c.id))
        .collect();
    calls.sort();
    calls.reverse();
    calls.into_iter().map(|(_, _, id)| id).collect()
}

support::backends::on_both_backends!(
    pages_walk_every_call_once_in_both_orders,
    every_filter_selects_what_it_says,
    one_call_has_its_visit_trail_and_callback,
    the_csv_export_holds_the_filtered_calls,
    reports_count_the_periods_calls,
    cdr_list_prints_the_newest_filtered_calls,
    cdr_tail_prints_the_last_ten_written,
);

fn pages_walk_every_call_once_in_both_orders(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let (newest, pages) = store.all_pages("limit=7");
    assert_eq!(pages, CALLS.div_ceil(7));
    assert_eq!(ids(&newest), expected(|_| true));
    let (oldest, _) = store.all_pages("limit=5&sort=started_at");
    let mut reversed = expected(|_| true);
    reversed.reverse();
    assert_eq!(ids(&oldest), reversed);
}

fn every_filter_selects_what_it_says(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let at = |text: &str| text.parse::<Timestamp>().unwrap();
    type Keep = Box<dyn Fn(&CallDetailRecord) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        (
            "source=google",
            Box::new(|c| c.attribution.source.as_deref() == Some("google")),
        ),
        (
            "campaign=c1&medium=cpc",
            Box::new(|c| {
                c.attribution.campaign.as_deref() == Some("c1")
                    && c.attribution.medium.as_deref() == Some("cpc")
            }),
        ),
        (
            "disposition=rejected",
            Box::new(|c| c.disposition == Disposition::Rejected),
        ),
        ("missed=true", Box::new(|c| c.missed)),
        ("first_time=true", Box::new(|c| c.first_time_caller)),
        ("quality=false", Box::new(|c| !c.quality)),
        (
            "tracking_number=%2B74950000001",
            Box::new(|c| c.tracking_number == "74950000001"),
        ),
        (
            "caller=79160000003",
            Box::new(|c| c.caller == "79160000003"),
        ),
        (
            // Midnight in the site's zone (UTC+3).
            "site=demo&from=2026-11-21",
            Box::new(move |c| c.started_at >= at("2026-11-20T21:00:00Z")),
        ),
        (
            "from=2026-11-20T12:24:00Z&to=2026-11-20T18:42:00Z",
            Box::new(move |c| {
                c.started_at >= at("2026-11-20T12:24:00Z")
                    && c.started_at < at("2026-11-20T18:42:00Z")
            }),
        ),
    ];
    for (query, keep) in cases {
        let want = expected(keep);
        assert!(!want.is_empty(), "{query} selects nothing in the fixture");
        let (calls, _) = store.all_pages(&format!("{query}&limit=4"));
        assert_eq!(ids(&calls), want, "{query}");
    }
}

fn one_call_has_its_visit_trail_and_callback(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let call = store.json("/v1/calls/call0007");
    assert_eq!(call["started_at"], "2026-11-20T10:39:00.000Z");
    assert_eq!(call["answered_at"], Value::Null, "nobody answered call 7");
    assert_eq!(call["disposition"], "no_answer");
    assert_eq!(call["attribution"]["source"], "yandex");
    assert_eq!(call["attribution"]["device"], "desktop");
    assert_eq!(call["attribution"]["session_id"], "s7");
    let confidence = call["attribution"]["confidence"].as_f64().unwrap();
    assert!((confidence - 0.8).abs() < 1e-9, "{confidence}");
    assert_eq!(call["trail"][0]["outcome"], "answered");
    assert_eq!(call["trail"].as_array().unwrap().len(), 1);
    assert_eq!(call["tags"], serde_json::json!([]));
    assert_eq!(call["deal"], Value::Null);
    assert_eq!(call["label"], Value::Null);
    assert_eq!(call["speech_tags"], serde_json::json!([]));
    // Caller 1 missed call 1 and was answered on call 8 (11:32, answered 4 s later).
    let missed = store.json("/v1/calls/call0001");
    assert_eq!(missed["missed"], true);
    assert_eq!(missed["called_back_at"], "2026-11-20T11:32:04.000Z");
    let listed = store.json("/v1/calls?caller=79160000001&limit=500");
    let listed = listed["calls"].as_array().unwrap();
    let from_list = listed.iter().find(|c| c["id"] == "call0001").unwrap();
    assert_eq!(from_list["called_back_at"], missed["called_back_at"]);
    assert!(from_list.get("trail").is_none(), "pages carry no trail");
    assert_eq!(store.get("/v1/calls/nope").0, 404);
}

fn the_csv_export_holds_the_filtered_calls(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let (status, body) = store.get("/v1/calls.csv?source=yandex&sort=started_at");
    assert_eq!(status, 200, "{body}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "id");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut want = expected(|c| c.attribution.source.as_deref() == Some("yandex"));
    want.reverse();
    let got: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(got, want);
    let (pages, _) = store.all_pages("source=yandex&sort=started_at&limit=500");
    for (row, call) in rows.iter().zip(&pages) {
        assert_eq!(
            &row[column("started_at")],
            call["started_at"].as_str().unwrap()
        );
        let term = call["attribution"]["term"]
            .as_str()
            .map(|t| format!("'{t}"));
        assert_eq!(&row[column("term")], term.as_deref().unwrap_or(""));
    }
}

/// The local days of the UTC+3 site the fixture covers, as UTC windows.
const DAYS: [(&str, &str, &str); 2] = [
    ("2026-11-20", "2026-11-19T21:00:00Z", "2026-11-20T21:00:00Z"),
    ("2026-11-21", "2026-11-20T21:00:00Z", "2026-11-21T21:00:00Z"),
];

fn reports_count_the_periods_calls(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    for (day, from, to) in DAYS {
        let (from, to) = (
            from.parse::<Timestamp>().unwrap(),
            to.parse::<Timestamp>().unwrap(),
        );
        let counted: Vec<CallDetailRecord> = fixture()
            .into_iter()
            .filter(|c| c.started_at >= from && c.started_at < to)
            .filter(|c| c.disposition != Disposition::Rejected)
            .collect();
        // A caller is unique once per period, however often they called before it.
        let callers: HashSet<&str> = counted.iter().map(|c| c.caller.as_str()).collect();
        let n = |keep: fn(&CallDetailRecord) -> bool| counted.iter().filter(|c| keep(c)).count();
        assert!(callers.len() < counted.len(), "{day} holds repeat calls");
        for by in ["source", "device", "campaign,hour"] {
            let report = store.json(&format!("/v1/reports?from={day}&to={day}&by={by}"));
            let total = &report["total"];
            let what = format!("{day} by {by}");
            assert_eq!(total["calls"], counted.len(), "{what}: {report:#}");
            assert_eq!(total["unique_callers"], callers.len(), "{what}");
            assert_eq!(total["answered"], n(|c| c.answered_at.is_some()), "{what}");
            assert_eq!(total["missed"], n(|c| c.missed), "{what}");
            assert_eq!(
                total["first_time_calls"],
                n(|c| c.first_time_caller),
                "{what}"
            );
            assert_eq!(total["quality_calls"], n(|c| c.quality), "{what}");
            let rows = report["rows"].as_array().unwrap();
            let sum: u64 = rows
                .iter()
                .map(|r| r["figures"]["calls"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, counted.len() as u64, "{what}: rows add up");
        }
    }
}

fn cdr_list_prints_the_newest_filtered_calls(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let (out, err) = store.cli(&[
        "cdr", "list", "--format", "json", "--limit", "5", "--source", "google",
    ]);
    let shown = if backend == Backend::Postgres {
        "database: postgres://calltrack@127.0.0.1:"
    } else {
        "database: /"
    };
    assert!(err.contains(shown), "{err}");
    let got: Vec<String> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut want = expected(|c| c.attribution.source.as_deref() == Some("google"));
    want.truncate(5);
    want.reverse();
    assert_eq!(got, want, "the newest five, oldest first");
}

/// Every answer of the suite, compared between the backends: the same JSON, the same CSV
/// bytes, the same CLI output.
#[test]
fn both_backends_answer_alike() {
    let _serial = support::serial();
    let Some(pg) = start(Backend::Postgres) else {
        return;
    };
    let sqlite = start(Backend::Sqlite).unwrap();
    let paths = [
        "/v1/calls?limit=500",
        "/v1/calls?sort=started_at&limit=9",
        "/v1/calls?missed=true&first_time=false&limit=500",
        "/v1/calls/call0007",
        "/v1/calls/call0001",
        "/v1/calls/call0013",
        "/v1/calls.csv",
        "/v1/calls.csv?disposition=answered&sort=started_at",
        "/v1/reports?from=2026-11-20&to=2026-11-21&by=source",
        "/v1/reports?from=2026-11-20&to=2026-11-20&by=medium,campaign,number_kind",
        "/v1/reports?from=2026-11-21&to=2026-11-21&by=device,hour",
        "/v1/reports?from=2026-11-20&to=2026-11-21&by=term,landing_page,region,day",
        "/v1/reports?from=2026-11-20&to=2026-11-21&by=tracking_number,weekday",
        "/v1/reports?from=2026-11-20&to=2026-11-21&by=campaign&format=csv",
    ];
    for path in paths {
        let (a, b) = (sqlite.get(path), pg.get(path));
        assert_eq!(a.0, 200, "{path}: {}", a.1);
        if path.contains(".csv") || path.contains("format=csv") {
            assert_eq!(a.1, b.1, "{path}");
        } else {
            let (a, b): (Value, Value) = (
                serde_json::from_str(&a.1).unwrap(),
                serde_json::from_str(&b.1).unwrap(),
            );
            assert_eq!(a, b, "{path}");
        }
    }
    for path in [
        "/v1/calls?limit=50",
        "/v1/calls/call0007",
        "/v1/reports?from=2026-11-20&to=2026-11-21&by=source",
    ] {
        eprintln!(
            "median of 15, {path}: SQLite {:.2} ms, PostgreSQL {:.2} ms",
            median_ms(&sqlite, path),
            median_ms(&pg, path)
        );
    }
    let commands: [&[&str]; 3] = [
        &["cdr", "list", "--format", "csv", "--limit", "500"],
        &["cdr", "list", "--format", "json", "--missed", "true"],
        &[
            "report",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-21",
            "--by",
            "source,day",
            "--format",
            "json",
        ],
    ];
    for args in commands {
        assert_eq!(sqlite.cli(args).0, pg.cli(args).0, "{args:?}");
    }
}

/// The median time of 15 requests for `path`, in milliseconds (printed with `--nocapture`).
fn median_ms(store: &Store, path: &str) -> f64 {
    support::backends::median_ms(|| assert_eq!(store.get(path).0, 200))
}

fn cdr_tail_prints_the_last_ten_written(backend: Backend) {
    let _serial = support::serial();
    let Some(store) = start(backend) else { return };
    let mut out = Vec::new();
    let mut printer = CdrPrinter::new(&mut out, OutputFormat::Json);
    let once = || false;
    match &store.url {
        None => {
            let conn = calltrack::store::open_read_only(&store.db).unwrap();
            tail(&conn, Duration::ZERO, &mut printer, once).unwrap();
        }
        Some(url) => {
            let mut client = support::pg_store::client(url);
            tail(&mut client, Duration::ZERO, &mut printer, once).unwrap();
        }
    }
    let got: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let want: Vec<String> = (CALLS - 10..CALLS).map(|i| format!("call{i:04}")).collect();
    assert_eq!(got, want, "the last ten written, in the order written");
}

/// PostgreSQL going away answers 500 `store_failed` (the closed connection is not reused) and
/// the reads come back with it, on fresh connections.
#[test]
fn postgres_reads_come_back_after_a_restart() {
    let _serial = support::serial();
    let Some(store) = start(Backend::Postgres) else {
        return;
    };
    let before = store.json("/v1/calls?limit=3");
    let server = store.pg.as_ref().unwrap();
    server.stop();
    let (status, body) = store.get("/v1/calls?limit=3");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("store_failed"), "{body}");
    assert_eq!(
        store.get("/v1/reports?from=2026-11-20&to=2026-11-20").0,
        500
    );
    server.restart();
    assert_eq!(store.json("/v1/calls?limit=3"), before);
}
