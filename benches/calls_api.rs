//! The calls API's pages on a million calls: 1,000,000 CDRs over 90 days, bulk-inserted in
//! one transaction into a temporary SQLite database (migrated by the store, so the V8
//! indexes are the real ones), then `store::calls::page` as `GET /v1/calls` runs it: the
//! first page unfiltered and filtered, and a cursor page half a million calls deep.
//! Target: under 50 ms a page. `cargo bench --bench calls_api`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use calltrack::call::record::rfc3339;
use calltrack::store::StoreReader;
use calltrack::store::calls::{self, CallQuery};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};

const CALLS: u32 = 1_000_000;
const DAYS: i64 = 90;
const SOURCES: [Option<&str>; 6] = [
    Some("google"),
    Some("yandex"),
    Some("facebook"),
    Some("billboard"),
    Some("radio"),
    None,
];
const DISPOSITIONS: [&str; 5] = ["answered", "answered", "answered", "no_answer", "busy"];

/// A cheap deterministic spread (no RNG needed for a shape).
fn mix(i: u32, salt: u32) -> u32 {
    let mut x = i.wrapping_mul(0x9E37_79B9) ^ salt.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 15;
    x.wrapping_mul(0xC2B2_AE35) >> 7
}

fn seed(path: &std::path::Path) -> Timestamp {
    let mut conn = calltrack::store::open(path).expect("open");
    let end: Timestamp = "2026-11-30T00:00:00Z".parse().expect("end");
    let span = DAYS * 86_400_000;
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at, \
                 answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, \
                 site, number_kind, source, medium, campaign, device, first_time_caller, quality, \
                 missed, counted, scheme) \
                 VALUES (?1, ?2, ?3, ?4, 'sip:sales@pbx', ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'caller', \
                 ?12, 'dynamic', ?13, ?14, ?15, ?16, ?17, ?18, ?19, 1, 'sales')",
            )
            .expect("prepare");
        for i in 0..CALLS {
            // Ascending start times, as the writer appends them.
            let offset = span * i64::from(i) / i64::from(CALLS);
            let started = end - SignedDuration::from_millis(span - offset);
            let disposition = DISPOSITIONS[(mix(i, 1) % 5) as usize];
            let answered = disposition == "answered";
            let talk = if answered { mix(i, 2) % 300 } else { 0 };
            let wait = 3 + mix(i, 3) % 20;
            let answered_at = started + SignedDuration::from_secs(i64::from(wait));
            let ended = answered_at + SignedDuration::from_secs(i64::from(talk));
            let source = SOURCES[(mix(i, 4) % 6) as usize];
            insert
                .execute(rusqlite::params![
                    format!("{i:016x}"),
                    format!("{i}@carrier"),
                    format!("7495000{:04}", mix(i, 5) % 400),
                    format!("7916{:07}", mix(i, 6) % 300_000),
                    rfc3339::format(started),
                    answered.then(|| rfc3339::format(answered_at)),
                    rfc3339::format(ended),
                    wait,
                    talk,
                    disposition,
                    if answered { 200 } else { 486 },
                    ["shop", "service"][(mix(i, 7) % 2) as usize],
                    source,
                    source.map(|_| "cpc"),
                    source.map(|_| format!("campaign-{}", mix(i, 8) % 40)),
                    ["desktop", "mobile", "tablet"][(mix(i, 9) % 3) as usize],
                    mix(i, 10) % 4 == 0,
                    answered && talk >= 30,
                    !answered,
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    end
}

fn query(pairs: &[(&str, &str)]) -> CallQuery {
    CallQuery::parse(pairs.iter().copied(), &|_| None).expect("query")
}

fn plan(reader: &StoreReader, sql: &'static str) {
    let lines = reader
        .read_blocking(|conn| {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("plan");
    eprintln!("plan of {sql}:\n  {}", lines.join("\n  "));
}

fn pages(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("calls.sqlite");
    let started = std::time::Instant::now();
    let end = seed(&path);
    eprintln!(
        "seeded {CALLS} calls over {DAYS} days in {:?}",
        started.elapsed()
    );
    let reader = StoreReader::new(&path);
    plan(
        &reader,
        "SELECT seq FROM cdr WHERE source = 'google' AND started_at >= '2026-11-01' \
         ORDER BY started_at DESC, seq DESC LIMIT 51",
    );
    plan(
        &reader,
        "SELECT seq FROM cdr WHERE started_at <= '2026-10-15' AND (started_at < '2026-10-15' \
         OR seq < 5) ORDER BY started_at DESC, seq DESC LIMIT 51",
    );
    let month_ago = rfc3339::format(end - SignedDuration::from_hours(30 * 24));
    let deep = reader
        .read_blocking(|conn| {
            let mut q = query(&[("limit", "1")]);
            q.cursor = Some(calls::Cursor {
                started_at: conn.query_row(
                    "SELECT started_at FROM cdr ORDER BY started_at DESC, seq DESC LIMIT 1 OFFSET 500000",
                    [],
                    |r| r.get(0),
                )?,
                seq: i64::from(CALLS) - 500_000,
            });
            Ok(calls::page(conn, &q)?.next_cursor)
        })
        .expect("deep cursor")
        .expect("a cursor half way")
        .encode();
    let cases = [
        ("first_page", vec![("limit", "50")]),
        (
            "first_page_source_30_days",
            vec![
                ("source", "google"),
                ("from", month_ago.as_str()),
                ("limit", "50"),
            ],
        ),
        (
            "first_page_missed_not_first_time",
            vec![("missed", "true"), ("first_time", "false"), ("limit", "50")],
        ),
        (
            "cursor_page_500k_deep",
            vec![("limit", "50"), ("cursor", deep.as_str())],
        ),
        (
            "cursor_page_500k_deep_source",
            vec![
                ("source", "yandex"),
                ("limit", "50"),
                ("cursor", deep.as_str()),
            ],
        ),
    ];
    let mut group = c.benchmark_group("calls_api");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    for (name, pairs) in cases {
        let q = query(&pairs);
        let found = reader
            .read_blocking(|conn| calls::page(conn, &q))
            .expect("page");
        assert_eq!(found.calls.len(), 50, "{name} fills a page");
        group.bench_function(name, |b| {
            b.iter(|| {
                let q = q.clone();
                black_box(
                    reader
                        .read_blocking(move |conn| calls::page(conn, &q))
                        .expect("page"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
