//! Leads as the API serves them (`GET /v1/leads`, `PATCH /v1/leads/{id}`): the lead, its
//! attribution in the same shape a call's has, and what people added (tags, note, deal).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::call::record::rfc3339;
use crate::store::calls::AttributionView;
use crate::store::deal::{Deal, DealView};
use crate::store::leads::StoredLead;

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
