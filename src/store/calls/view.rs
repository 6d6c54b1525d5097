//! A call as the calls API and its CSV show it ([`CallView`]): the CDR, its visit
//! (attribution), what people added later (tags, note, deal) and, for one call, the trail.

use serde::{Deserialize, Serialize};

use crate::call::attribution::Attribution;
use crate::call::record::{CallDetailRecord, rfc3339};
use crate::call::recording::RecordingStatus;
use crate::call::trail::TrailStep;
use crate::store::deal::{Deal, DealView};
use crate::store::scoring::Scoring;

/// The visit a call is attributed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributionView {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
    pub referrer: Option<String>,
    pub landing_page: Option<String>,
    pub gclid: Option<String>,
    pub yclid: Option<String>,
    pub ga_client_id: Option<String>,
    pub ga_session_id: Option<String>,
    pub ym_client_id: Option<String>,
    pub region: Option<String>,
    /// `desktop`, `mobile` or `tablet` (pool numbers only).
    pub device: Option<String>,
    pub session_id: Option<String>,
    /// 0..1, the probability known at ring time that this visit is the caller (calls to a
    /// pool number held by a visitor only; `null` otherwise).
    #[serde(default)]
    pub confidence: Option<f64>,
}

impl From<Attribution> for AttributionView {
    fn from(a: Attribution) -> Self {
        AttributionView {
            source: a.source,
            medium: a.medium,
            campaign: a.campaign,
            term: a.term,
            content: a.content,
            referrer: a.referrer,
            landing_page: a.landing_page,
            gclid: a.gclid,
            yclid: a.yclid,
            ga_client_id: a.ga_client_id,
            ga_session_id: a.ga_session_id,
            ym_client_id: a.ym_client_id,
            region: a.region,
            device: a.device,
            session_id: a.session_id,
            confidence: a.confidence.map(|c| c.get()),
        }
    }
}

/// One call. Times are RFC 3339 UTC; `deal.amount` a decimal string.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallView {
    pub id: String,
    pub call_id: String,
    pub site: String,
    pub tracking_number: String,
    /// `static`, `dynamic`, `default`, `reserve` or `unattributed`.
    pub number_kind: String,
    pub caller: String,
    pub destination: String,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: String,
    pub wait_secs: u32,
    pub talk_secs: u32,
    /// `answered`, `no_answer`, `busy`, `failed`, `cancelled`, `rejected`, `interrupted`,
    /// `voicemail` (nobody answered; the caller left a message: the call's recording).
    pub disposition: String,
    pub sip_status: u16,
    /// `caller`, `callee` or `system`.
    pub hangup_side: String,
    pub first_time_caller: bool,
    pub quality: bool,
    pub missed: bool,
    pub called_back_at: Option<String>,
    pub counted: bool,
    pub scheme: Option<String>,
    pub answered_step: Option<u32>,
    pub answered_target: Option<String>,
    pub reject_reason: Option<String>,
    pub attribution: AttributionView,
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub deal: Option<DealView>,
    /// When tags, note or deal last changed.
    pub updated_at: Option<String>,
    /// `GET` it (admin role) for the recording's file; null unless `recording.status` is
    /// `recorded`.
    pub recording_url: Option<String>,
    /// Where the call's recording stands.
    pub recording: RecordingView,
    /// A `voicemail` call's message length in whole seconds (null for other calls).
    pub voicemail_secs: Option<u32>,
    /// One call only (`GET /v1/calls/{id}`): what each ringing attempt did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail: Option<Vec<TrailStep>>,
    /// The label a person gave (`target` / `not_target`) and the scorer's verdict.
    #[serde(flatten)]
    pub scoring: Scoring,
    /// The keyword tags (`[[speech.tags]]`) said in the call, once transcribed.
    pub speech_tags: Vec<String>,
}

/// A call's recording, as the calls API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordingView {
    /// `not_requested`, `pending` (the call ended, its file is being written), `recorded`,
    /// `skipped`, `failed` or `expired` (removed by retention).
    #[schema(example = "recorded")]
    pub status: String,
    /// Why there is no file: `not_answered`, `not_relayed`, `srtp`, `no_media`, `disk_full`,
    /// `write_failed`, `interrupted`, `retention`, `disk_budget`.
    pub reason: Option<String>,
    /// `wav` (G.711, stereo: caller left, callee right) or `pcap` (the RTP of other codecs).
    pub format: Option<String>,
    pub bytes: Option<u64>,
    pub secs: Option<u32>,
}

impl RecordingView {
    fn from_cdr(cdr: &CallDetailRecord) -> RecordingView {
        let status = cdr
            .recording_status
            .unwrap_or(RecordingStatus::NotRequested);
        let format = cdr
            .recording_path
            .as_deref()
            .and_then(|p| p.rsplit_once('.'))
            .map(|(_, ext)| ext.to_owned());
        RecordingView {
            status: status.as_str().to_owned(),
            reason: cdr.recording_reason.map(|r| r.as_str().to_owned()),
            format,
            bytes: cdr.recording_bytes,
            secs: cdr.recording_secs,
        }
    }
}

/// The recording's URL, relative to the API's origin, once there is a file.
fn recording_url(id: &str, status: Option<RecordingStatus>) -> Option<String> {
    (status == Some(RecordingStatus::Recorded)).then(|| format!("/v1/calls/{id}/recording"))
}

/// What is stored beside the CDR's flat columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub deal: Option<Deal>,
    pub updated_at: Option<String>,
    pub trail: Option<Vec<TrailStep>>,
    pub scoring: Scoring,
    pub speech_tags: Vec<String>,
}

impl CallView {
    pub fn new(cdr: CallDetailRecord, extras: Extras) -> CallView {
        let recording_url = recording_url(&cdr.id, cdr.recording_status);
        let recording = RecordingView::from_cdr(&cdr);
        let voicemail_secs = cdr.voicemail_secs;
        let a = cdr.attribution;
        CallView {
            id: cdr.id,
            call_id: cdr.call_id,
            site: a.site.clone(),
            tracking_number: cdr.tracking_number,
            number_kind: a.number_kind.as_str().to_owned(),
            caller: cdr.caller,
            destination: cdr.destination,
            started_at: rfc3339::format(cdr.started_at),
            answered_at: cdr.answered_at.map(rfc3339::format),
            ended_at: rfc3339::format(cdr.ended_at),
            wait_secs: cdr.wait_secs,
            talk_secs: cdr.talk_secs,
            disposition: cdr.disposition.as_str().to_owned(),
            sip_status: cdr.sip_status,
            hangup_side: cdr.hangup_side.as_str().to_owned(),
            first_time_caller: cdr.first_time_caller,
            quality: cdr.quality,
            missed: cdr.missed,
            called_back_at: cdr.called_back_at.map(rfc3339::format),
            counted: cdr.counted,
            scheme: cdr.scheme,
            answered_step: cdr.answered_step,
            answered_target: cdr.answered_target,
            reject_reason: cdr.reject_reason,
            attribution: AttributionView::from(a),
            tags: extras.tags,
            note: extras.note,
            deal: extras.deal.map(|d| d.to_view()),
            updated_at: extras.updated_at,
            recording_url,
            recording,
            voicemail_secs,
            trail: extras.trail,
            scoring: extras.scoring,
            speech_tags: extras.speech_tags,
        }
    }
}

/// The CSV header: the view's fields with the attribution flattened and the deal split.
pub const CSV_HEADER: [&str; 53] = [
    "id",
    "call_id",
    "site",
    "tracking_number",
    "number_kind",
    "caller",
    "destination",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_secs",
    "talk_secs",
    "disposition",
    "sip_status",
    "hangup_side",
    "first_time_caller",
    "quality",
    "missed",
    "called_back_at",
    "counted",
    "scheme",
    "answered_step",
    "answered_target",
    "reject_reason",
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    "referrer",
    "landing_page",
    "gclid",
    "yclid",
    "ga_client_id",
    "ga_session_id",
    "ym_client_id",
    "region",
    "device",
    "session_id",
    "confidence",
    "tags",
    "note",
    "deal_amount",
    "deal_currency",
    "deal_status",
    "updated_at",
    "voicemail_secs",
    "label",
    "label_by",
    "label_at",
    "target_probability",
    "target",
    "speech_tags",
];

/// An optional number or flag as a cell (empty for null).
fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// First characters that make a spreadsheet run a cell as a formula (OWASP "CSV injection";
/// the same rule as `cdr list --format csv`).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Outside text (the visit, the caller's SIP request, what a CRM posted), with `'` in front
/// when a spreadsheet would run it.
fn outside(value: &Option<String>) -> String {
    match value {
        Some(v) if v.starts_with(FORMULA_STARTS) => format!("'{v}"),
        Some(v) => v.clone(),
        None => String::new(),
    }
}

impl CallView {
    /// The CSV cells in [`CSV_HEADER`] order: empty for null, tags joined with `;`, outside
    /// text neutralised for spreadsheets.
    pub fn csv_record(&self) -> Vec<String> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let x = |v: &str| outside(&Some(v.to_owned()));
        let a = &self.attribution;
        let deal = self.deal.as_ref();
        let amount = deal.map_or(String::new(), |d| match &d.amount {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        vec![
            self.id.clone(),
            x(&self.call_id),
            self.site.clone(),
            self.tracking_number.clone(),
            self.number_kind.clone(),
            x(&self.caller),
            self.destination.clone(),
            self.started_at.clone(),
            o(&self.answered_at),
            self.ended_at.clone(),
            self.wait_secs.to_string(),
            self.talk_secs.to_string(),
            self.disposition.clone(),
            self.sip_status.to_string(),
            self.hangup_side.clone(),
            self.first_time_caller.to_string(),
            self.quality.to_string(),
            self.missed.to_string(),
            o(&self.called_back_at),
            self.counted.to_string(),
            o(&self.scheme),
            self.answered_step.map_or(String::new(), |s| s.to_string()),
            o(&self.answered_target),
            o(&self.reject_reason),
            outside(&a.source),
            outside(&a.medium),
            outside(&a.campaign),
            outside(&a.term),
            outside(&a.content),
            outside(&a.referrer),
            outside(&a.landing_page),
            outside(&a.gclid),
            outside(&a.yclid),
            outside(&a.ga_client_id),
            outside(&a.ga_session_id),
            outside(&a.ym_client_id),
            o(&a.region),
            outside(&a.device),
            o(&a.session_id),
            a.confidence.map_or(String::new(), |c| c.to_string()),
            x(&self.tags.join(";")),
            outside(&self.note),
            amount,
            deal.map_or(String::new(), |d| d.currency.clone()),
            deal.map_or(String::new(), |d| d.status.as_str().to_owned()),
            o(&self.updated_at),
            self.voicemail_secs.map_or(String::new(), |s| s.to_string()),
            o(&self.scoring.label),
            o(&self.scoring.label_by),
            o(&self.scoring.label_at),
            opt(self.scoring.target_probability),
            opt(self.scoring.target),
            x(&self.speech_tags.join(";")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_follow_the_header_and_neutralise_outside_text() {
        use crate::call::record::{Disposition, HangupSide, LiveCall};
        let at: jiff::Timestamp = "2026-11-23T03:20:00Z".parse().unwrap();
        let live = LiveCall {
            id: "a".into(),
            call_id: "a@carrier".into(),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:pbx".into(),
            started_at: at,
            answered_at: None,
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        };
        let mut cdr =
            CallDetailRecord::from_live(&live, at, Disposition::Busy, 486, HangupSide::Callee);
        cdr.attribution.campaign = Some("=HYPERLINK(\"https://evil.example\")".into());
        cdr.attribution.source = Some("google".into());
        let view = CallView::new(
            cdr,
            Extras {
                tags: vec!["@vip".into(), "lead".into()],
                ..Extras::default()
            },
        );
        let record = view.csv_record();
        assert_eq!(record.len(), CSV_HEADER.len());
        let cell = |name: &str| &record[CSV_HEADER.iter().position(|h| *h == name).unwrap()];
        assert_eq!(cell("campaign"), "'=HYPERLINK(\"https://evil.example\")");
        assert_eq!(cell("source"), "google");
        assert_eq!(cell("tags"), "'@vip;lead");
        assert_eq!(cell("started_at"), &view.started_at);
    }
}
