//! Shared by the report tests: a config with one Moscow site (`+03:00`) and an admin token,
//! and a database of hand-made calls, a lead and costs whose figures the tests add up by hand.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use rusqlite::{Connection, params};

pub const TOKEN: &str = "report-test-token-0123456789abcdef";

/// The config: site `shop` on Moscow time, the store at `db`.
pub fn config_toml(db: &Path) -> String {
    format!(
        r#"
[http]
listen = "127.0.0.1:0"
admin_token = "{TOKEN}"

[store]
path = "{}"

[[sites]]
id = "shop"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"
utc_offset = "+03:00"
time_zone = "Europe/Moscow"
"#,
        db.display()
    )
}

struct Call {
    id: &'static str,
    started_at: &'static str,
    caller: &'static str,
    source: Option<&'static str>,
    campaign: Option<&'static str>,
    disposition: &'static str,
    wait: i64,
    talk: i64,
    first_time: bool,
    quality: bool,
    called_back: bool,
    deal: Option<(i64, &'static str)>,
}

/// The calls (local time is UTC + 3):
///
/// | id | UTC | local day | caller | source/campaign | outcome |
/// |----|-----|-----------|--------|-----------------|---------|
/// | c1 | 11-30 20:30 | 11-30 (previous period) | D | google/brand | answered |
/// | c2 | 11-30 21:30 | 12-01 00:30 | A | google/brand | answered 5 s wait, 100 s talk, quality, won 1000.00 RUB |
/// | c3 | 12-01 23:30 | 12-02 02:30 | A | google/brand | missed (20 s), not called back |
/// | c4 | 12-01 10:00 | 12-01 13:00 | B | yandex/generic | answered 10 s, 20 s talk, won 500.00 USD (skipped) |
/// | c5 | 12-02 12:00 | 12-02 15:00 | C | (none) | missed (8 s), called back |
/// | c6 | 12-03 21:00 | 12-04 00:00 (after the period) | E | google/brand | answered |
/// | c7 | 12-01 11:00 | 12-01 | F | google/brand | rejected (not counted) |
pub fn seed(db: &Path) {
    drop(calltrack::store::open(db).unwrap());
    let mut conn = Connection::open(db).unwrap();
    let calls = [
        call(
            "c1",
            "2026-11-30T20:30:00Z",
            "D",
            Some("google"),
            Some("brand"),
            "answered",
        ),
        Call {
            wait: 5,
            talk: 100,
            quality: true,
            deal: Some((100_000, "RUB")),
            ..call(
                "c2",
                "2026-11-30T21:30:00Z",
                "A",
                Some("google"),
                Some("brand"),
                "answered",
            )
        },
        Call {
            wait: 20,
            first_time: false,
            ..call(
                "c3",
                "2026-12-01T23:30:00Z",
                "A",
                Some("google"),
                Some("brand"),
                "no_answer",
            )
        },
        Call {
            wait: 10,
            talk: 20,
            deal: Some((50_000, "USD")),
            ..call(
                "c4",
                "2026-12-01T10:00:00.250Z",
                "B",
                Some("yandex"),
                Some("generic"),
                "answered",
            )
        },
        Call {
            wait: 8,
            called_back: true,
            ..call("c5", "2026-12-02T12:00:00Z", "C", None, None, "no_answer")
        },
        call(
            "c6",
            "2026-12-03T21:00:00Z",
            "E",
            Some("google"),
            Some("brand"),
            "answered",
        ),
        call(
            "c7",
            "2026-12-01T11:00:00Z",
            "F",
            Some("google"),
            Some("brand"),
            "rejected",
        ),
    ];
    let tx = conn.transaction().unwrap();
    for c in &calls {
        insert(&tx, c);
    }
    tx.execute(
        "INSERT INTO leads (id, created_at, site, source, medium, campaign, deal_amount_minor,
            deal_currency, deal_status)
         VALUES ('l1', '2026-12-01T09:00:00Z', 'shop', 'google', 'cpc', 'brand', 20000, 'RUB', 'won')",
        [],
    )
    .unwrap();
    let cost = |day: &str, source: &str, medium: &str, campaign: &str, minor: i64, cur: &str| {
        tx.execute(
            "INSERT INTO costs (day, site, source, medium, campaign, amount_minor, currency, imported_at)
             VALUES (?1, 'shop', ?2, ?3, ?4, ?5, ?6, '2026-12-04T00:00:00Z')",
            params![day, source, medium, campaign, minor, cur],
        )
        .unwrap();
    };
    cost("2026-12-01", "google", "cpc", "brand", 30_000, "RUB");
    cost("2026-12-02", "yandex", "cpc", "generic", 20_000, "RUB");
    // A cost on a day without calls, for a source without calls.
    cost("2026-12-03", "vk", "social", "winter", 5_000, "RUB");
    cost("2026-12-01", "google", "cpc", "generic", 9_900, "USD");
    tx.commit().unwrap();
}

fn call(
    id: &'static str,
    started_at: &'static str,
    caller: &'static str,
    source: Option<&'static str>,
    campaign: Option<&'static str>,
    disposition: &'static str,
) -> Call {
    Call {
        id,
        started_at,
        caller,
        source,
        campaign,
        disposition,
        wait: 3,
        talk: 40,
        first_time: true,
        quality: false,
        called_back: false,
        deal: None,
    }
}

fn insert(conn: &Connection, c: &Call) {
    let answered = c.disposition == "answered";
    let missed = !answered && c.disposition != "rejected";
    conn.execute(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
            answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side,
            site, number_kind, source, medium, campaign, device, first_time_caller, quality,
            missed, called_back_at, deal_amount_minor, deal_currency, deal_status)
         VALUES (?1, ?1, '74950000001', ?2, 'sip:pbx', ?3, CASE WHEN ?4 THEN ?3 END, ?3, ?5, ?6,
            ?7, 200, 'caller', 'shop', 'dynamic', ?8, CASE WHEN ?8 IS NULL THEN NULL ELSE 'cpc' END,
            ?9, 'mobile', ?10, ?11, ?12, CASE WHEN ?13 THEN '2026-12-02T12:30:00Z' END, ?14, ?15,
            CASE WHEN ?14 IS NULL THEN NULL ELSE 'won' END)",
        params![
            c.id,
            c.caller,
            c.started_at,
            answered,
            c.wait,
            if answered { c.talk } else { 0 },
            c.disposition,
            c.source,
            c.campaign,
            c.first_time,
            c.quality,
            missed,
            c.called_back,
            c.deal.map(|d| d.0),
            c.deal.map(|d| d.1),
        ],
    )
    .unwrap();
}

/// Adds up the rows' figures field by field (integers, and money in minor units).
pub fn assert_rows_add_up(report: &serde_json::Value) {
    let total = &report["total"];
    let rows = report["rows"].as_array().unwrap();
    for field in [
        "calls",
        "unique_callers",
        "first_time_calls",
        "answered",
        "missed",
        "missed_not_called_back",
        "quality_calls",
        "leads",
    ] {
        let sum: i64 = rows
            .iter()
            .map(|r| r["figures"][field].as_i64().unwrap())
            .sum();
        assert_eq!(sum, total[field].as_i64().unwrap(), "{field} in {report:#}");
    }
    for field in ["cost", "revenue"] {
        let minor = |v: &serde_json::Value| -> i64 {
            let text = v.as_str().unwrap().replace('.', "");
            text.parse().unwrap()
        };
        let sum: i64 = rows.iter().map(|r| minor(&r["figures"][field])).sum();
        assert_eq!(sum, minor(&total[field]), "{field} in {report:#}");
    }
}
