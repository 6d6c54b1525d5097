//! End to end through the real binary in relay mode (`media = "relay"`): sipp places and
//! answers the call (SIP), the test itself is both parties' media, sending and receiving G.711
//! RTP at the ports their SDP names. Every packet must pass through calltrack's ports (the
//! relay's pool is one stream wide here, so its ports are known: caller-facing `P`, callee-
//! facing `P + 2`), and the CDR must hold what was sent, lost and when nobody spoke.
//!
//! Needs `sipp` (Debian package `sip-tester`); without it each test says so loudly and skips
//! (under `CI=true` that is a failure). Only loopback addresses are used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";
const PACKETS: u16 = 100;
const PTIME: Duration = Duration::from_millis(20);

fn skip() -> bool {
    support::skip_without_sipp("media relay end-to-end tests")
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
/// Taken below the kernel's ephemeral range, where `support::free_port` (sipp, calltrack's
/// SIP and HTTP) never lands.
fn free_pool() -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 104) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

/// One party's media socket.
fn party() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// The µ-law byte `i` of packet `seq` from source `ssrc`: a pattern of its own per side,
/// never a byte that decodes to 0.
fn payload_byte(ssrc: u32, seq: u16, i: usize) -> u8 {
    0x10 + ((usize::from(seq) + i + ssrc as usize * 5) % 64) as u8
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160).map(|i| payload_byte(ssrc, seq, i)));
    p
}

/// Starts calltrack relaying the demo site's calls through ports `pool..=pool + 3`.
fn relaying(pool: u16) -> Calltrack {
    relaying_with(pool, "media = \"relay\"\n")
}

/// The same with `site_keys` on the demo site.
fn relaying_with(pool: u16, site_keys: &str) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        *cfg = cfg.replace("id = \"demo\"\n", &format!("id = \"demo\"\n{site_keys}"));
        cfg.push_str(&format!(
            "\n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\none_way_audio_secs = 2\n\
             recordings_dir = \"recordings\"\n",
            pool + 3
        ));
    })
}

/// Each party sends `PACKETS` packets (seqs for which `send` says yes) to the relay port
/// facing it; the sources of what reached each party.
struct Exchange {
    /// At the socket the caller sends from.
    caller_got: Vec<SocketAddr>,
    /// At the port the caller's SDP names, when it sends from another.
    caller_sdp_got: Vec<SocketAddr>,
    callee_got: Vec<SocketAddr>,
}

fn exchange(
    caller: &UdpSocket,
    caller_from: &UdpSocket,
    callee: &UdpSocket,
    pool: u16,
    send: impl Fn(bool, u16) -> bool,
) -> Exchange {
    let caller_facing: SocketAddr = ([127, 0, 0, 1], pool).into();
    let callee_facing: SocketAddr = ([127, 0, 0, 1], pool + 2).into();
    for socket in [caller, caller_from, callee] {
        socket.set_nonblocking(true).unwrap();
    }
    let mut got = Exchange {
        caller_got: Vec::new(),
        caller_sdp_got: Vec::new(),
        callee_got: Vec::new(),
    };
    let distinct = caller.local_addr().unwrap() != caller_from.local_addr().unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    for seq in 0..PACKETS {
        if send(true, seq) {
            caller_from.send_to(&rtp(seq, 0xa), caller_facing).unwrap();
        }
        if send(false, seq) {
            callee.send_to(&rtp(seq, 0xb), callee_facing).unwrap();
        }
        let due = start + PTIME * u32::from(seq + 1);
        while Instant::now() < due {
            collect(&mut got, caller, caller_from, callee, distinct, &mut buf);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let settle = Instant::now() + Duration::from_millis(300);
    while Instant::now() < settle {
        collect(&mut got, caller, caller_from, callee, distinct, &mut buf);
        std::thread::sleep(Duration::from_millis(5));
    }
    got
}

fn collect(
    got: &mut Exchange,
    caller: &UdpSocket,
    caller_from: &UdpSocket,
    callee: &UdpSocket,
    distinct: bool,
    buf: &mut [u8],
) {
    drain(caller_from, buf, &mut got.caller_got);
    if distinct {
        drain(caller, buf, &mut got.caller_sdp_got);
    }
    drain(callee, buf, &mut got.callee_got);
}

fn drain(socket: &UdpSocket, buf: &mut [u8], into: &mut Vec<SocketAddr>) {
    while let Ok((_, from)) = socket.recv_from(buf) {
        into.push(from);
    }
}

/// Runs one relayed call of about 4 s; during it the parties exchange RTP.
fn relayed_call(
    pool: u16,
    ct: &Calltrack,
    caller: &UdpSocket,
    caller_from: &UdpSocket,
    callee: &UdpSocket,
    send: impl Fn(bool, u16) -> bool,
) -> Exchange {
    let a_port = caller.local_addr().unwrap().port().to_string();
    let b_port = callee.local_addr().unwrap().port().to_string();
    let uas = Sipp::uas("uas_rtp.xml", Leg::Udp, ct.pbx_port)
        .key("media_b", &b_port)
        .spawn();
    let uac = Sipp::uac("uac_rtp.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &a_port)
        .pause_ms(4000)
        .spawn();
    std::thread::sleep(Duration::from_millis(400));
    let got = exchange(caller, caller_from, callee, pool, send);
    uac.wait_ok();
    uas.wait_ok();
    got
}

#[test]
fn rtp_flows_through_calltracks_ports_both_ways_and_is_counted() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = relaying(pool);
    let (caller, callee) = (party(), party());
    let got = relayed_call(pool, &ct, &caller, &caller, &callee, |_, _| true);
    let cdr = ct.stop().single_cdr();
    let caller_facing: SocketAddr = ([127, 0, 0, 1], pool).into();
    let callee_facing: SocketAddr = ([127, 0, 0, 1], pool + 2).into();
    assert_eq!(
        got.callee_got.len(),
        usize::from(PACKETS),
        "caller -> callee"
    );
    assert!(
        got.callee_got.iter().all(|a| *a == callee_facing),
        "{:?}",
        got.callee_got[0]
    );
    assert_eq!(
        got.caller_got.len(),
        usize::from(PACKETS),
        "callee -> caller"
    );
    assert!(got.caller_got.iter().all(|a| *a == caller_facing));
    assert_eq!(cdr.rtp_caller_packets, Some(u64::from(PACKETS)));
    assert_eq!(cdr.rtp_callee_packets, Some(u64::from(PACKETS)));
    assert_eq!(
        (cdr.rtp_caller_lost, cdr.rtp_callee_lost),
        (Some(0), Some(0))
    );
    assert!(cdr.rtp_caller_max_gap_ms.unwrap() >= 19, "{cdr:?}");
    assert!(cdr.rtp_caller_jitter_ms.is_some());
    assert_eq!(cdr.one_way_audio, Some(false));
}

#[test]
fn every_twentieth_packet_lost_is_five_percent_in_the_cdr() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = relaying(pool);
    let (caller, callee) = (party(), party());
    // Seq 10, 30, ..., 90 lost: 5 of the 100 expected, each gap closed by a later packet.
    relayed_call(pool, &ct, &caller, &caller, &callee, |from_caller, seq| {
        !from_caller || seq % 20 != 10
    });
    let cdr = ct.stop().single_cdr();
    assert_eq!(cdr.rtp_caller_packets, Some(95));
    assert_eq!(cdr.rtp_caller_lost, Some(5), "5 % of 100");
    assert_eq!(cdr.rtp_callee_lost, Some(0));
    // The E-model for G.711 with PLC at 5 % loss: about 3.9 (R ≈ 77); the callee's clean.
    let mos = cdr.rtp_caller_mos_x100.unwrap();
    assert!((370..=392).contains(&mos), "{mos}");
    assert!(cdr.rtp_callee_mos_x100.unwrap() >= 430, "{cdr:?}");
    assert!(cdr.rtp_caller_jitter_us.is_some());
    let secs = cdr.rtp_caller_media_secs.unwrap();
    assert!(
        (2..=3).contains(&secs),
        "2 s of RTP after the answer: {secs}"
    );
}

#[test]
fn a_caller_behind_nat_is_answered_where_its_packets_come_from() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = relaying(pool);
    // The caller's SDP names one port, its packets leave from another (a NAT's mapping); the
    // callee starts once the caller has been heard.
    let (sdp_port, nat, callee) = (party(), party(), party());
    let got = relayed_call(pool, &ct, &sdp_port, &nat, &callee, |from_caller, seq| {
        from_caller || seq >= 5
    });
    let cdr = ct.stop().single_cdr();
    assert_eq!(
        got.caller_got.len(),
        usize::from(PACKETS - 5),
        "relayed to the NAT mapping"
    );
    assert!(
        got.caller_sdp_got.is_empty(),
        "nothing to the port the SDP names"
    );
    assert_eq!(cdr.rtp_callee_packets, Some(u64::from(PACKETS - 5)));
    assert_eq!(cdr.one_way_audio, Some(false));
}

#[test]
fn a_silent_callee_is_one_way_audio() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = relaying(pool);
    let (caller, callee) = (party(), party());
    let got = relayed_call(pool, &ct, &caller, &caller, &callee, |from_caller, _| {
        from_caller
    });
    let cdr = ct.stop().single_cdr();
    assert_eq!(got.callee_got.len(), usize::from(PACKETS));
    assert!(got.caller_got.is_empty());
    assert_eq!(cdr.rtp_caller_packets, Some(u64::from(PACKETS)));
    assert_eq!(cdr.rtp_callee_packets, Some(0));
    assert_eq!(
        cdr.one_way_audio,
        Some(true),
        "the callee never spoke after the answer"
    );
}

/// One channel of an interleaved stereo WAV.
fn channel(samples: &[i16], right: bool) -> Vec<i16> {
    samples
        .iter()
        .skip(usize::from(right))
        .step_by(2)
        .copied()
        .collect()
}

/// What one side sent, decoded as calltrack records it, must be in its channel sample for
/// sample from its first sound on (loopback loses nothing): a correlation of 1.
fn assert_recorded(channel: &[i16], ssrc: u32) {
    let start = channel
        .iter()
        .position(|s| *s != 0)
        .expect("the side is heard");
    let sent: Vec<i16> = (0..PACKETS)
        .flat_map(|seq| (0..160).map(move |i| payload_byte(ssrc, seq, i)))
        .map(calltrack::media::g711::ulaw)
        .collect();
    assert!(
        channel.len() >= start + sent.len(),
        "{} samples",
        channel.len()
    );
    assert_eq!(&channel[start..start + sent.len()], &sent[..]);
}

#[test]
fn a_recorded_call_is_a_stereo_wav_of_what_each_side_said() {
    if skip() {
        return;
    }
    let _serial = support::serial();
    let pool = free_pool();
    let ct = relaying_with(pool, "record = true\n");
    let (caller, callee) = (party(), party());
    relayed_call(pool, &ct, &caller, &caller, &callee, |_, _| true);
    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    let path = cdr.recording_path.clone().expect("a recording");
    let mut wav = hound::WavReader::open(&path).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(
        cdr.recording_bytes,
        Some(std::fs::metadata(&path).unwrap().len())
    );
    assert_eq!(cdr.recording_secs, Some((samples.len() / 2 / 8000) as u32));
    assert_recorded(&channel(&samples, false), 0xa);
    assert_recorded(&channel(&samples, true), 0xb);
}
