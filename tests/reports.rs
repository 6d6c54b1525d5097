//! Reports and costs over HTTP against a hand-made database (`reports_fixture`): the figures
//! added up by hand (a call at 23:30 UTC on the next Moscow day, a cost on a day without
//! calls, deals and costs in another currency left out), rows adding up to the total for
//! every group-by field, 400s listing what is allowed, CSV, and the all-or-nothing,
//! idempotent `POST /v1/costs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;
mod reports_fixture;

use http_support::{TestServer, agent};
use reports_fixture::{TOKEN, assert_rows_add_up, config_toml, seed};
use serde_json::{Value, json};

struct Fixture {
    server: TestServer,
    _dir: tempfile::TempDir,
}

fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    seed(&db);
    Fixture {
        server: TestServer::start(&config_toml(&db)),
        _dir: dir,
    }
}

fn get(f: &Fixture, query: &str) -> (u16, Value) {
    let mut answer = agent()
        .get(f.server.url(&format!("/v1/reports?{query}")))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_json().unwrap())
}

fn row<'a>(report: &'a Value, field: &str, value: Value) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"][field] == value)
        .unwrap_or_else(|| panic!("no row {field}={value} in {report:#}"))
}

#[test]
fn figures_match_the_hand_count() {
    let f = start();
    let (status, report) = get(&f, "from=2026-12-01&to=2026-12-03&by=day");
    assert_eq!(status, 200, "{report}");
    let total = &report["total"];
    // c2, c3, c4, c5 (c1 is the day before in Moscow, c6 the day after, c7 was rejected).
    assert_eq!(total["calls"], 4);
    assert_eq!(total["unique_callers"], 3);
    assert_eq!(total["first_time_calls"], 3);
    assert_eq!(total["answered"], 2);
    assert_eq!(total["missed"], 2);
    assert_eq!(total["missed_not_called_back"], 1);
    assert_eq!(total["quality_calls"], 1);
    assert_eq!(total["answer_rate"], 0.5);
    assert_eq!(total["avg_wait_secs"], 7.5);
    assert_eq!(total["avg_talk_secs"], 60.0);
    assert_eq!(total["leads"], 1);
    assert_eq!(total["cost"], "550.00");
    assert_eq!(total["cost_per_call"], "137.50");
    assert_eq!(total["cost_per_quality_call"], "550.00");
    assert_eq!(total["cost_per_lead"], "550.00");
    assert_eq!(total["revenue"], "1200.00");
    let roi = total["roi"].as_f64().unwrap();
    assert!((roi - 650.0 / 550.0).abs() < 1e-9, "{roi}");
    assert_eq!(
        report["skipped_other_currency"],
        json!({"deals": 1, "costs": 1})
    );
    assert_eq!(report["currency"], "RUB");
    // Previous period 11-28..11-30 local: c1 only.
    assert_eq!(report["previous_total"]["calls"], 1);
    assert_eq!(report["previous_total"]["cost"], "0.00");
    assert_eq!(report["previous_total"]["roi"], Value::Null);

    let rows = report["rows"].as_array().unwrap();
    let days: Vec<&str> = rows
        .iter()
        .map(|r| r["key"]["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2026-12-01", "2026-12-02", "2026-12-03"]);
    let dec1 = &rows[0]["figures"];
    assert_eq!(
        (dec1["calls"].clone(), dec1["unique_callers"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        (dec1["cost"].clone(), dec1["leads"].clone()),
        (json!("300.00"), json!(1))
    );
    // c3 at 23:30 UTC on 12-01 is 02:30 on 12-02 in Moscow; caller A counted on 12-01.
    let dec2 = &rows[1]["figures"];
    assert_eq!(
        (dec2["calls"].clone(), dec2["unique_callers"].clone()),
        (json!(2), json!(1))
    );
    let dec3 = &rows[2]["figures"];
    assert_eq!(
        (dec3["calls"].clone(), dec3["cost"].clone()),
        (json!(0), json!("50.00"))
    );
    assert_eq!(dec3["cost_per_call"], Value::Null);
    assert_rows_add_up(&report);
}

#[test]
fn breakdown_by_source_and_every_field_adds_up() {
    let f = start();
    let (_, report) = get(&f, "from=2026-12-01&to=2026-12-03&by=source");
    let google = &row(&report, "source", json!("google"))["figures"];
    assert_eq!(google["calls"], 2);
    assert_eq!(google["unique_callers"], 1);
    assert_eq!(google["revenue"], "1200.00");
    assert_eq!(google["cost"], "300.00");
    assert_eq!(google["leads"], 1);
    let vk = &row(&report, "source", json!("vk"))["figures"];
    assert_eq!(
        (vk["calls"].clone(), vk["cost"].clone()),
        (json!(0), json!("50.00"))
    );
    let direct = &row(&report, "source", Value::Null)["figures"];
    assert_eq!(direct["missed"], 1);
    assert_eq!(direct["missed_not_called_back"], 0);
    assert_rows_add_up(&report);

    for by in [
        "source,campaign",
        "medium",
        "term",
        "landing_page",
        "region",
        "device",
        "tracking_number",
        "number_kind",
        "site",
        "week",
        "month",
        "hour",
        "weekday",
        "day,source",
        "campaign,hour,device",
    ] {
        let (status, report) = get(&f, &format!("from=2026-12-01&to=2026-12-03&by={by}"));
        assert_eq!(status, 200, "{by}: {report}");
        assert_eq!(report["total"]["calls"], 4, "{by}");
        assert_eq!(report["total"]["cost"], "550.00", "{by}");
        assert_rows_add_up(&report);
    }
    // Costs cannot be split by term: they sit on the empty term.
    let (_, report) = get(&f, "from=2026-12-01&to=2026-12-03&by=term");
    assert_eq!(
        row(&report, "term", Value::Null)["figures"]["cost"],
        "550.00"
    );
    let (_, report) = get(&f, "from=2026-12-01&to=2026-12-03&by=hour");
    assert_eq!(row(&report, "hour", json!("02"))["figures"]["calls"], 1);
    let (_, report) = get(&f, "from=2026-12-01&to=2026-12-01&by=weekday");
    assert_eq!(row(&report, "weekday", json!("tue"))["figures"]["calls"], 2);
}

#[test]
fn bad_fields_dates_and_formats_are_400_listing_what_is_allowed() {
    let f = start();
    let (status, body) = get(
        &f,
        "from=2026-12-40&to=yesterday&by=source,colour&format=xml",
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_report");
    let problems: Vec<&str> = body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("from:") && p.contains("YYYY-MM-DD"))
    );
    assert!(problems.iter().any(|p| p.starts_with("to:")));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"colour\"") && p.contains("landing_page"))
    );
    assert!(problems.iter().any(|p| p.contains("json, csv")));
    let (status, body) = get(&f, "from=2026-12-01&to=2026-12-01&site=nowhere");
    assert_eq!(status, 400);
    assert!(
        body["error"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("shop")
    );
    let unauthorised = agent()
        .get(f.server.url("/v1/reports?from=2026-12-01&to=2026-12-01"))
        .call()
        .unwrap();
    assert_eq!(unauthorised.status().as_u16(), 401);
}

#[test]
fn csv_has_a_header_every_row_and_the_total() {
    let f = start();
    let mut answer = agent()
        .get(
            f.server
                .url("/v1/reports?from=2026-12-01&to=2026-12-03&by=source&format=csv"),
        )
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let kind = answer
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/csv"), "{kind}");
    let text = answer.body_mut().read_to_string().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("source,calls,unique_callers,"),
        "{text}"
    );
    assert_eq!(lines.len(), 1 + 4 + 1, "{text}");
    assert!(lines.last().unwrap().starts_with("total,4,3,"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("vk,0,0,")), "{text}");
}

fn post_costs(f: &Fixture, body: &Value) -> (u16, Value) {
    let mut answer = agent()
        .post(f.server.url("/v1/costs"))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send_json(body)
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_json().unwrap())
}

#[test]
fn posted_costs_are_all_or_nothing_and_replace_their_day() {
    let f = start();
    let bad = json!({"rows": [
        {"day": "2026-12-01", "site": "shop", "source": "google", "medium": "cpc", "campaign": "brand", "amount": "100.00", "currency": "RUB"},
        {"day": "2026-12-32", "site": "shop", "amount": "1", "currency": "RUB"},
        {"day": "2026-12-01", "site": "elsewhere", "amount": "1.234", "currency": "RUBLES"}
    ]});
    let (status, body) = post_costs(&f, &bad);
    assert_eq!(status, 400, "{body}");
    let problems = body["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 4, "{body}");
    assert!(problems[0].as_str().unwrap().starts_with("rows[1]: day"));
    assert!(
        problems
            .iter()
            .all(|p| !p.as_str().unwrap().starts_with("rows[0]"))
    );
    let (_, report) = get(&f, "from=2026-12-01&to=2026-12-01");
    assert_eq!(report["total"]["cost"], "300.00", "nothing imported");

    let good = json!({"rows": [
        {"day": "2026-12-01", "site": "shop", "source": "google", "medium": "cpc", "campaign": "brand", "amount": "100.00", "currency": "RUB"},
        {"day": "2026-12-01", "site": "shop", "source": "yandex", "medium": "cpc", "campaign": "generic", "amount": 25.5, "currency": "rub"}
    ]});
    for _ in 0..2 {
        let (status, body) = post_costs(&f, &good);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"days_replaced": 1, "rows": 2}));
        let (_, report) = get(&f, "from=2026-12-01&to=2026-12-01&by=source");
        // The whole day was replaced: the USD row is gone too.
        assert_eq!(report["total"]["cost"], "125.50");
        assert_eq!(report["skipped_other_currency"]["costs"], 0);
        assert_eq!(
            row(&report, "source", json!("yandex"))["figures"]["cost"],
            "25.50"
        );
    }
}

#[test]
fn the_openapi_document_describes_reports_and_costs() {
    let f = start();
    let mut answer = agent()
        .get(f.server.url("/v1/openapi.json"))
        .call()
        .unwrap();
    let doc: Value = answer.body_mut().read_json().unwrap();
    let report = &doc["paths"]["/v1/reports"]["get"];
    let params: Vec<&str> = report["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["from", "to", "by", "site", "format"]);
    assert!(doc["paths"]["/v1/costs"]["post"].is_object(), "{doc:#}");
    for schema in [
        "Report",
        "Figures",
        "CostsBody",
        "CostInput",
        "CostsReplaced",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
