//! A call's recording, sans-IO: each side's G.711 payloads from the answer on, decoded and
//! laid on one timeline by RTP timestamp (silence and lost packets keep their place as
//! silence), then interleaved into 8 kHz stereo, caller left, callee right. The two sides are
//! aligned by when their first packet arrived after the answer. A call that carried no G.711
//! keeps its other packets whole instead, for a pcap (`recording_pcap.rs`). Writing the file
//! is `recording_file.rs`'s, on the driver's blocking threads.

use std::time::Instant;

use super::g711;
pub use super::recording_pcap::{PacketLog, PcapAddrs};

/// G.711 runs at 8000 samples per second, one sample per payload byte (RFC 3551 §4.5.14).
pub const SAMPLE_RATE: u32 = 8000;
/// At most one hour per side is kept (58 MB), so a forgotten call cannot eat the memory.
const MAX_SAMPLES: usize = SAMPLE_RATE as usize * 3600;

/// One side's decoded audio.
#[derive(Debug, Clone, Default)]
pub struct Track {
    base: Option<u32>,
    first_at: Option<Instant>,
    samples: Vec<i16>,
    /// Packets of another codec were seen: they are not in the recording.
    pub other_codec: bool,
}

impl Track {
    /// A packet of payload type `pt` with RTP timestamp `ts` arrived at `at`.
    pub fn push(&mut self, at: Instant, ts: u32, pt: u8, payload: &[u8]) {
        let decode: fn(u8) -> i16 = match pt {
            0 => g711::ulaw,
            8 => g711::alaw,
            _ => {
                self.other_codec = true;
                return;
            }
        };
        let base = *self.base.get_or_insert(ts);
        self.first_at.get_or_insert(at);
        // A packet from before the first (reordered) wraps far ahead and is left out.
        let Ok(offset) = usize::try_from(ts.wrapping_sub(base)) else {
            return;
        };
        let end = offset.saturating_add(payload.len()).min(MAX_SAMPLES);
        if offset >= end {
            return;
        }
        if self.samples.len() < end {
            self.samples.resize(end, 0);
        }
        for (slot, byte) in self.samples[offset..end].iter_mut().zip(payload) {
            *slot = decode(*byte);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Where this track starts on the call's timeline, in samples after `answered`.
    fn lead(&self, answered: Instant) -> usize {
        let since = self
            .first_at
            .map_or(0.0, |t| t.saturating_duration_since(answered).as_secs_f64());
        (since * f64::from(SAMPLE_RATE)).round() as usize
    }
}

/// What a recorded stream keeps from the answer on: G.711 decoded per side, every other
/// payload type's packets whole (for a pcap when the call carried no G.711 at all).
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Caller, callee.
    pub tracks: [Track; 2],
    pub packets: PacketLog,
}

impl Recorder {
    /// An RTP packet (`bytes`, whose header says `pt` and `ts`) that `callee` (or the caller)
    /// sent, arriving at `at`.
    pub fn push(
        &mut self,
        at: Instant,
        callee: bool,
        ts: u32,
        pt: u8,
        bytes: &[u8],
        payload: &[u8],
    ) {
        if matches!(pt, 0 | 8) {
            self.tracks[usize::from(callee)].push(at, ts, pt, payload);
        } else {
            self.packets.push(at, callee, bytes);
        }
    }

    /// Nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.tracks.iter().all(Track::is_empty) && self.packets.is_empty()
    }
}

/// What a recording's file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 8 kHz 16-bit stereo, caller left, callee right.
    Wav,
    /// The call's RTP as received, libpcap format (other codecs).
    Pcap,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Pcap => "pcap",
        }
    }
}

/// A finished recording, for the driver to write.
#[derive(Debug)]
pub struct Recording {
    /// The call's id: the file is `<dir>/<id>.<wav|pcap>`.
    pub id: String,
    pub dir: std::path::PathBuf,
    pub captured: Recorder,
    pub answered: Instant,
    /// Who sent what, for the pcap's IP and UDP headers.
    pub addrs: PcapAddrs,
}

impl Recording {
    /// A WAV when any G.711 was heard, else a pcap of the other packets.
    pub fn format(&self) -> Format {
        if self.captured.tracks.iter().all(Track::is_empty) {
            Format::Pcap
        } else {
            Format::Wav
        }
    }

    /// Where the file goes.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir
            .join(format!("{}.{}", self.id, self.format().extension()))
    }

    /// Sample frames (one per 1/8000 s) of the stereo file.
    pub fn frames(&self) -> usize {
        let [caller, callee] = &self.captured.tracks;
        let (lead_l, lead_r) = (caller.lead(self.answered), callee.lead(self.answered));
        let len = (lead_l + caller.samples.len()).max(lead_r + callee.samples.len());
        len.min(MAX_SAMPLES)
    }

    /// Whole seconds the recording lasts (a pcap: first packet to last).
    pub fn secs(&self) -> u32 {
        let secs = match self.format() {
            Format::Wav => (self.frames() / SAMPLE_RATE as usize) as u64,
            Format::Pcap => self.captured.packets.span().as_secs(),
        };
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// The interleaved samples.
    pub fn stereo(&self) -> Vec<i16> {
        let [caller, callee] = &self.captured.tracks;
        stereo(caller, callee, self.answered)
    }
}

/// Interleaved stereo samples (left = caller, right = callee), as long as the longer side.
pub fn stereo(caller: &Track, callee: &Track, answered: Instant) -> Vec<i16> {
    let (lead_l, lead_r) = (caller.lead(answered), callee.lead(answered));
    let len = (lead_l + caller.samples.len()).max(lead_r + callee.samples.len());
    let len = len.min(MAX_SAMPLES);
    let at = |t: &Track, lead: usize, i: usize| {
        i.checked_sub(lead)
            .and_then(|j| t.samples.get(j))
            .copied()
            .unwrap_or(0)
    };
    let mut out = Vec::with_capacity(len * 2);
    for i in 0..len {
        out.push(at(caller, lead_l, i));
        out.push(at(callee, lead_r, i));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lost_packets_stay_silent_and_sides_align_by_arrival() {
        let t0 = Instant::now();
        let mut caller = Track::default();
        // µ-law 0x80 is +32124; packet 1 (ts 1160) is lost.
        caller.push(t0, 1000, 0, &[0x80; 160]);
        caller.push(t0 + Duration::from_millis(40), 1320, 0, &[0x80; 160]);
        let mut callee = Track::default();
        // A-law 0xaa is +32256; it starts 10 ms (80 samples) after the answer.
        callee.push(t0 + Duration::from_millis(10), 7, 8, &[0xaa; 160]);
        callee.push(t0, 7, 101, &[0; 4]);
        assert!(callee.other_codec && !caller.other_codec);
        let out = stereo(&caller, &callee, t0);
        assert_eq!(out.len(), 480 * 2);
        let left: Vec<i16> = out.iter().step_by(2).copied().collect();
        let right: Vec<i16> = out.iter().skip(1).step_by(2).copied().collect();
        assert!(left[..160].iter().all(|s| *s == 32124));
        assert!(
            left[160..320].iter().all(|s| *s == 0),
            "the lost packet is silence"
        );
        assert!(left[320..].iter().all(|s| *s == 32124));
        assert!(right[..80].iter().all(|s| *s == 0));
        assert!(right[80..240].iter().all(|s| *s == 32256));
    }

    #[test]
    fn a_late_packet_fills_its_own_place() {
        let t0 = Instant::now();
        let mut track = Track::default();
        track.push(t0, 0, 0, &[0x80; 160]);
        track.push(t0, 320, 0, &[0x80; 160]);
        track.push(t0, 160, 0, &[0x00; 160]);
        assert_eq!(track.samples[200], -32124);
        track.push(t0, u32::MAX - 159, 0, &[0x80; 160]);
        assert_eq!(
            track.samples.len(),
            480,
            "a packet from before the first is left out"
        );
    }

    fn recording(captured: Recorder, t0: Instant) -> Recording {
        Recording {
            id: "c1".into(),
            dir: "/rec".into(),
            captured,
            answered: t0,
            addrs: PcapAddrs::unknown(),
        }
    }

    #[test]
    fn g711_makes_a_wav_and_anything_else_alone_a_pcap() {
        let t0 = Instant::now();
        let mut g711 = Recorder::default();
        g711.push(t0, false, 0, 0, &[0; 172], &[0x80; 160]);
        g711.push(t0, true, 0, 101, &[0; 16], &[0; 4]);
        let wav = recording(g711, t0);
        assert_eq!(wav.format(), Format::Wav, "DTMF beside G.711 is left out");
        assert!(wav.path().ends_with("c1.wav"));
        let mut opus = Recorder::default();
        for n in 0..51u32 {
            opus.push(
                t0 + Duration::from_millis(20 * u64::from(n)),
                n % 2 == 1,
                0,
                111,
                &[1; 90],
                &[1; 78],
            );
        }
        let pcap = recording(opus, t0);
        assert_eq!(pcap.format(), Format::Pcap);
        assert!(pcap.path().ends_with("c1.pcap"));
        assert_eq!(pcap.captured.packets.len(), 51);
        assert_eq!(pcap.secs(), 1, "first packet to last");
        assert!(Recorder::default().is_empty());
    }
}
