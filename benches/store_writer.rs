//! The CDR writer's cost per call: the full event stream of short answered calls
//! (`CallStarted`, `CallAnswered`, `DialogsChanged`, `CallEnded`, with realistic attribution
//! and a one-step trail) through the real writer (`spawn_writer`, production pragmas, a
//! SQLite file in a temp dir, the daemon's default batch of 256 commands / 50 ms).
//!
//! One element is one call. Each iteration starts a fresh writer on a fresh database, queues
//! `CALLS` calls' events as fast as the queue takes them and times until `shutdown` has
//! committed them all, so the time per element is the writer thread's cost per call when it
//! is the bottleneck (1 / time = the calls/s one writer sustains).
//!
//! Two shapes of traffic, by how far apart a call's events lie in the queue:
//! - `zero_length`: a call answers 8 calls after it starts and ends 16 calls after (about
//!   2 ms at 10,000 calls/s): most calls start and end in the same batch.
//! - `held_1s`: a call answers 5,000 calls after it starts and ends 10,000 calls after (one
//!   second at 10,000 calls/s): every live row is written, updated and deleted in separate
//!   batches, which is what crash recovery must pay for.
//!
//! Beside criterion's wall time, the process CPU time per call is printed (`/proc/self/stat`,
//! 10 ms ticks, summed over all iterations): on a shared box it is the steadier figure, and
//! at a given rate it says how much of a core the writer takes.
//!
//! The same streams go through the PostgreSQL writer (`store::pg`, `[store] backend =
//! "postgres"`) against a throwaway server on loopback (`tests/support/pg_server.rs`:
//! `initdb` in a temp dir, `fsync=off`, a fresh database per iteration), as
//! `postgres_zero_length` and `postgres_held_1s`, when PostgreSQL is installed. Their CPU
//! line adds the server's CPU (its backends', counted when the writer disconnects).
//!
//! Run: `cargo bench --bench store_writer`.

#![allow(clippy::expect_used)]

#[allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "../tests/support/pg_server.rs"]
mod pg_server;

use std::time::{Duration, Instant};

use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::live_dialog::{CallDialogs, LegDialog};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::trail::{TrailOutcome, TrailStep};
use calltrack::config::PostgresConfig;
use calltrack::store::outbox::Outbox;
use calltrack::store::pg::{PgWriterOptions, spawn_pg_writer};
use calltrack::store::{StoreCommand, StoreSender, WriterHandle, WriterOptions, spawn_writer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};

/// Calls per iteration.
const CALLS: usize = 20_000;

/// The production writer options (`[store]` defaults in `config/file.rs`); the batch size can
/// be tried otherwise with `STORE_WRITER_BATCH_MAX=1024 cargo bench --bench store_writer`.
fn options() -> WriterOptions {
    let batch_max_records = std::env::var("STORE_WRITER_BATCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    WriterOptions {
        queue_capacity: 10_000,
        batch_max_records,
        flush_interval: Duration::from_millis(50),
        callback_window: Duration::from_secs(24 * 3600),
    }
}

fn start_of(i: usize) -> Timestamp {
    let base: Timestamp = "2026-11-23T03:20:00Z".parse().expect("timestamp");
    base + SignedDuration::from_micros(100 * i as i64)
}

/// Paid-search attribution as a dynamic-pool lease carries it.
fn attribution(i: usize) -> Attribution {
    Attribution {
        site: ["shop", "clinic", "autos"][i % 3].into(),
        number_kind: NumberKindTag::Dynamic,
        source: Some(["google", "yandex", "facebook"][i % 3].into()),
        medium: Some("cpc".into()),
        campaign: Some(format!("winter-sale-{}", i % 17)),
        term: Some("buy winter tyres near me".into()),
        content: Some("ad-variant-b".into()),
        referrer: Some("https://www.google.com/".into()),
        landing_page: Some(format!(
            "https://shop.example/tyres/winter?utm_source=google&utm_medium=cpc&utm_campaign=winter-sale-{}",
            i % 17
        )),
        gclid: Some(format!("Cj0KCQiA{i:024}")),
        yclid: None,
        ga_client_id: Some(format!("{}.{}", 1_700_000_000 + i, 424_242)),
        ga_session_id: Some(format!("{}", 1_732_000_000 + i)),
        ym_client_id: None,
        region: Some("Moscow".into()),
        session_id: Some(format!("s-{i:012x}")),
        device: Some(["desktop", "mobile"][i % 2].into()),
        confidence: Some(calltrack::call::confidence::Confidence::new(0.95)),
    }
}

fn live(i: usize) -> LiveCall {
    LiveCall {
        id: format!("{i:016x}"),
        call_id: format!("{i}-a-leg@carrier.example"),
        tracking_number: format!("7495123{:04}", i % 50),
        // Mostly distinct callers, some calling again.
        caller: format!("7916{:07}", i % 7_919),
        destination: "sip:sales@pbx.example".into(),
        started_at: start_of(i),
        answered_at: None,
        attribution: attribution(i),
        first_time_caller: i < 7_919,
        scheme: Some("sales".into()),
        answered_step: None,
        answered_target: None,
    }
}

fn leg(call_id: String) -> LegDialog {
    LegDialog {
        call_id,
        local_tag: "a5f3c1e9".into(),
        remote_tag: Some("9b1d7e44".into()),
        local_uri: "<sip:74951234567@calltrack.example>".into(),
        remote_uri: "<sip:79161112233@carrier.example>".into(),
        local_seq: 1,
        remote_target: "sip:79161112233@192.0.2.10:5060".into(),
        route_set: vec!["<sip:192.0.2.1;lr>".into()],
        transport: "UDP".into(),
        peer: "192.0.2.10:5060".parse().expect("addr"),
        local_contact: "<sip:198.51.100.5:5060>".into(),
    }
}

fn answered_at(i: usize) -> Timestamp {
    start_of(i) + SignedDuration::from_millis(800)
}

fn ended(i: usize) -> CallDetailRecord {
    let mut call = live(i);
    call.answered_at = Some(answered_at(i));
    call.answered_step = Some(1);
    call.answered_target = Some("sip:sales@pbx.example".into());
    let end = answered_at(i) + SignedDuration::from_millis(1);
    let mut cdr =
        CallDetailRecord::from_live(&call, end, Disposition::Answered, 200, HangupSide::Caller);
    cdr.trail = vec![TrailStep {
        at: start_of(i),
        step: 1,
        target: "sip:sales@pbx.example".into(),
        outcome: TrailOutcome::Answered,
        sip_status: Some(200),
    }];
    cdr.judge_quality(Duration::from_secs(30))
}

/// The queue order of `calls` calls' events when a call answers `answer_lag` calls and ends
/// `end_lag` calls after it starts.
fn stream(calls: usize, answer_lag: usize, end_lag: usize) -> Vec<StoreCommand> {
    let mut out = Vec::with_capacity(calls * 4);
    for k in 0..calls + end_lag {
        if k < calls {
            out.push(StoreCommand::CallStarted(live(k)));
        }
        if let Some(i) = k.checked_sub(answer_lag).filter(|i| *i < calls) {
            out.push(StoreCommand::CallAnswered {
                id: format!("{i:016x}"),
                answered_at: answered_at(i),
            });
            out.push(StoreCommand::DialogsChanged {
                id: format!("{i:016x}"),
                dialogs: CallDialogs {
                    a: leg(format!("{i}-a-leg@carrier.example")),
                    b: leg(format!("{i}-b-leg@calltrack")),
                },
            });
        }
        if let Some(i) = k.checked_sub(end_lag).filter(|i| *i < calls) {
            out.push(StoreCommand::CallEnded(ended(i)));
        }
    }
    out
}

/// This process's CPU time so far (user + system), from `/proc/self/stat` in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: state is the 3rd field, utime and stime the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

/// CPU ticks and calls measured so far in one benchmark function.
#[derive(Default)]
struct CpuTally {
    ticks: u64,
    calls: u64,
}

impl CpuTally {
    fn report(&self, name: &str) {
        if self.calls > 0 {
            // Linux USER_HZ is 100: a tick is 10 ms.
            let micros = self.ticks as f64 * 10_000.0 / self.calls as f64;
            eprintln!(
                "store_writer/{name}: {micros:.1} µs CPU per call over {} calls ({:.0} calls/s per core)",
                self.calls,
                1e6 / micros
            );
        }
    }
}

/// Where a run writes.
enum Backend<'a> {
    Sqlite,
    /// A fresh database on this server per run.
    Postgres(&'a pg_server::PgServer),
}

/// A fresh store of `backend`: its writer, and the temp dir or database kept for the run.
fn fresh(backend: &Backend<'_>, dir: &std::path::Path) -> (StoreSender, WriterHandle) {
    match backend {
        Backend::Sqlite => spawn_writer(&dir.join("cdr.sqlite"), options()).expect("writer"),
        Backend::Postgres(server) => {
            static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let config = PostgresConfig {
                url: server.create_db(&format!("bench{n}")),
                pool_size: 1,
                connect_timeout: Duration::from_secs(5),
            };
            let opts = PgWriterOptions {
                writer: options(),
                node: "bench".into(),
                unique_window: Some(Duration::from_secs(30 * 86_400)),
                spool_path: dir.join(format!("bench{n}.spool.db")),
            };
            spawn_pg_writer(&config, opts, Outbox::new(Vec::new())).expect("writer")
        }
    }
}

/// The server's CPU ticks so far (0 for SQLite: it runs inside this process).
fn server_ticks(backend: &Backend<'_>) -> u64 {
    match backend {
        Backend::Sqlite => 0,
        Backend::Postgres(server) => server.cpu_ticks(),
    }
}

/// Writes one stream through a fresh writer; the time from the first send to the last commit.
fn run(
    runtime: &tokio::runtime::Runtime,
    backend: &Backend<'_>,
    commands: Vec<StoreCommand>,
    cpu: &mut CpuTally,
) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, writer) = fresh(backend, dir.path());
    let ticks = cpu_ticks() + server_ticks(backend);
    let started = Instant::now();
    runtime.block_on(async {
        for cmd in commands {
            store.send(cmd).await.expect("queued");
        }
    });
    let stats = writer.shutdown().expect("flushed");
    let took = started.elapsed();
    if let Backend::Postgres(_) = backend {
        // The writer's backend exits once its connection closes; the postmaster reaps it.
        std::thread::sleep(Duration::from_millis(200));
    }
    cpu.ticks += (cpu_ticks() + server_ticks(backend)).saturating_sub(ticks);
    cpu.calls += CALLS as u64;
    assert_eq!(stats.cdrs_written, CALLS as u64);
    took
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("store_writer");
    group.throughput(Throughput::Elements(CALLS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let server = pg_server::PgServer::start("store_writer postgres benches");
    let mut backends = vec![("", Backend::Sqlite)];
    if let Some(server) = &server {
        backends.push(("postgres_", Backend::Postgres(server)));
    }
    for (prefix, backend) in &backends {
        for (shape, answer_lag, end_lag) in [("zero_length", 8, 16), ("held_1s", 5_000, 10_000)] {
            let name = format!("{prefix}{shape}");
            let mut cpu = CpuTally::default();
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let commands = stream(CALLS, answer_lag, end_lag);
                            run(&runtime, backend, commands, &mut cpu)
                        })
                        .sum()
                })
            });
            cpu.report(&name);
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
