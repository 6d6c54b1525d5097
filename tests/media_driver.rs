//! The media socket driver on loopback, without SIP: the table opens a stream from an offer
//! and an answer, the driver binds its four sockets, packets from both parties are relayed
//! through them, and the ports come back only once the released stream's sockets are closed;
//! RFC 4733 telephone-events captured by sipp's authors pass byte for byte and each key is
//! noted once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::config::MediaConfig;
use calltrack::media::{MediaService, MediaTable, Side};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

fn sdp(port: u16) -> String {
    format!("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {port} RTP/AVP 0\r\n")
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// Four free ports in a row from an even one (below the ephemeral range), from the slice
/// `slot` of four, so that this file's tests, running at once, never pick the same ones.
fn free_pool(slot: u16) -> u16 {
    free_ports(slot, 4)
}

/// `count` free ports in a row from an even one, from the slice `slot` (see [`free_pool`]).
fn free_ports(slot: u16, count: u16) -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base =
            20_000 + slot * 3_300 + ((seed.wrapping_mul(31) + attempt * 211) % 1_200) as u16 * 2;
        let free =
            (base..base + count).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no {count} free loopback ports in a row");
}

/// The relay on loopback, recording into the temporary directory.
fn media_config(rtp_ports: std::ops::RangeInclusive<u16>) -> MediaConfig {
    MediaConfig {
        rtp_ports,
        bind_ip: "127.0.0.1".parse().unwrap(),
        advertised_ip: "127.0.0.1".parse().unwrap(),
        one_way_audio: Duration::from_secs(5),
        recordings_dir: std::env::temp_dir(),
        retention: Default::default(),
        on_no_ports: calltrack::config::OnNoPorts::Direct,
        relay_threads: 1,
    }
}

async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let got = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await;
    let (len, from) = got.expect("a relayed packet").unwrap();
    (buf[..len].to_vec(), from)
}

#[tokio::test]
async fn packets_pass_both_ways_and_ports_return_after_the_sockets_close() {
    let pool = free_pool(0);
    let table = Arc::new(MediaTable::new(&media_config(pool..=pool + 3)));
    let stop = CancellationToken::new();
    let service = tokio::spawn(
        MediaService::new(table.clone(), "127.0.0.1".parse().unwrap()).run(stop.clone()),
    );
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let now = Instant::now();
    let offer = sdp(caller.local_addr().unwrap().port());
    let answer = sdp(callee.local_addr().unwrap().port());
    table
        .rewrite(now, 1, Side::Caller, offer.as_bytes())
        .unwrap();
    table
        .rewrite(now, 1, Side::Callee, answer.as_bytes())
        .unwrap();
    table.answered(1, now, None);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (caller_facing, callee_facing): (SocketAddr, SocketAddr) = (
        ([127, 0, 0, 1], pool).into(),
        ([127, 0, 0, 1], pool + 2).into(),
    );
    for seq in 0..10 {
        caller.send_to(&rtp(seq), caller_facing).await.unwrap();
        let (packet, from) = recv(&callee).await;
        assert_eq!((packet, from), (rtp(seq), callee_facing));
        callee.send_to(&rtp(seq), callee_facing).await.unwrap();
        let (packet, from) = recv(&caller).await;
        assert_eq!((packet, from), (rtp(seq), caller_facing));
    }
    // A third party's packets to the caller's port are dropped once the caller latched.
    let intruder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    intruder.send_to(&rtp(99), caller_facing).await.unwrap();
    let mut buf = [0u8; 2048];
    let leaked = tokio::time::timeout(Duration::from_millis(300), callee.recv_from(&mut buf)).await;
    assert!(
        leaked.is_err(),
        "nothing reaches the callee from an intruder"
    );

    let facts = table.release(1, Instant::now()).unwrap();
    assert_eq!((facts.caller.packets, facts.callee.packets), (10, 10));
    assert_eq!((facts.caller.lost, facts.callee.lost), (0, 0));
    assert!(!facts.one_way_audio);
    let deadline = Instant::now() + Duration::from_secs(2);
    while table.port_pairs().0 < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        table.port_pairs(),
        (2, 2),
        "ports back once the sockets closed"
    );
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", pool)).is_ok(),
        "the socket is gone"
    );
    stop.cancel();
    service.await.unwrap();
}

/// The RTP packets of one of sipp's RFC 4733 captures (`/usr/share/sip-tester`), `None` (after a
/// loud message) when sipp's data is not installed; under `CI` that is a failure.
fn sipp_dtmf_capture(name: &str) -> Option<Vec<Vec<u8>>> {
    let path = format!("/usr/share/sip-tester/dtmf_2833_{name}.pcap");
    let Ok(file) = std::fs::File::open(&path) else {
        eprintln!("SKIPPED: {path} missing (install sip-tester)");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have sip-tester's pcaps"
        );
        return None;
    };
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let frame = packet.unwrap();
        let sliced = etherparse::SlicedPacket::from_ethernet(&frame.data).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport else {
            continue;
        };
        packets.push(udp.payload().to_vec());
    }
    Some(packets)
}

#[tokio::test]
async fn telephone_events_pass_byte_for_byte_and_each_key_is_noted_once() {
    let (Some(one), Some(five), Some(pound)) = (
        sipp_dtmf_capture("1"),
        sipp_dtmf_capture("5"),
        sipp_dtmf_capture("pound"),
    ) else {
        return;
    };
    assert_eq!(
        one.len(),
        10,
        "start, six updates and the end packet three times"
    );
    let pool = free_pool(1);
    let table = Arc::new(MediaTable::new(&media_config(pool..=pool + 3)));
    let stop = CancellationToken::new();
    let service = tokio::spawn(
        MediaService::new(table.clone(), "127.0.0.1".parse().unwrap()).run(stop.clone()),
    );
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let with_events = |port: u16| {
        format!(
            "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {port} RTP/AVP 0 101\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        )
    };
    let now = Instant::now();
    let offer = with_events(caller.local_addr().unwrap().port());
    let answer = with_events(callee.local_addr().unwrap().port());
    table
        .rewrite(now, 1, Side::Caller, offer.as_bytes())
        .unwrap();
    table
        .rewrite(now, 1, Side::Callee, answer.as_bytes())
        .unwrap();
    table.answered(1, now, None);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let caller_facing: SocketAddr = ([127, 0, 0, 1], pool).into();
    let callee_facing: SocketAddr = ([127, 0, 0, 1], pool + 2).into();
    for packet in one.iter().chain(&five).chain(&pound) {
        caller.send_to(packet, caller_facing).await.unwrap();
        let (relayed, from) = recv(&callee).await;
        assert_eq!(&relayed, packet, "relayed as is");
        assert_eq!(from, callee_facing);
    }
    // The callee's keys go back to the caller as they came, too.
    for packet in &five {
        callee.send_to(packet, callee_facing).await.unwrap();
        assert_eq!(&recv(&caller).await.0, packet);
    }
    let keys: Vec<char> = std::iter::from_fn(|| table.poll_digit(1, Side::Caller))
        .map(|d| d.as_char())
        .collect();
    assert_eq!(keys, ['1', '5', '#']);
    assert_eq!(
        table.poll_digit(1, Side::Callee).map(|d| d.as_char()),
        Some('5')
    );
    assert_eq!(table.poll_digit(1, Side::Callee), None);
    table.release(1, Instant::now());
    stop.cancel();
    service.await.unwrap();
}

#[tokio::test]
async fn a_prompt_reaches_the_caller_from_its_port_paced_at_20ms_with_the_prompts_bytes() {
    use calltrack::media::player::Numbering;
    use calltrack::media::prompt::{Codec, Prompt};
    let pool = free_pool(2);
    let table = Arc::new(MediaTable::new(&media_config(pool..=pool + 3)));
    let stop = CancellationToken::new();
    let service = tokio::spawn(
        MediaService::new(table.clone(), "127.0.0.1".parse().unwrap()).run(stop.clone()),
    );
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = caller.local_addr().unwrap().port();
    let offer = format!(
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    let now = Instant::now();
    table
        .rewrite(now, 1, Side::Caller, offer.as_bytes())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let prompt = Prompt::load("recorded", "en").unwrap();
    let numbering = Numbering {
        ssrc: 77,
        seq: 1000,
        timestamp: 5,
    };
    let started = Instant::now();
    assert_eq!(
        table.play(1, started, &prompt, numbering),
        Some(Codec::Pcma)
    );
    assert!(table.prompt_playing(1));
    let expected = prompt.encode(Codec::Pcma);
    let packets = expected.len().div_ceil(160);
    let mut payload = Vec::new();
    for i in 0..packets {
        let (packet, from) = recv(&caller).await;
        assert_eq!(
            from,
            SocketAddr::from(([127, 0, 0, 1], pool)),
            "from the caller-facing port"
        );
        let rtp = rtp_rs::RtpReader::new(&packet).unwrap();
        assert_eq!(
            (rtp.payload_type(), rtp.ssrc(), rtp.mark()),
            (8, 77, i == 0)
        );
        assert_eq!(u16::from(rtp.sequence_number()), 1000 + i as u16);
        assert_eq!(rtp.timestamp(), 5 + 160 * i as u32);
        payload.extend_from_slice(rtp.payload());
    }
    let took = started.elapsed();
    assert_eq!(
        &payload[..expected.len()],
        &expected[..],
        "the prompt's own bytes"
    );
    let paced = Duration::from_millis(20) * (packets as u32 - 1);
    assert!(
        took >= paced && took < paced + Duration::from_millis(500),
        "paced: {took:?} for {packets} packets"
    );
    let mut buf = [0u8; 2048];
    let extra = tokio::time::timeout(Duration::from_millis(200), caller.recv_from(&mut buf)).await;
    assert!(extra.is_err(), "nothing after the prompt");
    assert!(!table.prompt_playing(1));

    // A new prompt stops on request (barge-in).
    table.play(1, Instant::now(), &prompt, numbering).unwrap();
    recv(&caller).await;
    assert!(table.stop_prompt(1));
    tokio::time::sleep(Duration::from_millis(60)).await;
    while tokio::time::timeout(Duration::from_millis(10), caller.recv_from(&mut buf))
        .await
        .is_ok()
    {}
    let after = tokio::time::timeout(Duration::from_millis(200), caller.recv_from(&mut buf)).await;
    assert!(after.is_err(), "a stopped prompt sends nothing more");
    table.release(1, Instant::now());
    stop.cancel();
    service.await.unwrap();
}

/// How many of this process's threads are named `name` (other tests of this file run their
/// own relays at the same time, with one loop each: `calltrack-rtp-0`).
fn threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[tokio::test]
async fn four_streams_on_two_relay_loops_all_pass_both_ways_and_every_port_comes_back() {
    let pool = free_ports(3, 16);
    let table = Arc::new(MediaTable::new(&media_config(pool..=pool + 15)));
    let stop = CancellationToken::new();
    let service = tokio::spawn(
        MediaService::new(table.clone(), "127.0.0.1".parse().unwrap())
            .with_loops(2)
            .run(stop.clone()),
    );
    let mut calls = Vec::new();
    let now = Instant::now();
    for call in 1..=4u64 {
        let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let offer = table
            .rewrite(
                now,
                call,
                Side::Caller,
                sdp(caller.local_addr().unwrap().port()).as_bytes(),
            )
            .unwrap();
        let answer = table
            .rewrite(
                now,
                call,
                Side::Callee,
                sdp(callee.local_addr().unwrap().port()).as_bytes(),
            )
            .unwrap();
        table.answered(call, now, None);
        // The offer goes to the callee naming the callee-facing port, the answer to the caller.
        let facing = |body: &[u8]| -> SocketAddr {
            let text = String::from_utf8_lossy(body);
            let port = text
                .split("m=audio ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|port| port.parse::<u16>().ok())
                .unwrap();
            ([127, 0, 0, 1], port).into()
        };
        calls.push((caller, callee, facing(&answer), facing(&offer)));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        threads_named("calltrack-rtp-1"),
        1,
        "a second relay loop runs"
    );
    for seq in 0..10 {
        for (caller, callee, caller_facing, callee_facing) in &calls {
            caller.send_to(&rtp(seq), caller_facing).await.unwrap();
            assert_eq!(recv(callee).await, (rtp(seq), *callee_facing));
            callee.send_to(&rtp(seq), callee_facing).await.unwrap();
            assert_eq!(recv(caller).await, (rtp(seq), *caller_facing));
        }
    }
    for call in 1..=4u64 {
        let facts = table.release(call, Instant::now()).unwrap();
        assert_eq!((facts.caller.packets, facts.callee.packets), (10, 10));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while table.port_pairs().0 < 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(table.port_pairs(), (8, 8), "every port back");
    stop.cancel();
    service.await.unwrap();
    assert_eq!(
        threads_named("calltrack-rtp-1"),
        0,
        "the loops stopped with the service"
    );
}
