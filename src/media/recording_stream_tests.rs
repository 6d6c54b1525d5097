//! The streamed timeline on a virtual clock: reordering, loss, late packets, late sides,
//! timestamp wraps and jumps, SSRC changes, and memory that does not grow with the call.

use std::time::{Duration, Instant};

use super::*;

/// µ-law 0x80 decodes to +32124, 0x00 to -32124; A-law 0xaa to +32256.
const LOUD: u8 = 0x80;
const LOW: u8 = 0x00;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Feeds packets and collects every handed-out block into one stereo buffer, checking that
/// the blocks follow each other without a gap.
struct Rig {
    t0: Instant,
    il: Interleaver,
    out: Vec<i16>,
}

impl Rig {
    fn new() -> Rig {
        let t0 = Instant::now();
        Rig {
            t0,
            il: Interleaver::new(t0),
            out: Vec::new(),
        }
    }

    fn push(&mut self, at_ms: u64, callee: bool, ssrc: u32, ts: u32, byte: u8) {
        let payload = [byte; 160];
        self.il
            .push(self.t0 + ms(at_ms), callee, ssrc, ts, 0, &payload);
        while let Some(block) = self.il.poll_block() {
            self.take(block);
        }
    }

    fn take(&mut self, block: Block) {
        assert_eq!(
            block.at as usize,
            self.out.len() / 2,
            "blocks are contiguous"
        );
        self.out.extend(block.samples);
    }

    fn finish(mut self) -> (Vec<i16>, Vec<i16>, Interleaver) {
        for block in self.il.finish() {
            self.take(block);
        }
        let left = self.out.iter().step_by(2).copied().collect();
        let right = self.out.iter().skip(1).step_by(2).copied().collect();
        (left, right, self.il)
    }
}

fn all(samples: &[i16], value: i16) -> bool {
    samples.iter().all(|s| *s == value)
}

#[test]
fn lost_packets_stay_silent_and_sides_align_by_arrival() {
    let mut rig = Rig::new();
    rig.push(0, false, 1, 1000, LOUD);
    // ts 1160 is lost.
    rig.push(40, false, 1, 1320, LOUD);
    // The callee's first packet arrives 10 ms (80 frames) after the answer, in A-law.
    rig.il.push(rig.t0 + ms(10), true, 2, 7, 8, &[0xaa; 160]);
    rig.il.push(rig.t0, true, 2, 7, 101, &[0; 4]);
    let (left, right, il) = rig.finish();
    assert_eq!(left.len(), 480);
    assert!(all(&left[..160], 32124));
    assert!(all(&left[160..320], 0), "the lost packet is silence");
    assert!(all(&left[320..], 32124));
    assert!(all(&right[..80], 0));
    assert!(all(&right[80..240], 32256));
    assert_eq!(il.other_codec, 1);
}

#[test]
fn a_reordered_packet_within_the_window_lands_in_its_place() {
    let mut rig = Rig::new();
    for n in 0..20u32 {
        if n != 5 {
            rig.push(20 * u64::from(n), false, 1, n * 160, LOUD);
        }
    }
    // Packet 5 (due at 100 ms) arrives 300 ms late, inside the 400 ms window.
    rig.push(400, false, 1, 5 * 160, LOW);
    let (left, _, il) = rig.finish();
    assert_eq!(il.late, 0);
    assert!(all(&left[800..960], -32124), "in its own place");
    assert!(all(&left[960..], 32124));
    // Even a packet from before the first one of its side lands, if the window is open.
    let mut rig = Rig::new();
    rig.push(20, false, 1, 160, LOUD);
    rig.push(25, false, 1, 0, LOW);
    let (left, _, il) = rig.finish();
    assert_eq!((il.late, left.len()), (0, 320));
    assert!(all(&left[..160], -32124));
}

#[test]
fn a_packet_later_than_the_window_is_dropped_and_counted() {
    let mut rig = Rig::new();
    for n in 0..100u32 {
        if n != 3 {
            rig.push(20 * u64::from(n), false, 1, n * 160, LOUD);
        }
    }
    // Packet 3 arrives after two seconds: its place was written long ago.
    rig.push(2000, false, 1, 3 * 160, LOW);
    let (left, _, il) = rig.finish();
    assert_eq!(il.late, 1);
    assert!(all(&left[480..640], 0), "still silence");
    assert_eq!(left.len(), 100 * 160);
}

#[test]
fn a_side_that_starts_late_is_silent_until_it_speaks() {
    let mut rig = Rig::new();
    for n in 0..50u32 {
        let at = 20 * u64::from(n);
        rig.push(at, false, 1, 9000 + n * 160, LOUD);
        if at >= 500 {
            rig.push(at, true, 2, 77 + (n - 25) * 160, LOW);
        }
    }
    let (left, right, _) = rig.finish();
    assert_eq!((left.len(), right.len()), (8000, 8000));
    assert!(all(&right[..4000], 0));
    assert!(all(&right[4000..], -32124));
    assert!(all(&left, 32124));
}

#[test]
fn timestamps_run_on_across_the_32_bit_wrap() {
    let mut rig = Rig::new();
    let base = u32::MAX - 2 * 160 + 1;
    for n in 0..6u32 {
        rig.push(
            20 * u64::from(n),
            false,
            1,
            base.wrapping_add(n * 160),
            LOUD,
        );
    }
    let (left, _, il) = rig.finish();
    assert_eq!((left.len(), il.late), (960, 0));
    assert!(all(&left, 32124), "no gap and no jump at the wrap");
}

#[test]
fn a_new_ssrc_or_a_timestamp_jump_starts_at_its_arrival() {
    let mut rig = Rig::new();
    for n in 0..10u32 {
        rig.push(20 * u64::from(n), false, 1, n * 160, LOUD);
    }
    // A new source with its own random timestamps, 40 ms after the last packet.
    for n in 0..5u32 {
        rig.push(
            240 + 20 * u64::from(n),
            false,
            2,
            3_000_000_000 + n * 160,
            LOW,
        );
    }
    // The same source jumps ten seconds ahead in timestamps but not in time.
    for n in 0..5u32 {
        rig.push(
            400 + 20 * u64::from(n),
            false,
            2,
            3_000_080_000 + n * 160,
            LOUD,
        );
    }
    let (left, _, il) = rig.finish();
    assert_eq!(il.late, 0);
    assert_eq!(left.len(), 3200 + 5 * 160, "no ten seconds of silence");
    assert!(all(&left[..1600], 32124));
    assert!(all(&left[1600..1920], 0), "the 40 ms between the sources");
    assert!(all(&left[1920..2720], -32124));
    assert!(all(&left[3200..], 32124), "the jump lands at its arrival");
}

#[test]
fn memory_stays_bounded_however_long_the_call() {
    let mut rig = Rig::new();
    let mut most = 0;
    // Ten minutes of both sides, then ten of the caller alone (the callee on hold).
    for n in 0..60_000u32 {
        let at = 20 * u64::from(n);
        rig.push(at, false, 1, n * 160, LOUD);
        if n < 30_000 {
            rig.push(at, true, 2, n * 160, LOW);
        }
        most = most.max(rig.il.held());
    }
    let window = 2 * (WINDOW_FRAMES as usize + 160) + 2 * BLOCK_FRAMES;
    assert!(
        most <= window,
        "held at most {most} samples, window {window}"
    );
    assert!(rig.out.len() >= 2 * (60_000 * 160 - WINDOW_FRAMES as usize - BLOCK_FRAMES));
    let (left, right, _) = rig.finish();
    assert_eq!(left.len(), 60_000 * 160);
    assert!(all(&right[30_000 * 160..], 0));
}

#[test]
fn a_range_of_the_ring_splits_between_its_two_parts() {
    use super::split_range;
    assert_eq!(split_range(10, 2, 5), (2..7, 0..0), "all in the first part");
    assert_eq!(split_range(10, 8, 5), (8..10, 0..3), "across the seam");
    assert_eq!(
        split_range(10, 12, 5),
        (10..10, 2..7),
        "all in the second part"
    );
    assert_eq!(split_range(0, 0, 4), (0..0, 0..4), "an empty first part");
}
