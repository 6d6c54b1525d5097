//! A recording of real speech through the real binary (issue 17's audio test): `espeak-ng`
//! speaks a sentence, `sox` makes it 8 kHz µ-law, sipp's `rtp_stream` plays it as the caller
//! through calltrack's relay (`record = true`), and the callee (the test) echoes every packet
//! back, as sipp's `-rtp_echo` would, keeping what reached it. The callee must receive the
//! speech byte for byte, and each channel of the recorded WAV must match it: a normalised
//! cross-correlation above 0.99 at the best alignment (caller left, the echo right).
//!
//! Needs `sipp`, `espeak-ng` and `sox`; without one each test says so loudly and skips (under
//! `CI=true` that fails: `.ci/run` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use calltrack::media::g711;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";
const SENTENCE: &str = "Hello, I saw your advert for winter tyres. Do you have them in stock?";
const RTP_HEADER: usize = 12;
/// One 20-ms G.711 packet: 160 samples of a byte each.
const PACKET: usize = 160;
/// µ-law's zero: what sipp pads a short last packet with.
const ULAW_SILENCE: u8 = 0xFF;

/// True (after a loud message) when a tool is missing; under `CI` that is a failure.
fn skip() -> bool {
    if support::skip_without_sipp("the recorded-speech test") {
        return true;
    }
    for tool in ["espeak-ng", "sox"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have {tool}: .ci/run installs it"
            );
            eprintln!(
                "\n*** SKIPPED: {tool} not found (apt-get install {tool}); the recorded-speech test did not run ***\n"
            );
            return true;
        }
    }
    false
}

/// The sentence as 8 kHz mono µ-law, the way a carrier would carry it.
fn speech(dir: &Path) -> Vec<u8> {
    let wav = dir.join("speech.wav");
    let ulaw = dir.join("speech.ulaw");
    let spoke = Command::new("espeak-ng")
        .args(["-v", "en", "-s", "150", "-w"])
        .arg(&wav)
        .arg(SENTENCE)
        .status()
        .unwrap();
    assert!(spoke.success(), "espeak-ng failed");
    let converted = Command::new("sox")
        .arg("-R")
        .arg(&wav)
        .args(["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&ulaw)
        .status()
        .unwrap();
    assert!(converted.success(), "sox failed");
    let mut bytes = std::fs::read(&ulaw).unwrap();
    assert!(bytes.len() > 8000, "at least a second of speech");
    // sipp's rtp_stream sends whole 20-ms packets and pads the last one itself; pad it
    // here with µ-law silence so what was said is exactly what is sent.
    bytes.resize(bytes.len().next_multiple_of(PACKET), ULAW_SILENCE);
    bytes
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
fn free_pool() -> u16 {
    // The tests of this file run at once in one process: each call starts half the span
    // away from the last (the process id alone gave both the same range, which both found
    // free before either bound it).
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let seed = std::process::id() as usize + call * 2_450;
    for attempt in 0..500usize {
        let base = 24_000 + ((seed.wrapping_mul(7919) + attempt * 106) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

/// The callee's media: echoes every RTP packet to where it came from and keeps its payload
/// in sequence order, until `stop`.
fn echo(socket: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut packets: Vec<(u16, Vec<u8>)> = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if len > RTP_HEADER {
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                packets.push((seq, buf[RTP_HEADER..len].to_vec()));
                socket.send_to(&buf[..len], from).unwrap();
            }
        }
        packets.sort_by_key(|(seq, _)| *seq);
        packets.into_iter().flat_map(|(_, p)| p).collect()
    })
}

/// Where the first sound is: the first sample louder than about -30 dBov.
fn onset(samples: &[i16]) -> usize {
    samples
        .iter()
        .position(|s| s.unsigned_abs() > 1_000)
        .expect("something is heard")
}

/// The best normalised cross-correlation of `reference` within `recorded`, over the
/// alignments within `SEARCH` samples of the one that lines up the two onsets and place all
/// of `reference` inside the recording.
fn best_correlation(recorded: &[i16], reference: &[i16]) -> f64 {
    /// 50 ms either side: the onsets may differ by a packet or two of near-silence.
    const SEARCH: usize = 400;
    let energy = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    let reference_energy = energy(reference);
    let Some(last) = recorded.len().checked_sub(reference.len()) else {
        panic!(
            "the recording ({} samples) is shorter than what was said ({})",
            recorded.len(),
            reference.len()
        );
    };
    let guess = onset(recorded).saturating_sub(onset(reference));
    (guess.saturating_sub(SEARCH)..=(guess + SEARCH).min(last))
        .map(|offset| {
            let window = &recorded[offset..offset + reference.len()];
            let dot: f64 = window
                .iter()
                .zip(reference)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let window_energy = energy(window);
            if window_energy == 0.0 {
                0.0
            } else {
                dot / (window_energy * reference_energy).sqrt()
            }
        })
        .fold(0.0, f64::max)
}

fn channel(samples: &[i16], right: bool) -> Vec<i16> {
    samples
        .iter()
        .skip(usize::from(right))
        .step_by(2)
        .copied()
        .collect()
}

/// The recorded call's WAV path once the CDR says it is written (at most 15 s).
fn recorded_wav(ct: &Calltrack) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let conn = calltrack::store::open_read_only(&ct.db_path()).unwrap();
        let found: Option<(String, Option<String>)> = conn
            .query_row(
                "SELECT recording_status, recording_path FROM cdr LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        if let Some((status, path)) = &found {
            if status == "recorded" {
                return path.clone().expect("a recorded CDR names its file");
            }
            assert_eq!(status, "pending", "the recording failed:\n{}", ct.log());
        }
        assert!(
            Instant::now() < deadline,
            "no recorded CDR: {found:?}\nlog:\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// calltrack recording the demo site's calls through a one-stream relay pool, with `edit`
/// applied to its config.
fn recording_calltrack(edit: impl FnOnce(&mut String)) -> Calltrack {
    let pool = free_pool();
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace("id = \"demo\"\n", "id = \"demo\"\nrecord = true\n");
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n\
             recordings_dir = \"recordings\"\n",
            pool + 3
        ));
        edit(cfg);
    })
}

/// One call: sipp's caller says `said` through the relay to the echoing callee; returns what
/// the callee heard.
fn speak(ct: &Calltrack, said: &[u8]) -> Vec<u8> {
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let uas = Sipp::uas("uas_rtp.xml", Leg::Udp, ct.pbx_port)
        .key("media_b", &callee.local_addr().unwrap().port().to_string())
        .spawn();
    let heard = echo(callee, Arc::clone(&stop));
    // The speech lasts len / 8000 s; the caller talks a second longer.
    let talk_ms = said.len() as u64 / 8 + 1_000;
    let uac = Sipp::uac("uac_rtp_stream.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .file("speech.ulaw", said)
        .pause_ms(talk_ms)
        .spawn();
    uac.wait_ok();
    uas.wait_ok();
    stop.store(true, Ordering::Relaxed);
    heard.join().unwrap()
}

#[test]
fn spoken_words_through_the_relay_are_recorded_as_said() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let work = tempfile::tempdir().unwrap();
    let said = speech(work.path());
    let ct = recording_calltrack(|_| {});
    let heard = speak(&ct, &said);

    // The relay changed nothing on the way to the callee.
    assert_eq!(
        heard.len(),
        said.len(),
        "every packet of the speech arrived"
    );
    assert!(heard == said, "the callee heard the speech byte for byte");

    // The recording: caller left, the echo of the same words right.
    let path = recorded_wav(&ct);
    let mut wav = hound::WavReader::open(&path).unwrap();
    assert_eq!((wav.spec().channels, wav.spec().sample_rate), (2, 8000));
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let reference: Vec<i16> = said.iter().copied().map(g711::ulaw).collect();
    for (side, right) in [("caller", false), ("callee", true)] {
        let correlation = best_correlation(&channel(&samples, right), &reference);
        assert!(
            correlation > 0.99,
            "the {side}'s channel correlates {correlation:.4} with what was said"
        );
    }
    ct.stop();
}

/// What the stand-in transcription server saw.
#[derive(Debug, Default)]
struct Seen {
    /// `(file name, WAV bytes)` of each request it answered with a transcript.
    files: Vec<(String, Vec<u8>)>,
    /// Requests refused with 503 (the first one, to prove the retry).
    refused: usize,
}

/// A stand-in for an OpenAI-compatible `POST /v1/audio/transcriptions` server on loopback:
/// refuses the first request with 503, then answers each channel with a fixed text that
/// holds a card number. Returns its URL.
fn transcription_server(seen: Arc<std::sync::Mutex<Seen>>) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://{}/v1/audio/transcriptions",
        listener.local_addr().unwrap()
    );
    let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
        let seen = Arc::clone(&seen);
        async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            assert_eq!(auth, Some("Bearer test-key"), "the key is sent");
            let text = String::from_utf8_lossy(&body).into_owned();
            assert!(
                text.contains("name=\"model\"\r\n\r\nwhisper-1"),
                "model field"
            );
            assert!(
                text.contains("timestamp_granularities[]"),
                "word times asked for"
            );
            let mut seen = seen.lock().unwrap();
            if seen.refused == 0 {
                seen.refused += 1;
                return (StatusCode::SERVICE_UNAVAILABLE, "busy".to_owned());
            }
            let caller = text.contains("filename=\"caller.wav\"");
            let start = body.windows(4).position(|w| w == b"RIFF").expect("a WAV");
            let name = if caller { "caller" } else { "agent" };
            seen.files.push((name.to_owned(), body[start..].to_vec()));
            let answer = if caller {
                serde_json::json!({"text": "Hello, my card is 4111 1111 1111 1111, winter tyres please",
                    "language": "english",
                    "words": [{"word": "Hello,", "start": 0.2, "end": 0.5},
                              {"word": "4111", "start": 1.0, "end": 1.2},
                              {"word": "1111", "start": 1.2, "end": 1.4},
                              {"word": "1111", "start": 1.4, "end": 1.6},
                              {"word": "1111,", "start": 1.6, "end": 1.8},
                              {"word": "tyres", "start": 2.0, "end": 2.3}]})
            } else {
                serde_json::json!({"text": "Yes, we have them", "words": []})
            };
            (StatusCode::OK, answer.to_string())
        }
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new()
                .route("/v1/audio/transcriptions", axum::routing::post(handler))
                .layer(axum::extract::DefaultBodyLimit::disable());
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

/// The call's transcript through the API once it is `done` (at most 20 s).
fn transcript(ct: &Calltrack, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = format!("http://127.0.0.1:{}/v1/calls/{id}/transcript", ct.http_port);
    loop {
        let answer: Option<serde_json::Value> = ureq::get(&url)
            .header("Authorization", "Bearer speech-admin-token-0123456789")
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json().ok());
        if let Some(t) = answer.as_ref().filter(|t| t["status"] == "done") {
            return t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no transcript: {answer:?}\nlog:\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A JSON answer of the daemon's API, asked with the admin token.
fn admin_get(ct: &Calltrack, path: &str) -> serde_json::Value {
    ureq::get(format!("http://127.0.0.1:{}{path}", ct.http_port))
        .header("Authorization", "Bearer speech-admin-token-0123456789")
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

#[test]
fn a_recorded_call_is_transcribed_per_channel_with_card_numbers_masked() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let work = tempfile::tempdir().unwrap();
    let said = speech(work.path());
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let url = transcription_server(Arc::clone(&seen));
    let ct = recording_calltrack(|cfg| {
        *cfg = cfg.replace(
            "[http]\n",
            "[http]\nadmin_token = \"speech-admin-token-0123456789\"\n",
        );
        cfg.push_str(&format!(
            "\n[speech]\nengine = \"http\"\npoll_secs = 1\nretry_secs = 1\n\n\
             [speech.http]\nurl = \"{url}\"\napi_key = \"test-key\"\n\n\
             [[speech.tags]]\nname = \"tyres\"\nphrases = [\"winter tyre*\"]\nparty = \"caller\"\n\n\
             [[speech.tags]]\nname = \"refund\"\nphrases = [\"refund\"]\n"
        ));
    });
    speak(&ct, &said);
    recorded_wav(&ct);
    let id: String = calltrack::store::open_read_only(&ct.db_path())
        .unwrap()
        .query_row("SELECT id FROM cdr", [], |r| r.get(0))
        .unwrap();

    let t = transcript(&ct, &id);
    assert_eq!(
        t["caller"],
        "Hello, my card is **** **** **** ****, winter tyres please"
    );
    assert_eq!(t["agent"], "Yes, we have them");
    assert_eq!(t["attempts"], 2, "the 503 was retried: {t}");
    assert_eq!(t["words"][1]["word"], "****");
    assert_eq!(t["words"][1]["channel"], "caller");
    assert_eq!(t["words"][1]["start_ms"], 1000);
    assert_eq!(t["tags"], serde_json::json!(["tyres"]));
    // The facts come from the audio: the caller spoke the sentence, the echo answered it.
    let facts = &t["facts"];
    let spoken_ms = said.len() as u64 / 8;
    let caller_ms = facts["caller_talk_ms"].as_u64().unwrap();
    assert!(
        caller_ms > spoken_ms / 2 && caller_ms <= spoken_ms + 500,
        "{facts}"
    );
    assert!(
        facts["agent_talk_ms"].as_u64().unwrap() > spoken_ms / 2,
        "{facts}"
    );
    assert!(
        facts["agent_first_speech_ms"].as_u64().unwrap() < 2_000,
        "{facts}"
    );
    assert_eq!(
        facts["caller_phones"],
        serde_json::json!([]),
        "a card is not a phone"
    );

    // The engine got each party alone: the caller's channel is the speech.
    let files = std::mem::take(&mut seen.lock().unwrap().files);
    let caller = files
        .iter()
        .find(|(n, _)| n == "caller")
        .expect("caller sent");
    let mut wav = hound::WavReader::new(std::io::Cursor::new(&caller.1)).unwrap();
    assert_eq!((wav.spec().channels, wav.spec().sample_rate), (1, 8000));
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let reference: Vec<i16> = said.iter().copied().map(g711::ulaw).collect();
    let correlation = best_correlation(&samples, &reference);
    assert!(
        correlation > 0.99,
        "caller channel correlates {correlation:.4}"
    );

    let found = admin_get(&ct, "/v1/transcripts?q=tyres");
    assert_eq!(found["calls"][0]["call_id"], id.as_str(), "{found}");
    let report = admin_get(&ct, "/v1/transcripts/tags");
    assert_eq!(report["tags"][0]["tag"], "tyres", "{report}");
    assert_eq!(report["tags"][0]["calls"], 1, "{report}");
    let db = ct.db_path();
    let _stopped = ct.stop();
    // Nothing of the card number reached the database, its journal or its search index.
    for file in [db.clone(), db.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("4111"),
            "{} holds the card number",
            file.display()
        );
    }
}
