//! `GET /v1/reports/tags` over HTTP against the hand-made report database
//! (`reports_fixture`) with transcripts added: calls per tag and source on the report's local
//! days, a call with two tags on two lines, calls outside the period or refused by calltrack
//! left out, `calls = calls_with_tags + untagged_calls`, 400s naming what is allowed, and the
//! OpenAPI entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;
mod reports_fixture;

use http_support::{TestServer, agent};
use reports_fixture::{TOKEN, config_toml, seed};
use serde_json::{Value, json};

struct Fixture {
    server: TestServer,
    _dir: tempfile::TempDir,
}

/// The fixture's calls, plus transcripts: c2 (google, scored target) said price and
/// delivery, c4 (yandex, scored not target) said price, c3 (google) said no tag, c5 has no
/// transcript; c1 (the day before) and c7 (refused) said price but are not counted.
fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    seed(&db);
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (call, tags) in [
        ("c1", r#"["price"]"#),
        ("c2", r#"["price","delivery"]"#),
        ("c3", "[]"),
        ("c4", r#"["price"]"#),
        ("c7", r#"["price"]"#),
    ] {
        conn.execute(
            "INSERT INTO transcripts (call_id, status, engine, tags, attempts, created_at)
             VALUES (?1, 'done', 'http', ?2, 1, '2026-12-05T00:00:00Z')",
            rusqlite::params![call, tags],
        )
        .unwrap();
    }
    conn.execute("UPDATE cdr SET target = 1 WHERE id = 'c2'", [])
        .unwrap();
    conn.execute("UPDATE cdr SET target = 0 WHERE id = 'c4'", [])
        .unwrap();
    Fixture {
        server: TestServer::start(&config_toml(&db)),
        _dir: dir,
    }
}

fn get(f: &Fixture, query: &str) -> (u16, Value) {
    let mut answer = agent()
        .get(f.server.url(&format!("/v1/reports/tags?{query}")))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_json().unwrap())
}

fn line(report: &Value, tag: &str, source: Value) -> (i64, i64) {
    let rows = report["rows"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["tag"] == tag && r["key"]["source"] == source)
        .unwrap_or_else(|| panic!("no line {tag}/{source} in {report:#}"));
    (
        row["calls"].as_i64().unwrap(),
        row["target_calls"].as_i64().unwrap(),
    )
}

#[test]
fn calls_per_tag_and_source_reconcile_with_the_calls() {
    let f = start();
    let (status, report) = get(&f, "from=2026-12-01&to=2026-12-03&by=source");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rows"].as_array().unwrap().len(), 3, "{report:#}");
    assert_eq!(line(&report, "price", json!("google")), (1, 1));
    assert_eq!(line(&report, "price", json!("yandex")), (1, 0));
    assert_eq!(line(&report, "delivery", json!("google")), (1, 1));
    assert_eq!(
        report["calls"], 4,
        "c2, c3, c4, c5 as in the report's total"
    );
    assert_eq!(report["transcribed_calls"], 3);
    assert_eq!(report["calls_with_tags"], 2);
    assert_eq!(report["untagged_calls"], 2);
    assert!(
        report["counting"]
            .as_str()
            .unwrap()
            .contains("once on each tag's line")
    );
    // The report's own total agrees on the calls.
    let mut answer = agent()
        .get(f.server.url("/v1/reports?from=2026-12-01&to=2026-12-03"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let total: Value = answer.body_mut().read_json().unwrap();
    assert_eq!(total["total"]["calls"], report["calls"]);
}

#[test]
fn per_tag_only_by_site_and_one_site() {
    let f = start();
    let (status, report) = get(&f, "from=2026-12-01&to=2026-12-03");
    assert_eq!(status, 200, "{report}");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows[0]["tag"], "price");
    assert_eq!(rows[0]["calls"], 2, "{report:#}");
    assert_eq!(rows[0]["key"], json!({}));
    let (status, report) = get(
        &f,
        "from=2026-11-30&to=2026-12-03&by=site,campaign&site=shop",
    );
    assert_eq!(status, 200, "{report}");
    let price = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tag"] == "price" && r["key"]["campaign"] == "brand")
        .unwrap();
    assert_eq!(price["key"]["site"], "shop");
    assert_eq!(price["calls"], 2, "c1 is on 11-30 now: {report:#}");
}

#[test]
fn bad_fields_dates_and_sites_are_400_listing_what_is_allowed() {
    let f = start();
    let (status, body) = get(&f, "from=2026-12-01&to=2026-12-03&by=source,day");
    assert_eq!(status, 400, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("allowed: source, medium, campaign, site"),
        "{body}"
    );
    let (status, body) = get(&f, "from=yesterday&to=2026-12-03&site=nowhere");
    assert_eq!(status, 400, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("YYYY-MM-DD") && text.contains("unknown site"),
        "{body}"
    );
    let answer = agent()
        .get(
            f.server
                .url("/v1/reports/tags?from=2026-12-01&to=2026-12-03"),
        )
        .call()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}

#[test]
fn the_openapi_document_describes_the_tag_report() {
    let f = start();
    let mut answer = agent()
        .get(f.server.url("/v1/openapi.json"))
        .call()
        .unwrap();
    let doc: Value = answer.body_mut().read_json().unwrap();
    let path = &doc["paths"]["/v1/reports/tags"]["get"];
    let params: Vec<&str> = path["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["from", "to", "by", "site"]);
    let schema = &doc["components"]["schemas"]["TagReport"]["properties"];
    for field in ["counting", "calls_with_tags", "untagged_calls", "rows"] {
        assert!(schema[field].is_object(), "{field}: {schema:#}");
    }
}
