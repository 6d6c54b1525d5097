//! Talk time measured by media, one side at a time, counted in whole seconds after the
//! answer (second `k` is `[answer + k s, answer + (k + 1) s)`):
//!
//! - **media seconds**: seconds in which at least one RTP packet arrived from the side. With
//!   endpoints that send continuously (most G.711 phones and trunks) this is the answered
//!   duration minus outages; with silence suppression (VAD/DTX, RFC 3389 comfort noise) it
//!   comes close to the time the side spoke.
//! - **voice seconds**, G.711 only (PCMU 0, PCMA 8): seconds in which the side's decoded
//!   audio was above [`VOICE_THRESHOLD_DBOV`] for at least [`VOICED_MS_PER_SECOND`]: a
//!   packet is voiced when its mean power is above the threshold. This is an energy
//!   detector, not speech recognition: loud background noise, music on hold or a tone count
//!   as voice, and quiet speech on a poor line may not.
//!
//! Both are O(1) in memory per side (the current second and two counters) and cost one pass
//! over a G.711 payload per packet. Sans-IO: arrival times are handed in.

use std::time::Instant;

use super::g711;

/// A packet is voiced above this mean power, dB relative to a full-scale sine's peak
/// (dBov, as G.711/G.168 level meters use; typical speech is −20 to −30 dBov, an idle
/// line below −55).
pub const VOICE_THRESHOLD_DBOV: f64 = -40.0;
/// A second counts as voice with at least this many milliseconds of voiced packets.
pub const VOICED_MS_PER_SECOND: u32 = 200;
/// The mean-square linear sample value at [`VOICE_THRESHOLD_DBOV`]: (32768 · 10^(−40/20))².
const THRESHOLD_POWER: u64 = 107_374;
/// G.711's sampling rate: one payload byte is 1/8 ms.
const G711_SAMPLES_PER_MS: u32 = 8;

/// One side's talk-time counters.
#[derive(Debug, Clone, Default)]
pub struct TalkMeter {
    /// The second being filled: its index after the answer, and voiced ms in it so far.
    current: Option<(u64, u32)>,
    /// Whether the side sent any G.711 after the answer (else voice seconds mean nothing).
    g711: bool,
    media_secs: u32,
    voice_secs: u32,
}

impl TalkMeter {
    /// An RTP packet with `payload_type` and `payload` arrived at `now`, the call having been
    /// answered at `answered`.
    pub fn on_packet(&mut self, answered: Instant, now: Instant, payload_type: u8, payload: &[u8]) {
        let Some(since) = now.checked_duration_since(answered) else {
            return;
        };
        let second = since.as_secs();
        match self.current {
            Some((s, _)) if s == second => {}
            Some((s, _)) if s > second => return,
            _ => {
                self.close_second();
                self.media_secs = self.media_secs.saturating_add(1);
                self.current = Some((second, 0));
            }
        }
        let voiced_ms = match payload_type {
            0 | 8 => {
                self.g711 = true;
                voiced_ms(payload_type, payload)
            }
            _ => 0,
        };
        if let Some((_, ms)) = self.current.as_mut() {
            *ms = ms.saturating_add(voiced_ms);
        }
    }

    fn close_second(&mut self) {
        if self
            .current
            .take()
            .is_some_and(|(_, ms)| ms >= VOICED_MS_PER_SECOND)
        {
            self.voice_secs = self.voice_secs.saturating_add(1);
        }
    }

    /// Seconds after the answer with RTP from this side.
    pub fn media_secs(&self) -> u32 {
        self.media_secs
    }

    /// Seconds after the answer with G.711 voice from this side; `None` if it sent no G.711.
    pub fn voice_secs(&self) -> Option<u32> {
        let open = self
            .current
            .is_some_and(|(_, ms)| ms >= VOICED_MS_PER_SECOND);
        self.g711
            .then(|| self.voice_secs.saturating_add(u32::from(open)))
    }
}

/// The packet's length in ms if its mean power is above the threshold, else 0.
fn voiced_ms(payload_type: u8, payload: &[u8]) -> u32 {
    if payload.is_empty() {
        return 0;
    }
    let squares = if payload_type == 0 {
        &ULAW_SQUARES
    } else {
        &ALAW_SQUARES
    };
    let power: u64 = payload
        .iter()
        .map(|&b| u64::from(squares[usize::from(b)]))
        .sum();
    let samples = payload.len() as u64;
    if power / samples > THRESHOLD_POWER {
        u32::try_from(samples).unwrap_or(u32::MAX) / G711_SAMPLES_PER_MS
    } else {
        0
    }
}

/// Each G.711 byte's squared linear sample (at most 32768², within a `u32`), so a packet's
/// power is a table look-up and an add per byte, on the relay thread.
static ULAW_SQUARES: [u32; 256] = squares(false);
static ALAW_SQUARES: [u32; 256] = squares(true);

const fn squares(alaw: bool) -> [u32; 256] {
    let samples = g711::table(alaw);
    let mut out = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let s = samples[i] as i32;
        out[i] = (s * s) as u32;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 20 ms of PCMU: a 1 kHz tone at about −10 dBov, or silence (0xff is µ-law zero).
    fn pcmu(loud: bool) -> Vec<u8> {
        if !loud {
            return vec![0xff; 160];
        }
        (0..160)
            .map(|i| {
                let x = (f64::from(i) * std::f64::consts::TAU / 8.0).sin() * 10_000.0;
                ulaw_encode(x as i16)
            })
            .collect()
    }

    /// A plain G.711 µ-law encoder (the decoder's inverse, for making test audio).
    fn ulaw_encode(sample: i16) -> u8 {
        const BIAS: i32 = 0x84;
        let mut s = i32::from(sample);
        let sign = if s < 0 {
            s = -s;
            0x80
        } else {
            0
        };
        s = (s + BIAS).min(0x7fff);
        let exp = (0..8).rev().find(|e| s & (0x80 << e) != 0).unwrap_or(0);
        let mantissa = (s >> (exp + 3)) & 0x0f;
        !(sign | (exp << 4) as u8 | mantissa as u8)
    }

    #[test]
    fn each_bytes_square_is_its_decoded_sample_squared() {
        for b in 0..=255u8 {
            let (u, a) = (i64::from(g711::ulaw(b)), i64::from(g711::alaw(b)));
            assert_eq!(
                i64::from(ULAW_SQUARES[usize::from(b)]),
                u * u,
                "µ-law {b:#04x}"
            );
            assert_eq!(
                i64::from(ALAW_SQUARES[usize::from(b)]),
                a * a,
                "A-law {b:#04x}"
            );
        }
    }

    #[test]
    fn the_encoder_round_trips() {
        for s in [-20_000i16, -1000, 0, 1000, 20_000] {
            let back = g711::ulaw(ulaw_encode(s));
            assert!((i32::from(back) - i32::from(s)).abs() < 700, "{s} {back}");
        }
    }

    #[test]
    fn a_tone_is_voice_and_silence_is_only_media() {
        let answered = Instant::now();
        let mut m = TalkMeter::default();
        // 3 s of tone, then 2 s of silence, 20 ms packets.
        for i in 0..250u32 {
            let at = answered + Duration::from_millis(u64::from(i) * 20);
            m.on_packet(answered, at, 0, &pcmu(i < 150));
        }
        assert_eq!(m.media_secs(), 5);
        assert_eq!(m.voice_secs(), Some(3));
    }

    #[test]
    fn a_second_needs_200_ms_of_voice() {
        let answered = Instant::now();
        let mut m = TalkMeter::default();
        // 9 loud packets (180 ms) in second 0, 10 (200 ms) in second 1.
        for i in 0..100u32 {
            let at = answered + Duration::from_millis(u64::from(i) * 20);
            let loud = i < 9 || (50..60).contains(&i);
            m.on_packet(answered, at, 0, &pcmu(loud));
        }
        assert_eq!(m.voice_secs(), Some(1));
    }

    #[test]
    fn gaps_and_packets_before_the_answer_do_not_count() {
        let answered = Instant::now() + Duration::from_secs(5);
        let mut m = TalkMeter::default();
        m.on_packet(answered, answered - Duration::from_secs(1), 0, &pcmu(true));
        for s in [0u64, 1, 7, 8] {
            m.on_packet(answered, answered + Duration::from_secs(s), 96, &[1, 2, 3]);
        }
        assert_eq!(m.media_secs(), 4);
        assert_eq!(m.voice_secs(), None, "no G.711: voice is unknown");
    }
}
