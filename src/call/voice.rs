//! Voice-quality facts of a relayed call, one set per direction, as the media relay measured
//! them and the CDR keeps them (`rtp_caller_*`, `rtp_callee_*`, `one_way_audio`).

use crate::call::record::CallDetailRecord;
use crate::call::recording::RecordingFacts;

/// What one party sent, as calltrack received it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionQuality {
    pub packets: u64,
    /// Sequence gaps (RFC 3550 A.3): packets lost between the party and calltrack.
    pub lost: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1), whole milliseconds, rounded.
    pub jitter_ms: u32,
    /// The same jitter in microseconds (the precise value; `jitter_ms` stays for readers).
    pub jitter_us: u32,
    /// Longest time between two packets, whole milliseconds.
    pub max_gap_ms: u32,
    /// Seconds after the answer in which the party's RTP arrived (`media::stats_talk`).
    pub media_secs: u32,
    /// Seconds after the answer with the party's G.711 audio above the voice threshold
    /// (`media::stats_talk`); `None` when it sent no G.711.
    pub voice_secs: Option<u32>,
    /// Estimated MOS × 100 of the party's audio as the other party hears it (G.107 E-model
    /// for G.711, `media::mos`); `None` for other codecs or no audio.
    pub mos_x100: Option<u32>,
    /// What the *other* party's RTCP reported about this party's audio (RFC 3550 §6.4):
    /// `None` when it sent no reception report.
    pub reported: Option<ReportedQuality>,
}

/// A receiver's RTCP reception reports about one direction (RFC 3550 §6.4.1), end to end
/// (the relay forwards sequence numbers unchanged), and the round trip of the receiver's leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportedQuality {
    /// Cumulative packets lost, the last report (negative with duplicates).
    pub lost: i64,
    /// The highest "fraction lost" of any report, in per mille.
    pub loss_permille: u32,
    /// Interarrival jitter of the last report, microseconds (`None`: clock rate unknown).
    pub jitter_us: Option<u32>,
    /// Mean round trip calltrack → receiver → calltrack (LSR/DLSR, §6.4.1), ms.
    pub rtt_ms: Option<u32>,
}

/// A relayed call's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceQuality {
    pub caller: DirectionQuality,
    pub callee: DirectionQuality,
    pub one_way_audio: bool,
    /// A recorded call's recording as the call ends (`None`: not recorded).
    pub recording: Option<RecordingFacts>,
}

impl VoiceQuality {
    /// Writes the facts into the CDR's columns.
    pub fn apply(&self, cdr: &mut CallDetailRecord) {
        cdr.rtp_caller_packets = Some(self.caller.packets);
        cdr.rtp_caller_lost = Some(self.caller.lost);
        cdr.rtp_caller_jitter_ms = Some(self.caller.jitter_ms);
        cdr.rtp_caller_max_gap_ms = Some(self.caller.max_gap_ms);
        cdr.rtp_callee_packets = Some(self.callee.packets);
        cdr.rtp_callee_lost = Some(self.callee.lost);
        cdr.rtp_callee_jitter_ms = Some(self.callee.jitter_ms);
        cdr.rtp_callee_max_gap_ms = Some(self.callee.max_gap_ms);
        self.apply_v15(cdr);
        cdr.one_way_audio = Some(self.one_way_audio);
    }
}

impl VoiceQuality {
    /// The columns of schema version 15: precise jitter, talk time, MOS and RTCP reports.
    fn apply_v15(&self, cdr: &mut CallDetailRecord) {
        let (a, b) = (&self.caller, &self.callee);
        cdr.rtp_caller_jitter_us = Some(a.jitter_us);
        cdr.rtp_callee_jitter_us = Some(b.jitter_us);
        cdr.rtp_caller_media_secs = Some(a.media_secs);
        cdr.rtp_callee_media_secs = Some(b.media_secs);
        cdr.rtp_caller_voice_secs = a.voice_secs;
        cdr.rtp_callee_voice_secs = b.voice_secs;
        cdr.rtp_caller_mos_x100 = a.mos_x100;
        cdr.rtp_callee_mos_x100 = b.mos_x100;
        let (ra, rb) = (a.reported, b.reported);
        cdr.rtcp_caller_lost = ra.map(|r| r.lost);
        cdr.rtcp_callee_lost = rb.map(|r| r.lost);
        cdr.rtcp_caller_loss_permille = ra.map(|r| r.loss_permille);
        cdr.rtcp_callee_loss_permille = rb.map(|r| r.loss_permille);
        cdr.rtcp_caller_jitter_us = ra.and_then(|r| r.jitter_us);
        cdr.rtcp_callee_jitter_us = rb.and_then(|r| r.jitter_us);
        cdr.rtcp_caller_rtt_ms = ra.and_then(|r| r.rtt_ms);
        cdr.rtcp_callee_rtt_ms = rb.and_then(|r| r.rtt_ms);
    }
}
