//! RTCP facts from compound packets built with `rtcp-types`, and garbage that must never
//! panic.

use std::time::{Duration, Instant};

use rtcp_types::{
    CompoundBuilder, ReceiverReport, ReportBlock, RtcpPacketWriterExt, Sdes, SdesChunk, SdesItem,
    SenderReport,
};

use super::*;

const NTP: u64 = 0xe8a1_b2c3_d4e5_f607;

fn write(b: CompoundBuilder<'_>) -> Vec<u8> {
    let mut buf = vec![0; 1500];
    let n = b.write_into(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn sdes() -> rtcp_types::SdesBuilder<'static> {
    Sdes::builder().add_chunk(SdesChunk::builder(1).add_item(SdesItem::builder(1, "cname")))
}

/// An SR (with no report block) then SDES, as a sender opens its compound packets.
fn sender_report() -> Vec<u8> {
    write(
        rtcp_types::Compound::builder()
            .add_packet(SenderReport::builder(1).ntp_timestamp(NTP))
            .add_packet(sdes()),
    )
}

/// An RR with one block: fraction lost, cumulative lost (24-bit), jitter, LSR and DLSR.
fn receiver_report(fraction: u8, lost: u32, jitter: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
    let block = ReportBlock::builder(1)
        .fraction_lost(fraction)
        .cumulative_lost(lost)
        .interarrival_jitter(jitter)
        .last_sender_report_timestamp(lsr)
        .delay_since_last_sender_report_timestamp(dlsr);
    write(
        rtcp_types::Compound::builder()
            .add_packet(ReceiverReport::builder(2).add_report_block(block))
            .add_packet(sdes()),
    )
}

#[test]
fn a_receiver_report_gives_loss_and_jitter() {
    let (mut own, other) = (RtcpFacts::default(), RtcpFacts::default());
    let now = Instant::now();
    on_rtcp(now, &receiver_report(13, 40, 80, 0, 0), &mut own, &other);
    on_rtcp(now, &receiver_report(5, 42, 96, 0, 0), &mut own, &other);
    assert_eq!((own.packets, own.malformed, own.reports), (2, 0, 2));
    assert_eq!(own.fraction_lost_max, 13);
    assert!((own.loss_percent_max() - 5.078).abs() < 0.01);
    assert_eq!(own.cumulative_lost, Some(42));
    assert_eq!(own.jitter_units, Some(96));
    assert_eq!(own.rtt(), None, "LSR 0: no sender report seen yet");
}

#[test]
fn cumulative_lost_is_signed() {
    let (mut own, other) = (RtcpFacts::default(), RtcpFacts::default());
    on_rtcp(
        Instant::now(),
        &receiver_report(0, 0x00ff_fffe, 0, 0, 0),
        &mut own,
        &other,
    );
    assert_eq!(own.cumulative_lost, Some(-2), "duplicates outnumber losses");
}

#[test]
fn the_round_trip_is_arrival_minus_sr_minus_dlsr() {
    let (mut caller, mut callee) = (RtcpFacts::default(), RtcpFacts::default());
    let t0 = Instant::now();
    on_rtcp(t0, &sender_report(), &mut caller, &callee);
    assert_eq!(caller.reports, 0);
    let lsr = compact_ntp(NTP);
    // The callee held the SR 250 ms (DLSR), its report came back 330 ms after the SR passed.
    let dlsr = 65536 / 4;
    let at = t0 + Duration::from_millis(330);
    on_rtcp(
        at,
        &receiver_report(0, 0, 0, lsr, dlsr),
        &mut callee,
        &caller,
    );
    let rtt = callee.rtt().unwrap();
    assert!(
        rtt.abs_diff(Duration::from_millis(80)) < Duration::from_millis(1),
        "{rtt:?}"
    );
    // An LSR calltrack never saw relayed is no sample.
    on_rtcp(at, &receiver_report(0, 0, 0, 77, 0), &mut callee, &caller);
    assert_eq!(callee.rtt_samples(), 1);
}

#[test]
fn a_dlsr_longer_than_the_wait_is_no_sample() {
    let (mut caller, mut callee) = (RtcpFacts::default(), RtcpFacts::default());
    let t0 = Instant::now();
    on_rtcp(t0, &sender_report(), &mut caller, &callee);
    let report = receiver_report(0, 0, 0, compact_ntp(NTP), 65536);
    on_rtcp(
        t0 + Duration::from_millis(10),
        &report,
        &mut callee,
        &caller,
    );
    assert_eq!(callee.rtt(), None);
}

#[test]
fn malformed_packets_are_counted_never_read() {
    let (mut own, other) = (RtcpFacts::default(), RtcpFacts::default());
    let now = Instant::now();
    let good = receiver_report(1, 1, 1, 0, 0);
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 3);
    let mut bad_version = good.clone();
    bad_version[0] = (bad_version[0] & 0x3f) | 0x40;
    for bytes in [
        &[][..],
        &[0x80],
        &truncated,
        &bad_version,
        b"not rtcp at all",
    ] {
        on_rtcp(now, bytes, &mut own, &other);
    }
    assert_eq!((own.packets, own.malformed, own.reports), (5, 5, 0));
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    // A small deterministic fuzz: xorshift noise, and every single-byte mutation and every
    // truncation of a valid compound packet.
    let (mut own, mut other) = (RtcpFacts::default(), RtcpFacts::default());
    let now = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = [0u8; 96];
    for round in 0..20_000 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // Half the rounds look like RTCP v2 SR/RR so the inner parsers run too.
        if round % 2 == 0 {
            buf[0] = 0x80 | (buf[0] & 0x3f);
            buf[1] = 200 + (buf[1] % 2);
        }
        let len = (x as usize) % buf.len();
        on_rtcp(now, &buf[..len], &mut own, &other);
    }
    let valid = [sender_report(), receiver_report(3, 9, 27, 1, 2)].concat();
    for i in 0..valid.len() {
        on_rtcp(now, &valid[..i], &mut own, &other);
        for v in [0x00, 0xff, 0x80, 0x7f] {
            let mut m = valid.clone();
            m[i] = v;
            on_rtcp(now, &m, &mut other, &own);
        }
    }
    assert!(own.malformed > 0);
}
