//! The blacklist admin API: `GET /v1/admin/blacklist` lists, `POST` adds `{"number": ...}`,
//! `DELETE /v1/admin/blacklist/{pattern}` (or `DELETE` with the same body) removes. API
//! entries are stored in SQLite first, then take effect on the next INVITE.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, ApiJson};
use super::router::Shared;
use crate::config::blacklist_pattern;
use crate::edge::blacklist::{Entry, Origin, RemoveError};

/// `GET` body.
#[derive(Debug, Serialize)]
pub struct BlacklistView {
    /// The status blacklisted callers get.
    pub status: u16,
    pub entries: Vec<Entry>,
}

/// `POST` / `DELETE` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberBody {
    /// Digits (visual separators allowed) or a prefix ending with '*'.
    pub number: String,
}

/// `GET /v1/admin/blacklist`
pub async fn list(State(shared): State<Arc<Shared>>) -> Json<BlacklistView> {
    Json(BlacklistView {
        status: shared.state.config.load().blacklist.status,
        entries: shared.state.blacklist.list(),
    })
}

/// `POST /v1/admin/blacklist`: 201 when added, 200 when already listed.
pub async fn add(
    State(shared): State<Arc<Shared>>,
    ApiJson(body): ApiJson<NumberBody>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let pattern = parse(&body.number)?;
    let listed = shared
        .state
        .blacklist
        .list()
        .into_iter()
        .find(|e| e.pattern == pattern);
    if let Some(entry) = listed {
        return Ok((StatusCode::OK, Json(entry)));
    }
    let path = shared.state.config.load().store.path.clone();
    let stored = pattern.clone();
    blocking(move || crate::store::blacklist::insert(&path, &stored, Timestamp::now())).await?;
    shared.state.blacklist.insert(&pattern, Origin::Api);
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
pub async fn remove_path(
    State(shared): State<Arc<Shared>>,
    Path(pattern): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove(&shared, &pattern).await
}

/// `DELETE /v1/admin/blacklist` with `{"number": ...}`
pub async fn remove_body(
    State(shared): State<Arc<Shared>>,
    ApiJson(body): ApiJson<NumberBody>,
) -> Result<StatusCode, ApiError> {
    remove(&shared, &body.number).await
}

async fn remove(shared: &Shared, number: &str) -> Result<StatusCode, ApiError> {
    let pattern = parse(number)?;
    shared.state.blacklist.remove(&pattern).map_err(|e| {
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
    let path = shared.state.config.load().store.path.clone();
    let stored = pattern.clone();
    if let Err(error) = blocking(move || crate::store::blacklist::remove(&path, &stored)).await {
        shared.state.blacklist.insert(&pattern, Origin::Api);
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

/// Runs a store call on a blocking thread; failures are 500 with a logged cause.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let failed = |message: String| {
        tracing::error!(error = %message, "blacklist store failed");
        ApiError::Rejected {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "store_failed",
            message: "the blacklist could not be stored".to_owned(),
        }
    };
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(failed(error.to_string())),
        Err(error) => Err(failed(error.to_string())),
    }
}
