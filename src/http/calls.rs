//! The calls API: `GET /v1/calls` (filters, keyset pages), `GET /v1/calls/{id}` (with the
//! visit and the routing trail) and `PATCH /v1/calls/{id}` (tags, note, deal from a CRM, the
//! scorer's label from a person, written through the store's one writer). Reads go through
//! the configured backend's [`BackendReader`] (SQLite or PostgreSQL, the same answers).
//! The CSV export of the same filter is in `calls_csv.rs`.

use super::commit::committed;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::access::{Access, Credential, Role};
use super::errors::{ApiError, ApiJson};
use crate::config::SharedConfig;
use crate::store::calls::{CallPage, CallPatch, CallQuery, CallView};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

/// `GET /v1/calls` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallsAnswer {
    pub calls: Vec<CallView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The query of `GET /v1/calls` and `GET /v1/calls.csv` (documentation; parsing is
/// `store::calls::filter`, shared with `calltrack cdr list`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CallsParams {
    /// Started at or after: RFC 3339, or `YYYY-MM-DD` (midnight UTC, or in the site's time
    /// zone when `site` is given).
    from: Option<String>,
    /// Started before: RFC 3339, or `YYYY-MM-DD` (that whole day included).
    to: Option<String>,
    site: Option<String>,
    source: Option<String>,
    medium: Option<String>,
    campaign: Option<String>,
    /// E.164 digits.
    tracking_number: Option<String>,
    caller: Option<String>,
    /// answered, no_answer, busy, failed, cancelled, rejected, interrupted
    disposition: Option<String>,
    first_time: Option<bool>,
    quality: Option<bool>,
    missed: Option<bool>,
    /// `-started_at` (newest first, default) or `started_at`.
    sort: Option<String>,
    /// 1 to 500, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Parses the raw query string with the filter shared by the API and the CLI.
pub(super) fn parse_query(config: &SharedConfig, raw: Option<&str>) -> Result<CallQuery, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let config = config.load();
    let zone = |site: &str| config.site(site).map(|s| TimeZone::fixed(s.utc_offset));
    CallQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &zone).map_err(
        |problems| ApiError::Invalid {
            code: "invalid_query",
            problems,
        },
    )
}

/// A store read failure: 500, the cause logged.
pub(super) fn read_failed(error: StoreError) -> ApiError {
    tracing::error!(%error, "calls read failed");
    ApiError::Rejected {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "store_failed",
        message: "the calls could not be read".to_owned(),
    }
}

/// `GET /v1/calls`
#[utoipa::path(
    get,
    path = "/v1/calls",
    tag = "calls",
    params(CallsParams),
    responses(
        (status = 200, description = "One page of calls, newest first unless sorted otherwise", body = CallsAnswer),
        (status = 400, description = "Unknown filter or bad value; every problem listed"),
        (status = 401, description = "No or wrong bearer token")
    )
)]
pub async fn list(
    State(reader): State<BackendReader>,
    State(config): State<SharedConfig>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CallsAnswer>, ApiError> {
    let query = parse_query(&config, raw.as_deref())?;
    let CallPage { calls, next_cursor } = reader
        .read(move |r| r.page(&query))
        .await
        .map_err(read_failed)?;
    Ok(Json(CallsAnswer {
        calls,
        next_cursor: next_cursor.map(|c| c.encode()),
    }))
}

/// `GET /v1/calls/{id}`
#[utoipa::path(
    get,
    path = "/v1/calls/{id}",
    tag = "calls",
    params(("id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call with its visit and routing trail", body = CallView),
        (status = 404, description = "No such call"),
        (status = 401, description = "No or wrong bearer token")
    )
)]
pub async fn get_one(
    State(reader): State<BackendReader>,
    Path(id): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    reader
        .read(move |r| r.call(&id))
        .await
        .map_err(read_failed)?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `PATCH /v1/calls/{id}`
#[utoipa::path(
    patch,
    path = "/v1/calls/{id}",
    tag = "calls",
    params(("id" = String, Path, description = "The call's id")),
    request_body = CallPatch,
    responses(
        (status = 200, description = "The updated call", body = CallView),
        (status = 400, description = "Bad tags, note, deal or label; every problem listed"),
        (status = 404, description = "No such call"),
        (status = 429, description = "The store is busy; retry after Retry-After")
    )
)]
pub async fn patch(
    State(reader): State<BackendReader>,
    State(store): State<StoreSender>,
    Path(id): Path<String>,
    access: Option<Extension<Access>>,
    ApiJson(body): ApiJson<CallPatch>,
) -> Result<Json<CallView>, ApiError> {
    let change = body
        .check(&who(access.as_deref()))
        .map_err(|problems| ApiError::Invalid {
            code: "invalid_body",
            problems,
        })?;
    let target = id.clone();
    let request = store.try_request(|done| StoreCommand::PatchCall {
        id: target,
        change,
        at: Timestamp::now(),
        done,
    });
    let found = committed("call", request).await?;
    if !found {
        return Err(ApiError::NotFound);
    }
    get_one(State(reader), Path(id)).await
}

/// Who a change is kept as: the role and how it was shown (`admin:bearer`, `admin:cookie`).
fn who(access: Option<&Access>) -> String {
    let Some(access) = access else {
        return "unknown".to_owned();
    };
    let role = match access.role {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    };
    let via = match access.via {
        Credential::Bearer => "bearer",
        Credential::Cookie => "cookie",
        Credential::Open => "open",
    };
    format!("{role}:{via}")
}
