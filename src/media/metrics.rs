//! The relay's Prometheus metrics: what relayed calls carried and lost, one-way audio, port
//! exhaustion, unreadable SDP and the driver's sockets. Recorded where the facts are known
//! (the table at release, the driver when it binds); no per-packet metric work.

use super::stream::{Side, StreamRelay};
use crate::call::voice::VoiceQuality;

/// HELP lines, registered with the rest at start-up.
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "calltrack_media_rtp_packets_total",
        "RTP packets relayed calls carried, by the direction's sender (caller, callee)"
    );
    describe_counter!(
        "calltrack_media_rtp_lost_total",
        "RTP packets lost before reaching calltrack (sequence gaps), by sender"
    );
    describe_counter!(
        "calltrack_media_dropped_total",
        "Packets dropped: from a third address after the side latched (RFC 4961 symmetric RTP)"
    );
    describe_counter!(
        "calltrack_media_malformed_total",
        "Packets on an RTP port that were not RTP version 2 (relayed, not measured)"
    );
    describe_counter!(
        "calltrack_media_rtcp_malformed_total",
        "RTCP packets that did not parse as RFC 3550 compound packets (relayed, not read)"
    );
    describe_counter!(
        "calltrack_media_one_way_audio_total",
        "Answered relayed calls where one side sent no RTP for one_way_audio_secs after the answer"
    );
    describe_counter!(
        "calltrack_media_ports_exhausted_total",
        "Relayed calls or streams that found no free RTP port pair, by outcome: direct (bridged direct), refused (503, on_no_ports = refuse), stream_disabled (a later m= line got port 0)"
    );
    describe_counter!(
        "calltrack_media_sdp_unreadable_total",
        "SDP bodies of relayed calls the relay could not read (forwarded unchanged)"
    );
    describe_counter!(
        "calltrack_media_streams_opened_total",
        "Relayed streams whose four sockets were bound"
    );
    describe_counter!(
        "calltrack_media_bind_failures_total",
        "Relayed streams whose sockets could not be bound (no audio on that stream)"
    );
    describe_counter!(
        "calltrack_media_recordings_total",
        "Call recordings written (result=written) or lost to a write error (result=failed)"
    );
    describe_counter!(
        "calltrack_recordings_failed_total",
        "Call recordings not written, by reason (disk_full, write_failed); the call is unaffected"
    );
    describe_counter!(
        "calltrack_recordings_expired_total",
        "Call recordings removed by the janitor, by reason (retention, disk_budget)"
    );
    describe_gauge!(
        "calltrack_recordings_disk_bytes",
        "Bytes the recordings in [media] recordings_dir take, as of the janitor's last pass"
    );
    describe_gauge!(
        "calltrack_media_free_port_pairs",
        "RTP/RTCP port pairs free in [media] rtp_ports"
    );
}

/// A relayed call ended with these facts.
pub(super) fn call_ended(q: &VoiceQuality) {
    for (sender, d) in [("caller", q.caller), ("callee", q.callee)] {
        metrics::counter!("calltrack_media_rtp_packets_total", "sender" => sender)
            .increment(d.packets);
        metrics::counter!("calltrack_media_rtp_lost_total", "sender" => sender).increment(d.lost);
    }
    if q.one_way_audio {
        metrics::counter!("calltrack_media_one_way_audio_total").increment(1);
    }
}

/// A call's streams are released: what their latches dropped and what was not RTP.
pub(super) fn streams_ended(streams: &[&StreamRelay]) {
    let facts = streams
        .iter()
        .flat_map(|s| [s.facts(Side::Caller), s.facts(Side::Callee)]);
    let (dropped, malformed) = facts.fold((0, 0), |(d, m), f| (d + f.dropped, m + f.malformed));
    metrics::counter!("calltrack_media_dropped_total").increment(dropped);
    metrics::counter!("calltrack_media_malformed_total").increment(malformed);
    let rtcp_malformed = streams
        .iter()
        .flat_map(|s| [s.facts(Side::Caller), s.facts(Side::Callee)])
        .map(|f| f.rtcp.malformed)
        .sum::<u64>();
    metrics::counter!("calltrack_media_rtcp_malformed_total").increment(rtcp_malformed);
}

/// The pool has `free` pairs now.
pub(super) fn free_pairs(free: usize) {
    metrics::gauge!("calltrack_media_free_port_pairs").set(free as f64);
}
