//! `POST /v1/sessions/{session_id}/leads`: a web form or `calltrack.lead()` from the snippet.
//! The lead gets the same [`Attribution`] a call to the visitor's number would get right now
//! (the call pipeline's own `lease_lookup` > `attribution` stages, fed from the session), is
//! judged first-time by phone or email within the tracking uniqueness window, and is stored
//! through the one store writer before the 201.
//!
//! The body is JSON; `text/plain` is accepted too, because `navigator.sendBeacon` (how the
//! snippet sends a form while the page navigates away) can only send that without a CORS
//! preflight. The CORS middleware checks the origin either way.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::commit::committed;
use super::errors::ApiError;
use super::session_id::{self, SessionRef};
use crate::call::attribution::{self, Attribution};
use crate::call::inbound::phone_digits;
use crate::call::lease_lookup::{self, Holder};
use crate::config::{Config, SharedConfig};
use crate::lease::LeaseTable;
use crate::store::leads::NewLead;
use crate::store::{FirstTime, StoreCommand, StoreSender};

/// Most characters of a name.
pub const MAX_NAME_CHARS: usize = 200;
/// Most characters of a phone number as typed.
const MAX_PHONE_CHARS: usize = 40;
/// Most digits of a phone number (E.164 allows 15; a few more for extensions).
pub const MAX_PHONE_DIGITS: usize = 20;
/// RFC 5321's limit on a path, which bounds an address.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Most characters of the message, and of each free field's value.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Most free fields.
pub const MAX_FIELDS: usize = 50;
/// Most characters of a free field's name.
pub const MAX_FIELD_NAME_CHARS: usize = 64;

/// The body: phone or email is required; everything else is optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadBody {
    #[schema(example = "Anna")]
    pub name: Option<String>,
    /// Any writing (`+7 (916) 111-22-33`); kept as digits, like callers' numbers.
    #[schema(example = "+7 (916) 111-22-33")]
    pub phone: Option<String>,
    /// Kept lower-cased.
    #[schema(example = "anna@example.com")]
    pub email: Option<String>,
    pub message: Option<String>,
    /// Any other form fields, name to value.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// The answer: the new lead's id and whether it is first-time.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadCreated {
    pub id: String,
    /// `null` when the lead was accepted (202) while PostgreSQL is unreachable: it is
    /// judged when the lead is written.
    pub first_time: Option<bool>,
}

/// `POST /v1/sessions/{session_id}/leads`
#[utoipa::path(
    post,
    path = "/v1/sessions/{session_id}/leads",
    tag = "snippet",
    params(("session_id" = String, Path, description = "The snippet session the visitor holds")),
    request_body(
        content((LeadBody = "application/json"), (LeadBody = "text/plain")),
        description = "JSON; as `text/plain` too, which `navigator.sendBeacon` sends without a preflight"
    ),
    responses(
        (status = 201, description = "Stored and attributed", body = LeadCreated),
        (status = 202, description = "Accepted while the PostgreSQL store is unreachable: kept in the node's spool and written, judged first-time or not, when it returns", body = LeadCreated),
        (status = 400, description = "Bad JSON or fields (every problem listed)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such session", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited or the store is busy", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(config): State<SharedConfig>,
    State(leases): State<Arc<LeaseTable>>,
    State(store): State<StoreSender>,
    Path(session): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<LeadCreated>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = parse_lead_body(content_type, &body)?;
    let config = config.load_full();
    let now = Timestamp::now();
    let attribution = attribute_session(&config, &leases, &session, now)?;
    let lead = clean_lead(body, attribution, now)?;
    let id = lead.id.clone();
    let window = config.tracking.unique_window;
    let judged = committed(
        "lead",
        store.try_request(|done| StoreCommand::InsertLead {
            lead: Box::new(lead),
            window,
            done,
        }),
    )
    .await?;
    let (status, first_time) = match judged {
        FirstTime::Judged(first) => (StatusCode::CREATED, Some(first)),
        FirstTime::Pending => (StatusCode::ACCEPTED, None),
    };
    Ok((status, Json(LeadCreated { id, first_time })))
}

/// JSON (or JSON sent as `text/plain`); any other content type is 415. Public for the fuzz
/// target (`fuzz/fuzz_targets/lead_json.rs`).
pub fn parse_lead_body(content_type: Option<&str>, body: &[u8]) -> Result<LeadBody, ApiError> {
    let content_type = content_type.unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !["application/json", "text/plain"].contains(&essence.to_ascii_lowercase().as_str()) {
        return Err(ApiError::Rejected {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "send the lead as application/json (or JSON as text/plain)".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        code: "invalid_json",
        problems: vec![e.to_string()],
    })
}

/// The attribution a call to the session's number would get at `now`: the lease's visit for
/// a pool number, the static source, or the default / reserve kind.
pub fn attribute_session(
    config: &Config,
    leases: &LeaseTable,
    id: &str,
    now: Timestamp,
) -> Result<Attribution, ApiError> {
    let (site, holder) = match session_id::parse(id).ok_or(ApiError::UnknownSession)? {
        SessionRef::Dynamic(id) => match leases.session(id) {
            Some(lease) => (lease.site.clone(), Holder::Lease(lease)),
            None => {
                let held = leases.codes().session(id).ok_or(ApiError::UnknownSession)?;
                (held.site.clone(), Holder::Code(held))
            }
        },
        SessionRef::Fixed { kind, site, number } => {
            let site = super::sessions::fixed_site(config, kind, site, number)?;
            let tracking = config
                .tracking_number(number)
                .ok_or(ApiError::UnknownSession)?;
            (
                site.id.clone(),
                lease_lookup::holder_of(tracking, leases, now),
            )
        }
    };
    Ok(attribution::attribute(&site, holder))
}

/// Checks every field (all problems at once) and builds the lead.
pub fn clean_lead(
    body: LeadBody,
    attribution: Attribution,
    now: Timestamp,
) -> Result<NewLead, ApiError> {
    let mut problems = Vec::new();
    let name = bounded("name", body.name, MAX_NAME_CHARS, &mut problems);
    let phone = bounded("phone", body.phone, MAX_PHONE_CHARS, &mut problems).and_then(|p| {
        let digits = phone_digits(&p).filter(|d| (5..=MAX_PHONE_DIGITS).contains(&d.len()));
        if digits.is_none() {
            problems.push(format!("phone: {p:?} is not a phone number"));
        }
        digits
    });
    let email = bounded("email", body.email, MAX_EMAIL_CHARS, &mut problems).and_then(|e| {
        let email = e.to_lowercase();
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        }) && !email.chars().any(char::is_whitespace);
        if !valid {
            problems.push(format!("email: {e:?} is not an email address"));
        }
        valid.then_some(email)
    });
    let message = bounded("message", body.message, MAX_MESSAGE_CHARS, &mut problems);
    let fields = clean_fields(body.fields, &mut problems);
    if phone.is_none() && email.is_none() && problems.is_empty() {
        problems.push("phone or email is required".into());
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_lead",
            problems,
        });
    }
    Ok(NewLead {
        id: format!("{:032x}", rand::random::<u128>()),
        created_at: now,
        name,
        phone,
        email,
        message,
        fields,
        attribution,
    })
}

/// Trimmed text, `None` when empty; a problem when longer than `max` characters.
fn bounded(
    field: &str,
    value: Option<String>,
    max: usize,
    problems: &mut Vec<String>,
) -> Option<String> {
    let value = value?.trim().to_owned();
    if value.chars().count() > max {
        problems.push(format!("{field}: longer than {max} characters"));
        return None;
    }
    (!value.is_empty()).then_some(value)
}

fn clean_fields(
    fields: BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    if fields.len() > MAX_FIELDS {
        problems.push(format!("fields: more than {MAX_FIELDS}"));
        return BTreeMap::new();
    }
    let mut kept = BTreeMap::new();
    for (name, value) in fields {
        let key = name.trim();
        if key.is_empty() || key.chars().count() > MAX_FIELD_NAME_CHARS {
            problems.push(format!(
                "fields: a name must have 1 to {MAX_FIELD_NAME_CHARS} characters"
            ));
            continue;
        }
        let label = format!("fields.{key}");
        if let Some(value) = bounded(&label, Some(value), MAX_MESSAGE_CHARS, problems) {
            kept.insert(key.to_owned(), value);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(body: LeadBody) -> Vec<String> {
        match clean_lead(body, Attribution::default(), Timestamp::UNIX_EPOCH) {
            Err(ApiError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn phone_becomes_digits_and_email_lower_case() {
        let body = LeadBody {
            name: Some("  Anna ".into()),
            phone: Some("+7 (916) 111-22-33".into()),
            email: Some("Anna@Example.COM".into()),
            fields: [("city".to_string(), " Moscow ".to_string())].into(),
            ..LeadBody::default()
        };
        let lead = clean_lead(body, Attribution::default(), Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(lead.phone.as_deref(), Some("79161112233"));
        assert_eq!(lead.email.as_deref(), Some("anna@example.com"));
        assert_eq!(lead.name.as_deref(), Some("Anna"));
        assert_eq!(lead.fields["city"], "Moscow");
        assert_eq!(lead.id.len(), 32);
    }

    #[test]
    fn every_problem_is_listed() {
        let body = LeadBody {
            name: Some("x".repeat(201)),
            phone: Some("call me".into()),
            email: Some("nobody".into()),
            ..LeadBody::default()
        };
        assert_eq!(problems(body).len(), 3);
        let empty = LeadBody {
            phone: Some("  ".into()),
            ..LeadBody::default()
        };
        assert_eq!(problems(empty), ["phone or email is required"]);
    }
}
