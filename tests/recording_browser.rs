//! The recording player in a real browser: headless Chromium signs in to the dashboard with
//! the admin token against the in-process server on a seeded database that holds a recorded
//! call (a real WAV on disk) and one whose recording was skipped (SRTP). The call journal
//! shows one `<audio>` player, for the recorded call only, whose source the page can fetch
//! (a Range request answers 206 with the file's first bytes) and the browser can decode (its
//! duration is the file's); the skipped call says why it has none. A viewer gets no player
//! (the file is for admins, 403). The recorded call's detail shows its transcript by turns,
//! with its keyword tags; a call without a recording says it has none.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser_support;
mod http_support;

use std::path::Path;

use browser_support::{Browser, screenshot_dir, skip_without_chromium};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::call::recording::{RecordingReason, RecordingStatus};
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer};
use http_support::{TestServer, config_toml};
use serde_json::json;

const ADMIN: &str = "browser-admin-token-0123456789";
const VIEWER: &str = "browser-viewer-token-0123456789";
const PERIOD: &str = "from=2026-03-01&to=2026-03-07&site=demo";
/// The WAV's length: two seconds of 8 kHz stereo.
const FRAMES: u32 = 16_000;

fn answered(id: &str, at: &str) -> CallDetailRecord {
    let started: jiff::Timestamp = at.parse().unwrap();
    let live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier.example"),
        tracking_number: "74950000100".into(),
        caller: "79160000001".into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: started,
        answered_at: Some(started + jiff::SignedDuration::from_secs(5)),
        attribution: calltrack::call::attribution::Attribution {
            site: "demo".into(),
            ..Default::default()
        },
        first_time_caller: true,
        scheme: None,
        answered_step: Some(1),
        answered_target: None,
    };
    let ended = started + jiff::SignedDuration::from_secs(65);
    CallDetailRecord::from_live(&live, ended, Disposition::Answered, 200, HangupSide::Caller)
}

/// A two-second stereo tone, caller left, callee right.
fn write_wav(path: &Path) -> u64 {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..FRAMES {
        let s = ((f64::from(i) * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16;
        wav.write_sample(s).unwrap();
        wav.write_sample(s / 2).unwrap();
    }
    wav.finalize().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn start_server(dir: &Path) -> TestServer {
    let db = dir.join("calltrack.db");
    let wav = dir.join("c-rec.wav");
    let bytes = write_wav(&wav);
    let mut recorded = answered("c-rec", "2026-03-02T09:00:00Z");
    recorded.recording_status = Some(RecordingStatus::Recorded);
    recorded.recording_path = Some(wav.to_string_lossy().into_owned());
    recorded.recording_bytes = Some(bytes);
    recorded.recording_secs = Some(2);
    let mut skipped = answered("c-srtp", "2026-03-03T09:00:00Z");
    skipped.recording_status = Some(RecordingStatus::Skipped);
    skipped.recording_reason = Some(RecordingReason::Srtp);
    let plain = answered("c-plain", "2026-03-04T09:00:00Z");
    let mut gone = recorded.clone();
    gone.id = "c-gone".into();
    gone.call_id = "c-gone@carrier.example".into();
    gone.started_at = "2026-03-05T09:00:00Z".parse().unwrap();
    gone.recording_path = Some(dir.join("c-gone.wav").to_string_lossy().into_owned());
    let (sender, writer) = spawn_writer(&db, WriterOptions::default()).expect("seed writer");
    for cdr in [recorded, skipped, plain, gone] {
        assert!(sender.try_send(StoreCommand::CallEnded(cdr)).is_ok());
    }
    drop(sender);
    writer.shutdown().expect("seed flushed");
    seed_transcript(&db);
    let toml = config_toml("74950000100", 1000).replace(
        "[http]\n",
        &format!("[http]\nadmin_token = \"{ADMIN}\"\nviewer_tokens = [\"{VIEWER}\"]\n"),
    );
    TestServer::start(&format!("{toml}\n[store]\npath = \"{}\"\n", db.display()))
}

/// A transcript of the recorded call, as the speech service stores it.
fn seed_transcript(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let words = json!([
        {"channel": "caller", "word": "how", "start_ms": 1000, "end_ms": 1200},
        {"channel": "caller", "word": "much", "start_ms": 1200, "end_ms": 1400},
        {"channel": "caller", "word": "is", "start_ms": 1400, "end_ms": 1500},
        {"channel": "caller", "word": "delivery", "start_ms": 1500, "end_ms": 2000},
        {"channel": "agent", "word": "five", "start_ms": 4000, "end_ms": 4300},
        {"channel": "agent", "word": "hundred", "start_ms": 4300, "end_ms": 4800},
    ]);
    conn.execute(
        "INSERT INTO transcripts (call_id, status, engine, caller, agent, words, facts, tags, \
         attempts, created_at) VALUES ('c-rec', 'done', 'http', 'how much is delivery', \
         'five hundred', ?1, ?2, '[\"price\"]', 1, '2026-03-02T09:02:00Z')",
        rusqlite::params![
            words.to_string(),
            json!({"caller_talk_ms": 1000, "agent_talk_ms": 800, "silence_ms": 61000,
                   "overlap_ms": 0, "interruptions": 0, "agent_first_speech_ms": 4000,
                   "caller_talk_ratio": 0.55, "caller_phones": [], "caller_emails": []})
            .to_string()
        ],
    )
    .unwrap();
}

fn open(browser: &mut Browser, query: &str) {
    browser.eval(&format!(
        "window.location.hash = {}; true",
        json!(format!("#/journal?{query}"))
    ));
    browser.wait_for("document.body.dataset.ready === 'journal'", "the journal");
    assert_eq!(browser.eval("document.body.dataset.error || ''"), "");
}

#[test]
fn the_journal_plays_a_recorded_call_and_says_why_another_has_none() {
    if skip_without_chromium("recording_browser") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let on_disk = std::fs::read(dir.path().join("c-rec.wav")).unwrap();
    let mut browser = Browser::start();
    browser.viewport(1280, 900, false);
    browser.navigate(&server.url(&format!("/dashboard#/journal?{PERIOD}")));
    browser.wait_for("document.body.dataset.ready === 'sign-in'", "sign-in");
    browser.eval(&format!(
        "document.getElementById('token').value = {}; document.getElementById('sign-in').requestSubmit(); true",
        json!(ADMIN)
    ));
    browser.wait_for("document.body.dataset.ready !== 'sign-in'", "signed in");
    open(&mut browser, PERIOD);

    let players = browser.eval(
        "Array.from(document.querySelectorAll('tr[data-call] audio')).map(a => [a.closest('tr').dataset.call, a.getAttribute('src')])",
    );
    assert_eq!(
        players,
        json!([
            ["c-gone", "/v1/calls/c-gone/recording"],
            ["c-rec", "/v1/calls/c-rec/recording"]
        ]),
        "a player for each call recorded"
    );
    // A recorded call whose file is gone: its player, once asked to load, says why.
    browser.eval("document.querySelector('tr[data-call=\"c-gone\"] audio').load(); true");
    browser.wait_for(
        "document.querySelector('tr[data-call=\"c-gone\"] .recording-error') !== null",
        "the failed player's reason",
    );
    assert_eq!(
        browser.text("tr[data-call='c-gone'] .recording-cell"),
        "call c-gone has no recording: missing"
    );
    let srtp = browser.text("tr[data-call='c-srtp'] .recording-cell");
    assert_eq!(srtp, "encrypted (SRTP)");
    assert_eq!(browser.text("tr[data-call='c-plain'] .recording-cell"), "");

    // The page fetches the player's source: a range, with the session cookie.
    let fetched = browser.eval(
        "fetch(document.querySelector('audio').src, { headers: { Range: 'bytes=0-11' } })
           .then(async r => [r.status, r.headers.get('content-type'),
                             Array.from(new Uint8Array(await r.arrayBuffer()))])",
    );
    assert_eq!(fetched, json!([206, "audio/wav", on_disk[..12].to_vec()]));

    // The browser itself loads and decodes it.
    browser.eval("const a = document.querySelector('audio'); a.preload = 'auto'; a.load(); true");
    browser.wait_for(
        "document.querySelector('audio').readyState >= 1",
        "the recording's metadata",
    );
    let duration = browser.eval("document.querySelector('audio').duration");
    let secs = duration.as_f64().unwrap();
    assert!((secs - 2.0).abs() < 0.01, "duration {secs}");
    browser.screenshot(&screenshot_dir().join("journal-recording.png"));

    // The call's detail has the player too, and the transcript by turns with its tags.
    open(&mut browser, &format!("{PERIOD}&call=c-rec"));
    let detail = browser.eval("document.querySelector('#recording audio').getAttribute('src')");
    assert_eq!(detail, "/v1/calls/c-rec/recording");
    browser.wait_for(
        "document.querySelectorAll('#transcript .turn').length === 2",
        "the transcript's turns",
    );
    assert_eq!(
        browser.text("#transcript .turn.caller"),
        "Caller 0:01 how much is delivery"
    );
    assert_eq!(
        browser.text("#transcript .turn.agent"),
        "Agent 0:04 five hundred"
    );
    assert_eq!(browser.text("#transcript .tag"), "price");

    // The call scorer's label: a toggle that saves at once, kept with who set it.
    assert!(
        browser
            .text("#label-status")
            .starts_with("Label: none · scorer: not scored")
    );
    browser
        .eval("document.querySelector('#label-box button[data-label=\"target\"]').click(); true");
    browser.wait_for(
        "document.querySelector('#label-status').textContent.startsWith('Label: target')",
        "the label saved",
    );
    assert!(browser.text("#label-status").contains("admin:cookie"));
    let stored = browser.eval("fetch('/v1/calls/c-rec').then(r => r.json()).then(c => c.label)");
    assert_eq!(stored, "target");
    browser.screenshot(&screenshot_dir().join("journal-label.png"));
    open(&mut browser, &format!("{PERIOD}&call=c-plain"));
    browser.wait_for(
        "document.querySelector('#transcript').textContent.startsWith('No transcript')",
        "no transcript for a call without a recording",
    );

    // A viewer sees that the call is recorded, gets no player, and cannot fetch the file.
    browser.eval("document.getElementById('sign-out').click(); true");
    browser.wait_for("document.body.dataset.ready === 'sign-in'", "signed out");
    browser.eval(&format!(
        "document.getElementById('token').value = {}; document.getElementById('sign-in').requestSubmit(); true",
        json!(VIEWER)
    ));
    browser.wait_for(
        "document.body.dataset.ready !== 'sign-in'",
        "viewer signed in",
    );
    open(&mut browser, &format!("{PERIOD}&call=c-rec"));
    assert!(browser.text("#label-status").starts_with("Label: target"));
    assert_eq!(
        browser.eval("document.querySelectorAll('#label-box button').length"),
        0,
        "viewers see the label, admins set it"
    );
    open(&mut browser, PERIOD);
    assert_eq!(browser.eval("document.querySelectorAll('audio').length"), 0);
    assert_eq!(
        browser.text("tr[data-call='c-rec'] .recording-cell"),
        "recorded (admins listen)"
    );
    let status = browser.eval("fetch('/v1/calls/c-rec/recording').then(r => r.status)");
    assert_eq!(status, 403, "recordings are for admins");
}
