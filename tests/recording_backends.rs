//! Recordings (issue 17) on both store backends alike: a pending recording's outcome settles
//! its CDR once (`call.updated` with the file), an outcome that reaches the writer before its
//! CDR waits and is adopted, the janitor's expiry drops the path and keeps its reason, and
//! the reads of `GET /v1/calls/{id}/recording` and of the janitor answer the same. On
//! PostgreSQL a recording also names the node whose disk holds it, and each node's janitor
//! sees only its own pending CDRs. The speech queue, transcripts and scoring alike: a
//! recorded WAV is queued (on PostgreSQL for the node holding it), a retry waits, a
//! transcript with a score shows in the calls API (`speech_tags`, `target_probability`) with
//! one `call.scored`, models and re-scoring read back the same, and expiry takes the
//! transcript along. The reads go through `BackendReader::read_recordings` and
//! `read_speech`, the paths the HTTP handlers, the janitor, the speech service and training
//! take.
//! Without PostgreSQL the `postgres` half skips loudly (and fails under `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::recording::{RecordingReason, RecordingSettled, RecordingStatus};
use calltrack::call::scoring::{Metrics, Score, ScoringModel};
use calltrack::call::transcript::Transcript;
use calltrack::report::{Bucket, FactQuery, GroupField, SiteSet};
use calltrack::store::outbox::admin::ListFilter;
use calltrack::store::outbox::{Outbox, Subscription};
use calltrack::store::pg::PgReader;
use calltrack::store::recordings::CallRecording;
use calltrack::store::transcripts::{SpeechJob, SpeechOutcome};
use calltrack::store::{
    BackendReader, RecordingReads, SpeechReads, StoreCommand, StoreError, StoreReader, StoreSender,
    WriterHandle, WriterOptions, spawn_writer_with,
};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use support::backends::Backend;
use support::pg_server::PgServer;

const HOOK: &str = "hook";
const NODE: &str = "node-a";

fn start() -> Timestamp {
    "2026-12-07T05:00:00Z".parse().unwrap()
}

/// An answered call `id`, `minute` minutes after [`start`], ended with its recording pending.
fn pending(id: &str, minute: i64) -> CallDetailRecord {
    let started = start() + SignedDuration::from_mins(minute);
    let live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: format!("7916111{minute:04}"),
        destination: "sip:sales@pbx.example".into(),
        started_at: started,
        answered_at: Some(started),
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let end = started + SignedDuration::from_secs(30);
    let mut cdr =
        CallDetailRecord::from_live(&live, end, Disposition::Answered, 200, HangupSide::Caller);
    cdr.recording_status = Some(RecordingStatus::Pending);
    cdr
}

fn recorded(path: &str) -> RecordingSettled {
    RecordingSettled::Recorded {
        path: path.into(),
        bytes: 48_044,
        secs: 3,
    }
}

/// A store with its writer and the reader the HTTP side and the janitor use.
struct Store {
    sender: StoreSender,
    handle: Option<WriterHandle>,
    reader: BackendReader,
    _dir: tempfile::TempDir,
    _pg: Option<PgServer>,
}

fn open(backend: Backend) -> Option<Store> {
    let outbox = Outbox::new(vec![Subscription::everything(HOOK)]);
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => {
            let path = dir.path().join("calltrack.db");
            let opts = WriterOptions {
                flush_interval: Duration::from_millis(5),
                ..WriterOptions::default()
            };
            let (sender, handle) = spawn_writer_with(&path, opts, outbox).unwrap();
            Some(Store {
                sender,
                handle: Some(handle),
                reader: BackendReader::Sqlite(StoreReader::new(&path)),
                _dir: dir,
                _pg: None,
            })
        }
        Backend::Postgres => {
            let server = PgServer::start("recording_backends")?;
            let url = server.create_db("recordings");
            let (sender, handle) = support::pg_store::writer(&url, NODE, outbox);
            Some(Store {
                sender,
                handle: Some(handle),
                reader: BackendReader::Postgres(PgReader::new(&support::pg_store::config(&url))),
                _dir: dir,
                _pg: Some(server),
            })
        }
    }
}

impl Store {
    fn send(&self, cmd: StoreCommand) {
        self.sender.try_send(cmd).unwrap();
    }

    /// Waits until everything sent so far is committed.
    fn barrier(&self) {
        let (done, answer) = tokio::sync::oneshot::channel();
        let before = Timestamp::UNIX_EPOCH;
        self.send(StoreCommand::OutboxPrune { before, done });
        answer.blocking_recv().expect("committed");
    }

    fn settle(&self, id: &str, settled: RecordingSettled) {
        let at = start() + SignedDuration::from_hours(1);
        self.send(StoreCommand::RecordingSettled {
            id: id.into(),
            settled,
            at,
        });
    }

    fn expire(&self, ids: &[&str], reason: RecordingReason) {
        let ids = ids.iter().map(|id| id.to_string()).collect();
        let (done, answer) = tokio::sync::oneshot::channel();
        self.send(StoreCommand::RecordingsExpired { ids, reason, done });
        answer.blocking_recv().expect("committed");
    }

    fn read<T>(&self, query: impl FnOnce(&mut dyn RecordingReads) -> Result<T, StoreError>) -> T {
        self.reader.read_recordings_blocking(query).unwrap()
    }

    fn recording(&self, id: &str) -> Option<CallRecording> {
        let id = id.to_owned();
        self.read(move |r| r.recording(&id))
    }

    fn pending(&self, node: &str, before: Timestamp) -> Vec<String> {
        let node = node.to_owned();
        self.read(move |r| r.recordings_pending(&node, before))
    }

    fn speech<T>(&self, query: impl FnOnce(&mut dyn SpeechReads) -> Result<T, StoreError>) -> T {
        self.reader.read_speech_blocking(query).unwrap()
    }

    fn request(&self, make: impl FnOnce(tokio::sync::oneshot::Sender<()>) -> StoreCommand) {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.send(make(done));
        answer.blocking_recv().expect("committed");
    }

    fn transcribed(&self, id: &str, outcome: SpeechOutcome) {
        let at = start() + SignedDuration::from_hours(2);
        let call_id = id.to_owned();
        self.request(|done| StoreCommand::Transcribed {
            call_id,
            outcome,
            at,
            done,
        });
    }

    /// `(kind, subject)` of every outbox event, oldest first.
    fn events(&self) -> Vec<(String, String)> {
        let filter = ListFilter {
            destination: Some(HOOK.into()),
            state: None,
            limit: 100,
            before: None,
            payload: true,
        };
        let page = self
            .reader
            .read_operator_blocking(move |r| r.outbox_events(&filter))
            .unwrap();
        let mut seen = Vec::new();
        for e in page.events.into_iter().rev() {
            if e.kind == "call.updated" && e.subject == "a" {
                let payload = e.payload.unwrap_or_default();
                assert!(
                    payload.contains("/v1/calls/a/recording"),
                    "call.updated carries the recording's URL: {payload}"
                );
            }
            seen.push((e.kind, e.subject));
        }
        seen
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.shutdown();
        }
    }
}

fn recording(
    status: &str,
    reason: Option<&str>,
    path: Option<&str>,
    node: Option<&str>,
) -> Option<CallRecording> {
    Some(CallRecording {
        status: Some(status.into()),
        reason: reason.map(str::to_owned),
        path: path.map(str::to_owned),
        node: node.map(str::to_owned),
        node_url: None,
    })
}

/// Settled once, waited for, adopted, expired: the same CDRs, events and reads on both.
fn a_recording_settles_once_waits_for_its_cdr_and_expires(backend: Backend) {
    let Some(store) = open(backend) else { return };
    // On PostgreSQL the file's node is named; on SQLite the file is always this node's.
    let node = (backend == Backend::Postgres).then_some(NODE);
    store.send(StoreCommand::CallEnded(pending("a", 0)));
    store.send(StoreCommand::CallEnded(pending("c", 20)));
    store.settle("a", recorded("/r/a.wav"));
    store.barrier();
    // An outcome before its CDR (the file was written faster than the CDR was queued).
    store.settle("b", RecordingSettled::Failed(RecordingReason::WriteFailed));
    store.barrier();
    assert_eq!(store.recording("b"), None, "no CDR yet: the outcome waits");
    store.send(StoreCommand::CallEnded(pending("b", 10)));
    // A second outcome for a settled CDR changes nothing.
    store.settle("a", recorded("/r/other.wav"));
    store.barrier();

    assert_eq!(
        store.recording("a"),
        recording("recorded", None, Some("/r/a.wav"), node)
    );
    assert_eq!(
        store.recording("b"),
        recording("failed", Some("write_failed"), None, node)
    );
    assert_eq!(store.recording("c"), recording("pending", None, None, node));
    assert_eq!(store.recording("nobody"), None);

    let late = start() + SignedDuration::from_hours(2);
    assert_eq!(store.pending(NODE, late), ["c"]);
    let before_c_ended = start() + SignedDuration::from_mins(20);
    assert!(
        store.pending(NODE, before_c_ended).is_empty(),
        "a call that ended after the cut may still be being written"
    );

    store.expire(&["a", "c"], RecordingReason::Retention);
    store.expire(&["a"], RecordingReason::DiskBudget);
    assert_eq!(
        store.recording("a"),
        recording("expired", Some("retention"), None, node),
        "expired once, for the first reason, and the path is gone"
    );
    assert_eq!(
        store.recording("c"),
        recording("expired", Some("retention"), None, node)
    );
    assert!(store.pending(NODE, late).is_empty());

    let ended = |id: &str| ("call.ended".to_owned(), id.to_owned());
    assert_eq!(
        store.events(),
        [
            ended("a"),
            ended("c"),
            ("call.updated".to_owned(), "a".to_owned()),
            ended("b"),
        ],
        "the written recording is announced once; the adopted one rides on nothing new"
    );
}

/// An expiry for a CDR not written yet keeps the waiting outcome from naming the file.
fn an_expired_outcome_waiting_for_its_cdr_brings_no_path_back(backend: Backend) {
    let Some(store) = open(backend) else { return };
    let node = (backend == Backend::Postgres).then_some(NODE);
    store.settle("w", recorded("/r/w.wav"));
    store.barrier();
    store.expire(&["w"], RecordingReason::DiskBudget);
    store.send(StoreCommand::CallEnded(pending("w", 5)));
    store.barrier();
    assert_eq!(
        store.recording("w"),
        recording("expired", Some("disk_budget"), None, node)
    );
}

fn model(accuracy: f64) -> ScoringModel {
    ScoringModel {
        features_version: 1,
        vocabulary: vec!["price".into()],
        weights: vec![2.0],
        intercept: -1.0,
        metrics: Metrics {
            accuracy,
            precision: 0.8,
            recall: 0.7,
            folds: 5,
            labels: 40,
            targets: 12,
        },
    }
}

/// The speech queue, a retry, a scored transcript, re-scoring, the models and the expiry:
/// the same rows, reads and events on both backends.
fn transcripts_and_scores_are_queued_read_and_announced(backend: Backend) {
    let Some(store) = open(backend) else { return };
    store.send(StoreCommand::CallEnded(pending("s", 0)));
    store.send(StoreCommand::CallEnded(pending("u", 1)));
    store.send(StoreCommand::CallEnded(pending("p", 2)));
    store.settle("s", recorded("/r/s.wav"));
    store.settle("u", recorded("/r/u.wav"));
    store.settle("p", recorded("/r/p.pcap"));
    store.barrier();
    let early = start() - SignedDuration::from_hours(1);
    let late = start() + SignedDuration::from_hours(3);
    let due = |at: Timestamp| store.speech(move |r| r.speech_due(NODE, at, 10));
    let job = |id: &str, attempts: u32| SpeechJob {
        call_id: id.into(),
        path: format!("/r/{id}.wav"),
        attempts,
    };
    assert!(due(early).is_empty());
    assert_eq!(
        due(late),
        [job("s", 0), job("u", 0)],
        "a pcap is not transcribed"
    );
    assert_eq!(
        store.speech(|r| r.speech_queue(NODE)),
        (2, Some("2026-12-07T05:00:30.000Z".to_owned()))
    );

    let retry_at = "2026-12-07T07:30:00.000Z";
    store.transcribed(
        "s",
        SpeechOutcome::Retry {
            due_at: retry_at.into(),
            error: "engine busy".into(),
        },
    );
    assert_eq!(due(start() + SignedDuration::from_hours(2)), [job("u", 0)]);
    assert_eq!(due(late), [job("u", 0), job("s", 1)]);
    let queued = store.speech(|r| r.transcript("s")).unwrap();
    assert_eq!(
        (
            queued.status.as_str(),
            queued.error.as_deref(),
            queued.attempts
        ),
        ("queued", Some("engine busy"), 1)
    );

    let transcript = Transcript {
        caller: "what is the price".into(),
        agent: "hello".into(),
        language: Some("en".into()),
        tags: vec!["price".into()],
        ..Transcript::default()
    };
    let scored = Score {
        target_probability: 0.75,
        target: true,
        model_id: 1,
    };
    store.transcribed(
        "s",
        SpeechOutcome::Done {
            transcript: Box::new(transcript.clone()),
            engine: "http",
            score: Some(scored),
        },
    );
    store.transcribed(
        "u",
        SpeechOutcome::Done {
            transcript: Box::new(transcript),
            engine: "http",
            score: None,
        },
    );
    assert!(due(late).is_empty(), "done jobs leave the queue");
    let done = store.speech(|r| r.transcript("s")).unwrap();
    assert_eq!(
        (done.status.as_str(), done.tags.clone(), done.attempts),
        ("done", vec!["price".to_owned()], 2)
    );
    assert_eq!(done.caller, "what is the price");
    assert_eq!(done.created_at.as_deref(), Some("2026-12-07T07:00:00.000Z"));
    let view = store
        .reader
        .read_blocking(|r| r.call("s"))
        .unwrap()
        .unwrap();
    assert_eq!(view.speech_tags, ["price"]);
    assert_eq!(view.scoring.target_probability, Some(0.75));
    assert_eq!(view.scoring.target, Some(true));

    // Re-scoring reads the unscored transcripts, then a score is stored once.
    let unscored = store.speech(|r| r.unscored(0, 10));
    assert_eq!(
        unscored
            .iter()
            .map(|c| c.call_id.as_str())
            .collect::<Vec<_>>(),
        ["u"]
    );
    for _ in 0..2 {
        let score = Score {
            target_probability: 0.25,
            target: false,
            model_id: 2,
        };
        store.request(|done| StoreCommand::Rescored {
            call_id: "u".into(),
            score,
            at: start() + SignedDuration::from_hours(4),
            done,
        });
    }
    assert!(store.speech(|r| r.unscored(0, 10)).is_empty());

    // Models: every training kept, the current one the newest kept.
    assert_eq!(store.speech(|r| r.current_model_id()), None);
    assert_eq!(store.speech(|r| r.last_training()), None);
    for (accuracy, kept, hour) in [(0.9, true, 5), (0.5, false, 6)] {
        let model = Box::new(model(accuracy));
        let at = start() + SignedDuration::from_hours(hour);
        store.request(|done| StoreCommand::SaveScoringModel {
            model,
            kept,
            at,
            done,
        });
    }
    let (id, current) = store.speech(|r| r.current_model()).unwrap();
    assert_eq!(store.speech(|r| r.current_model_id()), Some(id));
    assert_eq!(current, model(0.9));
    assert_eq!(
        store.speech(|r| r.last_training()).as_deref(),
        Some("2026-12-07T11:00:00.000Z")
    );
    assert_eq!(store.speech(|r| r.labels_since(None)), 0);
    assert!(store.speech(|r| r.training_set()).is_empty());

    // The tag report's keyword lines: per tag and source, the target calls among them.
    let window = FactQuery {
        from: start() - SignedDuration::from_hours(24),
        to: start() + SignedDuration::from_hours(24),
        first_day: start().to_zoned(TimeZone::UTC).date(),
        last_day: start().to_zoned(TimeZone::UTC).date(),
        sites: SiteSet::Except(Vec::new()),
        columns: vec![GroupField::Source],
        bucket: Bucket::None,
        currency: "RUB".into(),
    };
    let facts = store
        .reader
        .read_blocking(move |r| r.tag_facts(&[window]))
        .unwrap();
    let lines: Vec<_> = facts
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t.key.clone(), t.calls, t.target_calls))
        .collect();
    assert_eq!(lines, [("price", vec![None], 2, 1)]);
    let totals = &facts.totals;
    assert_eq!(
        (
            totals.calls,
            totals.transcribed_calls,
            totals.calls_with_tags
        ),
        (3, 2, 2)
    );

    // The recording expires: its transcript goes with it.
    store.expire(&["s"], RecordingReason::Retention);
    assert_eq!(store.speech(|r| r.transcript("s")), None);
    assert!(
        store
            .reader
            .read_blocking(|r| r.call("s"))
            .unwrap()
            .unwrap()
            .speech_tags
            .is_empty()
    );

    let kinds: Vec<(String, String)> = store
        .events()
        .into_iter()
        .filter(|(kind, _)| kind == "call.scored")
        .collect();
    let scored = |id: &str| ("call.scored".to_owned(), id.to_owned());
    assert_eq!(kinds, [scored("s"), scored("u")], "once per scored call");
}

support::backends::on_both_backends!(
    a_recording_settles_once_waits_for_its_cdr_and_expires,
    an_expired_outcome_waiting_for_its_cdr_brings_no_path_back,
    transcripts_and_scores_are_queued_read_and_announced,
);

/// Two nodes on one PostgreSQL: each recording names the node that holds its file, and each
/// node's janitor is shown only its own pending CDRs (another node's file is not on its disk).
#[test]
fn each_node_sees_its_own_pending_recordings_and_the_holder_of_every_file() {
    let Some(server) = PgServer::start("recording_backends") else {
        return;
    };
    let url = server.create_db("two_nodes");
    let outbox = || Outbox::new(vec![Subscription::everything(HOOK)]);
    let (a, a_handle) = support::pg_store::writer(&url, "node-a", outbox());
    let (b, b_handle) = support::pg_store::writer(&url, "node-b", outbox());
    a.try_send(StoreCommand::CallEnded(pending("on-a", 0)))
        .unwrap();
    b.try_send(StoreCommand::CallEnded(pending("on-b", 1)))
        .unwrap();
    a_handle.shutdown().unwrap();
    b_handle.shutdown().unwrap();
    let reader = BackendReader::Postgres(PgReader::new(&support::pg_store::config(&url)));
    let late = start() + SignedDuration::from_hours(1);
    let pending_of = |node: &'static str| {
        reader
            .read_recordings_blocking(move |r| r.recordings_pending(node, late))
            .unwrap()
    };
    assert_eq!(pending_of("node-a"), ["on-a"]);
    assert_eq!(pending_of("node-b"), ["on-b"]);
    assert!(pending_of("node-c").is_empty());
    let holder = |id: &'static str| {
        reader
            .read_recordings_blocking(move |r| r.recording(id))
            .unwrap()
            .and_then(|r| r.node)
    };
    assert_eq!(holder("on-a").as_deref(), Some("node-a"));
    assert_eq!(holder("on-b").as_deref(), Some("node-b"));
}
