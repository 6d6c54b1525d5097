//! A relayed call's voice-quality facts from its streams, when the call ends: packets and
//! losses summed over the streams, the worst jitter and gap, and one-way audio (one side sent
//! no RTP on any stream for longer than `[media] one_way_audio_secs` after the answer).

use std::time::{Duration, Instant};

use super::stream::{Side, StreamRelay};
use crate::call::voice::{DirectionQuality, VoiceQuality};

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

fn direction(streams: &[&StreamRelay], side: Side) -> DirectionQuality {
    let mut q = DirectionQuality::default();
    for stream in streams {
        let rtp = &stream.facts(side).rtp;
        q.packets += rtp.packets();
        q.lost += rtp.lost();
        q.jitter_ms = q.jitter_ms.max(whole(rtp.jitter_ms()));
        let gap = u32::try_from(rtp.max_gap().as_millis()).unwrap_or(u32::MAX);
        q.max_gap_ms = q.max_gap_ms.max(gap);
    }
    q
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
