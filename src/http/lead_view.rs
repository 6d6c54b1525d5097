//! Leads as the API serves them (`GET /v1/leads`, `PATCH /v1/leads/{id}`): the lead, its
//! attribution in the same shape a call's has, and what people added (tags, note, deal).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::call::attribution::Attribution;
use crate::call::record::rfc3339;
use crate::store::deal::{Deal, DealView};
use crate::store::leads::StoredLead;

/// Where the lead came from: the same fields a call's attribution has.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
    pub device: Option<String>,
    pub session_id: Option<String>,
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
        }
    }
}

/// A lead as the API serves it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadView {
    pub id: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub site: String,
    /// What the visitor was shown: dynamic, static, default or reserve.
    pub number_kind: String,
    pub name: Option<String>,
    /// Digits.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    pub fields: BTreeMap<String, String>,
    /// No earlier lead with this phone or email, and no call from this phone, within the
    /// uniqueness window.
    pub first_time: bool,
    pub attribution: AttributionView,
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub deal: Option<DealView>,
    pub updated_at: Option<String>,
}

impl From<StoredLead> for LeadView {
    fn from(s: StoredLead) -> Self {
        let lead = s.lead;
        LeadView {
            id: lead.id,
            created_at: rfc3339::format(lead.created_at),
            site: lead.attribution.site.clone(),
            number_kind: lead.attribution.number_kind.as_str().to_owned(),
            name: lead.name,
            phone: lead.phone,
            email: lead.email,
            message: lead.message,
            fields: lead.fields,
            first_time: s.first_time,
            attribution: lead.attribution.into(),
            tags: s.tags,
            note: s.note,
            deal: s.deal.as_ref().map(Deal::to_view),
            updated_at: s.updated_at.map(rfc3339::format),
        }
    }
}

/// `GET /v1/leads` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadList {
    pub leads: Vec<LeadView>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}
