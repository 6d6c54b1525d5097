//! What one direction of a stream sounded like, from the RTP headers calltrack relays:
//! packets, losses from sequence gaps (the extended sequence number of RFC 3550 A.1, 16-bit
//! wrap and restarts included), interarrival jitter (RFC 3550 §6.4.1, computed as in A.8),
//! the longest gap between two packets, and the first and last packet's arrival.
//!
//! Sans-IO: every arrival time is handed in.

use std::time::{Duration, Instant};

/// A jump of at most this many sequence numbers ahead is a loss (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// Up to this many behind is a late packet, not a restart (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u64 = 1 << 16;

/// One RTP header's fields that the statistics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub payload_type: u8,
}

/// The extended sequence state of one source (RFC 3550 A.1 `source`).
#[derive(Debug, Clone, Copy)]
struct Sequence {
    ssrc: u32,
    base: u64,
    max: u16,
    cycles: u64,
    /// A.1 `bad_seq`: after a big jump, the number that confirms a restart.
    bad: Option<u16>,
    received: u64,
}

impl Sequence {
    fn new(ssrc: u32, seq: u16) -> Sequence {
        Sequence {
            ssrc,
            base: u64::from(seq),
            max: seq,
            cycles: 0,
            bad: None,
            received: 0,
        }
    }

    /// A.1 `update_seq`; `false`: the packet is not counted (a jump waiting to be confirmed).
    fn update(&mut self, seq: u16) -> bool {
        let delta = seq.wrapping_sub(self.max);
        if delta < MAX_DROPOUT {
            if seq < self.max {
                self.cycles += SEQ_MOD;
            }
            self.max = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            if self.bad != Some(seq) {
                self.bad = Some(seq.wrapping_add(1));
            }
            return false;
        }
        self.received += 1;
        true
    }

    /// A.3: expected = extended max - base + 1.
    fn expected(&self) -> u64 {
        (self.cycles + u64::from(self.max) + 1).saturating_sub(self.base)
    }

    fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// One direction's facts, kept while the call lasts.
#[derive(Debug, Clone, Default)]
pub struct RtpStats {
    packets: u64,
    /// Losses of sources (or sequence runs) that ended: an SSRC change or a confirmed restart.
    lost_before: u64,
    source: Option<Sequence>,
    /// A.8 `transit` of the previous packet, with its payload type and clock rate.
    transit: Option<(u32, u8)>,
    /// A.8 `jitter`, in seconds (the clock rate may differ between payload types).
    jitter_secs: f64,
    first: Option<Instant>,
    last: Option<Instant>,
    max_gap: Duration,
    /// The clock rate of the last packet whose payload type had one.
    rate: Option<u32>,
}

impl RtpStats {
    /// A packet with header `h` arrived at `now`; `rate` is its payload type's clock rate.
    pub fn on_packet(&mut self, now: Instant, h: RtpHeader, rate: Option<u32>) {
        self.packets += 1;
        if let Some(last) = self.last {
            self.max_gap = self.max_gap.max(now.saturating_duration_since(last));
        }
        let first = *self.first.get_or_insert(now);
        self.last = Some(now);
        if !self.count_sequence(h) {
            return;
        }
        if let Some(rate) = rate.filter(|r| *r > 0) {
            self.rate = Some(rate);
            self.update_jitter(now.saturating_duration_since(first), h, rate);
        }
    }

    /// Sequence bookkeeping; `false` when the packet is not in sequence (no jitter sample).
    fn count_sequence(&mut self, h: RtpHeader) -> bool {
        if self.source.is_none_or(|s| s.ssrc != h.ssrc) {
            self.restart(h);
            return true;
        }
        let Some(source) = self.source.as_mut() else {
            return true;
        };
        let before = source.bad;
        if source.update(h.seq) {
            return true;
        }
        if before == Some(h.seq) {
            // Two packets in sequence after a big jump: the sender restarted (A.1).
            self.restart(h);
            return true;
        }
        false
    }

    fn restart(&mut self, h: RtpHeader) {
        if let Some(old) = self.source.take() {
            self.lost_before += old.lost();
        }
        let mut source = Sequence::new(h.ssrc, h.seq);
        source.received = 1;
        self.source = Some(source);
        self.transit = None;
    }

    /// RFC 3550 §6.4.1: `D = (Rj - Ri) - (Sj - Si)`, `J += (|D| - J) / 16`, with arrival
    /// times in the payload type's timestamp units.
    fn update_jitter(&mut self, since_first: Duration, h: RtpHeader, rate: u32) {
        let arrival = (since_first.as_secs_f64() * f64::from(rate)).round() as u64;
        // Modulo 2^32, like the timestamps themselves.
        let transit = (arrival as u32).wrapping_sub(h.timestamp);
        if let Some((previous, _)) = self.transit.filter(|(_, pt)| *pt == h.payload_type) {
            let d = f64::from(transit.wrapping_sub(previous) as i32).abs() / f64::from(rate);
            self.jitter_secs += (d - self.jitter_secs) / 16.0;
        }
        self.transit = Some((transit, h.payload_type));
    }

    /// Packets received, counted whether in sequence or not.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets never seen: expected from the sequence numbers minus received (RFC 3550 A.3,
    /// never below zero: duplicates do not make up for losses).
    pub fn lost(&self) -> u64 {
        self.lost_before + self.source.map_or(0, |s| s.lost())
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_secs * 1000.0
    }

    /// Interarrival jitter, to the microsecond.
    pub fn jitter(&self) -> Duration {
        Duration::try_from_secs_f64(self.jitter_secs).unwrap_or_default()
    }

    /// Losses as a percentage of the packets expected (0 with nothing expected).
    pub fn loss_percent(&self) -> f64 {
        let expected = self.packets.saturating_add(self.lost());
        if expected == 0 {
            return 0.0;
        }
        self.lost() as f64 * 100.0 / expected as f64
    }

    /// The clock rate (Hz) of the payload types seen, when the SDP named it.
    pub fn clock_rate(&self) -> Option<u32> {
        self.rate
    }

    /// The longest silence between two packets.
    pub fn max_gap(&self) -> Duration {
        self.max_gap
    }

    pub fn first(&self) -> Option<Instant> {
        self.first
    }

    pub fn last(&self) -> Option<Instant> {
        self.last
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
