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
    /// Longest time between two packets, whole milliseconds.
    pub max_gap_ms: u32,
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
        cdr.one_way_audio = Some(self.one_way_audio);
    }
}
