//! The blacklist admin API: `GET /v1/admin/blacklist` lists, `POST` adds `{"number": ...}`,
//! `DELETE /v1/admin/blacklist/{pattern}` (or `DELETE` with the same body) removes. API
//! entries are stored in SQLite first (through the store's one writer: the answer comes after
//! the commit), then take effect on the next INVITE. A full store queue is a 429 with
//! Retry-After, never a wait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, ApiJson};
use crate::config::{SharedConfig, blacklist_pattern};
use crate::edge::blacklist::{Blacklist, Entry, Origin, RemoveError};
use crate::store::{StoreCommand, StoreError, StoreSender};

/// How long an edit waits for the store to commit it before answering 503.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

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
    committed(store.try_request(|done| StoreCommand::BlacklistAdd {
        pattern: stored,
        added_at,
        done,
    }))
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
    if let Err(error) = committed(removed).await {
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

/// Waits (at most [`COMMIT_WAIT`]) for a store command to commit. A full queue is 429 with
/// Retry-After; no answer in time is 503; a store failure is 500 (the cause is logged).
async fn committed<T>(request: impl Future<Output = Result<T, StoreError>>) -> Result<T, ApiError> {
    let failed = |status, code, message: &str, error: String| {
        tracing::error!(%error, "blacklist store failed");
        ApiError::Rejected {
            status,
            code,
            message: message.to_owned(),
        }
    };
    match tokio::time::timeout(COMMIT_WAIT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(StoreError::Busy)) => Err(ApiError::Overloaded {
            retry_after_secs: 1,
        }),
        Ok(Err(error)) => Err(failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_failed",
            "the blacklist could not be stored",
            error.to_string(),
        )),
        Err(_) => Err(failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the blacklist store did not confirm in time; retry",
            "no commit within the wait".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_store_queue_is_429_with_retry_after_not_a_wait() {
        let busy = committed(async { Err::<bool, _>(StoreError::Busy) }).await;
        let error = busy.unwrap_err();
        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.code(), "overloaded");
        let gone = committed(async { Err::<bool, _>(StoreError::NotCommitted) }).await;
        assert_eq!(gone.unwrap_err().code(), "store_failed");
    }
}
