//! What an event carries: a [`CallFact`] (the calls API's call, with what is not known yet
//! left null while the call rings) or a [`LeadFact`] (the lead as the leads API shows it).
//! Both are stored as JSON in the outbox row and read back by the destinations' encoders.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::call::record::{LiveCall, rfc3339};
use crate::store::calls::{AttributionView, CallView};
use crate::store::deal::DealView;
use crate::store::leads::NewLead;
use crate::store::scoring::Scoring;

/// A call as events carry it. Times are RFC 3339 UTC. For `call.ringing` and
/// `call.answered` the outcome fields (`ended_at`, `disposition`, `talk_secs`, `quality`,
/// ...) are null; `call.ended` and `call.updated` carry them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallFact {
    pub id: String,
    pub call_id: String,
    pub site: String,
    pub tracking_number: String,
    /// `static`, `dynamic`, `default`, `reserve` or `unattributed`.
    pub number_kind: String,
    pub caller: String,
    pub destination: String,
    pub started_at: String,
    #[serde(default)]
    pub answered_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub wait_secs: Option<u32>,
    #[serde(default)]
    pub talk_secs: Option<u32>,
    /// `answered`, `no_answer`, `busy`, `failed`, `cancelled`, `rejected`, `interrupted`,
    /// `voicemail` (a missed call that left a message: `voicemail_secs`).
    #[serde(default)]
    pub disposition: Option<String>,
    #[serde(default)]
    pub sip_status: Option<u16>,
    #[serde(default)]
    pub hangup_side: Option<String>,
    pub first_time_caller: bool,
    #[serde(default)]
    pub quality: Option<bool>,
    #[serde(default)]
    pub missed: Option<bool>,
    #[serde(default)]
    pub called_back_at: Option<String>,
    #[serde(default)]
    pub counted: Option<bool>,
    #[serde(default)]
    pub scheme: Option<String>,
    #[serde(default)]
    pub answered_target: Option<String>,
    pub attribution: AttributionView,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub deal: Option<DealView>,
    #[serde(default)]
    pub recording_url: Option<String>,
    /// A missed call that left a voicemail: the message's length in seconds (null else).
    #[serde(default)]
    pub voicemail_secs: Option<u32>,
    /// The label a person gave and the scorer's verdict (null until there is one).
    #[serde(flatten, default)]
    pub scoring: Scoring,
    /// The keyword tags (`[[speech.tags]]`) said in the call, once transcribed.
    #[serde(default)]
    pub speech_tags: Vec<String>,
}

impl CallFact {
    /// A call that is ringing or answered.
    pub fn live(call: &LiveCall) -> CallFact {
        let a = &call.attribution;
        CallFact {
            id: call.id.clone(),
            call_id: call.call_id.clone(),
            site: a.site.clone(),
            tracking_number: call.tracking_number.clone(),
            number_kind: a.number_kind.as_str().to_owned(),
            caller: call.caller.clone(),
            destination: call.destination.clone(),
            started_at: rfc3339::format(call.started_at),
            answered_at: call.answered_at.map(rfc3339::format),
            ended_at: None,
            wait_secs: None,
            talk_secs: None,
            disposition: None,
            sip_status: None,
            hangup_side: None,
            first_time_caller: call.first_time_caller,
            quality: None,
            missed: None,
            called_back_at: None,
            counted: None,
            scheme: call.scheme.clone(),
            answered_target: call.answered_target.clone(),
            attribution: a.clone().into(),
            tags: Vec::new(),
            note: None,
            deal: None,
            recording_url: None,
            voicemail_secs: None,
            scoring: Scoring::default(),
            speech_tags: Vec::new(),
        }
    }
}

impl From<CallView> for CallFact {
    fn from(v: CallView) -> CallFact {
        CallFact {
            id: v.id,
            call_id: v.call_id,
            site: v.site,
            tracking_number: v.tracking_number,
            number_kind: v.number_kind,
            caller: v.caller,
            destination: v.destination,
            started_at: v.started_at,
            answered_at: v.answered_at,
            ended_at: Some(v.ended_at),
            wait_secs: Some(v.wait_secs),
            talk_secs: Some(v.talk_secs),
            disposition: Some(v.disposition),
            sip_status: Some(v.sip_status),
            hangup_side: Some(v.hangup_side),
            first_time_caller: v.first_time_caller,
            quality: Some(v.quality),
            missed: Some(v.missed),
            called_back_at: v.called_back_at,
            counted: Some(v.counted),
            scheme: v.scheme,
            answered_target: v.answered_target,
            attribution: v.attribution,
            tags: v.tags,
            note: v.note,
            deal: v.deal,
            recording_url: v.recording_url,
            voicemail_secs: v.voicemail_secs,
            scoring: v.scoring,
            speech_tags: v.speech_tags,
        }
    }
}

/// A lead as `lead.created` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadFact {
    pub id: String,
    pub created_at: String,
    pub site: String,
    pub number_kind: String,
    pub name: Option<String>,
    /// Digits.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    pub first_time: bool,
    pub attribution: AttributionView,
}

impl LeadFact {
    pub fn new(lead: &NewLead, first_time: bool) -> LeadFact {
        let a = &lead.attribution;
        LeadFact {
            id: lead.id.clone(),
            created_at: rfc3339::format(lead.created_at),
            site: a.site.clone(),
            number_kind: a.number_kind.as_str().to_owned(),
            name: lead.name.clone(),
            phone: lead.phone.clone(),
            email: lead.email.clone(),
            message: lead.message.clone(),
            fields: lead.fields.clone(),
            first_time,
            attribution: a.clone().into(),
        }
    }
}
