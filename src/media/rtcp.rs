//! What an endpoint's RTCP says about the audio it receives: the reception report blocks of
//! its sender and receiver reports (RFC 3550 §6.4.1 SR, §6.4.2 RR) give the fraction lost
//! since its last report, the cumulative number lost and the interarrival jitter it measured;
//! a report block that echoes a sender report calltrack relayed gives the round-trip time of
//! the leg between calltrack and the reporter.
//!
//! Parsing is `rtcp-types` (zero-copy, length-checked up front). A compound packet that does
//! not parse is counted as malformed and relayed unchanged all the same: the relay never
//! judges what it forwards, it only declines to learn from it. Sans-IO: arrival times are
//! handed in.
//!
//! Round-trip time (§6.4.1): "the source of this reception report block can compute the
//! total round-trip propagation delay ... A − LSR − DLSR", where A is when the report arrives
//! back at the SR's sender. calltrack sits on the path: it notes when each SR from one side
//! passed (keyed by LSR, the middle 32 bits of the SR's NTP timestamp) and, when the other
//! side's report block names that LSR, takes `arrival − SR passed − DLSR`: the round trip
//! calltrack → reporter → calltrack, on calltrack's own clock (no NTP sync needed).

use std::time::{Duration, Instant};

use rtcp_types::{Compound, Packet, ReportBlock};

/// Sender reports remembered per side, for matching the other side's LSR.
const SR_MEMORY: usize = 4;
/// DLSR units per second (§6.4.1: "expressed in units of 1/65536 seconds").
const DLSR_UNITS: f64 = 65536.0;
/// A round trip above this is a mismatched LSR, not a measurement.
const MAX_RTT: Duration = Duration::from_secs(10);

/// What one side's RTCP said while the call lasted.
#[derive(Debug, Clone, Default)]
pub struct RtcpFacts {
    /// RTCP packets (compound or not) from this side.
    pub packets: u64,
    /// Packets that did not parse as RTCP (relayed unchanged).
    pub malformed: u64,
    /// Reception report blocks read.
    pub reports: u64,
    /// The highest "fraction lost" reported (§6.4.1: losses since the previous report, in
    /// 1/256ths).
    pub fraction_lost_max: u8,
    /// The last "cumulative number of packets lost" reported (24-bit signed: duplicates can
    /// make it negative, §6.4.1).
    pub cumulative_lost: Option<i32>,
    /// The last interarrival jitter reported, in the reported stream's timestamp units.
    pub jitter_units: Option<u32>,
    rtt_total: Duration,
    rtt_samples: u32,
    /// This side's last sender reports as `(LSR, when calltrack relayed it)`, newest last.
    sent: Vec<(u32, Instant)>,
}

impl RtcpFacts {
    /// Mean round trip calltrack → this side → calltrack, from its report blocks.
    pub fn rtt(&self) -> Option<Duration> {
        (self.rtt_samples > 0).then(|| self.rtt_total / self.rtt_samples)
    }

    /// Round-trip samples taken.
    pub fn rtt_samples(&self) -> u32 {
        self.rtt_samples
    }

    /// The loss this side reported as a percentage of what it expected (the highest fraction
    /// lost of any report).
    pub fn loss_percent_max(&self) -> f64 {
        f64::from(self.fraction_lost_max) * 100.0 / 256.0
    }

    fn remember_sr(&mut self, lsr: u32, now: Instant) {
        if self.sent.len() == SR_MEMORY {
            self.sent.remove(0);
        }
        self.sent.push((lsr, now));
    }

    fn sr_passed(&self, lsr: u32) -> Option<Instant> {
        self.sent
            .iter()
            .rev()
            .find(|(l, _)| *l == lsr)
            .map(|(_, t)| *t)
    }
}

/// An RTCP packet from the side whose facts are `own` arrived at `now`; `other` holds the
/// sender reports the other side sent (for the round trip). Never fails: a packet that does
/// not parse is counted in `own.malformed`.
pub fn on_rtcp(now: Instant, bytes: &[u8], own: &mut RtcpFacts, other: &RtcpFacts) {
    own.packets += 1;
    let Ok(compound) = Compound::parse(bytes) else {
        own.malformed += 1;
        return;
    };
    for packet in compound {
        match packet {
            Ok(Packet::Sr(sr)) => {
                let lsr = compact_ntp(sr.ntp_timestamp());
                own.remember_sr(lsr, now);
                sr.report_blocks()
                    .for_each(|b| on_report(now, &b, own, other));
            }
            Ok(Packet::Rr(rr)) => rr
                .report_blocks()
                .for_each(|b| on_report(now, &b, own, other)),
            Ok(_) => {}
            Err(_) => {
                own.malformed += 1;
                return;
            }
        }
    }
}

fn on_report(now: Instant, block: &ReportBlock<'_>, own: &mut RtcpFacts, other: &RtcpFacts) {
    own.reports += 1;
    own.fraction_lost_max = own.fraction_lost_max.max(block.fraction_lost());
    own.cumulative_lost = Some(signed_24(block.cumulative_lost()));
    own.jitter_units = Some(block.interarrival_jitter());
    let lsr = block.last_sender_report_timestamp();
    // LSR 0: "If no SR has been received yet, the field is set to zero" (§6.4.1).
    let Some(passed) = (lsr != 0).then(|| other.sr_passed(lsr)).flatten() else {
        return;
    };
    let dlsr = f64::from(block.delay_since_last_sender_report_timestamp()) / DLSR_UNITS;
    let rtt = now
        .saturating_duration_since(passed)
        .checked_sub(Duration::from_secs_f64(dlsr));
    if let Some(rtt) = rtt.filter(|r| *r <= MAX_RTT) {
        own.rtt_total += rtt;
        own.rtt_samples += 1;
    }
}

/// The middle 32 bits of a 64-bit NTP timestamp, as LSR carries it (§6.4.1).
fn compact_ntp(ntp: u64) -> u32 {
    ((ntp >> 16) & 0xffff_ffff) as u32
}

/// A 24-bit two's-complement field as an `i32`.
fn signed_24(v: u32) -> i32 {
    ((v << 8) as i32) >> 8
}

#[cfg(test)]
#[path = "rtcp_tests.rs"]
mod tests;
