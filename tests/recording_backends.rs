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

use calltrack::app::scorer_training::ScorerTraining;
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::recording::{RecordingReason, RecordingSettled, RecordingStatus};
use calltrack::call::scoring::{Metrics, Score, ScoringModel};
use calltrack::call::transcript::Transcript;
use calltrack::report::{Bucket, FactQuery, GroupField, SiteSet};
use calltrack::speech::model_watch;
use calltrack::store::calls::CallChange;
use calltrack::store::outbox::admin::ListFilter;
use calltrack::store::outbox::{Outbox, Subscription};
use calltrack::store::pg::PgReader;
use calltrack::store::recordings::CallRecording;
use calltrack::store::scoring::{Label, LabelChange};
use calltrack::store::search_words::SearchWords;
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

/// Call `id` recorded, transcribed with `caller` / `agent` and `tags`, and labelled.
fn transcribed_call(
    store: &Store,
    id: &str,
    minute: i64,
    caller: &str,
    agent: &str,
    tags: &[&str],
    label: Option<Label>,
) {
    store.send(StoreCommand::CallEnded(pending(id, minute)));
    store.settle(id, recorded(&format!("/r/{id}.wav")));
    store.barrier();
    if !caller.is_empty() || !agent.is_empty() {
        let transcript = Transcript {
            caller: caller.into(),
            agent: agent.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Transcript::default()
        };
        let outcome = SpeechOutcome::Done {
            transcript: Box::new(transcript),
            engine: "http",
            score: None,
        };
        store.transcribed(id, outcome);
    }
    if let Some(label) = label {
        store.label(id, label, start() + SignedDuration::from_hours(3));
    }
}

impl Store {
    /// Labels call `id` at `at`, as `PATCH /v1/calls/{id}` does.
    fn label(&self, id: &str, label: Label, at: Timestamp) {
        let change = CallChange {
            label: Some(LabelChange {
                label: Some(label),
                by: "admin:bearer".into(),
            }),
            ..CallChange::default()
        };
        let (done, answer) = tokio::sync::oneshot::channel();
        let id = id.to_owned();
        self.send(StoreCommand::PatchCall {
            id,
            change,
            at,
            done,
        });
        assert!(
            answer.blocking_recv().expect("committed"),
            "the call exists"
        );
    }

    /// `(call id, snippet)` of each hit of `q`, best first.
    fn search(&self, q: &str) -> Vec<(String, String)> {
        let words = SearchWords::parse(q).unwrap_or_else(|| panic!("{q:?} has words"));
        self.speech(move |r| r.search_transcripts(&words, 50))
            .into_iter()
            .map(|h| (h.call_id, h.snippet))
            .collect()
    }

    /// The call ids found by `q`, best first.
    fn found(&self, q: &str) -> Vec<String> {
        self.search(q).into_iter().map(|(id, _)| id).collect()
    }
}

/// A call of the search test: id, caller's and agent's words, keyword tags, label.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<Label>,
);

/// Transcript search, the tag counts and the training set: the same answers on both
/// backends (every word in either channel, prefixes, accents folded, a user's query syntax
/// taken as plain words, best match first, the passage found, expired transcripts gone).
fn transcripts_are_searched_tagged_and_trained_on_alike(backend: Backend) {
    let Some(store) = open(backend) else { return };
    let long = "we open at nine and close at six every day except sunday when the shop \
                keeps short hours but the warranty covers every sofa for two full years \
                from the day it reaches your home in the city";
    let cases: [Case; 6] = [
        (
            "a",
            "how much is the delivery price for the sofa",
            "Hello, welcome to the Café Crème",
            &["delivery", "price"],
            Some(Label::Target),
        ),
        (
            "b",
            "price price price",
            "ok",
            &["price"],
            Some(Label::NotTarget),
        ),
        (
            "c",
            "I said OR (refund) \"now\": a&b x:y",
            "sorry",
            &[],
            None,
        ),
        ("e", "crème brûlée for the e-mail list", "bye", &[], None),
        ("w", long, "thanks", &["warranty"], None),
        // Recorded, queued, never transcribed, yet labelled: not searched, not trained on.
        ("q", "", "", &[], Some(Label::Target)),
    ];
    for (i, (id, caller, agent, tags, label)) in cases.into_iter().enumerate() {
        transcribed_call(&store, id, i as i64, caller, agent, tags, label);
    }

    // Every word, in either channel; best match first.
    assert_eq!(store.found("delivery price"), ["a"]);
    assert_eq!(
        store.found("price"),
        ["b", "a"],
        "three times in a short call first"
    );
    assert_eq!(store.found("sofa welcome"), ["a"], "one word per channel");
    assert!(store.found("price refund").is_empty());
    // Prefixes, case and accents.
    assert_eq!(store.found("deliv*"), ["a"]);
    assert_eq!(store.found("CAFE creme"), ["a"]);
    assert_eq!(store.found("Crème brulee"), ["e"]);
    assert_eq!(store.found("brûl*"), ["e"]);
    assert_eq!(store.found("e-mail"), ["e"]);
    // A user's query syntax is plain words, never an error.
    assert_eq!(store.found("OR refund"), ["c"]);
    assert_eq!(store.found("(refund) \"now\""), ["c"]);
    assert_eq!(store.found("refund:* now&"), ["c"]);
    assert!(store.found("x:y").is_empty(), "`x:y` is the word `xy`");
    assert!(store.found("NEAR(price sofa) AND NOT -x ^price").is_empty());
    assert_eq!(SearchWords::parse("& | ! : * ( ) \" <->"), None);
    // A queued call without a transcript is not found.
    assert!(!store.found("sofa").contains(&"q".to_owned()));

    // The passage: the words found in `[` `]`, `…` where it was cut, about 12 words.
    let snippets: Vec<String> = store.search("price").into_iter().map(|h| h.1).collect();
    assert_eq!(snippets[0], "[price] [price] [price]");
    assert_eq!(snippets[1], "how much is the delivery [price] for the sofa");
    let (_, cut) = store.search("warranty").remove(0);
    assert_eq!(
        cut, "…keeps short hours but the [warranty] covers every sofa for two full…",
        "12 words around the word found, cut on both sides"
    );
    let hit = store.speech(|r| r.search_transcripts(&SearchWords::parse("sofa").unwrap(), 1));
    assert_eq!(hit.len(), 1, "the limit holds");
    assert_eq!(hit[0].started_at, "2026-12-07T05:00:00.000Z");

    // The keyword tags per source, most first; another site has none.
    let (from, to) = ("2026-12-07T00:00:00.000Z", "2026-12-08T00:00:00.000Z");
    let tags = store.speech(move |r| r.transcript_tags(from, to, None));
    let tags: Vec<(String, Option<String>, u64)> = tags
        .into_iter()
        .map(|t| (t.tag, t.source, t.calls))
        .collect();
    assert_eq!(
        tags,
        [
            ("price".to_owned(), None, 2),
            ("delivery".to_owned(), None, 1),
            ("warranty".to_owned(), None, 1),
        ]
    );
    assert!(
        store
            .speech(move |r| r.transcript_tags(from, to, Some("nosuch")))
            .is_empty()
    );
    let later = store.speech(|r| {
        r.transcript_tags("2026-12-08T00:00:00.000Z", "2026-12-09T00:00:00.000Z", None)
    });
    assert!(later.is_empty(), "calls of another period are not counted");

    // Training reads the labelled calls that have a done transcript.
    let set = store.speech(|r| r.training_set());
    let set: Vec<(String, bool)> = set.into_iter().map(|c| (c.call_id, c.target)).collect();
    assert_eq!(set, [("a".to_owned(), true), ("b".to_owned(), false)]);
    assert_eq!(store.speech(|r| r.labels_since(None)), 3);

    // An expired recording takes its transcript out of the search and the counts.
    store.expire(&["b"], RecordingReason::Retention);
    assert_eq!(store.found("price"), ["a"]);
    let tags = store.speech(move |r| r.transcript_tags(from, to, None));
    assert_eq!(
        tags.iter().find(|t| t.tag == "price").map(|t| t.calls),
        Some(1)
    );
}

support::backends::on_both_backends!(
    a_recording_settles_once_waits_for_its_cdr_and_expires,
    an_expired_outcome_waiting_for_its_cdr_brings_no_path_back,
    transcripts_and_scores_are_queued_read_and_announced,
    transcripts_are_searched_tagged_and_trained_on_alike,
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

/// `n` transcribed calls `n00`, `n01`, ..., every other one a buyer (tagged `price`),
/// labelled by the truth.
fn labelled_calls(store: &Store, n: i64) {
    for i in 0..n {
        let (caller, tags, label): (_, &[&str], _) = if i % 2 == 0 {
            (
                "how much is the sofa can you deliver it",
                &["price"],
                Label::Target,
            )
        } else {
            ("sorry wrong number bye", &[], Label::NotTarget)
        };
        let id = format!("n{i:02}");
        transcribed_call(store, &id, i, caller, "hello", tags, Some(label));
    }
}

/// A PostgreSQL store holding 20 [`labelled_calls`], and its URL.
fn labelled_on_postgres() -> Option<(Store, String)> {
    let store = open(Backend::Postgres)?;
    let url = store._pg.as_ref()?.url("recordings");
    labelled_calls(&store, 20);
    Some((store, url))
}

/// `calltrack --config CONFIG speech ARGS`: its exit code and stdout.
fn speech_cli(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .arg("--config")
        .arg(config)
        .arg("speech")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database: postgres://"), "{stderr}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `calltrack speech tags` and `speech train` with `store.backend = "postgres"` and no `--db`
/// read every node's transcripts and labels in PostgreSQL and store the model there.
#[test]
fn speech_tags_and_train_work_on_postgres_from_the_config() {
    let Some((store, url)) = labelled_on_postgres() else {
        return;
    };
    let config = store._dir.path().join("calltrack.toml");
    let toml = format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\npath = \"{}\"\n",
        store._dir.path().join("absent.db").display()
    );
    std::fs::write(&config, toml).unwrap();

    let day = [
        "--from",
        "2026-12-07",
        "--to",
        "2026-12-07",
        "--format",
        "json",
    ];
    let (code, out) = speech_cli(
        &config,
        &["tags"].iter().chain(&day).copied().collect::<Vec<_>>(),
    );
    assert_eq!(code, Some(0), "{out}");
    let counts: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        counts["tags"],
        serde_json::json!([{"tag": "price", "source": null, "calls": 10}])
    );

    let (code, _) = speech_cli(&config, &["train", "--format", "json"]);
    assert_eq!(code, Some(2), "20 labels, 50 needed by default");
    let (code, out) = speech_cli(
        &config,
        &["train", "--min-labels", "10", "--format", "json"],
    );
    assert_eq!(code, Some(0), "{out}");
    let trained: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trained["kept"], true);
    assert_eq!(trained["metrics"]["labels"], 20);
    let (id, model) = store.speech(|r| r.current_model()).unwrap();
    assert_eq!(trained["model_id"], id);
    assert_eq!(model.metrics.targets, 10);
}

/// Node `node`'s nightly training on `store`'s PostgreSQL, at 03:00 UTC, from 10 labels.
fn training_of(node: &str, sender: StoreSender, reader: BackendReader) -> ScorerTraining {
    let toml = format!("[node]\nid = \"{node}\"\n[speech]\ntrain_hour_utc = 3\nmin_labels = 10\n");
    let config = calltrack::config::Config::from_toml_str(&toml).unwrap();
    ScorerTraining {
        config: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(config)),
        store: sender,
        reader,
    }
}

/// Two nodes on one PostgreSQL: the nightly training runs on one of them per night (both
/// look at the same moment; one claims the night), and each node's speech service picks up
/// the model the other trained (`model_watch::refresh`, as on every speech pass).
#[test]
fn one_node_trains_per_night_and_every_node_scores_with_the_newest_model() {
    let Some((store, url)) = labelled_on_postgres() else {
        return;
    };
    let outbox = Outbox::new(vec![Subscription::everything(HOOK)]);
    let (b_sender, b_handle) = support::pg_store::writer(&url, "node-b", outbox);
    let reader = || BackendReader::Postgres(PgReader::new(&support::pg_store::config(&url)));
    let a = training_of(NODE, store.sender.clone(), reader());
    let b = training_of("node-b", b_sender, reader());
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let night = |day: &str| format!("{day}T03:05:00Z").parse::<Timestamp>().unwrap();
    let (on_a, on_b) = runtime.block_on(async {
        tokio::join!(
            a.pass(3, night("2026-12-08")),
            b.pass(3, night("2026-12-08"))
        )
    });
    let (on_a, on_b) = (on_a.unwrap(), on_b.unwrap());
    assert_eq!(
        [on_a, on_b].iter().filter(|r| r.is_some()).count(),
        1,
        "one node trains: {on_a:?} {on_b:?}"
    );
    let mut client = support::pg_store::client(&url);
    let models: i64 = client
        .query_one("SELECT count(*) FROM scoring_models", &[])
        .unwrap()
        .get(0);
    assert_eq!(models, 1, "one model for the night");
    let first = store.speech(|r| r.current_model_id()).unwrap();

    // Each node's speech service picks the shared model up, whichever node trained it.
    let (mut on_node_a, mut on_node_b) = (None, None);
    runtime.block_on(async {
        assert!(
            model_watch::refresh(&a.reader, &mut on_node_a)
                .await
                .unwrap()
        );
        assert!(
            model_watch::refresh(&b.reader, &mut on_node_b)
                .await
                .unwrap()
        );
        assert!(
            !model_watch::refresh(&b.reader, &mut on_node_b)
                .await
                .unwrap()
        );
    });
    assert_eq!(on_node_a.as_ref().map(|m| m.0), Some(first));
    assert_eq!(on_node_b.as_ref().map(|m| m.0), Some(first));

    // A label set later; the next night node B trains first, and node A scores with it.
    store.label(
        "n00",
        Label::Target,
        "2026-12-08T12:00:00Z".parse().unwrap(),
    );
    let second_night = night("2026-12-09");
    let by_b = runtime.block_on(b.pass(3, second_night)).unwrap();
    assert!(by_b.is_some(), "node B trains the second night");
    let by_a = runtime.block_on(a.pass(3, second_night)).unwrap();
    assert_eq!(
        by_a, None,
        "node A sees the night's model in the shared table"
    );
    let second = store.speech(|r| r.current_model_id()).unwrap();
    assert!(second > first);
    runtime.block_on(async {
        assert!(
            model_watch::refresh(&a.reader, &mut on_node_a)
                .await
                .unwrap()
        );
    });
    assert_eq!(on_node_a.map(|m| m.0), Some(second));
    drop((a, b));
    b_handle.shutdown().unwrap();
}

/// Upgrading to schema version 9 makes the transcripts stored before it searchable (the
/// generated column is filled for every row), and the search index is there.
#[test]
fn the_upgrade_to_version_9_makes_stored_transcripts_searchable() {
    let Some(store) = open(Backend::Postgres) else {
        return;
    };
    let url = store._pg.as_ref().unwrap().url("recordings");
    let mut client = support::pg_store::client(&url);
    // Back to version 8, as a database of the previous release is (versions 9 and 10 undone).
    client
        .batch_execute(
            "ALTER TABLE nodes DROP COLUMN http_url; \
             DROP TABLE scoring_claims; ALTER TABLE transcripts DROP COLUMN search; \
             DROP TEXT SEARCH CONFIGURATION calltrack_search; \
             DELETE FROM schema_migrations WHERE version >= 9",
        )
        .unwrap();
    transcribed_call(
        &store,
        "old",
        0,
        "the tyres were delivered",
        "good",
        &[],
        None,
    );
    assert_eq!(
        calltrack::store::pg::schema::migrate(&mut client).unwrap(),
        8
    );
    assert_eq!(store.found("tyre*"), ["old"]);
    let indexed: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'transcripts_search'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(indexed, 1);
}
