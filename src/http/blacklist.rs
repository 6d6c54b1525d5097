//! The blacklist admin API: `GET /v1/admin/blacklist` lists, `POST` adds `{"number": ...}`,
//! `DELETE /v1/admin/blacklist/{pattern}` (or `DELETE` with the same body) removes. API
//! entries are stored in SQLite first (through the store's one writer: the answer comes after
//! the commit), then take effect on the next INVITE. A full store queue is a 429 with
//! Retry-After, never a wait.

use super::commit::committed;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, ApiJson};
use crate::config::{SharedConfig, blacklist_pattern};
use crate::edge::blacklist::{Blacklist, Entry, Origin, RemoveError};
use crate::store::{StoreCommand, StoreSender};

/// `GET` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlacklistView {
    /// The status blacklisted callers get.
    pub status: u16,
    pub entries: Vec<Entry>,
}

/// `POST` / `DELETE` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberBody {
    /// Digits (visual separators allowed) or a prefix ending with '*'.
    #[schema(example = "7800*")]
    pub number: String,
}

/// `GET /v1/admin/blacklist`
#[utoipa::path(
    get,
    path = "/v1/admin/blacklist",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every entry, from the config file and the API", body = BlacklistView),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(config): State<SharedConfig>,
    State(blacklist): State<Arc<Blacklist>>,
) -> Json<BlacklistView> {
    Json(BlacklistView {
        status: config.load().blacklist.status,
        entries: blacklist.list(),
    })
}

/// `POST /v1/admin/blacklist`: 201 when added, 200 when already listed.
#[utoipa::path(
    post,
    path = "/v1/admin/blacklist",
    tag = "admin",
    request_body = NumberBody,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Added (stored before the answer)", body = Entry),
        (status = 200, description = "Already listed", body = Entry),
        (status = 422, description = "Not a number or prefix", body = super::openapi::ErrorBody),
        (status = 429, description = "The store is busy", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn add(
    State(blacklist): State<Arc<Blacklist>>,
    State(store): State<StoreSender>,
    ApiJson(body): ApiJson<NumberBody>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let pattern = parse(&body.number)?;
    let listed = blacklist.list().into_iter().find(|e| e.pattern == pattern);
    if let Some(entry) = listed {
        return Ok((StatusCode::OK, Json(entry)));
    }
    let stored = pattern.clone();
    let added_at = Timestamp::now();
    committed(
        "blacklist",
        store.try_request(|done| StoreCommand::BlacklistAdd {
            pattern: stored,
            added_at,
            done,
        }),
    )
    .await?;
    blacklist.insert(&pattern, Origin::Api);
    tracing::info!(%pattern, "blacklist entry added through the admin API");
    Ok((
        StatusCode::CREATED,
        Json(Entry {
            pattern,
            origin: Origin::Api,
        }),
    ))
}

/// `DELETE /v1/admin/blacklist/{pattern}`
#[utoipa::path(
    delete,
    path = "/v1/admin/blacklist/{pattern}",
    tag = "admin",
    params(("pattern" = String, Path, description = "Digits or a prefix ending with '*' (URL-encoded)")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not listed", body = super::openapi::ErrorBody),
        (status = 409, description = "Listed in the config file: edit the file", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn remove_path(
    State(blacklist): State<Arc<Blacklist>>,
    State(store): State<StoreSender>,
    Path(pattern): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove(&blacklist, &store, &pattern).await
}

/// `DELETE /v1/admin/blacklist` with `{"number": ...}`
#[utoipa::path(
    delete,
    path = "/v1/admin/blacklist",
    tag = "admin",
    request_body = NumberBody,
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not listed", body = super::openapi::ErrorBody),
        (status = 409, description = "Listed in the config file: edit the file", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn remove_body(
    State(blacklist): State<Arc<Blacklist>>,
    State(store): State<StoreSender>,
    ApiJson(body): ApiJson<NumberBody>,
) -> Result<StatusCode, ApiError> {
    remove(&blacklist, &store, &body.number).await
}

async fn remove(
    blacklist: &Blacklist,
    store: &StoreSender,
    number: &str,
) -> Result<StatusCode, ApiError> {
    let pattern = parse(number)?;
    blacklist.remove(&pattern).map_err(|e| {
        let (status, code) = match e {
            RemoveError::Missing(_) => (StatusCode::NOT_FOUND, "not_found"),
            RemoveError::FromConfig(_) => (StatusCode::CONFLICT, "in_config_file"),
        };
        ApiError::Rejected {
            status,
            code,
            message: e.to_string(),
        }
    })?;
    let stored = pattern.clone();
    let removed = store.try_request(|done| StoreCommand::BlacklistRemove {
        pattern: stored,
        done,
    });
    if let Err(error) = committed("blacklist", removed).await {
        blacklist.insert(&pattern, Origin::Api);
        return Err(error);
    }
    tracing::info!(%pattern, "blacklist entry removed through the admin API");
    Ok(StatusCode::NO_CONTENT)
}

fn parse(number: &str) -> Result<String, ApiError> {
    blacklist_pattern(number).map_err(|_| ApiError::InvalidField {
        field: "number",
        message: "digits (\"79990000000\") or a prefix ending with '*' (\"7800*\")",
    })
}
