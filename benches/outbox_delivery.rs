//! Delivery throughput: one webhook `DeliveryService` (the daemon's, with its reqwest client
//! and settlement through the store writer) drains N pre-filled `call.ended` events to a
//! local axum receiver answering 200. Prints events/s per concurrency. Target: >= 2,000/s.
//!
//! Run: `cargo bench --bench outbox_delivery` (`OUTBOX_BENCH_EVENTS=5000` for a quick run).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::config::exports::{DeliveryPolicy, EventKind, Secret, WebhookConfig};
use calltrack::export::client::Client;
use calltrack::export::service::DeliveryService;
use calltrack::export::webhook::Webhook;
use calltrack::store::outbox::{Outbox, Subscription, admin};
use calltrack::store::{
    BackendReader, StoreCommand, StoreReader, WriterOptions, spawn_writer_with,
};
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

fn cdr(i: u64) -> CallDetailRecord {
    let ts = |t: &str| t.parse::<Timestamp>().unwrap();
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

/// An axum receiver on a free loopback port counting the requests it answered 200.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let app = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

async fn run(events: u64, concurrency: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cdr.db");
    let outbox = Outbox::new(vec![Subscription::everything("crm")]);
    let (store, writer) = spawn_writer_with(&db, WriterOptions::default(), outbox.clone()).unwrap();
    for i in 0..events {
        store.send(StoreCommand::CallEnded(cdr(i))).await.unwrap();
    }
    store
        .request(|done| StoreCommand::OutboxSettle {
            settled: Vec::new(),
            done,
        })
        .await
        .unwrap();
    let (url, received) = receiver().await;
    let reader = StoreReader::new(&db);
    let policy = DeliveryPolicy {
        concurrency,
        ..DeliveryPolicy::default()
    };
    let hook = Webhook::new(&WebhookConfig {
        id: "crm".into(),
        url,
        events: EventKind::ALL.to_vec(),
        sites: Vec::new(),
        secret: Secret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    })
    .unwrap();
    let service = DeliveryService {
        destination: Arc::new(hook),
        policy,
        reader: reader.clone(),
        reads: BackendReader::Sqlite(reader.clone()),
        store: store.clone(),
        outbox,
        client: Client::new(policy.timeout).unwrap(),
    };
    let stop = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(service.run(stop.clone()));
    let limit = started + Duration::from_secs(120);
    let mut pending = events;
    while Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pending = reader
            .read(|conn| Ok(admin::backlog(conn, "crm")?.pending))
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
    }
    let took = started.elapsed();
    stop.cancel();
    task.await.unwrap();
    let got = received.load(Ordering::Relaxed);
    println!(
        "outbox_delivery events={events} concurrency={concurrency}: {} settled delivered, {got} received, \
         {:.2} s, {:.0} events/s{}",
        events - pending,
        took.as_secs_f64(),
        (events - pending) as f64 / took.as_secs_f64(),
        if pending > 0 { " (time limit hit)" } else { "" }
    );
    drop(store);
    tokio::task::spawn_blocking(move || writer.shutdown().unwrap())
        .await
        .unwrap();
}

fn main() {
    let events: u64 = std::env::var("OUTBOX_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for concurrency in [4, 16, 64] {
        rt.block_on(run(events, concurrency));
    }
}
