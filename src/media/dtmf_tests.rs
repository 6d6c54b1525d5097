//! RFC 4733 events as senders send them: start, updates, three end packets, loss, garbage.

use super::*;

const TE: u8 = 101;

fn event_packet(seq: u16, ts: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut p = vec![0x80, TE];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    p.extend_from_slice(&[event, if end { 0x8a } else { 0x0a }]);
    p.extend_from_slice(&duration.to_be_bytes());
    p
}

/// One key press: a start packet (marker), updates, and the three end packets.
fn press(seq: &mut u16, ts: u32, event: u8) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    for (i, duration) in [160u16, 320, 480, 640].into_iter().enumerate() {
        let mut p = event_packet(*seq, ts, event, false, duration);
        if i == 0 {
            p[1] |= 0x80;
        }
        packets.push(p);
        *seq = seq.wrapping_add(1);
    }
    for _ in 0..3 {
        packets.push(event_packet(*seq, ts, event, true, 800));
        *seq = seq.wrapping_add(1);
    }
    packets
}

fn digits(detector: &mut DtmfDetector, packets: &[Vec<u8>]) -> String {
    packets
        .iter()
        .filter_map(|p| detector.on_rtp(p))
        .map(|d| d.as_char())
        .collect()
}

#[test]
fn each_press_counts_once_with_its_three_end_packets() {
    let mut seq = 100;
    let mut packets = press(&mut seq, 8000, 1);
    packets.extend(press(&mut seq, 16_000, 1));
    packets.extend(press(&mut seq, 24_000, 11));
    packets.extend(press(&mut seq, 32_000, 10));
    let mut detector = DtmfDetector::new(Some(TE));
    assert_eq!(digits(&mut detector, &packets), "11#*");
}

#[test]
fn a_press_whose_start_was_lost_counts_from_its_end_packets() {
    let mut seq = 0;
    let packets: Vec<Vec<u8>> = press(&mut seq, 4000, 5).into_iter().skip(4).collect();
    let mut detector = DtmfDetector::new(Some(TE));
    assert_eq!(digits(&mut detector, &packets), "5");
}

#[test]
fn audio_other_payload_types_and_an_unnegotiated_event_are_not_digits() {
    let mut seq = 0;
    let packets = press(&mut seq, 4000, 7);
    assert_eq!(digits(&mut DtmfDetector::new(None), &packets), "");
    assert_eq!(digits(&mut DtmfDetector::new(Some(96)), &packets), "");
    let mut audio = event_packet(1, 1, 7, false, 0);
    audio[1] = 0;
    assert_eq!(digits(&mut DtmfDetector::new(Some(TE)), &[audio]), "");
    let mut detector = DtmfDetector::new(None);
    detector.set_payload_type(Some(TE));
    assert_eq!(digits(&mut detector, &packets), "7");
}

#[test]
fn flash_and_tones_are_not_keys() {
    let mut seq = 0;
    let mut packets = press(&mut seq, 4000, 16);
    packets.extend(press(&mut seq, 8000, 70));
    packets.extend(press(&mut seq, 12_000, 15));
    assert_eq!(digits(&mut DtmfDetector::new(Some(TE)), &packets), "D");
}

#[test]
fn malformed_packets_never_panic_and_are_not_digits() {
    let mut detector = DtmfDetector::new(Some(TE));
    let good = event_packet(1, 1, 3, false, 160);
    for len in 0..good.len() {
        let _ = detector.on_rtp(&good[..len]);
    }
    assert_eq!(detector.on_rtp(&good[..14]), None, "a 2-byte payload");
    let mut v1 = good.clone();
    v1[0] = 0x40;
    assert_eq!(detector.on_rtp(&v1), None, "RTP version 1");
    let mut csrc = good.clone();
    csrc[0] = 0x8f;
    assert_eq!(detector.on_rtp(&csrc), None, "15 CSRCs that are not there");
    assert_eq!(detector.on_rtp(&[0xff; 64]), None);
    assert_eq!(detector.on_rtp(&good).map(|d| d.as_char()), Some('3'));
}

#[test]
fn digits_convert_between_events_and_characters() {
    for code in 0..16 {
        let digit = Digit::from_event(code).unwrap();
        assert_eq!(digit.event(), code);
        assert_eq!(Digit::from_char(digit.as_char()), Some(digit));
    }
    assert_eq!(Digit::from_char('a').map(|d| d.as_char()), Some('A'));
    assert_eq!(Digit::from_char('E'), None);
    assert_eq!(Digit::from_char('é'), None);
    assert_eq!(Digit::from_event(16), None);
}
