//! Voicemail end to end through the real binary in relay mode: sipp places the call, a sipp
//! PBX answers 486, and the test is the caller's media (as in `e2e_voice.rs`). The caller
//! is answered by calltrack, hears the voicemail greeting and then the beep (each µ-law
//! payload correlates with its prompt), then sends three seconds of a 1 kHz tone and hangs
//! up. The stored WAV holds the tone on the caller's channel (and silence on the agent's),
//! the CDR says `voicemail` with the message's length, and the calls API shows it with the
//! recording's URL, which serves the file.
//!
//! Needs `sipp` (Debian package `sip-tester`); without it each test says so loudly and skips
//! (under `CI=true` that is a failure). Only loopback addresses are used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use calltrack::call::record::{Disposition, HangupSide};
use calltrack::media::g711;
use calltrack::media::prompt::Prompt;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";
const PTIME: Duration = Duration::from_millis(20);
const TOKEN: &str = "voicemail-admin-token-0123456789";
/// The caller's message: 150 packets of 20 ms.
const MESSAGE_PACKETS: u16 = 150;
const TONE_HZ: f64 = 1_000.0;

fn skip() -> bool {
    support::skip_without_sipp("voicemail end-to-end tests")
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
fn free_pool() -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base = 28_000 + ((seed.wrapping_mul(7919) + attempt * 98 + 26) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

fn voicemail_calltrack(pool: u16) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace(
            "id = \"demo\"\n",
            "id = \"demo\"\nmedia = \"relay\"\nvoicemail = { max_secs = 20 }\n",
        );
        *cfg = cfg.replace("[http]\n", &format!("[http]\nadmin_token = \"{TOKEN}\"\n"));
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n\
             recordings_dir = \"recordings\"\n",
            pool + 3
        ));
    })
}

/// One RTP packet as received: its SSRC, sequence number, marker bit and payload.
struct Heard {
    ssrc: u32,
    seq: u16,
    marker: bool,
    payload: Vec<u8>,
}

/// What reaches `socket` until `until` (at least one look).
fn listen(socket: &UdpSocket, until: Instant, into: &mut Vec<Heard>) {
    let mut buf = [0u8; 2048];
    loop {
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            if n >= 12 {
                into.push(Heard {
                    ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
                    seq: u16::from_be_bytes([buf[2], buf[3]]),
                    marker: buf[1] & 0x80 != 0,
                    payload: buf[12..n].to_vec(),
                });
            }
        }
        if Instant::now() >= until {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Packet `seq` of the caller's 1 kHz tone, µ-law.
fn tone_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x0c0f_fee0_u32.to_be_bytes());
    p.extend((0..160u32).map(|i| {
        let t = f64::from(u32::from(seq) * 160 + i) / 8_000.0;
        let sample = (8_000.0 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as i16;
        g711::encode_ulaw(sample)
    }));
    p
}

/// The best normalised correlation of `heard` against `reference` within ±`max_lag`.
fn best_correlation(heard: &[f64], reference: &[f64], max_lag: usize) -> f64 {
    let at = |a: &[f64], b: &[f64]| {
        let n = a.len().min(b.len());
        let dot: f64 = (0..n).map(|i| a[i] * b[i]).sum();
        let ea: f64 = a[..n].iter().map(|x| x * x).sum();
        let eb: f64 = b[..n].iter().map(|x| x * x).sum();
        dot / (ea * eb).sqrt().max(1e-9)
    };
    (0..=max_lag)
        .flat_map(|lag| {
            let ahead = at(&heard[lag.min(heard.len())..], reference);
            let behind = at(heard, &reference[lag.min(reference.len())..]);
            [ahead, behind]
        })
        .fold(f64::MIN, f64::max)
}

/// The payloads of packets in sequence order, decoded.
fn decoded(heard: &[&Heard]) -> Vec<f64> {
    heard
        .iter()
        .flat_map(|h| h.payload.iter().map(|b| f64::from(g711::ulaw(*b))))
        .collect()
}

/// The share of `samples`' energy at `hz` (Goertzel over the whole signal), 0..=1.
fn share_at(samples: &[f64], hz: f64) -> f64 {
    let n = samples.len() as f64;
    let w = 2.0 * std::f64::consts::PI * hz / 8_000.0;
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in samples {
        let s = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = samples.iter().map(|x| x * x).sum();
    (2.0 * power / n / energy.max(1e-9)).min(1.0)
}

fn recorded_wav(ct: &Calltrack) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let conn = calltrack::store::open_read_only(&ct.db_path()).unwrap();
        let found: Option<(String, String, Option<String>)> = conn
            .query_row(
                "SELECT id, recording_status, recording_path FROM cdr LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok();
        if let Some((id, status, path)) = &found {
            if status == "recorded" {
                return (
                    id.clone(),
                    path.clone().expect("a recorded CDR names its file"),
                );
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

fn admin_get(ct: &Calltrack, path: &str) -> Vec<u8> {
    let mut answer = ureq::get(format!("http://127.0.0.1:{}{path}", ct.http_port))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    answer.body_mut().read_to_vec().unwrap()
}

#[test]
fn a_busy_pbx_sends_the_caller_to_voicemail_and_its_message_is_stored() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = voicemail_calltrack(pool);
    let greeting = Prompt::load("voicemail", "en").unwrap();
    let beep = Prompt::load("beep", "en").unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller.set_nonblocking(true).unwrap();
    let caller_facing: SocketAddr = ([127, 0, 0, 1], pool).into();
    let uas = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    let spoken = greeting.duration() + beep.duration();
    let message = PTIME * u32::from(MESSAGE_PACKETS);
    let talk_ms = (spoken + message).as_millis() as u64 + 1_500;
    let started = Instant::now();
    let uac = Sipp::uac("uac_rtp.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .pause_ms(talk_ms)
        .spawn();
    let mut heard = Vec::new();
    listen(
        &caller,
        started + spoken + Duration::from_millis(700),
        &mut heard,
    );
    for seq in 0..MESSAGE_PACKETS {
        caller.send_to(&tone_packet(seq), caller_facing).unwrap();
        listen(&caller, Instant::now() + PTIME, &mut heard);
    }
    uac.wait_ok();
    uas.wait_ok();

    // One player, one SSRC: each prompt is a talkspurt opened by the marker bit.
    assert!(heard.iter().all(|h| h.ssrc == heard[0].ssrc));
    let first = heard[0].seq;
    heard.sort_by_key(|h| h.seq.wrapping_sub(first));
    let mut spurts: Vec<Vec<&Heard>> = Vec::new();
    for h in &heard {
        match spurts.last_mut() {
            Some(spurt) if !h.marker => spurt.push(h),
            _ => spurts.push(vec![h]),
        }
    }
    assert_eq!(spurts.len(), 2, "the greeting, then the beep");
    for (packets, prompt, name) in [
        (&spurts[0], &greeting, "greeting"),
        (&spurts[1], &beep, "beep"),
    ] {
        let expected = prompt.samples().len().div_ceil(160);
        assert!(
            packets.len() + 2 >= expected && packets.len() <= expected + 1,
            "{} {name} packets, the prompt is {expected}",
            packets.len()
        );
        let reference: Vec<f64> = prompt.samples().iter().map(|s| f64::from(*s)).collect();
        let r = best_correlation(&decoded(packets), &reference, 160);
        eprintln!("{name} correlation: {r:.4} over {} packets", packets.len());
        assert!(r > 0.9, "{name} correlation {r}");
    }

    let (id, path) = recorded_wav(&ct);
    let mut wav = hound::WavReader::open(&path).unwrap();
    assert_eq!((wav.spec().channels, wav.spec().sample_rate), (2, 8000));
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let channel = |right: usize| -> Vec<f64> {
        let side = samples.iter().skip(right).step_by(2);
        side.map(|s| f64::from(*s)).collect()
    };
    let (left, right) = (channel(0), channel(1));
    let secs = left.len() as f64 / 8_000.0;
    assert!(
        (2.9..4.5).contains(&secs),
        "the message is {secs:.2} s: the recording starts at the beep"
    );
    let share = share_at(&left, TONE_HZ);
    eprintln!("caller channel: {secs:.2} s, {share:.3} of its energy at 1 kHz");
    assert!(share > 0.5, "the caller's tone is recorded ({share:.3})");
    assert!(
        right.iter().all(|s| *s == 0.0),
        "the agent's side of a voicemail is silent"
    );

    let call: serde_json::Value =
        serde_json::from_slice(&admin_get(&ct, &format!("/v1/calls/{id}"))).unwrap();
    assert_eq!(call["disposition"], "voicemail", "{call}");
    assert_eq!(call["missed"], true, "{call}");
    let url = call["recording_url"].as_str().expect("a recording URL");
    assert!(
        call["voicemail_secs"].as_u64().is_some_and(|s| s >= 3),
        "{call}"
    );
    let file = admin_get(&ct, url);
    assert!(file.starts_with(b"RIFF"), "the API serves the WAV");

    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.disposition, Disposition::Voicemail);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert!(cdr.answered_at.is_none());
    assert_eq!(cdr.sip_status, 200);
}

#[test]
fn a_caller_who_hangs_up_during_the_greeting_leaves_a_cdr_no_file_and_every_port() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = voicemail_calltrack(pool);
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller.set_nonblocking(true).unwrap();
    let uas = Sipp::uas("uas_busy.xml", Leg::Udp, ct.pbx_port).spawn();
    let uac = Sipp::uac("uac_rtp.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .pause_ms(800)
        .spawn();
    let mut heard = Vec::new();
    listen(
        &caller,
        Instant::now() + Duration::from_millis(1_500),
        &mut heard,
    );
    uac.wait_ok();
    uas.wait_ok();
    std::thread::sleep(Duration::from_millis(300));
    let free = (pool..=pool + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    assert!(!heard.is_empty(), "the greeting had started");
    assert!(free, "the relay's ports were closed:\n{}", stopped.log);
    assert_eq!(cdr.disposition, Disposition::Busy, "no message was left");
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert_eq!(cdr.voicemail_secs, None);
    assert_eq!(cdr.recording_path, None);
    assert_eq!(
        cdr.recording_status.map(|s| s.as_str()),
        Some("skipped"),
        "{cdr:?}"
    );
}
