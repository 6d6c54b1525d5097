//! Recordings end to end through the real binary in relay mode with `record = true`: sipp
//! places and answers the call, the test is both parties' media (as in `e2e_media.rs`). The
//! CDR names a file only once it is written (status `recorded`, the file's real size), the
//! API streams it with HTTP Range (206 with the right bytes, 416 past the end) behind the
//! admin token, a call whose RTP is not G.711 is kept as a pcap, a reload that sets a disk
//! budget makes the janitor remove the file and mark the CDR `expired`, and a recording that
//! cannot be written leaves the call unharmed with `failed` / `write_failed` in its CDR, and
//! an SRTP call (`a=crypto`) is never recorded (`skipped` / `srtp`). A CDR a crash left
//! `pending` is settled from the disk after a restart.
//!
//! Needs `sipp`; without it each test says so loudly and skips (under `CI=true` that fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";
const TOKEN: &str = "recordings-admin-token-0123456789";
const PACKETS: u16 = 100;

fn skip() -> bool {
    support::skip_without_sipp("recordings end-to-end tests")
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
fn free_pool() -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base = 20_000 + ((seed.wrapping_mul(6007) + attempt * 106) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

/// calltrack recording the demo site's calls through ports `pool..=pool + 3`, with `media`
/// appended to `[media]`.
fn recording(pool: u16, media: &str) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace("id = \"demo\"\n", "id = \"demo\"\nrecord = true\n");
        *cfg = cfg.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n\
             recordings_dir = \"recordings\"\nretention_check_secs = 1\n{media}",
            pool + 3
        ));
    })
}

/// RTP packet `seq` from `ssrc` with payload type `pt` and 160 payload bytes.
fn rtp(seq: u16, ssrc: u32, pt: u8) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160).map(|i| 0x10 + ((usize::from(seq) + i) % 64) as u8));
    p
}

/// One answered call of about 3 s in which each side sends `PACKETS` packets of type `pt`.
fn recorded_call(pool: u16, ct: &Calltrack, pt: u8) {
    call_with("uac_rtp.xml", pool, ct, pt);
}

/// The same, the caller's INVITE from sipp scenario `uac`.
fn call_with(uac: &str, pool: u16, ct: &Calltrack, pt: u8) {
    let (caller, callee) = (party(), party());
    let uas = Sipp::uas("uas_rtp.xml", Leg::Udp, ct.pbx_port)
        .key("media_b", &callee.local_addr().unwrap().port().to_string())
        .spawn();
    let uac = Sipp::uac(uac, Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .pause_ms(3000)
        .spawn();
    std::thread::sleep(Duration::from_millis(400));
    let caller_facing: SocketAddr = ([127, 0, 0, 1], pool).into();
    let callee_facing: SocketAddr = ([127, 0, 0, 1], pool + 2).into();
    let start = Instant::now();
    for seq in 0..PACKETS {
        caller.send_to(&rtp(seq, 0xa, pt), caller_facing).unwrap();
        callee.send_to(&rtp(seq, 0xb, pt), callee_facing).unwrap();
        let due = start + Duration::from_millis(20) * u32::from(seq + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    uac.wait_ok();
    uas.wait_ok();
}

fn party() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `GET path` with the admin token (or `token`): status, headers we look at, body.
fn get(
    ct: &Calltrack,
    path: &str,
    token: &str,
    range: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut request = agent()
        .get(format!("http://127.0.0.1:{}{path}", ct.http_port))
        .header("Authorization", &format!("Bearer {token}"));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let mut response = request.call().unwrap();
    let headers = [
        "content-type",
        "content-range",
        "accept-ranges",
        "content-length",
    ]
    .iter()
    .filter_map(|name| {
        let value = response.headers().get(*name)?.to_str().ok()?;
        Some((name.to_string(), value.to_owned()))
    })
    .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The only call, as the calls API shows it, once `done` holds for it (at most 15 s).
fn call_when(ct: &Calltrack, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, body) = get(ct, "/v1/calls", TOKEN, None);
        assert_eq!(status, 200);
        let page: Value = serde_json::from_slice(&body).unwrap();
        if let Some(call) = page["calls"].as_array().and_then(|c| c.first()) {
            if done(call) {
                return call.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the call never got there: {page}\nlog:\n{}",
            ct.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |call| call["recording"]["status"] == status
}

#[test]
fn a_recorded_wav_is_named_once_written_served_with_ranges_and_expired_by_the_budget() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = recording(pool, "");
    recorded_call(pool, &ct, 0);
    let call = call_when(&ct, status_is("recorded"));
    let id = call["id"].as_str().unwrap().to_owned();
    let url = call["recording_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/v1/calls/{id}/recording"));
    assert_eq!(call["recording"]["format"], "wav");
    assert_eq!(call["recording"]["reason"], Value::Null);

    // The CDR names a file that exists, with its real size.
    let conn = calltrack::store::open_read_only(&ct.db_path()).unwrap();
    let (path, bytes, secs): (String, i64, i64) = conn
        .query_row(
            "SELECT recording_path, recording_bytes, recording_secs FROM cdr WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk.len() as i64, bytes);
    assert_eq!(call["recording"]["bytes"], bytes);
    let wav = hound::WavReader::open(&path).unwrap();
    assert_eq!((wav.spec().channels, wav.spec().sample_rate), (2, 8000));
    assert_eq!(i64::from(wav.duration() / 8000), secs);
    assert!(
        wav.duration() >= u32::from(PACKETS) * 160,
        "both sides' audio"
    );

    // The whole file, then a range, then a range past the end.
    let (status, headers, body) = get(&ct, &url, TOKEN, None);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("audio/wav"));
    assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
    assert_eq!(body, on_disk);
    let (status, headers, body) = get(&ct, &url, TOKEN, Some("bytes=40-1039"));
    assert_eq!(status, 206);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes 40-1039/{bytes}").as_str())
    );
    assert_eq!(body, &on_disk[40..1040]);
    let (status, headers, _) = get(&ct, &url, TOKEN, Some(&format!("bytes={bytes}-")));
    assert_eq!(status, 416);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes */{bytes}").as_str())
    );
    let (status, _, _) = get(&ct, &url, "not-the-token", None);
    assert_eq!(status, 401, "the admin token guards it");
    let (status, _, body) = get(&ct, "/v1/calls/nosuchcall/recording", TOKEN, None);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("not_found"));

    // A reload sets a budget smaller than the file: the janitor removes it, CDR first.
    let config = std::fs::read_to_string(ct.config_path()).unwrap();
    let budget = config.replace("[media]\n", "[media]\nmax_disk_gb = 0.000000001\n");
    std::fs::write(ct.config_path(), budget).unwrap();
    ct.signal("HUP");
    let call = call_when(&ct, status_is("expired"));
    assert_eq!(call["recording"]["reason"], "disk_budget");
    assert_eq!(call["recording_url"], Value::Null);
    assert!(!std::path::Path::new(&path).exists(), "the file is gone");
    let (status, _, body) = get(&ct, &url, TOKEN, None);
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "no_recording");
    assert_eq!(error["error"]["recording_status"], "expired");
    assert_eq!(error["error"]["recording_reason"], "disk_budget");
    let (_, _, metrics) = get(&ct, "/metrics", TOKEN, None);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("calltrack_recordings_expired_total{reason=\"disk_budget\"} 1"),
        "{metrics}"
    );
    ct.stop();
}

#[test]
fn a_call_without_g711_is_kept_as_a_pcap_of_its_rtp() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = recording(pool, "");
    recorded_call(pool, &ct, 111);
    let call = call_when(&ct, status_is("recorded"));
    assert_eq!(call["recording"]["format"], "pcap");
    let url = call["recording_url"].as_str().unwrap().to_owned();
    let (status, headers, body) = get(&ct, &url, TOKEN, None);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/vnd.tcpdump.pcap")
    );
    let mut reader = pcap_file::pcap::PcapReader::new(&body[..]).unwrap();
    let mut sent_by_port = std::collections::HashMap::<u16, usize>::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let ip = etherparse::SlicedPacket::from_ip(&packet.data).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = ip.transport else {
            panic!("UDP expected");
        };
        assert_eq!(udp.payload().len(), 12 + 160, "the RTP packet whole");
        assert_eq!(udp.payload()[1] & 0x7f, 111);
        *sent_by_port.entry(udp.destination_port()).or_default() += 1;
    }
    assert_eq!(
        sent_by_port,
        [
            (pool, usize::from(PACKETS)),
            (pool + 2, usize::from(PACKETS))
        ]
        .into(),
        "every packet of both sides, addressed to the relay port it reached"
    );
    ct.stop();
}

#[test]
fn a_recording_that_cannot_be_written_fails_alone_and_says_why() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace("id = \"demo\"\n", "id = \"demo\"\nrecord = true\n");
        *cfg = cfg.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n\
             recordings_dir = \"/dev/null/recordings\"\n",
            pool + 3
        ));
    });
    recorded_call(pool, &ct, 8);
    let call = call_when(&ct, status_is("failed"));
    assert_eq!(
        call["disposition"], "answered",
        "the call itself is unharmed"
    );
    assert_eq!(call["recording"]["reason"], "write_failed");
    let (_, _, metrics) = get(&ct, "/metrics", TOKEN, None);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("calltrack_recordings_failed_total{reason=\"write_failed\"} 1"),
        "{metrics}"
    );
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.recording_path, None, "no CDR names a missing file");
}

#[test]
fn an_srtp_call_is_never_recorded() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = recording(pool, "");
    call_with("uac_rtp_srtp.xml", pool, &ct, 0);
    let call = call_when(&ct, |c| c["recording"]["status"] != "pending");
    assert_eq!(call["recording"]["status"], "skipped");
    assert_eq!(call["recording"]["reason"], "srtp");
    assert_eq!(call["recording_url"], Value::Null);
    let id = call["id"].as_str().unwrap().to_owned();
    let (status, _, body) = get(&ct, &format!("/v1/calls/{id}/recording"), TOKEN, None);
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["recording_reason"], "srtp");
    let stopped = ct.stop();
    let files = std::fs::read_dir(stopped.db.with_file_name("recordings"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files, 0, "nothing written");
}

/// Puts call `id` back to `pending` as if the process had died before the write's outcome was
/// committed (and long enough ago for the janitor to settle it).
fn as_if_crashed_while_writing(db: &std::path::Path, id: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let changed = conn
        .execute(
            "UPDATE cdr SET recording_status = 'pending', recording_reason = NULL, \
             recording_path = NULL, recording_bytes = NULL, recording_secs = NULL, \
             ended_at = '2026-01-01T00:00:00.000Z' WHERE id = ?1",
            [id],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn a_restart_settles_what_a_crash_left_pending_from_the_disk() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let mut ct = recording(pool, "");
    recorded_call(pool, &ct, 0);
    let call = call_when(&ct, status_is("recorded"));
    let id = call["id"].as_str().unwrap().to_owned();
    let (bytes, secs) = (
        call["recording"]["bytes"].clone(),
        call["recording"]["secs"].clone(),
    );
    let wav = ct.dir.path().join("recordings").join(format!("{id}.wav"));
    assert!(wav.exists());

    // Died after the file was renamed into place: it is complete, so it is recorded.
    ct.kill9();
    as_if_crashed_while_writing(&ct.db_path(), &id);
    ct.restart();
    let call = call_when(&ct, status_is("recorded"));
    assert_eq!(call["recording"]["bytes"], bytes);
    assert_eq!(
        call["recording"]["secs"], secs,
        "read back from the WAV header"
    );
    let (status, _, body) = get(&ct, call["recording_url"].as_str().unwrap(), TOKEN, None);
    assert_eq!((status, body.len() as u64), (200, bytes.as_u64().unwrap()));

    // Died while writing: only the hidden partial file exists, so it failed and it goes.
    ct.kill9();
    as_if_crashed_while_writing(&ct.db_path(), &id);
    let part = wav.with_file_name(format!(".{id}.wav.part"));
    std::fs::rename(&wav, &part).unwrap();
    ct.restart();
    let call = call_when(&ct, status_is("failed"));
    assert_eq!(call["recording"]["reason"], "interrupted");
    assert!(!part.exists(), "the partial file is removed");
    ct.stop();
}
