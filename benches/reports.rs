//! Report cost on a realistic history: 1 000 000 calls over 90 days (plus 200 000 leads and
//! daily costs) from `calltrack demo-data`'s generator, seed 1, days ending 2026-11-30, one
//! site on Moscow time. The database is built once into `target/bench-data/` and reused.
//!
//! - `report_30d_by_source_campaign`: the last 30 days by source, campaign (target < 300 ms);
//! - `dashboard_overview`: the overview's queries, the 30-day total with the previous
//!   period's total, and the 30-day breakdown by day, source (target < 500 ms).
//!
//! The same queries run on PostgreSQL (`postgres_report_30d_by_source_campaign`,
//! `postgres_dashboard_overview`) when it is installed: a throwaway server on loopback
//! (`tests/support/pg_server.rs`), the same rows copied from the SQLite file with `COPY` once
//! per run (`cdr`, `leads`, `costs`; every column both backends hold), then `VACUUM ANALYZE`
//! (the visibility map autovacuum keeps on a steady store, so index-only scans stay so).
//!
//! Run: `cargo bench --bench reports` (`REPORT_BENCH_CALLS=100000` for a quick run).
//! `REPORT_BENCH_PG_URL=postgres://...` runs the PostgreSQL benches on a database of yours
//! (filled on the first run, kept for `EXPLAIN` in `psql`); `REPORT_BENCH_BACKFILL=1` also
//! times the version 8 migration's backfill of the rollup on those calls (printed).

#![allow(clippy::expect_used)]

#[allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "../tests/support/pg_server.rs"]
mod pg_server;

use std::io::Write;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use calltrack::cli::demo::{DemoPlan, generate};
use calltrack::cli::report::{build, build_from};
use calltrack::config::PostgresConfig;
use calltrack::report::{ReportInput, ReportRequest, Zones};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::civil::date;
use jiff::tz::TimeZone;

const DAYS: u32 = 90;

fn database() -> PathBuf {
    let calls: u64 = std::env::var("REPORT_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let path = dir.join(format!(
        "reports-{calls}-{DAYS}d-v{}.db",
        calltrack::store::schema::latest_version()
    ));
    if path.is_file() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let building = path.with_extension("building");
    let _ = std::fs::remove_file(&building);
    let mut conn = calltrack::store::open(&building).expect("open bench db");
    let plan = DemoPlan {
        calls,
        days: DAYS,
        until: date(2026, 11, 30),
        seed: 1,
        sites: vec![("shop".into(), zone())],
    };
    let started = Instant::now();
    let done = generate(&mut conn, &plan).expect("demo data");
    eprintln!(
        "demo-data: {} calls, {} leads, {} cost rows in {:.1} s",
        done.calls,
        done.leads,
        done.cost_rows,
        started.elapsed().as_secs_f64()
    );
    drop(conn);
    std::fs::rename(&building, &path).expect("rename bench db");
    path
}

fn zone() -> TimeZone {
    TimeZone::get("Europe/Moscow").expect("zone")
}

fn request(zones: &Zones, by: &str) -> ReportRequest {
    let input = ReportInput {
        from: Some("2026-11-01".into()),
        to: Some("2026-11-30".into()),
        by: Some(by.into()),
        ..ReportInput::default()
    };
    ReportRequest::parse(&input, zones, "RUB").expect("valid request")
}

fn reports(c: &mut Criterion) {
    let path = database();
    let conn = calltrack::store::open_read_only(&path).expect("read-only bench db");
    let mut zones = Zones::default();
    zones.0.insert("shop".into(), zone());
    let by_campaign = request(&zones, "source,campaign");
    let total = request(&zones, "");
    let by_day = request(&zones, "day,source");
    let mut group = c.benchmark_group("reports");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("report_30d_by_source_campaign", |b| {
        b.iter(|| black_box(build(&conn, &by_campaign, &zones).expect("report")))
    });
    group.bench_function("dashboard_overview", |b| {
        b.iter(|| {
            let total = build(&conn, &total, &zones).expect("total");
            let by_day = build(&conn, &by_day, &zones).expect("by day");
            black_box((total, by_day))
        })
    });
    postgres(&mut group, &path, [&by_campaign, &total, &by_day], &zones);
    group.finish();
}

/// The PostgreSQL runs of the same requests (skipped loudly without PostgreSQL).
fn postgres(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    path: &std::path::Path,
    [by_campaign, total, by_day]: [&ReportRequest; 3],
    zones: &Zones,
) {
    // A server of the caller's (`REPORT_BENCH_PG_URL`, kept after the run for `psql`), or a
    // throwaway one.
    let (_server, url) = match std::env::var("REPORT_BENCH_PG_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let Some(server) = pg_server::PgServer::start("reports postgres benches") else {
                return;
            };
            let url = server.create_db("reports");
            (Some(server), url)
        }
    };
    let config = PostgresConfig {
        url,
        pool_size: 1,
        connect_timeout: Duration::from_secs(5),
    };
    let mut client = calltrack::store::pg::open(&config).expect("open PostgreSQL");
    let stored: i64 = client
        .query_one("SELECT count(*) FROM cdr", &[])
        .expect("count cdr")
        .get(0);
    if stored == 0 {
        let sqlite = calltrack::store::open_read_only(path).expect("read-only bench db");
        let started = Instant::now();
        for table in ["cdr", "leads", "costs"] {
            copy_table(&sqlite, &mut client, table);
        }
        eprintln!(
            "postgres: copied in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if std::env::var_os("REPORT_BENCH_BACKFILL").is_some() {
        drop(client);
        client = time_backfill(&config);
    }
    client
        .batch_execute("VACUUM ANALYZE")
        .expect("vacuum analyze");
    group.bench_function("postgres_report_30d_by_source_campaign", |b| {
        b.iter(|| black_box(build_from(&mut client, by_campaign, zones).expect("report")))
    });
    group.bench_function("postgres_dashboard_overview", |b| {
        b.iter(|| {
            let total = build_from(&mut client, total, zones).expect("total");
            let by_day = build_from(&mut client, by_day, zones).expect("by day");
            black_box((total, by_day))
        })
    });
}

/// Takes the store back to schema version 7 (no rollup, no previous calls), then times the
/// migration to version 8 filling them from the stored calls and leads, as an upgrade does
/// (`REPORT_BENCH_BACKFILL=1`); returns a client of the migrated store.
fn time_backfill(config: &PostgresConfig) -> postgres::Client {
    let mut client =
        postgres::Client::connect(&config.url, postgres::NoTls).expect("connect PostgreSQL");
    client
        .batch_execute(
            "DROP FUNCTION report_cdr_inserted, report_cdr_deleted, report_cdr_updated,
                 report_lead_inserted, report_lead_deleted, report_lead_updated,
                 report_fix_prev CASCADE;
             DROP TABLE report_rollup;
             DROP INDEX cdr_repeats;
             UPDATE cdr SET prev_started_at = NULL;
             DELETE FROM schema_migrations WHERE version >= 8;",
        )
        .expect("back to schema version 7");
    client.batch_execute("VACUUM ANALYZE").expect("vacuum");
    let calls: i64 = client
        .query_one("SELECT count(*) FROM cdr", &[])
        .expect("count cdr")
        .get(0);
    drop(client);
    let started = Instant::now();
    let client = calltrack::store::pg::open(config).expect("migrate to version 8");
    eprintln!(
        "postgres: version 8 backfill of {calls} calls in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    client
}

/// Copies every row of `table` from SQLite to PostgreSQL (the columns PostgreSQL mirrors, in
/// CSV: an unquoted empty field is NULL).
fn copy_table(sqlite: &rusqlite::Connection, client: &mut postgres::Client, table: &str) {
    let names: Vec<&str> = calltrack::store::pg::mirror::columns(table)
        .iter()
        .map(|c| c.name.as_str())
        .filter(|name| *name != "seq")
        .collect();
    let list = names.join(", ");
    let mut stmt = sqlite
        .prepare(&format!("SELECT {list} FROM {table}"))
        .expect("select rows");
    let mut rows = stmt.query([]).expect("query rows");
    let mut writer = client
        .copy_in(&format!("COPY {table} ({list}) FROM STDIN (FORMAT csv)"))
        .expect("copy in");
    let mut line = String::new();
    while let Some(row) = rows.next().expect("row") {
        line.clear();
        for i in 0..names.len() {
            if i > 0 {
                line.push(',');
            }
            csv_field(&mut line, row.get_ref(i).expect("cell"));
        }
        line.push('\n');
        writer.write_all(line.as_bytes()).expect("copy row");
    }
    writer.finish().expect("finish copy");
}

fn csv_field(line: &mut String, value: rusqlite::types::ValueRef<'_>) {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null | ValueRef::Blob(_) => {}
        ValueRef::Integer(n) => line.push_str(&n.to_string()),
        ValueRef::Real(x) => line.push_str(&x.to_string()),
        ValueRef::Text(text) => {
            line.push('"');
            line.push_str(&String::from_utf8_lossy(text).replace('"', "\"\""));
            line.push('"');
        }
    }
}

criterion_group!(benches, reports);
criterion_main!(benches);
