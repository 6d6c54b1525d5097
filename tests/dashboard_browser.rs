//! The dashboard in a real browser: headless Chromium (driven over the DevTools protocol)
//! signs in with a viewer token against the in-process server on a seeded database, opens
//! every page (overview, sources, call journal with one call's visit, missed calls, pools),
//! asserts the figures and source names it shows, checks a 375 px phone layout, signs out,
//! and saves screenshots to `target/dashboard-screenshots/`.
//!
//! The seed is ten calls in 2026-03-01..07 (google, yandex, billboard) and two the week
//! before, with costs, one won deal and ten minutes of pool usage; the figures below are
//! counted by hand from it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser_support;
mod http_support;

use std::path::Path;

use browser_support::{Browser, screenshot_dir, skip_without_chromium};
use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer};
use http_support::{TestServer, config_toml};
use jiff::Timestamp;

const VIEWER: &str = "browser-viewer-token-0123456789";
const ADMIN: &str = "browser-admin-token-0123456789";
const PERIOD: &str = "from=2026-03-01&to=2026-03-07&site=demo";

/// One seeded call: id, start, caller, number, source/medium/campaign, talk (None: missed).
struct Seed {
    id: &'static str,
    at: &'static str,
    caller: &'static str,
    source: &'static str,
    campaign: Option<&'static str>,
    talk_secs: Option<i64>,
}

const SEEDS: &[Seed] = &[
    seed(
        "c-g1",
        "2026-03-02T09:00:00Z",
        "79160000001",
        "google",
        Some("spring_sale"),
        Some(180),
    ),
    seed(
        "c-g2",
        "2026-03-03T10:00:00Z",
        "79160000002",
        "google",
        Some("spring_sale"),
        Some(95),
    ),
    seed(
        "c-g3",
        "2026-03-04T11:00:00Z",
        "79160000003",
        "google",
        Some("spring_sale"),
        Some(40),
    ),
    seed(
        "c-g4",
        "2026-03-05T12:00:00Z",
        "79160000004",
        "google",
        Some("spring_sale"),
        Some(10),
    ),
    seed(
        "c-g5",
        "2026-03-06T13:00:00Z",
        "79160000005",
        "google",
        Some("spring_sale"),
        None,
    ),
    seed(
        "c-y1",
        "2026-03-02T14:00:00Z",
        "79160000006",
        "yandex",
        Some("brand"),
        Some(200),
    ),
    seed(
        "c-y2",
        "2026-03-04T15:00:00Z",
        "79160000007",
        "yandex",
        Some("brand"),
        Some(20),
    ),
    seed(
        "c-y3",
        "2026-03-06T16:00:00Z",
        "79160000008",
        "yandex",
        Some("brand"),
        None,
    ),
    seed(
        "c-b1",
        "2026-03-03T08:00:00Z",
        "79160000009",
        "billboard",
        None,
        Some(60),
    ),
    seed(
        "c-b2",
        "2026-03-07T17:00:00Z",
        "79160000010",
        "billboard",
        None,
        Some(75),
    ),
    seed(
        "c-p1",
        "2026-02-24T09:00:00Z",
        "79160000011",
        "google",
        Some("spring_sale"),
        Some(100),
    ),
    seed(
        "c-p2",
        "2026-02-25T09:00:00Z",
        "79160000012",
        "yandex",
        Some("brand"),
        None,
    ),
];

const fn seed(
    id: &'static str,
    at: &'static str,
    caller: &'static str,
    source: &'static str,
    campaign: Option<&'static str>,
    talk_secs: Option<i64>,
) -> Seed {
    Seed {
        id,
        at,
        caller,
        source,
        campaign,
        talk_secs,
    }
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn cdr(s: &Seed) -> CallDetailRecord {
    let started = ts(s.at);
    let (number, kind, medium) = match s.source {
        "google" => ("74950000100", NumberKindTag::Dynamic, Some("cpc")),
        "yandex" => ("74950000101", NumberKindTag::Dynamic, Some("cpc")),
        _ => ("74950000001", NumberKindTag::Static, None),
    };
    let web = kind == NumberKindTag::Dynamic;
    let attribution = Attribution {
        site: "demo".into(),
        number_kind: kind,
        source: Some(s.source.into()),
        medium: medium.map(Into::into),
        campaign: s.campaign.map(Into::into),
        term: web.then(|| "buy sofa".into()),
        landing_page: web.then(|| "https://shop.example/sofas".into()),
        referrer: web.then(|| format!("https://www.{}.com/", s.source)),
        gclid: (s.source == "google").then(|| "Cj0KCQ-test-gclid".into()),
        yclid: (s.source == "yandex").then(|| "7712345".into()),
        region: Some("moscow".into()),
        device: web.then(|| "mobile".into()),
        ..Attribution::default()
    };
    let answered_at = s
        .talk_secs
        .map(|_| started + jiff::SignedDuration::from_secs(8));
    let live = LiveCall {
        id: s.id.into(),
        call_id: format!("{}@carrier.example", s.id),
        tracking_number: number.into(),
        caller: s.caller.into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: started,
        answered_at,
        attribution,
        first_time_caller: true,
        scheme: Some("sales".into()),
        answered_step: s.talk_secs.map(|_| 1),
        answered_target: s.talk_secs.map(|_| "sip:sales@pbx.example".into()),
    };
    let (ended, disposition, status, side) = match (answered_at, s.talk_secs) {
        (Some(a), Some(talk)) => (
            a + jiff::SignedDuration::from_secs(talk),
            Disposition::Answered,
            200,
            HangupSide::Caller,
        ),
        _ => (
            started + jiff::SignedDuration::from_secs(25),
            Disposition::NoAnswer,
            480,
            HangupSide::Caller,
        ),
    };
    let mut record = CallDetailRecord::from_live(&live, ended, disposition, status, side)
        .judge_quality(std::time::Duration::from_secs(30));
    if s.id == "c-y3" {
        record.called_back_at = Some(ts("2026-03-06T17:30:00Z"));
    }
    record
}

/// Writes the calls through the real store writer, then costs, a deal and pool usage.
fn seed_database(db: &Path) {
    let (sender, writer) = spawn_writer(db, WriterOptions::default()).expect("seed writer");
    for s in SEEDS {
        assert!(sender.try_send(StoreCommand::CallEnded(cdr(s))).is_ok());
    }
    drop(sender);
    writer.shutdown().expect("seed flushed");
    let conn = rusqlite::Connection::open(db).unwrap();
    for day in 1..=7 {
        for (source, campaign, minor) in [
            ("google", "spring_sale", 100_000),
            ("yandex", "brand", 50_000),
        ] {
            conn.execute(
                "INSERT INTO costs (day, site, source, medium, campaign, amount_minor, currency, imported_at)
                 VALUES (?1, 'demo', ?2, 'cpc', ?3, ?4, 'RUB', '2026-03-08T00:00:00Z')",
                rusqlite::params![format!("2026-03-0{day}"), source, campaign, minor],
            )
            .unwrap();
        }
    }
    conn.execute(
        "UPDATE cdr SET deal_amount_minor = 1500000, deal_currency = 'RUB', deal_status = 'won'
         WHERE id = 'c-g1'",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO transcripts (call_id, status, engine, tags, attempts, created_at)
         VALUES ('c-g1', 'done', 'http', '[\"price\",\"delivery\"]', 1, '2026-03-06T00:00:00Z')",
        [],
    )
    .unwrap();
    for minute in 0..10 {
        let leased = [3, 5, 7, 9, 10, 10, 10, 8, 6, 4][minute];
        conn.execute(
            "INSERT INTO pool_usage (at, site, pool, size, leased, exhausted)
             VALUES (?1, 'demo', 'web', 10, ?2, ?3)",
            rusqlite::params![
                format!("2026-03-06T12:0{minute}:00.000Z"),
                leased,
                leased == 10
            ],
        )
        .unwrap();
    }
}

fn start_server(dir: &tempfile::TempDir) -> TestServer {
    let db = dir.path().join("calltrack.db");
    seed_database(&db);
    let pool: Vec<String> = (100..110).map(|n| format!("74950000{n}")).collect();
    let toml = config_toml(&pool.join("\", \""), 1000).replace(
        "[http]\n",
        &format!("[http]\nadmin_token = \"{ADMIN}\"\nviewer_tokens = [\"{VIEWER}\"]\n"),
    );
    TestServer::start(&format!("{toml}\n[store]\npath = \"{}\"\n", db.display()))
}

/// Goes to a dashboard page (hash route) and waits until it has rendered without error.
fn open(browser: &mut Browser, page: &str, query: &str) -> String {
    browser.eval(&format!(
        "window.location.hash = {}; true",
        serde_json::json!(format!("#/{page}?{query}"))
    ));
    browser.wait_for(
        &format!("document.body.dataset.ready === '{page}'"),
        &format!("the {page} page"),
    );
    let error = browser.eval("document.body.dataset.error || ''");
    let text = browser.text("main");
    assert_eq!(error, "", "the {page} page shows an error:\n{text}");
    text
}

fn assert_shows(text: &str, page: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "{page}: {w:?} not shown in:\n{text}");
    }
}

#[test]
fn a_viewer_signs_in_and_opens_every_page() {
    if skip_without_chromium("dashboard_browser") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir);
    let shots = screenshot_dir();
    let mut browser = Browser::start();
    browser.viewport(1280, 900, false);

    browser.navigate(&server.url(&format!("/dashboard#/overview?{PERIOD}")));
    browser.wait_for(
        "document.body.dataset.ready === 'sign-in'",
        "the sign-in page",
    );
    browser.screenshot(&shots.join("sign-in.png"));
    browser.eval(&format!(
        "document.getElementById('token').value = {}; document.getElementById('sign-in').requestSubmit(); true",
        serde_json::json!(VIEWER)
    ));
    browser.wait_for(
        "document.body.dataset.ready === 'overview'",
        "the overview after sign-in",
    );
    assert_eq!(
        browser.eval("document.cookie"),
        "",
        "the session cookie is HttpOnly"
    );
    let url = browser.eval("window.location.href");
    assert!(
        !url.as_str().unwrap().contains(VIEWER),
        "nothing secret in the URL: {url}"
    );

    let overview = open(&mut browser, "overview", PERIOD);
    let figures = browser.text("#figures");
    assert_shows(
        &figures,
        "overview figures",
        &[
            "Calls\n10",
            "Quality calls\n6",
            "▲ 400 %",
            "10,500 RUB",
            "15,000 RUB",
        ],
    );
    assert_shows(
        &browser.text("#funnel"),
        "funnel",
        &[
            "Calls", "10", "Answered", "8 (80 %)", "Quality", "6 (60 %)", "Revenue",
        ],
    );
    assert_shows(
        &browser.text("#calls-chart"),
        "chart legend",
        &["google", "yandex", "billboard"],
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('#calls-chart canvas').length"),
        1,
        "{overview}"
    );
    browser.screenshot(&shots.join("overview.png"));

    let sources = open(&mut browser, "sources", &format!("{PERIOD}&sort=-cost"));
    assert_shows(
        &sources,
        "sources",
        &[
            "google",
            "spring_sale",
            "yandex",
            "brand",
            "billboard",
            "7,000",
            "2,333.33",
        ],
    );
    let first = browser.text("#sources-table tbody tr");
    assert!(
        first.starts_with("google"),
        "sorted by cost, google first: {first}"
    );
    let tags = browser.text("#tags-table tbody");
    assert!(
        tags.contains("price") && tags.contains("delivery") && tags.contains("google"),
        "calls per keyword tag and source: {tags}"
    );
    browser.screenshot(&shots.join("sources.png"));

    let journal = open(&mut browser, "journal", &format!("{PERIOD}&call=c-g1"));
    assert_shows(
        &journal,
        "journal",
        &["79160000010", "79160000001", "billboard", "spring_sale"],
    );
    let detail = browser.text("#call-detail");
    assert_shows(
        &detail,
        "call detail",
        &[
            "https://shop.example/sofas",
            "buy sofa",
            "Cj0KCQ-test-gclid",
            "spring_sale",
            "mobile",
            "15,000 RUB",
            "Not recorded.",
        ],
    );
    browser.screenshot(&shots.join("journal.png"));

    let missed = open(&mut browser, "missed", PERIOD);
    assert_shows(&missed, "missed", &["79160000005", "1 of 2 missed calls"]);
    assert!(
        !missed.contains("79160000008"),
        "the called-back call is not listed:\n{missed}"
    );
    browser.screenshot(&shots.join("missed.png"));

    let pools = open(&mut browser, "pools", PERIOD);
    assert_shows(
        &pools,
        "pools",
        &[
            "demo / web",
            "Exhaustion minutes\n3",
            "10 (100 %)",
            "Leased p95\n",
            "Quarantined\n0",
            "Estimated accuracy\n",
        ],
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('.pool canvas').length"),
        1
    );
    browser.screenshot(&shots.join("pools.png"));

    // A phone: nothing wider than the screen but the tables' own scrolling boxes.
    browser.viewport(375, 800, true);
    open(&mut browser, "overview", &format!("{PERIOD}&w=375"));
    let width = browser
        .eval("document.documentElement.scrollWidth")
        .as_u64()
        .unwrap();
    assert!(width <= 375, "page is {width} px wide on a 375 px screen");
    browser.screenshot(&shots.join("overview-375.png"));

    browser.eval("document.getElementById('sign-out').click(); true");
    browser.wait_for(
        "document.body.dataset.ready === 'sign-in'",
        "the sign-in page after sign-out",
    );
    let status = browser.eval("fetch('/v1/pools/usage').then(r => r.status)");
    assert_eq!(status, 401, "signed out: the API refuses the browser");
    eprintln!("dashboard screenshots in {}", shots.display());
}
