//! calltrack speaking before it bridges, end to end through the real binary in relay mode:
//! sipp places and answers the call (SIP), the test is both parties' media (as in
//! `e2e_media.rs`). With `announce` the caller is answered by calltrack, hears the prompt
//! (its µ-law payload correlates with the configured prompt), and only then the callee is
//! rung and the relay connects the two; a caller who hangs up during the prompt leaves a CDR
//! and every port back in the pool.
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

fn skip() -> bool {
    support::skip_without_sipp("voice (announcement) end-to-end tests")
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
fn free_pool() -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 104 + 52) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

fn party() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    socket
}

/// calltrack relaying the demo site's calls, with `site_keys` on the site.
fn speaking(pool: u16, site_keys: &str) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace("id = \"demo\"\n", &format!("id = \"demo\"\n{site_keys}"));
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n",
            pool + 3
        ));
    })
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0x55, 160));
    p
}

/// One RTP packet as received: when, its SSRC, sequence number and payload.
struct Heard {
    at: Instant,
    ssrc: u32,
    seq: u16,
    payload: Vec<u8>,
}

/// What reaches `socket` until `until` (at least one look).
fn listen(socket: &UdpSocket, until: Instant, into: &mut Vec<Heard>) {
    let mut buf = [0u8; 2048];
    loop {
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            if n >= 12 {
                into.push(Heard {
                    at: Instant::now(),
                    ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
                    seq: u16::from_be_bytes([buf[2], buf[3]]),
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

/// Normalised cross-correlation of `a` and `b` at lag 0 over the shorter length.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let dot: f64 = (0..n).map(|i| a[i] * b[i]).sum();
    let ea: f64 = a[..n].iter().map(|x| x * x).sum();
    let eb: f64 = b[..n].iter().map(|x| x * x).sum();
    dot / (ea * eb).sqrt().max(1e-9)
}

/// The best normalised correlation of `heard` against `reference` at lags within ±`max_lag`.
fn best_correlation(heard: &[f64], reference: &[f64], max_lag: usize) -> f64 {
    (0..=max_lag)
        .flat_map(|lag| {
            let ahead = correlation(&heard[lag.min(heard.len())..], reference);
            let behind = correlation(heard, &reference[lag.min(reference.len())..]);
            [ahead, behind]
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn the_caller_hears_the_announcement_then_the_call_is_bridged() {
    if skip() {
        return;
    }
    announcement_then_bridge("media = \"relay\"\nannounce = \"recorded\"\n");
}

#[test]
fn with_answer_early_the_announcement_is_early_media_and_the_callee_answers_the_caller() {
    if skip() {
        return;
    }
    announcement_then_bridge("media = \"relay\"\nannounce = \"recorded\"\nanswer = \"early\"\n");
}

/// A call to the billboard number with `site_keys`: the prompt first (all of it, correlated
/// with the file), then both parties' RTP through the relay; the callee answered only after
/// the prompt.
fn announcement_then_bridge(site_keys: &str) {
    let _serial = support::serial();
    let pool = free_pool();
    let ct = speaking(pool, site_keys);
    let prompt = Prompt::load("recorded", "en").unwrap();
    let (caller, callee) = (party(), party());
    let caller_facing: SocketAddr = ([127, 0, 0, 1], pool).into();
    let callee_facing: SocketAddr = ([127, 0, 0, 1], pool + 2).into();
    let uas = Sipp::uas("uas_rtp.xml", Leg::Udp, ct.pbx_port)
        .key("media_b", &callee.local_addr().unwrap().port().to_string())
        .spawn();
    let talk_ms = prompt.duration().as_millis() as u64 + 3_500;
    let started = Instant::now();
    let uac = Sipp::uac("uac_rtp.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .pause_ms(talk_ms)
        .spawn();
    // The prompt, then a second of both parties talking through the relay.
    let mut heard = Vec::new();
    listen(
        &caller,
        started + prompt.duration() + Duration::from_millis(1_200),
        &mut heard,
    );
    let mut callee_heard = Vec::new();
    for seq in 0..50u16 {
        caller.send_to(&rtp(seq, 0xa), caller_facing).unwrap();
        callee.send_to(&rtp(seq, 0xb), callee_facing).unwrap();
        listen(&caller, Instant::now() + PTIME, &mut heard);
        listen(&callee, Instant::now(), &mut callee_heard);
    }
    listen(
        &caller,
        Instant::now() + Duration::from_millis(200),
        &mut heard,
    );
    listen(&callee, Instant::now(), &mut callee_heard);
    uac.wait_ok();
    uas.wait_ok();
    let cdr = ct.stop().single_cdr();

    let prompt_ssrc = heard
        .first()
        .map(|h| h.ssrc)
        .expect("the caller heard nothing");
    let (mut played, bridged): (Vec<&Heard>, Vec<&Heard>) =
        heard.iter().partition(|h| h.ssrc == prompt_ssrc);
    let expected = prompt.samples().len().div_ceil(160);
    assert!(
        played.len() + 2 >= expected && played.len() <= expected + 1,
        "{} prompt packets, the prompt is {expected}",
        played.len()
    );
    assert_eq!(
        bridged.len(),
        50,
        "the callee's RTP reached the caller after the prompt"
    );
    assert!(bridged.iter().all(|h| h.ssrc == 0xb));
    let last_prompt = played.iter().map(|h| h.at).max().unwrap();
    assert!(
        bridged.iter().all(|h| h.at > last_prompt),
        "the prompt came first"
    );
    assert_eq!(
        callee_heard.len(),
        50,
        "the caller's RTP reached the callee"
    );

    let first_seq = played[0].seq;
    played.sort_by_key(|h| h.seq.wrapping_sub(first_seq));
    let decoded: Vec<f64> = played
        .iter()
        .flat_map(|h| h.payload.iter().map(|b| f64::from(g711::ulaw(*b))))
        .collect();
    let reference: Vec<f64> = prompt.samples().iter().map(|s| f64::from(*s)).collect();
    let r = best_correlation(&decoded, &reference, 160);
    eprintln!(
        "announcement correlation: {r:.4} over {} packets",
        played.len()
    );
    assert!(r > 0.9, "correlation {r}");

    assert_eq!(cdr.disposition, Disposition::Answered);
    let waited = cdr.answered_at.unwrap().duration_since(cdr.started_at);
    let waited = Duration::try_from(waited).unwrap();
    assert!(
        waited >= prompt.duration(),
        "the callee answered {waited:?} after the INVITE: it was rung only after the prompt"
    );
}

#[test]
fn a_caller_who_hangs_up_during_the_prompt_leaves_a_cdr_and_every_port() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = speaking(pool, "media = \"relay\"\nannounce = \"recorded\"\n");
    let caller = party();
    let uac = Sipp::uac("uac_rtp.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .pause_ms(600)
        .spawn();
    let mut heard = Vec::new();
    listen(
        &caller,
        Instant::now() + Duration::from_millis(1_500),
        &mut heard,
    );
    uac.wait_ok();
    std::thread::sleep(Duration::from_millis(300));
    let free = (pool..=pool + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    assert!(!heard.is_empty(), "the prompt had started");
    assert!(free, "the relay's ports were closed:\n{}", stopped.log);
    assert_eq!(cdr.disposition, Disposition::Cancelled);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert!(cdr.answered_at.is_none());
}
