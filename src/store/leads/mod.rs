//! Leads (web forms and callback requests) as stored: what the visitor sent, the same
//! [`Attribution`] a call to the visitor's number would get, whether the lead is first-time,
//! and what people add later (tags, note, deal). Written only by the store writer
//! ([`super::StoreCommand::InsertLead`], [`super::StoreCommand::PatchLead`]); read through
//! [`read`] on a read-only connection.
//!
//! The attribution columns are the [`Attribution`] struct's own serde names (the same flat
//! names the CDR has), so a new attribution field needs a migration and nothing here.

pub mod read;
mod write;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jiff::Timestamp;

use super::deal::Deal;
use crate::call::attribution::Attribution;

pub(super) use write::{insert, patch};

/// A lead as the snippet API accepted it: cleaned and bounded, phone as digits, email
/// lower-cased, at least one of them present. Its serde form is what the PostgreSQL spool
/// keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewLead {
    /// 32 lowercase hex digits.
    pub id: String,
    #[serde(with = "crate::call::record::rfc3339")]
    pub created_at: Timestamp,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    /// Any other form fields, name to value.
    pub fields: BTreeMap<String, String>,
    pub attribution: Attribution,
}

/// How far back an earlier lead (same phone or email) or call (same caller number) makes a
/// new lead not first-time: the tracking uniqueness window calls use; `None` is forever.
pub type UniqueWindow = Option<std::time::Duration>;

/// A stored lead with its storage sequence number (the cursor of listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLead {
    pub seq: i64,
    pub lead: NewLead,
    pub first_time: bool,
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub deal: Option<Deal>,
    pub updated_at: Option<Timestamp>,
}

/// What a CRM or the dashboard changes on a lead; `None` leaves a field as it is, and
/// `Some(None)` clears the note or the deal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadPatch {
    pub tags: Option<Vec<String>>,
    pub note: Option<Option<String>>,
    pub deal: Option<Option<Deal>>,
}

/// The columns an insert writes, in order: the lead's own, its attribution's, `first_time`.
pub(in crate::store) fn insert_columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let own = [
            "id",
            "created_at",
            "name",
            "phone",
            "email",
            "message",
            "fields",
        ];
        let mut columns: Vec<String> = own.map(String::from).to_vec();
        columns.extend(attribution_columns().iter().cloned());
        columns.push("first_time".into());
        columns
    })
}

/// The attribution's column names, in its serde order.
pub(in crate::store) fn attribution_columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| match serde_json::to_value(Attribution::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests;
