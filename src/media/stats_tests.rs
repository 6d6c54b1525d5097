//! RTP statistics on made-up streams: 20 ms G.711 packets (160 timestamp units at 8000 Hz).

use std::time::{Duration, Instant};

use super::*;

const PTIME: Duration = Duration::from_millis(20);

fn header(seq: u16, timestamp: u32) -> RtpHeader {
    RtpHeader {
        ssrc: 0x1234,
        seq,
        timestamp,
        payload_type: 0,
    }
}

/// Packet `i` of a stream starting at `seq0`, sent at `i * 20 ms`, arriving `delay` later.
fn feed(stats: &mut RtpStats, start: Instant, seq0: u16, i: u32, delay: Duration) {
    let seq = seq0.wrapping_add(i as u16);
    let at = start + PTIME * i + delay;
    stats.on_packet(at, header(seq, 1000 + i * 160), Some(8000));
}

#[test]
fn a_clean_stream_has_no_loss_and_no_jitter() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in 0..100 {
        feed(&mut stats, start, 7, i, Duration::ZERO);
    }
    assert_eq!((stats.packets(), stats.lost()), (100, 0));
    assert!(stats.jitter_ms() < 0.01, "{}", stats.jitter_ms());
    assert_eq!(stats.max_gap(), PTIME);
    assert_eq!(stats.first(), Some(start));
    assert_eq!(stats.last(), Some(start + PTIME * 99));
}

#[test]
fn every_twentieth_packet_dropped_is_five_percent_loss() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    // Packet 200 closes the last gap: a loss shows once a later packet arrives.
    for i in (0..=200).filter(|i| i % 20 != 19) {
        feed(&mut stats, start, 100, i, Duration::ZERO);
    }
    assert_eq!((stats.packets(), stats.lost()), (191, 10));
    assert_eq!(stats.max_gap(), PTIME * 2);
}

#[test]
fn losses_across_the_sequence_wrap_are_counted_once() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in (0..40).filter(|i| *i != 12) {
        feed(&mut stats, start, 65530, i, Duration::ZERO);
    }
    assert_eq!((stats.packets(), stats.lost()), (39, 1));
}

#[test]
fn a_late_packet_is_not_a_loss() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in [0, 1, 3, 2, 4, 5] {
        feed(&mut stats, start, 500, i, Duration::ZERO);
    }
    assert_eq!(stats.lost(), 0);
}

#[test]
fn jitter_follows_alternating_delays() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in 0..300 {
        let delay = Duration::from_millis(if i % 2 == 0 { 0 } else { 10 });
        feed(&mut stats, start, 0, i, delay);
    }
    // |D| is 10 ms for every pair, so J converges to 10 ms (RFC 3550 §6.4.1).
    let jitter = stats.jitter_ms();
    assert!((9.5..=10.5).contains(&jitter), "{jitter}");
}

#[test]
fn a_pause_is_the_longest_gap() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in 0..10 {
        feed(&mut stats, start, 0, i, Duration::ZERO);
    }
    for i in 10..20 {
        feed(&mut stats, start, 0, i, Duration::from_millis(500));
    }
    assert_eq!(stats.max_gap(), Duration::from_millis(520));
    assert_eq!(stats.lost(), 0);
}

#[test]
fn a_new_source_keeps_the_old_ones_losses() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in [0, 1, 2, 5] {
        feed(&mut stats, start, 0, i, Duration::ZERO);
    }
    let other = RtpHeader {
        ssrc: 0x9999,
        ..header(40000, 5)
    };
    stats.on_packet(start + PTIME * 6, other, Some(8000));
    assert_eq!((stats.packets(), stats.lost()), (5, 2));
}

#[test]
fn a_sender_restart_is_not_thousands_of_losses() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in 0..5 {
        feed(&mut stats, start, 0, i, Duration::ZERO);
    }
    for i in 5..10 {
        feed(&mut stats, start, 20000, i, Duration::ZERO);
    }
    assert_eq!(stats.packets(), 10);
    assert_eq!(
        stats.lost(),
        0,
        "a jump confirmed by the next packet restarts the count"
    );
}

#[test]
fn packets_without_a_known_clock_rate_count_but_add_no_jitter() {
    let (mut stats, start) = (RtpStats::default(), Instant::now());
    for i in 0..10u32 {
        let at = start + PTIME * i + Duration::from_millis(u64::from(i % 2) * 30);
        stats.on_packet(at, header(i as u16, i * 160), None);
    }
    assert_eq!(stats.packets(), 10);
    assert_eq!(stats.jitter_ms(), 0.0);
}
