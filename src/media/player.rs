//! The prompt player, sans-IO: encoded G.711 audio in, RTP packets out, paced by `now`
//! (`poll_transmit(now)`, `poll_timeout()`). 20 ms per packet (160 samples at 8 kHz), the
//! player's own SSRC, a sequence number that runs on across prompts, a timestamp that follows
//! the sampling clock (silence between prompts advances it, RFC 3550 §5.1), and the marker bit
//! on the first packet of each talkspurt (RFC 3551 §4.1). The media driver sends the packets
//! from the A-leg's anchored port to the caller's latched address.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::prompt::Codec;

/// One packet's audio: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
pub const FRAME: Duration = Duration::from_millis(20);
const RTP_VERSION_2: u8 = 0x80;
const MARKER: u8 = 0x80;
const HEADER_BYTES: usize = 12;

/// Where the player's RTP numbering starts (random in production, RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbering {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
}

/// The talkspurt being played.
#[derive(Debug)]
struct Spurt {
    audio: Arc<[u8]>,
    /// Bytes already sent.
    sent: usize,
    /// When the next packet is due.
    due: Instant,
    /// The next packet opens the talkspurt.
    first: bool,
}

/// One call's prompt player.
#[derive(Debug)]
pub struct Player {
    codec: Codec,
    ssrc: u32,
    seq: u16,
    /// The timestamp and send time of the last packet, once one was sent.
    last: Option<(u32, Instant)>,
    first_timestamp: u32,
    spurt: Option<Spurt>,
}

impl Player {
    pub fn new(codec: Codec, numbering: Numbering) -> Player {
        Player {
            codec,
            ssrc: numbering.ssrc,
            seq: numbering.seq,
            last: None,
            first_timestamp: numbering.timestamp,
            spurt: None,
        }
    }

    /// Starts playing `audio` (encoded for this player's codec) at `now`, replacing whatever
    /// was playing.
    pub fn play(&mut self, now: Instant, audio: Arc<[u8]>) {
        self.spurt = Some(Spurt {
            audio,
            sent: 0,
            due: now,
            first: true,
        });
    }

    /// Stops the prompt (a digit was pressed, the call is bridged or ends).
    pub fn stop(&mut self) {
        self.spurt = None;
    }

    /// Nothing (more) to play.
    pub fn is_idle(&self) -> bool {
        self.spurt.is_none()
    }

    /// When the next packet is due, if a prompt is playing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.spurt.as_ref().map(|s| s.due)
    }

    /// The next RTP packet if it is due at `now`; call again until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let spurt = self.spurt.as_mut()?;
        if now < spurt.due {
            return None;
        }
        let due = spurt.due;
        let end = (spurt.sent + FRAME_SAMPLES).min(spurt.audio.len());
        let mut payload = spurt.audio[spurt.sent..end].to_vec();
        payload.resize(FRAME_SAMPLES, silence(self.codec));
        let marker = spurt.first;
        spurt.first = false;
        spurt.sent = end;
        spurt.due = due + FRAME;
        if spurt.sent >= spurt.audio.len() {
            self.spurt = None;
        }
        Some(self.packet(due, marker, &payload))
    }

    fn packet(&mut self, due: Instant, marker: bool, payload: &[u8]) -> Vec<u8> {
        let timestamp = self.timestamp_at(due);
        self.last = Some((timestamp, due));
        let mut packet = Vec::with_capacity(HEADER_BYTES + payload.len());
        packet.push(RTP_VERSION_2);
        packet.push(self.codec.payload_type() | if marker { MARKER } else { 0 });
        packet.extend_from_slice(&self.seq.to_be_bytes());
        packet.extend_from_slice(&timestamp.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        packet
    }

    /// The sampling instant `due` on this stream's 8 kHz clock: 160 after the last packet
    /// within a talkspurt, plus the silence between talkspurts.
    fn timestamp_at(&self, due: Instant) -> u32 {
        let Some((last_ts, last_at)) = self.last else {
            return self.first_timestamp;
        };
        let elapsed = due.saturating_duration_since(last_at);
        let samples = elapsed.as_micros() * 8 / 1000;
        let samples = u32::try_from(samples).unwrap_or(u32::MAX).max(1);
        last_ts.wrapping_add(samples)
    }
}

/// The codec's byte for silence.
fn silence(codec: Codec) -> u8 {
    match codec {
        Codec::Pcmu => 0xff,
        Codec::Pcma => 0xd5,
    }
}

#[cfg(test)]
#[path = "player_tests.rs"]
mod tests;
