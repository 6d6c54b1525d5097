//! The operator's data on both store backends alike. The outbox admin (`/v1/admin/outbox*`,
//! so `calltrack outbox status | list | replay`): the same calls written through each backend's own writer make
//! the same events; settled the same way (delivered, dead, dropped), they show the same
//! status per destination (and backlog, as the delivery services' gauges read it), the
//! same keyset pages and filters, and the same replay (dead and
//! delivered events back to pending through the writer, dropped ones never), and the same
//! Metrica uploads for the status poll (found from the delivered rows, recorded through the
//! writer, followed until final). The pools page (`GET /v1/pools/usage`): the same usage
//! samples written, replaced and pruned through the writer read back alike, and the same
//! calls per number for the estimated accuracy and the same calls to pool numbers for
//! `calltrack pool advise` and the adaptive-freeze job. The reads go through
//! `BackendReader::read_operator`, the path the HTTP handlers and the poll take.
//! Without PostgreSQL the `postgres` half skips loudly (and fails under `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::confidence::Confidence;
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::lease::{PoolCall, PoolUsageSample};
use calltrack::store::lease_history::NumberCalls;
use calltrack::store::operator_reads::MetricaDue;
use calltrack::store::outbox::admin::{DestinationStatus, ListFilter, ListPage, Replay};
use calltrack::store::outbox::delivery::{Settled, Settlement};
use calltrack::store::outbox::metrica_uploads::UploadRecord;
use calltrack::store::outbox::{DeliveryState, Outbox, Subscription};
use calltrack::store::pg::PgReader;
use calltrack::store::pool_usage::PoolUsage;
use calltrack::store::{
    BackendReader, OperatorReads, StoreCommand, StoreError, StoreReader, StoreSender, WriterHandle,
    WriterOptions, spawn_writer_with,
};
use jiff::{SignedDuration, Timestamp};
use support::pg_server::PgServer;

const HOOK: &str = "hook";
/// The Metrica upload id the first two events were delivered in.
const UPLOAD: &str = "upload-1";

fn live(i: usize) -> LiveCall {
    LiveCall {
        id: format!("c{i}"),
        call_id: format!("{i}@carrier"),
        tracking_number: "74951234567".into(),
        caller: format!("7916111223{i}"),
        destination: "sip:sales@pbx.example".into(),
        started_at: "2026-12-07T05:00:00Z".parse::<Timestamp>().unwrap()
            + SignedDuration::from_mins(i as i64),
        answered_at: None,
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}

fn ended(live: &LiveCall) -> CallDetailRecord {
    let end = live.started_at + SignedDuration::from_secs(20);
    CallDetailRecord::from_live(live, end, Disposition::NoAnswer, 480, HangupSide::Caller)
}

/// A store with its writer and the reader the HTTP side uses.
struct Store {
    sender: StoreSender,
    handle: Option<WriterHandle>,
    reader: BackendReader,
    _dir: tempfile::TempDir,
    _pg: Option<PgServer>,
}

fn sqlite() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calltrack.db");
    let opts = WriterOptions {
        flush_interval: Duration::from_millis(5),
        ..WriterOptions::default()
    };
    let outbox = Outbox::new(vec![Subscription::everything(HOOK)]);
    let (sender, handle) = spawn_writer_with(&path, opts, outbox).unwrap();
    Store {
        sender,
        handle: Some(handle),
        reader: BackendReader::Sqlite(StoreReader::new(&path)),
        _dir: dir,
        _pg: None,
    }
}

fn postgres() -> Option<Store> {
    let server = PgServer::start("operator_backends")?;
    let url = server.create_db("outbox");
    let outbox = Outbox::new(vec![Subscription::everything(HOOK)]);
    let (sender, handle) = support::pg_store::writer(&url, "node-a", outbox);
    Some(Store {
        sender,
        handle: Some(handle),
        reader: BackendReader::Postgres(PgReader::new(&support::pg_store::config(&url))),
        _dir: tempfile::tempdir().unwrap(),
        _pg: Some(server),
    })
}

impl Store {
    /// Sends a command that answers and waits for its commit (and everything queued before).
    fn request<T>(&self, make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> StoreCommand) -> T {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.sender.try_send(make(done)).unwrap();
        answer.blocking_recv().expect("committed")
    }

    fn read<T>(&self, query: impl FnOnce(&mut dyn OperatorReads) -> Result<T, StoreError>) -> T {
        self.reader.read_operator_blocking(query).unwrap()
    }

    fn status(&self) -> DestinationStatus {
        let all = self.read(|r| r.outbox_status());
        assert_eq!(all.len(), 1, "{all:?}");
        all.into_iter().next().unwrap()
    }

    fn page(&self, state: Option<DeliveryState>, limit: usize, before: Option<i64>) -> ListPage {
        let filter = ListFilter {
            destination: Some(HOOK.into()),
            state,
            limit,
            before,
            payload: true,
        };
        self.read(move |r| r.outbox_events(&filter))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.shutdown();
        }
    }
}

/// What an operator sees, without what differs by nature between backends (ids, write times).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    events: Vec<(String, String, String, u32, Option<String>)>,
    counts: Vec<(u64, u64, u64)>,
    replayable: usize,
    metrica: Vec<UploadRecord>,
}

fn view(page: &ListPage) -> Vec<(String, String, String, u32, Option<String>)> {
    page.events
        .iter()
        .map(|e| {
            let (kind, subject, state) = (e.kind.clone(), e.subject.clone(), e.state.clone());
            (kind, subject, state, e.attempts, e.last_error.clone())
        })
        .collect()
}

/// `at` as the outbox keeps it (whole milliseconds).
fn in_millis(at: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(at.as_millisecond()).unwrap()
}

fn counts(s: &DestinationStatus) -> (u64, u64, u64) {
    (s.pending, s.dead, s.delivered)
}

/// Three unanswered calls (six events), settled: two delivered, one dead, one dropped.
fn exercise(store: &Store) -> Seen {
    for i in 0..3 {
        let call = live(i);
        store
            .sender
            .try_send(StoreCommand::CallStarted(call.clone()))
            .unwrap();
        store
            .sender
            .try_send(StoreCommand::CallEnded(ended(&call)))
            .unwrap();
    }
    let epoch = Timestamp::UNIX_EPOCH;
    store.request(|done| StoreCommand::OutboxPrune {
        before: epoch,
        done,
    });
    let all = store.page(None, 500, None);
    assert_eq!(all.events.len(), 6, "{all:?}");
    assert!(all.events.iter().all(|e| e.payload.is_some()));
    let oldest: Vec<i64> = all.events.iter().rev().map(|e| e.seq).collect();
    let at = Timestamp::now() - SignedDuration::from_secs(1);
    let settle = |seq, outcome| Settled {
        seq,
        at,
        attempted: true,
        outcome,
    };
    let settled = vec![
        settle(
            oldest[0],
            Settlement::Delivered {
                kept: Some(UPLOAD.into()),
            },
        ),
        settle(
            oldest[1],
            Settlement::Delivered {
                kept: Some(UPLOAD.into()),
            },
        ),
        settle(
            oldest[2],
            Settlement::Dead {
                error: "HTTP 400".into(),
            },
        ),
        settle(
            oldest[3],
            Settlement::Dead {
                error: "dropped: not a target call".into(),
            },
        ),
    ];
    store.request(|done| StoreCommand::OutboxSettle { settled, done });

    let status = store.status();
    assert_eq!(counts(&status), (2, 2, 2), "{status:?}");
    assert_eq!(status.last_delivered, Some(in_millis(at)));
    assert_eq!(
        status.last_error.as_deref(),
        Some("dropped: not a target call")
    );
    assert!(status.oldest_pending.is_some());
    // The delivery service's backlog gauges read the same counts.
    let backlog = store.read(|r| r.outbox_backlog(HOOK));
    assert_eq!(
        (backlog.pending, backlog.dead, backlog.oldest_pending),
        (2, 2, status.oldest_pending)
    );

    let metrica = metrica(store, at);

    let first = store.page(None, 4, None);
    assert_eq!(first.events.len(), 4);
    let second = store.page(None, 4, first.next);
    assert_eq!((second.events.len(), second.next), (2, None));
    let dead = store.page(Some(DeliveryState::Dead), 10, None);
    assert_eq!(dead.events.len(), 2);
    let dropped_id = dead.events[0].id.clone();
    let (d, id) = (HOOK.to_owned(), dropped_id.clone());
    assert!(store.read(move |r| r.outbox_dropped(&d, &id)));
    let (d, id) = (HOOK.to_owned(), dead.events[1].id.clone());
    assert!(!store.read(move |r| r.outbox_dropped(&d, &id)));

    let since = Replay::Since {
        destination: HOOK.into(),
        since: epoch,
    };
    let now = Timestamp::now();
    let asked = since.clone();
    let replayable = store.read(move |r| r.outbox_replayable(&asked, now));
    let replayed = store.request(|done| StoreCommand::OutboxReplay {
        replay: since,
        at: now,
        done,
    });
    assert!(replayed);
    let after = store.status();
    assert_eq!(
        counts(&after),
        (5, 1, 0),
        "the dropped event stays dead: {after:?}"
    );
    let again = store.page(None, 500, None);
    let back = again.events.iter().find(|e| e.seq == oldest[0]).unwrap();
    assert_eq!((back.attempts, back.state.as_str()), (0, "pending"));
    assert_eq!(back.next_attempt_at, Some(in_millis(now)));
    let one = Replay::Id {
        destination: HOOK.into(),
        id: dropped_id,
    };
    let refused = store.request(|done| StoreCommand::OutboxReplay {
        replay: one,
        at: now,
        done,
    });
    assert!(!refused, "a dropped event is never replayed");
    Seen {
        events: view(&again),
        counts: vec![counts(&status), counts(&after)],
        replayable,
        metrica,
    }
}

/// The Metrica status poll's view: the upload the two delivered events made is due until a
/// final status is recorded through the writer; a later failed check keeps that status.
fn metrica(store: &Store, settled_at: Timestamp) -> Vec<UploadRecord> {
    let now = Timestamp::now();
    let due = MetricaDue {
        limit: 10,
        since: now - SignedDuration::from_hours(24),
        checked_before: now,
    };
    let found = store.read(move |r| r.metrica_due(HOOK, due));
    let expected = UploadRecord {
        destination: HOOK.into(),
        upload_id: UPLOAD.into(),
        uploaded_at: in_millis(settled_at),
        rows: 2,
        status: None,
        checked_at: None,
    };
    assert_eq!(found, std::slice::from_ref(&expected));
    let checked = UploadRecord {
        status: Some("UPLOADED".into()),
        checked_at: Some(in_millis(now)),
        ..expected
    };
    let uploads = vec![checked.clone()];
    store.request(|done| StoreCommand::MetricaUploads { uploads, done });
    let later = MetricaDue {
        checked_before: now + SignedDuration::from_secs(1),
        ..due
    };
    let open = store.read(move |r| r.metrica_due(HOOK, later));
    assert_eq!(
        open,
        std::slice::from_ref(&checked),
        "recorded, not final: still followed"
    );
    let processed = UploadRecord {
        status: Some("PROCESSED".into()),
        ..checked.clone()
    };
    let failed_check = UploadRecord {
        status: None,
        checked_at: None,
        ..checked
    };
    let uploads = vec![processed, failed_check];
    store.request(|done| StoreCommand::MetricaUploads { uploads, done });
    let open = store.read(move |r| r.metrica_due(HOOK, later));
    assert!(open.is_empty(), "final: no longer followed: {open:?}");
    open
}

#[test]
fn both_backends_show_and_replay_the_outbox_alike() {
    let _serial = support::serial();
    let on_sqlite = exercise(&sqlite());
    assert_eq!(on_sqlite.replayable, 3, "two delivered and one dead");
    let Some(pg) = postgres() else {
        return;
    };
    let on_postgres = exercise(&pg);
    assert_eq!(on_postgres, on_sqlite);
}

fn sample(pool: &str, min: i64, leased: u32, exhausted: bool) -> PoolUsageSample {
    PoolUsageSample {
        site: "shop".into(),
        pool: pool.into(),
        at: "2026-12-07T05:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(min),
        size: 2,
        leased,
        exhausted,
    }
}

/// A call to `number` of the shop's pools, of `kind`, with `confidence`.
fn pool_call(
    i: usize,
    number: &str,
    kind: NumberKindTag,
    confidence: Option<f64>,
) -> CallDetailRecord {
    let mut call = live(10 + i);
    call.tracking_number = number.into();
    call.attribution = Attribution {
        site: "shop".into(),
        number_kind: kind,
        confidence: confidence.map(Confidence::new),
        ..Attribution::default()
    };
    ended(&call)
}

/// The calls to pool numbers the adaptive-freeze job reads (`OperatorReads::pool_calls`, so
/// the SQLite file's or PostgreSQL's), as `calltrack pool advise` reads them.
fn advise_calls(store: &Store, from: Timestamp) -> Vec<PoolCall> {
    store.read(move |r| r.pool_calls("shop", from))
}

/// Samples saved, one minute sampled again, the oldest pruned; calls to pool numbers.
fn pools(store: &Store) -> (Vec<PoolUsage>, Vec<NumberCalls>, Vec<PoolCall>) {
    let t0: Timestamp = "2026-12-07T05:00:00Z".parse().unwrap();
    let samples = vec![
        sample("web", 0, 1, false),
        sample("web", 1, 2, true),
        sample("web", 2, 2, true),
        sample("ads", 1, 0, false),
    ];
    let save = |samples, prune_before| {
        store.request(|done| StoreCommand::SavePoolUsage {
            samples,
            prune_before,
            done,
        })
    };
    save(samples, Timestamp::MIN);
    save(
        vec![sample("web", 2, 1, false)],
        t0 + SignedDuration::from_secs(30),
    );
    let calls = [
        pool_call(0, "74950000001", NumberKindTag::Dynamic, Some(0.9)),
        pool_call(1, "74950000001", NumberKindTag::Dynamic, Some(0.5)),
        pool_call(2, "74950000001", NumberKindTag::Unattributed, None),
        pool_call(3, "74950000009", NumberKindTag::Reserve, None),
        pool_call(4, "74950000005", NumberKindTag::Static, None),
    ];
    for cdr in calls {
        store.sender.try_send(StoreCommand::CallEnded(cdr)).unwrap();
    }
    store.request(|done| StoreCommand::OutboxPrune {
        before: Timestamp::UNIX_EPOCH,
        done,
    });
    let to = t0 + SignedDuration::from_hours(1);
    let usage = store.read(move |r| r.pool_usage(Some("shop"), t0, to));
    assert!(
        store
            .read(move |r| r.pool_usage(Some("other"), t0, to))
            .is_empty()
    );
    let mut per_number = store.read(move |r| r.number_calls("shop", t0));
    per_number.sort_by(|a, b| a.number.cmp(&b.number));
    (usage, per_number, advise_calls(store, t0))
}

#[test]
fn both_backends_keep_and_read_pool_usage_alike() {
    let _serial = support::serial();
    let (usage, calls, advised) = pools(&sqlite());
    let shown: Vec<(&str, usize, u32)> = usage
        .iter()
        .map(|p| (p.pool.as_str(), p.samples.len(), p.exhaustion_minutes))
        .collect();
    assert_eq!(shown, [("ads", 1, 0), ("web", 2, 1)]);
    let web = &usage[1];
    assert_eq!(
        web.samples[0].at, "2026-12-07T05:01:00.000Z",
        "minute 0 pruned"
    );
    assert_eq!(
        (web.samples[1].leased, web.samples[1].exhausted),
        (1, false),
        "minute 2 replaced"
    );
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        (calls[0].judged, calls[0].unattributed, calls[0].reserve),
        (2, 1, 0)
    );
    assert!((calls[0].confidence_sum - 1.4).abs() < 1e-9);
    assert_eq!(
        (calls[1].number.as_str(), calls[1].reserve),
        ("74950000009", 1)
    );
    let Some(pg) = postgres() else {
        return;
    };
    let (pg_usage, pg_calls, pg_advised) = pools(&pg);
    assert_eq!(pg_usage, usage);
    assert_eq!(pg_calls, calls);
    assert_eq!(pg_advised, advised);
}
