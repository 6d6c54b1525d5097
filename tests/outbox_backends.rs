//! The outbox admin (`/v1/admin/outbox*`, so `calltrack outbox status | list | replay`) on
//! both store backends alike: the same calls written through each backend's own writer make
//! the same events; settled the same way (delivered, dead, dropped), they show the same
//! status per destination, the same keyset pages and filters, and the same replay (dead and
//! delivered events back to pending through the writer, dropped ones never), and the same
//! Metrica uploads for the status poll (found from the delivered rows, recorded through the
//! writer, followed until final). The reads go through `BackendReader::read_outbox`, the path
//! the HTTP handlers and the poll take.
//! Without PostgreSQL the `postgres` half skips loudly (and fails under `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::store::outbox::admin::{DestinationStatus, ListFilter, ListPage, Replay};
use calltrack::store::outbox::delivery::{Settled, Settlement};
use calltrack::store::outbox::metrica_uploads::UploadRecord;
use calltrack::store::outbox::{DeliveryState, Outbox, Subscription};
use calltrack::store::outbox_reads::MetricaDue;
use calltrack::store::pg::PgReader;
use calltrack::store::{
    BackendReader, OutboxReads, StoreCommand, StoreError, StoreReader, StoreSender, WriterHandle,
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
    let server = PgServer::start("outbox_backends")?;
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

    fn read<T>(&self, query: impl FnOnce(&mut dyn OutboxReads) -> Result<T, StoreError>) -> T {
        self.reader.read_outbox_blocking(query).unwrap()
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
    assert_eq!(found, [expected.clone()]);
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
        [checked.clone()],
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
