//! What the outbox adds to a CDR write: `CallEnded` commands through the real store writer
//! (`spawn_writer_with`, one transaction per batch) with 0, 1 and 3 subscribed destinations.
//! One criterion iteration is one CDR: `iters` CDRs are queued, then a barrier command waits
//! for their commit, so the time per iteration is the writer's cost per CDR, the outbox rows
//! (one per destination, JSON payload built once) included. Target: < 50 µs added.
//!
//! Run: `cargo bench --bench outbox`.

#![allow(clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::store::outbox::{Outbox, Subscription};
use calltrack::store::{StoreCommand, StoreSender, WriterOptions, spawn_writer_with};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

/// An answered call with its own id and caller.
fn cdr(i: usize) -> CallDetailRecord {
    let call = LiveCall {
        id: format!("{i:016x}"),
        call_id: format!("{i}-a-leg@carrier.example"),
        tracking_number: "74951234567".into(),
        caller: format!("7916{i:07}"),
        destination: "sip:sales@pbx.example".into(),
        started_at: ts("2026-11-23T03:20:00.250Z"),
        answered_at: Some(ts("2026-11-23T03:20:05Z")),
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let end = ts("2026-11-23T03:22:00Z");
    CallDetailRecord::from_live(&call, end, Disposition::Answered, 200, HangupSide::Callee)
}

/// Writes `n` CDRs and waits for their commit.
async fn write(store: &StoreSender, n: u64) -> Duration {
    let cdrs: Vec<_> = (0..n)
        .map(|_| cdr(NEXT.fetch_add(1, Ordering::Relaxed)))
        .collect();
    let started = Instant::now();
    for c in cdrs {
        store
            .send(StoreCommand::CallEnded(c))
            .await
            .expect("queued");
    }
    store
        .request(|done| StoreCommand::OutboxSettle {
            settled: Vec::new(),
            done,
        })
        .await
        .expect("committed");
    started.elapsed()
}

fn enqueue(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("cdr_write");
    group.measurement_time(Duration::from_secs(5));
    for destinations in [0usize, 1, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        let subscriptions = (0..destinations)
            .map(|i| Subscription::everything(&format!("hook{i}")))
            .collect();
        let opts = WriterOptions {
            flush_interval: Duration::from_millis(1),
            ..WriterOptions::default()
        };
        let (store, handle) =
            spawn_writer_with(&dir.path().join("cdr.db"), opts, Outbox::new(subscriptions))
                .expect("writer");
        group.bench_function(format!("{destinations}_destinations"), |b| {
            b.iter_custom(|iters| rt.block_on(write(&store, iters)))
        });
        drop(store);
        handle.shutdown().expect("writer stops");
    }
    group.finish();
}

criterion_group!(benches, enqueue);
criterion_main!(benches);
