//! A relayed call's voice-quality facts from its streams, when the call ends: packets and
//! losses summed over the streams, the worst jitter and gap, talk time, one-way audio (one
//! side sent no RTP on any stream for longer than `[media] one_way_audio_secs` after the
//! answer), what the other side's RTCP reported about each direction, and an estimated MOS
//! per direction (`mos.rs`, G.711 streams only).
//!
//! The MOS of the audio a party sends, as the other party hears it, takes the worse of what
//! calltrack measured on the way in and what the receiver reported end to end: loss is the
//! larger of calltrack's sequence-gap loss and the receiver's cumulative lost over the
//! packets expected; jitter the larger of the two; the round trip is the sum of both legs'
//! measured round trips (a leg without RTCP counts zero, so the score is then an upper bound).

use std::time::{Duration, Instant};

use super::mos::{MosInputs, estimate};
use super::rtcp::RtcpFacts;
use super::stats::RtpStats;
use super::stream::{Side, StreamRelay};
use crate::call::voice::{DirectionQuality, ReportedQuality, VoiceQuality};

/// Facts of a call's streams as of `now`.
pub fn voice_quality(streams: &[&StreamRelay], now: Instant, one_way: Duration) -> VoiceQuality {
    let silent =
        |side: Side| !streams.is_empty() && streams.iter().all(|s| s.silent(side, now, one_way));
    VoiceQuality {
        caller: direction(streams, Side::Caller),
        callee: direction(streams, Side::Callee),
        one_way_audio: silent(Side::Caller) || silent(Side::Callee),
        recording: None,
    }
}

/// What `side` sent, over every stream.
fn direction(streams: &[&StreamRelay], side: Side) -> DirectionQuality {
    let mut q = DirectionQuality::default();
    for stream in streams {
        let facts = stream.facts(side);
        let rtp = &facts.rtp;
        q.packets += rtp.packets();
        q.lost += rtp.lost();
        q.jitter_ms = q.jitter_ms.max(whole(rtp.jitter_ms()));
        q.jitter_us = q.jitter_us.max(micros(rtp.jitter()));
        q.max_gap_ms = q.max_gap_ms.max(millis(rtp.max_gap()));
        q.media_secs = q.media_secs.max(facts.talk.media_secs());
        q.voice_secs = max_opt(q.voice_secs, facts.talk.voice_secs());
        let heard_by = &stream.facts(side.other()).rtcp;
        q.reported = max_reported(q.reported, reported(heard_by, rtp));
        let rtts = [&facts.rtcp, heard_by].map(RtcpFacts::rtt);
        if let Some(mos) = direction_mos(rtp, heard_by, rtts, facts.talk.voice_secs().is_some()) {
            q.mos_x100 = Some(q.mos_x100.map_or(mos, |m| m.min(mos)));
        }
    }
    q
}

/// What the receiver's RTCP said about `rtp` (the stream it received).
fn reported(rtcp: &RtcpFacts, rtp: &RtpStats) -> Option<ReportedQuality> {
    (rtcp.reports > 0).then(|| ReportedQuality {
        lost: i64::from(rtcp.cumulative_lost.unwrap_or(0)),
        loss_permille: (rtcp.loss_percent_max() * 10.0).round() as u32,
        jitter_us: jitter(rtcp, rtp).map(micros),
        rtt_ms: rtcp.rtt().map(millis),
    })
}

/// The reported jitter in time, from the stream's clock rate.
fn jitter(rtcp: &RtcpFacts, rtp: &RtpStats) -> Option<Duration> {
    let (units, rate) = (rtcp.jitter_units?, rtp.clock_rate()?);
    Some(Duration::from_secs_f64(f64::from(units) / f64::from(rate)))
}

/// The estimated MOS × 100 of a G.711 direction with audio; see the module comment.
fn direction_mos(
    rtp: &RtpStats,
    receiver: &RtcpFacts,
    rtts: [Option<Duration>; 2],
    g711: bool,
) -> Option<u32> {
    if !g711 || rtp.packets() == 0 {
        return None;
    }
    let expected = rtp.packets().saturating_add(rtp.lost()).max(1);
    let reported_lost = receiver.cumulative_lost.unwrap_or(0).max(0);
    let reported_percent = f64::from(reported_lost) * 100.0 / expected as f64;
    let reported_jitter = jitter(receiver, rtp).unwrap_or_default();
    let rtt = rtts.iter().flatten().copied().reduce(|a, b| a + b);
    let inputs = MosInputs {
        loss_percent: rtp.loss_percent().max(reported_percent),
        jitter: rtp.jitter().max(reported_jitter),
        rtt,
        plc: true,
    };
    Some((estimate(&inputs) * 100.0).round() as u32)
}

fn max_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Of two streams' reports, the worse (more lost).
fn max_reported(a: Option<ReportedQuality>, b: Option<ReportedQuality>) -> Option<ReportedQuality> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.lost > a.lost { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Milliseconds rounded to the nearest whole one (negative or NaN: 0).
fn whole(ms: f64) -> u32 {
    if ms.is_finite() && ms > 0.0 {
        ms.round().min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::stream::{Socket, StreamPorts};

    #[test]
    fn an_unanswered_or_silent_free_call_is_not_one_way() {
        let now = Instant::now();
        let mut s = StreamRelay::new(StreamPorts {
            caller: 30000,
            callee: 30002,
        });
        let q = voice_quality(&[&s], now, Duration::from_secs(5));
        assert!(!q.one_way_audio, "not answered yet");
        s.answered(now);
        let caller = Socket {
            facing: Side::Caller,
            rtcp: false,
        };
        let source = "192.0.2.1:4000".parse().unwrap();
        let packet = crate::media::stream::tests::rtp(1, 0);
        s.handle_packet(now, caller, source, &packet);
        let later = now + Duration::from_secs(10);
        let q = voice_quality(&[&s], later, Duration::from_secs(5));
        assert!(q.one_way_audio, "the callee never sent");
        assert_eq!(q.caller.packets, 1);
        assert_eq!(q.callee, DirectionQuality::default());
    }

    #[test]
    fn milliseconds_round() {
        assert_eq!(whole(0.4), 0);
        assert_eq!(whole(0.6), 1);
        assert_eq!(whole(f64::NAN), 0);
        assert_eq!(whole(-3.0), 0);
    }
}
