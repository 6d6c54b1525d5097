//! A stream between a caller behind NAT and a PBX, packet by packet.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::media::sdp::parse;

const CALLER_SDP: &str = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const CALLEE_SDP: &str = "v=0\r\nc=IN IP4 10.1.1.5\r\nm=audio 6000 RTP/AVP 0\r\na=rtcp:6001\r\n";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

pub(crate) fn rtp(seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    p.extend_from_slice(&[0xff; 160]);
    p
}

const CALLER_RTP: Socket = Socket {
    facing: Side::Caller,
    rtcp: false,
};
const CALLEE_RTP: Socket = Socket {
    facing: Side::Callee,
    rtcp: false,
};

fn stream() -> StreamRelay {
    let mut s = StreamRelay::new(StreamPorts {
        caller: 30000,
        callee: 30002,
    });
    let caller = parse(CALLER_SDP.as_bytes()).unwrap();
    s.learn(Side::Caller, &caller.media[0], caller.connection_of(0));
    let callee = parse(CALLEE_SDP.as_bytes()).unwrap();
    s.learn(Side::Callee, &callee.media[0], callee.connection_of(0));
    s
}

#[test]
fn caller_packets_go_to_the_callees_sdp_address_from_the_callee_facing_socket() {
    let mut s = stream();
    let now = Instant::now();
    let out = s.handle_packet(now, CALLER_RTP, addr("192.0.2.10:4000"), &rtp(1, 0));
    assert_eq!(
        out,
        Some(Forward {
            from: CALLEE_RTP,
            to: addr("10.1.1.5:6000")
        })
    );
    assert_eq!(s.facts(Side::Caller).rtp.packets(), 1);
}

#[test]
fn a_caller_behind_nat_is_answered_where_its_packets_come_from() {
    let mut s = stream();
    let now = Instant::now();
    let nat = addr("198.51.100.1:61000");
    s.handle_packet(now, CALLER_RTP, nat, &rtp(1, 0));
    let back = s.handle_packet(now, CALLEE_RTP, addr("10.1.1.5:6000"), &rtp(9, 0));
    assert_eq!(back.map(|f| (f.from, f.to)), Some((CALLER_RTP, nat)));
}

#[test]
fn a_third_address_is_dropped_and_counted() {
    let mut s = stream();
    let now = Instant::now();
    s.handle_packet(now, CALLER_RTP, addr("192.0.2.10:4000"), &rtp(1, 0));
    let out = s.handle_packet(now, CALLER_RTP, addr("203.0.113.66:4000"), &rtp(2, 160));
    assert_eq!(out, None);
    assert_eq!(s.facts(Side::Caller).dropped, 1);
    assert_eq!(s.facts(Side::Caller).rtp.packets(), 1);
}

#[test]
fn rtcp_goes_to_the_rtcp_port_and_is_not_measured_as_rtp() {
    let mut s = stream();
    let now = Instant::now();
    let on = Socket {
        facing: Side::Caller,
        rtcp: true,
    };
    let report = [0x81, 201, 0, 7, 0, 0, 0, 1];
    let out = s.handle_packet(now, on, addr("192.0.2.10:4001"), &report);
    assert_eq!(out.map(|f| f.to), Some(addr("10.1.1.5:6001")));
    assert_eq!(s.facts(Side::Caller).rtcp.packets, 1);
    assert_eq!(s.facts(Side::Caller).rtp.packets(), 0);
    // Muxed on the RTP port (RFC 5761) it is still RTCP.
    s.handle_packet(now, CALLER_RTP, addr("192.0.2.10:4000"), &report);
    assert_eq!(s.facts(Side::Caller).rtcp.packets, 2);
    assert_eq!(s.facts(Side::Caller).rtp.packets(), 0);
}

#[test]
fn malformed_packets_are_counted_and_relayed() {
    let mut s = stream();
    let out = s.handle_packet(Instant::now(), CALLER_RTP, addr("192.0.2.10:4000"), b"junk");
    assert!(out.is_some());
    assert_eq!(s.facts(Side::Caller).malformed, 1);
}

#[test]
fn nothing_is_sent_to_a_side_on_hold_that_never_sent() {
    let mut s = StreamRelay::new(StreamPorts {
        caller: 30000,
        callee: 30002,
    });
    let hold = parse(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
    s.learn(Side::Callee, &hold.media[0], hold.connection_of(0));
    let out = s.handle_packet(
        Instant::now(),
        CALLER_RTP,
        addr("192.0.2.10:4000"),
        &rtp(1, 0),
    );
    assert_eq!(out, None);
}

#[test]
fn a_side_silent_after_the_answer_is_one_way_audio() {
    let mut s = stream();
    let t0 = Instant::now();
    s.answered(t0);
    let limit = Duration::from_secs(5);
    for i in 0..300u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        s.handle_packet(
            at,
            CALLER_RTP,
            addr("192.0.2.10:4000"),
            &rtp(i, u32::from(i) * 160),
        );
    }
    let end = t0 + Duration::from_secs(6);
    assert!(!s.silent(Side::Caller, end, limit));
    assert!(s.silent(Side::Callee, end, limit));
    assert!(!s.silent(Side::Callee, t0 + Duration::from_secs(4), limit));
}

/// One RFC 4733 key press as phones send it: three updates, then the end packet three times.
fn key_press(seq: u16, ts: u32, event: u8) -> Vec<Vec<u8>> {
    let packet = |i: u16, end: bool, duration: u16| {
        let mut p = vec![0x80, if i == 0 { 0x80 | 101 } else { 101 }];
        p.extend_from_slice(&seq.wrapping_add(i).to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        p.extend_from_slice(&[event, if end { 0x8a } else { 0x0a }]);
        p.extend_from_slice(&duration.to_be_bytes());
        p
    };
    let mut packets: Vec<Vec<u8>> = (0..3).map(|i| packet(i, false, 160 * (i + 1))).collect();
    packets.extend((3..6).map(|i| packet(i, true, 640)));
    packets
}

#[test]
fn telephone_events_are_relayed_packet_for_packet_and_each_key_is_noted_once() {
    let mut s = stream();
    let now = Instant::now();
    let caller = addr("192.0.2.10:4000");
    let mut presses = key_press(10, 800, 4);
    presses.extend(key_press(16, 2400, 11));
    for packet in &presses {
        let before = packet.clone();
        let out = s.handle_packet(now, CALLER_RTP, caller, packet);
        assert_eq!(
            out.map(|f| f.to),
            Some(addr("10.1.1.5:6000")),
            "every event packet is relayed"
        );
        assert_eq!(packet, &before);
    }
    let keys: Vec<char> = std::iter::from_fn(|| s.poll_digit(Side::Caller))
        .map(|d| d.as_char())
        .collect();
    assert_eq!(keys, vec!['4', '#']);
    assert_eq!(s.poll_digit(Side::Callee), None);
    // The callee's keys are noted on its own side.
    for packet in key_press(1, 80, 9) {
        s.handle_packet(now, CALLEE_RTP, addr("10.1.1.5:6000"), &packet);
    }
    assert_eq!(s.poll_digit(Side::Callee).map(|d| d.as_char()), Some('9'));
}

#[test]
fn events_of_the_negotiated_type_never_decide_the_recordings_format() {
    use crate::media::recording::{Format, Note, Recorder};
    let mut s = stream();
    let now = Instant::now();
    s.answered(now);
    let relay = [addr("127.0.0.1:30000"), addr("127.0.0.1:30002")];
    s.record(Recorder::new("c", now, None, relay));
    let caller = addr("192.0.2.10:4000");
    // A telephone-event of the SDP's type 101 carrying two events (8 bytes), then PCMU.
    let mut event = vec![0x80, 0x80 | 101, 0, 1, 0, 0, 0, 0];
    event.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    event.extend_from_slice(&[4, 0x0a, 0, 160, 4, 0x8a, 1, 64]);
    s.handle_packet(now, CALLER_RTP, caller, &event);
    s.handle_packet(now, CALLER_RTP, caller, &rtp(2, 160));
    let Some(Note::End { tail, .. }) = s.finish_recording() else {
        panic!("the PCMU was recorded");
    };
    assert_eq!(tail.format, Format::Wav);
    assert_eq!(
        tail.len(),
        1,
        "the event before the first audio is not kept"
    );
}
