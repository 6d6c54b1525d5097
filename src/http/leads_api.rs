//! The marketer's side of leads: `GET /v1/leads` (filters, newest first, cursor pages) and
//! `PATCH /v1/leads/{id}` (tags, note, deal) for the dashboard and CRMs. Reads go through
//! the configured backend's read pool (SQLite or PostgreSQL); the patch through the one
//! store writer.

use super::commit::committed;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Deserializer};

use super::errors::{ApiError, ApiJson};
use crate::call::inbound::phone_digits;
use crate::config::SharedConfig;
use crate::store::deal::{Deal, DealView};

pub use super::lead_view::{LeadList, LeadView};
pub use crate::store::calls::AttributionView;
use crate::store::leads::LeadPatch;
use crate::store::leads::read::LeadFilter;
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
const MAX_NOTE_CHARS: usize = 4000;

/// `GET /v1/leads` query. `from`/`to` are RFC 3339 or `YYYY-MM-DD` (midnight UTC, or in the
/// site's offset when `site` is given); `from` is inclusive, `to` exclusive, and a `to` date
/// includes that whole day.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    /// Inclusive start: RFC 3339 or `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Exclusive end: RFC 3339, or `YYYY-MM-DD` to include that whole day.
    pub to: Option<String>,
    /// A site id; its `utc_offset` places `from`/`to` dates.
    pub site: Option<String>,
    /// `utm_source` (or a static number's source).
    pub source: Option<String>,
    /// Any writing; compared as digits.
    pub phone: Option<String>,
    /// Compared lower-cased.
    pub email: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `PATCH /v1/leads/{id}` body: any subset; `null` clears the note or the deal.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadPatchBody {
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DealView>)]
    pub deal: Option<Option<DealView>>,
}

/// A field that is present (even as `null`) is `Some`; an absent one stays `None`.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `GET /v1/leads`
#[utoipa::path(
    get,
    path = "/v1/leads",
    tag = "leads",
    params(LeadQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "One page, newest first", body = LeadList),
        (status = 400, description = "Bad filters (every problem listed)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(config): State<SharedConfig>,
    State(reader): State<BackendReader>,
    query: Result<Query<LeadQuery>, QueryRejection>,
) -> Result<Json<LeadList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::Invalid {
        code: "invalid_query",
        problems: vec![e.body_text()],
    })?;
    let (filter, before, limit) = filter_of(&config, query)?;
    let page = reader
        .read(move |r| r.leads(&filter, before, limit))
        .await
        .map_err(read_failed)?;
    Ok(Json(LeadList {
        leads: page.leads.into_iter().map(LeadView::from).collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
    }))
}

/// The query checked (every problem at once) into a filter, a cursor and a page size.
fn filter_of(
    config: &SharedConfig,
    q: LeadQuery,
) -> Result<(LeadFilter, Option<i64>, usize), ApiError> {
    let mut problems = Vec::new();
    let offset = q
        .site
        .as_deref()
        .and_then(|site| config.load().site(site).map(|s| s.utc_offset))
        .unwrap_or(jiff::tz::Offset::UTC);
    let mut time = |name: &str, text: Option<String>, end_of_day: bool| {
        let text = text?;
        let parsed = parse_time(&text, offset, end_of_day);
        if parsed.is_none() {
            problems.push(format!(
                "{name}: {text:?} is neither RFC 3339 nor YYYY-MM-DD"
            ));
        }
        parsed
    };
    let from = time("from", q.from, false);
    let to = time("to", q.to, true);
    let phone = q.phone.map(|p| {
        phone_digits(&p).unwrap_or_else(|| {
            problems.push(format!("phone: {p:?} is not a phone number"));
            String::new()
        })
    });
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        problems.push(format!("limit: must be 1 to {MAX_LIMIT}"));
    }
    let before = q.cursor.and_then(|c| {
        let seq = c.parse::<i64>().ok().filter(|s| *s > 0);
        if seq.is_none() {
            problems.push(format!("cursor: {c:?} is not a cursor this API gave"));
        }
        seq
    });
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            problems,
        });
    }
    let filter = LeadFilter {
        from,
        to,
        site: q.site,
        source: q.source,
        phone,
        email: q.email.map(|e| e.trim().to_lowercase()),
    };
    Ok((filter, before, limit))
}

/// RFC 3339, or a date at midnight in `offset` (the next midnight for an inclusive end).
fn parse_time(text: &str, offset: jiff::tz::Offset, end_of_day: bool) -> Option<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let date: Date = text.parse().ok()?;
    let date = if end_of_day {
        date.tomorrow().ok()?
    } else {
        date
    };
    offset
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()
}

/// `PATCH /v1/leads/{id}`
#[utoipa::path(
    patch,
    path = "/v1/leads/{id}",
    tag = "leads",
    params(("id" = String, Path, description = "The lead's id")),
    request_body = LeadPatchBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The updated lead", body = LeadView),
        (status = 400, description = "Bad tags, note or deal (every problem listed)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such lead", body = super::openapi::ErrorBody),
    )
)]
pub async fn patch(
    State(store): State<StoreSender>,
    State(reader): State<BackendReader>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LeadPatchBody>,
) -> Result<Json<LeadView>, ApiError> {
    let patch = check_patch(body)?;
    let at = Timestamp::now();
    let target = id.clone();
    let found = committed(
        "lead",
        store.try_request(|done| StoreCommand::PatchLead {
            id: target,
            patch,
            at,
            done,
        }),
    )
    .await?;
    if !found {
        return Err(ApiError::NotFound);
    }
    let stored = reader
        .read(move |r| r.lead(&id))
        .await
        .map_err(read_failed)?;
    stored
        .map(|s| Json(LeadView::from(s)))
        .ok_or(ApiError::NotFound)
}

fn check_patch(body: LeadPatchBody) -> Result<LeadPatch, ApiError> {
    let mut problems = Vec::new();
    let tags = body.tags.map(|tags| {
        if tags.len() > MAX_TAGS {
            problems.push(format!("tags: more than {MAX_TAGS}"));
        }
        let mut kept: Vec<String> = Vec::new();
        for tag in tags {
            let tag = tag.trim().to_owned();
            if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
                problems.push(format!(
                    "tags: {tag:?} must have 1 to {MAX_TAG_CHARS} characters"
                ));
            } else if !kept.contains(&tag) {
                kept.push(tag);
            }
        }
        kept
    });
    let note = body.note.map(|note| {
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            problems.push(format!("note: longer than {MAX_NOTE_CHARS} characters"));
        }
        note
    });
    let deal = body.deal.map(|deal| {
        deal.and_then(|view| {
            Deal::from_view(&view)
                .map_err(|e| problems.push(e.to_string()))
                .ok()
        })
    });
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_patch",
            problems,
        });
    }
    Ok(LeadPatch { tags, note, deal })
}

/// A read that failed is a 500 (the cause is logged).
fn read_failed(error: StoreError) -> ApiError {
    tracing::error!(%error, "leads read failed");
    ApiError::Rejected {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "store_failed",
        message: "the leads could not be read".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_midnights_in_the_offset_and_to_includes_its_day() {
        let utc = jiff::tz::Offset::UTC;
        let msk = jiff::tz::Offset::constant(3);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            parse_time("2026-11-23", utc, false),
            Some(at("2026-11-23T00:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-23", utc, true),
            Some(at("2026-11-24T00:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-23", msk, false),
            Some(at("2026-11-22T21:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-23T10:00:00+03:00", utc, true),
            Some(at("2026-11-23T07:00:00Z"))
        );
        assert_eq!(parse_time("yesterday", utc, false), None);
    }

    #[test]
    fn a_patch_lists_every_problem() {
        let body: LeadPatchBody = serde_json::from_str(
            r#"{"tags": ["", "ok"], "note": null, "deal": {"amount": "1.234", "currency": "RUBLE", "status": "won"}}"#,
        )
        .unwrap();
        match check_patch(body) {
            Err(ApiError::Invalid { problems, .. }) => {
                assert_eq!(problems.len(), 2, "{problems:?}")
            }
            other => panic!("{other:?}"),
        }
        let clear: LeadPatchBody = serde_json::from_str(r#"{"note": null}"#).unwrap();
        let patch = check_patch(clear).unwrap();
        assert_eq!(patch.note, Some(None));
        assert_eq!((patch.tags, patch.deal), (None, None));
    }
}
