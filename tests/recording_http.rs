//! `GET /v1/calls/{id}/recording` over real HTTP against the in-process server: a WAV whole
//! and by range (first bytes, an open end, a suffix), 416 with the file's length past the
//! end, HEAD, the roles (no token 401, a viewer 403), and the JSON 404 for a call without a
//! file (pending, skipped with its reason, a recorded call whose file is missing, an unknown
//! call). With the store on PostgreSQL (when installed; fails under `CI=true` without it), a
//! node serves its own recording and fetches any other from the node holding it (409 naming
//! that node when it published no `[node] http_url`, 502 when it does not answer), and any
//! node's API finds any node's transcripts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;
mod support;

use std::path::Path;

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::recording::{RecordingReason, RecordingSettled, RecordingStatus};
use calltrack::call::transcript::Transcript;
use calltrack::store::outbox::Outbox;
use calltrack::store::pg::nodes;
use calltrack::store::transcripts::SpeechOutcome;
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer};
use http_support::{TestServer, agent, config_toml};
use serde_json::Value;
use support::pg_server::PgServer;

const ADMIN: &str = "recording-http-admin-token-0123456789";
const VIEWER: &str = "recording-http-viewer-token-0123456789";

fn call(id: &str, status: RecordingStatus) -> CallDetailRecord {
    let started: jiff::Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
    let live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier.example"),
        tracking_number: "74950000001".into(),
        caller: "79160000001".into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: started,
        answered_at: Some(started),
        attribution: Default::default(),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let ended = started + jiff::SignedDuration::from_secs(30);
    let mut cdr =
        CallDetailRecord::from_live(&live, ended, Disposition::Answered, 200, HangupSide::Caller);
    cdr.recording_status = Some(status);
    cdr
}

/// A 1 s stereo WAV whose samples count up, so every byte range is distinct.
fn wav(path: &Path) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..16_000i32 {
        writer.write_sample((i % 30_000) as i16).unwrap();
    }
    writer.finalize().unwrap();
    std::fs::read(path).unwrap()
}

fn server(dir: &Path) -> (TestServer, Vec<u8>) {
    let db = dir.join("calltrack.db");
    let file = dir.join("rec.wav");
    let bytes = wav(&file);
    let mut recorded = call("rec", RecordingStatus::Recorded);
    recorded.recording_path = Some(file.to_string_lossy().into_owned());
    recorded.recording_bytes = Some(bytes.len() as u64);
    recorded.recording_secs = Some(1);
    let mut gone = recorded.clone();
    gone.id = "gone".into();
    gone.call_id = "gone@carrier.example".into();
    gone.recording_path = Some(dir.join("gone.wav").to_string_lossy().into_owned());
    let mut srtp = call("srtp", RecordingStatus::Skipped);
    srtp.recording_reason = Some(RecordingReason::Srtp);
    let pending = call("pending", RecordingStatus::Pending);
    let (sender, writer) = spawn_writer(&db, WriterOptions::default()).unwrap();
    for cdr in [recorded, gone, srtp, pending] {
        assert!(sender.try_send(StoreCommand::CallEnded(cdr)).is_ok());
    }
    drop(sender);
    writer.shutdown().unwrap();
    let toml = config_toml("74950000100", 1000).replace(
        "[http]\n",
        &format!("[http]\nadmin_token = \"{ADMIN}\"\nviewer_tokens = [\"{VIEWER}\"]\n"),
    );
    let toml = format!("{toml}\n[store]\npath = \"{}\"\n", db.display());
    (TestServer::start(&toml), bytes)
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    content_range: Option<String>,
    accept_ranges: Option<String>,
    length: Option<String>,
    body: Vec<u8>,
}

fn fetch(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    range: Option<&str>,
) -> Answer {
    let agent = agent();
    let url = server.url(path);
    let mut request = match method {
        "HEAD" => agent.head(&url),
        _ => agent.get(&url),
    };
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let mut response = request.call().unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, content_range, accept_ranges, length) = (
        header("content-type"),
        header("content-range"),
        header("accept-ranges"),
        header("content-length"),
    );
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().unwrap();
    Answer {
        status,
        content_type,
        content_range,
        accept_ranges,
        length,
        body,
    }
}

/// Call `id` transcribed: the caller asks about the warranty of a sofa.
fn transcribed(id: &str) -> StoreCommand {
    let transcript = Transcript {
        caller: "does the warranty cover the sofas".into(),
        agent: "yes, two years".into(),
        ..Transcript::default()
    };
    StoreCommand::Transcribed {
        call_id: id.into(),
        outcome: SpeechOutcome::Done {
            transcript: Box::new(transcript),
            engine: "http",
            score: None,
        },
        at: "2026-03-02T10:00:00Z".parse().unwrap(),
        done: tokio::sync::oneshot::channel().0,
    }
}

fn error(answer: &Answer) -> Value {
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    serde_json::from_slice(&answer.body).unwrap()
}

#[test]
fn a_recording_is_served_whole_and_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let (server, file) = server(dir.path());
    let len = file.len();
    let url = "/v1/calls/rec/recording";

    let whole = fetch(&server, "GET", url, Some(ADMIN), None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(whole.accept_ranges.as_deref(), Some("bytes"));
    assert_eq!(whole.body, file);

    let head = fetch(&server, "GET", url, Some(ADMIN), Some("bytes=0-43"));
    assert_eq!(head.status, 206);
    assert_eq!(head.content_range, Some(format!("bytes 0-43/{len}")));
    assert_eq!(head.body, &file[..44], "the WAV header");
    let open_end = fetch(&server, "GET", url, Some(ADMIN), Some("bytes=20000-"));
    assert_eq!(open_end.status, 206);
    assert_eq!(open_end.body, &file[20_000..]);
    let suffix = fetch(&server, "GET", url, Some(ADMIN), Some("bytes=-100"));
    assert_eq!(suffix.status, 206);
    assert_eq!(suffix.body, &file[len - 100..]);

    let past = fetch(
        &server,
        "GET",
        url,
        Some(ADMIN),
        Some(&format!("bytes={len}-")),
    );
    assert_eq!(past.status, 416);
    assert_eq!(past.content_range, Some(format!("bytes */{len}")));
    assert_eq!(error(&past)["error"]["code"], "range_not_satisfiable");

    let headers_only = fetch(&server, "HEAD", url, Some(ADMIN), None);
    assert_eq!(headers_only.status, 200);
    assert_eq!(headers_only.length, Some(len.to_string()));
    assert!(headers_only.body.is_empty());
}

#[test]
fn only_admins_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = server(dir.path());
    let url = "/v1/calls/rec/recording";
    assert_eq!(fetch(&server, "GET", url, None, None).status, 401);
    assert_eq!(fetch(&server, "GET", url, Some(VIEWER), None).status, 403);
    let calls = fetch(&server, "GET", "/v1/calls/rec", Some(VIEWER), None);
    let view: Value = serde_json::from_slice(&calls.body).unwrap();
    assert_eq!(view["recording_url"], "/v1/calls/rec/recording");
    assert_eq!(view["recording"]["status"], "recorded");
    assert_eq!(view["recording"]["format"], "wav");
}

#[test]
fn a_call_without_a_file_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = server(dir.path());
    for (id, status, reason) in [
        ("srtp", "skipped", Value::from("srtp")),
        ("pending", "pending", Value::Null),
        ("gone", "missing", Value::Null),
    ] {
        let answer = fetch(
            &server,
            "GET",
            &format!("/v1/calls/{id}/recording"),
            Some(ADMIN),
            None,
        );
        assert_eq!(answer.status, 404, "{id}");
        let body = error(&answer);
        assert_eq!(body["error"]["code"], "no_recording", "{id}");
        assert_eq!(body["error"]["recording_status"], status, "{id}");
        assert_eq!(body["error"]["recording_reason"], reason, "{id}");
    }
    let unknown = fetch(
        &server,
        "GET",
        "/v1/calls/nobody/recording",
        Some(ADMIN),
        None,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(error(&unknown)["error"]["code"], "not_found");
}

/// On PostgreSQL a recording is on the disk of the node that recorded it: node-a serves its
/// own file; a call recorded on node-b is fetched from node-b once node-b published its
/// `[node] http_url` (ranges kept), answered 409 naming node-b before that (not 404), and 502
/// naming it while node-b does not answer. A request one node sent is never sent on.
#[test]
fn on_postgres_a_recording_of_another_node_is_fetched_from_that_node() {
    let Some(pg) = PgServer::start("recording_http") else {
        return;
    };
    let url = pg.create_db("recordings");
    let dir = tempfile::tempdir().unwrap();
    let their_dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.wav");
    let bytes = wav(&file);
    let mut mine = call("mine", RecordingStatus::Recorded);
    mine.recording_path = Some(file.to_string_lossy().into_owned());
    mine.recording_bytes = Some(bytes.len() as u64);
    mine.recording_secs = Some(1);
    let mut theirs = mine.clone();
    theirs.id = "theirs".into();
    theirs.call_id = "theirs@carrier.example".into();
    let their_file = their_dir.path().join("theirs.wav");
    let their_bytes = wav(&their_file);
    theirs.recording_path = Some(their_file.to_string_lossy().into_owned());
    // node-a's call settles after its CDR, as a recording does, which queues it for speech.
    let settled = StoreCommand::RecordingSettled {
        id: "mine".into(),
        settled: RecordingSettled::Recorded {
            path: file.to_string_lossy().into_owned(),
            bytes: bytes.len() as u64,
            secs: 1,
        },
        at: "2026-03-02T09:00:31Z".parse().unwrap(),
    };
    let mut pending = mine;
    pending.recording_status = Some(RecordingStatus::Pending);
    pending.recording_path = None;
    for (node, cdr, then) in [("node-a", pending, Some(settled)), ("node-b", theirs, None)] {
        let (sender, handle) = support::pg_store::writer(&url, node, Outbox::new(Vec::new()));
        sender.try_send(StoreCommand::CallEnded(cdr)).unwrap();
        if let Some(command) = then {
            sender.try_send(command).unwrap();
        }
        drop(sender);
        assert_eq!(handle.shutdown().unwrap().cdrs_written, 1);
    }
    let (sender, handle) = support::pg_store::writer(&url, "node-a", Outbox::new(Vec::new()));
    sender.try_send(transcribed("mine")).unwrap();
    drop(sender);
    handle.shutdown().unwrap();
    let node = |id: &'static str, dir: &Path| {
        let toml = config_toml("74950000100", 1000)
            .replace("[http]\n", &format!("[http]\nadmin_token = \"{ADMIN}\"\n"));
        let toml = format!(
            "{toml}\n[store]\npath = \"{}\"\nbackend = \"postgres\"\nurl = \"{url}\"\n\n[node]\nid = \"{id}\"\n",
            dir.join("calltrack.db").display()
        );
        let writer_url = url.clone();
        TestServer::start_with(&toml, move |_| {
            support::pg_store::writer(&writer_url, id, Outbox::new(Vec::new()))
        })
    };
    let server = node("node-a", dir.path());

    let own = fetch(
        &server,
        "GET",
        "/v1/calls/mine/recording",
        Some(ADMIN),
        None,
    );
    assert_eq!(own.status, 200);
    assert_eq!(own.body, bytes);
    let other = fetch(
        &server,
        "GET",
        "/v1/calls/theirs/recording",
        Some(ADMIN),
        None,
    );
    assert_eq!(other.status, 409);
    let body = error(&other);
    assert_eq!(body["error"]["code"], "recording_on_other_node");
    assert_eq!(body["error"]["node_id"], "node-b");

    let node_b = node("node-b", their_dir.path());
    let publish = |base: &str| {
        let mut client = support::pg_store::client(&url);
        nodes::beat(&mut client, "node-b", 0, Some(base)).unwrap();
    };
    publish(&node_b.url("/"));
    let whole = fetch(
        &server,
        "GET",
        "/v1/calls/theirs/recording",
        Some(ADMIN),
        None,
    );
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, their_bytes);
    assert_eq!(whole.content_type.as_deref(), Some("audio/wav"));
    let part = fetch(
        &server,
        "GET",
        "/v1/calls/theirs/recording",
        Some(ADMIN),
        Some("bytes=100-199"),
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, their_bytes[100..200]);
    let total = their_bytes.len();
    assert_eq!(part.content_range, Some(format!("bytes 100-199/{total}")));
    let hop = agent()
        .get(&server.url("/v1/calls/theirs/recording"))
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .header("X-Calltrack-Forwarded-By", "node-c")
        .call()
        .unwrap();
    assert_eq!(hop.status(), 409, "a forwarded request is not sent on");
    // node-a's transcript is found through node-b's API: search reads PostgreSQL.
    let found = agent()
        .get(&node_b.url("/v1/transcripts?q=Warranty%20sofa*"))
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found["calls"][0]["call_id"], "mine", "{found}");
    assert_eq!(found["calls"].as_array().unwrap().len(), 1, "{found}");
    // node-b's address answers nothing (no listener on port 1).
    publish("http://127.0.0.1:1");
    let gone = fetch(
        &server,
        "GET",
        "/v1/calls/theirs/recording",
        Some(ADMIN),
        None,
    );
    assert_eq!(
        gone.status, 502,
        "node-b stopped: the file is not reachable"
    );
    let body = error(&gone);
    assert_eq!(body["error"]["code"], "recording_node_unreachable");
    assert_eq!(body["error"]["node_id"], "node-b");
}
