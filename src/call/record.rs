//! The call detail record (CDR): what one finished call looks like once it leaves the pipeline.
//!
//! Pure data, no I/O and no clock reads: timestamps are supplied by the caller. Timestamps are
//! UTC and serialize as RFC 3339 with millisecond precision (`2026-11-23T03:20:00.123Z`), so the
//! same text sorts correctly in SQLite and reads well in JSON and CSV.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::call::attribution::Attribution;

/// `sip_status` of a call for which no final response ever reached the caller (process died).
pub const NO_FINAL_RESPONSE: u16 = 0;

/// One row per call: timing, outcome, attribution and routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDetailRecord {
    /// Our unique call id (e.g. 16 hex chars); primary identity of the record.
    pub id: String,
    /// A-leg SIP Call-ID as received from the carrier.
    pub call_id: String,
    /// Dialled tracking number (E.164 digits).
    pub tracking_number: String,
    /// Caller number/user from the A-leg From.
    pub caller: String,
    /// Forwarding target URI the B-leg went to.
    pub destination: String,
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "rfc3339::option")]
    pub answered_at: Option<Timestamp>,
    #[serde(with = "rfc3339")]
    pub ended_at: Timestamp,
    /// Started -> answered (or -> ended if never answered), whole seconds, rounded down.
    pub wait_secs: u32,
    /// Answered -> ended, whole seconds, rounded down; 0 if never answered.
    pub talk_secs: u32,
    pub disposition: Disposition,
    /// Final status sent to the caller (200 for answered calls, [`NO_FINAL_RESPONSE`] if none).
    pub sip_status: u16,
    pub hangup_side: HangupSide,
    /// Where the call came from, fixed at ring time. Flattened: its fields are top-level keys
    /// in JSON and top-level columns in SQLite and CSV (see `store::flat`).
    #[serde(flatten)]
    pub attribution: Attribution,
    /// No earlier call from this caller number within the uniqueness window.
    pub first_time_caller: bool,
    /// Answered, reached a counted scheme and talked at least the quality threshold.
    pub quality: bool,
    /// Nobody answered a call calltrack let through (no answer, busy, failed, cancelled,
    /// or interrupted before an answer); refused calls are not missed calls.
    pub missed: bool,
    /// The scheme or route that took the call counts towards quality calls (a support line
    /// does not); set by the session from the config.
    pub counted: bool,
    /// For a missed call: when a later answered call from the same caller followed within the
    /// callback window (set by the store writer when that call's CDR is written).
    #[serde(with = "rfc3339::option")]
    pub called_back_at: Option<Timestamp>,
    /// The distribution scheme the call took (`forward_to` for a site's plain forwarding).
    pub scheme: Option<String>,
    /// 1-based step of the scheme whose target answered.
    pub answered_step: Option<u32>,
    /// The target that answered, as named in the config (URI or `number@gateway`).
    pub answered_target: Option<String>,
    /// Why calltrack refused the call, a token (`blacklist`, `unknown_number`,
    /// `too_many_hops`, `untrusted_target`...; see README "Security model").
    pub reject_reason: Option<String>,
    /// Voice quality of a relayed call (`media = "relay"`), per direction: RTP packets the
    /// caller sent, those lost on the way to calltrack (sequence gaps, RFC 3550 A.3), the
    /// interarrival jitter (RFC 3550 §6.4.1) and the longest gap between two packets, in
    /// whole milliseconds; then the same for the callee. `None` for calls not relayed.
    pub rtp_caller_packets: Option<u64>,
    pub rtp_caller_lost: Option<u64>,
    pub rtp_caller_jitter_ms: Option<u32>,
    pub rtp_caller_max_gap_ms: Option<u32>,
    pub rtp_callee_packets: Option<u64>,
    pub rtp_callee_lost: Option<u64>,
    pub rtp_callee_jitter_ms: Option<u32>,
    pub rtp_callee_max_gap_ms: Option<u32>,
    /// A relayed, answered call where one side sent no RTP for more than `[media]
    /// one_way_audio_secs` after the answer.
    pub one_way_audio: Option<bool>,
    /// A recorded call (`record = true`), once its file is written and synced: the stereo WAV
    /// (G.711: caller left, callee right) or the pcap of the call's RTP (other codecs), its
    /// size in bytes and its length in whole seconds. `None` until then, and when there is no
    /// file (`recording_status` says why).
    pub recording_path: Option<String>,
    pub recording_bytes: Option<u64>,
    pub recording_secs: Option<u32>,
    /// Where the recording stands (`not_requested`, `pending`, `recorded`, `skipped`,
    /// `failed`, `expired`; see [`crate::call::recording`]); `None` for calls the media
    /// code never saw (refused, or recorded by an older build).
    pub recording_status: Option<crate::call::recording::RecordingStatus>,
    /// Why a requested recording has no file (`srtp`, `no_media`, `disk_full`, ...).
    pub recording_reason: Option<crate::call::recording::RecordingReason>,
    /// Voice quality, schema version 15 (see [`crate::call::voice`]), per direction: the
    /// jitter in microseconds (`rtp_*_jitter_ms` rounded it), the seconds after the answer
    /// with RTP from the party and with its G.711 voice, and the estimated MOS × 100 of its
    /// audio (G.711 only). `rtcp_*` is what the *receiving* party's RTCP reported about the
    /// party's audio: cumulative lost, the worst fraction lost (per mille), jitter (µs), and
    /// the round trip of the receiver's leg (ms). `None` for calls not relayed, or with no
    /// such report.
    pub rtp_caller_jitter_us: Option<u32>,
    pub rtp_caller_media_secs: Option<u32>,
    pub rtp_caller_voice_secs: Option<u32>,
    pub rtp_caller_mos_x100: Option<u32>,
    pub rtcp_caller_lost: Option<i64>,
    pub rtcp_caller_loss_permille: Option<u32>,
    pub rtcp_caller_jitter_us: Option<u32>,
    pub rtcp_caller_rtt_ms: Option<u32>,
    pub rtp_callee_jitter_us: Option<u32>,
    pub rtp_callee_media_secs: Option<u32>,
    pub rtp_callee_voice_secs: Option<u32>,
    pub rtp_callee_mos_x100: Option<u32>,
    pub rtcp_callee_lost: Option<i64>,
    pub rtcp_callee_loss_permille: Option<u32>,
    pub rtcp_callee_jitter_us: Option<u32>,
    pub rtcp_callee_rtt_ms: Option<u32>,
    /// Schema version 20: a `voicemail` call's message length in whole seconds, from the
    /// beep's end to the hang-up (`None` for other calls; its file is the recording's).
    pub voicemail_secs: Option<u32>,
    /// What each ringing attempt did (see [`crate::call::trail`]). Kept in the `trail` JSON
    /// column beside the flat columns (a list is not a flat cell), so not in its serde form.
    #[serde(skip)]
    pub trail: Vec<crate::call::trail::TrailStep>,
}

/// A call in progress: what is known before the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCall {
    pub id: String,
    pub call_id: String,
    pub tracking_number: String,
    pub caller: String,
    pub destination: String,
    #[serde(
        serialize_with = "rfc3339::serialize",
        deserialize_with = "rfc3339::deserialize"
    )]
    pub started_at: Timestamp,
    #[serde(
        serialize_with = "rfc3339::serialize_option",
        deserialize_with = "rfc3339::option::deserialize"
    )]
    pub answered_at: Option<Timestamp>,
    /// Where the call came from, fixed at ring time.
    pub attribution: Attribution,
    pub first_time_caller: bool,
    /// The distribution scheme, once chosen.
    pub scheme: Option<String>,
    /// 1-based step whose target answered.
    pub answered_step: Option<u32>,
    /// The target that answered, as named in the config.
    pub answered_target: Option<String>,
}

impl CallDetailRecord {
    /// Closes a live call: copies what is known and derives `wait_secs` / `talk_secs`.
    pub fn from_live(
        live: &LiveCall,
        ended_at: Timestamp,
        disposition: Disposition,
        sip_status: u16,
        hangup_side: HangupSide,
    ) -> Self {
        let waited_until = live.answered_at.unwrap_or(ended_at);
        let talk_secs = live
            .answered_at
            .map_or(0, |answered| whole_secs(answered, ended_at));
        Self {
            id: live.id.clone(),
            call_id: live.call_id.clone(),
            tracking_number: live.tracking_number.clone(),
            caller: live.caller.clone(),
            destination: live.destination.clone(),
            started_at: live.started_at,
            answered_at: live.answered_at,
            ended_at,
            wait_secs: whole_secs(live.started_at, waited_until),
            talk_secs,
            disposition,
            sip_status,
            hangup_side,
            attribution: live.attribution.clone(),
            first_time_caller: live.first_time_caller,
            quality: false,
            missed: is_missed(disposition),
            counted: true,
            called_back_at: None,
            scheme: live.scheme.clone(),
            answered_step: live.answered_step,
            answered_target: live.answered_target.clone(),
            reject_reason: None,
            rtp_caller_packets: None,
            rtp_caller_lost: None,
            rtp_caller_jitter_ms: None,
            rtp_caller_max_gap_ms: None,
            rtp_callee_packets: None,
            rtp_callee_lost: None,
            rtp_callee_jitter_ms: None,
            rtp_callee_max_gap_ms: None,
            one_way_audio: None,
            recording_path: None,
            recording_bytes: None,
            recording_secs: None,
            recording_status: None,
            recording_reason: None,
            rtp_caller_jitter_us: None,
            rtp_caller_media_secs: None,
            rtp_caller_voice_secs: None,
            rtp_caller_mos_x100: None,
            rtcp_caller_lost: None,
            rtcp_caller_loss_permille: None,
            rtcp_caller_jitter_us: None,
            rtcp_caller_rtt_ms: None,
            rtp_callee_jitter_us: None,
            rtp_callee_media_secs: None,
            rtp_callee_voice_secs: None,
            rtp_callee_mos_x100: None,
            rtcp_callee_lost: None,
            rtcp_callee_loss_permille: None,
            rtcp_callee_jitter_us: None,
            rtcp_callee_rtt_ms: None,
            voicemail_secs: None,
            trail: Vec::new(),
        }
    }

    /// Judges the call a quality (target) call: answered, counted and talked at least
    /// `min_talk`.
    pub fn judge_quality(mut self, min_talk: std::time::Duration) -> Self {
        self.quality = self.counted
            && self.disposition == Disposition::Answered
            && u64::from(self.talk_secs) >= min_talk.as_secs();
        self
    }
}

/// A call calltrack let through that nobody answered. Refused calls (`rejected`) never
/// reached a person, so nobody owes them a callback.
pub fn is_missed(disposition: Disposition) -> bool {
    !matches!(disposition, Disposition::Answered | Disposition::Rejected)
}

/// Whole seconds from `from` to `to`, rounded down; 0 if `to` is earlier (clock step).
fn whole_secs(from: Timestamp, to: Timestamp) -> u32 {
    let secs = to.duration_since(from).as_secs().max(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// How a call ended, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Answered,
    NoAnswer,
    Busy,
    Failed,
    Cancelled,
    Rejected,
    /// The process stopped while the call was live (set by crash recovery).
    Interrupted,
    /// Nobody answered and the caller left a message (`voicemail_secs`, the recording).
    Voicemail,
}

impl Disposition {
    pub const ALL: [Self; 8] = [
        Self::Answered,
        Self::NoAnswer,
        Self::Busy,
        Self::Failed,
        Self::Cancelled,
        Self::Rejected,
        Self::Interrupted,
        Self::Voicemail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Interrupted => "interrupted",
            Self::Voicemail => "voicemail",
        }
    }
}

/// Which side ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    Caller,
    Callee,
    /// We ended it: timeout, failure, shutdown or crash recovery.
    System,
}

impl HangupSide {
    pub const ALL: [Self; 3] = [Self::Caller, Self::Callee, Self::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
            Self::System => "system",
        }
    }
}

/// A stored or typed name that matches no variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

fn parse_variant<T: Copy>(
    kind: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
    s: &str,
) -> Result<T, UnknownVariant> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| UnknownVariant {
            kind,
            value: s.to_owned(),
        })
}

impl FromStr for Disposition {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("disposition", &Self::ALL, Self::as_str, s)
    }
}

impl FromStr for HangupSide {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("hangup side", &Self::ALL, Self::as_str, s)
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HangupSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one text form of a CDR timestamp: RFC 3339, UTC (`Z`), exactly three fraction digits.
///
/// Fixed width keeps lexical order equal to time order (SQLite indexes, `ORDER BY`).
pub mod rfc3339 {
    use jiff::Timestamp;
    use jiff::tz::Offset;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Formats `t` in UTC with millisecond precision (sub-millisecond digits are dropped).
    pub fn format(t: Timestamp) -> String {
        let t = Offset::UTC.to_datetime(t);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }

    /// Parses any RFC 3339 timestamp (an instant: its offset only places it in time).
    pub fn parse(s: &str) -> Result<Timestamp, jiff::Error> {
        s.parse()
    }

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn serialize_option<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&format(*t)),
            None => s.serialize_none(),
        }
    }

    /// Reads a timestamp written by [`serialize`] (any RFC 3339 text is accepted).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// `Option<Timestamp>` as RFC 3339 text or null (`#[serde(with = "rfc3339::option")]`).
    pub mod option {
        use jiff::Timestamp;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            super::serialize_option(t, s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::parse(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn live(answered_at: Option<Timestamp>) -> LiveCall {
        LiveCall {
            id: "00112233aabbccdd".into(),
            call_id: "abc@carrier".into(),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:sales@pbx.example".into(),
            started_at: ts("2026-11-23T03:20:00.123Z"),
            answered_at,
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        }
    }

    #[test]
    fn answered_call_splits_wait_and_talk_rounding_down() {
        let l = live(Some(ts("2026-11-23T03:20:07.900Z")));
        let end = ts("2026-11-23T03:21:07.899Z");
        let cdr =
            CallDetailRecord::from_live(&l, end, Disposition::Answered, 200, HangupSide::Caller);
        assert_eq!((cdr.wait_secs, cdr.talk_secs), (7, 59));
    }

    #[test]
    fn unanswered_call_waits_until_the_end() {
        let end = ts("2026-11-23T03:20:30.000Z");
        let cdr = CallDetailRecord::from_live(
            &live(None),
            end,
            Disposition::NoAnswer,
            480,
            HangupSide::System,
        );
        assert_eq!((cdr.wait_secs, cdr.talk_secs), (29, 0));
    }

    #[test]
    fn clock_step_backwards_gives_zero_not_wraparound() {
        let end = ts("2026-11-23T03:19:00Z");
        let cdr = CallDetailRecord::from_live(
            &live(None),
            end,
            Disposition::Failed,
            503,
            HangupSide::System,
        );
        assert_eq!(cdr.wait_secs, 0);
    }

    #[test]
    fn enums_round_trip_through_their_names() {
        for d in Disposition::ALL {
            assert_eq!(d.as_str().parse::<Disposition>(), Ok(d));
        }
        for h in HangupSide::ALL {
            assert_eq!(h.as_str().parse::<HangupSide>(), Ok(h));
        }
        assert!("hung".parse::<HangupSide>().is_err());
    }

    #[test]
    fn timestamps_are_fixed_width_utc_and_parse_back() {
        let t = ts("2026-11-23T06:20:00.1234+03:00");
        assert_eq!(rfc3339::format(t), "2026-11-23T03:20:00.123Z");
        assert_eq!(
            rfc3339::format(ts("2026-01-02T03:04:05Z")),
            "2026-01-02T03:04:05.000Z"
        );
        let back = rfc3339::parse("2026-11-23T03:20:00.123Z").unwrap();
        assert_eq!(back, ts("2026-11-23T03:20:00.123Z"));
    }

    #[test]
    fn serializes_as_snake_case_and_rfc3339() {
        let cdr = CallDetailRecord::from_live(
            &live(None),
            ts("2026-11-23T03:20:10.5Z"),
            Disposition::NoAnswer,
            487,
            HangupSide::Caller,
        );
        let json = serde_json::to_value(&cdr).unwrap();
        assert_eq!(json["started_at"], "2026-11-23T03:20:00.123Z");
        assert_eq!(json["answered_at"], serde_json::Value::Null);
        assert_eq!(json["disposition"], "no_answer");
        assert_eq!(json["hangup_side"], "caller");
    }
}
