//! `calltrack report`, `calltrack costs import` and `calltrack demo-data` as a user runs them:
//! exit 2 listing what is allowed on a bad field or date, a costs CSV with bad lines imports
//! nothing and names every bad line, a re-import changes nothing, demo data is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reports_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reports_fixture::{config_toml, seed};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("calltrack.db");
        seed(&db);
        std::fs::write(dir.path().join("calltrack.toml"), config_toml(&db)).unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_calltrack"))
            .arg("--config")
            .arg(self.path("calltrack.toml"))
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn report_json(setup: &Setup, from: &str, to: &str, by: &str) -> serde_json::Value {
    let out = setup.run(&[
        "report", "--from", from, "--to", to, "--by", by, "--format", "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn report_prints_table_json_and_csv_and_exits_2_on_bad_input() {
    let setup = Setup::new();
    let report = report_json(&setup, "2026-12-01", "2026-12-03", "source,campaign");
    assert_eq!(report["total"]["calls"], 4);
    assert_eq!(report["total"]["cost"], "550.00");
    reports_fixture::assert_rows_add_up(&report);

    let table = setup.run(&[
        "report",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-03",
        "--by",
        "day",
    ]);
    assert!(table.status.success());
    let table = text(&table.stdout);
    assert!(
        table.contains("2026-12-03") && table.contains("total") && table.contains("previous"),
        "{table}"
    );

    let csv = setup.run(&[
        "report",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-03",
        "--format",
        "csv",
    ]);
    assert!(
        text(&csv.stdout)
            .lines()
            .last()
            .unwrap()
            .starts_with("total,4,3,")
    );

    let bad = setup.run(&[
        "report",
        "--from",
        "2026-02-30",
        "--to",
        "2026-12-03",
        "--by",
        "colour",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("from:") && stderr.contains("YYYY-MM-DD"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"colour\"") && stderr.contains("tracking_number, number_kind"),
        "{stderr}"
    );
}

fn write(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
}

#[test]
fn costs_import_is_all_or_nothing_with_line_numbers_and_idempotent() {
    let setup = Setup::new();
    let bad = setup.path("bad.csv");
    write(
        &bad,
        "day,site,source,medium,campaign,amount,currency\n\
         2026-12-01,shop,google,cpc,brand,100.00,RUB\n\
         2026-12-01,shop,google,cpc,brand\n\
         2026-13-01,shop,yandex,cpc,generic,12.345,RUB\n\
         2026-12-02,nowhere,yandex,cpc,generic,10,RUB\n\
         2026-12-01,shop,google,cpc,brand,5,RUB\n",
    );
    let out = setup.run(&["costs", "import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    for line in ["line 3:", "line 4:", "line 5:", "line 6:"] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert!(!stderr.contains("line 2:"), "{stderr}");
    assert!(
        stderr.contains("not a date") && stderr.contains("at most two places"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown site \"nowhere\""), "{stderr}");
    assert!(
        stderr.contains("the same day, site, source, medium and campaign as line 2"),
        "{stderr}"
    );
    let report = report_json(&setup, "2026-12-01", "2026-12-03", "");
    assert_eq!(report["total"]["cost"], "550.00", "nothing imported");

    let good = setup.path("good.csv");
    write(
        &good,
        "day,site,source,medium,campaign,amount,currency\n\
         2026-12-01,shop,google,cpc,brand,100.00,RUB\n\
         2026-12-03,shop,,,,7.5,RUB\n",
    );
    for _ in 0..2 {
        let out = setup.run(&["costs", "import", good.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("imported 2 cost rows; 2 (day, site) pairs replaced"));
        let report = report_json(&setup, "2026-12-01", "2026-12-03", "source");
        // 12-01 and 12-03 replaced wholly; 12-02 (yandex 200.00) kept.
        assert_eq!(report["total"]["cost"], "307.50");
        assert_eq!(report["skipped_other_currency"]["costs"], 0);
        reports_fixture::assert_rows_add_up(&report);
    }
}

#[test]
fn demo_data_is_realistic_and_deterministic() {
    let setup = Setup::new();
    let mut totals = Vec::new();
    for name in ["a.db", "b.db"] {
        let db = setup.path(name);
        let out = setup.run(&[
            "demo-data",
            "--calls",
            "3000",
            "--days",
            "10",
            "--seed",
            "7",
            "--until",
            "2026-12-10",
            "--db",
            db.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = setup.run(&[
            "report",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-10",
            "--by",
            "source",
            "--format",
            "json",
            "--db",
            db.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        reports_fixture::assert_rows_add_up(&report);
        totals.push(report);
    }
    assert_eq!(totals[0], totals[1], "same seed, same data");
    let total = &totals[0]["total"];
    assert_eq!(total["calls"], 3000);
    let rate = total["answer_rate"].as_f64().unwrap();
    assert!((0.75..0.9).contains(&rate), "{rate}");
    assert!(total["unique_callers"].as_i64().unwrap() < 3000);
    assert!(total["missed_not_called_back"].as_i64().unwrap() > 0);
    assert!(total["leads"].as_i64().unwrap() > 0);
    assert_ne!(total["cost"], "0.00");
    assert_ne!(total["revenue"], "0.00");
    let sources: Vec<&str> = totals[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["key"]["source"].as_str())
        .collect();
    assert!(
        sources.contains(&"yandex") && sources.contains(&"google"),
        "{sources:?}"
    );
}

#[test]
fn the_report_currency_and_site_time_zone_are_checked_with_their_key_paths() {
    let setup = Setup::new();
    let config = std::fs::read_to_string(setup.path("calltrack.toml")).unwrap();
    std::fs::write(
        setup.path("bad.toml"),
        format!("{config}\n[reports]\ncurrency = \"roubles\"\n")
            .replace("Europe/Moscow", "Mars/Olympus"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args(["check-config"])
        .arg(setup.path("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("reports.currency"),
        "{}",
        text(&out.stderr)
    );
}
